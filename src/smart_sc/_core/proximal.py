"""Proximal map of the l1 penalty, shared by SMART's ADMM and the sparse baselines."""

from __future__ import annotations

import numpy as np

__all__ = ["soft_threshold"]


def soft_threshold(x: np.ndarray, t) -> np.ndarray:
    """Entrywise soft-thresholding ``sign(x) (|x| - t)_+`` (``t = inf`` gives 0).

    The proximal map of ``t ||x||_1``; ``t`` may be a scalar or broadcast
    against ``x`` (per-entry weights).
    """
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)

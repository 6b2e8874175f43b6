"""The placebo source: a source model whose gene rows are shuffled.

Permuting the features (genes) of ``C0`` keeps its singular values and its
protein-side singular vectors, and makes its gene-side singular vectors
meaningless for the target's genes. A transfer method that does as well with
the placebo as with the real source owes its accuracy to the source's
spectrum (how much shrinkage, which rank), not to which genes the source
found predictive. It is the control every claim that "the source helped"
needs.
"""

from __future__ import annotations

import numpy as np

from .._core.randomness import check_random_state

__all__ = ["placebo_coef"]


def placebo_coef(source_coef, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle a source model's features: the same spectrum, meaningless gene subspaces.

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features) or (n_features,)
        Source coefficients in scikit-learn orientation (one row per protein).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the permutation; record it to reproduce the placebo.

    Returns
    -------
    placebo : ndarray of the same shape as ``source_coef``
        ``source_coef[..., permutation]``.
    permutation : ndarray of shape (n_features,)
        Feature ``j`` of the placebo is feature ``permutation[j]`` of the source.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import placebo_coef
    >>> C0 = np.random.default_rng(0).normal(size=(3, 10))
    >>> P, perm = placebo_coef(C0, random_state=0)
    >>> bool(np.allclose(np.linalg.svd(P, compute_uv=False),
    ...                  np.linalg.svd(C0, compute_uv=False)))
    True
    >>> bool(np.array_equal(P, C0[:, perm]))
    True
    """
    coef = np.asarray(source_coef, dtype=np.float64)
    if coef.ndim not in (1, 2) or coef.shape[-1] < 2:
        raise ValueError(
            f"source_coef must be (n_targets, n_features) or (n_features,) with at least 2 "
            f"features to permute, got shape {coef.shape}")
    permutation = check_random_state(random_state).permutation(coef.shape[-1])
    return coef[..., permutation].copy(), permutation

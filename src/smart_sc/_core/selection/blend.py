"""Cross-validated blending of SMART with the source and a target ridge fit.

Our extension, not the paper's. On real data the best predictor of a small
target is sometimes the source model itself (few cells), sometimes the
target's own ridge fit (the source does not carry over), and mostly SMART.
Which one is not known in advance, so the final coefficients are the convex
combination ``w_smart C_smart + w_source C0 + w_ridge C_ridge`` whose weights
minimise the K-fold validation error, on the same folds as the rest of the
tuning. The blend contains each component (a weight of 1), so its
cross-validated error is never above the best component's; a SMART weight of 1
is the plain estimator.

Everything is computed from held-out sums: the residual of a convex
combination is the combination of the residuals (the weights add up to 1), so
the validation error of any weights is a quadratic form in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from ..sums.stats import RawSums, SufficientStats, TrainingMeans, shifted_intercept

__all__ = ["BlendResult", "choose_blend", "residual_gram", "residual_gram_per_target",
           "simplex_grid"]

#: Spacing of the weight grid on the simplex.
BLEND_STEP = 0.1


def residual_gram(held_out: RawSums, train: SufficientStats | TrainingMeans,
                  coefs: Sequence[np.ndarray]) -> np.ndarray:
    """Inner products ``<R_i, R_j>_F`` of held-out residuals of several coefficient matrices.

    ``R_i = Y_val - X_val C_i - 1 b_i^T`` with ``b_i`` the training intercept of
    ``C_i``; the diagonal is each matrix's validation sum of squared errors.
    """
    return residual_gram_per_target(held_out, train, coefs).sum(axis=2)


def residual_gram_per_target(held_out: RawSums, train: SufficientStats | TrainingMeans,
                             coefs: Sequence[np.ndarray],
                             sxx_coefs: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """:func:`residual_gram` per response: ``G[i, j, t] = <R_i[:, t], R_j[:, t]>``.

    ``sxx_coefs`` may hold the products ``S_xx C_i`` of the held-out sums
    already made (cheaply, for a low-rank ``C_i``); they cost most of the work.
    """
    k = len(coefs)
    b = np.array([shifted_intercept(held_out, train, C) for C in coefs])  # (k, q)
    if sxx_coefs is None:
        sxx_coefs = [held_out.sxx_times(C) for C in coefs]
    C = np.array(coefs)  # (k, p, q)
    fit_y = np.einsum("pq,kpq->kq", held_out.sxy, C)  # <x, y> per response
    x_c = np.einsum("p,kpq->kq", held_out.sx, C)
    cross = np.einsum("ipq,jpq->ijq", C, np.array(sxx_coefs))
    sy_b = held_out.sy[None, :] * b
    gram = (np.diag(held_out.syy)[None, None, :] - fit_y[:, None] - fit_y[None, :] + cross
            - sy_b[:, None] - sy_b[None, :] + x_c[:, None] * b[None, :]
            + x_c[None, :] * b[:, None] + held_out.n * b[:, None] * b[None, :])
    # The products make G symmetric only up to rounding; the blend relies on it.
    return 0.5 * (gram + gram.transpose(1, 0, 2)).reshape(k, k, -1)


def simplex_grid(k: int, step: float = BLEND_STEP) -> np.ndarray:
    """All weight vectors of length ``k`` on the simplex with spacing ``step``."""
    m = round(1.0 / step)
    rows = [c for c in product(range(m + 1), repeat=k - 1) if sum(c) <= m]
    grid = np.array([[*c, m - sum(c)] for c in rows], dtype=np.float64) / m
    return grid


@dataclass(frozen=True)
class BlendResult:
    """Chosen weights, and the cross-validated error of each component and of the blend."""

    names: tuple[str, ...]
    weights: np.ndarray
    component_mse: np.ndarray
    mse: float
    n_partitions: int = 1

    def as_dict(self) -> dict:
        return {
            "n_partitions": self.n_partitions,
            "components": list(self.names),
            "weights": {n: float(w) for n, w in zip(self.names, self.weights, strict=True)},
            "cv_mse": {n: float(e) for n, e in zip(self.names, self.component_mse,
                                                   strict=True)},
            "blend_cv_mse": float(self.mse),
        }


def choose_blend(names: Sequence[str], gram: np.ndarray, n_values: int,
                 step: float = BLEND_STEP, n_partitions: int = 1) -> BlendResult:
    """Weights on the simplex grid minimising the summed validation error ``w^T G w``.

    ``names[0]`` is the component preferred in ties (SMART), then the grid's
    order. ``n_values`` (held-out cells times responses, over all ``n_partitions``
    fold partitions summed into ``gram``) turns sums into means.
    """
    grid = simplex_grid(len(names), step)
    # Put the all-first-component vertex first so that ties keep plain SMART.
    first = np.zeros(len(names))
    first[0] = 1.0
    grid = np.vstack([first, grid])
    sse = np.einsum("gi,ij,gj->g", grid, gram, grid)
    # Ties up to rounding go to the earliest point (plain SMART first).
    best = int(np.flatnonzero(sse <= sse.min() + 1e-9 * abs(sse.min()))[0])
    return BlendResult(names=tuple(names), weights=grid[best].copy(),
                       component_mse=np.diag(gram) / n_values,
                       mse=float(sse[best]) / n_values, n_partitions=n_partitions)

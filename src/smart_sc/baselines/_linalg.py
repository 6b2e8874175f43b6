"""Least squares, its rank and its best reduced-rank fit: the pieces every baseline family shares.

Every family reduces to these at zero penalty: minimum-norm least squares
from the Gram matrix's eigenpairs above its numerical rank
(:func:`pinv_factors`, :func:`ols_coef`), and reduced-rank regression, the
least-squares fit projected on the top eigenvectors of its fitted values'
Gram matrix (:func:`response_directions`, :func:`reduce_rank`), with the rank
chosen by RSC (:func:`default_rank`) or checked against the problem
(:func:`cap_rank`). Keeping them in one place keeps the families' zero-penalty
fits the same computation, to the last bit.

Orientation: coefficient matrices are ``p x q`` (features x responses).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._core.selection.rank import select_rank_rsc
from .._core.sums.stats import SufficientStats

__all__ = [
    "cap_rank",
    "default_rank",
    "leading_directions",
    "ols_coef",
    "pinv_factors",
    "reduce_rank",
    "residual_stats",
    "response_directions",
    "roundoff_floor",
]


def roundoff_floor(stats: SufficientStats) -> np.ndarray:
    """Per feature, the round-off left in its centred variance: ``max(n, p) eps E[x^2]``.

    Sparse inputs are centred after the sums are formed (never densified), so a
    feature constant on these cells keeps a variance of order ``eps`` times its
    squared mean instead of an exact zero. Anything below this floor is
    indistinguishable from a constant feature.
    """
    second = np.diag(stats.xx) + (stats.x_mean**2 if stats.centered else 0.0)
    return max(stats.n, stats.n_features) * np.finfo(np.float64).eps * second


def pinv_factors(stats: SufficientStats) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the Gram matrix above its numerical-rank threshold.

    The threshold is :func:`smart_sc._core.selection.rank.design_rank`'s
    (``p eps`` times the top eigenvalue) raised to the centring round-off of the largest feature
    (:func:`roundoff_floor`): otherwise a feature constant on sparse cells
    counts as a direction and least squares divides by its round-off.
    """
    evals, evecs = np.linalg.eigh(stats.xx)
    top = max(float(evals[-1]), 0.0)
    tol = max(
        top * stats.n_features * np.finfo(np.float64).eps,
        float(roundoff_floor(stats).max()),
    )
    keep = evals > tol
    return evals[keep], evecs[:, keep]


def ols_coef(stats: SufficientStats, factors=None) -> np.ndarray:
    """Minimum-norm least squares ``xx^+ xy`` (p x q)."""
    evals, evecs = pinv_factors(stats) if factors is None else factors
    return evecs @ ((evecs.T @ stats.xy) / evals[:, None])


def residual_stats(stats: SufficientStats, coef: np.ndarray) -> SufficientStats:
    """Statistics of the residual responses ``Y - X C`` (``coef`` is ``C``, p x q).

    ``X^T (Y - X C) = xy - xx C`` and ``(Y - X C)^T (Y - X C) = yy - C^T xy -
    xy^T C + C^T xx C``: fitting on the residuals needs no second pass over the
    cells.
    """
    xxc = stats.xx @ coef
    cross = coef.T @ stats.xy
    return replace(stats, xy=stats.xy - xxc, yy=stats.yy - cross - cross.T + coef.T @ xxc,
                   y_mean=stats.y_mean - stats.x_mean @ coef)


def response_directions(xx: np.ndarray, B: np.ndarray, rank: int) -> np.ndarray:
    """Top ``rank`` eigenvectors of the fitted Gram ``B^T xx B`` (q x rank), leading last.

    ``xx`` is the per-cell Gram matrix and ``B`` a ``p x q`` fit; the
    eigenvectors span the best rank-``rank`` response subspace of ``X B``
    (Eckart-Young). ``rank=0`` gives a ``q x 0`` matrix.
    """
    fitted = B.T @ xx @ B
    _, evecs = np.linalg.eigh(0.5 * (fitted + fitted.T))
    return evecs[:, B.shape[1] - rank:]


def leading_directions(xx: np.ndarray, B: np.ndarray, rank: int) -> np.ndarray:
    """:func:`response_directions` with the leading direction first."""
    return response_directions(xx, B, rank)[:, ::-1]


def reduce_rank(xx: np.ndarray, B: np.ndarray, rank: int) -> np.ndarray:
    """Best rank-``rank`` fit ``B V_r V_r^T`` of ``B`` (reduced-rank regression if ``B`` is OLS)."""
    Vr = response_directions(xx, B, rank)
    return B @ Vr @ Vr.T


def cap_rank(rank: int, stats: SufficientStats, rank_x: int) -> None:
    """Refuse a ``rank`` above ``min(n_features, n_targets)`` or the design's rank ``rank_x``."""
    p, q = stats.n_features, stats.n_targets
    if rank > min(p, q):
        raise ValueError(f"rank={rank} exceeds min(n_features, n_targets) = min({p}, {q}) "
                         f"= {min(p, q)}")
    if rank > rank_x:
        raise ValueError(
            f"rank={rank} exceeds the rank of the design, {rank_x} "
            f"({'centred ' if stats.centered else ''}X has {p} features but only "
            f"{rank_x} independent directions)"
        )


def default_rank(stats: SufficientStats, rank_x: int) -> int:
    """Rank by RSC (Bunea, She & Wegkamp 2011), capped by the problem's size; 0 if X is constant."""
    cap = min(stats.n_features, stats.n_targets, rank_x)
    if cap == 0:
        return 0
    return select_rank_rsc(stats, max_rank=cap).rank

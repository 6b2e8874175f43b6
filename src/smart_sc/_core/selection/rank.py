"""Rank selection criterion (Bunea, She, Wegkamp 2011) from sufficient statistics.

``r = #{k : l_k >= mu}`` with ``l_k`` the eigenvalues of ``Y^T P Y`` (``P`` the
projection on the columns of ``X``) and ``mu = (1 + theta)^2 sigma2 (sqrt(q) +
sqrt(rank X))^2``, ``sigma2 = ||Y - P Y||_F^2 / (q (n - rank X))``.

When the design leaves (almost) no residual degrees of freedom the projection
fits the noise and ``sigma2`` is meaningless. There we take the fitted values and
the noise level from a GCV-tuned ridge fit (a shrunk fit), with its effective
degrees of freedom in place of ``rank X`` (our small-target extension, see
docs/method.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..sums.stats import DeferredStats, SufficientStats
from .ridge import RidgePath, ridge_gcv

__all__ = ["RankSelection", "is_design_ill_posed", "select_rank_rsc"]

logger = logging.getLogger("smart_sc")


@dataclass(frozen=True)
class RankSelection:
    """Outcome of RSC: the rank, the eigenvalues and threshold, and how sigma2 was got."""

    rank: int
    eigenvalues: np.ndarray
    threshold: float
    sigma2: float
    shrunk: bool


def residual_dof(stats: SufficientStats) -> tuple[int, int]:
    """Return ``(rank X, n - rank X - intercept)``, the design's residual degrees of freedom."""
    rank_x = stats.design_rank
    n_eff = stats.n - (1 if stats.centered else 0)
    return rank_x, n_eff - rank_x


def is_design_ill_posed(stats: SufficientStats) -> bool:
    """Too few residual degrees of freedom (< 10% of the cells) or a near-singular design.

    Either way least squares fits noise along directions the cells barely see,
    which is where the paper's unshrunk estimator breaks down.
    """
    _rank_x, dof = residual_dof(stats)
    if dof < max(1, 0.1 * stats.n):
        return True
    kept = stats.xx_spectrum[0]
    return bool(kept.size and kept.min() < 1e-8 * kept.max())


def select_rank_rsc(
    stats: SufficientStats,
    *,
    theta: float = 1.0,
    max_rank: int | None = None,
    ridge: RidgePath | None = None,
) -> RankSelection:
    """Rank by RSC, capped at ``max_rank`` and raised to at least 1.

    Parameters
    ----------
    stats
        Training statistics.
    theta
        RSC's constant (the paper uses 1).
    max_rank
        Upper cap, e.g. the source model's rank.
    ridge
        A ridge fit to reuse when the design is ill-posed (computed if needed).
    """
    n, q = stats.n, stats.n_targets
    rank_x, dof = residual_dof(stats)
    shrunk = is_design_ill_posed(stats)
    if not shrunk:
        # Y^T P Y = n xy^T xx^+ xy
        evals, evecs = stats.xx_spectrum
        z = evecs.T @ stats.xy
        fitted_gram = n * z.T @ (z / evals[:, None])
        rss = max(n * np.trace(stats.yy) - np.trace(fitted_gram), 0.0)
        sigma2 = rss / (q * dof)
        df_model = rank_x
    else:
        ridge = ridge if ridge is not None else ridge_gcv(stats)
        C = ridge.coef
        if isinstance(stats, DeferredStats):  # few cells: through them, no p x p matrix
            fitted_gram = n * C.T @ stats.xx_times(C)
        else:
            fitted_gram = n * C.T @ stats.xx @ C
        n_eff = n - (1 if stats.centered else 0)
        resid_dof = np.maximum(n_eff - ridge.df, 1.0)
        sigma2 = float(np.mean(n * ridge.mse / resid_dof))
        df_model = float(np.mean(ridge.df))
        logger.info(
            "RSC: the design leaves %d residual degrees of freedom for %d cells "
            "(or is near-singular); noise estimated from a ridge fit "
            "(effective df %.1f) instead of least squares",
            dof, n, df_model,
        )
    eig = np.sort(np.linalg.eigvalsh(0.5 * (fitted_gram + fitted_gram.T)))[::-1]
    mu = (1.0 + theta) ** 2 * sigma2 * (np.sqrt(q) + np.sqrt(df_model)) ** 2
    rank = int(np.sum(eig >= mu))
    if max_rank is not None:
        rank = min(rank, int(max_rank))
    rank = max(rank, 1)
    return RankSelection(rank=rank, eigenvalues=eig, threshold=float(mu),
                         sigma2=float(sigma2), shrunk=shrunk)

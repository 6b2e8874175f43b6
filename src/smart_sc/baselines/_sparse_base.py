"""What the sparse reduced-rank estimators (SRRR, RSSVD, SOFAR) share.

The three sparse reduced-rank estimators the SMART paper uses as source models
and competitors (available elsewhere only in R's ``rrpack``) are written from
the papers' definitions, one module each (:mod:`._srrr`, :mod:`._rssvd`,
:mod:`._sofar`). Every loss is per cell, ``(1/2n) ||Y - X C||_F^2`` on centred
data when an intercept is fitted, so the penalties do not scale with the number
of cells. Each estimator reads the cells once, to form ``X^T X``, ``X^T Y`` and
``Y^T Y`` (per fold, in the same pass, when it cross-validates), and works on
those statistics only. At zero penalty each one is reduced-rank regression of
its rank, computed as :class:`~smart_sc.baselines.ReducedRankRegression`
computes it (:mod:`._linalg`).

Shared here: the parameter rules of the penalty path, the rank's resolution,
the pilot fit behind the adaptive weights, the penalty grids, the group-lasso
solver, the BIC, the convergence message and the deprecated ``lambda_``.

Orientation: coefficient matrices are ``p x q`` (features x responses); the
public ``coef_`` is ``q x p`` as in scikit-learn.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg.blas import dger as _dger

from .._core.selection.rank import is_design_ill_posed
from .._core.selection.ridge import ridge_gcv
from .._core.sums.stats import SufficientStats
from ._linalg import cap_rank, default_rank, leading_directions, ols_coef
from ._params import FRACTION, NONNEGATIVE, POSITIVE, POSITIVE_INT, check_entries

__all__ = [
    "MAX_SWEEPS",
    "PATH_CONSTRAINTS",
    "LamAliasMixin",
    "Pilots",
    "RankedMixin",
    "adaptive_weights",
    "bic_score",
    "capped_fits",
    "group_lasso",
    "lambda_grid",
    "path_grid",
]

#: Coordinate-descent sweeps allowed per group-lasso or lasso subproblem.
MAX_SWEEPS = 1000


#: The rules of the parameters the three estimators share (scikit-learn's
#: ``_parameter_constraints``); each adds its own.
PATH_CONSTRAINTS: dict = {
    "rank": [POSITIVE_INT, None],
    "lam": [NONNEGATIVE, None],
    "n_lambdas": [POSITIVE_INT],
    "lambda_min_ratio": [FRACTION, None],
    "gamma": [NONNEGATIVE],
    "fit_intercept": ["boolean"],
    "max_iter": [POSITIVE_INT],
    "tol": [POSITIVE],
}


def adaptive_weights(size: np.ndarray, gamma: float) -> np.ndarray:
    """``size^-gamma``; infinite where the pilot is exactly zero (kept at zero)."""
    size = np.abs(np.asarray(size, dtype=np.float64))
    if gamma == 0.0:
        return np.ones_like(size)
    with np.errstate(divide="ignore"):
        return np.where(size > 0.0, size ** (-gamma), np.inf)


def lambda_grid(lam_max: float, n_lambdas: int, ratio: float) -> np.ndarray:
    """Decreasing log grid from ``lam_max`` down to ``ratio * lam_max``."""
    lam_max = lam_max if np.isfinite(lam_max) and lam_max > 0.0 else 1.0
    if n_lambdas == 1:
        return np.array([lam_max])
    return np.geomspace(lam_max, lam_max * ratio, num=n_lambdas)


def path_grid(lam_max: float, levels: np.ndarray, est) -> np.ndarray:
    """Decreasing log grid from ``lam_max``, its bottom from the pilot's entry levels.

    ``levels`` are, per penalised entry (or row) of the pilot, the penalty at
    which that entry would be thresholded to zero near the pilot: its curvature
    times its size over its weight (``size^(1 + gamma)`` for adaptive weights).
    Adaptive weights spread these over many decades, so a fixed ratio would
    stop short of the dense fits on some data and waste points on others: by
    default the grid ends a decade below their median (about half the entries
    active), or three decades below ``lam_max``, whichever is lower.
    """
    if est.lam is not None:
        return np.array([float(est.lam)])
    ratio = est.lambda_min_ratio
    if ratio is None:
        levels = levels[np.isfinite(levels)]
        median = float(np.median(levels)) if levels.size else 0.0
        ratio = min(1e-3, max(0.1 * median / lam_max, 1e-12)) if lam_max > 0.0 else 1e-3
    return lambda_grid(lam_max, est.n_lambdas, ratio)


class Pilots:
    """Least squares and the pilot fit of one training set, reduced to any rank.

    The pilot is the unpenalised fit that sets the adaptive weights: least
    squares, or on a design that leaves few residual degrees of freedom (or is
    near-singular), where least squares fits noise, the GCV ridge fit. Reduced
    to rank ``r`` it is ``base V_r V_r^T`` with ``V_r`` the top eigenvectors of
    the fitted Gram ``base^T xx base`` (reduced-rank regression when ``base``
    is least squares). Eigendecompositions are made once and cached.
    """

    def __init__(self, stats: SufficientStats, factors):
        self.stats = stats
        self.ols = ols_coef(stats, factors)
        self.ill_posed = is_design_ill_posed(stats)
        self._cache: dict[bool, tuple[np.ndarray, np.ndarray]] = {}

    def _base(self, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        key = exact or not self.ill_posed
        if key not in self._cache:
            base = self.ols if key else ridge_gcv(self.stats).coef
            V = leading_directions(self.stats.xx, base, base.shape[1])
            self._cache[key] = (base, V)
        return self._cache[key]

    def directions(self, rank: int, exact: bool = False) -> np.ndarray:
        """Leading ``rank`` response directions (q x rank); RRR's when ``exact``."""
        return self._base(exact)[1][:, :rank]

    def fit(self, rank: int, exact: bool = False) -> np.ndarray:
        """Return the rank-``rank`` pilot (p x q); reduced-rank regression when ``exact``."""
        base, V = self._base(exact)
        return base @ V[:, :rank] @ V[:, :rank].T


def group_lasso(xx: np.ndarray, G: np.ndarray, B0: np.ndarray, pen: np.ndarray,
                 tol_abs: float, max_sweeps: int = MAX_SWEEPS) -> tuple[np.ndarray, bool]:
    """``min 1/2 tr(B^T xx B) - tr(B^T G) + sum_i pen_i ||b_i||`` by block coordinate descent.

    Each block is one row ``b_i`` (one predictor for every column of ``G``):
    its exact minimiser given the others is the group soft-threshold
    ``(1 - pen_i / ||s_i||)_+ s_i / xx_ii`` with ``s_i = g_i - sum_{j != i}
    xx_ij b_j``. Sweeps visit the active rows only; when they settle, rows
    outside the active set are checked against their optimality condition
    ``||s_i|| <= pen_i`` all at once and violators join (glmnet's strategy).
    With one column this is the lasso. Rows with zero variance or infinite
    penalty stay zero.

    Returns the solution and whether it settled within ``max_sweeps`` sweeps.
    """
    diag = np.diag(xx).copy()
    usable = (diag > 0.0) & np.isfinite(pen)
    B = np.where(usable[:, None], B0, 0.0)
    # Residual correlations G - xx B, stored transposed in Fortran order so that
    # each row's change is one in-place BLAS rank-one update.
    RT = np.asfortranarray((G - xx @ B).T)
    active = usable & ((B != 0.0).any(axis=1) | (np.linalg.norm(RT, axis=0) > pen))
    for _ in range(max_sweeps):
        biggest = 0.0
        for i in np.flatnonzero(active).tolist():
            old, di, pi = B[i], diag[i], pen[i]
            s = RT[:, i] + di * old
            norm = math.sqrt(float(s @ s))
            if norm > pi:
                new = s * ((1.0 - pi / norm) / di)
            elif old.any():
                new = np.zeros_like(old)
            else:
                continue
            delta = new - old
            change = di * float(delta @ delta)
            if change > 0.0:
                _dger(-1.0, delta, xx[i], a=RT, overwrite_a=1)  # xx symmetric: row i = col i
                B[i] = new
                biggest = max(biggest, change)
        if biggest <= tol_abs:
            violators = usable & ~active & (np.linalg.norm(RT, axis=0) > pen * (1.0 + 1e-12))
            if not violators.any():
                return B, True
            active |= violators
    return B, False


class RankedMixin:
    """Resolve the ``rank`` parameter against the design (shared by the three)."""

    def _resolve_ranks(self, stats: SufficientStats, rank_x: int) -> tuple[int, ...]:
        p, q = stats.n_features, stats.n_targets
        if self.rank is None:
            top = default_rank(stats, rank_x)
            return (top,) if top == 0 else self._default_ranks(top, min(p, q, rank_x))
        ranks = tuple(sorted({int(r) for r in check_entries(self, "rank", POSITIVE_INT)}))
        cap_rank(ranks[-1], stats, rank_x)
        return ranks

    def _default_ranks(self, rsc: int, cap: int) -> tuple[int, ...]:
        return (rsc,)


def bic_score(stats: SufficientStats, sse: float, df: int) -> float:
    """``log(SSE / nq) + log(nq) / (nq) * df`` (the RSSVD paper's criterion)."""
    nq = stats.n * stats.n_targets
    sse = max(sse, np.finfo(np.float64).tiny)
    return float(np.log(sse / nq) + np.log(nq) / nq * df)


def capped_fits(max_iter: int) -> str:
    """Say, for ``warn_not_converged``, what the fits stopped at the iteration cap did."""
    return (f"fit(s) stopped at the iteration cap (max_iter={max_iter} alternations, or the "
            "inner solver's sweep cap) before reaching tol")


class LamAliasMixin:
    """The chosen penalty ``lam_`` also under its old name ``lambda_``, with a ``FutureWarning``.

    ``lam_`` is the name SMARTRegressor uses; ``lambda_`` is kept, reading
    ``lam_``, so that code written against it still runs and is told to move.
    """

    @property
    def lambda_(self) -> float:
        """Deprecated: read ``lam_`` instead."""
        lam = self.lam_  # unfitted: AttributeError before any warning, as for any attribute
        warnings.warn(
            f"{type(self).__name__}.lambda_ is deprecated and will be removed in a future "
            "version; use lam_ (the same value)",
            FutureWarning,
            stacklevel=2,
        )
        return lam

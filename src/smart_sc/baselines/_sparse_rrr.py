"""Sparse reduced-rank regression: SRRR, RSSVD and SOFAR, fitted from sufficient statistics.

The three sparse reduced-rank estimators the SMART paper uses as source models
and competitors (available elsewhere only in R's ``rrpack``), written here from
the papers' definitions:

- :class:`SRRR` (Chen & Huang 2012): ``C = B A^T`` with ``A^T A = I`` and a
  row-wise group lasso on ``B``, so whole predictors (genes) drop out.
- :class:`RSSVD` (Chen, Chan & Stenseth 2012): ``C = sum_k d_k u_k v_k^T``
  with sparse singular vectors, fitted one unit-rank layer at a time.
- :class:`SOFAR` (Uematsu, Fan, Chen, Lv & Lin 2019): ``C = U D V^T`` with
  orthonormal ``U, V`` and lasso penalties on ``D``, ``U D`` and ``V D``.

Every loss is per cell, ``(1/2n) ||Y - X C||_F^2`` on centred data when an
intercept is fitted, so the penalties do not scale with the number of cells.
Each estimator reads the cells once, to form ``X^T X``, ``X^T Y`` and ``Y^T Y``
(per fold, in the same pass, when it cross-validates), and works on those
statistics only. At zero penalty each one is reduced-rank regression of its
rank, computed as :class:`~smart_sc.baselines.ReducedRankRegression` computes
it.

Orientation: inside this module coefficient matrices are ``p x q`` (features x
responses); the public ``coef_`` is ``q x p`` as in scikit-learn.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg.blas import dger as _dger
from sklearn.exceptions import ConvergenceWarning

from .._core.proximal import soft_threshold
from .._core.randomness import RANDOM_STATE_CONSTRAINT
from .._core.rank import is_design_ill_posed, select_rank_rsc
from .._core.ridge import ridge_gcv
from .._core.stats import SufficientStats, held_out_sse
from .._core.stiefel import polar
from .._regressor_base import StatsLinearRegressor
from ._cv import FoldSums
from ._params import (
    FOLDS,
    FRACTION,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    InvalidParameterError,
    check_entries,
)
from ._target import _ols_coef, _pinv_factors

__all__ = ["RSSVD", "SOFAR", "SRRR"]

logger = logging.getLogger("smart_sc")

#: Coordinate-descent sweeps allowed per group-lasso or lasso subproblem.
_MAX_SWEEPS = 1000

#: Sweeps per B-step of SRRR while ``A`` is still moving.
_INNER_SWEEPS = 3

#: SRRR's cross-validation stops descending the grid after this many
#: penalties without improvement of the pooled held-out error.
_PATIENCE = 3


# --------------------------------------------------------------------------- checks


#: The rules of the parameters the three estimators share (scikit-learn's
#: ``_parameter_constraints``); each adds its own.
_PATH_CONSTRAINTS: dict = {
    "rank": [POSITIVE_INT, None],
    "lam": [NONNEGATIVE, None],
    "n_lambdas": [POSITIVE_INT],
    "lambda_min_ratio": [FRACTION, None],
    "gamma": [NONNEGATIVE],
    "fit_intercept": ["boolean"],
    "max_iter": [POSITIVE_INT],
    "tol": [POSITIVE],
}


def _cap_rank(rank: int, p: int, q: int, rank_x: int) -> None:
    if rank > min(p, q):
        raise ValueError(f"rank={rank} exceeds min(n_features, n_targets) = min({p}, {q}) "
                         f"= {min(p, q)}")
    if rank > rank_x:
        raise ValueError(f"rank={rank} exceeds the rank of the design, {rank_x} (X has {p} "
                         f"features but only {rank_x} independent directions)")


def _default_rank(stats: SufficientStats, rank_x: int) -> int:
    """Rank by RSC (as :class:`ReducedRankRegression`), capped by the problem's size."""
    cap = min(stats.n_features, stats.n_targets, rank_x)
    if cap == 0:
        return 0
    return select_rank_rsc(stats, max_rank=cap).rank


def _warn_unconverged(name: str, n_failed: int, max_iter: int) -> None:
    if n_failed:
        warnings.warn(
            f"{name}: {n_failed} fit(s) stopped at the iteration cap (max_iter={max_iter} "
            "alternations, or the inner solver's sweep cap) before reaching tol; increase "
            "max_iter or tol",
            ConvergenceWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------- shared maths


def _adaptive_weights(size: np.ndarray, gamma: float) -> np.ndarray:
    """``size^-gamma``; infinite where the pilot is exactly zero (kept at zero)."""
    size = np.abs(np.asarray(size, dtype=np.float64))
    if gamma == 0.0:
        return np.ones_like(size)
    with np.errstate(divide="ignore"):
        return np.where(size > 0.0, size ** (-gamma), np.inf)


def _lambda_grid(lam_max: float, n_lambdas: int, ratio: float) -> np.ndarray:
    """Decreasing log grid from ``lam_max`` down to ``ratio * lam_max``."""
    lam_max = lam_max if np.isfinite(lam_max) and lam_max > 0.0 else 1.0
    if n_lambdas == 1:
        return np.array([lam_max])
    return np.geomspace(lam_max, lam_max * ratio, num=n_lambdas)


def _path_grid(lam_max: float, levels: np.ndarray, est) -> np.ndarray:
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
    return _lambda_grid(lam_max, est.n_lambdas, ratio)


def _leading_directions(xx: np.ndarray, B: np.ndarray, rank: int) -> np.ndarray:
    """Top ``rank`` eigenvectors (leading first) of the fitted Gram ``B^T xx B``.

    The same computation as :class:`ReducedRankRegression`: ``B V V^T`` is the
    best rank-``rank`` fit when ``B`` is the least-squares fit.
    """
    fitted = B.T @ xx @ B
    _, evecs = np.linalg.eigh(0.5 * (fitted + fitted.T))
    q = B.shape[1]
    return evecs[:, q - rank:][:, ::-1]


class _Pilots:
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
        self.ols = _ols_coef(stats, factors)
        self.ill_posed = is_design_ill_posed(stats)
        self._cache: dict[bool, tuple[np.ndarray, np.ndarray]] = {}

    def _base(self, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        key = exact or not self.ill_posed
        if key not in self._cache:
            base = self.ols if key else ridge_gcv(self.stats).coef
            V = _leading_directions(self.stats.xx, base, base.shape[1])
            self._cache[key] = (base, V)
        return self._cache[key]

    def directions(self, rank: int, exact: bool = False) -> np.ndarray:
        """Leading ``rank`` response directions (q x rank); RRR's when ``exact``."""
        return self._base(exact)[1][:, :rank]

    def fit(self, rank: int, exact: bool = False) -> np.ndarray:
        """Return the rank-``rank`` pilot (p x q); reduced-rank regression when ``exact``."""
        base, V = self._base(exact)
        return base @ V[:, :rank] @ V[:, :rank].T


def _group_lasso(xx: np.ndarray, G: np.ndarray, B0: np.ndarray, pen: np.ndarray,
                 tol_abs: float, max_sweeps: int = _MAX_SWEEPS) -> tuple[np.ndarray, bool]:
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


# --------------------------------------------------------------------------- SRRR


@dataclass
class _SRRRState:
    """An SRRR iterate ``C = B A^T``: ``B`` (p x r) row-sparse, ``A`` (q x r) orthonormal."""

    B: np.ndarray
    A: np.ndarray
    n_iter: int = 0  # alternations of the fit that produced it

    @property
    def coef(self) -> np.ndarray:
        return self.B @ self.A.T


def _srrr_objective(stats: SufficientStats, state: _SRRRState, pen: np.ndarray) -> float:
    B, A = state.B, state.A
    loss = 0.5 * float(np.trace(stats.yy)) - float(np.vdot(B, stats.xy @ A)) \
        + 0.5 * float(np.vdot(B, stats.xx @ B))
    rows = np.linalg.norm(B, axis=1)
    return loss + float(np.sum(pen[rows > 0] * rows[rows > 0]))


def _srrr_solve(stats: SufficientStats, pen: np.ndarray, start: _SRRRState, *,
                B_ols: np.ndarray, max_iter: int, tol: float) -> tuple[_SRRRState, bool]:
    """Alternate the B-step (group lasso of ``Y A`` on ``X``) and the A-step (Procrustes).

    Given ``A`` with orthonormal columns, ``||Y - X B A^T||^2 = ||Y A - X B||^2
    + ||Y A_perp||^2``, so ``B`` solves a row-wise group lasso with response
    ``Y A`` (statistics ``xx`` and ``xy A``); given ``B``, ``A`` maximises
    ``tr(A^T Y^T X B)``: the polar factor of ``xy^T B`` (orthogonal
    Procrustes). Without penalty the B-step is least squares, ``B_ols A``.
    Stops when the objective changes by at most ``tol`` times ``tr(yy) / 2``.
    """
    scale = max(0.5 * float(np.trace(stats.yy)), np.finfo(np.float64).tiny)
    tol_abs = (tol * 1e-2) * scale
    unpenalised = not np.any(pen)
    state = _SRRRState(start.B.copy(), start.A.copy())
    previous = np.inf
    for it in range(max_iter):
        state.n_iter = it + 1
        if unpenalised:
            B, settled = B_ols @ state.A, True
        else:
            # Inexact B-steps (a few sweeps) while A still moves; each lowers the
            # objective, and convergence needs a settled one.
            sweeps = _MAX_SWEEPS if it == max_iter - 1 else _INNER_SWEEPS
            B, settled = _group_lasso(stats.xx, stats.xy @ state.A, state.B, pen, tol_abs,
                                      sweeps)
        state.B = B
        if not B.any() and settled:
            return state, True  # the empty model: A is irrelevant
        if B.any():
            state.A = polar(stats.xy.T @ B)
        current = _srrr_objective(stats, state, pen)
        if settled and abs(previous - current) <= tol * scale:
            return state, True
        previous = current
    return state, False


def _srrr_fits(pilots: _Pilots, rank: int, lambdas: np.ndarray, gamma: float, *,
               max_iter: int, tol: float):
    """Yield SRRR fits ``(state, converged)`` down a decreasing grid, warm-started, from ``B = 0``.

    The adaptive weights ``||c~_i||^-gamma`` and the starting ``A`` come from the
    pilot rank-``rank`` fit ``c~`` (:class:`_Pilots`); ``A`` starts at its
    leading response directions.
    """
    stats = pilots.stats
    weights = _adaptive_weights(np.linalg.norm(pilots.fit(rank), axis=1), gamma)
    # Without penalty, start at reduced-rank regression's directions: its fixed point.
    A0 = pilots.directions(rank, exact=lambdas[0] == 0.0)
    state = _SRRRState(np.zeros((stats.n_features, rank)), A0)
    for lam in lambdas:
        state, ok = _srrr_solve(stats, lam * weights, state, B_ols=pilots.ols,
                                max_iter=max_iter, tol=tol)
        yield state, ok


def _srrr_grid(pilots: _Pilots, rank: int, est) -> np.ndarray:
    """Grid for SRRR: from the smallest level with ``B = 0`` for every ``A``.

    Row ``i`` stays at zero when ``||(xy A)_i|| <= lam w_i``, and ``||(xy A)_i||
    <= ||xy_i||`` for every ``A`` with orthonormal columns, so ``lam_max =
    max_i ||xy_i|| / w_i``. Row ``i`` of the pilot ``c~`` leaves at about
    ``xx_ii ||c~_i|| / w_i`` (:func:`_path_grid`).
    """
    stats = pilots.stats
    rows = np.linalg.norm(pilots.fit(rank), axis=1)
    weights = _adaptive_weights(rows, est.gamma)
    lam_max = float(np.max(np.linalg.norm(stats.xy, axis=1) / weights, initial=0.0))
    return _path_grid(lam_max, np.diag(stats.xx) * rows / weights, est)


class _RankedMixin:
    """Resolve the ``rank`` parameter against the design (shared by the three)."""

    def _resolve_ranks(self, stats: SufficientStats, rank_x: int) -> tuple[int, ...]:
        p, q = stats.n_features, stats.n_targets
        if self.rank is None:
            top = _default_rank(stats, rank_x)
            return (top,) if top == 0 else self._default_ranks(top, min(p, q, rank_x))
        ranks = tuple(sorted({int(r) for r in check_entries(self, "rank", POSITIVE_INT)}))
        _cap_rank(ranks[-1], p, q, rank_x)
        return ranks

    def _default_ranks(self, rsc: int, cap: int) -> tuple[int, ...]:
        return (rsc,)


class SRRR(_RankedMixin, StatsLinearRegressor):
    """Row-sparse reduced-rank regression (Chen & Huang 2012), rank and penalty by K-fold CV.

    Model: ``Y = X C + E`` with ``C = B A^T``, ``B`` (``p x r``) and ``A``
    (``q x r``, ``A^T A = I``). The estimate minimises

    ``(1/2n) ||Y - X B A^T||_F^2 + lam * sum_i w_i ||b_i||_2``

    where ``b_i`` is row ``i`` of ``B`` (predictor ``i``'s loadings on the
    ``r`` latent factors): a group lasso on rows, so a predictor is dropped
    from every response at once, and ``C`` has the same zero rows as ``B``.
    With ``gamma > 0`` the weights are adaptive, ``w_i = ||c~_i||^-gamma``,
    from the rows of the unpenalised rank-``r`` fit ``c~`` (reduced-rank
    regression; on a design with few residual degrees of freedom, the GCV
    ridge fit reduced to rank ``r``), as in the paper; ``gamma = 0`` is the
    plain group lasso. ``lam = 0`` is reduced-rank regression of rank ``r``.

    Algorithm (the paper's): alternate the A-step, orthogonal Procrustes (``A =
    U V^T`` from the SVD ``Y^T X B = U S V^T``), and the B-step, the group
    lasso of ``Y A`` on ``X`` (block coordinate descent over rows, on the Gram
    matrix ``X^T X``; a few sweeps per B-step while ``A`` still moves, to
    convergence at the end), until the objective settles. The penalties are
    traced from ``lam_max`` (every row zero) down a log grid, each fit
    warm-started from the previous one.

    Tuning (as ``rrpack``'s ``cv.srrr``, here over the rank as well): ``lam``
    and the rank are chosen by K-fold cross-validation, minimising the held-out
    mean squared error pooled over folds. The folds' statistics come from one
    pass over the cells; each training set is the total minus one fold, with
    its own pilot fit and weights, and the grid of each rank is set on all
    cells. For each rank the folds descend the grid together, and the descent
    stops once the pooled held-out error has not improved for three
    consecutive penalties (the denser fits below cost the most and would not
    be chosen unless the error fell again). Ties go to the smaller rank, then
    the larger penalty.

    Parameters
    ----------
    rank : int, sequence of int or None, default=None
        Rank ``r``, or candidate ranks compared by CV. ``None``: the Rank
        Selection Criterion's rank (Bunea, She & Wegkamp 2011, as
        :class:`~smart_sc.baselines.ReducedRankRegression` chooses it) and up
        to two either side, within 1 and ``min(n_features, n_targets, rank of
        the design)``.
    lam : float or None, default=None
        Penalty level (per-cell units); ``None`` chooses it by CV on a grid.
    n_lambdas : int, default=20
        Grid size.
    lambda_min_ratio : float or None, default=None
        Smallest grid value relative to ``lam_max``; ``None``: a tenth of the
        median level ``xx_ii ||c~_i|| / w_i`` at which the pilot's rows would be
        zeroed (about half the rows active), or ``1e-3``, whichever is lower.
    gamma : float, default=2.0
        Power of the adaptive weights (0: unweighted group lasso).
    cv : int, default=5
        Number of folds (shuffled :class:`~sklearn.model_selection.KFold`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.
    max_iter : int, default=200
        Maximum alternations (A-step and B-step) per fit.
    tol : float, default=1e-6
        Stop when the objective changes by at most ``tol * tr(Y^T Y) / 2n``.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the shuffling of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        ``C^T = A B^T`` at the chosen rank and penalty, refitted on all cells.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    rank_ : int
        Chosen rank ``r`` (0 only when the design is constant).
    lambda_ : float
        Chosen penalty level.
    selected_features_ : ndarray of bool, shape (n_features,)
        Predictors with a non-zero row in ``C``.
    cv_results_ : dict or None
        ``"ranks"`` (n_ranks,), ``"lambdas"`` and ``"mse"`` (n_ranks x
        n_lambdas; held-out mean squared error per cell and response, ``inf``
        past the point where the descent stopped); ``None`` when nothing was
        tuned.
    n_iter_ : int
        Alternations of the final fit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    References
    ----------
    Chen, L. & Huang, J. Z. (2012). Sparse reduced-rank regression for
    simultaneous dimension reduction and variable selection. *Journal of the
    American Statistical Association* 107(500), 1533-1545.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SRRR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 12))
    >>> C = np.zeros((12, 5))
    >>> C[:3] = rng.normal(size=(3, 1)) @ rng.normal(size=(1, 5))  # 3 genes, rank 1
    >>> Y = X @ C + 0.1 * rng.normal(size=(100, 5))
    >>> model = SRRR(rank=1, random_state=0).fit(X, Y)
    >>> np.round(np.linalg.norm(model.coef_, axis=0), 1)  # one value per gene
    array([3.5, 0.8, 3.6, 0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. ])
    >>> bool(model.selected_features_[:3].all()), model.coef_.shape
    (True, (5, 12))
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **_PATH_CONSTRAINTS,
        "rank": [POSITIVE_INT, "array-like", None],  # each entry POSITIVE_INT
        "cv": [FOLDS],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(self, rank=None, *, lam: float | None = None, n_lambdas: int = 20,
                 lambda_min_ratio: float | None = None, gamma: float = 2.0, cv: int = 5,
                 fit_intercept: bool = True, max_iter: int = 200, tol: float = 1e-6,
                 random_state=None):
        self.rank = rank
        self.lam = lam
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.gamma = gamma
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _default_ranks(self, rsc: int, cap: int) -> tuple[int, ...]:
        return tuple(range(max(1, rsc - 2), min(rsc + 2, cap) + 1))

    def _cross_validate(self, folds: FoldSums, ranks, grids) -> tuple[np.ndarray, int]:
        """Held-out MSE of every (rank, lambda), and the number of capped fits.

        For each rank the folds descend the grid together; the descent stops
        once the pooled held-out error has not improved for :data:`_PATIENCE`
        consecutive penalties, and the penalties not reached get ``inf``.
        """
        splits = [(held_out, train, _Pilots(train, _pinv_factors(train)))
                  for held_out, train in folds.splits()]
        sse = np.full(grids.shape, np.inf)
        n_failed = 0
        for a, r in enumerate(ranks):
            paths = [_srrr_fits(pilots, r, grids[a], self.gamma, max_iter=self.max_iter,
                                tol=self.tol) for _, _, pilots in splits]
            best, since = np.inf, 0
            for k in range(grids.shape[1]):
                sse[a, k] = 0.0
                for (held_out, train, _), path in zip(splits, paths, strict=True):
                    fit, ok = next(path)
                    n_failed += int(not ok)
                    sse[a, k] += held_out_sse(held_out, train, fit.B, fit.A).sum()
                best, since = (sse[a, k], 0) if sse[a, k] < best else (best, since + 1)
                if since >= _PATIENCE:
                    break
        return sse / (folds.full.n * folds.full.sxy.shape[1]), n_failed

    def fit(self, X, y):
        """Choose the rank and penalty by K-fold CV, then refit on all cells.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : SRRR
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad parameters, a rank above ``min(n_features, n_targets)`` or the
            rank of the design, or fewer samples than folds.
        """
        self._validate_params()
        X, y = self._validate_xy(X, y)
        fixed = self.lam is not None and self.rank is not None and np.ndim(self.rank) == 0
        if not fixed:
            folds = FoldSums(X, y, self.cv, self.random_state, bool(self.fit_intercept))
            stats = folds.stats()
        else:
            stats = self._stats(X, y)
        factors = _pinv_factors(stats)
        ranks = self._resolve_ranks(stats, int(factors[0].size))
        self.cv_results_ = None
        if ranks[0] == 0:  # constant design: nothing to fit
            return self._finish(stats, _SRRRState(np.zeros((stats.n_features, 0)),
                                                  np.zeros((stats.n_targets, 0))), 0.0)
        pilots = _Pilots(stats, factors)
        grids = np.stack([_srrr_grid(pilots, r, self) for r in ranks])
        n_failed, best_rank, best_k = 0, 0, 0
        if not fixed and grids.size > 1:
            mse, n_failed = self._cross_validate(folds, ranks, grids)
            # First minimum in (rank ascending, lambda descending) order.
            best_rank, best_k = np.unravel_index(int(np.argmin(mse)), mse.shape)
            self.cv_results_ = {"ranks": np.asarray(ranks), "lambdas": grids, "mse": mse}
        # Down the grid to the chosen penalty, warm-started as in the CV.
        fits = list(_srrr_fits(pilots, ranks[best_rank], grids[best_rank, :best_k + 1],
                               self.gamma, max_iter=self.max_iter, tol=self.tol))
        n_failed += sum(not ok for _, ok in fits)
        _warn_unconverged("SRRR", n_failed, self.max_iter)
        return self._finish(stats, fits[-1][0], float(grids[best_rank, best_k]))

    def _finish(self, stats: SufficientStats, fit: _SRRRState, lam: float):
        coef = fit.coef
        rank = fit.A.shape[1]
        self._set_coef(coef, stats.intercept(coef))
        self.rank_ = int(rank)
        self.lambda_ = lam
        self.n_iter_ = int(fit.n_iter)
        self.selected_features_ = np.linalg.norm(coef, axis=1) > 0.0
        logger.debug("SRRR: rank %d, lambda %.3g, %d feature(s) selected", rank, lam,
                     int(self.selected_features_.sum()))
        return self


# --------------------------------------------------------------------------- RSSVD


@dataclass
class _Unit:
    """A unit-rank layer ``d u v^T`` with ``||u|| = ||v|| = 1``."""

    d: float
    u: np.ndarray
    v: np.ndarray
    n_iter: int = 0  # alternations of the fit that produced it

    @property
    def coef(self) -> np.ndarray:
        return self.d * np.outer(self.u, self.v)

    def distance2(self, other: _Unit) -> float:
        """``||d u v^T - d' u' v'^T||_F^2`` without forming either matrix."""
        inner = self.d * other.d * float(self.u @ other.u) * float(self.v @ other.v)
        return max(self.d**2 + other.d**2 - 2.0 * inner, 0.0)

    def rss(self, stats: SufficientStats) -> float:
        """Training ``||Y - X d u v^T||_F^2`` from the statistics, in O(p^2 + pq)."""
        fit = self.d**2 * float(self.u @ stats.xx @ self.u)
        cross = self.d * float(self.u @ stats.xy @ self.v)
        return max(stats.n * (float(np.trace(stats.yy)) - 2.0 * cross + fit), 0.0)

    def df(self) -> int:
        """Free parameters of the layer: ``|supp u| + |supp v| - 1``."""
        return int(np.count_nonzero(self.u) + np.count_nonzero(self.v) - 1)


def _weighted_l1(w: np.ndarray, x: np.ndarray) -> float:
    """``sum_i w_i |x_i|`` over the non-zero ``x_i`` (an infinite weight on a zero adds 0)."""
    nz = x != 0.0
    return float(np.sum(w[nz] * np.abs(x[nz])))


def _unit_from(base: np.ndarray, xx: np.ndarray) -> _Unit:
    """Best unit-rank fit ``B v v^T`` of a full fit ``B``, as a layer ``d u v^T``."""
    v = _leading_directions(xx, base, 1)[:, 0]
    a = base @ v
    d = float(np.linalg.norm(a))
    u = a / d if d > 0.0 else np.zeros_like(a)
    return _Unit(d, u, v)


def _deflate(stats: SufficientStats, coef: np.ndarray) -> SufficientStats:
    """Statistics of the residual responses ``Y - X C``."""
    xxc = stats.xx @ coef
    cross = coef.T @ stats.xy
    yy = stats.yy - cross - cross.T + coef.T @ xxc
    return replace(stats, xy=stats.xy - xxc, yy=0.5 * (yy + yy.T),
                   y_mean=stats.y_mean - stats.x_mean @ coef)


def _unit_solve(stats: SufficientStats, lam: float, weights, start: _Unit, *,
                B_ols: np.ndarray, max_iter: int, tol: float) -> tuple[_Unit | None, bool]:
    """One penalised layer by alternating adaptive-lasso updates of ``u`` and ``v``.

    The penalty ``lam sum_ij w_ij |d u_i v_j|`` with ``w_ij = w_d w_u,i w_v,j``
    factorises, so given ``v`` (``||v|| = 1``) the vector ``a = d u`` solves a
    weighted lasso of ``Y v`` on ``X`` (penalty ``lam w_d (sum_j w_v,j |v_j|)
    w_u,i`` on ``a_i``), and given ``u`` (``||u|| = 1``) each ``b_j = d v_j``
    is a soft-threshold of ``(Y^T X u)_j`` divided by ``u^T X^T X u``. Returns
    ``None`` for the empty layer, and whether the iterate settled (relative
    change of ``d u v^T`` at most ``tol``).
    """
    w_d, w_u, w_v = weights
    scale = max(float(start.v @ stats.yy @ start.v), np.finfo(np.float64).tiny)
    unit = start
    for it in range(max_iter):
        if lam == 0.0:
            a, ok = B_ols @ unit.v, True
        else:
            pen = lam * w_d * _weighted_l1(w_v, unit.v) * w_u
            a, ok = _group_lasso(stats.xx, (stats.xy @ unit.v)[:, None],
                                 (unit.d * unit.u)[:, None], pen, tol * 1e-2 * scale)
            a = a[:, 0]
        norm_a = float(np.linalg.norm(a))
        if not ok or norm_a == 0.0:
            return None, ok
        u = a / norm_a
        g = stats.xy.T @ u
        if lam > 0.0:
            g = soft_threshold(g, lam * w_d * _weighted_l1(w_u, u) * w_v)
        b = g / float(u @ stats.xx @ u)
        d = float(np.linalg.norm(b))
        if d == 0.0:
            return None, True
        unit, previous = _Unit(d, u, b / d, it + 1), unit
        if unit.distance2(previous) <= (tol * d) ** 2:
            return unit, True
    return unit, False


def _bic(stats: SufficientStats, sse: float, df: int) -> float:
    """``log(SSE / nq) + log(nq) / (nq) * df`` (the RSSVD paper's criterion)."""
    nq = stats.n * stats.n_targets
    sse = max(sse, np.finfo(np.float64).tiny)
    return float(np.log(sse / nq) + np.log(nq) / nq * df)


def _rssvd_start(stats: SufficientStats, pilot: _Unit, weights) -> float:
    """Penalty small enough to start from the dense pilot without emptying the layer.

    At the pilot every ``v~_j`` is non-zero, so the ``u``-step's penalty carries
    ``sum_j w_v,j |v~_j| = sum_j |v~_j|^(1 - gamma)``, large when ``v~`` has
    near-zero entries. At this level the penalty on the pilot's largest entries
    of ``u~`` and ``v~`` is a tenth of their correlation, so the first
    alternations zero the noise entries and keep the signal; larger penalties
    are then reached by continuation from sparse iterates.
    """
    w_d, w_u, w_v = weights
    i, j = int(np.argmax(np.abs(pilot.u))), int(np.argmax(np.abs(pilot.v)))
    cap_u = abs(float(stats.xy[i] @ pilot.v)) / (w_d * _weighted_l1(w_v, pilot.v) * w_u[i])
    cap_v = abs(float(stats.xy[:, j] @ pilot.u)) / (w_d * _weighted_l1(w_u, pilot.u) * w_v[j])
    return 0.1 * min(cap_u, cap_v)


def _rssvd_grid(stats: SufficientStats, weights, est) -> np.ndarray:
    """Decreasing log grid from ``lam_max``, where every entry of the layer is zero.

    ``C = 0`` is optimal when ``|xy_ij| <= lam w_ij`` for all ``i, j``, since then
    ``u^T xy v <= lam sum_ij w_ij |u_i v_j|`` for every ``u, v``; so ``lam_max =
    max_ij |xy_ij| / w_ij``. The adaptive weights spread these ratios over many
    decades (signal entries have small weights), so by default the grid ends at
    their median, where half the entries pass the test and the fit is dense,
    or three decades down, whichever is lower.
    """
    if est.lam is not None:
        return np.array([float(est.lam)])
    W = weights[0] * np.outer(weights[1], weights[2])
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(W), np.abs(stats.xy) / W, 0.0)
    lam_max = float(ratios.max(initial=0.0))
    ratio = est.lambda_min_ratio
    if ratio is None:
        median = float(np.median(ratios)) / lam_max if lam_max > 0.0 else 1.0
        ratio = min(1e-3, max(median, 1e-12))
    return _lambda_grid(lam_max, est.n_lambdas, ratio)


def _rssvd_unit(stats: SufficientStats, factors, est, ill_posed: bool):
    """Fit the next layer: pilot, weights, continuation over ``lambda``, BIC choice.

    The grid is solved in increasing order, each fit warm-started from the
    previous one, after a warm-up fit at :func:`_rssvd_start`'s level when
    that is below the grid. Returns the chosen layer (``None`` if empty), the
    tuning record (grid in decreasing order) and the number of capped fits.
    """
    B_ols = _ols_coef(stats, factors)
    base = ridge_gcv(stats).coef if ill_posed and est.lam != 0.0 else B_ols
    pilot = _unit_from(base, stats.xx)
    if pilot.d == 0.0:
        return None, {"lambdas": np.zeros(0), "bic": np.zeros(0), "df": np.zeros(0, int),
                      "lambda": np.nan}, 0
    weights = tuple(_adaptive_weights(x, est.gamma) for x in (pilot.d, pilot.u, pilot.v))
    grid = _rssvd_grid(stats, weights, est)
    solve = {"B_ols": B_ols, "max_iter": est.max_iter, "tol": est.tol}
    current, n_failed = pilot, 0
    start = _rssvd_start(stats, pilot, weights) if grid[-1] > 0.0 else 0.0
    if start < grid[-1]:
        current, ok = _unit_solve(stats, start, weights, pilot, **solve)
        n_failed += int(not ok)
    units = []
    for value in grid[::-1]:
        if current is not None:  # once empty, empty for every larger penalty
            current, ok = _unit_solve(stats, float(value), weights, current, **solve)
            n_failed += int(not ok)
        units.append(current)
    units = units[::-1]
    df = np.array([u.df() if u is not None else 0 for u in units])
    empty = stats.n * float(np.trace(stats.yy))
    bic = np.array([_bic(stats, u.rss(stats) if u is not None else empty, k)
                    for u, k in zip(units, df, strict=True)])
    best = int(np.argmin(bic))  # first minimum: ties go to the larger penalty
    record = {"lambdas": grid, "bic": bic, "df": df, "lambda": float(grid[best])}
    return units[best], record, n_failed


class RSSVD(_RankedMixin, StatsLinearRegressor):
    """Reduced-rank regression with a sparse SVD (Chen, Chan & Stenseth 2012), BIC per layer.

    Model: ``Y = X C + E`` with ``C = sum_k d_k u_k v_k^T`` (``||u_k|| =
    ||v_k|| = 1``), the singular vectors sparse, so each layer links a few
    predictors to a few responses. Layers are fitted one at a time
    (sequential extraction): layer ``k`` minimises, on the residual responses
    ``Y_k = Y - X sum_{l<k} C_l``,

    ``(1/2n) ||Y_k - X d u v^T||_F^2 + lam * sum_ij w_ij |d u_i v_j|``

    with the paper's adaptive weights ``w_ij = |d~ u~_i v~_j|^-gamma`` from the
    unpenalised unit-rank fit ``d~ u~ v~^T`` of ``Y_k`` (reduced-rank regression
    of rank one; the GCV ridge fit reduced to rank one on a design with few
    residual degrees of freedom). The weights factorise, so the layer is
    fitted by alternating a weighted lasso for ``d u`` given ``v`` and
    soft-thresholding for ``d v`` given ``u`` until ``d u v^T`` settles. At
    ``lam = 0`` every layer is the leading layer of reduced-rank regression of
    the residuals, and ``rank`` layers add up to reduced-rank regression of that
    rank.

    Tuning (the paper's): each layer's ``lam`` minimises
    ``BIC = log(SSE / nq) + log(nq) / (nq) * df`` over a log grid from
    ``lam_max`` (where every entry of the layer is zero), with ``SSE`` the
    layer's residual sum of squares on ``Y_k`` and ``df = |supp u| + |supp v|
    - 1``. Extraction stops at ``rank`` layers or at the first layer whose
    chosen fit is empty. (``rrpack``'s ``rssvd`` goes on to refine the layers
    by iterative exclusive extraction; this implementation stops at the
    sequential fit.)

    Parameters
    ----------
    rank : int or None, default=None
        Most layers to extract; ``None``: the rank chosen by the Rank Selection
        Criterion (Bunea, She & Wegkamp 2011), as
        :class:`~smart_sc.baselines.ReducedRankRegression` chooses it.
    lam : float or None, default=None
        Penalty level for every layer (per-cell units); ``None`` chooses each
        layer's by BIC.
    n_lambdas : int, default=20
        Grid size per layer.
    lambda_min_ratio : float or None, default=None
        Smallest grid value relative to ``lam_max``; ``None``: where half the
        entries pass their zero-fit test ``|xy_ij| <= lam w_ij``, or ``1e-3``,
        whichever is lower.
    gamma : float, default=2.0
        Power of the adaptive weights (0: plain lasso penalty).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.
    max_iter : int, default=200
        Maximum alternations (``u`` and ``v`` updates) per fit.
    tol : float, default=1e-6
        Stop when ``d u v^T`` changes by at most ``tol`` relative to its norm.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        ``C^T``, the sum of the layers.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    rank_ : int
        Number of non-empty layers.
    singular_values_ : ndarray of shape (rank_,)
        ``d_k``.
    components_u_ : ndarray of shape (rank_, n_features)
        Unit-norm, sparse ``u_k`` (predictor side), one per row.
    components_v_ : ndarray of shape (rank_, n_targets)
        Unit-norm, sparse ``v_k`` (response side), one per row.
    unit_tuning_ : list of dict
        Per layer tried (including a final empty one): ``"lambdas"``,
        ``"bic"``, ``"df"`` along the grid and the chosen ``"lambda"``.
    n_iter_ : ndarray of int, shape (rank_,)
        Alternations of each layer's chosen fit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    References
    ----------
    Chen, K., Chan, K.-S. & Stenseth, N. C. (2012). Reduced rank stochastic
    regression with a sparse singular value decomposition. *Journal of the Royal
    Statistical Society, Series B* 74(2), 203-221.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import RSSVD
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 12))
    >>> u, v = np.zeros(12), np.zeros(6)
    >>> u[:3], v[:2] = 1.0, 2.0                  # 3 genes drive 2 proteins
    >>> Y = X @ np.outer(u, v) + 0.1 * rng.normal(size=(100, 6))
    >>> model = RSSVD(rank=1).fit(X, Y)
    >>> model.rank_, np.flatnonzero(model.components_u_[0]).tolist()
    (1, [0, 1, 2])
    >>> np.flatnonzero(model.components_v_[0]).tolist()
    [0, 1]
    """

    _parameter_constraints: dict = _PATH_CONSTRAINTS

    def __init__(self, rank: int | None = None, *, lam: float | None = None,
                 n_lambdas: int = 20, lambda_min_ratio: float | None = None,
                 gamma: float = 2.0, fit_intercept: bool = True, max_iter: int = 200,
                 tol: float = 1e-6):
        self.rank = rank
        self.lam = lam
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.gamma = gamma
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        """Extract sparse layers one at a time, each penalty chosen by BIC.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : RSSVD
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad parameters, or a rank above ``min(n_features, n_targets)`` or
            the rank of the design.
        """
        self._validate_params()
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        factors = _pinv_factors(stats)
        (max_rank,) = self._resolve_ranks(stats, int(factors[0].size))
        ill_posed = is_design_ill_posed(stats)
        units, records, n_failed, residual = [], [], 0, stats
        for _ in range(max_rank):
            unit, record, failed = _rssvd_unit(residual, factors, self, ill_posed)
            records.append(record)
            n_failed += failed
            if unit is None:
                break
            units.append(unit)
            residual = _deflate(residual, unit.coef)
        _warn_unconverged("RSSVD", n_failed, self.max_iter)
        coef = sum((unit.coef for unit in units), np.zeros_like(stats.xy))
        self._set_coef(coef, stats.intercept(coef))
        self.rank_ = len(units)
        self.singular_values_ = np.array([unit.d for unit in units])
        self.components_u_ = np.array([unit.u for unit in units]).reshape(-1, stats.n_features)
        self.components_v_ = np.array([unit.v for unit in units]).reshape(-1, stats.n_targets)
        self.unit_tuning_ = records
        self.n_iter_ = np.array([unit.n_iter for unit in units], dtype=int)
        logger.debug("RSSVD: %d layer(s), penalties %s", self.rank_,
                     [r["lambda"] for r in records])
        return self


# --------------------------------------------------------------------------- SOFAR


@dataclass
class _SofarState:
    """ADMM iterate: ``U, d, V`` and the split copies ``A ~ U D``, ``B ~ V D`` with scaled duals."""

    U: np.ndarray
    d: np.ndarray
    V: np.ndarray
    A: np.ndarray
    B: np.ndarray
    dual_a: np.ndarray
    dual_b: np.ndarray
    rho: float
    alive: np.ndarray
    n_iter: int = 0  # ADMM iterations of the fit that produced it

    @classmethod
    def from_svd(cls, U, d, V, rho: float) -> _SofarState:
        return cls(U, d, V, U * d, V * d, np.zeros_like(U), np.zeros_like(V), rho,
                   d > 0.0)

    def copy(self) -> _SofarState:
        return _SofarState(*(np.array(x) for x in (self.U, self.d, self.V, self.A, self.B,
                                                    self.dual_a, self.dual_b)), self.rho,
                           self.alive.copy())

    def drop(self, k: int) -> None:
        """Remove layer ``k`` for good (its singular value, copies and duals)."""
        self.alive[k] = False
        for x in (self.A, self.B, self.dual_a, self.dual_b):
            x[:, k] = 0.0
        self.d[k] = 0.0

    def layers(self) -> np.ndarray:
        """Layers with a positive singular value and non-empty sparse factors."""
        return (self.d > 0.0) & self.A.any(axis=0) & self.B.any(axis=0)

    @property
    def coef(self) -> np.ndarray:
        """``C = A D^-1 B^T`` (``= U D V^T`` at convergence), exactly sparse."""
        keep = self.layers()
        return (self.A[:, keep] / self.d[keep]) @ self.B[:, keep].T

    def df(self) -> int:
        keep = self.layers()
        return int(np.count_nonzero(self.A[:, keep]) + np.count_nonzero(self.B[:, keep])
                   - keep.sum())


def _sofar_svd_block(stats: SufficientStats, s: _SofarState, pen_d: np.ndarray,
                     lipschitz: float) -> None:
    """One pass over ``U``, ``D``, ``V`` of the augmented Lagrangian (in place).

    With ``V^T V = I`` the loss is ``1/2 tr(D U^T xx U D) - tr(U^T xy V D)`` plus a
    constant, so: ``U`` takes one majorise-minimise step on the Stiefel
    manifold (the quadratic majorised with ``lipschitz = ||xx||_2`` per column,
    ``||u_k|| = 1`` making the majoriser linear, minimised by a polar factor);
    ``d_k`` has a closed form (a soft-threshold, kept non-negative); ``V`` is
    the polar factor of ``xy^T U D + rho (B - dual_b) D`` (orthogonal
    Procrustes). Every step lowers the augmented Lagrangian.
    """
    d2 = s.d * s.d
    if np.any(d2 > 0.0):
        grad = stats.xx @ (s.U * d2) - (stats.xy @ s.V + s.rho * (s.A - s.dual_a)) * s.d
        s.U = polar(s.U * (lipschitz * d2) - grad)
    curv = np.einsum("ik,ik->k", s.U, stats.xx @ s.U) + 2.0 * s.rho
    grad = (np.einsum("ik,ik->k", s.U, stats.xy @ s.V)
            + s.rho * np.einsum("ik,ik->k", s.U, s.A - s.dual_a)
            + s.rho * np.einsum("jk,jk->k", s.V, s.B - s.dual_b))
    s.d = np.where(s.alive, np.maximum(grad - pen_d, 0.0) / curv, 0.0)
    live = s.d > 0.0
    if live.any():
        target = (stats.xy.T @ s.U[:, live] + s.rho * (s.B - s.dual_b)[:, live]) * s.d[live]
        s.V = _procrustes_keeping(target, s.V, live)


def _procrustes_keeping(target: np.ndarray, V: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Polar factor of ``target`` in the ``live`` columns; the others completed orthonormally.

    Columns of zero singular value do not enter the objective: they keep their
    direction as far as orthogonality to the new live columns allows.
    """
    live_cols = polar(target)
    if live.all():
        return live_cols
    out = V.copy()
    out[:, live] = live_cols
    rest = V[:, ~live] - live_cols @ (live_cols.T @ V[:, ~live])
    out[:, ~live] = np.linalg.qr(rest)[0]
    return out


def _sofar_solve(stats: SufficientStats, pens, start: _SofarState, *, lipschitz: float,
                 rho: float, max_iter: int, tol: float) -> tuple[_SofarState, bool]:
    """ADMM on ``A = U D``, ``B = V D`` (orthogonality kept exactly in ``U``, ``V``).

    Each iteration: one pass of :func:`_sofar_svd_block`; ``A`` and ``B`` by
    entrywise soft-thresholding of ``U D`` and ``V D`` plus the scaled duals
    (the lasso penalties' proximal maps); dual ascent. The ADMM penalty starts
    at ``rho``, doubles when the primal residual exceeds the dual one tenfold,
    and after 100 iterations grows by 2% per iteration (up to ``1e6 rho``), so
    that iterates of this nonconvex problem cannot cycle (a layer about to
    vanish otherwise can).
    Stops when both residuals are at most ``tol`` times the size of ``U D`` and
    ``V D`` (at least a millionth of the start's).
    """
    pen_d, pen_a, pen_b = pens
    s = start.copy()
    _set_rho(s, rho)
    # Residuals are relative to the iterate's size, but not below a millionth of
    # the start's: a vanishing model converges too.
    floor = max(1e-6 * math.sqrt(_sq(s.A) + _sq(s.B)), np.finfo(np.float64).tiny)
    for it in range(max_iter):
        s.n_iter = it + 1
        _sofar_svd_block(stats, s, pen_d, lipschitz)
        UD, VD = s.U * s.d, s.V * s.d
        A = soft_threshold(UD + s.dual_a, pen_a / s.rho)
        B = soft_threshold(VD + s.dual_b, pen_b / s.rho)
        gap_a, gap_b, step_a, step_b = UD - A, VD - B, A - s.A, B - s.B
        primal = math.sqrt(_sq(gap_a) + _sq(gap_b))
        dual = s.rho * math.sqrt(_sq(step_a) + _sq(step_b))
        s.dual_a += gap_a
        s.dual_b += gap_b
        s.A, s.B = A, B
        size = max(math.sqrt(_sq(UD) + _sq(VD)), floor)
        if primal <= tol * size and dual <= tol * s.rho * size:
            return s, True
        if s.rho < 1e6 * rho and (primal > 10.0 * dual or it >= 100):
            _set_rho(s, (2.0 if primal > 10.0 * dual else 1.02) * s.rho)
        if it >= 50 and it % 25 == 0:
            _prune_layers(stats, s, pens)
        if not s.alive.any():
            return s, True  # the empty model
    return s, False


def _layer_terms(stats: SufficientStats, s: _SofarState, pens):
    """Per-layer pieces of the penalised objective at ``C = A D^-1 B^T``.

    With ``P = A D^-1`` and ``Q = B`` the loss over a set ``S`` of layers is
    ``1/2 1_S^T ((P^T xx P) * (Q^T Q)) 1_S - sum_{k in S} (P^T xy Q)_kk`` (no
    constant), so every subset costs O(r^2) once these are formed. Returns the
    pairwise matrix and, per layer, the linear part plus the layer's penalty.
    """
    live = s.d > 0.0
    P = np.where(live, s.A / np.where(live, s.d, 1.0), 0.0)
    Q = s.B
    pair = (P.T @ stats.xx @ P) * (Q.T @ Q)
    pen_d, pen_a, pen_b = pens
    with np.errstate(invalid="ignore"):  # 0 * inf where an infinite weight meets a zero
        penalty = (np.where(live, pen_d * s.d, 0.0)
                   + np.sum(np.where(s.A != 0.0, pen_a * np.abs(s.A), 0.0), axis=0)
                   + np.sum(np.where(s.B != 0.0, pen_b * np.abs(s.B), 0.0), axis=0))
    return pair, penalty - np.einsum("ik,ik->k", P, stats.xy @ Q)


def _prune_layers(stats: SufficientStats, s: _SofarState, pens) -> None:
    """Drop each layer whose removal does not raise the penalised objective.

    A layer on its way out at this penalty makes the nonconvex ADMM hover:
    with ``d_k`` near zero its singular vectors turn freely and the split
    copies keep changing support. Removing it is a descent step that ends this.
    """
    pair, single = _layer_terms(stats, s, pens)

    def objective(keep: np.ndarray) -> float:
        w = keep.astype(np.float64)
        return 0.5 * float(w @ pair @ w) + float(single @ w)

    for k in np.flatnonzero(s.alive):
        keep = s.layers()
        if not keep[k]:
            if not s.A[:, k].any() and not s.B[:, k].any():
                s.drop(k)  # contributes nothing to C; dropping only lowers the penalty
            continue
        without = keep.copy()
        without[k] = False
        if objective(without) <= objective(keep):
            s.drop(k)


def _sq(x: np.ndarray) -> float:
    """Squared Frobenius norm."""
    return float(np.vdot(x, x))


def _set_rho(s: _SofarState, rho: float) -> None:
    """Change the ADMM penalty, rescaling the scaled duals (``dual = multiplier / rho``)."""
    s.dual_a *= s.rho / rho
    s.dual_b *= s.rho / rho
    s.rho = rho


def _check_ratios(est) -> np.ndarray:
    """``penalty_ratios``: three entries >= 0 (for D, U D and V D), not all zero."""
    ratios = check_entries(est, "penalty_ratios", NONNEGATIVE, size=3)
    if not np.any(ratios > 0):
        raise InvalidParameterError(
            "The 'penalty_ratios' parameter of SOFAR must not be all zero (that fit would be "
            "unpenalised reduced-rank regression: pass lam=0 for it). Got "
            f"{est.penalty_ratios!r} instead."
        )
    return ratios


def _sofar_start(pilots: _Pilots, rank: int, exact: bool):
    """Thin SVD of the pilot rank-``rank`` fit (reduced-rank regression when ``exact``)."""
    U, d, Vt = np.linalg.svd(pilots.fit(rank, exact), full_matrices=False)
    return U[:, :rank], d[:rank], Vt[:rank].T


def _sofar_lambda_max(stats: SufficientStats, weights, ratios: np.ndarray) -> float:
    """Return a penalty level at which every layer is zero.

    A layer ``d u v^T`` gains at most ``d ||xy||_2`` in fit and pays at least
    ``lam d (r_d w_d + r_a min_i W_a,i + r_b min_j W_b,j)``, since ``||u||_1,
    ||v||_1 >= 1`` for unit vectors.
    """
    w_d, W_a, W_b = weights
    floor = ratios[0] * w_d + ratios[1] * W_a.min(axis=0) + ratios[2] * W_b.min(axis=0)
    floor = float(np.min(floor)) if floor.size else np.inf
    top = float(np.linalg.norm(stats.xy, 2)) if stats.xy.size else 0.0
    return top / floor if floor > 0.0 and np.isfinite(floor) else top


def _sofar_grid(stats: SufficientStats, start, weights, ratios: np.ndarray, est) -> np.ndarray:
    """Decreasing log grid from :func:`_sofar_lambda_max`.

    By default it ends where half the entries of ``U D`` and ``V D`` would pass
    their zero test at the pilot's directions, ``|(xy V~)_ik| <= lam_a W_a,ik``
    and ``|(xy^T U~)_jk| <= lam_b W_b,jk`` (the median of these ratios), or
    three decades down, whichever is lower: the adaptive weights spread the
    ratios over many decades.
    """
    if est.lam is not None:
        return np.array([float(est.lam)])
    lam_max = _sofar_lambda_max(stats, weights, ratios)
    ratio = est.lambda_min_ratio
    if ratio is None:
        U, _, V = start
        with np.errstate(divide="ignore", invalid="ignore"):
            tests = np.concatenate([
                (np.abs(stats.xy @ V) / (ratios[1] * weights[1])).ravel(),
                (np.abs(stats.xy.T @ U) / (ratios[2] * weights[2])).ravel()])
        tests = tests[np.isfinite(tests)]
        median = float(np.median(tests)) / lam_max if tests.size and lam_max > 0 else 1.0
        ratio = min(1e-3, max(median, 1e-12))
    return _lambda_grid(lam_max, est.n_lambdas, ratio)


def _sofar_path(stats: SufficientStats, factors, rank: int, est, ratios: np.ndarray):
    """SOFAR along an increasing grid from the pilot; per level the fit and its BIC."""
    exact = est.lam is not None and float(est.lam) == 0.0
    U, d, V = _sofar_start(_Pilots(stats, factors), rank, exact)
    weights = (_adaptive_weights(d, est.gamma), _adaptive_weights(U * d, est.gamma),
               _adaptive_weights(V * d, est.gamma))
    grid = _sofar_grid(stats, (U, d, V), weights, ratios, est)
    lipschitz = float(factors[0].max()) if factors[0].size else 0.0
    rho = max(float(np.mean(np.diag(stats.xx))), np.finfo(np.float64).tiny)
    state = _SofarState.from_svd(U, d, V, rho)
    fits, n_failed = [], 0
    for value in grid[::-1]:
        if fits and not fits[-1].layers().any():
            fits.append(fits[-1])  # empty stays empty for larger penalties
            continue
        with np.errstate(invalid="ignore"):  # 0 * inf: an infinite weight at a zero level
            pens = tuple(np.nan_to_num(value * r * w, nan=0.0)
                         for r, w in zip(ratios, weights, strict=True))
        state, ok = _sofar_solve(stats, pens, state, lipschitz=lipschitz, rho=rho,
                                 max_iter=est.max_iter, tol=est.tol)
        n_failed += int(not ok)
        fits.append(state)
    fits = fits[::-1]
    bic = np.array([_bic(stats, stats.rss(f.coef), f.df()) for f in fits])
    return grid, fits, bic, n_failed


class SOFAR(_RankedMixin, StatsLinearRegressor):
    """Sparse orthogonal factor regression (Uematsu et al. 2019), penalty level by BIC.

    Model: ``Y = X C + E`` with ``C = U D V^T``, ``U^T U = I``, ``V^T V = I``
    and ``D = diag(d)``, ``d >= 0``: a sparse SVD of the coefficients whose
    singular vectors stay orthonormal. The estimate minimises

    ``(1/2n) ||Y - X U D V^T||_F^2 + lam_d ||W_d D||_1 + lam_a ||W_a * (U D)||_1
    + lam_b ||W_b * (V D)||_1``

    (``*`` entrywise) with ``(lam_d, lam_a, lam_b) = lam * penalty_ratios``
    and adaptive weights ``W_d = D~^-gamma``, ``W_a = |U~ D~|^-gamma``, ``W_b =
    |V~ D~|^-gamma`` from the thin SVD of the unpenalised rank-``r`` fit
    (reduced-rank regression; on a design with few residual degrees of freedom,
    the GCV ridge fit reduced to rank ``r``). ``gamma = 0`` gives the paper's
    unweighted penalties. ``lam = 0`` is reduced-rank regression of rank ``r``.

    Algorithm: the paper's approach, an ADMM that splits the sparse factors
    ``A = U D`` and ``B = V D`` from the orthogonality-constrained ``U, D, V``,
    with our own steps. Each iteration makes one pass over ``U`` (a
    majorise-minimise step on the Stiefel manifold, solved by a polar
    decomposition), ``d`` (closed form) and ``V`` (orthogonal Procrustes, a
    polar decomposition), then sets ``A`` and ``B`` by entrywise
    soft-thresholding and updates the scaled duals. Two safeguards for this
    nonconvex problem: the ADMM penalty grows when the primal residual lags
    (and slowly after 100 iterations), and every 25 iterations a layer whose
    removal does not raise the objective is dropped (a vanishing layer
    otherwise makes the iterates cycle). The estimate is ``C = A D^-1 B^T``,
    built from the sparse copies: exactly sparse, and equal to ``U D V^T`` up
    to the ADMM tolerance. The grid is solved in increasing order of ``lam``,
    from the pilot, each fit warm-started from the previous one.

    Tuning: ``lam`` minimises the BIC-type criterion ``log(SSE / nq) + log(nq)
    / (nq) * df`` over a log grid, with ``SSE`` the training residual sum of
    squares and ``df = sum_k (|supp a_k| + |supp b_k| - 1)`` over the non-empty
    layers (ties go to the larger penalty). ``rank`` is an upper bound: layers
    whose ``d_k`` or factors are zeroed drop out.

    Parameters
    ----------
    rank : int or None, default=None
        Number of layers ``r`` (upper bound); ``None``: the Rank Selection
        Criterion's (Bunea, She & Wegkamp 2011) choice, as
        :class:`~smart_sc.baselines.ReducedRankRegression` makes it.
    lam : float or None, default=None
        Penalty level (per-cell units); ``None`` chooses it by BIC.
    penalty_ratios : tuple of 3 float, default=(1.0, 1.0, 1.0)
        ``(lam_d, lam_a, lam_b) / lam``: relative penalties on ``D``, ``U D``
        and ``V D``.
    n_lambdas : int, default=20
        Grid size.
    lambda_min_ratio : float or None, default=None
        Smallest grid value relative to the largest (at which ``C = 0``);
        ``None``: where half the entries of ``U D`` and ``V D`` pass their
        zero-fit test at the pilot, or ``1e-3``, whichever is lower.
    gamma : float, default=2.0
        Power of the adaptive weights.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.
    max_iter : int, default=500
        Maximum ADMM iterations per fit.
    tol : float, default=1e-4
        Relative tolerance on the ADMM primal and dual residuals.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        ``C^T`` at the chosen penalty.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    rank_ : int
        Number of non-empty layers.
    singular_values_ : ndarray of shape (rank_,)
        ``d_k`` of the non-empty layers.
    components_u_ : ndarray of shape (rank_, n_features)
        Sparse left singular vectors ``a_k / d_k``, one per row.
    components_v_ : ndarray of shape (rank_, n_targets)
        Sparse right singular vectors ``b_k / d_k``, one per row.
    lambda_ : float
        Chosen penalty level.
    tuning_ : dict or None
        ``"lambdas"`` (decreasing), ``"bic"``, ``"df"`` and ``"rank"`` (non-empty
        layers) along the grid; ``None`` when ``lam`` was given.
    n_iter_ : int
        ADMM iterations of the chosen fit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    References
    ----------
    Uematsu, Y., Fan, Y., Chen, K., Lv, J. & Lin, W. (2019). SOFAR: large-scale
    association network learning. *IEEE Transactions on Information Theory*
    65(8), 4924-4939.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SOFAR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 12))
    >>> U = np.zeros((12, 2)); V = np.zeros((6, 2))
    >>> U[:3, 0] = U[3:6, 1] = 3 ** -0.5; V[:2, 0] = V[2:4, 1] = 2 ** -0.5
    >>> Y = X @ (U @ np.diag([4.0, 2.0]) @ V.T) + 0.1 * rng.normal(size=(100, 6))
    >>> model = SOFAR(rank=2).fit(X, Y)
    >>> model.rank_, np.round(model.singular_values_, 1)
    (2, array([4., 2.]))
    >>> np.flatnonzero(np.abs(model.coef_).sum(axis=0)).tolist()  # genes used
    [0, 1, 2, 3, 4, 5]
    >>> np.flatnonzero(np.abs(model.coef_).sum(axis=1)).tolist()  # proteins predicted
    [0, 1, 2, 3]
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        **_PATH_CONSTRAINTS,
        "penalty_ratios": ["array-like"],  # three entries >= 0, not all zero
    }

    def __init__(self, rank: int | None = None, *, lam: float | None = None,
                 penalty_ratios=(1.0, 1.0, 1.0), n_lambdas: int = 20,
                 lambda_min_ratio: float | None = None, gamma: float = 2.0,
                 fit_intercept: bool = True, max_iter: int = 500, tol: float = 1e-4):
        self.rank = rank
        self.lam = lam
        self.penalty_ratios = penalty_ratios
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.gamma = gamma
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        """Fit SOFAR along the penalty grid and keep the BIC choice.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : SOFAR
            The fitted estimator.

        Raises
        ------
        ValueError
            Bad parameters, or a rank above ``min(n_features, n_targets)`` or
            the rank of the design.
        """
        self._validate_params()
        ratios = _check_ratios(self)
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        factors = _pinv_factors(stats)
        (rank,) = self._resolve_ranks(stats, int(factors[0].size))
        self.tuning_ = None
        if rank == 0:
            return self._finish(stats, None, 0.0)
        grid, fits, bic, n_failed = _sofar_path(stats, factors, rank, self, ratios)
        best = int(np.argmin(bic))  # first minimum: ties go to the larger penalty
        if grid.size > 1:
            self.tuning_ = {"lambdas": grid, "bic": bic, "df": np.array([f.df() for f in fits]),
                            "rank": np.array([int(f.layers().sum()) for f in fits])}
        _warn_unconverged("SOFAR", n_failed, self.max_iter)
        return self._finish(stats, fits[best], float(grid[best]))

    def _finish(self, stats: SufficientStats, fit: _SofarState | None, lam: float):
        p, q = stats.n_features, stats.n_targets
        if fit is None:
            coef, keep = np.zeros((p, q)), np.zeros(0, dtype=bool)
            d, A, B = np.zeros(0), np.zeros((p, 0)), np.zeros((q, 0))
        else:
            coef, keep, d, A, B = fit.coef, fit.layers(), fit.d, fit.A, fit.B
        self._set_coef(coef, stats.intercept(coef))
        self.rank_ = int(keep.sum())
        self.singular_values_ = d[keep].copy()
        self.components_u_ = (A[:, keep] / d[keep]).T.copy()
        self.components_v_ = (B[:, keep] / d[keep]).T.copy()
        self.lambda_ = lam
        self.n_iter_ = int(fit.n_iter) if fit is not None else 0
        logger.debug("SOFAR: %d layer(s), lambda %.3g", self.rank_, lam)
        return self

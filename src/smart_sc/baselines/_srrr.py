"""Row-sparse reduced-rank regression (SRRR, Chen & Huang 2012), from sufficient statistics.

``C = B A^T`` with ``A^T A = I`` and a row-wise group lasso on ``B``, so whole
predictors (genes) drop out; rank and penalty by K-fold cross-validation.
The pieces it shares with RSSVD and SOFAR (pilot, grids, group lasso) and
the orientation of its matrices: :mod:`._sparse_base`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._core.geometry.stiefel import polar
from .._core.randomness import RANDOM_STATE_CONSTRAINT
from .._core.sums.stats import SufficientStats, held_out_sse
from ._base import StatsLinearRegressor, warn_not_converged
from ._cv import FoldSums
from ._linalg import pinv_factors
from ._params import FOLDS, POSITIVE_INT
from ._sparse_base import (
    MAX_SWEEPS,
    PATH_CONSTRAINTS,
    LamAliasMixin,
    Pilots,
    RankedMixin,
    adaptive_weights,
    capped_fits,
    group_lasso,
    path_grid,
)

__all__ = ["SRRR"]

logger = logging.getLogger("smart_sc")

#: Sweeps per B-step of SRRR while ``A`` is still moving.
_INNER_SWEEPS = 3

#: SRRR's cross-validation stops descending the grid after this many
#: penalties without improvement of the pooled held-out error.
_PATIENCE = 3


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
            sweeps = MAX_SWEEPS if it == max_iter - 1 else _INNER_SWEEPS
            B, settled = group_lasso(stats.xx, stats.xy @ state.A, state.B, pen, tol_abs,
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


def _srrr_fits(pilots: Pilots, rank: int, lambdas: np.ndarray, gamma: float, *,
               max_iter: int, tol: float):
    """Yield SRRR fits ``(state, converged)`` down a decreasing grid, warm-started, from ``B = 0``.

    The adaptive weights ``||c~_i||^-gamma`` and the starting ``A`` come from the
    pilot rank-``rank`` fit ``c~`` (:class:`Pilots`); ``A`` starts at its
    leading response directions.
    """
    stats = pilots.stats
    weights = adaptive_weights(np.linalg.norm(pilots.fit(rank), axis=1), gamma)
    # Without penalty, start at reduced-rank regression's directions: its fixed point.
    A0 = pilots.directions(rank, exact=lambdas[0] == 0.0)
    state = _SRRRState(np.zeros((stats.n_features, rank)), A0)
    for lam in lambdas:
        state, ok = _srrr_solve(stats, lam * weights, state, B_ols=pilots.ols,
                                max_iter=max_iter, tol=tol)
        yield state, ok


def _srrr_grid(pilots: Pilots, rank: int, est) -> np.ndarray:
    """Grid for SRRR: from the smallest level with ``B = 0`` for every ``A``.

    Row ``i`` stays at zero when ``||(xy A)_i|| <= lam w_i``, and ``||(xy A)_i||
    <= ||xy_i||`` for every ``A`` with orthonormal columns, so ``lam_max =
    max_i ||xy_i|| / w_i``. Row ``i`` of the pilot ``c~`` leaves at about
    ``xx_ii ||c~_i|| / w_i`` (:func:`path_grid`).
    """
    stats = pilots.stats
    rows = np.linalg.norm(pilots.fit(rank), axis=1)
    weights = adaptive_weights(rows, est.gamma)
    lam_max = float(np.max(np.linalg.norm(stats.xy, axis=1) / weights, initial=0.0))
    return path_grid(lam_max, np.diag(stats.xx) * rows / weights, est)


class SRRR(LamAliasMixin, RankedMixin, StatsLinearRegressor):
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
    lam_ : float
        Chosen penalty level (``lambda_``, its former name, is deprecated).
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
        **PATH_CONSTRAINTS,
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
        splits = [(held_out, train, Pilots(train, pinv_factors(train)))
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
        factors = pinv_factors(stats)
        ranks = self._resolve_ranks(stats, int(factors[0].size))
        self.cv_results_ = None
        if ranks[0] == 0:  # constant design: nothing to fit
            return self._finish(stats, _SRRRState(np.zeros((stats.n_features, 0)),
                                                  np.zeros((stats.n_targets, 0))), 0.0)
        pilots = Pilots(stats, factors)
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
        warn_not_converged("SRRR", n_failed, capped_fits(self.max_iter))
        return self._finish(stats, fits[-1][0], float(grids[best_rank, best_k]))

    def _finish(self, stats: SufficientStats, fit: _SRRRState, lam: float):
        coef = fit.coef
        rank = fit.A.shape[1]
        self._set_coef(coef, stats.intercept(coef))
        self.rank_ = int(rank)
        self.lam_ = lam
        self.n_iter_ = int(fit.n_iter)
        self.selected_features_ = np.linalg.norm(coef, axis=1) > 0.0
        logger.debug("SRRR: rank %d, lambda %.3g, %d feature(s) selected", rank, lam,
                     int(self.selected_features_.sum()))
        return self

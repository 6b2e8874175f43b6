"""Sparse orthogonal factor regression (SOFAR, Uematsu, Fan, Chen, Lv & Lin 2019).

``C = U D V^T`` with orthonormal ``U, V`` and lasso penalties on ``D``, ``U D``
and ``V D``, fitted by ADMM from sufficient statistics, the penalty level by
BIC (:mod:`._sparse_base` holds the pilot, weights and grid helpers it shares
with SRRR and RSSVD).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .._core.geometry.stiefel import polar
from .._core.proximal import soft_threshold
from .._core.sums.stats import SufficientStats
from ._base import StatsLinearRegressor, warn_not_converged
from ._linalg import pinv_factors
from ._params import NONNEGATIVE, InvalidParameterError, check_entries
from ._sparse_base import (
    PATH_CONSTRAINTS,
    LamAliasMixin,
    Pilots,
    RankedMixin,
    adaptive_weights,
    bic_score,
    capped_fits,
    lambda_grid,
)

__all__ = ["SOFAR"]

logger = logging.getLogger("smart_sc")


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


def _sofar_start(pilots: Pilots, rank: int, exact: bool):
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
    return lambda_grid(lam_max, est.n_lambdas, ratio)


def _sofar_path(stats: SufficientStats, factors, rank: int, est, ratios: np.ndarray):
    """SOFAR along an increasing grid from the pilot; per level the fit and its BIC."""
    exact = est.lam is not None and float(est.lam) == 0.0
    U, d, V = _sofar_start(Pilots(stats, factors), rank, exact)
    weights = (adaptive_weights(d, est.gamma), adaptive_weights(U * d, est.gamma),
               adaptive_weights(V * d, est.gamma))
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
    bic = np.array([bic_score(stats, stats.rss(f.coef), f.df()) for f in fits])
    return grid, fits, bic, n_failed


class SOFAR(LamAliasMixin, RankedMixin, StatsLinearRegressor):
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
    lam_ : float
        Chosen penalty level (``lambda_``, its former name, is deprecated).
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
        **PATH_CONSTRAINTS,
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
        factors = pinv_factors(stats)
        (rank,) = self._resolve_ranks(stats, int(factors[0].size))
        self.tuning_ = None
        if rank == 0:
            return self._finish(stats, None, 0.0)
        grid, fits, bic, n_failed = _sofar_path(stats, factors, rank, self, ratios)
        best = int(np.argmin(bic))  # first minimum: ties go to the larger penalty
        if grid.size > 1:
            self.tuning_ = {"lambdas": grid, "bic": bic, "df": np.array([f.df() for f in fits]),
                            "rank": np.array([int(f.layers().sum()) for f in fits])}
        warn_not_converged("SOFAR", n_failed, capped_fits(self.max_iter))
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
        self.lam_ = lam
        self.n_iter_ = int(fit.n_iter) if fit is not None else 0
        logger.debug("SOFAR: %d layer(s), lambda %.3g", self.rank_, lam)
        return self

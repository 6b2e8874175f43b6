"""Reduced-rank regression with a sparse SVD (RSSVD, Chen, Chan & Stenseth 2012).

``C = sum_k d_k u_k v_k^T`` with sparse singular vectors, fitted one unit-rank
layer at a time from sufficient statistics, each layer's penalty by BIC.
Its grid helpers, weights, lasso solver and BIC come from :mod:`._sparse_base`,
which SRRR and SOFAR share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from .._core.proximal import soft_threshold
from .._core.selection.rank import is_design_ill_posed
from .._core.selection.ridge import ridge_gcv
from .._core.sums.stats import SufficientStats
from ._base import StatsLinearRegressor, warn_not_converged
from ._linalg import leading_directions, ols_coef, pinv_factors, residual_stats
from ._sparse_base import (
    PATH_CONSTRAINTS,
    RankedMixin,
    adaptive_weights,
    bic_score,
    capped_fits,
    group_lasso,
    lambda_grid,
)

__all__ = ["RSSVD"]

logger = logging.getLogger("smart_sc")


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
    v = leading_directions(xx, base, 1)[:, 0]
    a = base @ v
    d = float(np.linalg.norm(a))
    u = a / d if d > 0.0 else np.zeros_like(a)
    return _Unit(d, u, v)


def _deflate(stats: SufficientStats, coef: np.ndarray) -> SufficientStats:
    """Statistics of the residual responses ``Y - X C``, ``yy`` kept exactly symmetric.

    Layer after layer, round-off would otherwise make ``yy`` drift from symmetry.
    """
    residual = residual_stats(stats, coef)
    return replace(residual, yy=0.5 * (residual.yy + residual.yy.T))


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
            a, ok = group_lasso(stats.xx, (stats.xy @ unit.v)[:, None],
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
    return lambda_grid(lam_max, est.n_lambdas, ratio)


def _rssvd_unit(stats: SufficientStats, factors, est, ill_posed: bool):
    """Fit the next layer: pilot, weights, continuation over ``lambda``, BIC choice.

    The grid is solved in increasing order, each fit warm-started from the
    previous one, after a warm-up fit at :func:`_rssvd_start`'s level when
    that is below the grid. Returns the chosen layer (``None`` if empty), the
    tuning record (grid in decreasing order) and the number of capped fits.
    """
    B_ols = ols_coef(stats, factors)
    base = ridge_gcv(stats).coef if ill_posed and est.lam != 0.0 else B_ols
    pilot = _unit_from(base, stats.xx)
    if pilot.d == 0.0:
        return None, {"lambdas": np.zeros(0), "bic": np.zeros(0), "df": np.zeros(0, int),
                      "lambda": np.nan}, 0
    weights = tuple(adaptive_weights(x, est.gamma) for x in (pilot.d, pilot.u, pilot.v))
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
    bic = np.array([bic_score(stats, u.rss(stats) if u is not None else empty, k)
                    for u, k in zip(units, df, strict=True)])
    best = int(np.argmin(bic))  # first minimum: ties go to the larger penalty
    record = {"lambdas": grid, "bic": bic, "df": df, "lambda": float(grid[best])}
    return units[best], record, n_failed


class RSSVD(RankedMixin, StatsLinearRegressor):
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

    _parameter_constraints: dict = PATH_CONSTRAINTS

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
        factors = pinv_factors(stats)
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
        warn_not_converged("RSSVD", n_failed, capped_fits(self.max_iter))
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

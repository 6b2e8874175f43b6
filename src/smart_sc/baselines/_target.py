"""Target-only and source-only baselines, fitted from sufficient statistics.

These are the competitors the SMART paper reports (SMART_METHOD.md, section 5):
least squares, ridge and lasso per response, reduced-rank regression, the source
model used as is, and the bounded-difference transfer ``C = C0 + Delta``. Each is
a scikit-learn regressor that sees the cells once, to form ``X^T X``, ``X^T Y``
and ``Y^T Y`` (per fold, in the same single pass, when it cross-validates), and
computes its coefficients from those statistics only; so they run on dense or
sparse inputs alike and their cost after that pass does not depend on the number
of cells.

Orientation: inside this module coefficient matrices are ``p x q`` (features x
responses, the paper's ``C``); the public ``coef_`` is ``q x p`` as in
scikit-learn, or ``(p,)`` after a fit on a 1-D ``y``.
"""

from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._core.rank import select_rank_rsc
from .._core.ridge import DEFAULT_RIDGE_ALPHAS, ridge_gcv
from .._core.stats import (
    SufficientStats,
    fold_sums,
    kfold_labels,
    total,
    validation_sse_per_target,
)
from .._regressor_base import (
    StatsLinearRegressor,
    check_nonnegative,
    check_positive_int,
    check_source_coef,
)

__all__ = [
    "OffsetTransfer",
    "ReducedRankRegression",
    "SourceOnly",
    "TargetLasso",
    "TargetOLS",
    "TargetRidge",
]

logger = logging.getLogger("smart_sc")

# scikit-learn's estimator checks accept only immutable scalars, tuples and
# callables as defaults (an ndarray default could be mutated between instances),
# so the paper's ridge grid is passed as a tuple of the same values.
_DEFAULT_ALPHAS: tuple[float, ...] = DEFAULT_RIDGE_ALPHAS


# --------------------------------------------------------------------------- helpers


def _roundoff_floor(stats: SufficientStats) -> np.ndarray:
    """Per feature, the round-off left in its centred variance: ``max(n, p) eps E[x^2]``.

    Sparse inputs are centred after the sums are formed (never densified), so a
    feature constant on these cells keeps a variance of order ``eps`` times its
    squared mean instead of an exact zero. Anything below this floor is
    indistinguishable from a constant feature.
    """
    second = np.diag(stats.xx) + (stats.x_mean**2 if stats.centered else 0.0)
    return max(stats.n, stats.n_features) * np.finfo(np.float64).eps * second


def _pinv_factors(stats: SufficientStats) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the Gram matrix above its numerical-rank threshold.

    The threshold is :func:`smart_sc._core.rank.design_rank`'s (``p eps`` times the top eigenvalue)
    raised to the centring round-off of the largest feature
    (:func:`_roundoff_floor`): otherwise a feature constant on sparse cells
    counts as a direction and least squares divides by its round-off.
    """
    evals, evecs = np.linalg.eigh(stats.xx)
    top = max(float(evals[-1]), 0.0)
    tol = max(
        top * stats.n_features * np.finfo(np.float64).eps,
        float(_roundoff_floor(stats).max()),
    )
    keep = evals > tol
    return evals[keep], evecs[:, keep]


def _ols_coef(stats: SufficientStats, factors=None) -> np.ndarray:
    """Minimum-norm least squares ``xx^+ xy`` (p x q)."""
    evals, evecs = _pinv_factors(stats) if factors is None else factors
    return evecs @ ((evecs.T @ stats.xy) / evals[:, None])


def _lasso_gap(xx, xy, yy_diag, alpha, W) -> np.ndarray:
    """Duality gap of each response's lasso, in per-cell units.

    Primal: ``1/2 w^T xx w - w^T xy + 1/2 yy + a ||w||_1`` (= scikit-learn's
    ``(1/2n)||y - Xw||^2 + a||w||_1``). The dual point is the residual scaled
    into the dual feasible set, exactly as scikit-learn's coordinate descent
    does, so ``tol`` means the same thing as scikit-learn's.
    """
    XW = xx @ W
    wxy = np.einsum("ij,ij->j", W, xy)
    r2 = np.maximum(yy_diag - 2.0 * wxy + np.einsum("ij,ij->j", W, XW), 0.0)
    dual_norm = np.abs(xy - XW).max(axis=0) if W.shape[0] else np.zeros(W.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        const = np.where(dual_norm > alpha, alpha / dual_norm, 1.0)
    gap = 0.5 * r2 * (1.0 + const * const) + alpha * np.abs(W).sum(axis=0)
    gap -= const * (yy_diag - wxy)
    return gap


def _polish(xx, xy, alpha, W) -> np.ndarray:
    """Solve the lasso KKT equations on each response's current support and signs.

    Once coordinate descent has found the right support and signs,
    ``xx_SS w_S = xy_S - a s`` is the exact optimum, which iterating would only
    approach linearly (slowly where the design is ill-conditioned). The caller
    keeps the result only where it lowers the duality gap, so a wrong support
    costs one solve and nothing else. Responses sharing a support (all of them,
    near the dense end of the path) share one factorisation.
    """
    out = np.zeros_like(W)
    support = W != 0.0
    groups: dict[bytes, list[int]] = {}
    for j in range(W.shape[1]):
        groups.setdefault(support[:, j].tobytes(), []).append(j)
    for members in groups.values():
        S = np.flatnonzero(support[:, members[0]])
        if S.size == 0:
            continue
        rhs = xy[np.ix_(S, members)] - alpha[members] * np.sign(W[np.ix_(S, members)])
        block = xx[np.ix_(S, S)]
        try:
            sol = np.linalg.solve(block, rhs)
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(block, rhs, rcond=None)[0]
        out[np.ix_(S, members)] = sol
    return out


def _cd_sweep(xx, diag, xy, alpha, W, features) -> float:
    """One cyclic coordinate-descent sweep over ``features``, all responses at once.

    Updates ``W`` in place and returns the largest coefficient change. Each
    coordinate step is the exact minimiser in that coordinate,
    ``w_j = soft(xy_j - xx_j. w + xx_jj w_j, a) / xx_jj``, for every response.
    """
    max_delta = 0.0
    for j in features:
        old = W[j].copy()
        z = xy[j] - xx[j] @ W + diag[j] * old
        new = np.maximum(np.abs(z) - alpha, 0.0) * (np.sign(z) / diag[j])
        W[j] = new
        max_delta = max(max_delta, float(np.abs(new - old).max()))
    return max_delta


def _lasso_gram(
    xx: np.ndarray,
    xy: np.ndarray,
    yy_diag: np.ndarray,
    alpha: np.ndarray,
    W0: np.ndarray,
    *,
    floor: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lasso of every response at once on the Gram matrix (cyclic coordinate descent).

    The algorithm of scikit-learn's ``Lasso`` (and glmnet), with each coordinate
    step vectorised across responses. Coordinate descent, unlike proximal
    gradient, does not slow down when one eigenvalue of ``xx`` dwarfs the others
    (as an uncentred design with large means makes it). Rounds alternate a full
    sweep (lets new features enter) with sweeps over the active features only,
    to a change tolerance that tightens every round. After a round, a response
    short of the tolerance whose support and signs did not change has its KKT
    equations on the support solved exactly (:func:`_polish`), kept if that
    lowers its duality gap. A response stops when its gap is at most
    ``tol * yy_jj`` (scikit-learn's criterion); finished responses drop out of
    the sweeps.

    Features whose variance ``xx_jj`` is at most ``floor`` (round-off of a
    constant feature, :func:`_roundoff_floor`) are held at zero. Returns the
    coefficients (p x q), sweeps used per response, and whether each response
    reached the tolerance.
    """
    q = xy.shape[1]
    diag = np.diag(xx).copy()
    # A feature constant on these cells has no variance and its coefficient must
    # stay zero; dividing by its round-off variance would blow it up.
    usable = diag > floor
    features = np.flatnonzero(usable)
    W = W0.copy()
    W[~usable] = 0.0
    n_iter = np.zeros(q, dtype=int)
    done = np.zeros(q, dtype=bool)
    target = tol * yy_diag
    change_tol = 1e-4
    prev_pattern = np.sign(W)
    while True:
        cols = np.flatnonzero(~done)
        if cols.size == 0:
            break
        budget = max_iter - int(n_iter[cols].max())
        if budget <= 0:
            break
        Wc, xyc, ac = W[:, cols], xy[:, cols], alpha[cols]
        _cd_sweep(xx, diag, xyc, ac, Wc, features)
        sweeps = 1
        while sweeps < budget:
            active = np.flatnonzero(np.any(Wc != 0.0, axis=1))
            delta = _cd_sweep(xx, diag, xyc, ac, Wc, active)
            sweeps += 1
            if delta <= change_tol * max(float(np.abs(Wc).max()), 1e-300):
                break
        change_tol *= 0.1
        n_iter[cols] += sweeps
        W[:, cols] = Wc

        gap = _lasso_gap(xx, xyc, yy_diag[cols], ac, Wc)
        pattern = np.sign(Wc)
        # Polish only responses still short of the tolerance whose support and
        # signs survived a round unchanged: then the solve is likely exact, and
        # solves (one per distinct support) cost more than sweeps.
        todo = (gap > target[cols]) & np.all(pattern == prev_pattern[:, cols], axis=0)
        prev_pattern[:, cols] = pattern
        if todo.any():
            sub = np.flatnonzero(todo)
            Wp = _polish(xx, xyc[:, sub], ac[sub], Wc[:, sub])
            gap_p = _lasso_gap(xx, xyc[:, sub], yy_diag[cols[sub]], ac[sub], Wp)
            better = np.isfinite(gap_p) & (gap_p < gap[sub])
            W[:, cols[sub[better]]] = Wp[:, better]
            gap[sub[better]] = gap_p[better]
        done[cols] = gap <= target[cols]
    return W, n_iter, done


def _lasso_path(
    stats: SufficientStats, alphas: np.ndarray, *, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lasso of every response along a path of penalties, warm-started.

    ``alphas`` is ``(n_alphas, q)``: one decreasing column of penalties per
    response (scikit-learn units). Returns coefficients ``(n_alphas, p, q)``,
    sweeps and convergence flags ``(n_alphas, q)``.
    """
    xx, xy = stats.xx, stats.xy
    yy_diag = np.diag(stats.yy).copy()
    p, q = xy.shape
    coefs = np.empty((alphas.shape[0], p, q))
    n_iter = np.empty((alphas.shape[0], q), dtype=int)
    conv = np.empty((alphas.shape[0], q), dtype=bool)
    floor = _roundoff_floor(stats)
    W = np.zeros((p, q))
    for k, a in enumerate(alphas):
        W, n_iter[k], conv[k] = _lasso_gram(
            xx, xy, yy_diag, a, W, floor=floor, max_iter=max_iter, tol=tol
        )
        coefs[k] = W
    return coefs, n_iter, conv


def _lasso_alpha_grid(stats: SufficientStats, n_alphas: int, eps: float) -> np.ndarray:
    """Per-response log grid from ``max_j |xy_j|`` (all-zero lasso) down to ``eps`` times it.

    The same grid as scikit-learn's ``LassoCV`` (computed once, on all training
    cells, and shared by the folds).
    """
    a_max = np.abs(stats.xy).max(axis=0) if stats.n_features else np.zeros(stats.n_targets)
    # A response uncorrelated with every feature has the zero solution for any
    # penalty; any positive grid will do.
    a_max = np.where(a_max > 0.0, a_max, 1.0)
    return np.geomspace(a_max, a_max * eps, num=n_alphas)  # (n_alphas, q)


def _check_alphas(alphas) -> np.ndarray:
    arr = np.asarray(alphas, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"alphas must be a non-empty sequence of positive numbers, got {alphas!r}")
    return arr


class _PerTargetMixin:
    """Report per-response quantities the way ``coef_`` is reported (scalar for 1-D y)."""

    def _per_target(self, values: np.ndarray):
        values = np.asarray(values)
        if self._y_was_1d:
            return values[..., 0].item() if values.ndim == 1 else values[..., 0].copy()
        return values.copy()


# --------------------------------------------------------------------------- estimators


class TargetOLS(StatsLinearRegressor):
    """Least squares per response on the target cells only.

    Minimum-norm solution ``C = (X^T X)^+ X^T Y`` (on centred data when an
    intercept is fitted), which is what :class:`sklearn.linear_model.LinearRegression`
    returns when ``X`` is rank-deficient.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Coefficients (1-D after a fit on a 1-D ``y``).
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept (zeros when ``fit_intercept=False``).
    rank_ : int
        Numerical rank of the (centred) design; a feature constant on the
        training cells does not count, even where centring sparse sums leaves
        it a round-off variance.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import TargetOLS
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> C = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> model = TargetOLS().fit(X, X @ C + 0.5)
    >>> np.allclose(model.coef_, C.T), np.allclose(model.intercept_, 0.5)
    (True, True)
    """

    def __init__(self, fit_intercept: bool = True):
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit least squares from the sufficient statistics of ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : TargetOLS
            The fitted estimator.
        """
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        factors = _pinv_factors(stats)
        self.rank_ = int(factors[0].size)
        coef = _ols_coef(stats, factors)
        self._set_coef(coef, stats.intercept(coef))
        return self


class TargetRidge(_PerTargetMixin, StatsLinearRegressor):
    """Ridge per response, each with its own penalty chosen by GCV.

    The paper's initial estimate for SMART (SMART_METHOD.md 4.4). Penalties are
    in scikit-learn units: response ``j`` minimises ``||y_j - X c_j||^2 + a_j
    ||c_j||^2``, so at the chosen ``a_j`` the fit equals
    ``sklearn.linear_model.Ridge(alpha=a_j)``. Generalised cross-validation is
    computed from one eigendecomposition of ``X^T X``.

    Parameters
    ----------
    alphas : sequence of float, default=tuple(numpy.logspace(-3, 2, 10))
        Candidate penalties (positive).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Coefficients at the chosen penalties.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    alpha_ : ndarray of shape (n_targets,) or float
        Chosen penalty per response.
    gcv_ : ndarray of shape (n_alphas, n_targets) or (n_alphas,)
        GCV criterion of every candidate (``inf`` where it leaves no residual
        degrees of freedom).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import TargetRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5))
    >>> Y = X @ rng.normal(size=(5, 2)) + rng.normal(size=(40, 2))
    >>> model = TargetRidge(alphas=(0.1, 1.0, 10.0)).fit(X, Y)
    >>> model.coef_.shape, model.alpha_.shape
    ((2, 5), (2,))
    """

    def __init__(self, alphas=_DEFAULT_ALPHAS, fit_intercept: bool = True):
        self.alphas = alphas
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit ridge per response with the penalty chosen by GCV.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : TargetRidge
            The fitted estimator.
        """
        alphas = _check_alphas(self.alphas)
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        path = ridge_gcv(stats, alphas)
        coef = path.coef
        self._set_coef(coef, stats.intercept(coef))
        self.alpha_ = self._per_target(path.alpha)
        self.gcv_ = self._per_target(path.gcv)
        logger.debug("TargetRidge: GCV penalties %s", path.alpha)
        return self


class TargetLasso(_PerTargetMixin, StatsLinearRegressor):
    """Lasso per response, each with its own penalty chosen by K-fold cross-validation.

    Response ``j`` minimises scikit-learn's lasso objective
    ``(1/2n) ||y_j - X w||^2 + a_j ||w||_1``; at a fixed ``a_j`` the fit equals
    ``sklearn.linear_model.Lasso(alpha=a_j)``. The grid is ``n_alphas`` values
    log-spaced from ``a_max = max_i |x_i^T y_j| / n`` (centred; the smallest
    penalty with an all-zero fit) down to ``eps * a_max``, as in
    :class:`sklearn.linear_model.LassoCV`.

    Cross-validation needs one pass over the cells: the statistics of each fold
    are collected together, the training statistics of a split are the total
    minus the held-out fold, and the held-out error of every penalty is computed
    from the fold's sums. All responses are solved together on the Gram matrix
    (cyclic coordinate descent, as scikit-learn's, vectorised across responses,
    with an exact solve on the detected support), warm-started along the path.
    The penalty minimising the pooled held-out mean squared error is chosen per
    response (equal to ``LassoCV``'s mean over folds when the folds have equal
    sizes).

    Parameters
    ----------
    n_alphas : int, default=20
        Number of penalties on the path.
    eps : float, default=1e-3
        Ratio of the smallest to the largest penalty, in (0, 1).
    cv : int, default=5
        Number of folds (shuffled :class:`~sklearn.model_selection.KFold`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells of each fit and fit an intercept.
    max_iter : int, default=1000
        Maximum coordinate-descent sweeps per penalty.
    tol : float, default=1e-6
        Stop a response when its duality gap is at most ``tol`` times its
        (centred) mean square, scikit-learn's criterion.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Coefficients at the chosen penalties, refitted on all cells.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    alpha_ : ndarray of shape (n_targets,) or float
        Chosen penalty per response.
    alphas_ : ndarray of shape (n_alphas, n_targets) or (n_alphas,)
        The grid of each response.
    cv_mse_ : ndarray of shape (n_alphas, n_targets) or (n_alphas,)
        Held-out mean squared error of every penalty, pooled over folds.
    n_iter_ : ndarray of shape (n_targets,) or int
        Coordinate-descent sweeps of the final fit at the chosen penalty.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import TargetLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 10))
    >>> y = 3.0 * X[:, 0] - 2.0 * X[:, 1] + 0.1 * rng.normal(size=100)
    >>> model = TargetLasso(random_state=0).fit(X, y)
    >>> np.flatnonzero(np.abs(model.coef_) > 0.1).tolist()
    [0, 1]
    """

    def __init__(
        self,
        n_alphas: int = 20,
        eps: float = 1e-3,
        cv: int = 5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-6,
        random_state=None,
    ):
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self, n_samples: int) -> None:
        check_positive_int("n_alphas", self.n_alphas, allow_none=False)
        check_positive_int("max_iter", self.max_iter, allow_none=False)
        check_positive_int("cv", self.cv, allow_none=False, minimum=2)
        check_nonnegative("tol", self.tol, allow_none=False)
        if not isinstance(self.eps, numbers.Real) or not 0.0 < self.eps < 1.0:
            raise ValueError(f"eps must be a number in (0, 1), got {self.eps!r}")
        if self.cv > n_samples:
            raise ValueError(
                f"cv={self.cv} folds need at least {self.cv} samples, got n_samples = {n_samples}"
            )

    def fit(self, X, y):
        """Choose each response's penalty by K-fold CV and refit on all cells.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : TargetLasso
            The fitted estimator.
        """
        X, y = self._validate_xy(X, y)
        self._check_params(X.shape[0])
        center = bool(self.fit_intercept)
        folds = kfold_labels(X.shape[0], self.cv, self.random_state)
        # The only pass over the cells: per-fold sums, from which every training
        # set (total minus one fold) and held-out error follow.
        sums = fold_sums(X, y, folds, self.cv, center=center)
        full = total(sums)
        stats = full.to_stats(center)
        grid = _lasso_alpha_grid(stats, self.n_alphas, self.eps)

        cv_sse = np.zeros_like(grid)
        n_failed = 0
        for held_out in sums:
            train = (full - held_out).to_stats(center)
            coefs, _, conv = _lasso_path(train, grid, max_iter=self.max_iter, tol=self.tol)
            n_failed += int((~conv).sum())
            for k in range(grid.shape[0]):
                cv_sse[k] += validation_sse_per_target(held_out, train, coefs[k])
        cv_mse = cv_sse / stats.n
        # argmin takes the first minimum: ties go to the larger penalty.
        best = np.argmin(cv_mse, axis=0)

        # Refit on all cells, only as far down the path as some response needs.
        coefs, n_iter, conv = _lasso_path(
            stats, grid[: best.max() + 1], max_iter=self.max_iter, tol=self.tol
        )
        n_failed += int((~conv).sum())
        cols = np.arange(stats.n_targets)
        if n_failed:
            warnings.warn(
                f"TargetLasso: {n_failed} lasso fit(s) (response x penalty x split) "
                f"stopped at max_iter={self.max_iter} with a duality gap above tol="
                f"{self.tol}; increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        coef = coefs[best, :, cols].T
        self._set_coef(coef, stats.intercept(coef))
        self.alpha_ = self._per_target(grid[best, cols])
        self.alphas_ = self._per_target(grid)
        self.cv_mse_ = self._per_target(cv_mse)
        self.n_iter_ = self._per_target(n_iter[best, cols])
        logger.debug("TargetLasso: CV penalties %s", grid[best, cols])
        return self


class ReducedRankRegression(StatsLinearRegressor):
    """Classical reduced-rank regression, rank by RSC when not given.

    ``C = B V_r V_r^T`` with ``B`` the minimum-norm least-squares coefficients
    and ``V_r`` the top ``r`` eigenvectors of ``B^T X^T X B`` (the fitted values'
    Gram matrix): the rank-``r`` matrix with the smallest training residual sum
    of squares. This is SMART with no spectral penalty (``r_u = p, r_v = q``).
    The rank, when not given, is chosen by the Rank Selection Criterion (Bunea,
    She and Wegkamp 2011), capped by ``min(n_features, n_targets)`` and the rank
    of the design.

    Parameters
    ----------
    rank : int or None, default=None
        Rank of the coefficient matrix; ``None`` chooses it by RSC.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Coefficients of rank ``rank_``.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    rank_ : int
        Rank used (0 only when the design is constant).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import ReducedRankRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 8))
    >>> C = rng.normal(size=(8, 1)) @ rng.normal(size=(1, 6))
    >>> model = ReducedRankRegression().fit(X, X @ C + 0.1 * rng.normal(size=(200, 6)))
    >>> model.rank_, int(np.linalg.matrix_rank(model.coef_))
    (1, 1)
    """

    def __init__(self, rank: int | None = None, fit_intercept: bool = True):
        self.rank = rank
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit reduced-rank regression from the sufficient statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : ReducedRankRegression
            The fitted estimator.

        Raises
        ------
        ValueError
            If ``rank`` exceeds ``min(n_features, n_targets)`` or the rank of the
            design.
        """
        check_positive_int("rank", self.rank)
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        p, q = stats.n_features, stats.n_targets
        factors = _pinv_factors(stats)
        rank_x = int(factors[0].size)
        if self.rank is not None:
            if self.rank > min(p, q):
                raise ValueError(
                    f"rank={self.rank} exceeds min(n_features, n_targets) = min({p}, {q}) "
                    f"= {min(p, q)}"
                )
            if self.rank > rank_x:
                raise ValueError(
                    f"rank={self.rank} exceeds the rank of the design, {rank_x} "
                    f"({'centred ' if stats.centered else ''}X has {p} features but only "
                    f"{rank_x} independent directions)"
                )
            rank = int(self.rank)
        elif rank_x == 0:
            rank = 0
        else:
            rank = select_rank_rsc(stats, max_rank=min(p, q, rank_x)).rank
        B = _ols_coef(stats, factors)
        # Gram matrix of the least-squares fitted values (per cell); its top
        # eigenvectors span the best rank-r response subspace (Eckart-Young on XB).
        fitted = B.T @ stats.xx @ B
        _, evecs = np.linalg.eigh(0.5 * (fitted + fitted.T))
        Vr = evecs[:, q - rank :] if rank else np.zeros((q, 0))
        self.rank_ = rank
        coef = B @ Vr @ Vr.T
        self._set_coef(coef, stats.intercept(coef))
        logger.debug("ReducedRankRegression: rank %d", rank)
        return self


class OffsetTransfer(_PerTargetMixin, StatsLinearRegressor):
    """Bounded-difference transfer: ``C = C0 + Delta`` with ``Delta`` ridge-penalised.

    The natural competitor that assumes the target is close to the source
    (``||C* - C0||`` small), the assumption SMART drops. It is ridge regression
    of the residual responses ``Y - X C0``, whose statistics follow from the
    target's (``xy - xx C0`` and ``yy - C0^T xy - xy^T C0 + C0^T xx C0``), with a
    penalty per response chosen by GCV. It uses exactly the information SMART
    uses: the target cells and the source coefficients.

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features)
        Source coefficients in scikit-learn orientation (a fitted model's
        ``coef_`` can be passed as is); 1-D for a single response.
    alphas : sequence of float, default=tuple(numpy.logspace(-3, 2, 10))
        Candidate penalties on ``||Delta||^2`` (scikit-learn units).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        ``C0 + Delta``.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    alpha_ : ndarray of shape (n_targets,) or float
        Chosen penalty per response.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import OffsetTransfer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4))
    >>> C0 = rng.normal(size=(2, 4))
    >>> Y = X @ (C0.T + 0.1) + 0.1 * rng.normal(size=(30, 2))
    >>> model = OffsetTransfer(C0).fit(X, Y)
    >>> model.coef_.shape, bool(np.abs(model.coef_ - C0).max() < 0.5)
    ((2, 4), True)
    """

    def __init__(self, source_coef, alphas=_DEFAULT_ALPHAS, fit_intercept: bool = True):
        self.source_coef = source_coef
        self.alphas = alphas
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Fit the ridge-penalised offset from the source coefficients.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : OffsetTransfer
            The fitted estimator.
        """
        alphas = _check_alphas(self.alphas)
        X, y = self._validate_xy(X, y)
        C0 = check_source_coef(self.source_coef, X.shape[1], y.shape[1])
        stats = self._stats(X, y)
        xxC0 = stats.xx @ C0
        cross = C0.T @ stats.xy
        resid = SufficientStats(
            n=stats.n,
            xx=stats.xx,
            xy=stats.xy - xxC0,
            yy=stats.yy - cross - cross.T + C0.T @ xxC0,
            x_mean=stats.x_mean,
            y_mean=stats.y_mean - stats.x_mean @ C0,
            centered=stats.centered,
        )
        path = ridge_gcv(resid, alphas)
        # The intercept of C0 + Delta on the original responses is the usual
        # y_mean - x_mean (C0 + Delta), so the original statistics set it.
        coef = C0 + path.coef
        self._set_coef(coef, stats.intercept(coef))
        self.alpha_ = self._per_target(path.alpha)
        logger.debug("OffsetTransfer: GCV penalties %s", path.alpha)
        return self


class SourceOnly(StatsLinearRegressor):
    """Predict the target with the source coefficients as they are.

    Nothing is learned from the target but, optionally, the intercept: the
    source's own (``source_intercept``), or the one that centres the predictions
    on the target's means (``y_mean - x_mean C0``), or none.

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features)
        Source coefficients in scikit-learn orientation; 1-D for a single response.
    source_intercept : float or array-like of shape (n_targets,), default=None
        Intercept to use as is. ``None`` fits it on the target cells when
        ``fit_intercept`` (and uses 0 otherwise).
    fit_intercept : bool, default=True
        Without ``source_intercept``: fit the intercept on the target means.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Copy of ``source_coef``.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SourceOnly
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    >>> model = SourceOnly([1.0, -1.0], source_intercept=0.5).fit(X, np.zeros(3))
    >>> model.predict(X)
    array([-0.5,  1.5,  0.5])
    """

    def __init__(self, source_coef, source_intercept=None, fit_intercept: bool = True):
        self.source_coef = source_coef
        self.source_intercept = source_intercept
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Store the source coefficients and set the intercept.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Target design (its means set the intercept; its width is checked).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target responses.

        Returns
        -------
        self : SourceOnly
            The fitted estimator.
        """
        X, y = self._validate_xy(X, y)
        q = y.shape[1]
        C0 = check_source_coef(self.source_coef, X.shape[1], q)
        if self.source_intercept is not None:
            b = np.asarray(self.source_intercept, dtype=np.float64)
            if b.ndim > 1 or (b.ndim == 1 and b.shape != (q,)):
                raise ValueError(
                    f"source_intercept has shape {b.shape} but the data have {q} "
                    f"target(s); expected a scalar or shape ({q},)"
                )
            if not np.all(np.isfinite(b)):
                raise ValueError("source_intercept contains NaN or infinite values")
            intercept = np.broadcast_to(b, (q,)).copy()
        elif self.fit_intercept:
            # Only the means are needed: no Gram matrix for a model with nothing to fit.
            x_mean = np.asarray(X.mean(axis=0)).ravel()
            intercept = y.mean(axis=0) - x_mean @ C0
        else:
            intercept = np.zeros(q)
        self._set_coef(C0, intercept)
        return self

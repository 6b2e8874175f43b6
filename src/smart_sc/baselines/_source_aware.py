"""Comparators that use the source model, fitted from sufficient statistics.

The ways of using a source model that a reviewer would ask SMART to beat,
from using it as is to using only its gene subspace:

- :class:`SourceOnly` predicts the target with the source coefficients as they
  are (optionally with an intercept refitted on the target).
- :class:`OffsetTransfer` is the bounded-difference transfer ``C = C0 +
  Delta`` with ``Delta`` ridge-penalised: ridge that shrinks toward the source,
  the classic parameter-transfer baseline (the SMART paper's Sections 5 and 6).
- :class:`SourceSubspaceRRR` keeps only the source's leading gene subspace
  (the span of the top ``d`` left singular vectors ``U0_d`` of ``C0``) and fits
  least squares, or reduced-rank regression, of the target on ``X U0_d``: the
  "subspace is all that transfers" extreme, with ``d`` by cross-validation.
- :class:`SourceMixture` shrinks a target-only ridge fit towards the source,
  ``C = (1 - w) C_target + w C0``, with ``w`` by cross-validation: the "values
  transfer, a little or a lot" extreme.

All see the cells once; the cross-validated ones collect per-fold sufficient
statistics (:func:`smart_sc._core.sums.stats.fold_sums`), every training set of the
cross-validation is the total minus one fold, and held-out errors come from the
fold's sums.

Orientation: inside this module coefficient matrices are ``p x q`` (features x
responses); the public ``coef_`` is ``q x p`` as in scikit-learn.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

from .._core.arrays import check_finite, linear_predict
from .._core.randomness import RANDOM_STATE_CONSTRAINT
from .._core.selection.ridge import ridge_gcv
from .._core.sums.passes import compute_sums
from .._core.sums.stats import SufficientStats
from ._base import DEFAULT_ALPHAS, PerTargetMixin, StatsLinearRegressor, check_source_coef
from ._cv import FoldSums, cv_sse
from ._linalg import ols_coef, reduce_rank, residual_stats
from ._params import FOLDS, POSITIVE, POSITIVE_INT, Interval, StrOptions, check_entries

__all__ = ["OffsetTransfer", "SourceMixture", "SourceOnly", "SourceSubspaceRRR"]

logger = logging.getLogger("smart_sc")

#: Default subspace dimensions of :class:`SourceSubspaceRRR` (capped at the
#: source's rank, which is always added).
DEFAULT_DIMS: tuple[int, ...] = (1, 3, 5, 7, 10, 15, 20)

#: Ridge added, relative to the top eigenvalue, when the projected design is singular.
_RIDGE_FALLBACK = 1e-6

_TARGET_FITS = ("ridge", "ols")

#: A weight of the source, in [0, 1].
_WEIGHT = Interval(numbers.Real, 0, 1, closed="both")


# --------------------------------------------------------------------------- helpers


def _source_basis(C0: np.ndarray) -> np.ndarray:
    """Left singular vectors of ``C0`` (p x q) with nonzero singular values, leading first."""
    U, s, _ = np.linalg.svd(C0, full_matrices=False)
    tol = (s[0] if s.size else 0.0) * max(C0.shape) * np.finfo(np.float64).eps
    rank = int(np.sum(s > tol))
    if rank == 0:
        raise ValueError(
            "source_coef is zero (or numerically zero): it has no singular subspace to "
            "restrict the regression to"
        )
    return U[:, :rank]


def _leading(stats: SufficientStats, d: int) -> SufficientStats:
    """Statistics of the first ``d`` features only."""
    return SufficientStats(
        n=stats.n,
        xx=stats.xx[:d, :d],
        xy=stats.xy[:d],
        yy=stats.yy,
        x_mean=stats.x_mean[:d],
        y_mean=stats.y_mean,
        centered=stats.centered,
    )


def _small_least_squares(stats: SufficientStats) -> np.ndarray:
    """Least squares ``xx^-1 xy`` on a few features; a small ridge when ``xx`` is singular.

    Singular means an eigenvalue at or below ``d eps`` times the top one; then
    ``_RIDGE_FALLBACK`` times the top eigenvalue is added to the diagonal.
    """
    evals, evecs = np.linalg.eigh(stats.xx)
    evals = np.maximum(evals, 0.0)
    top = float(evals[-1])
    if top == 0.0:
        return np.zeros_like(stats.xy)
    singular = evals[0] <= top * evals.size * np.finfo(np.float64).eps
    shift = _RIDGE_FALLBACK * top if singular else 0.0
    return evecs @ ((evecs.T @ stats.xy) / (evals + shift)[:, None])


def _reduce_rank(stats: SufficientStats, B: np.ndarray, rank: int | None) -> np.ndarray:
    """Best rank-``rank`` fit ``B V_r V_r^T`` (``V_r``: top eigenvectors of the fitted Gram)."""
    if rank is None or rank >= min(B.shape):
        return B
    return reduce_rank(stats.xx, B, rank)


def _padded(B: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros((rows, B.shape[1]))
    out[: B.shape[0]] = B
    return out


def _target_coef(stats: SufficientStats, target: str) -> np.ndarray:
    if target == "ridge":
        return ridge_gcv(stats, DEFAULT_ALPHAS).coef
    return ols_coef(stats)


class _GivenSource:
    """The source coefficients of an estimator given them, checked against the data.

    One hook for the four estimators of this module, so that the checks of
    ``source_coef`` (shape, finiteness) are the same for all and a test can
    substitute a source of whatever shape scikit-learn's estimator checks use.
    """

    def _source_pq(self, n_features: int, n_targets: int) -> np.ndarray:
        """Return ``C0`` (p x q) from ``source_coef`` (q x p), checked against the data."""
        return check_source_coef(self.source_coef, n_features, n_targets,
                                 getattr(self, "feature_names_in_", None))


# --------------------------------------------------------------------------- estimators


class SourceSubspaceRRR(_GivenSource, StatsLinearRegressor):
    """Regression restricted to the source's leading gene subspace, its dimension by CV.

    With ``U0_d`` the top ``d`` left singular vectors of the source
    coefficients (genes side), the target is regressed on the ``d`` derived
    features ``X U0_d``: least squares (a small ridge when they are
    collinear), optionally reduced to rank ``rank``, giving ``B`` (``d x q``)
    and ``C = U0_d B``. ``d`` is chosen by K-fold cross-validation on the
    held-out mean squared error. Only the source's gene subspace is used; its
    singular values, protein side and values are not.

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features)
        Source coefficients in scikit-learn orientation; 1-D for a single response.
    dims : sequence of int or None, default=None
        Candidate dimensions ``d``. ``None``: ``(1, 3, 5, 7, 10, 15, 20)`` up to
        the rank of the source, plus that rank.
    rank : int or None, default=None
        Rank of ``B`` (capped at ``min(d, n_targets)``); ``None`` keeps the
        full-rank least-squares fit.
    cv : int, default=5
        Number of folds (shuffled :class:`~sklearn.model_selection.KFold`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the shuffling of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        ``U0_d B`` at the chosen ``d``, refitted on all cells.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    dim_ : int
        Chosen dimension ``d``.
    dims_ : tuple of int
        Dimensions compared.
    cv_results_ : dict
        ``"dims"`` and ``"mse"`` (held-out mean squared error per cell and
        response, pooled over folds) of each candidate.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SourceSubspaceRRR
    >>> rng = np.random.default_rng(0)
    >>> U0 = np.linalg.qr(rng.normal(size=(30, 4)))[0]
    >>> C0 = U0 @ rng.normal(size=(4, 6))          # genes x proteins, rank 4
    >>> C_true = U0[:, :2] @ rng.normal(size=(2, 6))  # the target uses 2 of its directions
    >>> X = rng.normal(size=(200, 30))
    >>> Y = X @ C_true + 0.1 * rng.normal(size=(200, 6))
    >>> model = SourceSubspaceRRR(C0.T, random_state=0).fit(X, Y)
    >>> model.dims_, model.coef_.shape, bool(np.abs(model.coef_.T - C_true).max() < 0.05)
    ((1, 3, 4), (6, 30), True)
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "source_coef": ["array-like"],
        "dims": ["array-like", None],  # each entry POSITIVE_INT
        "rank": [POSITIVE_INT, None],
        "cv": [FOLDS],
        "fit_intercept": ["boolean"],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(self, source_coef, *, dims=None, rank: int | None = None, cv: int = 5,
                 fit_intercept: bool = True, random_state=None):
        self.source_coef = source_coef
        self.dims = dims
        self.rank = rank
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    def _dims(self, source_rank: int) -> tuple[int, ...]:
        if self.dims is None:
            grid = {d for d in DEFAULT_DIMS if d < source_rank} | {source_rank}
            return tuple(sorted(grid))
        dims = sorted({int(d) for d in check_entries(self, "dims", POSITIVE_INT)})
        if dims[-1] > source_rank:
            raise ValueError(
                f"dims entry {dims[-1]} exceeds the rank of source_coef, {source_rank} "
                "(the source has no more singular directions)"
            )
        return tuple(dims)

    def _fit_dim(self, stats: SufficientStats, d: int) -> np.ndarray:
        small = _leading(stats, d)
        B = _reduce_rank(small, _small_least_squares(small), self.rank)
        return _padded(B, stats.n_features)

    def fit(self, X, y):
        """Choose ``d`` by K-fold CV and refit on all cells.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : SourceSubspaceRRR
            The fitted estimator.
        """
        self._validate_params()
        X, y = self._validate_xy(X, y)
        U0 = _source_basis(self._source_pq(X.shape[1], y.shape[1]))
        dims = self._dims(U0.shape[1])
        # The derived features of every candidate d are leading columns of X U0:
        # block by block for dask (sparse chunks too), NaN counted by the pass.
        Z = linear_predict(X, U0, 0.0)
        folds = FoldSums(Z, y, self.cv, self.random_state, bool(self.fit_intercept))
        mse = cv_sse(folds, lambda train: [self._fit_dim(train, d) for d in dims])
        mse = mse.sum(axis=1) / (folds.full.n * y.shape[1])
        best = int(np.argmin(mse))  # first minimum: ties go to the smaller d
        stats = folds.stats()
        B = self._fit_dim(stats, dims[best])
        self._set_coef(U0 @ B, stats.intercept(B))
        self.dim_ = dims[best]
        self.dims_ = dims
        self.cv_results_ = {"dims": np.asarray(dims), "mse": mse}
        logger.debug("SourceSubspaceRRR: d = %d of %s", self.dim_, dims)
        return self


class SourceMixture(_GivenSource, StatsLinearRegressor):
    """Convex mixture of a target-only fit and the source, the weight by CV.

    ``C = (1 - w) C_target + w C0`` with ``C_target`` a target-only ridge
    (penalty per response by GCV, as :class:`TargetRidge`) or least squares
    fitted on the target cells, and ``w`` chosen by K-fold cross-validation,
    the target fit refitted on each fold's training cells. ``w = 0`` is the
    target-only fit, ``w = 1`` the source with an intercept refitted on the
    target (:class:`SourceOnly`).

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features)
        Source coefficients in scikit-learn orientation; 1-D for a single response.
    target : {"ridge", "ols"}, default="ridge"
        Target-only fit: ridge with GCV penalties, or minimum-norm least squares.
    weights : sequence of float or None, default=None
        Candidate weights of the source, in [0, 1]; ``None``:
        ``numpy.linspace(0, 1, 11)``.
    cv : int, default=5
        Number of folds (shuffled :class:`~sklearn.model_selection.KFold`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells and fit an intercept.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the shuffling of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        The mixture at the chosen weight, target fit refitted on all cells.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    weight_ : float
        Chosen weight ``w`` of the source.
    cv_results_ : dict
        ``"weights"`` and ``"mse"`` (held-out mean squared error per cell and
        response, pooled over folds) of each candidate.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SourceMixture
    >>> rng = np.random.default_rng(0)
    >>> C0 = rng.normal(size=(3, 20))                # the source, sklearn orientation
    >>> X = rng.normal(size=(40, 20))
    >>> Y = X @ C0.T + 0.5 * rng.normal(size=(40, 3))  # the target follows the source
    >>> model = SourceMixture(C0, random_state=0).fit(X, Y)
    >>> bool(model.weight_ >= 0.8)
    True
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "source_coef": ["array-like"],
        "target": [StrOptions(set(_TARGET_FITS))],
        "weights": ["array-like", None],  # each entry in [0, 1]
        "cv": [FOLDS],
        "fit_intercept": ["boolean"],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(self, source_coef, *, target: str = "ridge", weights=None, cv: int = 5,
                 fit_intercept: bool = True, random_state=None):
        self.source_coef = source_coef
        self.target = target
        self.weights = weights
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    def _weights(self) -> np.ndarray:
        if self.weights is None:
            return np.linspace(0.0, 1.0, 11)
        return np.unique(check_entries(self, "weights", _WEIGHT))

    def fit(self, X, y):
        """Choose the weight by K-fold CV and refit the target part on all cells.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : SourceMixture
            The fitted estimator.
        """
        self._validate_params()
        weights = self._weights()
        X, y = self._validate_xy(X, y)
        C0 = self._source_pq(X.shape[1], y.shape[1])
        folds = FoldSums(X, y, self.cv, self.random_state, bool(self.fit_intercept))

        def mixtures(train: SufficientStats) -> list[np.ndarray]:
            C_t = _target_coef(train, self.target)
            return [(1.0 - w) * C_t + w * C0 for w in weights]

        mse = cv_sse(folds, mixtures).sum(axis=1) / (folds.full.n * y.shape[1])
        best = int(np.argmin(mse))  # first minimum: ties go to the smaller weight
        stats = folds.stats()
        w = float(weights[best])
        coef = (1.0 - w) * _target_coef(stats, self.target) + w * C0
        self._set_coef(coef, stats.intercept(coef))
        self.weight_ = w
        self.cv_results_ = {"weights": weights, "mse": mse}
        logger.debug("SourceMixture: weight %.2f", w)
        return self


class OffsetTransfer(_GivenSource, PerTargetMixin, StatsLinearRegressor):
    """Bounded-difference transfer: ``C = C0 + Delta`` with ``Delta`` ridge-penalised.

    The natural competitor that assumes the target is close to the source
    (``||C* - C0||`` small), the assumption SMART drops. It is ridge regression
    of the residual responses ``Y - X C0``, whose statistics follow from the
    target's (``xy - xx C0`` and ``yy - C0^T xy - xy^T C0 + C0^T xx C0``), with a
    penalty per response chosen by GCV. It uses exactly the information SMART
    uses: the target cells and the source coefficients. Equivalently it is
    ridge that shrinks toward the source, ``||Y - XC||^2 + a ||C - C0||^2``:
    the classic parameter-transfer baseline (``"ridge_to_source"`` in
    :func:`smart_sc.tl.benchmark`).

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

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "source_coef": ["array-like"],
        "alphas": ["array-like"],  # each entry POSITIVE
        "fit_intercept": ["boolean"],
    }

    def __init__(self, source_coef, alphas=DEFAULT_ALPHAS, fit_intercept: bool = True):
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
        self._validate_params()
        alphas = check_entries(self, "alphas", POSITIVE)
        X, y = self._validate_xy(X, y)
        C0 = self._source_pq(X.shape[1], y.shape[1])
        stats = self._stats(X, y)
        path = ridge_gcv(residual_stats(stats, C0), alphas)
        # The intercept of C0 + Delta on the original responses is the usual
        # y_mean - x_mean (C0 + Delta), so the original statistics set it.
        coef = C0 + path.coef
        self._set_coef(coef, stats.intercept(coef))
        self.alpha_ = self._per_target(path.alpha)
        logger.debug("OffsetTransfer: GCV penalties %s", path.alpha)
        return self


class SourceOnly(_GivenSource, StatsLinearRegressor):
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

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "source_coef": ["array-like"],
        "source_intercept": ["array-like", numbers.Real, None],
        "fit_intercept": ["boolean"],
    }

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
        self._validate_params()
        X, y = self._validate_xy(X, y)
        q = y.shape[1]
        C0 = self._source_pq(X.shape[1], q)
        if self.source_intercept is not None:
            b = np.asarray(self.source_intercept, dtype=np.float64)
            if b.ndim > 1 or (b.ndim == 1 and b.shape != (q,)):
                raise ValueError(
                    f"source_intercept has shape {b.shape} but the data have {q} "
                    f"target(s); expected a scalar or shape ({q},)"
                )
            check_finite(b, "source_intercept")
            intercept = np.broadcast_to(b, (q,)).copy()
        elif self.fit_intercept:
            # Only the mean residual of the source is needed, from one pass over the
            # q columns of X C0 (no Gram matrix; dask blocks and NaN as in every fit).
            means = compute_sums(linear_predict(X, C0, 0.0), y).to_stats(center=True)
            intercept = means.y_mean - means.x_mean  # the mean of y - X C0
        else:
            intercept = np.zeros(q)
        self._set_coef(C0, intercept)
        return self

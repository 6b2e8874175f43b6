"""Least squares per response, ridge per response and reduced-rank regression, target cells only.

These are the least-squares competitors the SMART paper reports (its Sections
5 and 6). Each is a scikit-learn regressor that sees the cells once, to form
``X^T X``, ``X^T Y`` and ``Y^T Y``, and computes its coefficients from those
statistics only; so they run on dense or sparse inputs alike and their cost
after that pass does not depend on the number of cells.

Orientation: inside this module coefficient matrices are ``p x q`` (features x
responses, the paper's ``C``); the public ``coef_`` is ``q x p`` as in
scikit-learn, or ``(p,)`` after a fit on a 1-D ``y``.
"""

from __future__ import annotations

import logging

from .._core.selection.ridge import ridge_gcv
from ._base import DEFAULT_ALPHAS, PerTargetMixin, StatsLinearRegressor
from ._linalg import cap_rank, default_rank, ols_coef, pinv_factors, reduce_rank
from ._params import POSITIVE, POSITIVE_INT, check_entries

__all__ = ["ReducedRankRegression", "TargetOLS", "TargetRidge"]

logger = logging.getLogger("smart_sc")


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

    _parameter_constraints: dict = {"fit_intercept": ["boolean"]}  # noqa: RUF012

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
        self._validate_params()
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        factors = pinv_factors(stats)
        self.rank_ = int(factors[0].size)
        coef = ols_coef(stats, factors)
        self._set_coef(coef, stats.intercept(coef))
        return self


class TargetRidge(PerTargetMixin, StatsLinearRegressor):
    """Ridge per response, each with its own penalty chosen by GCV.

    The paper's initial estimate for SMART (its data-driven tuning). Penalties are
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

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "alphas": ["array-like"],  # each entry POSITIVE
        "fit_intercept": ["boolean"],
    }

    def __init__(self, alphas=DEFAULT_ALPHAS, fit_intercept: bool = True):
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
        self._validate_params()
        alphas = check_entries(self, "alphas", POSITIVE)
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        path = ridge_gcv(stats, alphas)
        coef = path.coef
        self._set_coef(coef, stats.intercept(coef))
        self.alpha_ = self._per_target(path.alpha)
        self.gcv_ = self._per_target(path.gcv)
        logger.debug("TargetRidge: GCV penalties %s", path.alpha)
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

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "rank": [POSITIVE_INT, None],
        "fit_intercept": ["boolean"],
    }

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
        self._validate_params()
        X, y = self._validate_xy(X, y)
        stats = self._stats(X, y)
        factors = pinv_factors(stats)
        rank_x = int(factors[0].size)
        if self.rank is not None:
            cap_rank(self.rank, stats, rank_x)
            rank = int(self.rank)
        else:
            rank = default_rank(stats, rank_x)
        # The least-squares fit projected on the top eigenvectors of its fitted
        # values' Gram matrix: the best rank-r fit (Eckart-Young on XB).
        coef = reduce_rank(stats.xx, ols_coef(stats, factors), rank)
        self.rank_ = rank
        self._set_coef(coef, stats.intercept(coef))
        logger.debug("ReducedRankRegression: rank %d", rank)
        return self

"""What every smart_sc regressor shares: validation, statistics, predict, reporting.

Each estimator (SMART and the baselines) turns validated ``X, y`` into
sufficient statistics, computes a ``p x q`` coefficient matrix from them, and
stores it in scikit-learn orientation. Only the middle step differs; the rest
is here: :class:`StatsLinearRegressor` (the base class), :func:`check_source_coef`
(the source coefficients a transfer method is given), :class:`PerTargetMixin`
(per-response attributes reported the way ``coef_`` is), :func:`warn_not_converged`
(one :class:`~sklearn.exceptions.ConvergenceWarning` per fit) and
:data:`DEFAULT_ALPHAS` (the ridge grid).

Orientation: inside the baselines coefficient matrices are ``p x q`` (features
x responses, the paper's ``C``); the public ``coef_`` is ``q x p`` as in
scikit-learn, or ``(p,)`` after a fit on a 1-D ``y``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .._core.arrays import (
    as_row_chunked,
    check_finite,
    is_dask_array,
    linear_predict,
    predict_blocks,
)
from .._core.selection.ridge import DEFAULT_RIDGE_ALPHAS
from .._core.sums.passes import compute_sums
from .._core.sums.stats import SufficientStats

__all__ = [
    "DEFAULT_ALPHAS",
    "PerTargetMixin",
    "StatsLinearRegressor",
    "check_source_coef",
    "warn_not_converged",
]

# scikit-learn's estimator checks accept only immutable scalars, tuples and
# callables as defaults (an ndarray default could be mutated between instances),
# so the paper's ridge grid is passed as a tuple of the same values.
#: Default candidate ridge penalties (scikit-learn units): ``logspace(-3, 2, 10)``.
DEFAULT_ALPHAS: tuple[float, ...] = DEFAULT_RIDGE_ALPHAS


def check_source_coef(source_coef, n_features: int, n_targets: int,
                      feature_names=None) -> np.ndarray:
    """Validate source coefficients (``(n_targets, n_features)``) and return ``C0`` (p x q).

    A 1-D ``source_coef`` is taken as one response, as scikit-learn stores the
    ``coef_`` of a single-output fit. A DataFrame whose columns name the genes
    is put in the order of ``feature_names`` (the training design's columns,
    when it had names); genes missing on either side are an error.
    """
    if feature_names is not None and isinstance(source_coef, pd.DataFrame):
        source_coef = _genes_in_design_order(source_coef, feature_names)
    C0 = np.asarray(source_coef, dtype=np.float64)
    if C0.ndim == 1:
        C0 = C0[None, :]
    if C0.ndim != 2:
        raise ValueError(
            f"source_coef must be 2-D (n_targets, n_features), got {C0.ndim}-D"
        )
    if C0.shape != (n_targets, n_features):
        raise ValueError(
            f"source_coef has shape {C0.shape} but the data have {n_targets} target(s) "
            f"and {n_features} feature(s); expected ({n_targets}, {n_features}) "
            "(scikit-learn orientation: one row per response)"
        )
    check_finite(C0, "source_coef")
    return C0.T.copy()


def _genes_in_design_order(source_coef: pd.DataFrame, feature_names) -> pd.DataFrame:
    """Put the source's columns in the design's order by name; name the genes that differ."""
    genes = pd.Index(np.asarray(feature_names, dtype=object))
    columns = pd.Index(source_coef.columns)
    if columns.equals(genes):
        return source_coef
    if columns.has_duplicates:
        raise ValueError(f"source_coef's columns (genes) are not unique, e.g. "
                         f"{list(columns[columns.duplicated()][:5])}")
    missing, extra = genes.difference(columns, sort=False), columns.difference(genes, sort=False)
    if len(missing) or len(extra):
        raise ValueError(
            f"source_coef's columns name genes other than X's: {len(missing)} of X's "
            f"{len(genes)} genes are missing (e.g. {list(missing[:5])}) and {len(extra)} are "
            f"not in X (e.g. {list(extra[:5])}); pass the source with X's genes as columns, "
            "or plain arrays in the same order")
    return source_coef.loc[:, genes]


class StatsLinearRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Base for linear regressors fitted from sufficient statistics.

    Subclasses write ``fit``: validate with ``_validate_xy``, compute a
    ``(p, q)`` coefficient matrix (from ``_stats`` or per-fold sums) and store it
    with ``_set_coef``.
    """

    def _validate_xy(self, X, y):
        if is_dask_array(X):
            X, y = self._validate_dask_xy(X, y)
        else:
            if is_dask_array(y):  # in-memory X: y is no larger, so bring it in too
                y = y.compute()
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse=("csr", "csc"),
                multi_output=True,
                y_numeric=True,
                dtype=np.float64,
            )
        self._y_was_1d = y.ndim == 1
        y2 = y[:, None] if y.ndim == 1 else y
        if X.shape[0] < 2:
            raise ValueError(
                f"need at least 2 samples to fit, got n_samples = {X.shape[0]}"
            )
        return X, y2

    def _validate_dask_xy(self, X, y):
        """Check a dask ``X`` (and dask or in-memory ``y``) without computing them.

        Shapes and dtypes are checked here; NaN and infinite values are counted
        by the statistics pass itself (:mod:`smart_sc._core.sums.chunked`), which
        refuses them with their number.
        """
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got a {X.ndim}-D dask array instead")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"dask array X has dtype {X.dtype}; a numeric dtype is needed")
        X = as_row_chunked(X)
        if X.shape[1] == 0:
            raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is "
                             "required by this estimator")
        _check_n_features(self, X, reset=True)
        _check_feature_names(self, X, reset=True)
        if is_dask_array(y):
            if any(np.isnan(c) for c in y.chunks[0]):
                raise ValueError("the dask array y's row chunk sizes are unknown; call "
                                 "y.compute_chunk_sizes() first")
            if y.ndim not in (1, 2):
                raise ValueError(f"y must be 1-D or 2-D, got a {y.ndim}-D dask array")
            if y.dtype.kind not in "biuf":
                raise ValueError(f"dask array y has dtype {y.dtype}; a numeric dtype is "
                                 "needed")
        else:
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            if y.ndim not in (1, 2):
                raise ValueError(f"y must be 1-D or 2-D, got {y.ndim}-D")
        check_consistent_length(np.empty((X.shape[0], 0)), np.empty((y.shape[0], 0)))
        return X, y

    def _stats(self, X, y) -> SufficientStats:
        center = bool(self.fit_intercept)
        if center:
            return compute_sums(X, y).to_stats(center=True)
        return compute_sums(X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1])).to_stats(False)

    def _set_coef(self, coef_pq: np.ndarray, intercept: np.ndarray) -> None:
        if not np.all(np.isfinite(coef_pq)):
            raise FloatingPointError(
                f"{type(self).__name__} produced non-finite coefficients; the design "
                "may be degenerate (try a positive shrinkage)"
            )
        intercept = np.asarray(intercept, dtype=np.float64)
        if self._y_was_1d:
            self.coef_ = coef_pq[:, 0].copy()
            self.intercept_ = float(intercept[0])
        else:
            self.coef_ = coef_pq.T.copy()
            self.intercept_ = intercept

    def predict(self, X):
        """Predict responses for ``X`` (n_samples, n_features).

        Parameters
        ----------
        X : array-like, sparse matrix or dask array of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
            Predictions, 1-D when the model was fitted on a 1-D ``y``; lazy
            (a dask array with ``X``'s row chunks) when ``X`` is a dask array.
        """
        check_is_fitted(self, "coef_")
        if is_dask_array(X):
            if X.ndim != 2:
                raise ValueError(f"Expected 2D array, got a {X.ndim}-D dask array instead")
            _check_n_features(self, X, reset=False)
            _check_feature_names(self, X, reset=False)
            coef = np.asarray(self.coef_, dtype=np.float64)
            ravel = coef.ndim == 1
            return predict_blocks(X, coef[:, None] if ravel else coef.T, self.intercept_,
                                  ravel=ravel)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False)
        return linear_predict(X, np.asarray(self.coef_).T, self.intercept_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


class PerTargetMixin:
    """Report per-response quantities the way ``coef_`` is reported (scalar for 1-D y)."""

    def _per_target(self, values: np.ndarray):
        values = np.asarray(values)
        if self._y_was_1d:
            return values[..., 0].item() if values.ndim == 1 else values[..., 0].copy()
        return values.copy()


def warn_not_converged(name: str, n_failed: int, fits: str) -> None:
    """Warn once per fit, with scikit-learn's ``ConvergenceWarning``, if any solve fell short.

    ``fits`` says what fell short and where it stopped (``"fit(s) stopped at
    ..."``); the message is ``"{name}: {n_failed} {fits}; increase max_iter or
    tol"``. Nothing is said when ``n_failed`` is 0. Call it from ``fit``: the
    warning points at the line that called ``fit``.
    """
    if n_failed:
        warnings.warn(
            f"{name}: {n_failed} {fits}; increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=3,
        )

"""Tests of the source-aware comparators: subspace-restricted RRR and the source mixture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator

import smart_sc.baselines as baselines
from smart_sc.baselines import (
    ReducedRankRegression,
    SourceMixture,
    SourceOnly,
    SourceSubspaceRRR,
    TargetOLS,
    TargetRidge,
)


def _frame(rng, p, k):
    return np.linalg.qr(rng.normal(size=(p, k)))[0]


@pytest.fixture
def problem():
    """Source of rank 6 on 40 genes; target built on 3 of its 6 gene directions."""
    rng = np.random.default_rng(0)
    n, p, q = 150, 40, 8
    U0 = _frame(rng, p, 6)
    C0 = U0 @ np.diag(np.linspace(6.0, 1.0, 6)) @ _frame(rng, q, 6).T  # p x q
    C_true = U0[:, :3] @ rng.normal(size=(3, q))
    X = rng.normal(size=(n, p)) + 1.0
    Y = X @ C_true + 0.5 + 0.3 * rng.normal(size=(n, q))
    return X, Y, C0, C_true, U0


# ----------------------------------------------------------------------------- subspace RRR


def test_subspace_full_dimension_is_ols_on_the_source_span(problem):
    X, Y, C0, _, _ = problem
    U, s, _ = np.linalg.svd(C0, full_matrices=False)
    U0 = U[:, s > 1e-10]
    model = SourceSubspaceRRR(C0.T, dims=(U0.shape[1],)).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Z = Xc @ U0
    C = U0 @ np.linalg.solve(Z.T @ Z, Z.T @ Yc)  # OLS restricted to span(U0)
    np.testing.assert_allclose(model.coef_, C.T, atol=1e-9)
    np.testing.assert_allclose(model.intercept_, Y.mean(0) - X.mean(0) @ C, atol=1e-9)
    assert model.dim_ == 6 and model.dims_ == (6,)


def test_subspace_cv_finds_the_target_dimension(problem):
    X, Y, C0, C_true, _ = problem
    model = SourceSubspaceRRR(C0.T, random_state=0).fit(X, Y)
    assert model.dims_ == (1, 3, 5, 6)  # default grid capped at the source's rank 6
    assert model.dim_ == 3
    mse = model.cv_results_["mse"]
    assert mse.shape == (4,) and mse[1] == mse.min() and mse[0] > 2 * mse[1]
    # Restricting to the right subspace beats unrestricted least squares.
    err = np.linalg.norm(model.coef_.T - C_true)
    assert err < 0.5 * np.linalg.norm(TargetOLS().fit(X, Y).coef_.T - C_true)


def test_subspace_rank_reduces_the_small_fit(problem):
    X, Y, C0, _, _ = problem
    model = SourceSubspaceRRR(C0.T, dims=(5,), rank=2).fit(X, Y)
    assert np.linalg.matrix_rank(model.coef_, tol=1e-8) == 2
    # Rank-2 RRR on the derived features X U0_5 is ReducedRankRegression on them.
    U0 = np.linalg.svd(C0, full_matrices=False)[0][:, :5]
    ref = ReducedRankRegression(rank=2).fit(X @ U0, Y)
    np.testing.assert_allclose(model.coef_, ref.coef_ @ U0.T, atol=1e-8)


def test_subspace_singular_projection_falls_back_to_ridge():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 6))
    X[:, 1] = X[:, 0]  # collinear genes
    C0 = np.zeros((6, 2))
    C0[0, 0] = C0[1, 1] = 1.0  # U0 spans genes 0 and 1: X U0 has rank 1
    Y = X[:, :1] @ np.array([[1.0, 1.0]]) + 0.1 * rng.normal(size=(50, 2))
    model = SourceSubspaceRRR(C0.T, dims=(2,)).fit(X, Y)
    assert np.all(np.isfinite(model.coef_))
    np.testing.assert_allclose(model.predict(X), Y, atol=0.5)


def test_subspace_sparse_equals_dense(problem):
    X, Y, C0, _, _ = problem
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.5] = 0.0
    dense = SourceSubspaceRRR(C0.T, random_state=0).fit(Xs, Y)
    sparse = SourceSubspaceRRR(C0.T, random_state=0).fit(sp.csr_matrix(Xs), Y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-10)
    assert sparse.dim_ == dense.dim_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        # What depends on the data; each parameter's own rule: test_baseline_params.py.
        ({"dims": (7,)}, "dims entry 7 exceeds the rank of source_coef, 6"),
        ({"dims": (2, 7)}, "dims entry 7 exceeds the rank of source_coef, 6"),
        ({"cv": 500}, "cv=500 folds need at least 500 samples"),
    ],
)
def test_subspace_bad_params(problem, params, match):
    X, Y, C0, _, _ = problem
    with pytest.raises(ValueError, match=match):
        SourceSubspaceRRR(C0.T, **params).fit(X, Y)


def test_subspace_zero_source_is_refused(problem):
    X, Y, _, _, _ = problem
    with pytest.raises(ValueError, match="source_coef is zero"):
        SourceSubspaceRRR(np.zeros((Y.shape[1], X.shape[1]))).fit(X, Y)


# ----------------------------------------------------------------------------- mixture


def test_mixture_weight_zero_is_target_ridge(problem):
    X, Y, C0, _, _ = problem
    model = SourceMixture(C0.T, weights=(0.0,)).fit(X, Y)
    ridge = TargetRidge().fit(X, Y)
    # Equal up to the order of summation (per-fold sums added vs one pass).
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, ridge.intercept_, atol=1e-10)
    assert model.weight_ == 0.0


def test_mixture_weight_one_is_the_source(problem):
    X, Y, C0, _, _ = problem
    model = SourceMixture(C0.T, weights=(1.0,)).fit(X, Y)
    only = SourceOnly(C0.T).fit(X, Y)
    np.testing.assert_array_equal(model.coef_, C0.T)
    np.testing.assert_allclose(model.predict(X), only.predict(X), atol=1e-10)


def test_mixture_ols_target(problem):
    X, Y, C0, _, _ = problem
    model = SourceMixture(C0.T, target="ols", weights=(0.0,)).fit(X, Y)
    np.testing.assert_allclose(model.coef_, TargetOLS().fit(X, Y).coef_, atol=1e-10)


def test_mixture_cv_trusts_a_true_source_and_ignores_an_unrelated_one():
    rng = np.random.default_rng(2)
    n, p, q = 60, 30, 5
    C0 = rng.normal(size=(p, q))
    X = rng.normal(size=(n, p))
    # Target generated from the source: few cells, so the target fit is noisy.
    Y = X @ C0 + 1.0 * rng.normal(size=(n, q))
    trusting = SourceMixture(C0.T, random_state=0).fit(X, Y)
    assert trusting.weight_ >= 0.8
    # Target unrelated to the source.
    C_other = rng.normal(size=(p, q))
    Y2 = X @ C_other + 0.3 * rng.normal(size=(n, q))
    ignoring = SourceMixture(C0.T, random_state=0).fit(X, Y2)
    assert ignoring.weight_ <= 0.2
    mse = ignoring.cv_results_["mse"]
    assert mse.shape == (11,) and mse[-1] > mse[0]
    np.testing.assert_allclose(ignoring.cv_results_["weights"], np.linspace(0, 1, 11))


def test_mixture_sparse_equals_dense(problem):
    X, Y, C0, _, _ = problem
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.5] = 0.0
    dense = SourceMixture(C0.T, random_state=1).fit(Xs, Y)
    sparse = SourceMixture(C0.T, random_state=1).fit(sp.csc_matrix(Xs), Y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-10)
    assert sparse.weight_ == dense.weight_


@pytest.mark.parametrize("cls", [SourceMixture, SourceSubspaceRRR])
def test_bad_source_shape_names_shapes(problem, cls):
    X, Y, C0, _, _ = problem  # 40 features, 8 targets
    with pytest.raises(ValueError, match=r"shape \(40, 8\).*expected \(8, 40\)"):
        cls(C0).fit(X, Y)


# ----------------------------------------------------------------------------- API


class _ShapedSource:
    """Test adapter: a fixed random source of whatever shape the data have.

    scikit-learn's checks fit on data of many widths and numbers of targets, so a
    source given once cannot match them all; everything else is the estimator's.
    """

    def _source_pq(self, n_features, n_targets):
        rng = np.random.default_rng(n_features * 1000 + n_targets)
        return rng.normal(size=(n_features, n_targets))


class _CheckedMixture(_ShapedSource, SourceMixture):
    _parameter_constraints = {**SourceMixture._parameter_constraints,  # noqa: RUF012
                              "source_coef": [None]}


class _CheckedSubspace(_ShapedSource, SourceSubspaceRRR):
    _parameter_constraints = {**SourceSubspaceRRR._parameter_constraints,  # noqa: RUF012
                              "source_coef": [None]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Restricted to a random source's subspace (one direction for one
        # response), the fit is as poor as the source is unrelated.
        tags.regressor_tags.poor_score = True
        return tags


@pytest.mark.parametrize(
    "estimator",
    [_CheckedMixture(None, random_state=0), _CheckedSubspace(None, random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_sklearn_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}


@pytest.mark.parametrize("cls", [SourceMixture, SourceSubspaceRRR])
def test_1d_y_and_clone(problem, cls):
    X, Y, C0, _, _ = problem
    est = cls(C0[:, 0], random_state=0).fit(X, Y[:, 0])
    assert est.coef_.shape == (X.shape[1],) and isinstance(est.intercept_, float)
    assert est.predict(X).shape == (X.shape[0],)
    again = clone(est).fit(X, Y[:, 0])
    np.testing.assert_array_equal(again.coef_, est.coef_)


def test_package_exports():
    assert {"SourceMixture", "SourceSubspaceRRR"} <= set(baselines.__all__)
    assert len(baselines.__all__) >= 8

"""Tests of the sparse reduced-rank baselines (SRRR, RSSVD, SOFAR): special cases, recovery, API."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator

import smart_sc
import smart_sc.baselines._rssvd as rssvd_module
import smart_sc.baselines._sofar as sofar_module
import smart_sc.baselines._srrr as srrr_module
from smart_sc.baselines import RSSVD, SOFAR, SOURCE_METHODS, SRRR, ReducedRankRegression

ESTIMATORS = [SRRR, RSSVD, SOFAR]


# ----------------------------------------------------------------------------- data


def _design(rng, n, p, rho=0.5):
    """AR(1)-correlated Gaussian design with non-zero means."""
    cov = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    return rng.normal(size=(n, p)) @ np.linalg.cholesky(cov).T + 1.0


def _row_sparse(seed, n=200, p=40, q=20, rank=2, active=8):
    """``C = B A^T`` with only the first ``active`` rows of ``B`` non-zero (SRRR's model)."""
    rng = np.random.default_rng(seed)
    X = _design(rng, n, p)
    B = np.zeros((p, rank))
    B[:active] = rng.normal(size=(active, rank))
    A = np.linalg.qr(rng.normal(size=(q, rank)))[0]
    C = B @ A.T
    Y = X @ C + 0.5 + rng.normal(size=(n, q))
    return X, Y, C


def _sparse_svd(seed, n=200, p=40, q=20, d=(6.0, 4.0, 2.0)):
    """``C = sum_k d_k u_k v_k^T`` with disjoint sparse ``u_k`` (5 genes), ``v_k`` (4 proteins)."""
    rng = np.random.default_rng(seed)
    X = _design(rng, n, p)
    r = len(d)
    U, V = np.zeros((p, r)), np.zeros((q, r))
    for k in range(r):
        U[5 * k:5 * k + 5, k] = rng.normal(size=5)
        V[4 * k:4 * k + 4, k] = rng.normal(size=4)
    U /= np.linalg.norm(U, axis=0)
    V /= np.linalg.norm(V, axis=0)
    C = U @ np.diag(d) @ V.T
    Y = X @ C - 1.0 + rng.normal(size=(n, q))
    return X, Y, C


def _f1(estimated: np.ndarray, true: np.ndarray) -> float:
    """F1 score of a boolean support estimate."""
    tp = np.sum(estimated & true)
    if tp == 0:
        return 0.0
    precision, recall = tp / estimated.sum(), tp / true.sum()
    return float(2 * precision * recall / (precision + recall))


# ----------------------------------------------------------------------------- special case


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_zero_penalty_is_reduced_rank_regression(cls, fit_intercept):
    X, Y, _ = _sparse_svd(0)
    for rank in (1, 3):
        ours = cls(rank=rank, lam=0.0, fit_intercept=fit_intercept).fit(X, Y)
        rrr = ReducedRankRegression(rank=rank, fit_intercept=fit_intercept).fit(X, Y)
        np.testing.assert_allclose(ours.coef_, rrr.coef_, atol=1e-6)
        np.testing.assert_allclose(ours.intercept_, rrr.intercept_, atol=1e-6)
        assert ours.rank_ == rank


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_zero_penalty_on_a_wide_design_is_still_rrr(cls):
    # p > n: the pilot for the weights is a ridge fit, but lam = 0 is exactly RRR.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 50))
    Y = X[:, :3] @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(30, 6))
    ours = cls(rank=2, lam=0.0).fit(X, Y)
    rrr = ReducedRankRegression(rank=2).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, rrr.coef_, atol=1e-6)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_sparse_input_gives_the_same_fit(cls):
    X, Y, _ = _sparse_svd(2, n=120)
    X[np.abs(X - 1.0) < 0.5] = 0.0
    kwargs = {"rank": 2, "random_state": 0} if cls is SRRR else {"rank": 2}
    dense = cls(**kwargs).fit(X, Y)
    sparse = cls(**kwargs).fit(sp.csr_matrix(X), Y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-10)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), atol=1e-8)


# ----------------------------------------------------------------------------- recovery


def test_srrr_recovers_the_row_support_better_than_rrr():
    X, Y, C = _row_sparse(0)
    srrr = SRRR(rank=2, random_state=0).fit(X, Y)
    rrr = ReducedRankRegression(rank=2).fit(X, Y)
    true_rows = np.abs(C).sum(axis=1) > 0
    rrr_rows = np.abs(rrr.coef_).sum(axis=0) > 0
    assert _f1(srrr.selected_features_, true_rows) > _f1(rrr_rows, true_rows) + 0.3
    assert srrr.selected_features_[true_rows].all()  # no true gene is lost
    err_srrr = np.linalg.norm(srrr.coef_.T - C)
    err_rrr = np.linalg.norm(rrr.coef_.T - C)
    assert err_srrr < 0.9 * err_rrr


def test_srrr_cross_validates_the_rank():
    X, Y, _ = _row_sparse(1)
    srrr = SRRR(rank=(1, 2, 3), random_state=0).fit(X, Y)
    assert srrr.rank_ == 2
    cv = srrr.cv_results_
    assert cv["mse"].shape == cv["lambdas"].shape == (3, srrr.n_lambdas)
    assert srrr.lam_ in cv["lambdas"][1]
    assert np.all(np.diff(cv["lambdas"], axis=1) < 0)  # decreasing grids


@pytest.mark.parametrize("cls", [RSSVD, SOFAR], ids=lambda c: c.__name__)
def test_sparse_svd_recovers_the_support_better_than_rrr(cls):
    X, Y, C = _sparse_svd(0)
    model = cls().fit(X, Y)
    rrr = ReducedRankRegression(rank=3).fit(X, Y)
    true = C != 0
    f1, f1_rrr = _f1(model.coef_.T != 0, true), _f1(rrr.coef_.T != 0, true)
    assert f1 > f1_rrr + 0.4
    err = np.linalg.norm(model.coef_.T - C)
    err_rrr = np.linalg.norm(rrr.coef_.T - C)
    assert err < 0.8 * err_rrr
    assert model.rank_ == 3


# ----------------------------------------------------------------------------- attributes


def test_rssvd_layers_and_tuning_record():
    X, Y, _ = _sparse_svd(3)
    model = RSSVD(rank=4).fit(X, Y)
    k = model.rank_
    assert model.components_u_.shape == (k, X.shape[1])
    assert model.components_v_.shape == (k, Y.shape[1])
    np.testing.assert_allclose(np.linalg.norm(model.components_u_, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(model.components_v_, axis=1), 1.0)
    layers = np.einsum("k,ki,kj->ji", model.singular_values_, model.components_u_,
                       model.components_v_)
    np.testing.assert_allclose(model.coef_, layers, atol=1e-12)
    # Extraction stops at the first empty layer (or at rank); each layer has a record.
    assert len(model.unit_tuning_) in (k, k + 1)
    for record in model.unit_tuning_[:k]:
        best = int(np.argmin(record["bic"]))
        assert record["lambda"] == record["lambdas"][best]
        assert record["df"][best] > 0
    assert model.n_iter_.shape == (k,)


def test_sofar_layers_are_nearly_orthonormal_and_sparse():
    X, Y, _ = _sparse_svd(4)
    model = SOFAR(rank=3).fit(X, Y)
    U, V = model.components_u_.T, model.components_v_.T
    np.testing.assert_allclose(U.T @ U, np.eye(model.rank_), atol=1e-3)
    np.testing.assert_allclose(V.T @ V, np.eye(model.rank_), atol=1e-3)
    assert np.all(model.singular_values_ > 0)
    assert (U == 0).mean() > 0.5 and (V == 0).mean() > 0.3
    np.testing.assert_allclose(model.coef_.T, U @ np.diag(model.singular_values_) @ V.T,
                               atol=1e-10)
    tuning = model.tuning_
    assert model.lam_ == tuning["lambdas"][int(np.argmin(tuning["bic"]))]
    assert tuning["rank"].max() <= 3 and tuning["df"][0] == 0  # the top of the grid is empty


@pytest.mark.parametrize(
    "estimator", [SRRR(rank=2, lam=1e-2), SOFAR(rank=2, lam=1e-2)],
    ids=lambda e: type(e).__name__)
def test_lambda_is_a_deprecated_alias_of_lam(estimator):
    # The penalty is lam_, as in SMARTRegressor; lambda_ still reads it, with a warning.
    X, Y, _ = _sparse_svd(6, n=100)
    model = estimator.fit(X, Y)
    assert "lambda_" not in vars(model)  # one value, stored once
    with pytest.warns(FutureWarning, match="lam_"):
        old = model.lambda_
    assert old == model.lam_ == 1e-2


def test_lambda_alias_of_an_unfitted_model_raises_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(SRRR(), "lambda_")
        assert not hasattr(SOFAR(), "lambda_")


def test_rssvd_has_no_single_penalty():
    # RSSVD chooses one penalty per layer (unit_tuning_), so it has no lam_ or lambda_.
    X, Y, _ = _sparse_svd(6, n=100)
    model = RSSVD(rank=1).fit(X, Y)
    assert not hasattr(model, "lam_") and not hasattr(model, "lambda_")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_1d_y_clone_and_determinism(cls):
    X, Y, _ = _sparse_svd(5, n=100)
    kwargs = {"random_state": 0} if cls is SRRR else {}
    est = cls(**kwargs).fit(X, Y[:, 0])
    assert est.coef_.shape == (X.shape[1],) and isinstance(est.intercept_, float)
    assert est.predict(X).shape == (X.shape[0],)
    again = clone(est).fit(X, Y[:, 0])
    np.testing.assert_array_equal(again.coef_, est.coef_)


# ----------------------------------------------------------------------------- failures


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_rank_above_the_problem_raises(cls):
    X, Y, _ = _sparse_svd(0, n=40)
    with pytest.raises(ValueError, match="exceeds min"):
        cls(rank=Y.shape[1] + 1).fit(X, Y)
    with pytest.raises(ValueError, match="rank of the design"):
        cls(rank=3).fit(np.repeat(X[:, :1], 4, axis=1), Y)


def test_more_folds_than_samples_raises():
    X, Y, _ = _sparse_svd(0, n=40)
    with pytest.raises(ValueError, match="folds need at least"):
        SRRR(cv=5).fit(X[:4], Y[:4])


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_iteration_cap_warns(cls):
    X, Y, _ = _sparse_svd(0, n=100)
    with pytest.warns(ConvergenceWarning, match="iteration cap"):
        cls(rank=2, lam=1e-3, max_iter=1).fit(X, Y)


# ----------------------------------------------------------------------------- scikit-learn


@pytest.mark.parametrize(
    "estimator", [SRRR(random_state=0), RSSVD(), SOFAR()], ids=lambda e: type(e).__name__
)
def test_sklearn_check_estimator(estimator):
    with warnings.catch_warnings():
        # check_array_api_input skips itself unless SCIPY_ARRAY_API is set.
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}


@pytest.mark.parametrize("module", [srrr_module, rssvd_module, sofar_module],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 1
    assert result.failed == 0


# ----------------------------------------------------------------------------- tl


@pytest.mark.parametrize("method", ["srrr", "rssvd", "sofar"])
def test_fit_source_and_transfer(prepared_toy, method):
    mdata = prepared_toy.copy()
    cell_type = mdata.obs["cell_type"].astype(str).to_numpy()
    # A single rank keeps SRRR's cross-validation to the penalty (fast).
    params = {"rank": 3, "random_state": 0} if method == "srrr" else {}
    source = smart_sc.tl.fit_source(mdata, mask_obs=cell_type == "NK", method=method,
                                    population="NK", **params)
    assert source.provenance["estimator"] == SOURCE_METHODS[method].__name__
    coef = source.coef.to_numpy()
    assert coef.shape == (mdata["rna"].n_vars, mdata["prot"].n_vars)
    assert 0 < np.linalg.matrix_rank(coef) <= min(coef.shape)
    smart_sc.tl.transfer(mdata, source, mask_obs=cell_type == "ILC1", rank=3,
                         structural_rank=6, random_state=0)
    pred = mdata["rna"].obsm["smart"]
    assert pred.shape == (mdata.n_obs, mdata["prot"].n_vars)
    assert np.isfinite(pred.to_numpy()).all()


def test_benchmark_accepts_the_sparse_source_methods():
    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        df = smart_sc.tl.benchmark(
            mdata, source_mask=nk, target_mask=~nk, source_methods=["srrr", "rssvd", "sofar"],
            methods=["source_only"], n_splits=1, n_top_genes=100, top_k=30,
            source_params={"srrr": {"rank": 3, "random_state": 0}},
            smart_params={"rank": 3, "structural_rank": 6}, verbose=False)
    assert sorted(df["source"]) == ["rssvd", "sofar", "srrr"]
    assert bool((df["error"] > 0).all())

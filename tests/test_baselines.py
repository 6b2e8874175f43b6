"""Tests of the target-only and source-only baselines against scikit-learn and the maths."""

from __future__ import annotations

import re
import types
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, SkipTestWarning
from sklearn.linear_model import Lasso, LassoCV, LinearRegression, Ridge, lasso_path
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import smart_sc.baselines._lasso as baselines
import smart_sc.baselines._least_squares as least_squares
import smart_sc.baselines._source_aware as source_aware
from smart_sc._core.sums.passes import compute_sums
from smart_sc.baselines import (
    RSSVD,
    SOFAR,
    SOURCE_METHODS,
    SRRR,
    OffsetTransfer,
    ReducedRankRegression,
    SourceOnly,
    TargetLasso,
    TargetOLS,
    TargetRidge,
    source_method,
)

SPARSE_FORMATS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array]


# ----------------------------------------------------------------------------- data


def _design(rng, n, p, *, rho=0.5, mean=0.0, density=None):
    """AR(1)-correlated Gaussian design, optionally with sparsity and nonzero means."""
    cov = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.normal(size=(n, p)) @ np.linalg.cholesky(cov).T + mean
    if density is not None:
        X[rng.random((n, p)) > density] = 0.0
    return X


def _low_rank(rng, p, q, r, scale=3.0):
    U = np.linalg.qr(rng.normal(size=(p, r)))[0]
    V = np.linalg.qr(rng.normal(size=(q, r)))[0]
    return U @ np.diag(np.linspace(scale, 2 * scale, r)) @ V.T  # p x q


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n, p, q = 60, 8, 3
    X = _design(rng, n, p, mean=2.0, density=0.7)
    C = rng.normal(size=(p, q))
    Y = X @ C + 1.5 + 0.5 * rng.normal(size=(n, q))
    return X, Y


def _maybe_sparse(X, fmt):
    return X if fmt is None else fmt(X)


def _stats(X, Y, fit_intercept):
    p, q = X.shape[1], Y.shape[1]
    if fit_intercept:
        return compute_sums(X, Y).to_stats(True)
    return compute_sums(X, Y, np.zeros(p), np.zeros(q)).to_stats(False)


# ----------------------------------------------------------------------------- OLS


@pytest.mark.parametrize("fmt", [None, *SPARSE_FORMATS])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ols_matches_sklearn(data, fmt, fit_intercept):
    X, Y = data
    ours = TargetOLS(fit_intercept=fit_intercept).fit(_maybe_sparse(X, fmt), Y)
    # The reference is always fitted on the dense array: the sparse path of our
    # statistics is what is under test, not scikit-learn's sparse solvers.
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-9)
    np.testing.assert_allclose(ours.predict(_maybe_sparse(X, fmt)), ref.predict(X), atol=1e-9)
    assert ours.rank_ == X.shape[1]


def test_ols_rank_deficient_is_minimum_norm():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    X = np.hstack([X, X[:, :2] + X[:, 2:3]])  # two exactly dependent columns
    Y = X @ rng.normal(size=(6, 2)) + rng.normal(size=(30, 2))
    ours = TargetOLS().fit(X, Y)
    ref = LinearRegression().fit(X, Y)  # lstsq: minimum-norm solution
    assert ours.rank_ == 4
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-8)


def test_ols_p_greater_than_n():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 25))
    y = rng.normal(size=10)
    ours = TargetOLS().fit(X, y)
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    assert ours.rank_ == 9  # centring removes one direction


# ----------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("fmt", [None, *SPARSE_FORMATS])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_matches_sklearn_at_chosen_alpha(data, fmt, fit_intercept):
    X, Y = data
    ours = TargetRidge(alphas=np.logspace(-2, 3, 12), fit_intercept=fit_intercept)
    ours.fit(_maybe_sparse(X, fmt), Y)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=ours.alpha_[j], fit_intercept=fit_intercept).fit(X, Y[:, j])
        np.testing.assert_allclose(ours.coef_[j], ref.coef_, atol=1e-9)
        np.testing.assert_allclose(ours.intercept_[j], ref.intercept_, atol=1e-9)


def _brute_force_gcv(X, y, alpha, fit_intercept):
    n = X.shape[0]
    if fit_intercept:
        Xc = X - X.mean(axis=0)
        H = np.full((n, n), 1.0 / n)
    else:
        Xc = X
        H = np.zeros((n, n))
    H = H + Xc @ np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T)
    resid = y - H @ y
    return np.mean(resid**2) / (1.0 - np.trace(H) / n) ** 2


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_gcv_choice_matches_explicit_hat_matrix(fit_intercept):
    rng = np.random.default_rng(3)
    n, p, q = 25, 12, 4
    X = _design(rng, n, p, rho=0.8, mean=1.0)
    # Responses of very different signal strength so the chosen penalties differ.
    C = rng.normal(size=(p, q)) * np.array([0.05, 0.3, 1.0, 3.0])
    Y = X @ C + rng.normal(size=(n, q))
    alphas = np.logspace(-3, 3, 25)
    ours = TargetRidge(alphas=alphas, fit_intercept=fit_intercept).fit(X, Y)
    for j in range(q):
        gcv = np.array([_brute_force_gcv(X, Y[:, j], a, fit_intercept) for a in alphas])
        np.testing.assert_allclose(ours.gcv_[:, j], gcv, rtol=1e-8)
        assert ours.alpha_[j] == alphas[np.argmin(gcv)]
    assert len(np.unique(ours.alpha_)) > 1


def test_ridge_gcv_with_fewer_cells_than_genes_does_not_depend_on_round_off():
    # With fewer cells than genes the fit nearly interpolates at small penalties:
    # residual and residual degrees of freedom are tiny, and written as
    # differences of large terms their round-off chose the penalty (the same
    # 20-cell design gave another penalty on another BLAS thread count).
    # Listing the genes in another order changes only the round-off.
    rng = np.random.default_rng(8)
    n, p, q = 20, 300, 6
    X = _design(rng, n, p, rho=0.3)
    Y = X[:, :8] @ rng.normal(size=(8, q)) + rng.normal(size=(n, q))
    order = rng.permutation(p)
    alphas = np.logspace(-3, 2, 10)
    ours = TargetRidge(alphas=alphas).fit(X, Y)
    shuffled = TargetRidge(alphas=alphas).fit(X[:, order], Y)
    np.testing.assert_allclose(shuffled.gcv_, ours.gcv_, rtol=1e-9)
    np.testing.assert_array_equal(shuffled.alpha_, ours.alpha_)
    # Towards no penalty the criterion settles at a finite limit.
    assert np.all(np.abs(np.diff(ours.gcv_[:3], axis=0)) < 1e-3 * ours.gcv_[0])


# ----------------------------------------------------------------------------- lasso


@pytest.mark.parametrize("fmt", [None, sp.csr_matrix, sp.csc_matrix])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_solver_matches_sklearn_at_fixed_alpha(fmt, fit_intercept):
    rng = np.random.default_rng(4)
    n, p, q = 80, 15, 3
    # Nonzero means make the uncentred Gram matrix badly conditioned: the case
    # where a gradient method would stall and coordinate descent must not.
    X = _design(rng, n, p, rho=0.6, mean=2.0, density=0.8)
    C = np.zeros((p, q))
    C[:4] = rng.normal(size=(4, q)) * 2
    Y = X @ C + 1.0 + rng.normal(size=(n, q))
    stats = _stats(_maybe_sparse(X, fmt), Y, fit_intercept)
    alphas = np.array([0.5, 0.1, 0.02, 0.002])
    coefs, _, conv = baselines._lasso_path(
        stats, np.tile(alphas[:, None], (1, q)), max_iter=10_000, tol=1e-12
    )
    assert conv.all()
    for k, a in enumerate(alphas):
        ref = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-14, max_iter=200_000)
        ref.fit(X, Y)
        np.testing.assert_allclose(coefs[k].T, ref.coef_, atol=1e-6)


def test_lasso_default_tolerance_is_scikit_learns():
    # At the default tol the fit is what scikit-learn's Lasso gives at its own
    # default tolerance (same criterion), and within 1e-3 of the exact solution.
    rng = np.random.default_rng(5)
    X = _design(rng, 100, 20, rho=0.5)
    Y = X[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(100, 2))
    stats = _stats(X, Y, True)
    coefs, _, _ = baselines._lasso_path(
        stats, np.full((1, 2), 0.05), max_iter=1000, tol=TargetLasso().tol
    )
    exact = Lasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, Y)
    default = Lasso(alpha=0.05).fit(X, Y)
    np.testing.assert_allclose(coefs[0].T, default.coef_, atol=1e-9)
    np.testing.assert_allclose(coefs[0].T, exact.coef_, atol=1e-3)


def test_lasso_restart_on_support_finishes_slow_fit():
    # Nearly collinear features: coordinate descent has the support after 1000
    # sweeps but not the values; the exact solve on that support finishes it.
    rng = np.random.default_rng(19)
    n, p = 200, 30
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, p)) + 0.05 * rng.normal(size=(n, p))
    Y = X[:, :4] @ rng.normal(size=(4, 2)) + rng.normal(size=(n, 2))
    stats = _stats(X, Y, True)
    alphas = np.tile(np.geomspace(0.5, 0.02, 10)[:, None], (1, 2))
    _, _, plain = baselines._lasso_path(stats, alphas, max_iter=1000, tol=1e-8)
    coefs, _, conv = baselines._lasso_path(
        stats, alphas, max_iter=1000, tol=1e-8, polish_last=True
    )
    assert not plain[-1].all()
    assert conv[-1].all()
    ref = Lasso(alpha=0.02, tol=1e-14, max_iter=1_000_000).fit(X, Y)
    np.testing.assert_allclose(coefs[-1].T, ref.coef_, atol=1e-6)


def test_lasso_cv_matches_sklearn_lassocv():
    # Same folds, same grid, equal fold sizes: the pooled CV error equals
    # LassoCV's mean over folds, so the choice must be identical.
    rng = np.random.default_rng(6)
    X = _design(rng, 100, 12)
    y = X[:, [0, 3, 7]] @ np.array([1.0, -0.7, 0.4]) + rng.normal(size=100)
    ref = LassoCV(
        alphas=20, cv=KFold(5, shuffle=True, random_state=0), tol=1e-12, max_iter=100_000
    ).fit(X, y)
    # patience=None solves the whole path, as LassoCV; the default stops each
    # path 3 penalties past its minimum (here after 10 of 20) with the same choice.
    for patience, solved in ((None, 20), (3, 10)):
        ours = TargetLasso(n_alphas=20, cv=5, random_state=0, tol=1e-10,
                           patience=patience).fit(X, y)
        np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=1e-12)
        np.testing.assert_allclose(ours.cv_mse_[:solved], ref.mse_path_.mean(axis=1)[:solved],
                                   rtol=1e-6)
        assert np.all(np.isinf(ours.cv_mse_[solved:]))
        assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)


def _one_response_path_problem(seed, n, p, rho, n_alphas):
    """A lasso path's inputs from sums: Gram matrix, correlations, mean square, penalties."""
    rng = np.random.default_rng(seed)
    X = _design(rng, n, p, rho=rho)
    y = X[:, :5] @ rng.normal(size=5) + rng.normal(size=n)
    stats = _stats(X, y[:, None], True)
    xy = np.ascontiguousarray(stats.xy[:, 0])
    alphas = np.geomspace(np.abs(xy).max(), 1e-3 * np.abs(xy).max(), n_alphas)
    return np.ascontiguousarray(stats.xx), xy, float(stats.yy[0, 0]), alphas


def test_lasso_path_with_our_solver_options_is_scikit_learns_default_fit():
    # Screening is switched off (where scikit-learn has it) for speed only: the
    # path must be the one lasso_path computes with its defaults.
    assert baselines._solver_options() in ({}, {"do_screening": False})
    gram, xy, yy, alphas = _one_response_path_problem(29, 80, 40, 0.6, 12)
    ours, sweeps, _, _ = baselines._lasso_gram_path(gram, xy, yy, alphas, max_iter=1000,
                                                    tol=1e-4)
    _, ref, _, ref_sweeps = lasso_path(
        np.zeros((1, 40), order="F"), np.sqrt([yy]), alphas=alphas,
        precompute=gram, Xy=xy, max_iter=1000, tol=1e-4, return_n_iter=True,
        check_input=False, random_state=0)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(sweeps, ref_sweeps)


def test_lasso_path_in_cyclic_order_is_the_same_from_a_shared_generator():
    # One generator is handed to every response's call (seeding one per call
    # took a sixth of a small lasso's time): cyclic descent must not use its draws.
    gram, xy, yy, alphas = _one_response_path_problem(31, 60, 30, 0.5, 10)
    fresh = baselines._lasso_gram_path(gram, xy, yy, alphas, max_iter=1000, tol=1e-4)
    shared = np.random.RandomState(7)
    shared.randint(100, size=5)  # a generator in any state
    for _ in range(2):
        again = baselines._lasso_gram_path(gram, xy, yy, alphas, max_iter=1000, tol=1e-4,
                                           rng=shared)
        for got, want in zip(again, fresh, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("stretch", [4, 7])
def test_lasso_cv_stretch_changes_time_not_fits(monkeypatch, stretch):
    # Solving several penalties per call (few genes) must stop each response
    # where checking after every penalty stops it: same errors, choices, fits.
    # (Exactly so in cyclic order; a random order is drawn per call, and there
    # the fits agree to the tolerance.)
    rng = np.random.default_rng(23)
    X = _design(rng, 60, 15)
    C = np.zeros((15, 6))
    C[:6, :] = rng.normal(size=(6, 6)) * np.array([2.0, 1.0, 0.5, 0.2, 0.1, 0.0])
    Y = X @ C + rng.normal(size=(60, 6))

    def fit(k):
        # max_iter=3 leaves fits short of the tolerance: their count must agree too.
        monkeypatch.setattr(baselines, "LASSO_CV_STRETCH", {0: k})
        with pytest.warns(ConvergenceWarning) as caught:
            model = TargetLasso(n_alphas=20, cv=5, random_state=0, max_iter=3).fit(X, Y)
        return model, [str(w.message) for w in caught]

    (one, one_warned), (many, many_warned) = fit(1), fit(stretch)
    assert many_warned == one_warned
    stops = np.isinf(one.cv_mse_).argmax(axis=0)
    assert np.unique(stops[stops > 0]).size > 1  # responses stop at different penalties
    np.testing.assert_array_equal(np.isinf(many.cv_mse_), np.isinf(one.cv_mse_))
    finite = np.isfinite(one.cv_mse_)
    np.testing.assert_allclose(many.cv_mse_[finite], one.cv_mse_[finite], rtol=1e-12)
    np.testing.assert_array_equal(many.alpha_, one.alpha_)
    np.testing.assert_array_equal(many.coef_, one.coef_)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_cv_matches_lassocv_per_response(fit_intercept):
    # Several responses: each gets LassoCV's grid, penalty and fit on its own
    # column (a per-response lasso, not the multi-task one).
    rng = np.random.default_rng(16)
    X = _design(rng, 100, 10, mean=1.0)
    C = np.zeros((10, 3))
    C[[0, 4, 8], [0, 1, 2]] = [1.0, -0.8, 0.5]
    Y = X @ C + 0.5 + rng.normal(size=(100, 3))
    ours = TargetLasso(cv=5, random_state=0, tol=1e-10, fit_intercept=fit_intercept).fit(X, Y)
    for j in range(3):
        ref = LassoCV(
            alphas=20, cv=KFold(5, shuffle=True, random_state=0), tol=1e-12,
            max_iter=100_000, fit_intercept=fit_intercept,
        ).fit(X, Y[:, j])
        np.testing.assert_allclose(ours.alphas_[:, j], ref.alphas_, rtol=1e-12)
        solved = np.isfinite(ours.cv_mse_[:, j])
        # A path stops 3 penalties past its minimum, not before.
        assert solved.sum() == min(20, int(np.argmin(ours.cv_mse_[:, j])) + 4)
        assert solved[:solved.sum()].all()
        np.testing.assert_allclose(ours.cv_mse_[solved, j],
                                   ref.mse_path_.mean(axis=1)[solved], rtol=1e-6)
        assert ours.alpha_[j] == pytest.approx(ref.alpha_, rel=1e-12)
        np.testing.assert_allclose(ours.coef_[j], ref.coef_, atol=1e-6)
        np.testing.assert_allclose(ours.intercept_[j], ref.intercept_, atol=1e-6)


def test_lasso_leaves_global_rng_alone():
    rng = np.random.default_rng(18)
    X, y = rng.normal(size=(40, 5)), rng.normal(size=40)
    # scikit-learn's solver draws a seed even for cyclic descent; not from here.
    before = np.random.get_state()  # noqa: NPY002
    TargetLasso(random_state=0).fit(X, y)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]


@pytest.mark.parametrize("fmt", [None, sp.csr_matrix])
@pytest.mark.parametrize("selection", ["cyclic", "random"])
def test_lasso_cv_recovers_sparse_support(fmt, selection):
    rng = np.random.default_rng(7)
    n, p, q = 200, 30, 3
    X = _design(rng, n, p, rho=0.3)
    support = [[2, 11, 20], [0, 5, 6], [29, 14, 3]]
    C = np.zeros((p, q))
    for j, s in enumerate(support):
        C[s, j] = [2.0, -1.5, 1.0]
    Y = X @ C + 0.3 * rng.normal(size=(n, q))
    model = TargetLasso(random_state=0, selection=selection).fit(_maybe_sparse(X, fmt), Y)
    for j, s in enumerate(support):
        coef = model.coef_[j]
        off = np.setdiff1d(np.arange(p), s)
        # CV-tuned lasso is not a consistent selector (it keeps some small
        # spurious terms), but here the truth must stand out: the largest
        # coefficients are exactly the true ones, each spurious one is an order of
        # magnitude smaller, and at least a third of the features are exact zeros.
        assert set(np.argsort(-np.abs(coef))[: len(s)]) == set(s)
        assert np.all(np.abs(coef[s]) > 0.7)
        assert np.abs(coef[off]).max() < 0.1 * np.abs(coef[s]).min()
        assert np.count_nonzero(coef) <= 2 * p // 3
    # Each response got its own penalty, and the fit at it is sklearn's lasso to
    # the tolerance: its objective is within tol times the response's mean square
    # of the optimum (the duality-gap guarantee), whatever the coordinate order.
    for j in range(q):
        ref = Lasso(alpha=model.alpha_[j], tol=1e-12, max_iter=100_000).fit(X, Y[:, j])

        def objective(w, b, j=j):
            r = Y[:, j] - X @ w - b
            return 0.5 * np.mean(r * r) + model.alpha_[j] * np.abs(w).sum()

        excess = objective(model.coef_[j], model.intercept_[j]) - objective(
            ref.coef_, ref.intercept_)
        assert -1e-12 <= excess <= model.tol * np.var(Y[:, j])
        np.testing.assert_allclose(model.coef_[j], ref.coef_, atol=5e-4)


def test_lasso_warns_when_not_converged():
    rng = np.random.default_rng(8)
    X = _design(rng, 50, 10, rho=0.95, mean=5.0)
    y = X @ rng.normal(size=10) + rng.normal(size=50)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        TargetLasso(max_iter=1, tol=1e-14, fit_intercept=False, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"cv": 100}, "cv=100"),  # the rules of each parameter: test_baseline_params.py
    ],
)
def test_lasso_rejects_bad_params(data, params, match):
    X, Y = data
    with pytest.raises(ValueError, match=match):
        TargetLasso(**params).fit(X, Y)


# ----------------------------------------------------------------------------- RRR


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_rrr_equals_explicit_formula(fit_intercept):
    rng = np.random.default_rng(9)
    n, p, q, r = 80, 10, 6, 2
    X = _design(rng, n, p, mean=1.0)
    Y = X @ rng.normal(size=(p, q)) + 2.0 + rng.normal(size=(n, q))
    Xc, Yc = (X - X.mean(0), Y - Y.mean(0)) if fit_intercept else (X, Y)
    B = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
    Vr = np.linalg.svd(Xc @ B)[2][:r].T  # top right singular vectors of the fitted values
    C = B @ Vr @ Vr.T
    model = ReducedRankRegression(rank=r, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(model.coef_, C.T, atol=1e-9)
    assert model.rank_ == r
    assert np.linalg.matrix_rank(model.coef_, tol=1e-8) == r
    b = Y.mean(0) - X.mean(0) @ C if fit_intercept else np.zeros(q)
    np.testing.assert_allclose(model.intercept_, b, atol=1e-9)


def test_rrr_beats_other_rank_r_truncations():
    rng = np.random.default_rng(10)
    n, p, q, r = 100, 12, 8, 3
    X = _design(rng, n, p, rho=0.7)
    Y = X @ rng.normal(size=(p, q)) + rng.normal(size=(n, q))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)

    def rss(C):
        return np.sum((Yc - Xc @ C) ** 2)

    model = ReducedRankRegression(rank=r).fit(X, Y)
    best = rss(model.coef_.T)
    B = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
    U, s, Vt = np.linalg.svd(B, full_matrices=False)
    candidates = [U[:, :r] * s[:r] @ Vt[:r]]  # truncated SVD of OLS
    R = Ridge(alpha=10.0).fit(X, Y).coef_.T
    U, s, Vt = np.linalg.svd(R, full_matrices=False)
    candidates.append(U[:, :r] * s[:r] @ Vt[:r])  # truncated SVD of ridge
    for _ in range(20):  # OLS projected on random rank-r response subspaces
        Q = np.linalg.qr(rng.normal(size=(q, r)))[0]
        candidates.append(B @ Q @ Q.T)
    for C in candidates:
        assert np.linalg.matrix_rank(C) == r
        assert best < rss(C)


def test_rrr_rsc_recovers_true_rank():
    rng = np.random.default_rng(11)
    n, p, q, r = 300, 20, 15, 3
    X = _design(rng, n, p)
    Y = X @ _low_rank(rng, p, q, r) + 0.5 * rng.normal(size=(n, q))
    model = ReducedRankRegression().fit(X, Y)
    assert model.rank_ == r
    # Sparse input gives the same answer.
    model_sp = ReducedRankRegression().fit(sp.csr_matrix(X), Y)
    assert model_sp.rank_ == r
    np.testing.assert_allclose(model_sp.coef_, model.coef_, atol=1e-8)


def test_rrr_full_rank_is_ols(data):
    X, Y = data
    rrr = ReducedRankRegression(rank=Y.shape[1]).fit(X, Y)
    np.testing.assert_allclose(rrr.coef_, TargetOLS().fit(X, Y).coef_, atol=1e-9)


def test_rrr_rank_errors(data):
    X, Y = data
    with pytest.raises(ValueError, match=r"min\(n_features, n_targets\) = min\(8, 3\) = 3"):
        ReducedRankRegression(rank=4).fit(X, Y)
    rng = np.random.default_rng(12)
    Z = rng.normal(size=(40, 2))
    X_low = np.hstack([Z, Z @ rng.normal(size=(2, 3))])  # 5 features, rank 2
    Y_low = rng.normal(size=(40, 4))
    with pytest.raises(ValueError, match="rank of the design, 2"):
        ReducedRankRegression(rank=3).fit(X_low, Y_low)
    assert ReducedRankRegression().fit(X_low, Y_low).rank_ <= 2


# ----------------------------------------------------------------------------- transfer


def _transfer_problem(rng, n=40, p=30, q=6, noise=0.05):
    C_true = _low_rank(rng, p, q, 3, scale=1.0)
    X = _design(rng, n, p)
    Y = X @ C_true + 0.7 + noise * rng.normal(size=(n, q))
    return X, Y, C_true


def test_offset_perfect_source_beats_ridge():
    rng = np.random.default_rng(13)
    X, Y, C_true = _transfer_problem(rng)
    offset = OffsetTransfer(C_true.T).fit(X, Y)
    ridge = TargetRidge().fit(X, Y)
    err_offset = np.linalg.norm(offset.coef_.T - C_true)
    err_ridge = np.linalg.norm(ridge.coef_.T - C_true)
    assert err_offset < 0.1 * err_ridge
    X_test = _design(rng, 200, X.shape[1])
    Y_test = X_test @ C_true + 0.7
    assert offset.score(X_test, Y_test) > ridge.score(X_test, Y_test)


def test_offset_huge_penalty_returns_source():
    rng = np.random.default_rng(14)
    X, Y, C_true = _transfer_problem(rng)
    C0 = C_true + 0.3 * rng.normal(size=C_true.shape)
    model = OffsetTransfer(C0.T, alphas=(1e12,)).fit(X, Y)
    np.testing.assert_allclose(model.coef_, C0.T, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, Y.mean(0) - X.mean(0) @ C0, atol=1e-6)


@pytest.mark.parametrize("fmt", [None, sp.csr_matrix])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_offset_is_ridge_on_residual_responses(fmt, fit_intercept):
    # The residual statistics must be exactly those of Y - X C0.
    rng = np.random.default_rng(15)
    X, Y, C_true = _transfer_problem(rng, noise=0.5)
    C0 = C_true + 0.2 * rng.normal(size=C_true.shape)
    R = Y - X @ C0
    model = OffsetTransfer(C0.T, fit_intercept=fit_intercept).fit(_maybe_sparse(X, fmt), Y)
    on_resid = TargetRidge(fit_intercept=fit_intercept).fit(X, R)
    np.testing.assert_array_equal(model.alpha_, on_resid.alpha_)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=model.alpha_[j], fit_intercept=fit_intercept).fit(X, R[:, j])
        np.testing.assert_allclose(model.coef_[j], C0[:, j] + ref.coef_, atol=1e-8)
        np.testing.assert_allclose(model.intercept_[j], ref.intercept_, atol=1e-8)


@pytest.mark.parametrize("fmt", [None, sp.csc_matrix])
def test_source_only_predictions(fmt):
    rng = np.random.default_rng(16)
    X, Y, C_true = _transfer_problem(rng)
    C0 = C_true.T  # sklearn orientation
    Xf = _maybe_sparse(X, fmt)
    fitted = SourceOnly(C0).fit(Xf, Y)
    b = Y.mean(0) - X.mean(0) @ C0.T
    np.testing.assert_allclose(fitted.predict(Xf), X @ C0.T + b, atol=1e-10)
    given = SourceOnly(C0, source_intercept=np.arange(6.0)).fit(Xf, Y)
    np.testing.assert_allclose(given.predict(Xf), X @ C0.T + np.arange(6.0), atol=1e-10)
    scalar = SourceOnly(C0, source_intercept=2.0, fit_intercept=False).fit(Xf, Y)
    np.testing.assert_allclose(scalar.predict(Xf), X @ C0.T + 2.0, atol=1e-10)
    none = SourceOnly(C0, fit_intercept=False).fit(Xf, Y)
    np.testing.assert_allclose(none.predict(Xf), X @ C0.T, atol=1e-10)
    np.testing.assert_array_equal(none.coef_, C0)


def test_source_only_bad_intercept(data):
    X, Y = data
    C0 = np.zeros((3, 8))
    with pytest.raises(ValueError, match=r"source_intercept has shape \(2,\).*\(3,\)"):
        SourceOnly(C0, source_intercept=[1.0, 2.0]).fit(X, Y)
    with pytest.raises(ValueError, match="NaN"):
        SourceOnly(C0, source_intercept=np.nan).fit(X, Y)


@pytest.mark.parametrize("cls", [OffsetTransfer, SourceOnly])
def test_bad_source_shape_names_shapes(data, cls):
    X, Y = data  # 8 features, 3 targets
    with pytest.raises(ValueError, match=r"shape \(8, 3\).*expected \(3, 8\)"):
        cls(np.zeros((8, 3))).fit(X, Y)  # the paper's p x q orientation by mistake
    with pytest.raises(ValueError, match=r"shape \(3, 7\)"):
        cls(np.zeros((3, 7))).fit(X, Y)


# ----------------------------------------------------------------------------- API


def _all_estimators(p, q):
    C0 = np.zeros(p) if q is None else np.zeros((q, p))
    return [
        TargetOLS(),
        TargetRidge(),
        TargetLasso(random_state=0),
        ReducedRankRegression(),
        OffsetTransfer(C0),
        SourceOnly(C0),
    ]


@pytest.mark.parametrize("idx", range(6))
def test_1d_y_gives_1d_outputs(data, idx):
    X, Y = data
    y = Y[:, 0]
    est = _all_estimators(X.shape[1], None)[idx].fit(X, y)
    assert est.predict(X).shape == (X.shape[0],)
    assert est.coef_.shape == (X.shape[1],)
    assert isinstance(est.intercept_, float)
    if hasattr(est, "alpha_"):
        assert isinstance(est.alpha_, float)
    # Same numbers as the 2-D fit of that one column.
    C0 = np.zeros((1, X.shape[1]))
    est2 = (
        clone(est)
        .set_params(**({"source_coef": C0} if "source_coef" in est.get_params() else {}))
        .fit(X, Y[:, :1])
    )
    np.testing.assert_allclose(est.predict(X), est2.predict(X)[:, 0], atol=1e-12)


@pytest.mark.parametrize("idx", range(6))
def test_pipeline_and_clone(data, idx):
    X, Y = data
    est = _all_estimators(X.shape[1], Y.shape[1])[idx]
    pipe = make_pipeline(StandardScaler(), est).fit(X, Y)
    assert pipe.predict(X).shape == Y.shape
    cloned = clone(pipe)
    assert not hasattr(cloned[-1], "coef_")
    np.testing.assert_allclose(cloned.fit(X, Y).predict(X), pipe.predict(X), atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    # TargetLasso is not in the brief's list but passes the suite as well.
    [TargetOLS(), TargetRidge(), ReducedRankRegression(), TargetLasso()],
    ids=lambda e: type(e).__name__,
)
def test_sklearn_check_estimator(estimator):
    with warnings.catch_warnings():
        # check_array_api_input skips itself unless SCIPY_ARRAY_API is set; that
        # is scikit-learn's environment switch, not a property of ours.
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}




def test_all_lists_the_six_classes():
    # The six target-only and source-only classes, each exported by its family module.
    six = {"TargetOLS", "TargetRidge", "TargetLasso", "ReducedRankRegression",
           "OffsetTransfer", "SourceOnly"}
    families = [least_squares, baselines, source_aware]
    assert six <= set().union(*(module.__all__ for module in families))
    assert sorted(least_squares.__all__) == ["ReducedRankRegression", "TargetOLS",
                                             "TargetRidge"]
    assert baselines.__all__ == ["TargetLasso"]


@pytest.mark.parametrize("fmt", [None, sp.csr_matrix])
def test_constant_feature_gets_zero_coefficient(fmt):
    # Centring sparse sums leaves a constant column a round-off variance, not an
    # exact zero; no estimator may divide by it.
    rng = np.random.default_rng(17)
    X = _design(rng, 60, 6, density=0.6)
    X[:, 2] = 2.7  # 2.7**2 is inexact: the centred variance is ~1e-14, not 0
    Y = X @ rng.normal(size=(6, 3)) + rng.normal(size=(60, 3))
    Xf = _maybe_sparse(X, fmt)
    refs = {
        TargetOLS: LinearRegression().fit(X, Y),
        TargetLasso: None,
        TargetRidge: None,
        ReducedRankRegression: None,
    }
    for cls, ref in refs.items():
        est = cls().fit(Xf, Y)
        assert np.all(np.isfinite(est.coef_))
        assert np.abs(est.coef_[:, 2]).max() < 1e-6, cls.__name__
        if ref is not None:
            np.testing.assert_allclose(est.predict(Xf), ref.predict(X), atol=1e-8)


def test_lasso_workers_give_the_serial_fit():
    rng = np.random.default_rng(21)
    X = _design(rng, 80, 15)
    Y = X[:, :3] @ rng.normal(size=(3, 5)) + rng.normal(size=(80, 5))
    serial = TargetLasso(random_state=0).fit(X, Y)
    parallel = TargetLasso(random_state=0, n_jobs=2).fit(X, Y)
    # The same penalties; the sums over a subset of responses differ in round-off only.
    np.testing.assert_array_equal(parallel.alpha_, serial.alpha_)
    np.testing.assert_allclose(parallel.cv_mse_, serial.cv_mse_, rtol=1e-12)
    np.testing.assert_allclose(parallel.coef_, serial.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(parallel.intercept_, serial.intercept_, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- registry


def test_source_methods_maps_the_fit_source_names_to_classes():
    expected = {"ols": TargetOLS, "ridge": TargetRidge, "lasso": TargetLasso,
                "rrr": ReducedRankRegression, "srrr": SRRR, "rssvd": RSSVD, "sofar": SOFAR}
    assert dict(SOURCE_METHODS) == expected
    for name, cls in expected.items():
        assert source_method(name) is cls


def test_source_methods_is_read_only():
    assert isinstance(SOURCE_METHODS, types.MappingProxyType)
    with pytest.raises(TypeError):
        SOURCE_METHODS["ridge"] = TargetOLS  # type: ignore[index]
    assert SOURCE_METHODS["ridge"] is TargetRidge


@pytest.mark.parametrize("name", ["Ridge", "ridge ", "smart", "", None, ["ols"]])
def test_unknown_source_method_raises_listing_the_known_names(name):
    # No fallback: a misspelt or unhashable name is refused, never mapped to a default.
    known = "['lasso', 'ols', 'ridge', 'rrr', 'rssvd', 'sofar', 'srrr']"
    with pytest.raises(ValueError, match=re.escape(f"method must be one of {known}, got {name!r}")):
        source_method(name)


def test_registry_is_public():
    import smart_sc.baselines

    assert {"SOURCE_METHODS", "source_method"} <= set(smart_sc.baselines.__all__)

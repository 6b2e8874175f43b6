"""SMARTRegressor: what the paper guarantees, what users rely on, what must be refused."""

import logging
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from smart_sc import SmallTargetWarning, SMARTRegressor
from smart_sc.baselines import ReducedRankRegression, TargetRidge
from smart_sc.datasets import estimation_error, simulate_transfer


@pytest.fixture(scope="module")
def model_one():
    return simulate_transfer(200, 100, 50, random_state=11)


@pytest.fixture(scope="module")
def small_sim():
    return simulate_transfer(150, 30, 20, rank=3, structural_rank=6, random_state=5)


def test_known_rank_recovers_the_paper_design(model_one):
    sim = model_one
    fit = SMARTRegressor(sim.source_coef, rank=5, structural_rank=10, alpha=0.0, blend=False,
                         fit_intercept=False).fit(sim.X, sim.Y)
    err = estimation_error(fit.coef_, sim.true_coef)
    ridge = estimation_error(TargetRidge(fit_intercept=False).fit(sim.X, sim.Y).coef_,
                             sim.true_coef)
    # Paper, Model I n=200: SMART ~0.006-0.009, ridge ~0.05, source-only ~0.3.
    assert err < 0.012
    assert err < ridge / 4
    assert err < estimation_error(sim.source_coef, sim.true_coef) / 20
    assert fit.converged_ and fit.rank_ == 5 and fit.structural_rank_ == (10, 10)
    assert fit.lam_ in fit.bic_path_["lambdas"]
    assert fit.bic_path_["bic"].argmin() == list(fit.bic_path_["lambdas"]).index(fit.lam_)
    assert len(fit.objective_history_) == fit.n_iter_ == len(fit.dual_residual_history_)
    assert fit.primal_residual_history_[-1] <= 1e-3 and fit.dual_residual_history_[-1] <= 1e-3


@pytest.mark.parametrize("with_source", [True, False])
def test_penalty_off_gives_reduced_rank_regression(small_sim, with_source):
    sim = small_sim
    p, q = sim.X.shape[1], sim.Y.shape[1]
    source = sim.source_coef if with_source else None
    fit = SMARTRegressor(source, rank=3, structural_rank=(p, q), lam=0.0, alpha=0.0, blend=False,
                         tol=1e-7, max_iter=5000).fit(sim.X, sim.Y)
    rrr = ReducedRankRegression(rank=3).fit(sim.X, sim.Y)
    rel = np.linalg.norm(fit.coef_ - rrr.coef_) / np.linalg.norm(rrr.coef_)
    assert rel <= 1e-4
    assert np.allclose(fit.intercept_, rrr.intercept_, atol=1e-4)


def test_data_driven_transfer_beats_target_only(small_sim):
    sim = small_sim
    fit = SMARTRegressor(sim.source_coef, tuning="paper", blend=False,
                         random_state=0).fit(sim.X, sim.Y)
    rrr = ReducedRankRegression().fit(sim.X, sim.Y)
    assert fit.rank_ == 3 and fit.blend_ is None
    assert estimation_error(fit.coef_, sim.true_coef) < 0.7 * estimation_error(
        rrr.coef_, sim.true_coef)
    mse = fit.cv_results_["mse"]
    assert mse.shape == (len(fit.cv_results_["structural_ranks"]),
                         len(fit.cv_results_["alphas"]))
    assert 0.0 in fit.cv_results_["alphas"]
    assert fit.alpha_ in fit.cv_results_["alphas"]


def test_unrelated_source_costs_little():
    """Negative transfer: a random source must not be much worse than target-only RRR."""
    ratios = []
    for seed in (1, 2):
        sim = simulate_transfer(150, 30, 20, rank=3, structural_rank=6, random_state=seed)
        rng = np.random.default_rng(100 + seed)
        unrelated = rng.normal(size=sim.source_coef.shape)
        smart = SMARTRegressor(unrelated, random_state=seed).fit(sim.X, sim.Y)
        rrr = ReducedRankRegression().fit(sim.X, sim.Y)
        ratios.append(estimation_error(smart.coef_, sim.true_coef)
                      / estimation_error(rrr.coef_, sim.true_coef))
    assert np.mean(ratios) <= 1.15


def test_a_refit_at_a_given_rank_drops_the_previous_rsc_record(small_sim):
    sim = small_sim
    est = SMARTRegressor(sim.source_coef, blend=False, random_state=0).fit(sim.X, sim.Y)
    record = est.rank_selection_
    assert int(np.sum(record["eigenvalues"] >= record["threshold"])) == min(
        est.cv_results_["ranks"])
    est.set_params(rank=2, structural_rank=(4, 4), lam=0.1, alpha=0.0).fit(sim.X, sim.Y)
    assert est.rank_ == 2 and est.rank_selection_ is None


def test_same_random_state_same_result_bit_for_bit(small_sim):
    sim = small_sim
    a = SMARTRegressor(sim.source_coef, random_state=3).fit(sim.X, sim.Y)
    b = SMARTRegressor(sim.source_coef, random_state=3).fit(sim.X, sim.Y)
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.intercept_, b.intercept_)
    assert a.structural_rank_ == b.structural_rank_ and a.lam_ == b.lam_


def test_small_target_is_finite_warns_once_and_matches_ridge():
    """Fewer training cells than genes, a design where ridge is the right model."""
    rng = np.random.default_rng(0)
    p, q, n_train, n_test = 80, 12, 50, 400
    C = rng.normal(size=(p, 4)) @ rng.normal(size=(4, q)) / np.sqrt(p)
    X = rng.normal(size=(n_train + n_test, p))
    Y = X @ C + rng.normal(size=(n_train + n_test, q))
    source = (C + 0.3 * rng.normal(size=C.shape) / np.sqrt(p)).T
    Xtr, Ytr, Xte, Yte = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = SMARTRegressor(source, random_state=0).fit(Xtr, Ytr)
    small = [w for w in caught if issubclass(w.category, SmallTargetWarning)]
    assert len(small) == 1
    assert "singular" in str(small[0].message)
    assert fit.small_target_
    assert np.all(np.isfinite(fit.coef_))
    ridge = TargetRidge().fit(Xtr, Ytr)
    mse_smart = np.mean((fit.predict(Xte) - Yte) ** 2)
    mse_ridge = np.mean((ridge.predict(Xte) - Yte) ** 2)
    assert mse_smart <= mse_ridge * 1.02


def test_iteration_caps_of_the_data_driven_fit(monkeypatch):
    """Fold fits stop at the fast cap, alpha checks at theirs, only the final path runs long."""
    import smart_sc._core.selection.tuning as tuning
    from smart_sc._core.fit import ALPHA_CHECK_MAX_ITER, FAST_CV_MAX_ITER, SmartSettings

    calls = []
    solve = tuning.solve_admm

    def recording(problem, state, **kw):
        calls.append((kw["tol"], kw["max_iter"]))
        return solve(problem, state, **kw)

    monkeypatch.setattr(tuning, "solve_admm", recording)
    rng = np.random.default_rng(3)
    p, q, n = 60, 8, 30  # fewer cells than genes: the ill-posed route prices alpha
    C = rng.normal(size=(p, 2)) @ rng.normal(size=(2, q)) / np.sqrt(p)
    X = rng.normal(size=(n, p))
    Y = X @ C + rng.normal(size=(n, q))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallTargetWarning)
        fit = SMARTRegressor((C + 0.1 * rng.normal(size=C.shape)).T, random_state=0).fit(X, Y)
    assert "pilot_alpha_cv" in fit.cv_results_
    loose = {m for tol, m in calls if tol == SmartSettings().cv_tol}
    final = [m for tol, m in calls if tol == fit.tol]
    assert loose == {FAST_CV_MAX_ITER}
    assert ALPHA_CHECK_MAX_ITER in final
    # Only the final lambda path, one run per lambda, may use all of max_iter.
    assert final.count(fit.max_iter) == len(fit.bic_path_["lambdas"])
    assert set(final) == {ALPHA_CHECK_MAX_ITER, fit.max_iter}


def test_dense_and_sparse_inputs_agree(small_sim):
    sim = small_sim
    X = sim.X.copy()
    X[np.abs(X) < 0.8] = 0.0  # make it genuinely sparse
    params = dict(rank=3, structural_rank=6, lam=0.05, alpha=0.0, tol=1e-10, max_iter=5000,
                  blend=False)
    dense = SMARTRegressor(sim.source_coef, **params).fit(X, sim.Y)
    assert dense.converged_
    for fmt in (sp.csr_matrix, sp.csc_matrix):
        sparse = SMARTRegressor(sim.source_coef, **params).fit(fmt(X), sim.Y)
        assert np.allclose(sparse.coef_, dense.coef_, atol=1e-8)
        assert np.allclose(sparse.intercept_, dense.intercept_, atol=1e-8)
        assert np.allclose(sparse.predict(fmt(X)), dense.predict(X), atol=1e-8)


def test_round_off_ties_in_bic_go_to_the_larger_lambda():
    # Above lambda_max every fit is the same point; dense and sparse storage of
    # the same cells differ in the round-off of its RSS, and that alone must not
    # decide which lambda is reported (it did: 100 dense, 7.7 sparse).
    sim = simulate_transfer(120, 30, 8, rank=3, structural_rank=6, random_state=0)
    X = sim.X.copy()
    X[np.abs(X) < 0.5] = 0.0
    fits = [SMARTRegressor(sim.source_coef, random_state=0).fit(x, sim.Y + 3.0)
            for x in (X, sp.csr_matrix(X))]
    bic = fits[0].bic_path_["bic"]
    assert np.ptp(bic[:4]) < 1e-12 and bic[4] > bic[0] + 1e-3  # four tied, then worse
    assert fits[0].lam_ == fits[1].lam_ == fits[0].bic_path_["lambdas"].max()
    np.testing.assert_allclose(fits[1].coef_, fits[0].coef_, atol=1e-12)


def test_one_dimensional_target(small_sim):
    sim = small_sim
    y = sim.Y[:, 0]
    fit = SMARTRegressor(sim.source_coef[0], rank=1, structural_rank=3, alpha=0.0,
                         blend=False).fit(
        sim.X, y)
    assert fit.coef_.shape == (sim.X.shape[1],)
    assert isinstance(fit.intercept_, float)
    assert fit.predict(sim.X).shape == (sim.X.shape[0],)
    assert fit.score(sim.X, y) > 0.5


def test_intercept_is_recovered(small_sim):
    sim = small_sim
    shift = np.linspace(-3, 3, sim.Y.shape[1])
    params = dict(rank=3, structural_rank=6, lam=0.05, alpha=0.0, tol=1e-9, max_iter=5000,
                  blend=False)
    fit = SMARTRegressor(sim.source_coef, **params).fit(sim.X + 5.0, sim.Y + shift)
    ref = SMARTRegressor(sim.source_coef, **params).fit(sim.X, sim.Y)
    assert np.allclose(fit.coef_, ref.coef_, atol=1e-6)
    assert np.allclose(fit.predict(sim.X + 5.0), ref.predict(sim.X) + shift, atol=1e-6)


def test_non_convergence_is_reported(small_sim, caplog):
    sim = small_sim
    with caplog.at_level(logging.WARNING, logger="smart_sc"), pytest.warns(
            ConvergenceWarning, match="did not converge in 2 iterations") as record:
        fit = SMARTRegressor(sim.source_coef, rank=3, structural_rank=2, lam=1.0, alpha=0.0,
                             max_iter=2, blend=False).fit(sim.X, sim.Y)
    assert not fit.converged_ and fit.n_iter_ == 2
    assert any("did not converge" in r.getMessage() for r in caplog.records)
    # The warning points at the caller's line, not into the package.
    assert record[0].filename == __file__


def test_works_in_pipeline_clone_and_cross_validation(small_sim):
    sim = small_sim
    est = make_pipeline(StandardScaler(), SMARTRegressor(sim.source_coef, rank=3,
                                                         structural_rank=6, alpha=0.0))
    scores = cross_val_score(est, sim.X, sim.Y, cv=3)
    assert np.all(scores > 0.5)
    cloned = clone(est)
    assert cloned.get_params()["smartregressor__rank"] == 3
    assert not hasattr(cloned[-1], "coef_")


def test_scikit_learn_estimator_checks():
    check_estimator(SMARTRegressor())


@pytest.mark.parametrize(
    ("kwargs", "X_edit", "message"),
    [
        ({}, "nan", "NaN"),
        ({}, "inf", "infinity"),
        ({"lam": -1.0}, None, "'lam' parameter of SMARTRegressor must be a float in the range"),
        ({"alpha": -0.1}, None, "'alpha' parameter"),
        ({"rank": 25}, None, "rank=25 exceeds min"),
        ({"rank": 0}, None, "'rank' parameter of SMARTRegressor must be an int in the range"),
        ({"structural_rank": (31, -3)}, None, r"structural_rank must be .* a pair"),
        ({"structural_rank": -1}, None, "'structural_rank' parameter"),
        ({"cv": 1}, None, "'cv' parameter"),
        ({"tol": 0}, None, "'tol' parameter"),
        ({"tuning": "quick"}, None, "'tuning' parameter"),
    ],
)
def test_bad_input_raises_a_clear_error(small_sim, kwargs, X_edit, message):
    sim = small_sim
    X = sim.X.copy()
    if X_edit == "nan":
        X[3, 4] = np.nan
    elif X_edit == "inf":
        X[0, 0] = np.inf
    with pytest.raises(ValueError, match=message):
        SMARTRegressor(sim.source_coef, **kwargs).fit(X, sim.Y)


def test_parameter_rules_are_the_named_shared_ones():
    # SMARTRegressor and the baselines hold their parameters to the same rules.
    from smart_sc.baselines import _params

    rules = SMARTRegressor._parameter_constraints
    assert rules["rank"] == [_params.POSITIVE_INT, None]
    assert rules["structural_rank"][0] is _params.NONNEGATIVE_INT
    for name in ("lam", "alpha", "source_pull"):
        assert rules[name] == [_params.NONNEGATIVE, None]
    assert rules["tol"] == [_params.POSITIVE]
    assert rules["max_iter"] == [_params.POSITIVE_INT]
    assert rules["cv"] == [_params.FOLDS]


def test_source_shape_and_content_are_checked(small_sim):
    sim = small_sim
    with pytest.raises(ValueError, match=r"source_coef has shape \(20, 29\)"):
        SMARTRegressor(sim.source_coef[:, :29]).fit(sim.X, sim.Y)
    bad = sim.source_coef.copy()
    bad[0, :3] = np.nan
    with pytest.raises(ValueError, match="3 NaN"):
        SMARTRegressor(bad).fit(sim.X, sim.Y)


def test_a_named_source_is_matched_to_the_design_by_gene_name(small_sim):
    import pandas as pd

    from smart_sc.baselines import SourceOnly

    sim = small_sim
    genes = [f"g{j}" for j in range(sim.X.shape[1])]
    X = pd.DataFrame(sim.X, columns=genes)
    C0 = pd.DataFrame(sim.source_coef, columns=genes)
    shuffled = C0[genes[::-1]]
    kw = dict(rank=3, structural_rank=6, lam=0.05, alpha=0.0, blend=False,
              transfer_gain=False)
    ordered = SMARTRegressor(C0, **kw).fit(X, sim.Y)
    np.testing.assert_array_equal(SMARTRegressor(shuffled, **kw).fit(X, sim.Y).coef_,
                                  ordered.coef_)
    np.testing.assert_array_equal(SourceOnly(shuffled).fit(X, sim.Y).coef_,
                                  SourceOnly(C0).fit(X, sim.Y).coef_)
    renamed = shuffled.rename(columns={"g0": "CD3E"})
    with pytest.raises(ValueError, match=r"1 of X's 30 genes are missing \(e.g. \['g0'\]\)"
                       r".*1 are not in X \(e.g. \['CD3E'\]\)"):
        SMARTRegressor(renamed, **kw).fit(X, sim.Y)


def test_rank_above_the_source_rank_is_refused(small_sim):
    sim = small_sim
    low = sim.source_coef_pq[:, :2] @ np.eye(2, sim.Y.shape[1])  # rank-2 source
    with pytest.raises(ValueError, match="rank of source_coef"):
        SMARTRegressor(low.T, rank=3).fit(sim.X, sim.Y)


def test_too_few_samples_for_the_folds():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 5)), rng.normal(size=(8, 3))
    with pytest.raises(ValueError, match="5-fold cross-validation needs at least 10"):
        SMARTRegressor(rng.normal(size=(3, 5))).fit(X, Y)


def test_feature_order_matters_only_where_the_source_basis_is_not_determined():
    """Permuting features permutes the fit when C0 determines its bases (rank p = q)."""
    rng = np.random.default_rng(0)
    n, q = 150, 15
    params = dict(rank=2, structural_rank=3, lam=0.1, alpha=0.0, blend=False, tol=1e-8,
                  max_iter=3000)

    def moved(p, source_rank):
        X = rng.normal(size=(n, p))
        C0 = rng.normal(size=(q, source_rank)) @ rng.normal(size=(source_rank, p))
        Y = X @ C0[:3].T.repeat(7, axis=1)[:, :q] / p + rng.normal(size=(n, q))
        perm = rng.permutation(p)
        a = SMARTRegressor(C0, **params).fit(X, Y).coef_
        b = SMARTRegressor(C0[:, perm], **params).fit(X[:, perm], Y).coef_
        return np.linalg.norm(b - a[:, perm]) / np.linalg.norm(a)

    assert moved(15, 15) < 1e-6  # rank(C0) = p = q: both bases are C0's own
    assert moved(30, 4) > 1e-6  # beyond rank(C0) the completion follows the order


def test_structural_rank_has_one_rule_for_both_forms(small_sim):
    sim = small_sim  # p = 30, q = 20
    params = dict(rank=2, lam=0.1, alpha=0.0, blend=False)
    tied = SMARTRegressor(sim.source_coef, structural_rank=1000, **params).fit(sim.X, sim.Y)
    pair = SMARTRegressor(sim.source_coef, structural_rank=(1000, 1000), **params).fit(
        sim.X, sim.Y)
    assert tied.structural_rank_ == pair.structural_rank_ == (30, 20)
    np.testing.assert_array_equal(tied.coef_, pair.coef_)


def test_a_zero_source_is_refused_with_the_reason(small_sim):
    sim = small_sim
    with pytest.raises(ValueError, match=r"source_coef is zero \(rank 0\)"):
        SMARTRegressor(np.zeros_like(sim.source_coef), random_state=0).fit(sim.X, sim.Y)


def test_source_pull_is_ridge_toward_the_scaled_source_when_nothing_else_binds():
    # Full rank and no transfer penalty: SMART is ridge regression, and with a
    # pull the minimiser is (S_xx + alpha I)^-1 (S_xy + alpha pull C0) in closed form.
    rng = np.random.default_rng(3)
    n, p, q = 60, 8, 4
    X = rng.standard_normal((n, p))
    C0 = rng.standard_normal((p, q))
    Y = X @ C0 + 0.5 * rng.standard_normal((n, q))
    alpha, pull = 0.7, 0.5
    fit = SMARTRegressor(C0.T, rank=q, structural_rank=(p, q), alpha=alpha, source_pull=pull,
                         blend=False, tol=1e-9, max_iter=5000).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    expected = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(p),
                               Xc.T @ Yc / n + alpha * pull * C0)
    np.testing.assert_allclose(fit.coef_.T, expected, atol=1e-5)
    toward_zero = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(p), Xc.T @ Yc / n)
    assert np.abs(fit.coef_.T - toward_zero).max() > 1e-2
    assert fit.source_pull_ == pull


# ----------------------------------------------------------------------------- transfer gain


@pytest.fixture(scope="module")
def paper_design():
    """A target that shares the source's subspaces (the paper's design), and a placebo."""
    sim = simulate_transfer(120, 60, 20, random_state=3)
    placebo = sim.source_coef[:, np.random.default_rng(0).permutation(60)]
    return sim, placebo


def _held_out_mse(make, X, Y, cv=5, seed=0):
    """K-fold error of ``make()`` refitted per fold, on scikit-learn's shuffled KFold."""
    from sklearn.model_selection import KFold

    sse = 0.0
    for train, test in KFold(cv, shuffle=True, random_state=seed).split(X):
        model = make().fit(X[train], Y[train])
        sse += float(((model.predict(X[test]) - Y[test]) ** 2).sum())
    return sse / Y.size


def test_transfer_gain_compares_with_the_no_source_fit_on_the_same_folds(paper_design):
    sim, _ = paper_design
    model = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6, lam=0.05, alpha=0.0,
                           blend=False, random_state=0).fit(sim.X, sim.Y)
    gain = model.transfer_gain_
    assert gain["gain"] == pytest.approx(gain["cv_mse_no_source"] / gain["cv_mse_source"] - 1)
    assert gain["no_source_rank"] == 3 and gain["no_source_alpha"] == 0.0  # all fixed
    # Both sides are K-fold errors of refits: recompute them with the public estimator.
    by_hand_source = _held_out_mse(lambda: SMARTRegressor(
        sim.source_coef, rank=3, structural_rank=6, lam=0.05, alpha=0.0, blend=False,
        transfer_gain=False, tol=1e-2), sim.X, sim.Y)
    by_hand_plain = _held_out_mse(lambda: SMARTRegressor(
        None, rank=3, alpha=0.0, blend=False, tol=1e-2), sim.X, sim.Y)
    assert gain["cv_mse_source"] == pytest.approx(by_hand_source, rel=0.02)
    assert gain["cv_mse_no_source"] == pytest.approx(by_hand_plain, rel=0.02)
    # The per-protein numbers add up to the overall ones.
    assert gain["per_target_gain"].shape == (20,) and gain["per_target_cv_r2"].shape == (20,)
    assert np.all(gain["per_target_cv_r2"] < 1)


def test_transfer_gain_sees_the_real_source_and_not_the_placebo(paper_design):
    sim, placebo = paper_design
    params = dict(rank=3, alpha=0.0, blend=False, random_state=0)
    real = SMARTRegressor(sim.source_coef, **params).fit(sim.X, sim.Y).transfer_gain_
    fake = SMARTRegressor(placebo, **params).fit(sim.X, sim.Y).transfer_gain_
    # The same no-source counterpart on the same folds...
    assert real["cv_mse_no_source"] == pytest.approx(fake["cv_mse_no_source"])
    # ...against which the real source's subspaces help, and shuffled ones do not.
    assert real["gain"] > 0.05
    assert fake["gain"] < real["gain"] / 3


def test_transfer_gain_is_zero_when_the_penalty_is_off(paper_design):
    # With structural ranks (p, q) the problem does not see the source's bases:
    # the fit with the source is the fit without it.
    sim, _ = paper_design
    model = SMARTRegressor(sim.source_coef, rank=3, structural_rank=(60, 20), alpha=0.1,
                           blend=False, random_state=0).fit(sim.X, sim.Y)
    assert model.transfer_gain_["gain"] == pytest.approx(0.0, abs=1e-3)


def test_no_transfer_gain_without_a_source_or_when_off(paper_design):
    sim, _ = paper_design
    assert SMARTRegressor(rank=3, alpha=0.0, blend=False).fit(sim.X, sim.Y).transfer_gain_ \
        is None
    off = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6, alpha=0.0, blend=False,
                         transfer_gain=False).fit(sim.X, sim.Y)
    assert off.transfer_gain_ is None
    on = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6, alpha=0.0, blend=False,
                        random_state=0).fit(sim.X, sim.Y)
    # The diagnostic never changes the fit, nor do its folds.
    np.testing.assert_array_equal(on.coef_, off.coef_)
    other_folds = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6, alpha=0.0,
                                 blend=False, random_state=1).fit(sim.X, sim.Y)
    np.testing.assert_array_equal(other_folds.coef_, off.coef_)


def test_a_source_with_nan_or_inf_is_named_with_its_counts():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 6)), rng.normal(size=(30, 3))
    C0 = rng.normal(size=(3, 6))
    C0[0, 1], C0[2, 2], C0[1, 0] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match=r"source_coef contains 1 NaN and 2 infinite value"):
        SMARTRegressor(C0, rank=2, structural_rank=2, lam=0.1, alpha=0.0,
                       blend=False).fit(X, Y)

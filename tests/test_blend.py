"""The cross-validated blend, the exact confined fit at large lambda, and the fast tuning."""

import numpy as np
import pytest

from smart_sc import SMARTRegressor
from smart_sc._core.selection.blend import choose_blend, residual_gram, simplex_grid
from smart_sc._core.solver.admm import (
    RotatedProblem,
    SourceBasis,
    constrained_state,
    lambda_max,
    solve_admm,
)
from smart_sc._core.sums.passes import compute_sums
from smart_sc._core.sums.stats import held_out_sse
from smart_sc.baselines import ReducedRankRegression, SourceOnly, TargetRidge
from smart_sc.datasets import estimation_error, simulate_transfer


@pytest.fixture(scope="module")
def sim():
    return simulate_transfer(150, 30, 20, rank=3, structural_rank=6, random_state=5)


def test_residual_gram_diagonal_is_validation_error_and_blend_is_quadratic(sim):
    rng = np.random.default_rng(0)
    train = compute_sums(sim.X[:100], sim.Y[:100]).to_stats(True)
    shift_x, shift_y = sim.X[:100].mean(0), sim.Y[:100].mean(0)
    held = compute_sums(sim.X[100:], sim.Y[100:], shift_x, shift_y)
    coefs = [rng.normal(size=(30, 20)) for _ in range(3)]
    gram = residual_gram(held, train, coefs)
    for i, C in enumerate(coefs):
        assert np.isclose(gram[i, i], held_out_sse(held, train, C).sum(), rtol=1e-10)
    w = np.array([0.2, 0.5, 0.3])
    blended = sum(wi * C for wi, C in zip(w, coefs, strict=True))
    assert np.isclose(w @ gram @ w, held_out_sse(held, train, blended).sum(), rtol=1e-10)


def test_simplex_grid_covers_vertices_and_sums_to_one():
    grid = simplex_grid(3, 0.1)
    assert grid.shape == (66, 3)
    assert np.allclose(grid.sum(1), 1.0) and grid.min() >= 0
    for vertex in np.eye(3):
        assert (np.abs(grid - vertex).sum(1) < 1e-12).any()


def test_blend_never_worse_than_a_component_and_ties_keep_smart():
    gram = np.diag([1.0, 2.0, 3.0]) + 0.5
    res = choose_blend(["smart", "source", "ridge"], gram, n_values=10)
    assert res.mse <= res.component_mse.min() + 1e-12
    tie = choose_blend(["smart", "ridge"], np.ones((2, 2)), n_values=1)
    assert np.array_equal(tie.weights, [1.0, 0.0])


def test_blend_follows_the_better_source(sim):
    # A source equal to the truth gets weight; an unrelated source gets none.
    good = SMARTRegressor(sim.true_coef, random_state=0).fit(sim.X, sim.Y)
    rng = np.random.default_rng(3)
    bad = SMARTRegressor(rng.normal(size=sim.source_coef.shape), random_state=0).fit(
        sim.X, sim.Y)
    assert good.blend_["weights"]["source"] >= 0.5
    assert bad.blend_["weights"]["source"] == 0.0
    for fit in (good, bad):
        b = fit.blend_
        assert b["blend_cv_mse"] <= min(b["cv_mse"].values()) + 1e-12
        # coef_ is the blend of its parts; smart_coef_ is SMART alone.
        w = b["weights"]
        ridge = TargetRidge().fit(sim.X, sim.Y).coef_
        source = fit.source_coef
        expected = w["smart"] * fit.smart_coef_ + w["source"] * source + w["ridge"] * ridge
        assert np.allclose(fit.coef_, expected, atol=1e-10)


def test_blend_matches_the_best_baseline_on_held_out_cells():
    """Where the source does not carry over, the default is not worse than the baselines."""
    rng = np.random.default_rng(11)
    p, q, n, n_test = 40, 15, 80, 2000
    C = rng.normal(size=(p, q)) / np.sqrt(p)  # full rank: nothing low-rank to borrow
    X = rng.normal(size=(n + n_test, p))
    Y = X @ C + rng.normal(size=(n + n_test, q))
    source = rng.normal(size=(q, p)) / np.sqrt(p)
    Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
    fit = SMARTRegressor(source, random_state=0).fit(Xtr, Ytr)

    def err(model):
        return np.sqrt(np.mean((model.predict(Xte) - Yte) ** 2))

    best = min(err(TargetRidge().fit(Xtr, Ytr)), err(SourceOnly(source).fit(Xtr, Ytr)))
    assert err(fit) <= 1.01 * best


def test_confined_state_is_exact_rrr_in_the_source_subspace_and_a_fixed_point(sim):
    stats = compute_sums(sim.X, sim.Y).to_stats(True)
    C0 = sim.source_coef.T
    basis = SourceBasis.from_coef(C0, *C0.shape)
    r_u = r_v = 6
    problem = RotatedProblem.from_stats(stats, basis, r_u, r_v, alpha=0.0)
    state = constrained_state(problem, 3)
    # Reduced-rank regression of Y on X U_s, mapped into V_s: the same coefficients.
    Us, Vs = basis.U0[:, :r_u], basis.V0[:, :r_v]
    rrr = ReducedRankRegression(rank=3).fit(sim.X @ Us, sim.Y @ Vs)
    expected = Us @ rrr.coef_.T @ Vs.T
    assert np.allclose(state.coef(basis), expected, atol=1e-8)
    lam = lambda_max(state)
    at = solve_admm(problem.with_params(lam_u=lam * 1.01, lam_v=lam * 1.01), state, tol=1e-8)
    assert at.converged and at.n_iter == 1
    below = solve_admm(problem.with_params(lam_u=lam * 0.5, lam_v=lam * 0.5), state,
                       tol=1e-8, max_iter=1)
    assert np.count_nonzero(below.state.omega_u) + np.count_nonzero(below.state.omega_v) > 0
    assert constrained_state(problem, 7) is None  # rank above the structural ranks


def test_fast_tuning_cross_validates_rsc_rank_and_two_above(sim):
    fit = SMARTRegressor(sim.source_coef, random_state=0).fit(sim.X, sim.Y)
    ranks = set(fit.cv_results_["ranks"])
    rsc = fit.rank_selection_
    assert min(ranks) >= 1 and len(ranks) == 2 and max(ranks) - min(ranks) == 2
    assert int(np.sum(rsc["eigenvalues"] >= rsc["threshold"])) == min(ranks)
    assert estimation_error(fit.smart_coef_, sim.true_coef) < 0.7 * estimation_error(
        ReducedRankRegression().fit(sim.X, sim.Y).coef_, sim.true_coef)
    paper = SMARTRegressor(sim.source_coef, tuning="paper", random_state=0).fit(sim.X, sim.Y)
    assert len(paper.cv_results_["structural_ranks"]) > len(fit.cv_results_["structural_ranks"]) / 2
    with pytest.raises(ValueError, match="'tuning' parameter"):
        SMARTRegressor(sim.source_coef, tuning="quick").fit(sim.X, sim.Y)


def test_svd_falls_back_when_divide_and_conquer_fails(monkeypatch):
    from smart_sc._core.solver import admm

    M = np.random.default_rng(0).normal(size=(12, 5))

    def failing(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(admm.np.linalg, "svd", failing)
    U, s, Vt = admm.robust_svd(M)
    assert np.allclose((U * s) @ Vt, M) and np.allclose(U.T @ U, np.eye(5))


def test_small_targets_take_blend_weights_from_repeated_folds(sim):
    small = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6,
                           random_state=0).fit(sim.X[:60], sim.Y[:60])
    large = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6,
                           random_state=0).fit(sim.X, sim.Y)
    assert small.blend_["n_partitions"] == 3 and large.blend_["n_partitions"] == 1
    again = SMARTRegressor(sim.source_coef, rank=3, structural_rank=6,
                           random_state=0).fit(sim.X[:60], sim.Y[:60])
    np.testing.assert_array_equal(small.coef_, again.coef_)  # still reproducible

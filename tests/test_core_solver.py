"""The maths the solver must satisfy, checked against theory rather than itself."""

import numpy as np
import pytest

from smart_sc._core.geometry.stiefel import minimize_quadratic, polar, riemannian_gradient
from smart_sc._core.selection.ridge import ridge_gcv
from smart_sc._core.selection.tuning import structural_pairs, structural_rank_grid
from smart_sc._core.solver.admm import RotatedProblem, SourceBasis, initial_state, solve_admm
from smart_sc._core.sums.passes import compute_sums
from smart_sc.datasets import simulate_transfer


def _uncentred_stats(X, Y):
    return compute_sums(X, Y, np.zeros(X.shape[1]), np.zeros(Y.shape[1])).to_stats(False)


def test_stiefel_solver_reaches_the_same_minimum_as_majorise_minimise():
    rng = np.random.default_rng(0)
    p, r = 40, 3
    Q = np.linalg.qr(rng.normal(size=(p, p)))[0]
    A = Q @ np.diag(np.linspace(0.2, 3.0, p)) @ Q.T
    d2 = np.array([9.0, 4.0, 1.0])
    P = np.zeros(p)
    P[5:] = 2.0

    def hess(W):
        return (A @ W) * d2 + P[:, None] * W

    B = rng.normal(size=(p, r)) * 5
    W0 = np.linalg.qr(rng.normal(size=(p, r)))[0]
    res = minimize_quadratic(W0, hess, B, tol=1e-9, max_iter=5000, step0=0.01)
    # Reference: the monotone majorise-minimise iteration, run to convergence.
    W = W0.copy()
    L = 3.0 * 9.0 + 2.0
    for _ in range(20000):
        W = polar(L * W - (hess(W) + B))

    def f(V):
        return 0.5 * np.vdot(V, hess(V)) + np.vdot(V, B)

    assert res.grad_norm <= 1e-9
    assert np.allclose(res.W.T @ res.W, np.eye(r), atol=1e-12)
    assert f(res.W) == pytest.approx(f(W), abs=1e-8)
    assert np.linalg.norm(riemannian_gradient(res.W, hess(res.W) + B)) <= 1e-9


def _rrr_closed_form(xx, xy, r):
    B = np.linalg.solve(xx, xy)
    _, evecs = np.linalg.eigh(B.T @ xx @ B)
    Vr = evecs[:, ::-1][:, :r]
    return B @ Vr @ Vr.T


def test_no_penalty_admm_is_reduced_rank_regression():
    sim = simulate_transfer(300, 20, 12, rank=3, structural_rank=5, random_state=1)
    stats = _uncentred_stats(sim.X, sim.Y)
    basis = SourceBasis.from_coef(sim.source_coef_pq, 20, 12)
    pb = RotatedProblem.from_stats(stats, basis, 20, 12)  # r_u = p, r_v = q: no penalty
    state = initial_state(ridge_gcv(stats).coef, basis, 3, 20, 12)
    res = solve_admm(pb, state, tol=1e-7, max_iter=5000)
    assert res.converged
    C = res.state.coef(basis)
    C_rrr = _rrr_closed_form(stats.xx, stats.xy, 3)
    assert np.linalg.norm(C - C_rrr) / np.linalg.norm(C_rrr) <= 1e-4


def test_admm_fixed_point_is_stationary_for_the_smart_objective():
    """KKT conditions of the SMART problem at a converged iterate.

    With Omega = W_perp: the multipliers are subgradients of lam ||Omega||_1, and
    the Riemannian gradient of the Lagrangian (fit + <Gamma, W_perp>) vanishes in
    U and V; the D-step is exact.
    """
    sim = simulate_transfer(200, 30, 20, rank=3, structural_rank=6, sigma0=0.05,
                            random_state=3)
    stats = _uncentred_stats(sim.X, sim.Y)
    basis = SourceBasis.from_coef(sim.source_coef_pq, 30, 20)
    lam, r_u, r_v = 0.05, 4, 4
    pb = RotatedProblem.from_stats(stats, basis, r_u, r_v, lam_u=lam, lam_v=lam)
    res = solve_admm(pb, initial_state(ridge_gcv(stats).coef, basis, 3, r_u, r_v),
                     tol=1e-7, max_iter=5000)
    assert res.converged
    st = res.state
    W, Z, d = st.W, st.Z, st.d
    # Primal feasibility.
    assert np.abs(W[r_u:] - st.omega_u).max() < 1e-5
    assert np.abs(Z[r_v:] - st.omega_v).max() < 1e-5
    # Subgradient: |Gamma| <= lam, and Gamma = lam sign(Omega) on the support.
    for gamma, omega in ((st.gamma_u, st.omega_u), (st.gamma_v, st.omega_v)):
        assert np.abs(gamma).max() <= lam * (1 + 1e-8)
        on = omega != 0
        assert on.any()
        assert np.allclose(gamma[on], lam * np.sign(omega[on]), atol=1e-8)
    # Riemannian gradients of the Lagrangian.
    Gu = (pb.A @ W) * d**2 - pb.M @ (Z * d)
    Gu[r_u:] += st.gamma_u
    Gv = -(pb.M.T @ (W * d))
    Gv[r_v:] += st.gamma_v
    assert np.linalg.norm(riemannian_gradient(W, Gu)) < 1e-5
    assert np.linalg.norm(riemannian_gradient(Z, Gv)) < 1e-5
    # D is the exact least-squares diagonal.
    num = np.einsum("ij,ij->j", W, pb.M @ Z)
    den = np.einsum("ij,ij->j", W, pb.A @ W)
    assert np.allclose(d, num / den, rtol=1e-10)
    # The recorded objective settles (ADMM is not monotone, but it converges).
    obj = np.asarray(res.objective)
    assert abs(obj[-1] - obj[-2]) < 1e-6 * abs(obj[-1])


def test_alpha_shrinks_only_the_d_step():
    sim = simulate_transfer(200, 30, 20, rank=3, structural_rank=6, random_state=4)
    stats = _uncentred_stats(sim.X, sim.Y)
    basis = SourceBasis.from_coef(sim.source_coef_pq, 30, 20)
    pb0 = RotatedProblem.from_stats(stats, basis, 6, 6, lam_u=1.0, lam_v=1.0)
    s0 = initial_state(ridge_gcv(stats).coef, basis, 3, 6, 6)
    d0 = solve_admm(pb0, s0, tol=1e-8, max_iter=3000).state.d
    d1 = solve_admm(pb0.with_params(alpha=0.5), s0, tol=1e-8, max_iter=3000).state.d
    assert np.all(np.abs(d1) < np.abs(d0))


def test_structural_rank_grid_follows_the_paper():
    grid = structural_rank_grid(5, 50, 100, 50)
    assert grid[:6] == [0, 1, 2, 3, 4, 5]
    assert 50 in grid and 100 in grid and max(grid) == 100
    assert grid == sorted(set(grid))
    # k0 > 10 r: r, 2r, ..., 5r then values from 6r to k0.
    wide = structural_rank_grid(2, 200, 300, 200)
    assert {2, 4, 6, 8, 10, 12, 200, 300} <= set(wide)
    pairs = structural_pairs([10, 60, 80, 120], 100, 50)
    assert pairs == [(10, 10), (60, 50), (80, 50), (100, 50)]


def test_split_hessian_takes_the_same_steps_as_the_plain_hessian():
    # One product with A per iteration (trial points reuse A W and A xi) must
    # not change the iterates: the same solution, iteration count and A W.
    from smart_sc._core.geometry.stiefel import SplitHessian

    rng = np.random.default_rng(4)
    p, r = 60, 4
    G = rng.normal(size=(p, 20))
    A = G @ G.T / 20
    d2 = np.array([4.0, 3.0, 2.0, 1.0])
    mask = np.r_[np.zeros(10), np.ones(p - 10)][:, None]
    B = rng.normal(size=(p, r))
    W0 = np.linalg.qr(rng.normal(size=(p, r)))[0]
    calls = []

    def apply(X):
        calls.append(1)
        return A @ X

    plain = minimize_quadratic(W0, lambda X: (A @ X) * d2 + 2.0 * mask * X, B, tol=1e-8,
                               max_iter=300, step0=0.05)
    split = minimize_quadratic(W0, SplitHessian(apply, lambda X, AX: AX * d2 + 2.0 * mask * X),
                               B, tol=1e-8, max_iter=300, step0=0.05)
    assert split.n_iter == plain.n_iter
    np.testing.assert_allclose(split.W, plain.W, atol=1e-9)
    np.testing.assert_allclose(split.applied, A @ split.W, atol=1e-9)
    assert len(calls) == split.n_iter + 1


@pytest.mark.parametrize("redundant", [False, True])
def test_stiefel_solver_in_the_coefficients_of_a_subspace_takes_the_plain_steps(redundant):
    # A quadratic whose gradient stays in span(basis): the solver on the
    # coefficients, with the basis' Gram matrix as inner product, must take the
    # plain solver's steps. The basis is not orthonormal; a redundant column
    # makes the Gram matrix singular, which nothing may invert. Along such a
    # column the coefficients are invisible to the solver and free to drift,
    # so that case is held to the short solves the ADMM makes (span.py).
    rng = np.random.default_rng(5)
    p, s, r = 80, 9, 3
    basis = rng.normal(size=(p, s)) / np.sqrt(p)
    if redundant:
        basis[:, -1] = basis[:, 0] - 2.0 * basis[:, 1]
    gram = basis.T @ basis
    S = rng.normal(size=(s, s))
    S = S @ S.T / s  # H = basis S basis^T maps the span into itself
    b = rng.normal(size=(s, r))
    c0 = np.linalg.qr(rng.normal(size=(s, r)))[0]
    c0 = c0 @ np.linalg.inv(np.linalg.cholesky(c0.T @ gram @ c0)).T  # W0^T W0 = I
    W0 = basis @ c0
    how = dict(tol=1e-9, max_iter=5 if redundant else 2000, step0=0.05)
    plain = minimize_quadratic(W0, lambda W: basis @ (S @ (basis.T @ W)), basis @ b, **how)
    coef = minimize_quadratic(c0, lambda c: S @ (gram @ c), b, metric=gram.__matmul__, **how)
    assert coef.n_iter == plain.n_iter
    assert redundant or plain.grad_norm <= 1e-9
    np.testing.assert_allclose(coef.grad_norm, plain.grad_norm, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(basis @ coef.W, plain.W, atol=1e-10)
    np.testing.assert_allclose(coef.W.T @ gram @ coef.W, np.eye(r), atol=1e-10)


@pytest.mark.parametrize("center", [True, False])
def test_factored_validation_error_equals_the_dense_one(center):
    # Cross-validation scores C = L diag(d) R^T through L^T S L; it must be
    # the same number as from S C, intercept and all.
    from smart_sc._core.sums.passes import fold_sums
    from smart_sc._core.sums.stats import held_out_sse, kfold_labels, total

    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 30)) + 1.5
    Y = X @ rng.normal(size=(30, 7)) + rng.normal(size=(80, 7)) + 3.0
    sums = fold_sums(X, Y, kfold_labels(80, 4, 0), 4, center=center)
    held = sums[1]
    train = (total(sums) - held).to_stats(center)
    L, R = rng.normal(size=(30, 3)), np.linalg.qr(rng.normal(size=(7, 3)))[0]
    d = np.array([2.0, -1.0, 0.5])
    C = (L * d) @ R.T
    dense = held_out_sse(held, train, C)
    # The residuals of the held-out cells themselves, with the training intercept.
    rows, train_rows = kfold_labels(80, 4, 0) == 1, kfold_labels(80, 4, 0) != 1
    b = (Y[train_rows].mean(0) - X[train_rows].mean(0) @ C) if center else 0.0
    direct = ((Y[rows] - X[rows] @ C - b) ** 2).sum(axis=0)
    np.testing.assert_allclose(dense, direct, rtol=1e-9)
    np.testing.assert_allclose(held_out_sse(held, train, L * d, R), direct, rtol=1e-9)
    # Some responses only: the columns of C (or rows of R) of those responses.
    cols = np.array([4, 1])
    np.testing.assert_allclose(held_out_sse(held, train, C[:, cols], targets=cols),
                               direct[cols], rtol=1e-9)
    np.testing.assert_allclose(held_out_sse(held, train, L * d, R[cols], targets=cols),
                               direct[cols], rtol=1e-9)


def test_rotated_start_gives_the_same_initial_state_as_the_coefficients():
    from smart_sc._core.solver.admm import RotatedStart

    sim = simulate_transfer(120, 30, 12, random_state=2)
    basis = SourceBasis.from_coef(sim.source_coef_pq, 30, 12)
    init = ridge_gcv(_uncentred_stats(sim.X, sim.Y)).coef
    start = RotatedStart.from_coef(init, basis)
    for r in (1, 4):
        a, b = initial_state(start, basis, r, 6, 6), initial_state(init, basis, r, 6, 6)
        for x, y in ((a.W, b.W), (a.Z, b.Z), (a.d, b.d)):
            np.testing.assert_allclose(x, y, atol=1e-12)
        assert a.W.shape == (30, r) and a.omega_u.shape == (24, r)

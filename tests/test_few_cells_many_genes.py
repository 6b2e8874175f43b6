"""Fewer cells than genes: the spectrum from the cells and the low-rank Gram are exact shortcuts.

With ``n < p`` the fit takes the design's spectrum from the cells' SVD and
multiplies by ``S_xx`` through a rank-``n`` factor. Both must give what the
``p x p`` route gives, to round-off.
"""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from smart_sc import SMARTRegressor
from smart_sc._core.selection.ridge import ridge_gcv
from smart_sc._core.solver import admm
from smart_sc._core.solver.admm import LowRankGram, RotatedProblem, SourceBasis, leading_block
from smart_sc._core.sums import spectrum
from smart_sc._core.sums.passes import compute_sums, fold_sums
from smart_sc._core.sums.stats import cell_fold_sums, kfold_labels, total


def _wide_data(seed=0, n=60, p=150, q=12, r=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 2.0  # non-zero means: centring matters
    C = rng.normal(size=(p, r)) @ rng.normal(size=(r, q)) / 8.0
    Y = X @ C + 0.5 * rng.normal(size=(n, q))
    C0 = C + 0.02 * rng.normal(size=(p, q))
    return X, Y, C0


@pytest.mark.parametrize("center", [True, False])
def test_spectrum_from_cells_equals_the_gram_eigendecomposition(center):
    X, Y, _ = _wide_data()
    shift = (None, None) if center else (np.zeros(X.shape[1]), np.zeros(Y.shape[1]))
    stats = compute_sums(X, Y, *shift).to_stats(center)
    from_gram = stats.xx_spectrum
    from_cells = spectrum.with_cell_spectrum(stats, X).xx_spectrum
    # Same numerical rank (n - 1 with centring, n without), same eigenvalues,
    # and the same projector (eigenvectors are defined up to sign).
    assert from_cells[0].size == from_gram[0].size == X.shape[0] - int(center)
    np.testing.assert_allclose(from_cells[0], from_gram[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(from_cells[1] @ from_cells[1].T,
                               from_gram[1] @ from_gram[1].T, atol=1e-9)


def test_spectrum_from_cells_refuses_the_wrong_cells():
    X, Y, _ = _wide_data()
    stats = compute_sums(X, Y).to_stats(True)
    with pytest.raises(ValueError, match="59 cells for statistics of 60"):
        spectrum.with_cell_spectrum(stats, X, np.arange(59))


def test_low_rank_gram_multiplies_like_the_dense_rotated_gram():
    X, Y, C0 = _wide_data()
    stats = compute_sums(X, Y).to_stats(True)
    basis = SourceBasis.from_coef(C0, X.shape[1], Y.shape[1])
    low = RotatedProblem.from_stats(stats, basis, 5, 5).A
    assert isinstance(low, LowRankGram)  # rank 59 of 150 features
    dense = basis.U0.T @ stats.xx @ basis.U0
    W = np.random.default_rng(1).normal(size=(X.shape[1], 4))
    np.testing.assert_allclose(low @ W, dense @ W, atol=1e-10 * np.abs(dense).max())
    np.testing.assert_allclose(leading_block(low, 7), dense[:7, :7], atol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_fit_with_fewer_cells_than_genes_equals_the_gram_route(monkeypatch, sparse):
    X, Y, C0 = _wide_data(seed=3)
    Xin = sp.csr_matrix(X) if sparse else X
    kwargs = dict(rank=3, structural_rank=6, lam=0.05, alpha=0.5, random_state=0)
    fast = SMARTRegressor(C0.T, **kwargs).fit(Xin, Y)
    # The p x p route: no spectrum from the cells.
    monkeypatch.setattr("smart_sc._core.fit.cells_are_cheaper", lambda X: False)
    monkeypatch.setattr("smart_sc._core.selection.tuning.cells_are_cheaper", lambda X: False)
    slow = SMARTRegressor(C0.T, **kwargs).fit(Xin, Y)
    assert fast.n_iter_ == slow.n_iter_
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-7 * np.abs(slow.coef_).max())
    assert fast.blend_["weights"] == pytest.approx(slow.blend_["weights"], abs=1e-9)


def _penalty_off_problem(seed=4, **params):
    X, Y, C0 = _wide_data(seed=seed)
    stats = spectrum.with_cell_spectrum(compute_sums(X, Y).to_stats(True), X)
    basis = SourceBasis.from_coef(C0, X.shape[1], Y.shape[1])
    p, q = C0.shape
    problem = RotatedProblem.from_stats(stats, basis, p, q, **params)
    start = admm.initial_state(ridge_gcv(stats).coef, basis, 3, p, q)
    return problem, start


@pytest.mark.parametrize("params", [{"alpha": 0.3}, {"alpha": 0.0},
                                    {"alpha": 0.3, "pull": 0.5}])
def test_penalty_off_fit_in_the_design_range_equals_the_gene_space_fit(params):
    # With no penalty on U the iterates stay in the range of S_xx (plus the
    # pull's source directions): the reduced iteration takes the same steps.
    problem, start = _penalty_off_problem(**params)
    assert admm.row_space(problem, start) is not None
    fast = admm.solve_admm(problem, start, tol=1e-6, max_iter=200, inner_max_iter=5)
    slow = admm._iterate(problem, start, tol=1e-6, max_iter=200, inner_max_iter=5,
                         record=True, p_scale=problem.p)
    assert fast.n_iter == slow.n_iter and fast.converged == slow.converged
    # The same steps up to round-off, which a non-convex iteration slowly
    # amplifies (1e-13 at first, 1e-7 after 200 iterations with the pull).
    np.testing.assert_allclose(fast.objective[:50], slow.objective[:50], rtol=1e-10)
    np.testing.assert_allclose(fast.objective, slow.objective, rtol=1e-5)
    C_fast = (fast.state.W * fast.state.d) @ fast.state.Z.T
    C_slow = (slow.state.W * slow.state.d) @ slow.state.Z.T
    np.testing.assert_allclose(C_fast, C_slow, atol=1e-5 * np.abs(C_slow).max())


def test_row_space_refuses_a_penalised_u_or_a_start_outside_the_range():
    problem, start = _penalty_off_problem(alpha=0.3)
    assert admm.row_space(problem.with_params(r_u=10), start) is None
    outside = start.copy()
    outside.W = np.linalg.qr(np.random.default_rng(0).normal(size=start.W.shape))[0]
    assert admm.row_space(problem, outside) is None


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
def test_deferred_fold_sums_are_the_fold_sums_bit_for_bit(center, sparse):
    # Ridge GCV on a design without residual degrees of freedom turns last-bit
    # changes of S_xy into other penalties: everything but sxx must be identical.
    X, Y, _ = _wide_data(seed=5)
    Xin = sp.csr_matrix(X) if sparse else X
    labels = kfold_labels(X.shape[0], 5, 0)
    held, train, tot = cell_fold_sums(Xin, Y, labels, 5, center=center)
    ref = fold_sums(Xin, Y, labels, 5, center=center)
    ref_tot = total(ref)
    pairs = [(tot, ref_tot), *zip(held, ref, strict=True),
             *((t, ref_tot - r) for t, r in zip(train, ref, strict=True))]
    # The few-cells sums densify the cells; the fold sums of sparse cells come
    # from sparse products (:mod:`smart_sc._core.sums.sparse`), equal to round-off
    # only. The fit never mixes the two: a few-cells fit takes all its sums here.
    same = (np.testing.assert_array_equal if not sparse else
            lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12))
    for a, b in pairs:
        for name in ("n", "sx", "sy", "sxy", "syy", "shift_x", "shift_y"):
            same(getattr(a, name), getattr(b, name))
        sa, sb = a.to_stats(center), b.to_stats(center)
        for name in ("xy", "yy", "x_mean", "y_mean"):
            same(getattr(sa, name), getattr(sb, name))
        assert "xx" not in sa.__dict__  # nothing above formed the p x p matrix
        np.testing.assert_allclose(sa.xx, sb.xx, atol=1e-12)  # formed when read
    M = np.random.default_rng(2).normal(size=(X.shape[1], 4))
    stats = tot.to_stats(center)
    np.testing.assert_allclose(stats.xx_times(M), ref_tot.to_stats(center).xx @ M, atol=1e-10)
    np.testing.assert_allclose(held[1].sxx_times(M), ref[1].sxx @ M, atol=1e-10)


def test_data_driven_fit_with_few_cells_equals_the_p_by_p_route(monkeypatch):
    # Everything tuned (rank, structural ranks, lambda, alpha, blend, transfer
    # gain) on 30 cells x 90 genes: the fold statistics from the cells, the
    # penalty-off fits in the design's range and the held-out products through
    # the cells choose and fit what the p x p route does.
    X, Y, C0 = _wide_data(seed=6, n=30, p=90, q=8)
    fast = SMARTRegressor(C0.T, random_state=0).fit(X, Y)
    monkeypatch.setattr("smart_sc._core.fit.few_cells", lambda X: False)
    monkeypatch.setattr("smart_sc._core.solver.admm.row_space", lambda problem, state: None)
    monkeypatch.setattr("smart_sc._core.sums.stats.RawSums.sxx_times",
                        lambda self, M: self.sxx @ M)
    slow = SMARTRegressor(C0.T, random_state=0).fit(X, Y)
    assert (fast.rank_, fast.structural_rank_, fast.lam_, fast.alpha_) == (
        slow.rank_, slow.structural_rank_, slow.lam_, slow.alpha_)
    assert fast.blend_["weights"] == pytest.approx(slow.blend_["weights"], abs=1e-9)
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-6 * np.abs(slow.coef_).max())


def test_deferred_fold_statistics_travel_to_workers():
    # The cross-validation's candidates go to joblib workers with their folds;
    # the deferred statistics (closures over the cells) must pickle and give
    # the serial fit.
    X, Y, C0 = _wide_data(seed=6, n=30, p=90, q=8)
    serial = SMARTRegressor(C0.T, random_state=0, blend=False, transfer_gain=False).fit(X, Y)
    workers = SMARTRegressor(C0.T, random_state=0, blend=False, transfer_gain=False,
                             n_jobs=2).fit(X, Y)
    assert (serial.rank_, serial.structural_rank_, serial.lam_, serial.alpha_) == (
        workers.rank_, workers.structural_rank_, workers.lam_, workers.alpha_)
    np.testing.assert_allclose(workers.coef_, serial.coef_, atol=1e-12)


def test_penalised_fit_with_m_through_the_design_range_equals_the_plain_products(monkeypatch):
    # With few cells M = U0^T S_xy V0 lies in the range of A = G G^T: M Z and
    # M^T W through G (and the U-step's carried G^T W) are the same products.
    problem, start, basis = _factored_problem()
    assert admm._range_products(problem, problem.fit_M) is not None
    fast = admm.solve_admm(problem, start, tol=1e-3, max_iter=300, inner_max_iter=5)
    monkeypatch.setattr(admm, "FACTOR_M", False)
    slow = admm.solve_admm(problem, start, tol=1e-3, max_iter=300, inner_max_iter=5)
    # Round-off apart: a non-convex iteration that runs long amplifies it (an
    # iteration or two more or less at 150 iterations, seen on this toy).
    assert fast.converged and slow.converged and fast.n_iter == slow.n_iter
    np.testing.assert_allclose(fast.objective, slow.objective, rtol=1e-9)
    np.testing.assert_allclose(fast.state.coef(basis), slow.state.coef(basis),
                               atol=1e-9 * np.abs(slow.state.coef(basis)).max())
    # A pull toward the source puts M outside the range: the plain products then.
    pulled = problem.with_params(pull=0.5)
    assert admm._range_products(pulled, pulled.fit_M) is None


def _factored_problem(seed=7):
    X, Y, C0 = _wide_data(seed=seed, q=60)  # m (p + 2 q) < 2 p q: worth factoring
    stats = spectrum.with_cell_spectrum(compute_sums(X, Y).to_stats(True), X)
    basis = SourceBasis.from_coef(C0, X.shape[1], Y.shape[1])
    problem = RotatedProblem.from_stats(stats, basis, 6, 6, lam_u=0.01, lam_v=0.01,
                                        alpha=0.2)
    start = admm.initial_state(ridge_gcv(stats).coef, basis, 3, 6, 6)
    return problem, start, basis


@pytest.mark.parametrize("r_u", [6, 0])
def test_penalised_u_step_in_its_span_takes_the_gene_space_steps(monkeypatch, r_u):
    # With few cells every U-step iterate lies in the span of the design's
    # range, the unpenalised coordinates, W and the penalty's linear term
    # (solver/span.py): solved in that basis' coefficients, the ADMM takes
    # the steps it takes in gene space, to round-off. (The size rule would
    # keep this toy in gene space; it is forced here.)
    problem, start, basis = _factored_problem()
    problem = problem.with_params(r_u=r_u)
    start = replace(start, omega_u=np.zeros((problem.p - r_u, 3)),
                    gamma_u=np.zeros((problem.p - r_u, 3)))
    used = []
    monkeypatch.setattr(admm.SpanSolver, "pays", staticmethod(lambda *size: True))
    monkeypatch.setattr(admm.SpanSolver, "u_step", _counted(admm.SpanSolver.u_step, used))
    fast = admm.solve_admm(problem, start, tol=1e-3, max_iter=300, inner_max_iter=5)
    assert len(used) == fast.n_iter
    monkeypatch.setattr(admm.SpanSolver, "pays", staticmethod(lambda *size: False))
    slow = admm.solve_admm(problem, start, tol=1e-3, max_iter=300, inner_max_iter=5)
    assert len(used) == fast.n_iter  # the gene-space run did not use it
    assert fast.converged and slow.converged and fast.n_iter == slow.n_iter
    np.testing.assert_allclose(fast.objective, slow.objective, rtol=1e-9)
    assert fast.nnz() == slow.nnz()
    np.testing.assert_allclose(fast.state.coef(basis), slow.state.coef(basis),
                               atol=1e-8 * np.abs(slow.state.coef(basis)).max())


def test_span_u_step_only_where_it_pays():
    # Large iterates in a subspace much smaller than gene space: 4,000 genes,
    # rank 44, 119 cells (the small-target benchmark's fold). Not for small
    # iterates (numpy's call overhead dominates there) nor a big subspace.
    assert admm.SpanSolver.pays(4000, 119, 44, 44)
    assert not admm.SpanSolver.pays(281, 19, 24, 3)
    assert not admm.SpanSolver.pays(4000, 119, 900, 44)
    # Only for the ADMM's short subproblems (coefficients along a singular Gram
    # matrix's null space drift over long ones), not solve_admm's default of 100.
    assert admm.SpanSolver.suits(5) and not admm.SpanSolver.suits(100)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::smart_sc.SmallTargetWarning")
def test_a_penalised_fit_of_that_size_goes_through_the_span(monkeypatch):
    # Unforced: 30 cells, 1,000 genes, rank 4 (p r = 4,000, s = 8 + 29 + 8)
    # passes the size rule, and a fixed-tuning fit routes its U-steps there;
    # with the route closed it takes the gene-space steps, to round-off. (Ten
    # iterations: this run amplifies round-off about tenfold every three
    # iterations, either route, to 1e-4 relative by the fortieth.)
    X, Y, C0 = _wide_data(seed=2, n=30, p=1000, q=40, r=3)
    params = dict(rank=4, structural_rank=8, lam=0.01, alpha=1.0, blend=False,
                  transfer_gain=False, max_iter=10)
    used = []
    monkeypatch.setattr(admm.SpanSolver, "u_step", _counted(admm.SpanSolver.u_step, used))
    fast = SMARTRegressor(C0.T, **params).fit(X, Y)
    assert fast.n_iter_ == 10 and len(used) == 10
    monkeypatch.setattr(admm.SpanSolver, "pays", staticmethod(lambda *size: False))
    slow = SMARTRegressor(C0.T, **params).fit(X, Y)
    assert len(used) == 10
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-8 * np.abs(slow.coef_).max())


def _counted(method, calls):
    def counted(*args, **kwargs):
        calls.append(1)
        return method(*args, **kwargs)
    return counted

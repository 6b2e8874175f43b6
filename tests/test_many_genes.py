"""Many genes: products with S_xx through the cells, no p x p matrix anywhere."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from smart_sc import SMARTRegressor
from smart_sc._core.solver.admm import RotatedProblem, SourceBasis
from smart_sc._core.solver.cells import cells_gram_problem
from smart_sc._core.sums.passes import compute_sums


def _data(seed=0, n=300, p=40, q=8, r=2, density=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 1.0
    if density is not None:
        X = sp.random(n, p, density=density, random_state=seed, format="csr",
                      data_rvs=lambda k: rng.normal(size=k) + 1.0)
    C = np.zeros((p, q))
    C[:20] = rng.normal(size=(20, r)) @ rng.normal(size=(r, q))
    Y = X @ C + 0.3 * rng.normal(size=(n, q)) + 2.0
    C0 = C + 0.01 * rng.normal(size=C.shape)
    return X, np.asarray(Y), C, C0


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
def test_problem_through_the_cells_equals_the_gram_problem(center, sparse):
    X, Y, _, C0 = _data(density=0.3 if sparse else None)
    basis = SourceBasis.from_coef(C0, X.shape[1], Y.shape[1])
    shift = (None, None) if center else (np.zeros(X.shape[1]), np.zeros(Y.shape[1]))
    ref = RotatedProblem.from_stats(compute_sums(X, Y, *shift).to_stats(center), basis, 6, 6)
    cells, _, _ = cells_gram_problem(X, Y, basis, center=center, r_u=6, r_v=6)
    W = np.random.default_rng(1).normal(size=(X.shape[1], 3))
    np.testing.assert_allclose(cells.A @ W, ref.A @ W, atol=1e-10)
    np.testing.assert_allclose(cells.A.leading_block(6), ref.A[:6, :6], atol=1e-10)
    np.testing.assert_allclose(cells.M, ref.M, atol=1e-10)
    assert cells.yy_trace == pytest.approx(ref.yy_trace, rel=1e-10)
    assert cells.a_max == pytest.approx(ref.a_max, rel=1e-5)


def test_fit_through_the_cells_reaches_the_gram_fit():
    # Different starts (source subspaces vs ridge), same stationary point.
    X, Y, _, C0 = _data(seed=2)
    kw = dict(rank=2, structural_rank=4, lam=0.05, alpha=0.0, blend=False, tol=1e-5,
              max_iter=2000)
    cells = SMARTRegressor(C0.T, gram="cells", **kw).fit(X, Y)
    full = SMARTRegressor(C0.T, gram="full", **kw).fit(X, Y)
    assert cells.converged_ and full.converged_
    np.testing.assert_allclose(cells.coef_, full.coef_, atol=1e-3 * np.abs(full.coef_).max())
    np.testing.assert_allclose(cells.intercept_, full.intercept_, atol=1e-3)
    np.testing.assert_allclose(cells.predict(X), full.predict(X), atol=1e-2)


def test_through_the_cells_refuses_data_driven_tuning_with_what_to_fix():
    X, Y, _, C0 = _data()
    with pytest.raises(ValueError, match=r"choosing rank, lam, alpha.*40 x 40 Gram"):
        SMARTRegressor(C0.T, gram="cells", structural_rank=4, blend=False).fit(X, Y)
    with pytest.raises(ValueError, match="blend weights"):
        SMARTRegressor(C0.T, gram="cells", rank=2, structural_rank=4, lam=0.1,
                       alpha=0.0).fit(X, Y)


def test_auto_tunes_a_few_cell_target_above_the_gene_threshold(monkeypatch):
    # Above the threshold "auto" goes through the cells, which cannot tune; a
    # data-driven fit on fewer cells than half the genes stays on the Gram
    # route, whose per-fold sums form no p x p matrix there, and is tuned as
    # usual (the same fit as gram="full"). With more cells the error still says
    # what to fix, and a fixed fit still goes through the cells.
    import smart_sc._core.fit as fit_module

    monkeypatch.setattr(fit_module, "CELLS_ABOVE_GENES", 30)
    X, Y, _, C0 = _data(seed=4, n=30, p=80, q=6)
    kw = dict(blend=False, random_state=0)
    auto = SMARTRegressor(C0.T, **kw).fit(X, Y)
    full = SMARTRegressor(C0.T, gram="full", **kw).fit(X, Y)
    np.testing.assert_array_equal(auto.coef_, full.coef_)
    assert auto.cv_results_
    fixed = dict(rank=2, structural_rank=4, lam=0.1, alpha=0.0, blend=False)
    cells = SMARTRegressor(C0.T, **fixed).fit(X, Y)
    np.testing.assert_array_equal(cells.coef_,
                                  SMARTRegressor(C0.T, gram="cells", **fixed).fit(X, Y).coef_)
    X, Y, _, C0 = _data(seed=4, n=50, p=80, q=6)
    with pytest.raises(ValueError, match="80 x 80 Gram matrix"):
        SMARTRegressor(C0.T, **kw).fit(X, Y)


def test_twenty_thousand_genes_fit_without_a_gene_by_gene_matrix():
    # The default ("auto") goes through the cells above 8,000 genes; the dense
    # Gram matrix alone would be 3.2 GB, the peak here stays far below it.
    p, q, n = 20_000, 6, 200
    rng = np.random.default_rng(3)
    X = sp.random(n, p, density=0.01, random_state=3, format="csr")
    C = np.zeros((p, q))
    C[:50] = rng.normal(size=(50, 2)) @ rng.normal(size=(2, q))
    Y = X @ C + 0.1 * rng.normal(size=(n, q))
    C0 = C + 0.01 * rng.normal(size=C.shape)
    model = SMARTRegressor(C0.T, rank=2, structural_rank=4, lam=0.1, alpha=0.1, blend=False,
                           max_iter=30)
    tracemalloc.start()
    try:
        model.fit(X, Y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.05 * 8 * p * p  # 160 MB against 3.2 GB
    assert model.coef_.shape == (q, p) and np.all(np.isfinite(model.coef_))


def test_many_genes_out_of_memory_asks_before_forming_the_gram_matrix():
    import dask.array as da
    X, Y, _, C0 = _data(p=40)
    kw = dict(rank=2, structural_rank=4, lam=0.1, alpha=0.0, blend=False)
    with pytest.raises(ValueError, match=r"gram='full' to form the 40 x 40 Gram"):
        SMARTRegressor(C0.T, gram="cells", **kw).fit(da.from_array(X, chunks=(100, 40)), Y)
    lazy = SMARTRegressor(C0.T, gram="full", **kw).fit(da.from_array(X, chunks=(100, 40)), Y)
    np.testing.assert_allclose(lazy.coef_, SMARTRegressor(C0.T, **kw).fit(X, Y).coef_,
                               atol=1e-10)

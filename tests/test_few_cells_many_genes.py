"""Fewer cells than genes: the spectrum from the cells and the low-rank Gram are exact shortcuts.

With ``n < p`` the fit takes the design's spectrum from the cells' SVD and
multiplies by ``S_xx`` through a rank-``n`` factor. Both must give what the
``p x p`` route gives, to round-off.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from smart_sc import SMARTRegressor
from smart_sc._core import spectrum
from smart_sc._core.admm import LowRankGram, RotatedProblem, SourceBasis, leading_block
from smart_sc._core.stats import compute_sums


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
    monkeypatch.setattr("smart_sc._core.pipeline.cells_are_cheaper", lambda X: False)
    monkeypatch.setattr("smart_sc._core.tuning.cells_are_cheaper", lambda X: False)
    slow = SMARTRegressor(C0.T, **kwargs).fit(Xin, Y)
    assert fast.n_iter_ == slow.n_iter_
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-7 * np.abs(slow.coef_).max())
    assert fast.blend_["weights"] == pytest.approx(slow.blend_["weights"], abs=1e-9)

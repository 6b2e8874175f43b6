"""The sparse pass: sparse products, all folds in one pass, the same bits in memory and dask."""

import numpy as np
import pytest
import scipy.sparse as sp

from smart_sc import SMARTRegressor
from smart_sc._core.sums import passes, sparse, stats

da = pytest.importorskip("dask.array")

FIELDS = ("sx", "sy", "sxx", "sxy", "syy", "shift_x", "shift_y")


def _data(n=300, p=25, q=4, seed=0, density=0.15):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=seed,
                  data_rvs=lambda k: np.log1p(rng.gamma(2.0, 2.0, size=k)))
    Y = X @ rng.normal(size=(p, q)) + 3.0 + rng.normal(size=(n, q))
    return X, Y


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 40 cells at 25 genes: several per array, cut across the chunks.

    The shift is the mean of the first 40 cells (the dense pass's first block).
    """
    monkeypatch.setattr(sparse, "_SPARSE_BLOCK_ENTRIES", 40 * 25)
    monkeypatch.setattr(stats, "_BLOCK_ENTRIES", 40 * 25)


def _lazy(X, rows, cols=None):
    dense = X.toarray()
    return da.from_array(dense, chunks=(rows, cols or X.shape[1])).map_blocks(
        sp.csr_matrix, dtype=np.float64)


def _assert_same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.n == y.n
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)


@pytest.mark.parametrize("center", [True, False])
def test_dask_sparse_fold_sums_equal_in_memory_bit_for_bit_whatever_the_chunks(
        small_blocks, center):
    X, Y = _data()
    labels = stats.kfold_labels(X.shape[0], 5, 0)
    eager = passes.fold_sums(X, Y, labels, 5, center=center)
    _assert_same_bits(passes.fold_sums(X.tocsc(), Y, labels, 5, center=center), eager)
    for rows, cols, Yl in ((40, None, Y), (37, 10, da.from_array(Y, chunks=(50, 2))),
                           (300, None, Y), (7, None, da.from_array(Y, chunks=(300, 4)))):
        lazy = passes.fold_sums(_lazy(X, rows, cols), Yl, labels, 5, center=center)
        _assert_same_bits(lazy, eager)
    # One fold (the fit's total without cross-validation) too.
    _assert_same_bits([passes.compute_sums(_lazy(X, 64), Y)], [passes.compute_sums(X, Y)])


def test_sparse_sums_equal_dense_sums_to_round_off(small_blocks):
    X, Y = _data(seed=1)
    labels = stats.kfold_labels(X.shape[0], 4, 1)
    for center in (True, False):
        a = passes.fold_sums(X, Y, labels, 4, center=center)
        b = passes.fold_sums(X.toarray(), Y, labels, 4, center=center)
        for x, y in zip(a, b, strict=True):
            assert x.n == y.n
            sa, sb = x.to_stats(center), y.to_stats(center)
            for name in ("xx", "xy", "yy", "x_mean", "y_mean"):
                ref = getattr(sb, name)
                np.testing.assert_allclose(getattr(sa, name), ref, rtol=0,
                                           atol=1e-10 * np.abs(ref).max(), err_msg=name)
    total = sum((s.sxx for s in passes.fold_sums(X, Y, labels, 4, center=False)[1:]),
                passes.fold_sums(X, Y, labels, 4, center=False)[0].sxx)
    dense = X.toarray()
    np.testing.assert_allclose(total, dense.T @ dense, rtol=1e-12)


def test_no_block_of_cells_is_densified(small_blocks, monkeypatch):
    X, Y = _data(n=310, p=25)
    X_lazy = _lazy(X, 50)
    real = sp._compressed._cs_matrix.toarray

    def toarray(self, *args, **kwargs):
        # Only the p x p products may become dense.
        assert self.shape == (25, 25), f"a {self.shape} sparse block was densified"
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sp._compressed._cs_matrix, "toarray", toarray)
    labels = stats.kfold_labels(X.shape[0], 5, 0)
    eager = passes.fold_sums(X, Y, labels, 5, center=True)
    lazy = passes.fold_sums(X_lazy, Y, labels, 5, center=True)
    _assert_same_bits(lazy, eager)


class CountingChunks:
    """A dask array of CSR chunks that counts how often each chunk is read."""

    def __init__(self, X, rows):
        self.reads = {}
        self.dense = X.toarray()
        self.array = da.from_array(self.dense, chunks=(rows, X.shape[1])).map_blocks(
            self._read, dtype=np.float64, meta=sp.csr_matrix((0, 0)))

    def _read(self, block, block_info=None):
        if block_info is not None:
            key = block_info[0]["chunk-location"][0]
            self.reads[key] = self.reads.get(key, 0) + 1
        return sp.csr_matrix(block)


def test_the_folds_take_one_pass_over_the_chunks(small_blocks):
    X, Y = _data()
    labels = stats.kfold_labels(X.shape[0], 5, 0)
    # Chunks on the blocks' boundaries: each read once.
    counting = CountingChunks(X, 40)
    passes.fold_sums(counting.array, Y, labels, 5, center=False)
    assert counting.reads == dict.fromkeys(range(8), 1)
    # With centring, the shift reads the first rows once more.
    counting = CountingChunks(X, 40)
    passes.fold_sums(counting.array, Y, labels, 5, center=True)
    assert sum(counting.reads.values()) == 8 + 1
    # Chunks across the boundaries are read once per block they fall in.
    counting = CountingChunks(X, 60)
    passes.fold_sums(counting.array, Y, labels, 5, center=False)
    assert set(counting.reads) == set(range(5)) and max(counting.reads.values()) <= 2


def test_fixed_tuning_fit_with_its_transfer_gain_reads_the_cells_twice(small_blocks):
    X, Y = _data(n=400, p=25, q=6)
    C0 = np.random.default_rng(3).normal(size=(6, 25))
    params = dict(rank=2, structural_rank=4, lam=0.1, alpha=1.0, blend=False, random_state=0)
    counting = CountingChunks(X, 40)
    lazy = SMARTRegressor(C0, **params).fit(counting.array, Y)
    assert lazy.transfer_gain_ is not None
    # Every chunk twice (the fit's own sums; the gain's folds, all in one pass),
    # plus the first rows for each pass's shift: the fit's statistics do not
    # depend on the gain's folds.
    assert sum(counting.reads.values()) == 2 * (10 + 1)
    eager = SMARTRegressor(C0, **params).fit(X, Y)
    np.testing.assert_array_equal(lazy.coef_, eager.coef_)
    assert lazy.transfer_gain_["gain"] == eager.transfer_gain_["gain"]
    without = SMARTRegressor(C0, **{**params, "transfer_gain": False}).fit(X, Y)
    np.testing.assert_array_equal(without.coef_, eager.coef_)


def test_nan_in_a_sparse_chunk_is_named_and_counted(small_blocks):
    X, Y = _data()
    X = X.tolil()
    X[3, 1], X[200, 2], X[100, 0] = np.nan, np.nan, np.inf
    lazy = _lazy(X.tocsr(), 40)
    with pytest.raises(ValueError, match=r"X contains 2 NaN and 1 infinite"):
        passes.fold_sums(lazy, Y, stats.kfold_labels(300, 5, 0), 5, center=False)
    Y = Y.copy()
    Y[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"y contains 1 NaN"):
        passes.fold_sums(_lazy(_data()[0], 40), Y, stats.kfold_labels(300, 5, 0), 5,
                         center=False)


def test_folds_keep_no_gram_matrix_of_their_training_cells():
    # Memory: a fold holds its rotated problem and held-out sums; of its training
    # statistics only the means, which is all a held-out error reads.
    from smart_sc._core.geometry.basis import SourceBasis
    from smart_sc._core.selection.tuning import make_folds

    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(200, 30)), rng.normal(size=(200, 4))
    labels = stats.kfold_labels(200, 5, 0)
    sums = passes.fold_sums(X, Y, labels, 5, center=True)
    basis = SourceBasis.from_coef(rng.normal(size=(30, 4)), 30, 4)
    folds = make_folds(sums, basis, center=True, ridge_alphas=(0.1, 1.0))
    for k, fold in enumerate(folds):
        assert isinstance(fold.train_stats, stats.TrainingMeans)
        assert not hasattr(fold.train_stats, "xx")
        np.testing.assert_allclose(fold.train_stats.x_mean, X[labels != k].mean(axis=0))
        np.testing.assert_allclose(fold.train_stats.y_mean, Y[labels != k].mean(axis=0))


def test_freed_memory_is_returned_only_after_big_matrices(monkeypatch):
    from smart_sc._core import memory

    calls = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: (lambda pad: calls.append(pad)))
    memory.return_freed_memory(memory.TRIM_ABOVE_BYTES - 1)
    assert calls == []
    memory.return_freed_memory(8 * 2000 ** 2)
    memory.return_freed_memory()
    assert calls == [0, 0]

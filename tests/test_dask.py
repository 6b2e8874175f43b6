"""Dask input: statistics, fits and predictions equal in-memory ones, X never materialised."""

import numpy as np
import pytest
import scipy.sparse as sp

from smart_sc import SMARTRegressor, baselines
from smart_sc._core.sums import passes, sparse, stats
from smart_sc.datasets import simulate_transfer

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

FIXED = dict(rank=3, structural_rank=6, lam=0.1, alpha=1.0, blend=False)


@pytest.fixture(scope="module")
def sim():
    return simulate_transfer(240, 30, 12, structural_rank=6, rank=3, random_state=0)


def _sparse_chunks(X, rows):
    """``X`` made mostly zeros, in memory as CSR and as a dask array of CSR chunks."""
    Xs = np.where(X > 0.5, X, 0.0)
    return sp.csr_matrix(Xs), da.from_array(Xs, chunks=(rows, X.shape[1])).map_blocks(
        sp.csr_matrix, dtype=np.float64)


class NoWholeX(dask.callbacks.Callback):
    """Fails the test if any task of the local scheduler returns all of X."""

    def __init__(self, n, p):
        super().__init__()
        self.n, self.p, self.largest = n, p, 0

    def _posttask(self, key, result, dsk, state, worker_id):
        shape = getattr(result, "shape", ())
        if len(shape) == 2 and shape[1] == self.p:
            self.largest = max(self.largest, shape[0])
            assert shape[0] < self.n, f"task {key} materialised all {self.n} cells"


def test_fold_sums_are_bit_identical_whatever_the_chunks(sim, monkeypatch):
    # Sparse cells in blocks of 40 (several blocks, cut across the chunks).
    monkeypatch.setattr(sparse, "_SPARSE_BLOCK_ENTRIES", 40 * sim.X.shape[1])
    labels = stats.kfold_labels(sim.X.shape[0], 5, 0)
    Xs, Xsd = _sparse_chunks(sim.X, 37)
    # Each storage against the same storage in memory: dense with dense, CSR with CSR.
    for X_lazy, X_eager in ((da.from_array(sim.X, chunks=(37, 11)), sim.X), (Xsd, Xs)):
        eager = passes.fold_sums(X_eager, sim.Y, labels, 5, center=True)
        lazy = passes.fold_sums(X_lazy, da.from_array(sim.Y, chunks=(50, 3)), labels, 5,
                               center=True)
        for a, b in zip(eager, lazy, strict=True):
            assert a.n == b.n
            for field in ("sx", "sy", "sxx", "sxy", "syy", "shift_x", "shift_y"):
                np.testing.assert_array_equal(getattr(b, field), getattr(a, field))


@pytest.mark.parametrize("params", [FIXED, dict(random_state=0)], ids=["fixed", "data-driven"])
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_dask_fit_equals_in_memory_fit(sim, params, storage, monkeypatch):
    # Small in-memory blocks, so that no step needs all cells at once here either.
    monkeypatch.setattr(stats, "_BLOCK_ENTRIES", 30 * 40)
    monkeypatch.setattr(sparse, "_SPARSE_BLOCK_ENTRIES", 30 * 40)
    if storage == "dense":
        X_eager, X_lazy = sim.X, da.from_array(sim.X, chunks=(64, 30))
    else:
        X_eager, X_lazy = _sparse_chunks(sim.X, 64)
    eager = SMARTRegressor(sim.source_coef, **params).fit(X_eager, sim.Y)
    watch = NoWholeX(*sim.X.shape)
    with watch:
        lazy = SMARTRegressor(sim.source_coef, **params).fit(
            X_lazy, da.from_array(sim.Y, chunks=(64, 8)))
    assert 0 < watch.largest <= 64
    np.testing.assert_allclose(lazy.coef_, eager.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lazy.intercept_, eager.intercept_, rtol=0, atol=1e-6)
    assert lazy.n_features_in_ == sim.X.shape[1]
    assert (lazy.rank_, lazy.structural_rank_, lazy.lam_) == (eager.rank_,
                                                             eager.structural_rank_,
                                                             eager.lam_)


def test_prediction_is_lazy_and_equal(sim):
    model = SMARTRegressor(sim.source_coef, **FIXED).fit(sim.X, sim.Y)
    X_lazy = da.from_array(sim.X, chunks=(50, 10))
    pred = model.predict(X_lazy)
    assert isinstance(pred, da.Array)
    assert pred.chunks == (X_lazy.chunks[0], (sim.Y.shape[1],))
    np.testing.assert_allclose(pred.compute(), model.predict(sim.X), rtol=0, atol=1e-10)
    one = baselines.TargetRidge().fit(sim.X, sim.Y[:, 0])
    pred1 = one.predict(X_lazy)
    assert pred1.shape == (sim.X.shape[0],)
    np.testing.assert_allclose(pred1.compute(), one.predict(sim.X), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="features"):
        model.predict(X_lazy[:, :5])


def test_nan_in_a_dask_block_is_named_and_counted(sim):
    X = sim.X.copy()
    X[[3, 200], [1, 2]] = np.nan
    X[100, 0] = np.inf
    with pytest.raises(ValueError, match=r"X contains 2 NaN and 1 infinite"):
        SMARTRegressor(sim.source_coef, **FIXED).fit(da.from_array(X, chunks=(60, 30)), sim.Y)
    Y = sim.Y.copy()
    Y[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"y contains 1 NaN"):
        SMARTRegressor(sim.source_coef, **FIXED).fit(da.from_array(sim.X, chunks=(60, 30)),
                                                      da.from_array(Y, chunks=(60, 8)))
    model = SMARTRegressor(sim.source_coef, **FIXED).fit(sim.X, sim.Y)
    pred = model.predict(da.from_array(X, chunks=(60, 30)))  # lazy: nothing read yet
    with pytest.raises(ValueError, match=r"X contains 1 NaN and 0 infinite value\(s\) in a block"):
        pred[:60].compute()


@pytest.mark.parametrize("cls", [baselines.TargetOLS, baselines.TargetRidge,
                                 baselines.ReducedRankRegression])
def test_statistics_baselines_accept_dask(sim, cls):
    X_lazy = da.from_array(sim.X, chunks=(45, 30))
    lazy, eager = cls().fit(X_lazy, sim.Y[:, :3]), cls().fit(sim.X, sim.Y[:, :3])
    np.testing.assert_allclose(lazy.coef_, eager.coef_, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cls", [baselines.SourceOnly, baselines.SourceSubspaceRRR])
def test_source_aware_baselines_accept_sparse_chunks_and_count_nan(sim, cls):
    # They used X.mean and X @ U0 on the dask array itself: sparse chunks crashed
    # and a NaN went through (SourceOnly returned a NaN intercept).
    Xs, X_lazy = _sparse_chunks(sim.X, 60)
    lazy, eager = cls(sim.source_coef).fit(X_lazy, sim.Y), cls(sim.source_coef).fit(Xs, sim.Y)
    np.testing.assert_allclose(lazy.coef_, eager.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lazy.intercept_, eager.intercept_, rtol=0, atol=1e-12)
    X = sim.X.copy()
    X[70, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains 1 NaN and 0 infinite value\(s\)"):
        cls(sim.source_coef).fit(da.from_array(X, chunks=(60, 30)), sim.Y)


def test_dask_input_errors(sim):
    X_lazy = da.from_array(sim.X, chunks=(60, 30))
    with pytest.raises(ValueError, match="unknown"):
        SMARTRegressor(**FIXED).fit(X_lazy[X_lazy[:, 0] > 0], sim.Y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SMARTRegressor(**FIXED).fit(X_lazy, sim.Y[:-1])
    with pytest.raises(ValueError, match="dtype"):
        SMARTRegressor(**FIXED).fit(X_lazy.astype(str), sim.Y)
    # These raised a TypeError about floats and a ZeroDivisionError.
    y_lazy = da.from_array(sim.Y, chunks=(60, 12))
    with pytest.raises(ValueError, match=r"y's row chunk sizes are unknown.*compute_chunk"):
        baselines.TargetRidge().fit(X_lazy, y_lazy[y_lazy[:, 0] > -1e9])
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(240, 0\)\)"):
        baselines.TargetRidge().fit(X_lazy[:, :0], sim.Y)


def test_coo_chunks_are_read_as_csr(sim):
    Xs, _ = _sparse_chunks(sim.X, 60)
    coo = da.from_array(Xs.toarray(), chunks=(60, 30)).map_blocks(sp.coo_matrix,
                                                                   dtype=np.float64)
    np.testing.assert_allclose(baselines.TargetRidge().fit(coo, sim.Y).coef_,
                               baselines.TargetRidge().fit(Xs, sim.Y).coef_, rtol=0, atol=1e-10)


def test_package_works_without_dask():
    # dask is optional: with it unimportable the package imports and fits in memory.
    import subprocess
    import sys

    code = ("import sys; sys.modules['dask'] = None; import numpy as np, smart_sc.tl; "
            "from smart_sc._core import arrays; "
            "m = smart_sc.SMARTRegressor(rank=2, alpha=0.0, blend=False); "
            "m.fit(np.arange(100.0).reshape(20, 5) % 7, np.arange(40.0).reshape(20, 2) % 3); "
            "assert not arrays.is_dask_array(np.zeros(2))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_local_cluster_fit_equals_in_memory_fit(sim):
    distributed = pytest.importorskip("distributed")
    X_lazy = da.from_array(sim.X, chunks=(50, 30))
    eager = SMARTRegressor(sim.source_coef, random_state=0).fit(sim.X, sim.Y)
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client,
          distributed.get_task_stream(client) as stream):
        lazy = SMARTRegressor(sim.source_coef, random_state=0).fit(X_lazy, sim.Y)
        pred = lazy.predict(X_lazy).compute()
    # The blocks' statistics really ran as tasks on the cluster's workers.
    keys = [str(task["key"]) for task in stream.data]
    assert sum("block_sums" in key for key in keys) >= X_lazy.numblocks[0]
    np.testing.assert_allclose(lazy.coef_, eager.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(pred, eager.predict(sim.X), rtol=0, atol=1e-8)


def test_benchmark_splits_run_on_a_cluster_through_joblib():
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    import pandas as pd

    from smart_sc.datasets import toy_citeseq
    from smart_sc.tl import benchmark

    mdata = toy_citeseq(random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    kwargs = dict(source_mask=nk, target_mask=~nk, source_methods=("ridge",),
                  methods=("smart", "target_ridge"), n_top_genes=100, top_k=30, n_splits=2,
                  verbose=False, smart_params={"rank": 3, "structural_rank": 6})
    sequential = benchmark(mdata, **kwargs)
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client,
          distributed.get_task_stream(client) as stream,
          joblib.parallel_backend("dask")):
        on_cluster = benchmark(mdata, **kwargs)
    assert sum("_run_split" in str(task["key"]) for task in stream.data) == 2
    cols = ["split", "method", "source", "error", "r2", "lam", "alpha"]
    pd.testing.assert_frame_equal(on_cluster[cols], sequential[cols])


# ----------------------------------------------------------------------------- tl


def _dask_backed(mdata, *, sparse: bool):
    """A copy of ``mdata`` whose RNA .X is a dask array (CSR chunks if ``sparse``)."""
    from mudata import MuData

    rna, prot = mdata["rna"].copy(), mdata["prot"].copy()
    X = da.from_array(np.asarray(rna.X), chunks=(128, 97))
    rna.X = X.map_blocks(sp.csr_matrix, dtype=X.dtype) if sparse else X
    out = MuData({"rna": rna, "prot": prot})
    out.obs = mdata.obs.copy()
    return out


@pytest.fixture(scope="module")
def tl_inputs(prepared_toy):
    from smart_sc import tl

    mdata = prepared_toy.copy()
    is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    source = tl.fit_source(mdata, mask_obs=is_nk, population="NK")
    return mdata, is_nk, source


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_tl_transfer_on_dask_backed_mudata_equals_in_memory(tl_inputs, sparse):
    from smart_sc import tl

    mdata, is_nk, source = tl_inputs
    eager = mdata.copy()
    if sparse:  # the same storage in memory: sparse sums differ from dense ones in the last bits
        eager["rna"].X = sp.csr_matrix(np.asarray(eager["rna"].X))
    tl.transfer(eager, source, mask_obs=~is_nk, rank=4, structural_rank=8, random_state=0)
    lazy = _dask_backed(mdata, sparse=sparse)
    watch = NoWholeX(*lazy["rna"].shape)
    with watch:
        tl.transfer(lazy, source, mask_obs=~is_nk, rank=4, structural_rank=8, random_state=0)
    assert 0 < watch.largest < lazy["rna"].n_obs
    assert isinstance(lazy["rna"].X, da.Array)  # still lazy
    np.testing.assert_allclose(lazy["rna"].varm["smart"].to_numpy(),
                               eager["rna"].varm["smart"].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(lazy["rna"].obsm["smart"].to_numpy(),
                               eager["rna"].obsm["smart"].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(lazy["prot"].layers["smart"], eager["prot"].layers["smart"],
                               rtol=0, atol=1e-6)
    metrics = lazy.uns["smart"]["metrics"]
    assert set(metrics) == set(eager.uns["smart"]["metrics"])
    for name, values in metrics.items():
        np.testing.assert_allclose(values, eager.uns["smart"]["metrics"][name], atol=1e-8)


def test_tl_fit_source_and_predict_on_dask_backed_data(tl_inputs):
    from smart_sc import tl

    mdata, is_nk, source = tl_inputs
    lazy = _dask_backed(mdata, sparse=True)
    with NoWholeX(*lazy["rna"].shape):
        lazy_source = tl.fit_source(lazy, mask_obs=is_nk, population="NK")
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(lazy_source.coef, source.coef, check_exact=False, atol=1e-8)
    eager_rna, lazy_rna = mdata["rna"].copy(), lazy["rna"]
    tl.predict(eager_rna, source)
    with NoWholeX(*lazy_rna.shape):
        tl.predict(lazy_rna, source)
    np.testing.assert_allclose(lazy_rna.obsm["smart_predicted"].to_numpy(),
                               eager_rna.obsm["smart_predicted"].to_numpy(), rtol=0, atol=1e-8)
    bad = lazy_rna.copy()
    X = np.asarray(mdata["rna"].X).copy()
    X[5, 3] = np.nan
    bad.X = da.from_array(X, chunks=(128, 97))
    with pytest.raises(ValueError, match="1 NaN"):
        tl.predict(bad, source)


def test_tl_on_backed_anndata_streams_and_equals_in_memory(tl_inputs, tmp_path, monkeypatch):
    import anndata as ad

    from smart_sc import tl
    from smart_sc.get import _modalities

    monkeypatch.setattr(_modalities, "BACKED_BLOCK_ROWS", 128)

    mdata, is_nk, source = tl_inputs
    rna = mdata["rna"].copy()
    rna.obsm["prot"] = mdata["prot"].to_df().loc[rna.obs_names]
    for name, X in (("dense", np.asarray(rna.X)), ("sparse", sp.csr_matrix(np.asarray(rna.X)))):
        # Against the same storage in memory (dense and sparse sums differ in the last bits).
        eager = rna.copy()
        eager.X = X
        tl.predict(eager, source)
        tl.transfer(eager, source, modality_out="prot", mask_obs=~is_nk, rank=4,
                    structural_rank=8, random_state=0)
        path = tmp_path / f"{name}.h5ad"
        ad.AnnData(X=X, obs=rna.obs[[]], var=rna.var[[]],
                   obsm={"prot": rna.obsm["prot"]}).write_h5ad(path)
        backed = ad.read_h5ad(path, backed="r")
        with NoWholeX(*rna.shape) as watch:
            tl.predict(backed, source)
            tl.transfer(backed, source, modality_out="prot", mask_obs=~is_nk, rank=4,
                        structural_rank=8, random_state=0)
        assert 0 < watch.largest < rna.n_obs  # read through dask, block by block
        with pytest.raises(ValueError, match=r"copy=True on an AnnData backed by .*to_memory"):
            tl.predict(backed, source, key_added="again", copy=True)  # anndata's own error
        for key in ("smart_predicted", "smart"):
            np.testing.assert_allclose(backed.obsm[key].to_numpy(),
                                       eager.obsm[key].to_numpy(), rtol=0, atol=1e-6)
        backed.file.close()

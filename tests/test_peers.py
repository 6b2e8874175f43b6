"""benchmarks/peers.py: the harness, SMART's agreement with tl.benchmark, k-NN and pooled ridge.

No torch and no scvi-tools here: totalVI is only checked for the error a missing
``peers`` extra gives.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smart_sc

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

SMART_PARAMS = {"rank": 3, "structural_rank": 6}  # fixed: fast, and the same on both sides


def _load_peers():
    sys.path.insert(0, str(BENCH))  # peers.py imports _output and _provenance beside it
    try:
        spec = importlib.util.spec_from_file_location("peers", BENCH / "peers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["peers"] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


peers = _load_peers()


def _options(methods=peers.CHEAP):
    return peers.Options(tuple(methods), 100, 30, dict(SMART_PARAMS), 10, 10, (3, 5, 10), 1)


@pytest.fixture(scope="module")
def toy():
    return peers.load("toy")


def _pair(toy, split="random", n_splits=2):
    return peers.pair_data(toy, "NK:ILC1", split=split, n_splits=n_splits, test_size=0.3,
                           min_test_cells=15, random_state=0)


@pytest.mark.parametrize("split", ["random", "donor"])
def test_smart_and_target_ridge_equal_tl_benchmark(toy, split):
    pair = _pair(toy, split)
    ours = peers.run_pair(pair, _options(("smart", "target_ridge")), n_jobs=1)
    types = toy.obs["cell_type"].astype(str).to_numpy()
    ref = smart_sc.tl.benchmark(toy, source_mask=types == "NK", target_mask=types == "ILC1",
                                source_methods=["ridge"], methods=["smart", "target_ridge"],
                                split=split, n_splits=2, n_top_genes=100, top_k=30,
                                smart_params=dict(SMART_PARAMS), random_state=0, verbose=False)
    merged = ours.merge(ref[["split", "method", "error", "pearson_median"]],
                        on=["split", "method"], suffixes=("", "_ref"))
    assert len(merged) == len(ours) == len(ref) >= 4
    np.testing.assert_allclose(merged["error"], merged["error_ref"], rtol=1e-10)
    np.testing.assert_allclose(merged["pearson_median"], merged["pearson_median_ref"],
                               rtol=1e-10)


def test_truth_maps_back_to_counts_and_scores_a_perfect_prediction_zero(toy):
    pair = _pair(toy)
    split = pair.splits[0]
    data = peers.prepare_split(pair.local, split.source_rows, split.target_rows,
                               split.test_rows, n_top_genes=100, top_k=30)
    truth = peers.truth_of(pair, split, data)
    # CLR value + training centre = log1p(count): the map back to counts is exact.
    counts = pair.raw_prot[split.test_rows][:, truth.kept]
    np.testing.assert_allclose(np.expm1(truth.Y_clr + truth.centre), counts, atol=1e-8)
    perfect = peers.score(truth, truth.Y_clr)
    assert perfect["error"] == pytest.approx(0, abs=1e-12)
    assert perfect["op_rmse"] == pytest.approx(0, abs=1e-10)
    assert perfect["pearson_median"] == pytest.approx(1)
    shifted = peers.score(truth, truth.Y_clr + 0.5)
    assert shifted["error"] == pytest.approx(0.5)
    # Every protein scaled alike: the size factor takes most of it out of the OP metric.
    assert shifted["op_rmse"] < 0.1
    one = truth.Y_clr.copy()
    one[:, 0] += 1.0
    assert peers.score(truth, one)["op_rmse"] > 0.1


def test_knn_returns_training_values_at_training_cells_and_k_from_the_grid():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 12))
    Y = X[:, :3] @ rng.normal(size=(3, 4))
    pred, k = peers.fit_knn(X, Y, X[:7], n_components=5, ks=(3, 5, 200), seed=0)
    np.testing.assert_allclose(pred, Y[:7], atol=1e-10)  # distance weights: exact at a cell
    assert k in (3, 5)  # 200 is more than a training fold has: dropped from the grid


def test_svd_linear_recovers_a_low_rank_linear_map():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 30))
    Y = X @ rng.normal(size=(30, 5)) + 2.0
    pred = peers.fit_svd_linear(X[:150], Y[:150], X[150:], n_components=6, seed=0)
    np.testing.assert_allclose(pred, Y[150:], atol=1e-8)


def test_pooled_ridge_is_ridge_on_source_plus_target_training_cells(toy):
    pair = _pair(toy, n_splits=1)
    split = pair.splits[0]
    rows = peers.run_split(pair, split, _options(("pooled_ridge", "target_ridge")))
    got = {r["method"]: r for r in rows}
    data = peers.prepare_split(pair.local, split.source_rows, split.target_rows,
                               split.test_rows, n_top_genes=100, top_k=30)
    truth = peers.truth_of(pair, split, data)
    pooled = smart_sc.baselines.TargetRidge().fit(np.vstack([data.X_source, data.X_target]),
                                                  np.vstack([data.Y_source, data.Y_target]))
    expected = peers.score(truth, pooled.predict(data.X_test))
    assert got["pooled_ridge"]["error"] == pytest.approx(expected["error"], rel=1e-12)
    # It saw the source cells: not the target-only fit.
    assert got["pooled_ridge"]["error"] != pytest.approx(got["target_ridge"]["error"], rel=1e-3)
    assert got["pooled_ridge"]["n_source_train"] == split.source_rows.size > 0


def test_cli_runs_every_cheap_method_and_report_merges_protocols(tmp_path):
    common = ["--data", "toy", "--n-splits", "1", "--n-top-genes", "100", "--top-k", "30",
              "--smart-rank", "3", "--smart-structural-rank", "6", "--knn-ks", "3", "5",
              "--n-jobs", "1"]
    assert peers.main([*common, "--out", str(tmp_path / "r")]) == 0
    # Donor splits 0..2 made, only split 1 run (how a slow method adds splits to a run).
    assert peers.main([*common[:2], "--n-splits", "3", "--only-splits", "1", *common[4:],
                       "--split", "donor", "--out", str(tmp_path / "d")]) == 0
    donor = pd.read_csv(tmp_path / "d.csv")
    assert set(donor["split"]) == {1} and donor["test_donors"].nunique() == 1
    rand = pd.read_csv(tmp_path / "r.csv")
    assert set(rand["method"]) == set(peers.CHEAP)
    assert len(rand) == len(peers.CHEAP)  # one split, one row per method
    assert np.isfinite(rand[["error", "pearson_median", "op_rmse", "seconds"]]).all().all()
    assert peers.main(["--report", str(tmp_path / "r.csv"), str(tmp_path / "d.csv"),
                       "--out", str(tmp_path / "all")]) == 0
    merged = pd.read_csv(tmp_path / "all.csv")
    assert set(merged["protocol"]) == {"random", "donor"}
    md = (tmp_path / "all.md").read_text()
    assert "| random | NK:ILC1 |" in md and "| donor | NK:ILC1 |" in md
    assert "--split donor" in md and "--report" in md  # the commands that made it
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_peers_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "scvi", None)  # as if scvi-tools were not installed
    with pytest.raises(ImportError, match=r'pip install -e "\.\[peers\]"'):
        peers._import_scvi()
    with pytest.raises(ImportError, match="peers"):  # before any data is loaded
        peers.main(["--data", "toy", "--methods", "totalvi", "--out", str(tmp_path / "t")])
    assert not (tmp_path / "t.csv").exists()


def test_unknown_pair_is_reported_not_run(tmp_path):
    assert peers.main(["--data", "toy", "--pairs", "NK:nonsense", "--out",
                       str(tmp_path / "x")]) == 1
    assert "Not run: NK:nonsense" in (tmp_path / "x.md").read_text()

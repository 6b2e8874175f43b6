"""Tests of tl.benchmark and its per-split preprocessing (pp._split)."""

from __future__ import annotations

import math

import muon as mu
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import r2_score

import smart_sc
from smart_sc import pp
from smart_sc.baselines import TargetRidge
from smart_sc.get._modalities import copy_data
from smart_sc.pp._split import cell_local, prepare_split
from smart_sc.tl import _benchmark as bm
from smart_sc.tl._splits import _random_splits

FAST = {"n_top_genes": 100, "top_k": 30, "n_splits": 2, "verbose": False,
        "smart_params": {"rank": 3, "structural_rank": 6}}
QUICK_METHODS = ("smart", "source_only", "ridge_to_source", "source_rrr", "mixture", "target_ridge",
                 "target_ols", "target_rrr")
DONORS = np.array(["d1", "d2", "d3", "d4"])


def _toy():
    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    rng = np.random.default_rng(0)
    # Unequal donors: d4 has few cells, so a donor split must skip it.
    mdata.obs["donor"] = rng.choice(DONORS, size=mdata.n_obs, p=[0.35, 0.3, 0.3, 0.05])
    return mdata


@pytest.fixture(scope="module")
def toy():
    """Toy MuData (raw counts) with a donor column; tests that modify it copy it."""
    return _toy()


def _masks(mdata):
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    return nk, ~nk


@pytest.fixture(scope="module")
def random_run(toy):
    source, target = _masks(toy)
    return bm.benchmark(toy, source_mask=source, target_mask=target,
                        source_methods=("ridge", "ols"), methods=QUICK_METHODS,
                        return_per_protein=True, **FAST)


# ----------------------------------------------------------------------------- results


def test_random_split_table(random_run):
    df, per = random_run
    assert list(df.columns) == bm.COLUMNS
    # Per split: 3 target-only rows plus 5 transfer methods x 2 sources.
    assert len(df) == 2 * (3 + 5 * 2)
    assert set(df["split"]) == {0, 1} and set(df["protocol"]) == {"random"}
    assert set(df.loc[df["source"] == "none", "method"]) == {"target_ridge", "target_ols",
                                                             "target_rrr"}
    assert (df["n_train"] + df["n_test"] == 150).all() and (df["n_test"] == 45).all()
    assert (df["n_source_train"] == 600).all()
    assert (df["failure"] == "").all()
    assert np.isfinite(df[["error", "r2", "pearson_median", "spearman_median",
                           "rmse_mean", "seconds"]].to_numpy()).all()
    smart = df["method"] == "smart"
    assert (df.loc[smart, "rank"] == 3).all() and (df.loc[smart, "structural_rank_u"] == 6).all()
    assert df.loc[~smart, ["rank", "lam", "alpha"]].isna().all().all()
    assert df.loc[df["source"] == "none", "source_seconds"].isna().all()
    # The two splits differ (different test cells) and the toy target is learnable.
    ridge = df[df["method"] == "target_ridge"]
    assert ridge["error"].nunique() == 2 and (ridge["pearson_median"] > 0.3).all()
    # Per protein: one row per protein of every (split, method, source).
    assert list(per.columns) == ["split", "method", "source", "protein", "pearson",
                                 "spearman", "rmse"]
    assert len(per) == (df["n_proteins"]).sum()


def _split_data(toy, index):
    """Split ``index`` of the FAST runs, preprocessed as tl.benchmark does, and its seed."""
    source, target = _masks(toy)
    pair = bm.resolve_modalities(toy, "rna", "prot")
    src, tgt = bm._populations(pair, source, target)
    local = bm._cell_inputs(pair, src.append(tgt), preprocess=True, layer="counts",
                            clr="per_protein")
    split = _random_splits(len(src), len(tgt), n_splits=2, test_size=0.3, cv=5,
                           random_state=0)[index]
    data = prepare_split(local, split.source_rows, split.target_rows, split.test_rows,
                         n_top_genes=100, top_k=30)
    return data, split.seed


def test_metrics_match_a_fit_by_hand(toy, random_run):
    df, per = random_run
    data, _ = _split_data(toy, 1)
    Y_hat = TargetRidge().fit(data.X_target, data.Y_target).predict(data.X_test)
    Y = data.Y_test
    row = df[(df["split"] == 1) & (df["method"] == "target_ridge")].iloc[0]
    assert row["error"] == pytest.approx(np.linalg.norm(Y_hat - Y) / math.sqrt(Y.size))
    assert row["r2"] == pytest.approx(r2_score(Y, Y_hat))
    assert row["n_genes"] == data.genes.size and row["n_proteins"] == data.proteins.size
    rmse = per[(per["split"] == 1) & (per["method"] == "target_ridge")]["rmse"].to_numpy()
    np.testing.assert_allclose(rmse, np.sqrt(((Y_hat - Y) ** 2).mean(axis=0)))


def test_a_constant_prediction_scores_zero_correlation_not_nan():
    # A lasso that keeps no gene for a protein predicts a constant: NaN there was
    # skipped by the median over proteins, crediting the method only with the
    # proteins it predicts. A protein constant on the test cells stays NaN for all.
    from scipy.stats import pearsonr, spearmanr

    from smart_sc.tl._evaluate import per_protein_metrics

    rng = np.random.default_rng(0)
    Y = rng.normal(size=(30, 4))
    Y[:, 3] = 1.5
    Y_hat = Y + rng.normal(size=Y.shape)
    Y_hat[:, 1] = 0.2
    per = per_protein_metrics(Y, Y_hat)
    for j in (0, 2):
        assert per["pearson"][j] == pytest.approx(pearsonr(Y[:, j], Y_hat[:, j])[0])
        assert per["spearman"][j] == pytest.approx(spearmanr(Y[:, j], Y_hat[:, j])[0])
    assert per["pearson"][1] == 0.0 and per["spearman"][1] == 0.0
    assert np.isnan(per["pearson"][3]) and np.isnan(per["spearman"][3])


@pytest.fixture(scope="module")
def control_run(toy):
    source, target = _masks(toy)
    return bm.benchmark(toy, source_mask=source, target_mask=target, source_methods=("ridge",),
                        methods=("smart", "smart_placebo", "reduced_rank_ridge", "offset"),
                        **FAST)


def _error(model, data) -> float:
    Y = data.Y_test
    return float(np.linalg.norm(model.predict(data.X_test) - Y) / math.sqrt(Y.size))


def test_controls_are_the_same_call_with_a_shuffled_source_or_none(toy, control_run):
    df = control_run
    # "offset" is the former name of ridge toward the source.
    assert set(df["method"]) == {"smart", "smart_placebo", "reduced_rank_ridge",
                                 "ridge_to_source"}
    data, seed = _split_data(toy, 1)
    row = df[df["split"] == 1].set_index("method")
    assert row.loc["smart_placebo", "placebo_seed"] == seed
    assert row.drop(index="smart_placebo")["placebo_seed"].isna().all()
    C0 = smart_sc.baselines.TargetRidge().fit(data.X_source, data.Y_source).coef_
    params = {"rank": 3, "structural_rank": 6, "random_state": seed}
    placebo, perm = smart_sc.baselines.placebo_coef(C0, random_state=int(seed))
    # The placebo keeps the source's spectrum and scrambles its gene subspace.
    np.testing.assert_allclose(np.linalg.svd(placebo, compute_uv=False),
                               np.linalg.svd(C0, compute_uv=False))
    assert not np.array_equal(perm, np.arange(perm.size))
    fitted = smart_sc.SMARTRegressor(placebo, **params).fit(data.X_target, data.Y_target)
    assert row.loc["smart_placebo", "error"] == pytest.approx(_error(fitted, data))
    # The no-source counterpart: the same estimator and tuning, source-only
    # parameters dropped.
    no_source = smart_sc.SMARTRegressor(None, rank=3, random_state=seed).fit(
        data.X_target, data.Y_target)
    assert row.loc["reduced_rank_ridge", "error"] == pytest.approx(_error(no_source, data))
    assert row.loc["reduced_rank_ridge", "source"] == "none"
    ridge_to_source = smart_sc.baselines.OffsetTransfer(C0).fit(data.X_target, data.Y_target)
    assert row.loc["ridge_to_source", "error"] == pytest.approx(_error(ridge_to_source, data))
    # The three fits differ: the comparison could fail.
    assert len({round(row.loc[m, "error"], 10) for m in row.index}) == 4


def test_donor_split_keeps_test_donors_out_of_everything(toy):
    source, target = _masks(toy)
    df = bm.benchmark(toy, source_mask=source, target_mask=target, split="donor",
                      source_methods=("ridge",), methods=("smart", "target_ridge"),
                      min_test_cells=15, **{**FAST, "n_splits": 10})
    donors_t = toy.obs.loc[target, "donor"].value_counts()
    donors_s = toy.obs.loc[source, "donor"].value_counts()
    eligible = donors_t[donors_t >= 15]
    assert "d4" not in eligible  # the small donor is never a test set
    assert set(df["test_donors"]) == set(eligible.index)
    assert (df["protocol"] == "donor").all()
    for donor, rows in df.groupby("test_donors"):
        assert (rows["n_test"] == donors_t[donor]).all()
        assert (rows["n_train"] == 150 - donors_t[donor]).all()
        assert (rows["n_source_train"] == 600 - donors_s[donor]).all()
    # Donors with the most target cells come first.
    first = df.loc[df["split"] == 0, "test_donors"].iloc[0]
    assert first == eligible.sort_values(ascending=False).index[0]
    capped = bm.benchmark(toy, source_mask=source, target_mask=target, split="donor",
                          source_methods=("ridge",), methods=("target_ridge",),
                          **{**FAST, "n_splits": 1})
    assert capped["split"].tolist() == [0] and capped["test_donors"].iloc[0] == first


def test_full_defaults_run(toy):
    source, target = _masks(toy)
    df = bm.benchmark(toy, source_mask=source, target_mask=target, source_methods=("ridge",),
                      n_splits=1, n_top_genes=100, top_k=30, verbose=False)
    assert set(df["method"]) == set(bm.METHODS)
    assert (df["failure"] == "").all()
    smart = df[df["method"] == "smart"].iloc[0]
    assert smart["rank"] >= 1 and smart["lam"] > 0 and smart["alpha"] >= 0


def test_smart_leaves_out_the_unreported_transfer_gain_unless_asked(toy):
    # The table has no column for the diagnostic, so the benchmark does not compute
    # it; the data-driven fit it would follow is the same either way.
    data, seed = _split_data(toy, 0)
    C0 = TargetRidge().fit(data.X_source, data.Y_source).coef_
    for name in ("smart", "smart_placebo", "reduced_rank_ridge"):
        assert bm.BENCHMARK_METHODS[name].build(C0, seed, {}).transfer_gain is False
    assert bm.BENCHMARK_METHODS["smart"].build(C0, seed, {"transfer_gain": True}).transfer_gain
    built = bm.BENCHMARK_METHODS["smart"].build(C0, seed, {"rank": 3})
    built.fit(data.X_target, data.Y_target)
    with_gain = smart_sc.SMARTRegressor(C0, rank=3, random_state=seed).fit(
        data.X_target, data.Y_target)
    assert built.transfer_gain_ is None and with_gain.transfer_gain_ is not None
    np.testing.assert_array_equal(built.coef_, with_gain.coef_)
    np.testing.assert_array_equal(built.intercept_, with_gain.intercept_)


def test_parallel_equals_sequential(toy):
    source, target = _masks(toy)
    kwargs = {"source_mask": source, "target_mask": target, "source_methods": ("ridge",),
              "methods": ("smart", "mixture", "target_ridge"), **FAST}
    seq = bm.benchmark(toy, **kwargs)
    par = bm.benchmark(toy, n_jobs=2, **kwargs)
    cols = ["split", "method", "source", "error", "r2", "pearson_median", "lam", "alpha"]
    pd.testing.assert_frame_equal(seq[cols], par[cols])


def test_key_added_is_writable(toy, tmp_path):
    mdata = copy_data(toy)
    source, target = _masks(mdata)
    df = bm.benchmark(mdata, source_mask=source, target_mask=target,
                      source_methods=("ridge",), methods=("smart", "target_ridge"),
                      key_added="bench", **{**FAST, "n_splits": 1})
    stored = mdata.uns["bench"]
    np.testing.assert_allclose(stored["results"]["error"], df["error"])
    assert list(stored["results"]["method"]) == df["method"].tolist()
    path = tmp_path / "bench.h5mu"
    mu.write_h5mu(path, mdata)
    back = mu.read_h5mu(path)
    np.testing.assert_allclose(back.uns["bench"]["results"]["error"], df["error"])
    assert len(back.uns["bench"]["per_protein"]["protein"]) == 2 * df["n_proteins"].iloc[0]


def test_preprocess_false_uses_x_as_is(prepared_toy):
    source, target = _masks(prepared_toy)
    df = bm.benchmark(prepared_toy, source_mask=source, target_mask=target,
                      source_methods=("ridge",), methods=("target_ridge",), preprocess=False,
                      top_k=None, n_splits=1, verbose=False)
    # No HVG and no screening: every gene of the prepared data is used.
    assert df["n_genes"].iloc[0] == prepared_toy["rna"].n_vars
    assert df["n_proteins"].iloc[0] == prepared_toy["prot"].n_vars


# ----------------------------------------------------------------------------- leakage


def _fits(mdata, *, split="random"):
    source, target = _masks(mdata)
    pair = bm.resolve_modalities(mdata, "rna", "prot")
    src, tgt = bm._populations(pair, source, target)
    splits = bm.make_splits(pair, src, tgt, split=split, groups="donor", n_splits=1,
                             test_size=0.3, min_test_cells=15, cv=5, random_state=0)
    local = bm._cell_inputs(pair, src.append(tgt), preprocess=True, layer="counts",
                            clr="per_protein")
    # Every method but the lasso (slow, and as deterministic as the others).
    methods = tuple(m for m in bm.METHODS if m != "target_lasso")
    config = bm._Config(("ridge", "rrr"), methods, 100, 30,
                        {"rank": 3, "structural_rank": 6}, {})
    data, fits = bm._split_fits(local, splits[0], config)
    held = np.concatenate([src, tgt])[splits[0].test_rows]
    if split == "donor":  # the test donor's source cells are held out too
        all_rows = np.arange(len(src) + len(tgt))
        used = np.concatenate([splits[0].source_rows, splits[0].target_rows])
        held = np.concatenate([src, tgt])[np.setdiff1d(all_rows, used)]
    return data, fits, held


def _scramble(mdata, cells, seed):
    rng = np.random.default_rng(seed)
    out = copy_data(mdata)
    for mod in ("rna", "prot"):
        adata = out[mod]
        rows = adata.obs_names.get_indexer(cells)
        was_sparse = sp.issparse(adata.layers["counts"])
        counts = adata.layers["counts"].toarray() if was_sparse else \
            np.array(adata.layers["counts"])
        block = counts[rows]
        block = rng.permutation(block, axis=1) * 3 + rng.integers(0, 5, size=block.shape)
        counts[rows] = block
        # Same storage as before: sums over the (unchanged) training rows must be
        # computed the same way, bit for bit.
        adata.layers["counts"] = sp.csr_matrix(counts) if was_sparse else counts
    return out


@pytest.mark.parametrize("split", ["random", "donor"])
def test_held_out_cells_do_not_change_any_fit(split):
    mdata = _toy()
    data, fits, held = _fits(mdata, split=split)
    data2, fits2, held2 = _fits(_scramble(mdata, held, 1), split=split)
    assert list(held2) == list(held)
    np.testing.assert_array_equal(data2.genes, data.genes)
    np.testing.assert_array_equal(data2.X_target, data.X_target)
    n_target_only = len(bm.TARGET_METHODS) - 1  # all but the lasso
    assert fits.keys() == fits2.keys()
    assert len(fits) == n_target_only + 2 * (1 + len(bm.TRANSFER_METHODS))
    for key, fit in fits.items():
        assert fit.failure == "", key
        np.testing.assert_array_equal(fits2[key].estimator.coef_, fit.estimator.coef_,
                                      err_msg=str(key))
        np.testing.assert_array_equal(fits2[key].estimator.intercept_, fit.estimator.intercept_)
    # The test set itself did change, so the comparison above could have failed.
    assert not np.array_equal(data2.X_test, data.X_test)


def test_changing_a_training_cell_changes_the_fits():
    # Positive control of the leakage test: the same edit on training cells shows.
    mdata = _toy()
    _, fits, held = _fits(mdata)
    train = mdata.obs_names[_masks(mdata)[1]].difference(pd.Index(held))[:5]
    _, fits2, _ = _fits(_scramble(mdata, train, 1))
    changed = [k for k in fits if not np.array_equal(fits[k].estimator.coef_,
                                                     fits2[k].estimator.coef_)]
    assert len(changed) == len(fits)


# ----------------------------------------------------------------------------- pp._split


def test_split_statistics_come_from_training_cells(toy):
    source, target = _masks(toy)
    pair = bm.resolve_modalities(toy, "rna", "prot")
    src, tgt = bm._populations(pair, source, target)
    local = bm._cell_inputs(pair, src.append(tgt), preprocess=True, layer="counts",
                            clr="per_protein")
    split = _random_splits(len(src), len(tgt), n_splits=1, test_size=0.3, cv=5,
                              random_state=0)[0]
    data = prepare_split(local, split.source_rows, split.target_rows, split.test_rows,
                         n_top_genes=100, top_k=30)
    X_train = np.vstack([data.X_source, data.X_target])
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(X_train.std(axis=0, ddof=1), 1.0)
    assert np.abs(data.X_test.mean(axis=0)).max() > 0.05  # test cells not re-centred
    Y_train = np.vstack([data.Y_source, data.Y_target])
    np.testing.assert_allclose(Y_train.mean(axis=0), 0.0, atol=1e-10)  # per-protein CLR
    assert data.n_hvg == 100 and 30 <= data.genes.size <= 60


def test_per_cell_clr_matches_pp_clr_proteins(toy):
    mdata = copy_data(toy)
    local = cell_local(mdata["rna"].layers["counts"], mdata["prot"].layers["counts"],
                       mdata["rna"].var_names, mdata["prot"].var_names, preprocess=True,
                       clr="per_cell")
    pp.clr_proteins(mdata, flavor="per_cell")
    np.testing.assert_allclose(local.Y, np.asarray(mdata["prot"].X), atol=1e-10)


def test_screening_matches_pp_screen_genes(prepared_toy):
    mdata = copy_data(prepared_toy)
    source, target = _masks(mdata)
    X, Y = mdata["rna"].X, np.asarray(mdata["prot"].X)
    local = cell_local(X, Y, mdata["rna"].var_names, mdata["prot"].var_names,
                       preprocess=False, clr="per_cell")
    rows_s, rows_t = np.flatnonzero(source), np.flatnonzero(target)
    data = prepare_split(local, rows_s, rows_t[:100], rows_t[100:], n_top_genes=None, top_k=10)
    groups = {"s": source, "t": mdata.obs_names[rows_t[:100]]}
    pp.screen_genes(mdata, groups=groups, top_k=10)
    expected = mdata["rna"].var_names[mdata["rna"].var["smart_screened"]]
    assert sorted(data.genes) == sorted(expected)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("edit", "kwargs", "match"),
    [
        (None, {"methods": ("smart", "ridge")}, r"unknown methods \['ridge'\]; valid ones"),
        (None, {"source_methods": ("pls",)}, r"unknown source_methods \['pls'\]"),
        (None, {"split": "donor", "groups": "patient"},
         r"groups='patient'.*not in \.obs; it has \[.*'cell_type', 'batch', 'donor'\]"),
        ("one_donor", {"split": "donor"}, r"at least 2 values of obs column 'donor'.*\['d1'\]"),
        ("unlabelled_donor", {"split": "donor"},
         r"split='donor': 3 of the \d+ target cells have no value in obs column 'donor'"),
        (None, {"test_size": 0.95},
         r"150 cells; test_size=0.95 leaves 7 training and 143 test cells.*cv=5"),
        (None, {"smart_params": {"cv": 60}, "test_size": 0.5},
         r"leaves 75 training .* cv=60 needs at least 120"),
        ("constant_proteins", {}, "all 20 proteins are constant in the 105 target training"),
        ("overlap", {}, "source_mask and target_mask overlap in 10 cell"),
        (None, {"split": "kfold"}, r"The 'split' parameter of benchmark must be a str among"),
        (None, {"clr": "seurat"}, r"The 'clr' parameter of benchmark must be a str among"),
        ("normalised", {}, "non-integer value"),
        (None, {"source_methods": (), "methods": ("smart_placebo", "target_ridge")},
         r"\['smart_placebo'\] need a source model, and source_methods is empty"),
    ],
)
def test_bad_inputs_name_the_problem(toy, edit, kwargs, match):
    mdata = copy_data(toy)
    source, target = _masks(mdata)
    if edit == "one_donor":
        mdata.obs["donor"] = "d1"
    elif edit == "unlabelled_donor":  # as str these became one donor "nan"
        donor = mdata.obs["donor"].astype(object)
        donor.iloc[np.flatnonzero(target)[:3]] = np.nan
        mdata.obs["donor"] = donor
    elif edit == "constant_proteins":
        counts = np.array(mdata["prot"].layers["counts"])
        counts[target] = 7
        mdata["prot"].layers["counts"] = counts
    elif edit == "overlap":
        source = source.copy()
        source[np.flatnonzero(target)[:10]] = True
    elif edit == "normalised":
        mdata["rna"].layers["counts"] = mdata["rna"].layers["counts"] * 0.5
    params = {**FAST, "source_methods": ("ridge",), "methods": ("target_ridge",), **kwargs}
    with pytest.raises(ValueError, match=match):
        bm.benchmark(mdata, source_mask=source, target_mask=target, **params)



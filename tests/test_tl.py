"""tl.transfer and friends on MuData / AnnData: storage, names, copies, failures."""

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from mudata import MuData

import smart_sc
from smart_sc.baselines import SourceOnly, TargetRidge

FIXED = dict(rank=4, structural_rank=8, alpha=0.0, random_state=0)


@pytest.fixture(scope="module")
def prepared(prepared_toy):
    return prepared_toy.copy()


@pytest.fixture
def mdata(prepared):
    return prepared.copy()


def _types(m):
    ct = m.obs["cell_type"].astype(str).to_numpy()
    return ct == "NK", ct == "ILC1"


@pytest.fixture(scope="module")
def source(prepared):
    is_source, _ = _types(prepared)
    return smart_sc.tl.fit_source(prepared, mask_obs=is_source, population="NK")


def test_transfer_beats_target_only_and_source_only(mdata, source):
    _, is_target = _types(mdata)
    target = mdata.obs_names[is_target]
    rng = np.random.default_rng(0)
    train = rng.choice(target, size=int(0.7 * len(target)), replace=False)
    test = target.difference(train)
    smart_sc.tl.transfer(mdata, source, mask_obs=list(train), random_state=0)
    Y = pd.DataFrame(mdata["prot"].X, index=mdata["prot"].obs_names,
                     columns=mdata["prot"].var_names)
    pred = mdata["rna"].obsm["smart"]
    err_smart = np.mean((pred.loc[test].to_numpy() - Y.loc[test, pred.columns].to_numpy())**2)

    rna = mdata["rna"]
    X = rna[list(train)].X
    ridge = TargetRidge().fit(X, Y.loc[train].to_numpy())
    err_ridge = np.mean((ridge.predict(rna[list(test)].X) - Y.loc[test].to_numpy()) ** 2)
    coef = source.coef.loc[rna.var_names, Y.columns].to_numpy().T
    only = SourceOnly(coef).fit(X, Y.loc[train].to_numpy())
    err_only = np.mean((only.predict(rna[list(test)].X) - Y.loc[test].to_numpy()) ** 2)
    assert err_smart < err_ridge
    assert err_smart < err_only


def test_every_key_is_stored_and_aligned(mdata, source):
    _, is_target = _types(mdata)
    smart_sc.tl.transfer(mdata, source, mask_obs=is_target, **FIXED)
    rna, prot = mdata["rna"], mdata["prot"]
    coef = rna.varm["smart"]
    assert isinstance(coef, pd.DataFrame)
    assert list(coef.index) == list(rna.var_names)
    assert list(coef.columns) == list(prot.var_names)
    pred = rna.obsm["smart"]
    assert list(pred.index) == list(rna.obs_names)
    assert np.array_equal(prot.layers["smart"], pred.loc[prot.obs_names].to_numpy())
    info = mdata.uns["smart"]
    assert "smart" not in rna.uns  # stored once, in the object passed
    assert info["rank"] == 4 and info["structural_rank"] == [8, 8]
    assert info["params"]["n_train_cells"] == int(is_target.sum())
    assert len(info["metrics"]["pearson"]) == prot.n_vars
    assert set(info["metrics"]) == {"pearson", "spearman", "rmse"}
    assert info["provenance"]["population"] == "NK"
    assert info["alignment"]["n_genes_shared"] == rna.n_vars
    # Predictions are what the stored coefficients say.
    manual = rna.X @ coef.to_numpy() + np.asarray(info["intercept"])
    assert np.allclose(manual, pred.to_numpy())


def test_copy_leaves_the_input_untouched(mdata, source):
    _, is_target = _types(mdata)
    before = mdata.copy()
    out = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, **FIXED)
    assert "smart" in out["rna"].obsm
    assert "smart" not in mdata["rna"].obsm and "smart" not in mdata.uns
    assert np.array_equal(mdata["rna"].X, before["rna"].X)
    assert list(mdata["prot"].layers) == list(before["prot"].layers)


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda m: m["prot"].X.__setitem__((0, 0), np.nan), "1 NaN"),
        (lambda m: None, "rank=40 exceeds"),
    ],
)
def test_a_failed_fit_leaves_the_object_as_it_was(mdata, source, break_it, message):
    _, is_target = _types(mdata)
    first = mdata.obs_names[is_target][0]
    row = list(mdata["prot"].obs_names).index(first)
    if "NaN" in message:
        mdata["prot"].X[row, 0] = np.nan
    params = dict(FIXED, rank=40) if "rank" in message else FIXED
    keys = (set(mdata["rna"].obsm), set(mdata["rna"].varm), set(mdata["prot"].layers),
            set(mdata.uns))
    with pytest.raises(ValueError, match=message):
        smart_sc.tl.transfer(mdata, source, mask_obs=is_target, **params)
    assert keys == (set(mdata["rna"].obsm), set(mdata["rna"].varm),
                    set(mdata["prot"].layers), set(mdata.uns))


def test_dense_and_sparse_rna_give_the_same_coefficients(mdata, source):
    _, is_target = _types(mdata)
    params = dict(random_state=0)  # defaults: everything data-driven
    dense = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, **params)
    sparse_in = mdata.copy()
    sparse_in["rna"].X = sp.csr_matrix(sparse_in["rna"].X)
    sparse = smart_sc.tl.transfer(sparse_in, source, mask_obs=is_target, copy=True, **params)
    assert np.allclose(dense["rna"].varm["smart"], sparse["rna"].varm["smart"], atol=1e-8)
    assert np.allclose(dense["rna"].obsm["smart"], sparse["rna"].obsm["smart"], atol=1e-8)


def test_names_not_positions_decide(mdata, source):
    _, is_target = _types(mdata)
    ref = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, **FIXED)
    rna = mdata["rna"]
    order = np.random.default_rng(1).permutation(rna.n_vars)
    shuffled = MuData({"rna": rna[:, order].copy(), "prot": mdata["prot"].copy()})
    shuffled.obs["cell_type"] = mdata.obs["cell_type"]
    out = smart_sc.tl.transfer(shuffled, source, mask_obs=is_target, copy=True, **FIXED)
    a = ref["rna"].obsm["smart"]
    b = out["rna"].obsm["smart"]
    assert np.allclose(a.to_numpy(), b.loc[a.index, a.columns].to_numpy(), atol=1e-8)
    assert np.allclose(ref["rna"].varm["smart"].to_numpy(),
                       out["rna"].varm["smart"].loc[rna.var_names].to_numpy(), atol=1e-8)


def test_missing_genes_are_reported_and_the_overlap_used(mdata, source):
    _, is_target = _types(mdata)
    partial = source.coef.iloc[5:]  # the source lacks 5 genes
    smart_sc.tl.transfer(mdata, partial, mask_obs=is_target, **FIXED)
    report = mdata.uns["smart"]["alignment"]
    assert report["n_genes_shared"] == mdata["rna"].n_vars - 5
    assert report["n_genes_missing_in_source"] == 5
    assert len(mdata.uns["smart"]["genes"]) == mdata["rna"].n_vars - 5
    missing = set(mdata["rna"].var_names[:5])
    assert np.all(mdata["rna"].varm["smart"].loc[list(missing)].to_numpy() == 0)


def test_saved_model_path_and_to_model_predict_roundtrip(mdata, source, tmp_path):
    _, is_target = _types(mdata)
    path = tmp_path / "nk_source.h5ad"
    source.save(path)
    smart_sc.tl.transfer(mdata, str(path), mask_obs=is_target, **FIXED)
    model = smart_sc.tl.to_model(mdata)
    assert model.provenance["estimator"] == "SMARTRegressor"
    rna_only = ad.AnnData(mdata["rna"].X.copy(), obs=pd.DataFrame(index=mdata["rna"].obs_names),
                          var=pd.DataFrame(index=mdata["rna"].var_names))
    rna_only = rna_only[:, ::-1].copy()  # other gene order
    smart_sc.tl.predict(rna_only, model, key_added="from_ilc1")
    expected = mdata["rna"].obsm["smart"]
    got = rna_only.obsm["from_ilc1"].loc[expected.index, expected.columns]
    assert np.allclose(got.to_numpy(), expected.to_numpy(), atol=1e-10)


def test_anndata_with_proteins_in_obsm(mdata, source):
    _, is_target = _types(mdata)
    rna = mdata["rna"].copy()
    rna.obsm["prot"] = pd.DataFrame(mdata["prot"].X, index=mdata["prot"].obs_names,
                                    columns=mdata["prot"].var_names).loc[rna.obs_names]
    ref = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, **FIXED)
    smart_sc.tl.transfer(rna, source, mask_obs=is_target, **FIXED)
    assert np.allclose(rna.obsm["smart"].to_numpy(), ref["rna"].obsm["smart"].to_numpy())


def test_scanpy_plots_what_we_store(mdata, source):
    import matplotlib

    matplotlib.use("Agg")
    _, is_target = _types(mdata)
    smart_sc.tl.transfer(mdata, source, mask_obs=is_target, **FIXED)
    prot = mdata["prot"]
    prot.obsm["X_umap"] = np.random.default_rng(0).normal(size=(prot.n_obs, 2))
    protein = prot.var_names[0]
    ax = sc.pl.umap(prot, color=protein, layer="smart", show=False)
    colours = ax.collections[0].get_array()
    expected = prot.layers["smart"][:, 0]
    assert np.allclose(np.sort(np.asarray(colours)), np.sort(expected))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, s: smart_sc.tl.transfer(m, s, modality_out="adt"), "modality 'adt'"),
        (lambda m, s: smart_sc.tl.transfer(m, s, mask_obs=np.zeros(m.n_obs, bool)),
         r"no cells selected: mask_obs selects no cell \(\d+ paired cells in total\)"),
        (lambda m, s: smart_sc.tl.transfer(m, s, layer_in="nope"), "layer 'nope' not found"),
        (lambda m, s: smart_sc.tl.transfer(m, s, mask_obs=["not_a_cell"]), "not in the data"),
    ],
)
def test_bad_input_is_named(mdata, source, call, message):
    with pytest.raises(ValueError, match=message):
        call(mdata, source)


def test_duplicate_names_are_refused(mdata, source):
    rna = mdata["rna"].copy()
    names = list(rna.var_names)
    names[1] = names[0]
    rna.var_names = names
    bad = MuData({"rna": rna, "prot": mdata["prot"].copy()})
    with pytest.raises(ValueError, match="duplicated"):
        smart_sc.tl.transfer(bad, source)


def test_fit_source_records_provenance(prepared, source):
    assert source.provenance["population"] == "NK"
    assert source.provenance["estimator"] == "TargetRidge"
    assert source.provenance["n_cells"] == int(_types(prepared)[0].sum())
    assert list(source.proteins) == list(prepared["prot"].var_names)
    with pytest.raises(ValueError, match="method must be one of"):
        smart_sc.tl.fit_source(prepared, method="forest")


def test_evaluate_scores_held_out_cells(mdata, source):
    from scipy.stats import pearsonr, spearmanr

    _, is_target = _types(mdata)
    target = mdata.obs_names[is_target]
    train, test = target[::2], target[1::2]
    smart_sc.tl.transfer(mdata, source, mask_obs=list(train), **FIXED)
    table = smart_sc.tl.evaluate(mdata, mask_obs=list(test))
    pred = mdata["rna"].obsm["smart"].loc[test]
    obs = pd.DataFrame(mdata["prot"].X, index=mdata["prot"].obs_names,
                       columns=mdata["prot"].var_names).loc[test, pred.columns]
    cd3 = pred.columns[0]
    assert table.loc[cd3, "pearson"] == pytest.approx(pearsonr(obs[cd3], pred[cd3])[0])
    assert table.loc[cd3, "spearman"] == pytest.approx(spearmanr(obs[cd3], pred[cd3])[0])
    assert table.loc[cd3, "rmse"] == pytest.approx(np.sqrt(np.mean((obs[cd3] - pred[cd3])**2)))
    stored = mdata.uns["smart_evaluation"]
    assert stored["n_cells"] == len(test)
    expected = np.linalg.norm(pred.to_numpy() - obs.to_numpy()) / np.sqrt(obs.size)
    assert stored["overall_error"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="no predictions under"):
        smart_sc.tl.evaluate(mdata, key="absent")


def test_screened_genes_column_restricts_the_fit(mdata, source):
    _, is_target = _types(mdata)
    rna = mdata["rna"]
    keep = np.zeros(rna.n_vars, dtype=bool)
    keep[::3] = True
    rna.var["smart_screened"] = keep
    smart_sc.tl.transfer(mdata, source, mask_obs=is_target, mask_var="smart_screened", **FIXED)
    used = set(mdata.uns["smart"]["genes"])
    assert used == set(rna.var_names[keep])
    assert np.all(rna.varm["smart"].loc[rna.var_names[~keep]].to_numpy() == 0)
    by_names = smart_sc.tl.fit_source(mdata, mask_obs=is_target,
                                      mask_var=list(rna.var_names[keep]))
    assert set(by_names.genes) == used
    # A boolean mask over .var, as scanpy's mask_var takes it, selects the same genes.
    by_mask = smart_sc.tl.fit_source(mdata, mask_obs=is_target, mask_var=keep)
    pd.testing.assert_frame_equal(by_mask.coef, by_names.coef)
    with pytest.raises(ValueError, match=r"not a column of \.var"):
        smart_sc.tl.transfer(mdata, source, mask_var="absent")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        smart_sc.tl.transfer(mdata, source, mask_var=keep[:3])


def test_genes_is_a_deprecated_alias_of_mask_var(mdata, source):
    _, is_target = _types(mdata)
    rna = mdata["rna"]
    rna.var["smart_screened"] = np.arange(rna.n_vars) % 2 == 0
    new = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, mask_var="smart_screened",
                               copy=True, **FIXED)
    with pytest.warns(FutureWarning, match="use mask_var=") as record:
        old = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, genes="smart_screened",
                                   copy=True, **FIXED)
    assert record[0].filename == __file__  # points at the user's call
    pd.testing.assert_frame_equal(old["rna"].varm["smart"], new["rna"].varm["smart"])
    pd.testing.assert_frame_equal(old["rna"].obsm["smart"], new["rna"].obsm["smart"])
    with pytest.warns(FutureWarning, match="use mask_var="):
        old_source = smart_sc.tl.fit_source(mdata, mask_obs=is_target, genes="smart_screened")
    new_source = smart_sc.tl.fit_source(mdata, mask_obs=is_target, mask_var="smart_screened")
    pd.testing.assert_frame_equal(old_source.coef, new_source.coef)
    with pytest.raises(TypeError, match="mask_var only"):
        smart_sc.tl.transfer(mdata, source, mask_var="smart_screened", genes="smart_screened")
    with pytest.raises(TypeError, match="mask_var only"):
        smart_sc.tl.fit_source(mdata, mask_var="smart_screened", genes="smart_screened")


def test_small_target_warning_points_at_the_users_call(mdata, source):
    _, is_target = _types(mdata)
    few = is_target & (np.cumsum(is_target) <= 20)  # 20 cells: fewer than genes
    assert mdata["rna"].n_vars > 20
    with pytest.warns(smart_sc.SmallTargetWarning) as record:
        smart_sc.tl.transfer(mdata, source, mask_obs=few, copy=True, **FIXED)
    small = [w for w in record if issubclass(w.category, smart_sc.SmallTargetWarning)]
    assert small and all(w.filename == __file__ for w in small)


def test_the_source_verdict_reports_the_change_without_claiming_help():
    # It said "the source helped: 1.6% lower error" where a placebo source reached
    # 1.9%, and its percentage was without/with - 1 rather than the error's change.
    from smart_sc.tl._tuning_record import source_verdict

    def said(with_source, without):
        return source_verdict({"gain": without / with_source - 1.0, "blended": True,
                               "cv_mse_source": with_source, "cv_mse_no_source": without})

    lower = said(0.85, 1.0)
    assert lower.startswith("with the source, 15.0% lower cross-validated error than without")
    assert "not placebo-controlled" in lower and "tl.benchmark" in lower
    assert said(1.2, 1.0).startswith("with the source, 20.0% higher cross-validated error")
    assert said(0.998, 1.0).startswith("the source made no measurable difference (0.2% lower")
    assert ". " not in lower  # the record splits the two statements at ". "


def test_tuning_evidence_and_verdict_are_stored(mdata, source):
    _, is_target = _types(mdata)
    out = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True,
                               structural_rank=(5, 6), random_state=0)
    info = out.uns["smart"]
    assert info["params"]["estimator_params"]["structural_rank"] == [5, 6]
    blend = info["blend"]
    assert set(blend["weights"]) == {"smart", "source", "ridge"}
    assert abs(sum(blend["weights"].values()) - 1.0) < 1e-12
    assert blend["blend_cv_mse"] <= min(blend["cv_mse"].values()) + 1e-12
    # Two statements: what the source contributed, then SMART against the baselines.
    source_part, baseline_part = info["verdict"].split(". ", 1)
    gain = info["transfer_gain"]
    assert source_part.startswith(("with the source, ", "the source made no measurable"))
    assert f"{gain['cv_mse_no_source']:.4g} without it" in source_part
    if gain["gain"] >= 0.01:  # a gain is never called help: no placebo was run
        lower = 100 * (1 - gain["cv_mse_source"] / gain["cv_mse_no_source"])
        assert f"{lower:.1f}% lower cross-validated error" in source_part
        assert "not placebo-controlled" in source_part and "helped" not in source_part
    assert baseline_part.startswith(("SMART beats the simple baselines",
                                     "SMART does not beat the simple baselines"))
    assert f"{blend['cv_mse']['ridge']:.4g}" in baseline_part
    rsc = info["rank_selection"]
    assert rsc["method"] == "RSC" and min(info["cv"]["ranks"]) == sum(
        e >= rsc["threshold"] for e in rsc["eigenvalues"])


def test_too_small_an_overlap_is_refused_with_the_reason(mdata, source):
    _, is_target = _types(mdata)
    mouse_case = source.coef.copy()
    mouse_case.index = [g.capitalize() for g in mouse_case.index]  # 'Gene0001'
    mouse_case.index = list(mouse_case.index[:-3]) + list(source.coef.index[-3:])
    with pytest.raises(ValueError, match=r"share 3 usable gene\(s\) of the source's .* 'Cd8a'"):
        smart_sc.tl.transfer(mdata, mouse_case, mask_obs=is_target, **FIXED)
    assert "smart" not in mdata["rna"].varm


def test_warns_when_most_source_weight_is_on_missing_genes(mdata, source):
    _, is_target = _types(mdata)
    heavy = source.coef.copy()
    heavy.iloc[:5] *= 1000.0  # nearly all weight on five genes ...
    heavy.index = [f"ABSENT{i}" for i in range(5)] + list(heavy.index[5:])  # ... the data lack
    with pytest.warns(UserWarning, match=r"weight .* lies on 5 gene\(s\) the data lack"):
        smart_sc.tl.transfer(mdata, heavy, mask_obs=is_target, copy=True, **FIXED)


def test_transfer_gain_is_stored_per_protein_by_name(mdata, source):
    _, is_target = _types(mdata)
    out = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, random_state=0)
    gain = out.uns["smart"]["transfer_gain"]
    assert gain["gain"] == pytest.approx(gain["cv_mse_no_source"] / gain["cv_mse_source"] - 1)
    per = gain["per_protein"]
    var = out["prot"].var
    assert per["protein"] == list(out.uns["smart"]["proteins"])
    np.testing.assert_allclose(var.loc[per["protein"], "smart_transfer_gain"],
                               per["transfer_gain"])
    np.testing.assert_allclose(var.loc[per["protein"], "smart_cv_r2"], per["cv_r2"])
    assert np.all(np.asarray(per["cv_r2"]) < 1)
    # The same data with the proteins in another order: each protein keeps its numbers.
    shuffled = mdata.copy()
    order = np.random.default_rng(1).permutation(shuffled["prot"].n_vars)
    shuffled.mod["prot"] = shuffled["prot"][:, order].copy()
    shuffled.update()
    assert list(shuffled["prot"].var_names) != list(var.index)
    smart_sc.tl.transfer(shuffled, source, mask_obs=is_target, random_state=0)
    moved = shuffled["prot"].var
    for column in ("smart_transfer_gain", "smart_cv_r2"):
        np.testing.assert_allclose(moved.loc[var.index, column], var[column], rtol=1e-8)


def test_no_transfer_gain_when_switched_off(mdata, source):
    _, is_target = _types(mdata)
    out = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True,
                               transfer_gain=False, **FIXED)
    assert "transfer_gain" not in out.uns["smart"]
    assert "smart_transfer_gain" not in out["prot"].var
    assert out.uns["smart"]["verdict"].startswith("source contribution not measured")
    # A refit without the gain drops an earlier fit's columns under the same key.
    smart_sc.tl.transfer(out, source, mask_obs=is_target, **FIXED)
    assert "smart_transfer_gain" in out["prot"].var
    smart_sc.tl.transfer(out, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    assert not {"smart_transfer_gain", "smart_cv_r2"} & set(out["prot"].var.columns)


def test_a_saved_and_reloaded_analysis_carries_on(tmp_path):
    # .h5mu gives stored lists back as arrays; the provenance built from them
    # used to be refused ("... is not JSON-serialisable: got ndarray").
    import mudata

    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    smart_sc.pp.prepare_citeseq(mdata, source_mask=nk, target_mask=~nk, n_top_genes=200,
                                top_k=40)
    params = dict(mask_obs=~nk, transfer_gain=False, **FIXED)

    def chain(data):
        source = smart_sc.tl.fit_source(data, mask_obs=nk, population="NK")
        smart_sc.tl.transfer(data, source, **params)
        return source

    in_memory = chain(mdata)
    mdata.write(tmp_path / "prepared.h5mu")
    reread = mudata.read_h5mu(tmp_path / "prepared.h5mu")
    source = chain(reread)
    assert ({k: v for k, v in source.provenance.items() if k != "created"}
            == {k: v for k, v in in_memory.provenance.items() if k != "created"})
    reread.write(tmp_path / "fitted.h5mu")
    fitted = mudata.read_h5mu(tmp_path / "fitted.h5mu")
    model = smart_sc.tl.to_model(fitted)
    smart_sc.tl.predict(fitted["rna"], model, key_added="again")
    np.testing.assert_allclose(fitted["rna"].obsm["again"].to_numpy(),
                               mdata["rna"].obsm["smart"].to_numpy(), atol=1e-10)


def test_predict_takes_a_mudata_and_to_model_names_an_edited_record(mdata, source):
    _, is_target = _types(mdata)
    out = smart_sc.tl.predict(mdata, source, copy=True)  # said "modality 'input' has no .X"
    assert out["rna"].obsm["smart_predicted"].shape == (mdata.n_obs, source.n_proteins)
    assert "smart_predicted" not in mdata["rna"].obsm
    fitted = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True,
                                  transfer_gain=False, **FIXED)
    fitted.uns["smart"]["genes"] = [*fitted.uns["smart"]["genes"][:-1], "NOT_A_GENE"]
    with pytest.raises(ValueError, match=r"names 1 gene\(s\) .* e.g. \['NOT_A_GENE'\]"):
        smart_sc.tl.to_model(fitted)


def test_predict_refuses_the_overlap_transfer_refuses(source):
    import anndata as ad

    few = list(source.genes[:5])  # 5 of the model's genes: used to only log a line
    rna = ad.AnnData(np.zeros((3, 5)), var=pd.DataFrame(index=few))
    with pytest.raises(ValueError, match=r"share 5 usable gene\(s\) .*at least 10"):
        smart_sc.tl.predict(rna, source)
    assert "smart_predicted" not in rna.obsm


def test_raw_counts_against_a_model_fitted_on_scaled_rna_are_flagged():
    # It used to predict values from -615 to 511 without a word.
    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    smart_sc.pp.prepare_citeseq(mdata, source_mask=nk, target_mask=~nk, n_top_genes=200,
                                top_k=40)
    source = smart_sc.tl.fit_source(mdata, mask_obs=nk, population="NK")
    with pytest.warns(smart_sc.InputScaleWarning, match=r"layer 'counts' looks like raw "
                      r"counts .* after log1p and scale") as record:
        smart_sc.tl.predict(mdata["rna"], source, layer="counts", key_added="raw")
    assert record[0].filename == __file__  # points at the user's call
    with pytest.warns(smart_sc.InputScaleWarning, match="looks like raw counts"):
        smart_sc.tl.transfer(mdata, source, mask_obs=~nk, layer_in="counts", copy=True,
                             transfer_gain=False, **FIXED)
    with warnings.catch_warnings():
        warnings.simplefilter("error", smart_sc.InputScaleWarning)
        smart_sc.tl.predict(mdata["rna"], source, key_added="scaled")  # the scaled .X


def _log_normalised(mdata):
    """The toy RNA log-normalised from its raw counts, not scaled (same genes)."""
    import scanpy as sc

    rna = mdata["rna"].copy()
    rna.X = rna.layers["counts"].astype(np.float64)
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    return rna


def test_a_model_records_the_scale_of_its_training_cells(mdata, source):
    _, is_target = _types(mdata)
    scale = source.provenance["input_scale"]
    assert scale["negative_share"] > 0.3  # scaled RNA: every zero count is negative
    assert scale["positive_mean"] > 0
    smart_sc.tl.transfer(mdata, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    exported = smart_sc.tl.to_model(mdata)
    assert exported.provenance["input_scale"] == mdata.uns["smart"]["input_scale"]
    assert exported.provenance["input_scale"]["negative_share"] > 0.3


def test_unscaled_cells_against_a_model_fitted_on_scaled_ones_are_flagged(mdata, source):
    # Log-normalised but unscaled cells are not counts: only the sign tells them.
    rna = _log_normalised(mdata)
    with pytest.warns(smart_sc.InputScaleWarning, match=r"were negative \(centred, scaled "
                      r"RNA\) and these cells have none: they look unscaled") as record:
        smart_sc.tl.predict(rna, source)
    assert record[0].filename == __file__
    _, is_target = _types(mdata)
    mdata["rna"].layers["log"] = rna.X
    with pytest.warns(smart_sc.InputScaleWarning, match="look unscaled") as record:
        smart_sc.tl.transfer(mdata, source, mask_obs=is_target, layer_in="log",
                             transfer_gain=False, **FIXED)
    assert [w.filename for w in record if w.category is smart_sc.InputScaleWarning] == [
        __file__]


def test_a_model_fitted_on_log_normalised_cells_flags_scaled_and_unlogged_ones(mdata):
    is_source, is_target = _types(mdata)
    mdata["rna"].layers["log"] = _log_normalised(mdata).X
    model = smart_sc.tl.fit_source(mdata, mask_obs=is_source, layer_in="log")
    assert model.provenance["input_scale"]["negative_share"] == 0
    target = mdata["rna"][is_target].copy()
    with warnings.catch_warnings():  # another population, the same preprocessing: silent
        warnings.simplefilter("error", smart_sc.InputScaleWarning)
        smart_sc.tl.predict(target, model, layer="log", key_added="same")
    with pytest.warns(smart_sc.InputScaleWarning, match="look centred"):
        smart_sc.tl.predict(target, model, key_added="scaled")  # .X is scaled
    target.layers["unlogged"] = np.expm1(target.layers["log"])
    with pytest.warns(smart_sc.InputScaleWarning, match=r"positive values average .* times "
                      r"the model's"):
        smart_sc.tl.predict(target, model, layer="unlogged", key_added="unlogged")


def test_a_model_without_a_scale_record_is_not_checked(source):
    import anndata as ad

    bare = smart_sc.SourceModel(source.coef, source.intercept,
                                {k: v for k, v in source.provenance.items()
                                 if k not in ("input_scale", "preprocessing")})
    rna = ad.AnnData(np.abs(np.random.default_rng(0).normal(size=(5, len(bare.genes)))),
                     var=pd.DataFrame(index=bare.genes))
    with warnings.catch_warnings():
        warnings.simplefilter("error", smart_sc.InputScaleWarning)
        smart_sc.tl.predict(rna, bare)


def test_key_added_never_overwrites_another_tools_result(mdata, source):
    _, is_target = _types(mdata)
    data = mdata.copy()
    data["rna"].obsm["X_umap"] = np.zeros((data["rna"].n_obs, 2))
    with pytest.raises(ValueError, match=r"key_added='X_umap' would overwrite \.obsm of "
                       "modality 'rna'"):
        smart_sc.tl.transfer(data, source, mask_obs=is_target, key_added="X_umap", **FIXED)
    assert data["rna"].obsm["X_umap"].shape == (data["rna"].n_obs, 2)
    with pytest.raises(ValueError, match=r"would overwrite \.obsm"):
        smart_sc.tl.predict(data["rna"], source, key_added="X_umap")
    # Refitting under smart_sc's own key replaces the earlier result, as documented.
    smart_sc.tl.transfer(data, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    smart_sc.tl.transfer(data, source, mask_obs=is_target, transfer_gain=False, **FIXED)


def test_a_source_from_few_cells_or_fewer_than_the_target_warns(mdata):
    is_nk, is_target = _types(mdata)
    mask = np.zeros(mdata.n_obs, dtype=bool)
    mask[np.flatnonzero(is_nk)[:20]] = True
    with pytest.warns(smart_sc.SmallSourceWarning, match="fitted on 20 cells, fewer than 50"):
        small = smart_sc.tl.fit_source(mdata, mask_obs=mask)
    assert small.provenance["n_cells"] == 20  # the fit is still made
    # Enough cells for a source, but fewer than the target it is transferred to.
    n_target = int(is_target.sum())
    mask[np.flatnonzero(is_nk)[: n_target - 1]] = True
    source = smart_sc.tl.fit_source(mdata, mask_obs=mask)
    with pytest.warns(smart_sc.SmallSourceWarning,
                      match=f"fewer than the {n_target} target cells"):
        smart_sc.tl.transfer(mdata, source, mask_obs=is_target, rank=2, structural_rank=4,
                             lam=0.1, alpha=1.0, blend=False, transfer_gain=False, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", smart_sc.SmallSourceWarning)
        smart_sc.tl.fit_source(mdata, mask_obs=is_nk)  # a large source: no warning


@pytest.mark.parametrize(("call", "kwargs", "match"), [
    ("transfer", {"key_added": 3}, r"The 'key_added' parameter of transfer must be an instance "
                                   r"of 'str'"),
    ("transfer", {"copy": "yes"}, r"The 'copy' parameter of transfer"),
    ("predict", {"missing": "drop"}, r"The 'missing' parameter of predict must be a str among"),
    ("fit_source", {"layer_in": 0}, r"The 'layer_in' parameter of fit_source"),
    ("evaluate", {"key": None}, r"The 'key' parameter of evaluate"),
    ("benchmark", {"test_size": 1.5}, r"The 'test_size' parameter of benchmark must be a float "
                                      r"in the range \(0(\.0)?, 1(\.0)?\)"),
    ("benchmark", {"n_splits": 0}, r"The 'n_splits' parameter of benchmark"),
])
def test_tl_arguments_follow_scikit_learns_rules_before_any_change(mdata, source, call, kwargs,
                                                                  match):
    from sklearn.utils._param_validation import InvalidParameterError

    before = mdata.copy()
    is_source, is_target = _types(mdata)
    args = {"transfer": (mdata, source), "predict": (mdata["rna"], source),
            "fit_source": (mdata,), "evaluate": (mdata,), "benchmark": (mdata,)}[call]
    extra = ({"source_mask": is_source, "target_mask": is_target}
             if call == "benchmark" else {})
    with pytest.raises(InvalidParameterError, match=match):
        getattr(smart_sc.tl, call)(*args, **extra, **kwargs)
    assert set(mdata.uns) == set(before.uns)
    assert set(mdata["rna"].obsm) == set(before["rna"].obsm)


def test_a_model_whose_weight_is_mostly_missing_is_flagged_at_the_users_call(mdata, source):
    # Keep 12 genes that carry little of the model's weight: above the floor of
    # 10 shared genes, so the fit and the prediction run, with a warning.
    weight = (source.coef.to_numpy() ** 2).sum(axis=1)
    light = list(source.genes[np.argsort(weight)[:12]])
    heavy = source.coef.loc[light]
    assert (heavy.to_numpy() ** 2).sum() < 0.5 * weight.sum()
    rna = mdata["rna"][:, light].copy()
    with pytest.warns(UserWarning, match=r"% of the source model's weight .* lies on") as rec:
        smart_sc.tl.predict(rna, source)
    assert [w.filename for w in rec if "weight" in str(w.message)] == [__file__]
    # The same genes as an AnnData with its proteins in .obsm, for transfer.
    rna.obsm["prot"] = mdata["prot"].to_df().loc[rna.obs_names]
    _, is_target = _types(mdata)
    with pytest.warns(UserWarning, match=r"the transfer uses little of it") as rec:
        smart_sc.tl.transfer(rna, source, mask_obs=is_target, transfer_gain=False, rank=2,
                             structural_rank=4, alpha=0.0, random_state=0)
    assert [w.filename for w in rec if "weight" in str(w.message)] == [__file__]


def _paired_anndata(mdata):
    """The RNA modality as an AnnData holding its proteins in .obsm["prot"]."""
    rna = mdata["rna"].copy()
    rna.obsm["prot"] = mdata["prot"].to_df().loc[rna.obs_names]
    return rna


def _snapshot(adata):
    return ({k: str(v) for k, v in adata.uns.items()}, set(adata.obsm), set(adata.varm),
            set(adata.layers))


def test_key_added_never_overwrites_another_tools_uns_entry(mdata, source):
    # .uns["log1p"] (scanpy's) was replaced by a transfer record; .uns["neighbors"]
    # by a predict record, which broke sc.tl.umap.
    _, is_target = _types(mdata)
    rna = _paired_anndata(mdata)
    rna.uns["log1p"] = {"base": None}
    before = _snapshot(rna)
    with pytest.raises(ValueError, match=r"key_added='log1p' would overwrite \.uns, which "
                       "smart_sc did not write"):
        smart_sc.tl.transfer(rna, source, mask_obs=is_target, key_added="log1p", **FIXED)
    assert _snapshot(rna) == before and rna.uns["log1p"] == {"base": None}
    with pytest.raises(ValueError, match=r"key_added='log1p' would overwrite \.uns"):
        smart_sc.tl.predict(rna, source, key_added="log1p")
    assert _snapshot(rna) == before
    with pytest.raises(ValueError, match=r"key_added='log1p' would overwrite \.uns"):
        smart_sc.tl.evaluate(rna, key="prot", key_added="log1p")
    assert _snapshot(rna) == before

    data = mdata.copy()
    sc.pp.neighbors(data["rna"], n_neighbors=5, random_state=0)
    neighbors = dict(data["rna"].uns["neighbors"])
    with pytest.raises(ValueError, match=r"key_added='neighbors' would overwrite \.uns of "
                       "modality 'rna'"):
        smart_sc.tl.predict(data, source, key_added="neighbors")
    assert data["rna"].uns["neighbors"] == neighbors
    assert "neighbors" not in data["rna"].obsm


def test_each_tl_function_replaces_its_own_result_under_a_key(mdata, source):
    _, is_target = _types(mdata)
    rna = _paired_anndata(mdata)
    for _ in range(2):  # re-running with the same key is normal
        smart_sc.tl.transfer(rna, source, mask_obs=is_target, transfer_gain=False, **FIXED)
        smart_sc.tl.predict(rna, source)
        smart_sc.tl.evaluate(rna, mask_obs=is_target)
    assert {"smart", "smart_predicted", "smart_evaluation"} <= set(rna.uns)


def test_predict_and_transfer_records_are_not_taken_for_each_other(mdata, source):
    # predict under transfer's key replaced .obsm/.uns and left the old .varm;
    # to_model then failed with a bare KeyError: 'genes'.
    _, is_target = _types(mdata)
    rna = _paired_anndata(mdata)
    smart_sc.tl.transfer(rna, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    smart_sc.tl.predict(rna, source, key_added="pred")
    before = _snapshot(rna)
    fitted = rna.obsm["smart"].copy()
    with pytest.raises(ValueError, match=r"key_added='smart' holds a smart_sc\.tl\.transfer "
                       r"result \(\.uns\), which smart_sc\.tl\.predict would overwrite"):
        smart_sc.tl.predict(rna, source, key_added="smart")
    with pytest.raises(ValueError, match=r"key_added='pred' holds a smart_sc\.tl\.predict "
                       r"result \(\.uns\), which smart_sc\.tl\.transfer would overwrite"):
        smart_sc.tl.transfer(rna, source, mask_obs=is_target, key_added="pred", **FIXED)
    with pytest.raises(ValueError, match=r"holds a smart_sc\.tl\.transfer result"):
        smart_sc.tl.evaluate(rna, key="pred", key_added="smart")
    assert _snapshot(rna) == before
    pd.testing.assert_frame_equal(rna.obsm["smart"], fitted)
    smart_sc.tl.to_model(rna)  # the transfer fit is intact

    # A MuData: transfer's record is in the MuData's .uns, predict's in the modality's.
    data = mdata.copy()
    smart_sc.tl.transfer(data, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    with pytest.raises(ValueError, match=r"holds a smart_sc\.tl\.transfer result \(\.uns of "
                       "the MuData\\)"):
        smart_sc.tl.predict(data, source, key_added="smart")
    smart_sc.tl.predict(data, source, key_added="pred")
    with pytest.raises(ValueError, match=r"holds a smart_sc\.tl\.predict result \(\.uns of "
                       "modality 'rna'\\)"):
        smart_sc.tl.transfer(data, source, mask_obs=is_target, key_added="pred", **FIXED)


def test_to_model_names_a_record_that_is_not_a_transfer_fit(mdata, source):
    _, is_target = _types(mdata)
    rna = _paired_anndata(mdata)
    smart_sc.tl.transfer(rna, source, mask_obs=is_target, transfer_gain=False, **FIXED)
    smart_sc.tl.predict(rna, source, key_added="pred")
    with pytest.raises(ValueError, match=r"\.uns\['pred'\] holds a smart_sc\.tl\.predict "
                       r"result, not a smart_sc\.tl\.transfer fit"):
        smart_sc.tl.to_model(rna, key="pred")
    # The state the earlier predict left: transfer's .varm, predict's record.
    rna.uns["smart"] = rna.uns["pred"]
    with pytest.raises(ValueError, match=r"\.uns\['smart'\] holds a smart_sc\.tl\.predict "
                       "result"):
        smart_sc.tl.to_model(rna)
    rna.uns["smart"] = {"base": None}
    with pytest.raises(ValueError, match=r"holds an entry with keys \['base'\]"):
        smart_sc.tl.to_model(rna)


def test_predict_on_a_backed_csc_anndata_equals_in_memory(mdata, source, tmp_path):
    # It crashed: "matmul: Input operand 0 does not have enough dimensions".
    rna = mdata["rna"].copy()
    rna.X = sp.csc_matrix(np.asarray(rna.X))
    path = tmp_path / "csc.h5ad"
    rna.write_h5ad(path)
    smart_sc.tl.predict(rna, source)
    backed = ad.read_h5ad(path, backed="r")
    try:
        smart_sc.tl.predict(backed, source)
        np.testing.assert_allclose(backed.obsm["smart_predicted"].to_numpy(),
                                   rna.obsm["smart_predicted"].to_numpy(), rtol=0, atol=1e-10)
        assert list(backed.obsm["smart_predicted"].columns) == list(source.proteins)
    finally:
        backed.file.close()


def test_predict_checks_only_the_genes_the_model_uses(mdata, source):
    # A NaN in a gene the model does not use was refused; transfer ignores it.
    rna = mdata["rna"]
    X = np.c_[np.asarray(rna.X), np.full(rna.n_obs, np.nan)]
    extra = ad.AnnData(X, obs=pd.DataFrame(index=rna.obs_names),
                       var=pd.DataFrame(index=[*rna.var_names, "NOT_IN_MODEL"]))
    smart_sc.tl.predict(extra, source)
    clean = rna.copy()
    smart_sc.tl.predict(clean, source)
    np.testing.assert_allclose(extra.obsm["smart_predicted"].to_numpy(),
                               clean.obsm["smart_predicted"].to_numpy(), rtol=0, atol=1e-10)
    used = extra.copy()
    used.X[3, 0] = np.nan  # a gene the model uses
    del used.obsm["smart_predicted"], used.uns["smart_predicted"]
    with pytest.raises(ValueError, match=rf"modality 'rna' \.X \(the {rna.n_vars} gene\(s\) the "
                       r"model uses\) contains 1 NaN"):
        smart_sc.tl.predict(used, source)
    assert "smart_predicted" not in used.obsm and "smart_predicted" not in used.uns


def test_predict_says_what_a_scikit_learn_model_lacks(mdata):
    # It said "the target has 0 proteins", of nothing the user passed.
    from sklearn.linear_model import Ridge

    rna = mdata["rna"].copy()
    ridge = Ridge().fit(rna.to_df(), np.asarray(mdata["prot"].X)[:, :3])
    with pytest.raises(ValueError, match=r"model is a fitted Ridge \(3 response\(s\)\), which "
                       r"does not know the names of the proteins .*SourceModel\.from_estimator"
                       ) as err:
        smart_sc.tl.predict(rna, ridge)
    assert "0 proteins" not in str(err.value)
    assert "smart_predicted" not in rna.obsm
    wrapped = smart_sc.SourceModel.from_estimator(ridge, target_names=["A", "B", "C"])
    smart_sc.tl.predict(rna, wrapped)  # as the message says
    assert list(rna.obsm["smart_predicted"].columns) == ["A", "B", "C"]


def test_transfer_never_overwrites_another_tools_protein_columns(mdata, source):
    _, is_target = _types(mdata)
    mdata["prot"].var["mine_cv_r2"] = 1.0  # transfer would write f"{key}_cv_r2" there
    with pytest.raises(ValueError, match=r"key_added='mine' would overwrite \.var columns "
                       r"\['mine_cv_r2'\] of modality 'prot'"):
        smart_sc.tl.transfer(mdata, source, mask_obs=is_target, key_added="mine", **FIXED)
    assert (mdata["prot"].var["mine_cv_r2"] == 1.0).all() and "mine" not in mdata.uns

"""smart_sc.pp: the paper's CITE-seq preprocessing from raw counts."""

import logging

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

import smart_sc.pp as pp
from smart_sc.datasets import toy_citeseq
from smart_sc.get._modalities import copy_data

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def raw():
    return toy_citeseq(random_state=0)


@pytest.fixture
def mdata(raw):
    return copy_data(raw)


def _groups(mdata):
    is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    return {"NK": is_nk, "ILC1": ~is_nk}


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def _prepared(mdata):
    pp.normalize_rna(mdata, n_top_genes=None)
    pp.clr_proteins(mdata)
    return mdata


# --- normalize_rna ---------------------------------------------------------------


def test_normalize_rna_equals_manual_scanpy_chain(mdata):
    manual = mdata["rna"].copy()
    manual.X = manual.layers["counts"].copy()
    sc.pp.normalize_total(manual, target_sum=1e4)
    sc.pp.log1p(manual)
    sc.pp.highly_variable_genes(manual, flavor="seurat", n_top_genes=100)
    manual.X = manual.X.toarray()
    sc.pp.scale(manual)

    pp.normalize_rna(mdata, n_top_genes=100)
    rna = mdata["rna"]
    np.testing.assert_allclose(_dense(rna.X), manual.X, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rna.var["highly_variable"], manual.var["highly_variable"])
    assert rna.n_vars == 300  # marked, not subset
    rec = rna.uns["smart_sc_preprocessing"]["normalize_rna"]
    assert rec["target_sum"] == 1e4 and rec["n_top_genes"] == 100 and rec["scale"]


def test_normalize_rna_caps_hvg_and_subsets_only_when_asked(mdata):
    pp.normalize_rna(mdata, n_top_genes=3000)  # more than the 300 genes
    assert mdata["rna"].uns["smart_sc_preprocessing"]["normalize_rna"]["n_top_genes"] == 300
    assert mdata["rna"].n_vars == 300

    other = toy_citeseq(random_state=0)
    pp.normalize_rna(other, n_top_genes=50, subset=True)
    assert other["rna"].n_vars == 50 and other["rna"].var["highly_variable"].all()
    assert other.n_vars == 50 + other["prot"].n_vars  # MuData kept in sync


def test_normalize_rna_keeps_raw_counts_and_uses_x_when_asked(raw):
    adata = raw["rna"].copy()
    del adata.layers["counts"]
    counts = adata.X.copy()
    pp.normalize_rna(adata, layer=None, n_top_genes=None, scale=False)
    assert (adata.layers["counts"] != counts).nnz == 0
    np.testing.assert_allclose(np.expm1(_dense(adata.X)).sum(axis=1), 1e4, rtol=1e-4)


def test_normalize_rna_refuses_already_normalised_data(mdata):
    pp.normalize_rna(mdata, layer=None, n_top_genes=None, scale=False)  # .X now log data
    with pytest.raises(ValueError, match=r"non-integer.*already normalised or log-transformed"):
        pp.normalize_rna(mdata, layer=None)
    adata = mdata["rna"].copy()
    adata.X = adata.X.toarray() - 1.0
    with pytest.raises(ValueError, match="negative"):
        pp.normalize_rna(adata, layer=None)
    # The raw layer is still usable: start from it.
    pp.normalize_rna(mdata, layer="counts", n_top_genes=None)


def test_normalize_rna_check_counts_can_be_disabled(mdata):
    adata = mdata["rna"].copy()
    adata.X = adata.layers["counts"] * 0.5
    pp.normalize_rna(adata, layer=None, n_top_genes=None, check_counts=False)
    assert np.isfinite(_dense(adata.X)).all()


def test_normalize_rna_bad_input_errors(mdata):
    with pytest.raises(ValueError, match=r"layer 'raw' not found.*layer=None"):
        pp.normalize_rna(mdata, layer="raw")
    with pytest.raises(ValueError, match="modality 'gex' is not in the MuData"):
        pp.normalize_rna(mdata, modality="gex")
    with pytest.raises(ValueError, match="n_top_genes"):
        pp.normalize_rna(mdata, n_top_genes=0)
    adata = mdata["rna"].copy()
    adata.layers["counts"] = adata.layers["counts"].toarray()
    adata.layers["counts"][0, :3] = np.nan
    with pytest.raises(ValueError, match="3 NaN"):
        pp.normalize_rna(adata)


def test_normalize_rna_copy_leaves_input_untouched(raw):
    X0 = raw["rna"].X.copy()
    out = pp.normalize_rna(raw, copy=True, n_top_genes=100)
    assert out is not raw and "highly_variable" in out["rna"].var
    assert "highly_variable" not in raw["rna"].var
    assert "smart_sc_preprocessing" not in raw["rna"].uns
    assert (raw["rna"].X != X0).nnz == 0
    assert pp.normalize_rna(copy_data(raw)) is None


# --- clr_proteins ----------------------------------------------------------------


def test_clr_per_cell_is_log1p_minus_cell_mean(mdata):
    counts = np.asarray(mdata["prot"].layers["counts"], dtype=np.float64)
    pp.clr_proteins(mdata)
    logs = np.log1p(counts)
    expected = logs - logs.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(mdata["prot"].X, expected, rtol=1e-10, atol=1e-10)
    rec = mdata["prot"].uns["smart_sc_preprocessing"]["clr_proteins"]
    assert rec["flavor"] == "per_cell" and rec["muon_axis"] == 1
    # Also in the RNA modality's record, which a source model's provenance reads.
    assert mdata["rna"].uns["smart_sc_preprocessing"]["clr_proteins"]["flavor"] == "per_cell"


def test_clr_per_protein_is_muon_default(mdata):
    import muon as mu

    manual = mdata["prot"].copy()
    manual.X = np.asarray(manual.layers["counts"], dtype=np.float64)
    mu.prot.pp.clr(manual)  # muon's defaults: axis=0, flavor="seurat"
    counts = manual.layers["counts"].astype(np.float64)
    by_hand = np.log1p(counts / np.exp(np.log1p(counts).mean(axis=0)))  # across cells
    np.testing.assert_allclose(manual.X, by_hand, rtol=1e-10)
    pp.clr_proteins(mdata, flavor="per_protein")
    np.testing.assert_allclose(mdata["prot"].X, by_hand, rtol=1e-10)


def test_clr_sparse_input_and_errors(mdata):
    adata = mdata["prot"].copy()
    adata.layers["counts"] = sp.csr_matrix(adata.layers["counts"])
    pp.clr_proteins(adata)
    logs = np.log1p(adata.layers["counts"].toarray().astype(np.float64))
    np.testing.assert_allclose(adata.X, logs - logs.mean(axis=1, keepdims=True), atol=1e-10)
    with pytest.raises(ValueError, match="flavor must be one of"):
        pp.clr_proteins(mdata, flavor="geometric")
    with pytest.raises(ValueError, match=r"negative.*not raw counts"):
        pp.clr_proteins(adata, layer=None)  # .X is CLR values now


def test_clr_copy_leaves_input_untouched(raw):
    X0 = np.array(raw["prot"].X)
    out = pp.clr_proteins(raw, copy=True)
    np.testing.assert_array_equal(raw["prot"].X, X0)
    assert not np.array_equal(out["prot"].X, X0)


# --- drop_constant_features ------------------------------------------------------


def test_drop_constant_features_finds_and_drops(mdata, caplog):
    groups = _groups(mdata)
    genes = list(mdata["rna"].var_names)
    rna_counts = mdata["rna"].X.toarray()
    rna_counts[groups["NK"], 3] = 0.0  # GENE0004 constant in NK
    mdata["rna"].X = sp.csr_matrix(rna_counts)
    mdata["prot"].X[groups["ILC1"], 1] = 7.0  # CD56 constant in ILC1
    with caplog.at_level(logging.INFO, logger="smart_sc"):
        pp.drop_constant_features(mdata, groups=groups)
    assert genes[3] not in mdata["rna"].var_names and mdata["rna"].n_vars == 299
    assert "CD56" not in mdata["prot"].var_names and mdata["prot"].n_vars == 19
    assert mdata.n_vars == 299 + 19
    rec = mdata["rna"].uns["smart_sc_preprocessing"]["drop_constant_features"]
    assert rec["constant"] == {"rna": [genes[3]], "prot": ["CD56"]}
    assert rec["constant_per_group"]["NK"] == {"rna": [genes[3]], "prot": []}
    assert rec["constant_per_group"]["ILC1"] == {"rna": [], "prot": ["CD56"]}
    assert "removed 1 rna and 1 prot" in caplog.text and "CD56" in caplog.text


def test_drop_constant_features_mark_only_and_copy(raw):
    X0 = np.array(raw["prot"].X)
    m = copy_data(raw)
    m["prot"].X[:, 2] = 3.0
    out = pp.drop_constant_features(m, groups="cell_type", remove=False, copy=True)
    assert out["prot"].n_vars == 20 and out["prot"].var["smart_constant"].sum() == 1
    assert out["prot"].var["smart_constant"].iloc[2]
    assert "smart_constant" not in m["prot"].var  # input untouched
    np.testing.assert_array_equal(raw["prot"].X, X0)


def test_drop_constant_features_anndata_with_obsm_proteins(mdata):
    adata = mdata["rna"].copy()
    prot = pd.DataFrame(mdata["prot"].X, index=adata.obs_names, columns=mdata["prot"].var_names)
    prot["CD3"] = 1.0
    adata.obsm["prot"] = prot
    pp.drop_constant_features(adata, groups=_groups(mdata))
    assert "CD3" not in adata.obsm["prot"].columns and adata.obsm["prot"].shape[1] == 19


# --- screen_genes ----------------------------------------------------------------


def test_screen_scores_are_l2_norms_of_pearson_correlations(mdata):
    _prepared(mdata)
    groups = _groups(mdata)
    pp.screen_genes(mdata, groups=groups, top_k=10)
    X = _dense(mdata["rna"].X)[groups["ILC1"]]
    Y = np.asarray(mdata["prot"].X)[groups["ILC1"]]
    corr = np.corrcoef(X.T, Y.T)[: X.shape[1], X.shape[1] :]
    np.testing.assert_allclose(
        mdata["rna"].var["smart_screened_score_ILC1"], np.linalg.norm(corr, axis=1), rtol=1e-8
    )
    # Sparse input gives the same scores.
    sparse = copy_data(mdata)
    sparse["rna"].X = sp.csr_matrix(sparse["rna"].X)
    pp.screen_genes(sparse, groups=groups, top_k=10)
    np.testing.assert_allclose(
        sparse["rna"].var["smart_screened_score_ILC1"],
        mdata["rna"].var["smart_screened_score_ILC1"],
        rtol=1e-8,
    )


def test_screen_picks_informative_genes_far_above_chance(mdata):
    _prepared(mdata)
    informative = mdata.uns["toy_citeseq"]["informative_genes"]
    p = len(informative)
    chance = p / mdata["rna"].n_vars  # 0.2
    pp.screen_genes(mdata, groups=_groups(mdata), top_k=p)
    var = mdata["rna"].var
    is_inf = var_names_in(var.index, informative)
    precision_nk = is_inf[var["smart_screened_NK"].to_numpy()].mean()
    precision_ilc1 = is_inf[var["smart_screened_ILC1"].to_numpy()].mean()
    # The toy's shared gene programs correlate many other genes with the informative
    # ones, so marginal screening is far from perfect, but far above chance.
    assert precision_nk > 3 * chance  # observed 0.65
    assert precision_ilc1 > 2 * chance  # observed 0.45
    score = var["smart_screened_score_NK"].to_numpy()
    assert score[is_inf].mean() > 1.5 * score[~is_inf].mean()
    top10 = np.argsort(-score)[:10]
    assert is_inf[top10].mean() >= 0.7


def var_names_in(names, chosen):
    return np.isin(np.asarray(names), np.asarray(chosen))


def test_screen_union_of_disjoint_top_lists(mdata):
    _prepared(mdata)
    groups = _groups(mdata)
    rna = mdata["rna"]
    # Plant genes 1-2 on the proteins' leading component in NK only, genes 3-4 in ILC1
    # only (noise elsewhere): the leading component maximises the l2 norm of correlations.
    X = _dense(rna.X).copy()
    Y = np.asarray(mdata["prot"].X)
    rng = np.random.default_rng(0)
    X[:, :4] = rng.standard_normal((X.shape[0], 4))
    for j, group in enumerate(["NK", "NK", "ILC1", "ILC1"]):
        rows = groups[group]
        Z = Y[rows] - Y[rows].mean(axis=0)
        Z /= Z.std(axis=0)
        leading = np.linalg.svd(Z, full_matrices=False)[0][:, 0]
        X[rows, j] = leading + 0.001 * rng.standard_normal(rows.sum())
    rna.X = X
    pp.screen_genes(mdata, groups=groups, top_k=2, key_added="scr")
    var = rna.var
    assert list(var.index[var["scr_NK"]]) == list(var.index[:2])
    assert list(var.index[var["scr_ILC1"]]) == list(var.index[2:4])
    assert list(var.index[var["scr"]]) == list(var.index[:4])
    assert rna.uns["scr"]["n_selected"] == 4 and rna.uns["scr"]["params"]["top_k"] == 2
    assert rna.uns["smart_sc_preprocessing"]["screen_genes"]["key_added"] == "scr"


def test_screen_does_not_subset_and_copy(raw):
    m = _prepared(copy_data(raw))
    X0 = np.array(m["rna"].X)
    out = pp.screen_genes(m, groups=_groups(m), top_k=20, copy=True)
    assert out["rna"].n_vars == 300 and out["prot"].n_vars == 20
    assert 20 <= out["rna"].var["smart_screened"].sum() <= 40
    assert "smart_screened" not in m["rna"].var
    np.testing.assert_array_equal(m["rna"].X, X0)
    assert pp.screen_genes(m, groups=_groups(m), top_k=20) is None
    assert m["rna"].n_vars == 300


def test_screen_constant_genes_never_selected(mdata):
    _prepared(mdata)
    groups = _groups(mdata)
    X = _dense(mdata["rna"].X).copy()
    X[groups["NK"], 0] = 1.0
    mdata["rna"].X = X
    pp.screen_genes(mdata, groups=groups, top_k=300)
    var = mdata["rna"].var
    assert not var["smart_screened_NK"].iloc[0] and var["smart_screened_NK"].sum() == 299
    assert var["smart_screened_score_NK"].iloc[0] == 0.0
    assert var["smart_screened"].iloc[0]  # selected in ILC1


def test_screen_errors_name_the_problem(mdata):
    _prepared(mdata)
    groups = _groups(mdata)
    tiny = {"NK": groups["NK"], "few": list(mdata.obs_names[-2:])}
    with pytest.raises(ValueError, match="group 'few' has 2 cell"):
        pp.screen_genes(mdata, groups=tiny)
    with pytest.raises(ValueError, match="modality 'adt' is not in the MuData"):
        pp.screen_genes(mdata, groups=groups, modality_out="adt")
    with pytest.raises(ValueError, match="top_k"):
        pp.screen_genes(mdata, groups=groups, top_k=0)
    with pytest.raises(ValueError, match=r"not a column of .obs"):
        pp.screen_genes(mdata, groups="celltype")
    X = _dense(mdata["rna"].X).copy()
    X[groups["NK"][:], 5] = np.nan
    mdata["rna"].X = X
    with pytest.raises(ValueError, match=f"{int(groups['NK'].sum())} NaN"):
        pp.screen_genes(mdata, groups=groups)


# --- prepare_citeseq and docs ----------------------------------------------------


def test_prepare_citeseq_matches_the_steps(raw):
    groups = _groups(raw)
    out = pp.prepare_citeseq(
        raw,
        source_mask=groups["NK"],
        target_mask=groups["ILC1"],
        n_top_genes=200,
        top_k=30,
        copy=True,
    )
    steps = copy_data(raw)
    pp.normalize_rna(steps, n_top_genes=200, subset=True)
    pp.clr_proteins(steps)
    pp.drop_constant_features(steps, groups={"source": groups["NK"], "target": groups["ILC1"]})
    pp.screen_genes(steps, groups={"source": groups["NK"], "target": groups["ILC1"]}, top_k=30)
    np.testing.assert_allclose(out["rna"].X, steps["rna"].X)
    np.testing.assert_array_equal(
        out["rna"].var["smart_screened"], steps["rna"].var["smart_screened"]
    )
    assert "smart_sc_preprocessing" not in raw["rna"].uns
    prep = out["rna"].uns["smart_sc_preprocessing"]
    assert prep["steps"] == [
        "normalize_rna",
        "clr_proteins",
        "drop_constant_features",
        "screen_genes",
    ]


def test_preprocessing_record_reaches_source_model(raw):
    from smart_sc import tl

    m = copy_data(raw)
    groups = _groups(m)
    pp.prepare_citeseq(
        m, source_mask=groups["NK"], target_mask=groups["ILC1"], n_top_genes=None, top_k=20
    )
    model = tl.fit_source(m, mask_obs=groups["NK"])
    prep = model.provenance["preprocessing"]
    assert prep["normalize_rna"]["target_sum"] == 1e4
    assert prep["clr_proteins"]["flavor"] == "per_cell"




def _snapshot(m):
    return {name: (a.shape, a.X.copy(), {k: _dense(v).copy() for k, v in a.layers.items()},
                   list(a.var_names), sorted(a.uns), list(a.var.columns))
            for name, a in m.mod.items()}


def _unchanged(m, before):
    after = _snapshot(m)
    for name, (shape, X, layers, var, uns, columns) in before.items():
        s2, X2, layers2, var2, uns2, columns2 = after[name]
        assert s2 == shape and var2 == var and set(layers2) == set(layers)
        assert uns2 == uns and columns2 == columns
        assert (abs(X2 - X)).sum() == 0 if hasattr(X, "toarray") else np.array_equal(X2, X)
        for key, values in layers.items():
            np.testing.assert_array_equal(layers2[key], values)


@pytest.mark.parametrize("problem", ["nan_protein", "missing_modality", "missing_layer",
                                     "duplicate_genes", "bad_mask", "normalised_rna"])
def test_prepare_citeseq_failure_leaves_the_object_unchanged(raw, problem):
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    kwargs = dict(source_mask=is_nk, target_mask=~is_nk, n_top_genes=100, top_k=20)
    match = {"nan_protein": "NaN", "missing_modality": "modality 'adt'",
             "missing_layer": "layer 'raw'", "duplicate_genes": "duplicated name",
             "bad_mask": "mask", "normalised_rna": "non-integer"}[problem]
    if problem == "nan_protein":
        counts = m["prot"].layers["counts"]
        counts = counts.toarray() if hasattr(counts, "toarray") else counts.copy()
        counts[3, 2] = np.nan
        m["prot"].layers["counts"] = counts
    elif problem == "missing_modality":
        kwargs["modality_out"] = "adt"
    elif problem == "missing_layer":
        kwargs["layer"] = "raw"
    elif problem == "duplicate_genes":
        names = list(m["rna"].var_names)
        names[5] = names[4]
        m["rna"].var_names = names
    elif problem == "bad_mask":
        kwargs["target_mask"] = np.ones(3, dtype=bool)
    else:
        m["rna"].layers["counts"] = m["rna"].layers["counts"] * 0.5
    before = _snapshot(m)
    with pytest.raises(ValueError, match=match):
        pp.prepare_citeseq(m, **kwargs)
    _unchanged(m, before)


@pytest.mark.parametrize(("argument", "value", "match"), [
    ("clr_flavor", "bogus", r"flavor must be one of \['per_cell', 'per_protein'\]"),
    ("top_k", 0, "top_k must be a positive int, got 0"),
    ("top_k", -5, "top_k must be a positive int, got -5"),
    ("n_top_genes", 2.5, "n_top_genes must be a positive int or None"),
    ("target_sum", -1.0, "target_sum must be a positive number"),
    ("subset_hvg", "yes", "subset_hvg must be True or False"),
    ("key_added", "", "key_added must be a non-empty str"),
])
def test_prepare_citeseq_rejects_bad_arguments_before_any_step(raw, argument, value, match):
    # The last step's argument (top_k) used to be checked after the RNA was
    # normalised and the proteins CLR-transformed.
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    before = _snapshot(m)
    with pytest.raises(ValueError, match=match):
        pp.prepare_citeseq(m, source_mask=is_nk, target_mask=~is_nk,
                           **{"n_top_genes": 100, "top_k": 20, argument: value})
    _unchanged(m, before)
    assert "smart_sc_preprocessing" not in m["rna"].uns


def test_prepare_citeseq_refuses_overlapping_populations(raw):
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    target = ~is_nk
    target[np.flatnonzero(is_nk)[:3]] = True
    before = _snapshot(m)
    with pytest.raises(ValueError, match="overlap in 3 cell"):
        pp.prepare_citeseq(m, source_mask=is_nk, target_mask=target, n_top_genes=100, top_k=20)
    _unchanged(m, before)


@pytest.mark.parametrize(("group", "n_cells"), [("target", 1), ("target", 2), ("source", 2)])
def test_prepare_citeseq_refuses_a_tiny_population_before_any_step(raw, group, n_cells):
    # Screening needs 3 cells per population; with 1 target cell the constant-feature
    # step had already emptied both modalities when screening refused the group.
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    masks = {"source": is_nk, "target": ~is_nk}
    tiny = np.zeros(m.n_obs, dtype=bool)
    tiny[np.flatnonzero(masks[group])[:n_cells]] = True
    masks[group] = tiny
    before, shape = _snapshot(m), m.shape
    with pytest.raises(ValueError, match=rf"group '{group}' has {n_cells} cell\(s\).*at least "
                                         rf"3.*{group}_mask"):
        pp.prepare_citeseq(m, source_mask=masks["source"], target_mask=masks["target"],
                           n_top_genes=100, top_k=20)
    _unchanged(m, before)
    assert m.shape == shape and "smart_sc_preprocessing" not in m["rna"].uns


def _without_rna_counts(m, cells):
    counts = m["rna"].layers["counts"]
    counts = counts.toarray() if hasattr(counts, "toarray") else np.array(counts)
    counts[cells] = 0
    m["rna"].layers["counts"] = counts
    m["rna"].X = counts.copy()


def test_a_group_with_no_varying_gene_is_refused_not_emptied(raw):
    # Cells without counts: every gene is constant there; removing them all left an
    # empty RNA modality behind without a word.
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    _without_rna_counts(m, ~is_nk)
    before = _snapshot(m)
    with pytest.raises(ValueError, match=r"in group 'ILC1' \(\d+ cells\) every feature of "
                                         r"'rna' is constant"):
        pp.drop_constant_features(m, groups={"NK": is_nk, "ILC1": ~is_nk})
    _unchanged(m, before)
    with pytest.raises(ValueError, match=r"in group 'target' .* every feature of 'rna'"):
        pp.prepare_citeseq(m, source_mask=is_nk, target_mask=~is_nk, n_top_genes=100,
                           top_k=20)
    _unchanged(m, before)


def test_prepare_citeseq_refuses_one_modality_as_both_before_any_step(raw):
    # With layer=None the CLR found the RNA normalised and refused it, after normalising it.
    m = raw.copy()
    is_nk = (m.obs["cell_type"] == "NK").to_numpy()
    before = _snapshot(m)
    with pytest.raises(ValueError, match="modality_in and modality_out are both 'rna'"):
        pp.prepare_citeseq(m, source_mask=is_nk, target_mask=~is_nk, modality_out="rna",
                           layer=None, n_top_genes=100, top_k=20)
    _unchanged(m, before)


def test_prepare_citeseq_refuses_an_anndata_unchanged_and_says_what_to_pass(raw):
    # An AnnData with proteins in .obsm used to get the proteins' per-cell CLR applied to
    # its RNA (every cell centred) and its proteins left as raw counts, silently.
    import anndata as ad
    import mudata as md

    adata = raw["rna"].copy()
    counts = pd.DataFrame(raw["prot"].layers["counts"], index=adata.obs_names,
                          columns=raw["prot"].var_names)
    adata.obsm["prot"] = counts.copy()
    is_nk = (adata.obs["cell_type"] == "NK").to_numpy()
    X0, layer0, uns0 = adata.X.copy(), adata.layers["counts"].copy(), sorted(adata.uns)
    var0 = adata.var.copy()
    with pytest.raises(TypeError, match=r"needs a MuData.*got an AnnData") as err:
        pp.prepare_citeseq(adata, source_mask=is_nk, target_mask=~is_nk, n_top_genes=100,
                           top_k=20)
    message = str(err.value)
    for words in ("mudata.MuData", "drop_constant_features", "screen_genes", ".obsm['prot']"):
        assert words in message
    assert adata.shape == raw["rna"].shape and sorted(adata.uns) == uns0
    assert (adata.X != X0).nnz == 0 and (adata.layers["counts"] != layer0).nnz == 0
    pd.testing.assert_frame_equal(adata.var, var0)
    pd.testing.assert_frame_equal(adata.obsm["prot"], counts)
    # The MuData the message describes is accepted, and its proteins are CLR-transformed.
    prot = ad.AnnData(adata.obsm["prot"])
    prot.layers["counts"] = prot.X.copy()
    mdata = md.MuData({"rna": adata, "prot": prot})
    pp.prepare_citeseq(mdata, source_mask=is_nk, target_mask=~is_nk, n_top_genes=100, top_k=20)
    logs = np.log1p(counts.to_numpy(dtype=np.float64))
    np.testing.assert_allclose(mdata["prot"].X, logs - logs.mean(axis=1, keepdims=True),
                               atol=1e-10)
    with pytest.raises(TypeError, match=r"expected a MuData or an AnnData, got DataFrame"):
        pp.prepare_citeseq(counts, source_mask=is_nk, target_mask=~is_nk)

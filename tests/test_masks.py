"""Cell masks: one rule (mask_obs_names) behind every public function's mask_obs."""

import numpy as np
import pandas as pd
import pytest

import smart_sc
from smart_sc.get import mask_obs_names

OBS = pd.DataFrame({"cell_type": pd.Categorical(["NK", "ILC1", "NK", "B"]),
                    "is_nk": [True, False, True, False]},
                   index=["c0", "c1", "c2", "c3"])


def test_accepted_forms_select_the_same_cells():
    expected = ["c0", "c2"]
    aligned = pd.Series([False, True, False, True], index=["c3", "c2", "c1", "c0"])
    forms = [OBS["is_nk"].to_numpy(), OBS["is_nk"], "is_nk", ["c0", "c2"],
             np.array(["c0", "c2"]), aligned, OBS["is_nk"].astype("boolean")]
    for form in forms:
        assert list(mask_obs_names(OBS, form)) == expected, form


@pytest.mark.parametrize(("mask", "match"), [
    # A boolean Series off a reset frame: refused, not read as cell names ('nan').
    (pd.Series([True, False, True, False]), r"boolean Series whose index is not the obs names"),
    ("cell_type", r"'cell_type' is an \.obs column of dtype category, not boolean"),
    ("donor", r"'donor' is not a column of \.obs; it has \['cell_type', 'is_nk'\]"),
    (np.array([0, 2]), r"must be a boolean array .* got an array of dtype int64"),
    (np.ones(3, dtype=bool), r"boolean mask_obs has shape \(3,\), expected \(4,\)"),
    (pd.Series([True, None, True, False], index=OBS.index, dtype="boolean"),
     "1 missing value"),
    (["c0", "c9"], r"names 1 cell\(s\) not in the data, e.g. \['c9'\]"),
])
def test_bad_masks_say_what_is_wrong(mask, match):
    with pytest.raises(ValueError, match=match):
        mask_obs_names(OBS, mask)


def test_public_functions_use_the_rule():
    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    with pytest.raises(ValueError, match="dtype category, not boolean"):
        smart_sc.tl.fit_source(mdata, mask_obs="cell_type")
    reset = (mdata.obs["cell_type"] == "NK").reset_index(drop=True)
    with pytest.raises(ValueError, match="index is not the obs names"):
        smart_sc.pp.prepare_citeseq(mdata, source_mask=reset, target_mask=~reset)


def test_a_boolean_mask_var_series_off_a_reset_frame_is_named(prepared_toy):
    # It said "1 of the genes in mask_var are not in the data, e.g. ['nan']".
    mdata = prepared_toy.copy()
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    keep = pd.Series(np.arange(mdata["rna"].n_vars) % 2 == 0, index=mdata["rna"].var_names)
    reset = keep.reset_index(drop=True)
    source = smart_sc.tl.fit_source(mdata, mask_obs=nk)
    for call in (lambda m: smart_sc.tl.fit_source(m, mask_obs=nk, mask_var=reset),
                 lambda m: smart_sc.tl.transfer(m, source, mask_obs=~nk, mask_var=reset)):
        with pytest.raises(ValueError, match=r"mask_var is a boolean Series whose index is "
                           r"not the var names \(e\.g\. \[0, 1, 2\] against"):
            call(mdata)
    assert "smart" not in mdata.uns and "smart" not in mdata["rna"].obsm
    # Aligned by its index, as mask_obs: the same genes in any order.
    shuffled = keep.sample(frac=1.0, random_state=0)
    by_index = smart_sc.tl.fit_source(mdata, mask_obs=nk, mask_var=shuffled)
    by_array = smart_sc.tl.fit_source(mdata, mask_obs=nk, mask_var=keep.to_numpy())
    pd.testing.assert_frame_equal(by_index.coef, by_array.coef)


def test_groups_skip_unused_categories_and_name_an_empty_group(prepared_toy):
    # A subset that keeps unused categories said "no training cells selected: none of
    # the chosen cells has both modalities".
    mdata = prepared_toy.copy()
    types = mdata.obs["cell_type"].astype(str)
    mdata.obs["kind"] = pd.Categorical(types, categories=[*sorted(types.unique()), "B cell"])
    by_column = smart_sc.pp.screen_genes(mdata, groups="kind", top_k=10, copy=True)
    by_dict = smart_sc.pp.screen_genes(
        mdata, groups={t: (types == t).to_numpy() for t in sorted(types.unique())}, top_k=10,
        copy=True)
    record = by_column["rna"].uns["smart_screened"]
    assert record["groups"] == by_dict["rna"].uns["smart_screened"]["groups"]
    assert "B cell" not in record["groups"] and len(record["groups"]) == types.nunique()
    np.testing.assert_array_equal(by_column["rna"].var["smart_screened"],
                                  by_dict["rna"].var["smart_screened"])
    # A group empty for another reason is named, and modalities are not blamed.
    nobody = np.zeros(mdata.n_obs, dtype=bool)
    with pytest.raises(ValueError, match=r"group 'empty' selects no cell") as err:
        smart_sc.pp.screen_genes(mdata, groups={"NK": (types == "NK").to_numpy(),
                                                "empty": nobody}, top_k=10)
    assert "modalities" not in str(err.value).split(";")[0]
    # Cells without proteins: that group, and why.
    unpaired = mdata.copy()
    rna_only = unpaired.obs_names[(types == "ILC1").to_numpy()]
    unpaired.mod["prot"] = unpaired["prot"][~unpaired["prot"].obs_names.isin(rna_only)].copy()
    unpaired.update()
    with pytest.raises(ValueError, match=rf"group 'ILC1' has none with both modalities among "
                       rf"its {len(rna_only)} cell\(s\)"):
        smart_sc.pp.screen_genes(unpaired, groups="kind", top_k=10)

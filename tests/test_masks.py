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

"""Property tests: random masks, gene orders and bad values through transfer and predict.

Each case either gives the clean case's results, by name, or raises a
ValueError and leaves the object as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smart_sc

FIXED = dict(rank=3, structural_rank=6, lam=0.1, alpha=0.0, blend=False,
             transfer_gain=False, random_state=0)
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def prepared():
    mdata = smart_sc.datasets.toy_citeseq(n_source=200, n_target=80, random_state=0)
    sc.pp.normalize_total(mdata["rna"], target_sum=1e4)
    sc.pp.log1p(mdata["rna"])
    sc.pp.scale(mdata["rna"])
    mdata["prot"].X = np.log1p(np.asarray(mdata["prot"].X, dtype=float))
    is_source = (mdata.obs["cell_type"] == "NK").to_numpy()
    source = smart_sc.tl.fit_source(mdata, mask_obs=is_source)
    return mdata, source, ~is_source


def _mask_forms(obs_names: pd.Index, mask: np.ndarray):
    return st.sampled_from([
        ("array", mask),
        ("series", pd.Series(mask, index=obs_names)),
        ("shuffled series", pd.Series(mask, index=obs_names).sample(frac=1.0, random_state=1)),
        ("names", list(obs_names[mask])),
    ])


@SETTINGS
@given(data=st.data())
def test_every_form_of_a_mask_gives_the_same_fit(prepared, data):
    mdata, source, is_target = prepared
    label, form = data.draw(_mask_forms(mdata.obs_names, is_target), label="mask form")
    out = smart_sc.tl.transfer(mdata, source, mask_obs=form, copy=True, **FIXED)
    clean = smart_sc.tl.transfer(mdata, source, mask_obs=is_target, copy=True, **FIXED)
    np.testing.assert_allclose(out["rna"].varm["smart"], clean["rna"].varm["smart"],
                               err_msg=label)


@SETTINGS
@given(seed=st.integers(0, 2**16), n_nan=st.integers(0, 3), drop=st.integers(0, 5))
def test_predict_follows_gene_names_or_refuses(prepared, seed, n_nan, drop):
    mdata, source, _ = prepared
    rna = mdata["rna"]
    rng = np.random.default_rng(seed)
    order = rng.permutation(rna.n_vars)[: rna.n_vars - drop]  # shuffled, some genes gone
    cells = rna[:, order].copy()
    X = np.asarray(cells.X, dtype=float).copy()
    for _ in range(n_nan):
        X[rng.integers(X.shape[0]), rng.integers(X.shape[1])] = np.nan
    cells.X = X
    before = X.copy()
    if n_nan:
        with pytest.raises(ValueError, match="NaN"):
            smart_sc.tl.predict(cells, source)
        assert "smart_predicted" not in cells.obsm
        np.testing.assert_array_equal(cells.X, before)  # unchanged, NaN and all
        return
    smart_sc.tl.predict(cells, source)
    # By name: the same as predicting with the model's missing genes set to zero.
    full = pd.DataFrame(0.0, index=cells.obs_names, columns=source.genes)
    shared = [g for g in source.genes if g in cells.var_names]
    full[shared] = pd.DataFrame(X, index=cells.obs_names, columns=cells.var_names)[shared]
    expected = full.to_numpy() @ source.coef.to_numpy() + source.intercept.to_numpy()
    np.testing.assert_allclose(cells.obsm["smart_predicted"].to_numpy(), expected, atol=1e-9)

"""The toy CITE-seq data set: structure, determinism, ground truth and signal."""

import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from smart_sc import SMARTRegressor
from smart_sc.baselines import SourceOnly, TargetRidge
from smart_sc.datasets import toy_citeseq


@pytest.fixture(scope="module")
def mdata():
    return toy_citeseq()


def _is_integer_valued(values) -> bool:
    values = np.asarray(values)
    return bool(np.all(values >= 0) and np.all(values == np.round(values)))


def _design_and_responses(mdata):
    """Paper's preprocessing: RNA normalise/log1p/scale; ADT CLR (log1p minus cell mean)."""
    counts = mdata["rna"].layers["counts"].toarray().astype(np.float64)
    rna = ad.AnnData(counts, obs=mdata["rna"].obs.copy(), var=mdata["rna"].var.copy())
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    sc.pp.scale(rna)
    X = np.asarray(rna[:, mdata.uns["toy_citeseq"]["informative_genes"]].X)

    prot = ad.AnnData(np.asarray(mdata["prot"].layers["counts"], dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # muon on scanpy.__version__
        import muon as mu

        mu.prot.pp.clr(prot, axis=1, flavor="stoeckius")
    Y = np.asarray(prot.X)
    source = (mdata.obs["cell_type"] == "NK").to_numpy()
    return X, Y, source


# --------------------------------------------------------------------------- structure


def test_structure(mdata):
    assert isinstance(mdata, md.MuData)
    assert set(mdata.mod) == {"rna", "prot"}
    rna, prot = mdata["rna"], mdata["prot"]
    assert rna.shape == (750, 300)
    assert prot.shape == (750, 20)
    assert mdata.n_obs == 750

    # Same cells, in the same order, everywhere.
    assert list(rna.obs_names) == list(prot.obs_names) == list(mdata.obs_names)
    assert mdata.obs_names[0] == "cell_0000" and mdata.obs_names[-1] == "cell_0749"
    for names in (mdata.obs_names, rna.var_names, prot.var_names, mdata.var_names):
        assert names.is_unique
    assert rna.var_names[0] == "GENE0001" and rna.var_names[-1] == "GENE0300"
    assert list(prot.var_names[:3]) == ["CD3", "CD56", "CD16"]
    assert all(name.startswith(("CD", "HLA", "TIGIT", "KLRG1")) for name in prot.var_names)

    # Cell annotations: in mdata.obs and in both modalities, categorical.
    for obs in (mdata.obs, rna.obs, prot.obs):
        assert isinstance(obs["cell_type"].dtype, pd.CategoricalDtype)
        assert isinstance(obs["batch"].dtype, pd.CategoricalDtype)
        assert obs["cell_type"].value_counts().to_dict() == {"NK": 600, "ILC1": 150}
        assert set(obs["batch"]) <= {"s1d1", "s1d2", "s2d1"}
        pd.testing.assert_series_equal(obs["cell_type"], mdata.obs["cell_type"], check_names=False)
    assert mdata.obs["batch"].nunique() == 3
    assert not any(":" in col for col in mdata.obs.columns)  # no pulled duplicates

    # RNA: sparse CSR raw counts, layer equals X.
    assert sp.issparse(rna.X) and rna.X.format == "csr"
    assert sp.issparse(rna.layers["counts"])
    assert _is_integer_valued(rna.X.data)
    assert (rna.layers["counts"] != rna.X).nnz == 0
    assert rna.layers["counts"] is not rna.X
    assert 0 < rna.X.nnz < np.prod(rna.shape)  # some zeros, as in real data
    assert (np.asarray(rna.X.sum(axis=1)).ravel() > 0).all()

    # ADT: dense integer counts, layer equals X.
    assert isinstance(prot.X, np.ndarray)
    assert _is_integer_valued(prot.X)
    np.testing.assert_array_equal(prot.layers["counts"], prot.X)
    assert (prot.X.sum(axis=1) > 0).all()

    assert (rna.var["feature_types"] == "GEX").all()
    assert (prot.var["feature_types"] == "ADT").all()
    assert mdata.var["feature_types"].value_counts().to_dict() == {"GEX": 300, "ADT": 20}


def test_ground_truth(mdata):
    truth = mdata.uns["toy_citeseq"]
    p, q, r, s = 60, 20, 4, 8
    genes = list(truth["informative_genes"])
    assert len(genes) == len(set(genes)) == p
    assert set(genes) <= set(mdata["rna"].var_names)
    assert list(mdata["rna"].var_names[mdata["rna"].var_names.isin(genes)]) == genes  # in order

    C_src, C_tgt = truth["source_coef"], truth["target_coef"]
    assert C_src.shape == C_tgt.shape == (q, p)
    assert np.linalg.matrix_rank(C_src) == s == truth["structural_rank"]
    assert np.linalg.matrix_rank(C_tgt) == r == truth["rank"]
    assert truth["source_intercept"].shape == truth["target_intercept"].shape == (q,)
    assert truth["latent_mean"].shape == truth["latent_sd"].shape == (p,)
    assert truth["target_shift"].shape == (p,)
    assert truth["random_state"] == 0 and truth["noise"] == pytest.approx(0.3)
    assert (truth["source_type"], truth["target_type"]) == ("NK", "ILC1")

    U0, V0 = truth["source_U"], truth["source_V"]
    np.testing.assert_allclose(U0.T @ U0, np.eye(s), atol=1e-12)
    np.testing.assert_allclose(V0.T @ V0, np.eye(s), atol=1e-12)
    np.testing.assert_allclose(V0.sum(axis=0), 0.0, atol=1e-12)  # CLR keeps them
    d0, d_star = truth["source_singular_values"], truth["target_singular_values"]
    np.testing.assert_allclose(C_src, (V0 * d0) @ U0.T)
    u_cols, v_cols = truth["u_columns"], truth["v_columns"]
    assert len(set(u_cols)) == len(set(v_cols)) == r
    np.testing.assert_allclose(C_tgt, (V0[:, v_cols] * d_star) @ U0[:, u_cols].T)

    # SMART's premise: the target's singular subspaces lie in the source's ...
    assert np.linalg.norm(C_tgt - V0 @ (V0.T @ C_tgt)) < 1e-10
    assert np.linalg.norm(C_tgt - (C_tgt @ U0) @ U0.T) < 1e-10
    # ... while the matrices themselves are far apart (bounded difference fails).
    assert np.linalg.norm(C_tgt - C_src) > 0.5 * np.linalg.norm(C_src)
    np.testing.assert_allclose(np.sort(np.linalg.svd(C_tgt, compute_uv=False)[:r]), np.sort(d_star))


def test_writes_and_reads_h5mu(mdata, tmp_path):
    path = tmp_path / "toy.h5mu"
    with md.set_options(pull_on_update=False):  # mudata's legacy default warns
        mdata.write(path)
        back = md.read_h5mu(path)
    truth, back_truth = mdata.uns["toy_citeseq"], back.uns["toy_citeseq"]
    assert set(back_truth) == set(truth)
    for key, value in truth.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back_truth[key], value)
        elif isinstance(value, list):
            assert list(back_truth[key]) == value
        else:
            assert back_truth[key] == value
    assert (back["rna"].X != mdata["rna"].X).nnz == 0
    np.testing.assert_array_equal(back["prot"].layers["counts"], mdata["prot"].X)
    assert list(back.obs["cell_type"]) == list(mdata.obs["cell_type"])


# --------------------------------------------------------------------------- parameters


def test_deterministic_and_seed_dependent():
    a, b, c = toy_citeseq(random_state=3), toy_citeseq(random_state=3), toy_citeseq(random_state=4)
    for key in ("rna", "prot"):
        xa, xb = a[key].layers["counts"], b[key].layers["counts"]
        if sp.issparse(xa):
            xa, xb = xa.toarray(), xb.toarray()
        np.testing.assert_array_equal(xa, xb)
    assert list(a.obs["batch"]) == list(b.obs["batch"])
    for key, value in a.uns["toy_citeseq"].items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, b.uns["toy_citeseq"][key])
    assert not np.array_equal(a["prot"].X, c["prot"].X)
    assert (a["rna"].X != c["rna"].X).nnz > 0

    # A Generator is accepted (and advanced); the seed is then not recorded.
    rng = np.random.default_rng(3)
    g1, g2 = toy_citeseq(random_state=rng), toy_citeseq(random_state=rng)
    assert g1.uns["toy_citeseq"]["random_state"] == -1
    assert not np.array_equal(g1["prot"].X, g2["prot"].X)


def test_other_sizes():
    m = toy_citeseq(
        n_source=40,
        n_target=12,
        n_genes=30,
        n_proteins=60,
        rank=2,
        structural_rank=3,
        n_informative_genes=5,
        random_state=1,
        noise=0.0,
    )
    assert m["rna"].shape == (52, 30) and m["prot"].shape == (52, 60)
    assert m.obs["cell_type"].value_counts().to_dict() == {"NK": 40, "ILC1": 12}
    assert m["prot"].var_names.is_unique
    assert m["prot"].var_names[-1] == "ADT060"
    truth = m.uns["toy_citeseq"]
    assert truth["source_coef"].shape == (60, 5)
    assert np.linalg.matrix_rank(truth["target_coef"]) == 2
    assert m.obs_names[-1] == "cell_0051"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_source": 1}, "n_source"),
        ({"n_target": 0}, "n_target"),
        ({"n_target": 2.5}, "n_target must be an integer"),
        ({"n_informative_genes": 301}, "n_informative_genes"),
        ({"structural_rank": 20}, "structural_rank"),  # proteins: at most 19
        ({"structural_rank": 0}, "structural_rank"),
        ({"rank": 9}, "rank"),
        ({"rank": True}, "rank must be an integer"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        toy_citeseq(**kwargs)




# --------------------------------------------------------------------------- signal


def test_clr_is_log1p_minus_cell_mean(mdata):
    _, Y, _ = _design_and_responses(mdata)
    logged = np.log1p(np.asarray(mdata["prot"].X, dtype=np.float64))
    np.testing.assert_allclose(Y, logged - logged.mean(axis=1, keepdims=True), atol=1e-10)


def test_source_rna_predicts_proteins(mdata):
    X, Y, source = _design_and_responses(mdata)
    Xs, Ys = X[source], Y[source]
    order = np.random.default_rng(0).permutation(len(Xs))
    train, test = order[: int(0.7 * len(Xs))], order[int(0.7 * len(Xs)) :]
    pred = TargetRidge().fit(Xs[train], Ys[train]).predict(Xs[test])
    r = [np.corrcoef(pred[:, j], Ys[test, j])[0, 1] for j in range(Y.shape[1])]
    assert np.mean(r) > 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_transfer_premise(seed):
    """SMART on 70 % of the target beats target-only ridge and the source model."""
    X, Y, source = _design_and_responses(toy_citeseq(random_state=seed))
    ridge_on_source = TargetRidge().fit(X[source], Y[source])
    Xt, Yt = X[~source], Y[~source]
    order = np.random.default_rng(seed).permutation(len(Xt))
    train, test = order[: int(0.7 * len(Xt))], order[int(0.7 * len(Xt)) :]

    def mse(model):
        model.fit(Xt[train], Yt[train])
        return np.mean((model.predict(Xt[test]) - Yt[test]) ** 2)

    smart = mse(SMARTRegressor(source_coef=ridge_on_source.coef_, random_state=0))
    ridge = mse(TargetRidge())
    source_only = mse(SourceOnly(ridge_on_source.coef_))
    assert smart < ridge
    assert smart < source_only

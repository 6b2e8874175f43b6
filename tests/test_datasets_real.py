"""Real data: the shipped bmmc_cite subset, its build script, and the full-file loader."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import stat
import sys
import tarfile
import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import smart_sc.datasets._real as real
from smart_sc.datasets import bmmc_cite, neurips2021_cite

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_bmmc_cite.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_bmmc_cite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_bmmc_cite"] = module
    spec.loader.exec_module(module)
    return module


make = _load_script()


def _read(path) -> md.MuData:
    with md.set_options(pull_on_update=False), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return md.read_h5mu(path)


def _dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M)


# ----------------------------------------------------------------------------- bmmc_cite


@pytest.fixture(scope="module")
def bmmc():
    return bmmc_cite()


def test_bmmc_structure(bmmc):
    assert isinstance(bmmc, md.MuData)
    assert list(bmmc.mod) == ["rna", "prot"]
    assert bmmc.n_obs == 5000
    assert bmmc["rna"].shape == (5000, 4000)
    assert bmmc["prot"].shape == (5000, 134)
    for frame in (bmmc.obs, bmmc["rna"].obs, bmmc["prot"].obs):
        assert list(frame.columns) == ["cell_type", "donor", "site", "batch"]
        assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in frame.columns)
    assert bmmc["rna"].obs_names.equals(bmmc["prot"].obs_names)
    assert bmmc["rna"].var["gene_stable_id"].str.startswith("ENSG").all()
    assert (bmmc["rna"].var["feature_types"] == "GEX").all()
    assert (bmmc["prot"].var["feature_types"] == "ADT").all()
    assert bmmc["rna"].var_names.is_unique and bmmc["prot"].var_names.is_unique
    assert {"CD3", "CD4", "CD14", "CD56", "HLA-DR"} <= set(bmmc["prot"].var_names)


def test_bmmc_counts_are_integers_and_equal_the_layer(bmmc):
    for name in ("rna", "prot"):
        adata = bmmc[name]
        X, counts = adata.X, adata.layers["counts"]
        assert X.dtype == np.float32 and counts.dtype == np.float32
        assert sp.issparse(X) == (name == "rna")
        values = X.data if sp.issparse(X) else X
        assert np.all(values >= 0) and np.all(values == np.round(values))
        assert np.array_equal(_dense(X), _dense(counts))
        assert X is not counts
    assert int(bmmc["rna"].X.sum()) > 0 and int(bmmc["prot"].X.max()) > 100


def test_bmmc_obs_values(bmmc):
    obs = bmmc.obs
    assert obs["donor"].nunique() == 9
    assert obs["site"].nunique() == 4
    assert obs["batch"].nunique() == 12
    assert obs["cell_type"].nunique() == 44
    counts = obs["cell_type"].value_counts()
    assert counts["CD14+ Mono"] == 1309
    assert counts["NK"] == 306
    assert counts["ILC1"] == 29
    assert counts["CD4+ T activated"] == 406
    assert obs["donor"].value_counts()["15078"] == 1640
    # batch "s<site>d<donor>": the site part agrees with the site column
    assert (obs["batch"].astype(str).str[1] == obs["site"].astype(str).str[-1]).all()
    for name in ("rna", "prot"):
        for col in obs.columns:
            assert bmmc[name].obs[col].astype(str).equals(obs[col].astype(str))


def test_bmmc_provenance(bmmc):
    prov = bmmc.uns["provenance"]
    assert prov["accession"] == "GSE194122"
    assert "Luecken" in prov["citation"]
    assert prov["archive_sha256"] == make.ARCHIVE_SHA256
    assert prov["h5ad_sha256"] == make.H5AD_SHA256
    assert bool(prov["input_verified"])
    assert int(prov["n_genes_kept"]) == 4000 and int(prov["n_cells"]) == 5000
    assert prov["script"] == "scripts/make_bmmc_cite.py"
    assert "gene_selection" in prov
    # nothing of the build machine leaks into the shipped file
    assert not any(str(v).startswith("/") or "/tmp" in str(v) for v in prov.values())


def test_bmmc_calls_are_independent():
    a, b = bmmc_cite(), bmmc_cite()
    assert a is not b and a["rna"] is not b["rna"]
    a["prot"].X[:] = 0
    a["rna"].layers["counts"].data[:] = -1
    a.obs["cell_type"] = "changed"
    assert b["prot"].X.sum() > 0
    assert b["rna"].layers["counts"].data.min() >= 0
    assert "changed" not in set(b.obs["cell_type"])
    assert b["prot"].layers["counts"].sum() > 0  # X and counts are separate copies
    assert bmmc_cite()["prot"].X.sum() == b["prot"].X.sum()


def test_bmmc_loads_quietly():
    # Its load time (0.2 s) is a speed figure: benchmarks/, not a timed test.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bmmc_cite()


def test_bmmc_file_is_small_and_in_the_package():
    path = ROOT / "src" / "smart_sc" / "datasets" / "data" / "bmmc_cite.h5mu"
    assert path.is_file()
    assert path.stat().st_size <= 6e6




# ----------------------------------------------------------------------------- the build script


def _archive_like(n_cells=60, n_genes=40, n_proteins=7, seed=0) -> ad.AnnData:
    """A small AnnData with the schema of the networkvi archive's h5ad."""
    rng = np.random.default_rng(seed)
    batches = np.array(["s1d1", "s1d2", "s2d1", "s3d7"])
    donor_of = {"s1d1": 15078, "s1d2": 10886, "s2d1": 15078, "s3d7": 11466}
    batch = batches[rng.integers(0, batches.size, n_cells)]
    cells = [f"CELL{i:04d}-1-{b}" for i, b in enumerate(batch)]
    X = sp.random(n_cells, n_genes, density=0.3, format="lil", random_state=seed,
                  data_rvs=lambda k: rng.integers(1, 400, k)).astype(np.float32)
    X[0, 0] = 40000.0  # needs int32 on disk
    X = X.tocsr()
    prot = rng.poisson(30.0, (n_cells, n_proteins)).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["NK", "ILC1", "CD14+ Mono"], n_cells)),
            "Site": pd.Categorical(["site" + b[1] for b in batch]),
            "DonorID": pd.Categorical([donor_of[b] for b in batch]),
            "DonorSmoker": pd.Categorical(rng.choice(["Smoker", "Nonsmoker"], n_cells)),
            "DonorAge": rng.integers(20, 50, n_cells),
        },
        index=cells,
    )
    var = pd.DataFrame(
        {"gene_stable_id": [f"ENSG{j:011d}" for j in range(n_genes)],
         "modality": "Gene Expression"},
        index=[f"GENE{j}" for j in range(n_genes)],
    )
    proteins = ["CD4", "CD14", "CD56", "CD3", "HLA-DR", "CD19", "CD16"][:n_proteins]
    other = [f"OTHER{i}-1-s4d9" for i in range(5)]
    meta_obs = pd.DataFrame(
        {"batch": pd.Categorical(list(batch[::-1]) + ["s4d9"] * 5),
         "DonorNumber": pd.Categorical(["donor1"] * (n_cells + 5))},
        index=cells[::-1] + other,
    )
    meta_var = pd.DataFrame({"feature_types": "ADT"}, index=proteins)
    return ad.AnnData(
        X=X, obs=obs, var=var, obsm={"protein_expression": prot},
        uns={"protein_expression": {"obs": meta_obs, "var": meta_var}},
    )


@pytest.fixture
def archive(tmp_path):
    adata = _archive_like()
    h5ad = tmp_path / "source.h5ad"
    adata.write_h5ad(h5ad)
    tar_path = tmp_path / "networkvi-0.1.0.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(h5ad, arcname=make.MEMBER)
    return adata, h5ad, tar_path


def _check_built(mdata: md.MuData, adata: ad.AnnData, genes=None):
    genes = np.arange(adata.n_vars) if genes is None else np.asarray(genes)
    rna, prot = mdata["rna"], mdata["prot"]
    assert rna.X is None and prot.X is None  # stored once, in layers["counts"]
    assert np.issubdtype(rna.layers["counts"].dtype, np.integer)
    assert np.issubdtype(prot.layers["counts"].dtype, np.integer)
    assert rna.obs_names.equals(adata.obs_names)
    assert list(rna.var_names) == list(adata.var_names[genes])
    assert np.array_equal(_dense(rna.layers["counts"]), adata.X[:, genes].toarray())
    assert np.array_equal(prot.layers["counts"], adata.obsm["protein_expression"])
    assert list(prot.var_names) == list(adata.uns["protein_expression"]["var"].index)
    assert mdata.obs["donor"].astype(str).tolist() == adata.obs["DonorID"].astype(str).tolist()
    assert mdata.obs["site"].astype(str).tolist() == adata.obs["Site"].astype(str).tolist()
    assert (mdata.obs["cell_type"].astype(str).tolist()
            == adata.obs["cell_type"].astype(str).tolist())
    suffix = adata.obs_names.str.rsplit("-", n=1).str[-1]
    assert mdata.obs["batch"].astype(str).tolist() == list(suffix)
    assert list(rna.var["gene_stable_id"]) == list(adata.var["gene_stable_id"].iloc[genes])


def test_script_round_trip_from_tar(archive, tmp_path, caplog):
    adata, _, tar_path = archive
    out = tmp_path / "out" / "bmmc.h5mu"
    with caplog.at_level(logging.INFO, logger="make_bmmc_cite"):
        assert make.main([str(tar_path), "--out", str(out), "--no-verify"]) == out
    assert "verified: the written file's counts equal the archive's exactly" in caplog.text
    mdata = _read(out)
    _check_built(mdata, adata)
    prov = mdata.uns["provenance"]
    assert prov["archive_sha256"] == make.sha256_of(tar_path)
    assert not bool(prov["input_verified"])
    assert int(prov["n_genes_kept"]) == adata.n_vars
    assert prov["input_file"] == tar_path.name  # a name, never the build machine's path
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable by others (not mkstemp's 0600)
    assert [p.name for p in out.parent.iterdir()] == ["bmmc.h5mu"]  # no temporary file left


def test_script_round_trip_from_h5ad_and_load_layout(archive, tmp_path):
    adata, h5ad, _ = archive
    out = tmp_path / "bmmc.h5mu"
    make.main([str(h5ad), "--out", str(out), "--no-verify"])
    _check_built(_read(out), adata)
    # bmmc_cite's reader turns the stored integer counts into .X and layers["counts"]
    loaded = real._read_dataset(out)
    for name, expected in (("rna", adata.X.toarray()),
                           ("prot", adata.obsm["protein_expression"])):
        assert loaded[name].X.dtype == loaded[name].layers["counts"].dtype == np.float32
        assert np.array_equal(_dense(loaded[name].X), expected)
        assert np.array_equal(_dense(loaded[name].layers["counts"]), expected)


def test_script_checks_the_sha256(archive, tmp_path):
    _, _, tar_path = archive
    out = tmp_path / "bmmc.h5mu"
    out.write_bytes(b"previous file")
    with pytest.raises(ValueError, match=r"sha256 of networkvi-0\.1\.0\.tar\.gz is .*--no-verify"):
        make.main([str(tar_path), "--out", str(out)])  # not the published archive
    assert out.read_bytes() == b"previous file"  # untouched on failure
    sha = hashlib.sha256(tar_path.read_bytes()).hexdigest()
    make.main([str(tar_path), "--out", str(out), "--sha256", sha])
    assert bool(_read(out).uns["provenance"]["input_verified"])
    with pytest.raises(ValueError, match="sha256"):
        make.main([str(tar_path), "--out", str(out), "--sha256", "0" * 64])


def test_script_without_source_says_how_to_get_it(tmp_path):
    how = r"pip download --no-deps --no-binary :all: networkvi==0\.1\.0"
    with pytest.raises(ValueError, match=how):
        make.main(["--out", str(tmp_path / "x.h5mu")])
    with pytest.raises(FileNotFoundError, match="pip download"):
        make.main([str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "x.h5mu")])


def test_script_rejects_a_tar_without_the_member(tmp_path):
    other = tmp_path / "readme.txt"
    other.write_text("hello")
    tar_path = tmp_path / "other.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(other, arcname="networkvi-0.1.0/README.md")
    with pytest.raises(ValueError, match="has no member"):
        make.main([str(tar_path), "--out", str(tmp_path / "x.h5mu"), "--no-verify"])


def test_script_trims_genes_by_its_rule(archive, tmp_path):
    adata, _, tar_path = archive
    out = tmp_path / "bmmc.h5mu"
    make.main([str(tar_path), "--out", str(out), "--no-verify", "--max-genes", "10"])
    mdata = _read(out)
    detected = (adata.X > 0).sum(axis=0).A1
    total = adata.X.sum(axis=0).A1
    ranked = sorted(range(adata.n_vars), key=lambda j: (-detected[j], -total[j], j))
    genes = sorted(ranked[:10])
    _check_built(mdata, adata, genes)
    prov = mdata.uns["provenance"]
    assert int(prov["n_genes_kept"]) == 10 and int(prov["n_genes_source"]) == adata.n_vars
    assert "non-zero count" in prov["gene_selection"]
    assert "--max-genes" in prov["gene_selection_reason"]


def test_script_refuses_an_impossible_size_budget(archive, tmp_path):
    _, _, tar_path = archive
    out = tmp_path / "bmmc.h5mu"
    with pytest.raises(ValueError, match="cannot fit"):
        make.main([str(tar_path), "--out", str(out), "--no-verify", "--max-mb", "0.001"])
    assert list(tmp_path.glob("*.h5mu*")) == []


# ----------------------------------------------------------------------------- neurips2021_cite


def _geo_like(n_cells=60, n_gex=30, n_adt=8, seed=1, *, dense=False) -> ad.AnnData:
    """A small AnnData with the schema of GSE194122's processed CITE-seq h5ad."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_cells, n_gex + n_adt), dtype=np.float32)
    counts[:, :n_gex] = rng.poisson(0.8, (n_cells, n_gex))
    counts[:, n_gex:] = rng.poisson(25.0, (n_cells, n_adt))
    processed = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    batch = rng.choice(["s1d1", "s2d4", "s3d6"], n_cells)
    obs = pd.DataFrame(
        {
            "GEX_n_genes_by_counts": (counts[:, :n_gex] > 0).sum(axis=1),
            "cell_type": pd.Categorical(rng.choice(["NK", "ILC1", "CD14+ Mono", "B1 B"],
                                                   n_cells)),
            "batch": pd.Categorical(batch),
            "Site": pd.Categorical(["site" + b[1] for b in batch]),
            "DonorNumber": pd.Categorical(["donor" + b[3] for b in batch]),
            "DonorID": rng.integers(10000, 30000, n_cells),
            "is_train": pd.Categorical(rng.choice(["train", "test"], n_cells)),
        },
        index=[f"BC{i:04d}-1-{b}" for i, b in enumerate(batch)],
    )
    genes = [f"GENE{j}" for j in range(n_gex - 1)] + ["CD4"]  # CD4 is a gene and a protein
    proteins = ["CD4", "CD3", "CD14", "CD56", "CD16", "HLA-DR", "CD19", "CD8"][:n_adt]
    var = pd.DataFrame(
        {"feature_types": pd.Categorical(["GEX"] * n_gex + ["ADT"] * n_adt),
         "gene_id": [f"ENSG{j:011d}" for j in range(n_gex)] + proteins},
        index=genes + proteins,
    )
    layer = counts if dense else sp.csr_matrix(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # var_names not unique (CD4), as in GEO
        return ad.AnnData(X=sp.csr_matrix(processed), obs=obs, var=var, layers={"counts": layer})


def _write(adata: ad.AnnData, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        adata.write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def geo(tmp_path_factory):
    adata = _geo_like()
    path = _write(adata, tmp_path_factory.mktemp("geo") / real.GEO_FILE)
    return adata, path


def test_neurips_reads_raw_counts_into_the_layout(geo):
    adata, path = geo
    mdata = neurips2021_cite(path)
    assert list(mdata.mod) == ["rna", "prot"]
    rna, prot = mdata["rna"], mdata["prot"]
    assert rna.shape == (60, 30) and prot.shape == (60, 8)
    counts = adata.layers["counts"].toarray()
    assert sp.issparse(rna.X) and isinstance(prot.X, np.ndarray)
    assert rna.X.dtype == np.float32 and prot.X.dtype == np.float32
    assert np.array_equal(rna.X.toarray(), counts[:, :30])
    assert np.array_equal(prot.X, counts[:, 30:])
    assert not np.allclose(prot.X, adata.X.toarray()[:, 30:])  # the processed .X is not used
    assert np.array_equal(rna.layers["counts"].toarray(), counts[:, :30])
    assert rna.X is not rna.layers["counts"]
    assert prot.var_names[0] == "CD4" and "CD4" in rna.var_names
    assert (rna.var["feature_types"] == "GEX").all() and (prot.var["feature_types"] == "ADT").all()
    assert "gene_id" in rna.var
    for frame in (mdata.obs, rna.obs, prot.obs):
        assert list(frame.columns) == ["cell_type", "donor", "site", "batch"]
        assert frame.index.equals(adata.obs_names)
    assert mdata.obs["donor"].astype(str).tolist() == adata.obs["DonorNumber"].astype(str).tolist()
    assert mdata.obs["site"].astype(str).tolist() == adata.obs["Site"].astype(str).tolist()
    assert mdata.obs["batch"].astype(str).tolist() == adata.obs["batch"].astype(str).tolist()
    prov = mdata.uns["provenance"]
    assert prov["accession"] == "GSE194122" and prov["source_file"] == real.GEO_FILE
    assert prov["cell_types"] == "all" and prov["n_cells"] == 60


def test_neurips_cell_type_filter_and_backed(geo):
    adata, path = geo
    keep = adata.obs["cell_type"].isin(["NK", "ILC1"]).to_numpy()
    backed = neurips2021_cite(path, cell_types=["NK", "ILC1"])
    loaded = neurips2021_cite(path.parent, cell_types=("NK", "ILC1"), backed=False)
    counts = adata.layers["counts"].toarray()[keep]
    for mdata in (backed, loaded):
        assert mdata.obs_names.equals(adata.obs_names[keep])
        assert set(mdata.obs["cell_type"]) == {"NK", "ILC1"}
        assert list(mdata.obs["cell_type"].cat.categories) == ["ILC1", "NK"]
        assert np.array_equal(mdata["rna"].X.toarray(), counts[:, :30])
        assert np.array_equal(mdata["prot"].X, counts[:, 30:])
    assert list(backed.uns["provenance"]["cell_types"]) == ["NK", "ILC1"]
    single = neurips2021_cite(path, cell_types="NK")
    assert single.n_obs == int((adata.obs["cell_type"] == "NK").sum())


@pytest.mark.parametrize("backed", [True, False])
def test_neurips_dense_counts_layer(tmp_path, backed):
    adata = _geo_like(dense=True)
    path = _write(adata, tmp_path / "geo.h5ad")
    mdata = neurips2021_cite(path, cell_types=["ILC1"], backed=backed)
    keep = (adata.obs["cell_type"] == "ILC1").to_numpy()
    assert np.array_equal(mdata["prot"].X, adata.layers["counts"][keep][:, 30:])


def test_neurips_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        neurips2021_cite(tmp_path)
    message = str(err.value)
    assert "GSE194122" in message and real.GEO_FILE in message
    assert "gunzip" in message and "pass its path" in message
    gz = tmp_path / (real.GEO_FILE + ".gz")
    gz.write_bytes(gzip.compress(b"not really"))
    with pytest.raises(FileNotFoundError, match="decompress it first"):
        neurips2021_cite(tmp_path / real.GEO_FILE)
    with pytest.raises(ValueError, match="gzip-compressed"):
        neurips2021_cite(gz)
    text = tmp_path / "notes.h5ad"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5"):
        neurips2021_cite(text)


@pytest.mark.filterwarnings("ignore:Variable names are not unique:UserWarning")
def test_neurips_schema_errors(tmp_path):
    base = _geo_like()

    no_layer = base.copy()
    del no_layer.layers["counts"]
    with pytest.raises(ValueError, match=r"no layers\['counts'\].*has layers \[\]"):
        neurips2021_cite(_write(no_layer, tmp_path / "a.h5ad"))

    no_types = base.copy()
    del no_types.var["feature_types"]
    with pytest.raises(ValueError, match=r"var lacks 'feature_types'.*\['gene_id'\]"):
        neurips2021_cite(_write(no_types, tmp_path / "b.h5ad"))

    only_gex = base.copy()
    only_gex.var["feature_types"] = "GEX"
    with pytest.raises(ValueError, match=r"'GEX' and 'ADT'.*'GEX': 38"):
        neurips2021_cite(_write(only_gex, tmp_path / "c.h5ad"))

    no_donor = base.copy()
    del no_donor.obs["DonorNumber"]
    with pytest.raises(ValueError, match=r"obs lacks the column\(s\) \['DonorNumber'\].*DonorID"):
        neurips2021_cite(_write(no_donor, tmp_path / "d.h5ad"))

    not_counts = base.copy()
    not_counts.layers["counts"] = sp.csr_matrix(base.layers["counts"] * 0.5)
    with pytest.raises(ValueError, match="not raw counts"):
        neurips2021_cite(_write(not_counts, tmp_path / "e.h5ad"))

    # These were read without a word: NaN labels became a category "nan", NaN
    # counts were called non-integer, duplicated cells were kept.
    no_label = base.copy()
    cell_type = no_label.obs["cell_type"].astype(object)
    cell_type.iloc[[2, 5]] = np.nan
    no_label.obs["cell_type"] = pd.Categorical(cell_type)
    with pytest.raises(ValueError, match=r"obs column 'cell_type' has 2 missing value"):
        neurips2021_cite(_write(no_label, tmp_path / "f.h5ad"))

    nan_counts = base.copy()
    layer = base.layers["counts"].copy()
    layer.data[3] = np.nan
    nan_counts.layers["counts"] = layer
    with pytest.raises(ValueError, match=r"NaN or infinite values \(1 in"):
        neurips2021_cite(_write(nan_counts, tmp_path / "g.h5ad"))

    twice = base.copy()
    twice.obs_names = [base.obs_names[0]] * 2 + list(base.obs_names[2:])
    with pytest.raises(ValueError, match=r"obs names are not unique"):
        neurips2021_cite(_write(twice, tmp_path / "h.h5ad"))


def test_neurips_argument_errors(geo):
    _, path = geo
    with pytest.raises(ValueError, match=r"cell_types \['T reg'\] not in the file.*'NK'"):
        neurips2021_cite(path, cell_types=["NK", "T reg"])
    with pytest.raises(ValueError, match="cell_types"):
        neurips2021_cite(path, cell_types=[])
    with pytest.raises(ValueError, match="cell_types"):
        neurips2021_cite(path, cell_types=3)
    with pytest.raises(ValueError, match="backed"):
        neurips2021_cite(path, backed="r")
    with pytest.raises(TypeError, match="path"):
        neurips2021_cite(None)

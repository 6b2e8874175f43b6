"""SourceModel: names, validation, the pickle-free .h5ad file (and the old .npz), alignment."""

from __future__ import annotations

import json
import logging
import os
import warnings
import zipfile
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, Ridge

import smart_sc
from smart_sc.source import FORMAT, FORMAT_VERSION, SourceModel, as_source_model

UNS_KEY = "smart_sc_source_model"

# ----------------------------------------------------------------------------- fixtures


def _model(n_genes: int = 6, n_proteins: int = 3, seed: int = 0, **provenance) -> SourceModel:
    rng = np.random.default_rng(seed)
    genes = [f"GENE{i}" for i in range(n_genes)]
    proteins = [f"PROT{j}" for j in range(n_proteins)]
    coef = pd.DataFrame(rng.normal(size=(n_genes, n_proteins)), index=genes, columns=proteins)
    intercept = pd.Series(rng.normal(size=n_proteins), index=proteins)
    return SourceModel.from_dataframe(coef, intercept, **provenance)


@pytest.fixture
def saved(tmp_path) -> tuple[SourceModel, Path]:
    model = _model(population="PBMC", n_cells=1234)
    path = tmp_path / "model.h5ad"
    model.save(path)
    return model, path


def _edit(path: Path, edit) -> None:
    """Rewrite a saved .h5ad after ``edit(adata)`` changed it (as another tool might)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. duplicated names, on purpose
        adata = anndata.read_h5ad(path)
        edit(adata)
        adata.write_h5ad(path)


def _with_metadata(path: Path, **changes) -> None:
    """Change the format record in ``.uns`` (``None`` removes a key)."""

    def edit(adata):
        meta = dict(adata.uns[UNS_KEY])
        for key, value in changes.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        adata.uns[UNS_KEY] = meta

    _edit(path, edit)


# The format written before version 2: an .npz of plain arrays plus one JSON string.


def _write_npz(model: SourceModel, path: Path) -> None:
    meta = {
        "format": FORMAT,
        "format_version": 1,
        "n_genes": model.n_genes,
        "n_proteins": model.n_proteins,
        "written_by": "smart_sc 0.1.0",
        "provenance": model.provenance,
    }
    arrays = {
        "metadata": np.array(json.dumps(meta)),
        "coef": model.coef.to_numpy(),
        "intercept": model.intercept.to_numpy(),
        "genes": np.array(model.genes.tolist(), dtype=np.str_),
        "proteins": np.array(model.proteins.tolist(), dtype=np.str_),
    }
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.fixture
def legacy(tmp_path) -> tuple[SourceModel, Path]:
    model = _model(population="PBMC", n_cells=1234)
    path = tmp_path / "model.npz"
    _write_npz(model, path)
    return model, path


def _entries(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _rewrite(path: Path, **changes) -> None:
    """Rewrite an .npz model with some entries replaced (``None`` removes one)."""
    arrays = _entries(path)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


# ----------------------------------------------------------------------------- round trip


def test_roundtrip_is_exact(tmp_path):
    genes = ["CD3E", "MS4A1", "HLA-DRA", "gène é", " leading space", "x" * 80]
    proteins = ["CD3", "CD19", "HLA-DR_TotalSeqB"]
    values = np.array(
        [
            [0.1, -0.0, 1e-310],  # negative zero and a subnormal must survive bit for bit
            [np.pi, 2.0 / 3.0, -1e300],
            [1.0, 2.0, 3.0],
            [0.0, 0.0, 0.0],
            [np.nextafter(1.0, 2.0), -5.5, 7.25],
            [1e-12, 3.0, -2.0],
        ]
    )
    provenance = {
        "population": "PBMC healthy donors",
        "n_cells": 5123,
        "preprocessing": {"rna": {"normalize_total": 1e4, "log1p": True}, "prot": "clr"},
        "estimator": "Ridge",
        "estimator_params": {"alpha": 0.5, "fit_intercept": True, "solver": None},
        "donors": ["d1", "d2"],
        "mixed": [1, "a", None, {"k": [True, 2.5]}, []],  # what .h5ad alone could not keep
    }
    model = SourceModel.from_arrays(values, genes, proteins, [0.5, -1.5, 1e-8], **provenance)
    path = tmp_path / "m.h5ad"
    assert model.save(path) == path
    loaded = SourceModel.load(path)

    assert loaded.equals(model)
    assert loaded.genes.tolist() == genes
    assert loaded.proteins.tolist() == proteins
    assert loaded.coef.to_numpy().dtype == np.float64
    assert loaded.coef.to_numpy().tobytes() == model.coef.to_numpy().tobytes()
    assert loaded.intercept.to_numpy().tobytes() == model.intercept.to_numpy().tobytes()
    assert loaded.intercept.index.tolist() == proteins
    assert loaded.provenance == model.provenance
    assert loaded.provenance["preprocessing"]["rna"]["normalize_total"] == 1e4
    # Filled in at construction, kept (not refreshed) by loading.
    assert loaded.provenance["smart_sc_version"] == smart_sc.__version__
    assert loaded.provenance["created"] == model.provenance["created"]


def test_file_opens_as_plain_anndata_genes_by_proteins(saved):
    model, path = saved
    adata = anndata.read_h5ad(path)  # any scverse tool: no smart_sc needed
    assert adata.shape == (model.n_genes, model.n_proteins)
    assert adata.obs_names.tolist() == model.genes.tolist()
    assert adata.var_names.tolist() == model.proteins.tolist()
    assert adata.X.dtype == np.float64
    np.testing.assert_array_equal(adata.X, model.coef.to_numpy())
    np.testing.assert_array_equal(adata.var["intercept"], model.intercept.to_numpy())
    meta = adata.uns[UNS_KEY]
    assert meta["format"] == FORMAT == "smart_sc.SourceModel"
    assert meta["format_version"] == FORMAT_VERSION == 2
    assert meta["written_by"] == f"smart_sc {smart_sc.__version__}"
    assert json.loads(meta["provenance"]) == model.provenance


def test_file_holds_only_numbers_and_text(saved):
    # Nothing in the file can be unpickled: every dataset is numeric or a string.
    _, path = saved
    kinds = set()

    def visit(_, obj):
        if isinstance(obj, h5py.Dataset):
            is_text = h5py.check_string_dtype(obj.dtype) is not None
            kinds.add("text" if is_text else obj.dtype.kind)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    assert "f" in kinds and kinds <= {"text", "f", "i", "u", "b"}, kinds


def test_save_accepts_str_and_writes_exactly_that_path(tmp_path):
    model = _model()
    target = tmp_path / "pbmc.smart"
    model.save(str(target))
    assert sorted(os.listdir(tmp_path)) == ["pbmc.smart"]
    assert SourceModel.load(str(target)).equals(model)


def test_save_without_extension_writes_h5ad(tmp_path):
    model = _model()
    written = model.save(tmp_path / "pbmc")
    assert written == tmp_path / "pbmc.h5ad"
    assert sorted(os.listdir(tmp_path)) == ["pbmc.h5ad"]
    assert SourceModel.load(tmp_path / "pbmc").equals(model)  # the same name loads it


def test_save_under_the_old_npz_name_warns_and_still_loads(tmp_path):
    model = _model()
    with pytest.warns(UserWarning, match=r"SourceModel files are .h5ad.*name it .h5ad") as info:
        model.save(tmp_path / "old_name.npz")
    assert info[0].filename == __file__  # points at the caller's line
    assert SourceModel.load(tmp_path / "old_name.npz").equals(model)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "model.h5ad"
    first, second = _model(seed=1), _model(seed=2)
    first.save(path)
    second.save(path)  # replaces
    assert os.listdir(tmp_path) == ["model.h5ad"]
    assert SourceModel.load(path).equals(second)


def _failing_write(error):
    def write_h5ad(self, filename, **kwargs):
        with open(filename, "wb") as fh:  # something reached the temp file before failing
            fh.write(b"\x89HDF\r\n\x1a\n partial")
        raise error

    return write_h5ad


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_existing_file_untouched(tmp_path, monkeypatch, error):
    path = tmp_path / "model.h5ad"
    original = _model(seed=1)
    original.save(path)
    before = path.read_bytes()

    monkeypatch.setattr(anndata.AnnData, "write_h5ad", _failing_write(error))
    with pytest.raises(type(error)):
        _model(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.h5ad"]
    monkeypatch.undo()
    assert SourceModel.load(path).equals(original)


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(anndata.AnnData, "write_h5ad", _failing_write(OSError("disk full")))
    with pytest.raises(OSError, match=r"disk full"):
        _model().save(tmp_path / "model.h5ad")
    assert os.listdir(tmp_path) == []


def test_save_flushes_the_file_to_disk_before_renaming(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    _model().save(tmp_path / "model.h5ad")
    assert events[:2] == ["fsync", "replace"]


def test_new_file_gets_umask_permissions(tmp_path):
    # A temp file from tempfile would be 0o600; a model meant to travel should not be.
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "model.h5ad"
    _model().save(path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        SourceModel.load(tmp_path / "nope.h5ad")


# ----------------------------------------------------------------------------- damaged or foreign


def test_random_bytes(tmp_path):
    path = tmp_path / "model.h5ad"
    path.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file") as info:
        SourceModel.load(path)
    assert "pickle" not in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "model.h5ad"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file.*empty"):
        SourceModel.load(path)


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_file(saved, keep):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"damaged \(e.g. truncated\).*cannot be read as .h5ad"):
        SourceModel.load(path)


def test_corrupted_bytes_inside_the_coefficients(saved):
    _, path = saved
    with h5py.File(path, "r") as f:
        chunk = f["X"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    # Flip bytes in the middle of the stored coefficients; gzip's checksum catches it.
    start = chunk.byte_offset + chunk.size // 2
    data[start : start + 8] = bytes(b ^ 0xFF for b in data[start : start + 8])
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.*cannot be read as .h5ad"):
        SourceModel.load(path)


def test_other_anndata_is_not_ours(tmp_path):
    path = tmp_path / "cells.h5ad"  # e.g. a dataset of cells x genes
    anndata.AnnData(np.ones((4, 3))).write_h5ad(path)
    with pytest.raises(
        ValueError, match=r"is not a smart_sc SourceModel file: it is an AnnData \(4 x 3\) without"
    ):
        SourceModel.load(path)


def test_plain_hdf5_is_not_ours(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file.*\.h5ad"):
        SourceModel.load(path)


def test_npy_file_is_not_ours(tmp_path):
    path = tmp_path / "model.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match=r"single NumPy array"):
        SourceModel.load(path)


def test_wrong_format_string(saved):
    _, path = saved
    _with_metadata(path, format="someone_else.Model")
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file.*someone_else"):
        SourceModel.load(path)


def test_provenance_not_json(saved):
    _, path = saved
    _with_metadata(path, provenance="{not json")
    with pytest.raises(ValueError, match=r"damaged.*provenance is not valid JSON"):
        SourceModel.load(path)


def test_future_format_version_says_upgrade(saved):
    _, path = saved
    _with_metadata(path, format_version=FORMAT_VERSION + 1, written_by="smart_sc 9.0")
    with pytest.raises(ValueError, match=r"format version 3.*smart_sc 9.0.*Upgrade smart_sc"):
        SourceModel.load(path)


@pytest.mark.parametrize("version", [0, 1, "2", None])
def test_bad_format_version(saved, version):
    _, path = saved
    _with_metadata(path, format_version=version)
    with pytest.raises(ValueError, match=r"damaged.*format_version"):
        SourceModel.load(path)


def test_missing_intercept_column(saved):
    _, path = saved
    _edit(path, lambda adata: adata.var.drop(columns="intercept", inplace=True))
    with pytest.raises(ValueError, match=r"damaged.*\.var has no 'intercept' column"):
        SourceModel.load(path)


def test_extra_annotations_from_other_tools_are_kept_out(saved):
    model, path = saved

    def annotate(adata):
        adata.var["note"] = "x"
        adata.obs["highly_variable"] = True
        adata.uns["other_tool"] = {"a": 1}

    _edit(path, annotate)
    assert SourceModel.load(path).equals(model)


def test_duplicate_names_in_file(saved):
    model, path = saved

    def duplicate(adata):
        adata.obs_names = ["A"] * model.n_genes

    _edit(path, duplicate)
    with pytest.raises(ValueError, match=r"damaged.*duplicated.*'A'"):
        SourceModel.load(path)


def _replace_bytes(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new))


@pytest.mark.parametrize("edit", ["gene_name_bytes", "coefficient", "provenance"])
def test_a_file_changed_after_it_was_written_is_refused(saved, edit):
    model, path = saved
    if edit == "gene_name_bytes":
        # The issue's case: one name's bytes changed in place, so the file still
        # reads and the coefficients would be attached to the wrong gene.
        name = str(model.genes[0]).encode()
        _replace_bytes(path, name, name[:-1] + (b"9" if name[-1:] != b"9" else b"8"))
    elif edit == "coefficient":
        _edit(path, lambda adata: adata.X.__setitem__((0, 0), adata.X[0, 0] + 1.0))
    else:
        def rewrite(adata):
            meta = adata.uns["smart_sc_source_model"]
            meta["provenance"] = meta["provenance"].replace("PBMC", "PBMX")
        _edit(path, rewrite)
    with pytest.raises(ValueError, match="was changed after it was written"):
        SourceModel.load(path)


def test_an_unchanged_file_passes_the_digest_and_one_without_a_digest_is_refused(saved):
    model, path = saved
    assert SourceModel.load(path).equals(model)

    def drop_digest_and_edit(adata):  # deleting the digest must not let an edit through
        adata.uns["smart_sc_source_model"].pop("sha256")
        adata.X[0, 0] += 100.0

    _edit(path, drop_digest_and_edit)
    with pytest.raises(ValueError, match=r"has no sha256 digest.*Re-export"):
        SourceModel.load(path)


def test_nonfinite_values_in_file(saved):
    _, path = saved

    def spoil(adata):
        adata.X[0, 0], adata.X[1, 1] = np.nan, np.inf

    _edit(path, spoil)
    with pytest.raises(ValueError, match=r"damaged.*'coef' holds 1 NaN and 1 infinite"):
        SourceModel.load(path)


def test_nonfinite_intercept_in_file(saved):
    _, path = saved

    def spoil(adata):
        adata.var["intercept"] = [np.nan, 0.0, -np.inf]

    _edit(path, spoil)
    with pytest.raises(ValueError, match=r"damaged.*'intercept' holds 1 NaN and 1 infinite"):
        SourceModel.load(path)


def test_wrong_dtype_in_file(saved):
    _, path = saved

    def to_int(adata):
        adata.X = np.ones(adata.shape, dtype=np.int64)

    _edit(path, to_int)
    with pytest.raises(ValueError, match=r"'coef' has dtype int64, expected floating-point"):
        SourceModel.load(path)


def test_sparse_coefficients_written_by_another_tool_load(saved):
    import scipy.sparse as sp

    model, path = saved
    _edit(path, lambda adata: setattr(adata, "X", sp.csr_matrix(adata.X)))
    assert SourceModel.load(path).equals(model)


# ----------------------------------------------------------------------------- the old .npz format


def test_old_npz_file_still_loads_and_resaves_as_h5ad(legacy, tmp_path):
    model, path = legacy
    loaded = SourceModel.load(path)
    assert loaded.equals(model)
    assert as_source_model(str(path)).equals(model)
    converted = loaded.save(tmp_path / "converted")
    assert converted.suffix == ".h5ad" and SourceModel.load(converted).equals(model)


class _Payload:
    """Unpickling this creates ``marker`` (via ``open``): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload_array(marker: Path) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(marker)
    return arr


def test_payload_is_live_when_unpickled(tmp_path):
    # Control for the test below: the payload really runs when numpy is allowed to
    # unpickle, so its absence there means smart_sc never unpickled.
    marker = tmp_path / "control_marker"
    path = tmp_path / "evil.npz"
    np.savez(path, x=_payload_array(marker))
    with np.load(path, allow_pickle=True) as npz:
        npz["x"][0].close()
    assert marker.exists()


@pytest.mark.parametrize("entry", ["genes", "coef", "metadata"])
def test_pickle_in_file_is_refused_and_never_run(legacy, tmp_path, entry):
    _, path = legacy
    marker = tmp_path / f"pwned_{entry}"
    _rewrite(path, **{entry: _payload_array(marker)})
    with pytest.raises(ValueError, match=r"Python objects \(pickled data\)") as info:
        SourceModel.load(path)
    assert entry in str(info.value)
    assert not marker.exists()


def test_object_npy_file_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    with open(path, "wb") as fh:  # a single pickled object array under our file name
        np.save(fh, _payload_array(marker), allow_pickle=True)
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file"):
        SourceModel.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_npz(legacy, keep):
    _, path = legacy
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file|damaged"):
        SourceModel.load(path)


def test_corrupted_bytes_inside_an_npz_entry(legacy):
    _, path = legacy
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("coef.npy")
    # Flip bytes in the middle of the stored coefficients; the zip CRC catches it.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2
    data[start : start + 8] = bytes(b ^ 0xFF for b in data[start : start + 8])
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.*'coef'"):
        SourceModel.load(path)


def test_valid_npz_without_our_entries(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3), b=np.arange(4))
    with pytest.raises(ValueError, match=r"is not a smart_sc SourceModel file.*no 'metadata'"):
        SourceModel.load(path)


def test_npz_metadata_not_json_or_wrong(legacy):
    _, path = legacy
    data = path.read_bytes()
    _rewrite(path, metadata=np.array("{not json"))
    with pytest.raises(ValueError, match=r"not valid JSON"):
        SourceModel.load(path)
    path.write_bytes(data)
    meta = json.loads(str(_entries(path)["metadata"][()]))
    _rewrite(path, metadata=np.array(json.dumps({**meta, "format_version": 2})))
    with pytest.raises(ValueError, match=r"damaged.*format_version 2 is not valid"):
        SourceModel.load(path)


def test_npz_missing_and_extra_entries(legacy):
    _, path = legacy
    data = path.read_bytes()
    _rewrite(path, intercept=None)
    with pytest.raises(ValueError, match=r"damaged.*missing entries \['intercept'\]"):
        SourceModel.load(path)
    path.write_bytes(data)
    _rewrite(path, extra=np.zeros(2))
    with pytest.raises(ValueError, match=r"unexpected entries \['extra'\]"):
        SourceModel.load(path)


def test_npz_names_that_do_not_match_coef(legacy):
    _, path = legacy
    _rewrite(path, genes=np.array(["A", "B"]))
    with pytest.raises(ValueError, match=r"damaged.*'coef' has shape \(6, 3\), expected \(2, 3\)"):
        SourceModel.load(path)


def test_npz_duplicates_nonfinite_and_dtype(legacy):
    model, path = legacy
    data = path.read_bytes()
    _rewrite(path, genes=np.array(["A"] * model.n_genes))
    with pytest.raises(ValueError, match=r"damaged.*duplicated.*'A'"):
        SourceModel.load(path)
    path.write_bytes(data)
    coef = _entries(path)["coef"].copy()
    coef[0, 0], coef[1, 1] = np.nan, np.inf
    _rewrite(path, coef=coef)
    with pytest.raises(ValueError, match=r"damaged.*1 NaN and 1 infinite"):
        SourceModel.load(path)
    path.write_bytes(data)
    _rewrite(path, coef=_entries(path)["coef"].astype(str))
    with pytest.raises(ValueError, match=r"'coef' has dtype"):
        SourceModel.load(path)


# ----------------------------------------------------------------------------- construction


def test_duplicate_gene_names_are_named():
    coef = pd.DataFrame(np.ones((4, 1)), index=["A", "B", "A", "B"], columns=["P"])
    with pytest.raises(ValueError, match=r"2 duplicated name\(s\): 'A', 'B'"):
        SourceModel.from_dataframe(coef)


def test_duplicate_protein_names_are_named():
    with pytest.raises(ValueError, match=r"protein.*duplicated.*'P'"):
        SourceModel.from_arrays(np.ones((1, 2)), ["A"], ["P", "P"])


def test_nan_and_inf_are_counted():
    values = np.ones((3, 2))
    values[0, 0] = values[2, 1] = np.nan
    values[1, 0] = -np.inf
    with pytest.raises(ValueError, match=r"2 NaN and 1 infinite value"):
        SourceModel.from_arrays(values, ["A", "B", "C"], ["P", "Q"])


def test_nan_intercept_rejected():
    with pytest.raises(ValueError, match=r"intercept.*1 NaN"):
        SourceModel.from_arrays(np.ones((1, 2)), ["A"], ["P", "Q"], intercept=[np.nan, 0.0])


def test_positional_index_is_refused():
    # A DataFrame made from a bare array has integer labels: no names to align by.
    with pytest.raises(TypeError, match=r"gene names.*by name, never by position"):
        SourceModel.from_dataframe(pd.DataFrame(np.ones((2, 2)), columns=["P", "Q"]))


@pytest.mark.parametrize("bad", ["", "A\x00"])
def test_empty_or_nul_names_refused(bad):
    with pytest.raises(ValueError, match=r"empty|NUL"):
        SourceModel.from_arrays(np.ones((2, 1)), ["A", bad], ["P"])


def test_non_numeric_and_empty_coef_refused():
    with pytest.raises(TypeError, match=r"numeric"):
        SourceModel.from_dataframe(pd.DataFrame({"P": ["x", "y"]}, index=["A", "B"]))
    with pytest.raises(ValueError, match=r"at least one gene"):
        SourceModel.from_dataframe(pd.DataFrame(index=["A"], columns=pd.Index([], dtype=object)))
    with pytest.raises(TypeError, match=r"DataFrame"):
        SourceModel(np.ones((2, 2)))


def test_intercept_series_is_matched_by_name():
    coef = pd.DataFrame(np.ones((1, 3)), index=["A"], columns=["P", "Q", "R"])
    model = SourceModel.from_dataframe(coef, pd.Series({"R": 3.0, "P": 1.0, "Q": 2.0}))
    assert model.intercept.to_dict() == {"P": 1.0, "Q": 2.0, "R": 3.0}
    assert model.intercept.index.tolist() == ["P", "Q", "R"]


def test_intercept_series_with_other_names_is_reported():
    coef = pd.DataFrame(np.ones((1, 2)), index=["A"], columns=["P", "Q"])
    with pytest.raises(ValueError, match=r"1 protein\(s\) missing: 'Q'; 1 not in coef: 'Z'"):
        SourceModel.from_dataframe(coef, pd.Series({"P": 1.0, "Z": 2.0}))


def test_intercept_default_zero_and_shape_checked():
    model = SourceModel.from_arrays(np.ones((2, 2)), ["A", "B"], ["P", "Q"])
    assert model.intercept.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"intercept must have shape \(2,\)"):
        SourceModel.from_arrays(np.ones((2, 2)), ["A", "B"], ["P", "Q"], intercept=[1.0])


def test_from_arrays_shape_checked_with_transpose_hint():
    with pytest.raises(ValueError, match=r"looks transposed"):
        SourceModel.from_arrays(np.ones((2, 3)), ["A", "B", "C"], ["P", "Q"])
    with pytest.raises(ValueError, match=r"expected"):
        SourceModel.from_arrays(np.ones((2, 2)), ["A", "B", "C"], ["P", "Q"])


def test_provenance_must_be_json_and_error_names_the_key():
    with pytest.raises(TypeError, match=r"provenance\['preprocessing'\]\['scaler'\].*object"):
        _model(preprocessing={"scaler": object()})
    with pytest.raises(ValueError, match=r"provenance\['score'\].*finite"):
        _model(score=float("nan"))
    with pytest.raises(TypeError, match=r"non-string key 1"):
        _model(by_donor={1: "a"})
    # Arrays are lists (files give stored lists back as arrays), element by element.
    assert _model(arr=np.arange(3)).provenance["arr"] == [0, 1, 2]
    with pytest.raises(TypeError, match=r"provenance\['arr'\]\[0\].*object"):
        _model(arr=np.array([object()], dtype=object))


def test_provenance_normalised_and_defaults_filled():
    model = _model(n_cells=np.int64(7), sizes=(1, 2), ratio=np.float32(0.5), flag=np.bool_(True))
    prov = model.provenance
    assert prov["n_cells"] == 7 and type(prov["n_cells"]) is int
    assert prov["sizes"] == [1, 2]
    assert prov["ratio"] == 0.5 and type(prov["ratio"]) is float
    assert prov["flag"] is True
    assert prov["smart_sc_version"] == smart_sc.__version__
    assert prov["created"].endswith("+00:00")
    given = _model(created="2020-01-01T00:00:00+00:00", smart_sc_version="0.0.1")
    assert given.provenance["created"] == "2020-01-01T00:00:00+00:00"
    assert given.provenance["smart_sc_version"] == "0.0.1"


def test_properties_repr_and_equals():
    model = _model(population="PBMC", n_cells=10, created="t")
    assert model.n_genes == 6 and model.n_proteins == 3
    assert isinstance(model.genes, pd.Index) and isinstance(model.proteins, pd.Index)
    text = repr(model)
    assert "6 genes x 3 proteins" in text and "PBMC" in text
    same = _model(population="PBMC", n_cells=10, created="t")
    assert model.equals(same)
    assert not model.equals(_model(population="other", n_cells=10, created="t"))
    assert not model.equals(_model(population="PBMC", n_cells=10, created="t", seed=1))
    assert not model.equals(model.coef)


def test_constructor_copies_its_input():
    coef = pd.DataFrame(np.ones((2, 1)), index=["A", "B"], columns=["P"])
    model = SourceModel.from_dataframe(coef)
    coef.iloc[0, 0] = 5.0
    assert model.coef.iloc[0, 0] == 1.0


# ----------------------------------------------------------------------------- from_estimator


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    genes = ["CD3E", "MS4A1", "LYZ", "NKG7"]
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=genes)
    Y = X.to_numpy() @ rng.normal(size=(4, 2)) + np.array([1.0, -2.0])
    return X, Y, genes, ["CD3", "CD19"]


def test_from_estimator_uses_feature_names_in(regression):
    X, Y, genes, proteins = regression
    ridge = Ridge(alpha=0.3).fit(X, Y)
    model = SourceModel.from_estimator(ridge, target_names=proteins, population="PBMC")
    assert model.genes.tolist() == genes and model.proteins.tolist() == proteins
    np.testing.assert_array_equal(model.coef.to_numpy(), ridge.coef_.T)
    np.testing.assert_array_equal(model.intercept.to_numpy(), ridge.intercept_)
    np.testing.assert_allclose(
        X.to_numpy() @ model.coef.to_numpy() + model.intercept.to_numpy(), ridge.predict(X)
    )
    prov = model.provenance
    assert prov["estimator"] == "Ridge" and prov["population"] == "PBMC"
    assert prov["estimator_params"]["alpha"] == 0.3
    json.dumps(prov)


def test_from_estimator_on_numpy_needs_feature_names(regression):
    X, Y, genes, proteins = regression
    ridge = Ridge().fit(X.to_numpy(), Y)
    with pytest.raises(ValueError, match=r"fitted on an array.*feature_names="):
        SourceModel.from_estimator(ridge, target_names=proteins)
    model = SourceModel.from_estimator(ridge, target_names=proteins, feature_names=genes)
    assert model.genes.tolist() == genes
    np.testing.assert_array_equal(model.coef.to_numpy(), ridge.coef_.T)


def test_from_estimator_name_checks(regression):
    X, Y, genes, proteins = regression
    ridge = Ridge().fit(X, Y)
    with pytest.raises(ValueError, match=r"disagree with Ridge.feature_names_in_"):
        SourceModel.from_estimator(ridge, target_names=proteins, feature_names=genes[::-1])
    with pytest.raises(ValueError, match=r"1 target_names for 2 target\(s\)"):
        SourceModel.from_estimator(ridge, target_names=["CD3"])
    with pytest.raises(ValueError, match=r"3 feature names for 4"):
        SourceModel.from_estimator(
            Ridge().fit(X.to_numpy(), Y), target_names=proteins, feature_names=genes[:3]
        )


def test_from_estimator_single_target_and_no_intercept(regression):
    X, Y, _, _ = regression
    single = SourceModel.from_estimator(LinearRegression().fit(X, Y[:, 0]), target_names="CD3")
    assert single.proteins.tolist() == ["CD3"] and single.coef.shape == (4, 1)
    no_b = SourceModel.from_estimator(
        Ridge(fit_intercept=False).fit(X, Y), target_names=["CD3", "CD19"]
    )
    assert no_b.intercept.tolist() == [0.0, 0.0]


def test_from_estimator_refuses_unfitted_and_non_linear(regression):
    with pytest.raises(TypeError, match=r"no coef_.*fitted"):
        SourceModel.from_estimator(Ridge(), target_names=["CD3"])
    from sklearn.linear_model import LogisticRegression

    X, Y, _, _ = regression
    clf = LogisticRegression().fit(X, Y[:, 0] > 0)
    with pytest.raises(TypeError, match=r"classifier"):
        SourceModel.from_estimator(clf, target_names=["CD3"])


def test_estimator_params_skip_non_json(regression):
    X, Y, _, proteins = regression
    fit = Ridge(alpha=np.array([0.1, 1.0])).fit(X, Y)  # array-valued parameter: a list
    model = SourceModel.from_estimator(fit, target_names=proteins)
    assert model.provenance["estimator_params"]["alpha"] == [0.1, 1.0]
    assert model.provenance["estimator_params"]["fit_intercept"] is True
    # A parameter JSON cannot hold is left out, not stringified.
    fit.set_params(solver=object())
    model = SourceModel.from_estimator(fit, target_names=proteins)
    assert "solver" not in model.provenance["estimator_params"]


# ----------------------------------------------------------------------------- alignment


def test_alignment_follows_names_not_positions():
    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(20)]
    proteins = ["P0", "P1", "P2"]
    model = SourceModel.from_arrays(
        rng.normal(size=(20, 3)), genes, proteins, intercept=[1.0, 2.0, 3.0]
    )
    target_genes = list(rng.permutation(genes))
    target_proteins = ["P2", "P0", "P1"]
    al = model.aligned(target_genes, target_proteins)
    expected = model.coef.loc[target_genes, target_proteins].to_numpy()
    np.testing.assert_array_equal(al.coef, expected)
    np.testing.assert_array_equal(al.intercept, [3.0, 1.0, 2.0])
    assert al.gene_mask.all() and al.protein_mask.all()
    assert al.missing_genes_in_source == al.missing_genes_in_target == ()
    # Not the source rows in source order (a silent positional match would give this).
    assert not np.array_equal(al.coef, model.coef.to_numpy()[:, [2, 0, 1]])


def test_alignment_missing_genes_zero_rows_and_report(caplog):
    genes = [f"G{i}" for i in range(10)]
    model = SourceModel.from_arrays(np.arange(20.0).reshape(10, 2) + 1, genes, ["P", "Q"])
    target_genes = ["G3", "NEW1", "G0", "NEW2", "NEW3", "NEW4", "NEW5", "NEW6", "NEW7"]
    with caplog.at_level(logging.INFO, logger="smart_sc"):
        al = model.aligned(target_genes, ["Q", "R"])

    assert al.coef.shape == (9, 2)
    np.testing.assert_array_equal(al.coef[0], [model.coef.loc["G3", "Q"], 0.0])
    np.testing.assert_array_equal(al.coef[2], [model.coef.loc["G0", "Q"], 0.0])
    assert not al.coef[~al.gene_mask].any()
    assert not al.coef[:, ~al.protein_mask].any()
    assert al.gene_mask.tolist() == [True, False, True] + [False] * 6
    assert al.protein_mask.tolist() == [True, False]
    assert al.missing_genes_in_source == ("NEW1", "NEW2", "NEW3", "NEW4", "NEW5", "NEW6", "NEW7")
    assert len(al.missing_genes_in_target) == 8 and "G1" in al.missing_genes_in_target
    assert al.missing_proteins_in_source == ("R",)
    assert al.missing_proteins_in_target == ("P",)
    assert al.n_shared_genes == 2 and al.n_shared_proteins == 1

    summary = al.summary()
    json.dumps(summary)
    assert summary["n_genes_target"] == 9
    assert summary["n_genes_source"] == 10
    assert summary["n_genes_shared"] == 2
    assert summary["n_genes_missing_in_source"] == 7
    assert summary["genes_missing_in_source_examples"] == ["NEW1", "NEW2", "NEW3", "NEW4", "NEW5"]
    assert summary["n_genes_missing_in_target"] == 8
    assert len(summary["genes_missing_in_target_examples"]) == 5
    assert summary["n_proteins_missing_in_source"] == 1
    assert summary["proteins_missing_in_source_examples"] == ["R"]

    record = " ".join(r.getMessage() for r in caplog.records if r.name == "smart_sc")
    assert "2 of 9 target genes" in record and "7 missing in source" in record
    assert "'NEW1'" in record and "(+2 more)" in record
    assert "1 of 2 target proteins" in record


def test_alignment_arrays_are_read_only():
    al = _model().aligned(["GENE0"], ["PROT0"])
    with pytest.raises(ValueError):
        al.coef[0, 0] = 1.0
    assert al.to_dataframe().loc["GENE0", "PROT0"] == al.coef[0, 0]


def test_alignment_without_overlap_raises_with_counts():
    model = _model()
    with pytest.raises(ValueError, match=r"no genes in common.*\(6 genes, e.g. 'GENE0'.*\(2 genes"):
        model.aligned(["X", "Y"], ["PROT0"])
    with pytest.raises(ValueError, match=r"no proteins in common"):
        model.aligned(["GENE0"], ["CD3"])
    with pytest.raises(ValueError, match=r"6 match when case is ignored"):
        model.aligned([g.lower() for g in model.genes], ["PROT0"])


def test_alignment_target_names_checked():
    model = _model()
    with pytest.raises(ValueError, match=r"target gene names.*duplicated.*'GENE0'"):
        model.aligned(["GENE0", "GENE0"], ["PROT0"])
    with pytest.raises(TypeError, match=r"never by position"):
        model.aligned(range(3), ["PROT0"])


# ----------------------------------------------------------------------------- coercion, docs


def test_as_source_model_dispatch(saved, regression):
    model, path = saved
    assert as_source_model(model) is model
    assert as_source_model(path).equals(model)
    assert as_source_model(str(path)).equals(model)
    assert as_source_model(model.coef).genes.equals(model.genes)
    X, Y, _, proteins = regression
    ridge = Ridge().fit(X, Y)
    assert as_source_model(ridge, target_names=proteins).proteins.tolist() == proteins
    with pytest.raises(ValueError, match=r"target_names="):
        as_source_model(ridge)
    with pytest.raises(TypeError, match=r"source must be"):
        as_source_model(42)




def test_save_and_load_name_the_users_path(tmp_path):
    model = _model()
    with pytest.raises(IsADirectoryError, match="is a directory: give the model's file name"):
        model.save(tmp_path)  # used to write a sibling file '<dir>.h5ad' silently
    assert not tmp_path.with_suffix(".h5ad").exists()
    missing = tmp_path / "no_such_folder" / "model.h5ad"
    with pytest.raises(FileNotFoundError, match=r"its folder .*no_such_folder does not exist"):
        model.save(missing)
    with pytest.raises(IsADirectoryError, match="is a directory, not a SourceModel file"):
        SourceModel.load(tmp_path)

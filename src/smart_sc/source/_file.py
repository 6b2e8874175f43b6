"""The SourceModel file: an AnnData of genes x proteins in ``.h5ad``, written atomically.

Layout (format version 2): ``X`` holds the coefficients (float64, dense,
genes x proteins), ``obs_names`` the genes, ``var_names`` the proteins,
``var["intercept"]`` the intercept per protein, and
``uns["smart_sc_source_model"]`` the plain values ``format``,
``format_version``, ``written_by``, ``provenance`` and ``sha256``, a digest of
the canonical content (names, coefficients, intercept, provenance) checked at
load, so an edited name or value is refused. Arrays are gzip-compressed,
whose checksum makes corrupted bytes a read error. The provenance is one
JSON string there: ``.h5ad`` cannot store ``None`` or lists of dicts, and gives
lists back as typed arrays, so native storage would not round-trip exactly.
Reading goes through ``anndata.read_h5ad`` and h5py, which never unpickle.

Files of format version 1 (the earlier ``.npz`` archive) are still read, never
written: models already saved keep loading, and re-saving converts them. The
reader is small, opens them with ``numpy.load(allow_pickle=False)`` so they
cannot run code, and applies the same checks as for ``.h5ad``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import secrets
import stat
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._core.arrays import count_nonfinite
from ._names import examples

#: Identifies our files: any other AnnData or archive is "not a SourceModel file".
FORMAT = "smart_sc.SourceModel"
#: Bumped whenever the layout changes; readers refuse versions they do not know.
FORMAT_VERSION = 2
#: Where an ``.h5ad`` SourceModel keeps its format and provenance.
UNS_KEY = "smart_sc_source_model"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load itself checks for an .npz
_NPY_MAGIC = b"\x93NUMPY"
_NPZ_ENTRIES = frozenset({"metadata", "coef", "intercept", "genes", "proteins"})

#: Coefficients, intercept, provenance, the "damaged file" prefix, and a check of
#: the content digest, run by the caller after its own checks of the names (so a
#: file with duplicated names says so, rather than only that it was changed).
Parts = tuple[pd.DataFrame, np.ndarray, dict[str, Any], str, Callable[[], None]]


# ----------------------------------------------------------------------------- writing


def to_anndata(coef: pd.DataFrame, intercept: pd.Series, provenance: dict, written_by: str):
    """Return the model as an AnnData: genes are observations, proteins are variables."""
    adata = anndata.AnnData(
        X=np.ascontiguousarray(coef.to_numpy(dtype=np.float64)),
        obs=pd.DataFrame(index=pd.Index(coef.index.tolist(), dtype=object, name="gene")),
        var=pd.DataFrame(
            {"intercept": intercept.to_numpy(dtype=np.float64)},
            index=pd.Index(coef.columns.tolist(), dtype=object, name="protein"),
        ),
    )
    provenance_json = json.dumps(provenance, allow_nan=False, sort_keys=True)
    adata.uns[UNS_KEY] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": written_by,
        "provenance": provenance_json,
        "sha256": content_digest(coef.index, coef.columns, adata.X, adata.var["intercept"],
                                 provenance_json),
    }
    return adata


def content_digest(genes, proteins, coef, intercept, provenance_json: str) -> str:
    """sha256 of the model's canonical content: names, coefficients, intercept, provenance.

    gzip's checksum covers each array's bytes only; this covers what the bytes
    mean, so a changed gene name (its coefficients then attached to another
    gene) or an edited provenance is detected at load.
    """
    digest = hashlib.sha256()
    for part in (json.dumps([str(g) for g in genes]), json.dumps([str(p) for p in proteins]),
                 provenance_json):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    for arr in (coef, intercept):
        digest.update(np.ascontiguousarray(np.asarray(arr, dtype="<f8")).tobytes())
    return digest.hexdigest()


def write_atomic(adata: anndata.AnnData, path: Path) -> None:
    """Write ``adata`` to ``path`` so that readers see the old file or the whole new one.

    A temporary file in the same directory is written, flushed to disk and
    renamed over ``path``; on any failure (even KeyboardInterrupt) it is removed.
    """
    if path.suffix.lower() == ".npz":
        warnings.warn(
            f"{path.name}: SourceModel files are .h5ad (AnnData) since format version 2; "
            "this one gets an .h5ad file under an .npz name (it loads, but name it .h5ad)",
            UserWarning,
            stacklevel=3,  # the caller of SourceModel.save
        )
    directory = path.parent
    tmp = _create_temp(directory, path.name)
    try:
        # gzip's checksum turns corrupted bytes into a read error, not other coefficients.
        adata.write_h5ad(tmp, compression="gzip")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            # Keep the permissions of a file we replace, as an in-place write would.
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _create_temp(directory: Path, name: str) -> Path:
    """Create a fresh, empty file next to the destination, with umask permissions.

    ``O_EXCL`` as ``tempfile`` does, but mode 0o666 rather than 0o600: a model
    meant to travel should be readable by whoever could read a normally written file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- reading


def read(path: Path) -> Parts:
    """Coefficients, intercept, provenance and the "damaged file" prefix, all checked.

    Dispatches on the file's first bytes (not its name): HDF5 is read as
    ``.h5ad``, a zip archive as a version-1 ``.npz``; anything else is refused.
    """
    not_ours = f"{path} is not a smart_sc SourceModel file"
    with open(path, "rb") as fh:  # FileNotFoundError passes through unchanged
        magic = fh.read(len(_HDF5_MAGIC))
    if magic.startswith(_HDF5_MAGIC):
        return _read_h5ad(path, not_ours)
    if magic.startswith(_ZIP_MAGIC):
        return _read_npz(path, not_ours)
    if magic.startswith(_NPY_MAGIC):
        raise ValueError(f"{not_ours}: it holds a single NumPy array")
    raise ValueError(
        f"{not_ours}: it is neither an .h5ad (HDF5) file nor an .npz archive of format "
        f"version 1{' (empty file)' if not magic else ''}"
    )


def _read_h5ad(path: Path, not_ours: str) -> Parts:
    try:
        with warnings.catch_warnings():
            # Duplicated names, foreign layouts...: the checks below say what is wrong.
            warnings.simplefilter("ignore")
            adata = anndata.read_h5ad(path)
    except Exception as exc:  # h5py and anndata raise many types for damaged files
        raise ValueError(
            f"{not_ours}, or it is damaged (e.g. truncated): it cannot be read as .h5ad "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    meta = adata.uns.get(UNS_KEY)
    if not isinstance(meta, dict):
        raise ValueError(
            f"{not_ours}: it is an AnnData ({adata.n_obs} x {adata.n_vars}) without "
            f".uns[{UNS_KEY!r}]"
        )
    damaged = _check_header(meta, path, not_ours, version=FORMAT_VERSION)
    if "intercept" not in adata.var.columns:
        raise ValueError(
            f"{damaged}: .var has no 'intercept' column (one intercept per protein); "
            f"columns: {examples(list(adata.var.columns)) or 'none'}"
        )
    try:
        provenance = json.loads(meta.get("provenance", "{}"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{damaged}: its provenance is not valid JSON ({exc})") from None
    X = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    if X is None:
        raise ValueError(f"{damaged}: it has no X (the coefficients)")
    intercept = adata.var["intercept"].to_numpy()
    frame, values, provenance, damaged = _checked(damaged, provenance, np.asarray(X),
                                                  intercept, adata.obs_names, adata.var_names)
    return frame, values, provenance, damaged, lambda: _check_digest(meta, frame, values, path)


def _check_digest(meta: dict, coef: pd.DataFrame, intercept: np.ndarray, path: Path) -> None:
    """Refuse a file whose content no longer matches the digest written with it.

    Every ``.h5ad`` model file is written with its digest, so one without it
    is refused too: removing the digest must not be a way round it. (The
    digest catches edits and corruption; it is not a signature, and whoever
    recomputes it can still forge a file.)
    """
    stored = meta.get("sha256")
    if stored is None:
        raise ValueError(
            f"{path} has no sha256 digest in .uns[{UNS_KEY!r}]: every SourceModel file is "
            "written with one, so it was removed or the file was not written by "
            "SourceModel.save. Re-export the model from its source")
    found = content_digest(coef.index, coef.columns, coef.to_numpy(), intercept,
                           str(meta.get("provenance", "{}")))
    if str(stored) != found:
        raise ValueError(
            f"{path} was changed after it was written: its content (gene or protein names, "
            "coefficients, intercept or provenance) no longer matches the sha256 stored with "
            "it. Re-export the model from its source rather than editing the file")


def _read_npz(path: Path, not_ours: str) -> Parts:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{not_ours}, or it is damaged: not a readable .npz ({exc})") from exc
    with archive:
        entries = set(archive.files)
        if "metadata" not in entries:
            raise ValueError(
                f"{not_ours}: it has no 'metadata' entry (entries: "
                f"{examples(sorted(entries)) or 'none'})"
            )
        damaged = f"{path} is a damaged smart_sc SourceModel file"
        arrays = {key: _npz_entry(archive, key, path, damaged) for key in sorted(entries)}
    try:
        meta = json.loads(str(arrays["metadata"][()]))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{not_ours}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{not_ours}: its metadata is not a JSON object")
    _check_header(meta, path, not_ours, version=1)
    missing, extra = sorted(_NPZ_ENTRIES - entries), sorted(entries - _NPZ_ENTRIES)
    if missing or extra:
        raise ValueError(f"{damaged}: missing entries {missing}, unexpected entries {extra}")
    for key in ("genes", "proteins"):
        if arrays[key].dtype.kind != "U" or arrays[key].ndim != 1:
            raise ValueError(f"{damaged}: {key!r} is not a list of names ({arrays[key].dtype})")
    checked = _checked(
        damaged, meta.get("provenance", {}), arrays["coef"], arrays["intercept"],
        arrays["genes"].tolist(), arrays["proteins"].tolist(),
    )
    return (*checked, lambda: None)  # version 1 files carry no digest


def _npz_entry(archive: Any, key: str, path: Path, damaged: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(
                f"{path}: entry {key!r} holds Python objects (pickled data). smart_sc never "
                "writes these and refuses to load them, because unpickling can run code"
            ) from exc
        raise ValueError(f"{damaged}: entry {key!r} could not be read ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{damaged}: entry {key!r} could not be read ({exc})") from exc


def _check_header(meta: dict, path: Path, not_ours: str, *, version: int) -> str:
    """Check format and version; return the prefix for errors about a damaged file."""
    if meta.get("format") != FORMAT:
        raise ValueError(f"{not_ours}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    damaged = f"{path} is a damaged smart_sc SourceModel file"
    found = meta.get("format_version")
    if isinstance(found, bool | np.bool_) or not isinstance(found, numbers.Integral):
        raise ValueError(f"{damaged}: format_version is {found!r}, not an integer")
    if found > FORMAT_VERSION:
        raise ValueError(
            f"{path} uses SourceModel format version {found} (written by "
            f"{meta.get('written_by', 'a newer smart_sc')}); this smart_sc reads format "
            f"version {FORMAT_VERSION} at most. Upgrade smart_sc to load it."
        )
    if found != version:
        raise ValueError(f"{damaged}: format_version {found} is not valid for this file type")
    return damaged


def _checked(damaged: str, provenance: Any, coef: np.ndarray, intercept: np.ndarray,
             genes: Any, proteins: Any) -> tuple[pd.DataFrame, np.ndarray, dict, str]:
    """Dtypes, shapes and finiteness; names and provenance are checked by SourceModel."""
    if not isinstance(provenance, dict):
        raise ValueError(f"{damaged}: provenance is {type(provenance).__name__}, not a dict")
    expected = {"coef": (len(genes), len(proteins)), "intercept": (len(proteins),)}
    for key, arr in (("coef", coef), ("intercept", intercept)):
        if arr.dtype.kind != "f":
            raise ValueError(f"{damaged}: {key!r} has dtype {arr.dtype}, expected floating-point")
        if arr.shape != expected[key]:
            raise ValueError(
                f"{damaged}: {key!r} has shape {arr.shape}, expected {expected[key]} "
                f"({len(genes)} genes x {len(proteins)} proteins)"
            )
        n_nan, n_inf = count_nonfinite(arr)
        if n_nan or n_inf:
            raise ValueError(f"{damaged}: {key!r} holds {n_nan} NaN and {n_inf} infinite value(s)")
    frame = pd.DataFrame(
        coef.astype(np.float64),
        index=pd.Index(list(genes), dtype=object),
        columns=pd.Index(list(proteins), dtype=object),
    )
    return frame, intercept.astype(np.float64), provenance, damaged

"""Real CITE-seq data: the NeurIPS 2021 bone-marrow data (Luecken et al. 2021, GSE194122).

:func:`bmmc_cite` loads a 5,000-cell subset shipped with the package;
:func:`neurips2021_cite` reads the full public file from GEO, downloaded by
the user, into the same layout.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import anndata as ad
import h5py
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

try:  # anndata >= 0.11
    from anndata.io import read_elem, sparse_dataset
except ImportError:  # pragma: no cover - anndata 0.10
    from anndata.experimental import read_elem, sparse_dataset

__all__ = ["bmmc_cite", "neurips2021_cite"]

logger = logging.getLogger("smart_sc")

_DATA_FILE = "bmmc_cite.h5mu"
GEO_ACCESSION = "GSE194122"
GEO_URL = "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSE194122"
GEO_FILE = "GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad"
CITATION = (
    "Luecken, M. D. et al. A sandbox for prediction and integration of DNA, RNA, and "
    "proteins in single cells. Proceedings of the Neural Information Processing Systems "
    "Track on Datasets and Benchmarks 1 (NeurIPS 2021)."
)
#: obs columns of the GEO file that :func:`neurips2021_cite` needs.
_GEO_OBS = ("cell_type", "batch", "Site", "DonorNumber")
#: Values of the counts layer checked at a time (bounds the temporary memory).
_CHUNK = 1 << 22


def _quiet_mudata(func, *args, **kwargs):
    """Call a mudata function without pulling columns and without the var_names warning.

    Protein names such as ``CD4`` or ``CD14`` are also gene symbols, so the
    MuData's global ``var_names`` are not unique; each modality's are, and that
    is what counts. mudata warns about it on every read and copy.
    """
    with md.set_options(pull_on_update=False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*var_names are not unique")
        warnings.filterwarnings("ignore", message=".*var_names are intersecting")
        return func(*args, **kwargs)


def _counts_as_float(adata: ad.AnnData) -> None:
    """Set ``layers["counts"]`` to float32 counts and ``.X`` to an independent copy."""
    counts = adata.layers["counts"]
    counts = counts.astype(np.float32) if sp.issparse(counts) else np.asarray(counts, np.float32)
    adata.layers["counts"] = counts
    adata.X = counts.copy()


def bmmc_cite() -> md.MuData:
    """Load 5,000 bone-marrow cells of the NeurIPS 2021 CITE-seq data, shipped with the package.

    Raw RNA counts of 4,000 genes and raw ADT (antibody) counts of 134
    surface proteins in 5,000 bone-marrow mononuclear cells from 9 healthy
    donors measured at 4 sites: a **5,000-cell subset** (of 90,261 cells) of
    the CITE-seq part of the NeurIPS 2021 multimodal benchmark (Luecken et al.
    2021, NeurIPS Datasets and Benchmarks; GEO accession GSE194122). The
    subset is the one distributed with the ``networkvi`` package, genes
    included: its 4,000 genes (of the full data's 13,953) are all kept, as
    are all 134 proteins. Counts are exactly those of the source.

    Each call reads the file again and returns a new object, which the
    caller may modify freely. It takes well under a second.

    Returns
    -------
    mudata.MuData
        Cells named by barcode and batch (``"TCATGAGCATGTGCTA-1-s1d2"``),
        shared by both modalities, with:

        - ``obs``, in ``mdata.obs`` and in each modality's ``obs``, all
          categorical:

          ``cell_type``
              the data's annotation, 44 types (``"CD14+ Mono"``, ``"NK"``,
              ``"ILC1"``, ...);
          ``donor``
              the donor's ID, as a string (9 donors, ``"10886"`` to
              ``"28045"``);
          ``site``
              the site that processed the sample, ``"site1"`` to ``"site4"``;
          ``batch``
              site and donor number, ``"s1d1"`` to ``"s4d9"`` (12 batches:
              donor ``"15078"`` is ``d1`` at all four sites; the others were
              measured once). :func:`neurips2021_cite` calls ``d1``, ``d2``,
              ... its donors (``"donor1"``, ...), not their IDs.
        - ``mdata["rna"]``: ``.X`` raw counts, a ``scipy.sparse.csr_matrix``
          of integer-valued float32; ``layers["counts"]`` a copy;
          ``var_names`` gene symbols, ``var["gene_stable_id"]`` Ensembl IDs,
          ``var["feature_types"] = "GEX"``.
        - ``mdata["prot"]``: ``.X`` raw ADT counts, a dense integer-valued
          float32 array; ``layers["counts"]`` a copy; ``var_names`` the
          antibody targets (``CD3``, ``CD4``, ``CD56``, ``HLA-DR``, ...);
          ``var["feature_types"] = "ADT"``.
        - ``mdata.uns["provenance"]``: source, citation, accession, the
          sha256 of the archive it was built from, genes kept and why, and
          the build script (``scripts/make_bmmc_cite.py`` in the repository).

    Raises
    ------
    FileNotFoundError
        When the data file is missing from the installation.

    See Also
    --------
    neurips2021_cite : the full data, read from the file downloaded from GEO.
    toy_citeseq : simulated data with a known RNA-to-protein map.

    Notes
    -----
    Cells per type, largest first (and a few small ones): CD14+ Mono 1309,
    CD4+ T activated 406, CD4+ T naive 369, NK 306, Naive CD20+ B IGKC+ 245,
    CD8+ T naive 202, CD16+ Mono 169, Erythroblast 163, Reticulocyte 140, ...,
    pDC 100, cDC2 100, ..., HSC 68, ..., MAIT 39, ILC1 29, ILC 15, ..., cDC1 1.
    NK (306 cells) and ILC1 (29) are the SMART paper's source and target.

    Cells per donor: 15078 1640, 11466 700, 28045 629, 16710 521, 13272 392,
    18303 338, 12710 312, 10886 257, 19593 211; for donor-held-out evaluation,
    hold out whole donors.

    29 protein names are also gene symbols (``CD4``, ``CD14``, ``CD38``, ...),
    so ``mdata.var_names`` is not unique; address features within a modality
    (``mdata["prot"][:, "CD4"]``). mudata warns about this when a modality's
    features change; the warning is harmless.

    The data were taken from the ``networkvi`` 0.1.0 source archive on PyPI,
    which distributes this subset (file
    ``docs/source/notebooks/neurips2021_cite_bmmc_luecken2021.h5ad``); the
    build script checks the archive's sha256, keeps the cell annotation and
    the batch, and checks that the written counts equal the archive's.

    References
    ----------
    Luecken, M. D. et al. A sandbox for prediction and integration of DNA,
    RNA, and proteins in single cells. *NeurIPS Datasets and Benchmarks*
    (2021). Data: GEO GSE194122.

    Examples
    --------
    >>> from smart_sc.datasets import bmmc_cite
    >>> mdata = bmmc_cite()
    >>> mdata.n_obs, mdata["rna"].n_vars, mdata["prot"].n_vars
    (5000, 4000, 134)
    >>> counts = mdata.obs["cell_type"].value_counts()
    >>> int(counts["CD14+ Mono"]), int(counts["NK"]), int(counts["ILC1"])
    (1309, 306, 29)
    >>> mdata.obs["donor"].nunique(), sorted(mdata.obs["site"].unique())
    (9, ['site1', 'site2', 'site3', 'site4'])
    >>> import numpy as np
    >>> X = mdata["prot"].X  # raw ADT counts, integer-valued
    >>> bool(np.all(X == np.round(X))), bool(np.array_equal(X, mdata["prot"].layers["counts"]))
    (True, True)
    >>> mdata.uns["provenance"]["accession"]
    'GSE194122'
    """
    ref = resources.files(__package__).joinpath("data", _DATA_FILE)
    with resources.as_file(ref) as path:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"the data file {_DATA_FILE} is missing from the installation of smart_sc "
                f"(expected at {path}); reinstall the package, or rebuild the file with "
                "scripts/make_bmmc_cite.py from the repository"
            )
        return _read_dataset(path)


def _read_dataset(path: str | os.PathLike) -> md.MuData:
    """Read a data set written by ``scripts/make_bmmc_cite.py``; set ``.X`` from the counts."""
    mdata = _quiet_mudata(md.read_h5mu, path)
    for adata in mdata.mod.values():
        _counts_as_float(adata)
    return mdata


# ----------------------------------------------------------------------------- full GEO file


def _geo_path(path: str | os.PathLike) -> Path:
    """Find the GEO file at ``path`` (the file, or a directory holding it)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / GEO_FILE
    if path.is_file():
        return path
    gz = path.with_name(path.name + ".gz")
    hint = (f" ({gz.name} is there: decompress it first with `gunzip -k {gz}`)"
            if gz.is_file() else "")
    raise FileNotFoundError(
        f"{path} does not exist{hint}. neurips2021_cite reads the full NeurIPS 2021 BMMC "
        f"CITE-seq file from GEO accession {GEO_ACCESSION} ({GEO_URL}): download the "
        f"supplementary file {GEO_FILE}.gz, decompress it (gunzip {GEO_FILE}.gz; about "
        f"4.5 GB), put it in a directory of your choice and pass its path, or that directory: "
        f"neurips2021_cite('path/to/{GEO_FILE}'). smart_sc never downloads it."
    )


def _check_readable(path: Path) -> None:
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic[:2] == b"\x1f\x8b":
        raise ValueError(
            f"{path} is gzip-compressed (as GEO serves it); decompress it first "
            f"(gunzip -k {path}) and pass the .h5ad"
        )
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 (.h5ad) file")


def _read_obs(group: h5py.Group, columns: Iterable[str], path: Path) -> pd.DataFrame:
    """Read only ``columns`` (and the index) of an h5ad obs group."""
    if not isinstance(group, h5py.Group) or "_index" not in group.attrs:
        raise ValueError(f"{path}: obs is not stored as an AnnData dataframe group")
    available = [str(c) for c in group.attrs.get("column-order", [])]
    missing = [c for c in columns if c not in available]
    if missing:
        raise ValueError(
            f"{path}: obs lacks the column(s) {missing} that neurips2021_cite needs "
            f"({list(_GEO_OBS)}); obs has {available}"
        )
    index = pd.Index(np.asarray(read_elem(group[group.attrs["_index"]])).astype(str))
    if index.has_duplicates:
        raise ValueError(f"{path}: obs names are not unique, e.g. "
                         f"{list(index[index.duplicated()][:3])}")
    frame = {}
    for c in columns:
        values = pd.Series(read_elem(group[c]))
        if values.isna().any():  # as str they would become a category "nan"
            raise ValueError(f"{path}: obs column {c!r} has {int(values.isna().sum())} "
                             "missing value(s)")
        frame[c] = values.to_numpy().astype(str)
    return pd.DataFrame(frame, index=index)


def _check_counts(values: np.ndarray, path: Path) -> None:
    for start in range(0, values.size, _CHUNK):
        chunk = values[start:start + _CHUNK]
        n_bad = int(np.count_nonzero(~np.isfinite(chunk)))
        if n_bad:
            raise ValueError(f"{path}: layers['counts'] holds NaN or infinite values ({n_bad} "
                             f"in values {start} to {start + chunk.size - 1} of its data)")
        if not (np.all(chunk >= 0) and np.all(chunk == np.round(chunk))):
            raise ValueError(
                f"{path}: layers['counts'] holds negative or non-integer values, not raw counts"
            )


def _categorical(values: np.ndarray) -> pd.Categorical:
    return pd.Categorical(values, categories=sorted(set(values)))


def neurips2021_cite(
    path: str | os.PathLike,
    *,
    cell_types: str | Iterable[str] | None = None,
    backed: bool = True,
) -> md.MuData:
    """Read the full NeurIPS 2021 BMMC CITE-seq file from GEO into a MuData of raw counts.

    The file ``GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad``
    (GEO accession GSE194122, Luecken et al. 2021; 90,261 cells, 13,953 genes
    and 134 proteins, about 4.5 GB once decompressed) holds processed values
    in ``.X`` and raw counts in ``layers["counts"]``, with
    ``var["feature_types"]`` ``"GEX"`` (RNA) or ``"ADT"`` (protein). This
    function reads the raw counts of the chosen cells only, into the layout
    of :func:`bmmc_cite`, and never touches the processed ``.X``.

    Parameters
    ----------
    path : str or os.PathLike
        The decompressed ``.h5ad`` file, or the directory holding it under
        its GEO name. Download ``GSE194122_openproblems_neurips2021_cite_
        BMMC_processed.h5ad.gz`` from GEO (supplementary files of GSE194122)
        and ``gunzip`` it; smart_sc never downloads it.
    cell_types : str, iterable of str or None, default=None
        Keep only cells of these ``obs["cell_type"]`` labels (e.g.
        ``["NK", "ILC1"]``); ``None`` keeps all cells.
    backed : bool, default=True
        ``True`` reads only the rows of the chosen cells from the file (the
        memory needed is that of the result); ``False`` reads the whole
        counts layer into memory first, which can be faster when most cells
        are kept and memory is plentiful.

    Returns
    -------
    mudata.MuData
        Cells in the file's order, shared by both modalities, with:

        - ``obs`` (in ``mdata.obs`` and each modality's ``obs``), all
          categorical: ``cell_type`` (``obs["cell_type"]``), ``donor`` (from
          ``obs["DonorNumber"]``, e.g. ``"donor1"``), ``site`` (from
          ``obs["Site"]``), ``batch`` (``obs["batch"]``, e.g. ``"s1d2"``).
        - ``mdata["rna"]``: GEX features; ``.X`` raw counts as a
          ``scipy.sparse.csr_matrix`` of float32, ``layers["counts"]`` a copy;
          ``var``: the file's ``var`` columns.
        - ``mdata["prot"]``: ADT features; ``.X`` raw counts as a dense
          float32 array, ``layers["counts"]`` a copy; ``var``: likewise.
        - ``mdata.var["feature_types"]``, and ``mdata.uns["provenance"]``:
          source file name, accession, citation, the cell-type filter.

    Raises
    ------
    FileNotFoundError
        When the file is not there; the message says where to get it.
    ValueError
        When the file is gzip-compressed or not HDF5, when it lacks
        ``layers["counts"]``, ``var["feature_types"]`` (with both ``"GEX"``
        and ``"ADT"`` features) or an ``obs`` column among ``cell_type``,
        ``batch``, ``Site``, ``DonorNumber``, when such a column has missing
        values or the cell names repeat, when the counts are not raw counts
        (NaN, infinite, negative or fractional), or when ``cell_types`` names
        a type the file does not have.

    See Also
    --------
    bmmc_cite : 5,000 cells of these data, shipped with the package.

    Notes
    -----
    Donors are named by ``DonorNumber`` here (``"donor1"`` ...) and by their
    ID in :func:`bmmc_cite` (``"15078"`` ...); ``batch`` (``"s1d1"`` = site 1,
    donor 1) is the same in both.

    Examples
    --------
    >>> from smart_sc.datasets import neurips2021_cite
    >>> # the directory holding GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad
    >>> mdata = neurips2021_cite("downloads/", cell_types=["NK", "ILC1"])  # doctest: +SKIP
    >>> mdata["prot"].n_vars  # doctest: +SKIP
    134
    """
    if not isinstance(backed, bool | np.bool_):
        raise ValueError(f"backed must be True or False, got {backed!r}")
    cell_types = _check_cell_types(cell_types)
    path = _geo_path(path)
    _check_readable(path)
    with h5py.File(path, "r") as f:
        var, kinds = _read_var(f, path)
        obs = _read_obs(f["obs"], _GEO_OBS, path)
        rows = _rows_of(obs, cell_types)
        counts = _read_counts(f, rows, (obs.shape[0], var.shape[0]), backed, path)
    logger.info("neurips2021_cite: read raw counts of %d of %d cells from %s",
                rows.size, obs.shape[0], path.name)
    mdata = _geo_mudata(counts, obs.iloc[rows], var, kinds)
    mdata.uns["provenance"] = {
        "title": "NeurIPS 2021 multimodal single-cell benchmark, bone marrow CITE-seq",
        "accession": GEO_ACCESSION,
        "url": GEO_URL,
        "source_file": path.name,
        "citation": CITATION,
        "cell_types": "all" if cell_types is None else cell_types,
        "n_cells": int(rows.size),
        "n_cells_in_file": int(obs.shape[0]),
        "n_genes": int(mdata["rna"].n_vars),
        "n_proteins": int(mdata["prot"].n_vars),
        "counts": "raw counts from the file's layers['counts']; .X is a float32 copy",
        "loader": "smart_sc.datasets.neurips2021_cite",
    }
    return mdata


def _check_cell_types(cell_types) -> list[str] | None:
    if cell_types is None:
        return None
    if isinstance(cell_types, str):
        cell_types = [cell_types]
    try:
        cell_types = list(cell_types)
    except TypeError:
        raise ValueError(
            f"cell_types must be a str, an iterable of str or None, got {cell_types!r}"
        ) from None
    if not cell_types or not all(isinstance(t, str) for t in cell_types):
        raise ValueError(f"cell_types must be non-empty strings, got {cell_types!r}")
    return cell_types


def _read_var(f: h5py.File, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read and check the file's var; return it with each feature's kind (GEX or ADT)."""
    for key in ("obs", "var"):
        if key not in f:
            raise ValueError(f"{path}: no {key!r} in the file; it has {sorted(f)}")
    layers = sorted(f["layers"]) if "layers" in f else []
    if "counts" not in layers:
        raise ValueError(
            f"{path}: no layers['counts'] (the raw counts neurips2021_cite reads); "
            f"the file has layers {layers}"
        )
    var = read_elem(f["var"])
    if "feature_types" not in var.columns:
        raise ValueError(
            f"{path}: var lacks 'feature_types' (GEX or ADT per feature); var has "
            f"{list(var.columns)}"
        )
    kinds = var["feature_types"].astype(str).to_numpy()
    found = dict(zip(*np.unique(kinds, return_counts=True), strict=True))
    if "GEX" not in found or "ADT" not in found:
        raise ValueError(
            f"{path}: var['feature_types'] must mark features 'GEX' and 'ADT'; found "
            f"{ {str(k): int(v) for k, v in found.items()} }"
        )
    return var, kinds


def _rows_of(obs: pd.DataFrame, cell_types: list[str] | None) -> np.ndarray:
    """Positions of the cells of ``cell_types`` (all cells for ``None``)."""
    if cell_types is None:
        return np.arange(obs.shape[0])
    present = set(obs["cell_type"])
    unknown = [t for t in cell_types if t not in present]
    if unknown:
        raise ValueError(
            f"cell_types {unknown} not in the file's obs['cell_type']; it has "
            f"{sorted(present)}"
        )
    return np.flatnonzero(obs["cell_type"].isin(cell_types).to_numpy())


def _read_counts(f: h5py.File, rows: np.ndarray, shape: tuple[int, int], backed: bool,
                 path: Path) -> sp.csr_matrix:
    """Rows ``rows`` of ``layers['counts']`` as float32 CSR, checked to be raw counts.

    ``backed`` reads only those rows from the file; otherwise the whole layer is
    read and then subset (faster when memory allows).
    """
    elem = f["layers"]["counts"]
    stored = tuple(elem.shape if isinstance(elem, h5py.Dataset) else elem.attrs["shape"])
    if stored != shape:
        raise ValueError(f"{path}: layers['counts'] has shape {stored}; obs and var make "
                         f"{shape}")
    whole = rows.size == shape[0]
    if isinstance(elem, h5py.Group):  # sparse (csr or csc)
        if backed and not whole:
            counts = sparse_dataset(elem)[rows]
        else:
            counts = read_elem(elem)
            counts = counts if whole else counts[rows]
    elif whole:  # dense
        counts = elem[...]
    else:
        counts = elem[rows] if backed else elem[...][rows]
    counts = sp.csr_matrix(counts).astype(np.float32)
    _check_counts(counts.data, path)
    return counts


def _geo_mudata(counts: sp.csr_matrix, obs: pd.DataFrame, var: pd.DataFrame,
                kinds: np.ndarray) -> md.MuData:
    """RNA (sparse) and ADT (dense) modalities of the chosen cells, in our layout."""
    columns = {
        "cell_type": _categorical(obs["cell_type"].to_numpy()),
        "donor": _categorical(obs["DonorNumber"].to_numpy()),
        "site": _categorical(obs["Site"].to_numpy()),
        "batch": _categorical(obs["batch"].to_numpy()),
    }

    def modality(kind: str, dense: bool) -> ad.AnnData:
        cols = np.flatnonzero(kinds == kind)
        X = counts[:, cols]
        X = X.toarray() if dense else sp.csr_matrix(X)
        mvar = var.iloc[cols].copy()
        mvar.index = pd.Index(mvar.index.astype(str))
        mvar["feature_types"] = pd.Categorical([kind] * cols.size)
        adata = ad.AnnData(X=X, obs=pd.DataFrame(dict(columns), index=obs.index), var=mvar,
                           layers={"counts": X.copy()})
        if not adata.var_names.is_unique:
            logger.warning("neurips2021_cite: %s feature names are not unique; made unique",
                           kind)
            adata.var_names_make_unique()
        return adata

    rna, prot = modality("GEX", dense=False), modality("ADT", dense=True)
    mdata = _quiet_mudata(md.MuData, {"rna": rna, "prot": prot})
    for name, values in columns.items():
        mdata.obs[name] = values
    mdata.var["feature_types"] = pd.Categorical(["GEX"] * rna.n_vars + ["ADT"] * prot.n_vars)
    return mdata

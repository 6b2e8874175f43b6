"""Which object holds the RNA and the proteins, and reading matrices out of them.

Everything here is about names and shapes: the modalities of a MuData (or an
AnnData with proteins in ``.obsm``), the cells that have both, a layer or
``.X``, backed matrices read lazily. It knows nothing of the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core.arrays import as_numpy, is_dask_array

try:  # MuData is a dependency, but keep the AnnData path importable without it.
    import mudata as md
    from mudata import MuData
except ImportError:  # pragma: no cover
    md = None
    MuData = ()  # type: ignore[assignment,misc]

__all__ = [
    "BACKED_BLOCK_ROWS",
    "PairedModalities",
    "columns_of",
    "copy_data",
    "get_matrix",
    "lazy_if_backed",
    "modality_adata",
    "obsm_frame",
    "resolve_modalities",
    "rows_of",
    "update_mudata",
]


@dataclass
class PairedModalities:
    """The input (RNA) AnnData and where the proteins are.

    ``prot`` is an AnnData (MuData input) or ``None`` when proteins live in
    ``rna.obsm[obsm_key]`` (AnnData input). Made by :func:`resolve_modalities`.

    Examples
    --------
    >>> import smart_sc
    >>> pair = smart_sc.get.resolve_modalities(smart_sc.datasets.toy_citeseq(random_state=0),
    ...                                        "rna", "prot")
    >>> pair.rna.n_vars, len(pair.protein_names), len(pair.paired_cells()) == pair.rna.n_obs
    (300, 20, True)
    """

    container: object
    rna: AnnData
    prot: AnnData | None
    obsm_key: str | None
    modality_in: str
    modality_out: str

    @property
    def protein_names(self) -> pd.Index:
        if self.prot is not None:
            return pd.Index(self.prot.var_names)
        return pd.Index(self.rna.obsm[self.obsm_key].columns)

    def paired_cells(self) -> pd.Index:
        """Cells that have both modalities, in the RNA's order."""
        if self.prot is None:
            return pd.Index(self.rna.obs_names)
        return pd.Index(self.rna.obs_names).intersection(pd.Index(self.prot.obs_names),
                                                         sort=False)

    def protein_matrix(self, cells: pd.Index, layer: str | None) -> np.ndarray:
        """Dense proteins x cells matrix of ``cells`` (cells x proteins)."""
        if self.prot is None:
            frame = self.rna.obsm[self.obsm_key]
            if layer is not None:
                raise ValueError("layer_out is not used when proteins are in .obsm")
            return np.asarray(frame.loc[cells].to_numpy(), dtype=np.float64)
        idx = self.prot.obs_names.get_indexer(cells)
        M = get_matrix(self.prot, layer, self.modality_out)[idx]
        if is_dask_array(M):  # proteins are few: computed block by block into memory
            return np.asarray(as_numpy(M), dtype=np.float64)
        return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=np.float64)


def _check_unique(names: pd.Index, what: str) -> None:
    if not names.is_unique:
        dup = names[names.duplicated()].unique()
        raise ValueError(
            f"{what} has {len(dup)} duplicated name(s), e.g. {list(dup[:5])}; "
            "names decide alignment, so they must be unique (use .var_names_make_unique() "
            "or .obs_names_make_unique())"
        )


def resolve_modalities(data, modality_in: str, modality_out: str) -> PairedModalities:
    """Find the RNA AnnData and the proteins in a MuData or an AnnData.

    Parameters
    ----------
    data : MuData or AnnData
        Paired data. For an AnnData, ``modality_out`` names a ``.obsm``
        DataFrame of proteins (cells x proteins).
    modality_in, modality_out : str
        The RNA and protein modalities of a MuData.

    Returns
    -------
    PairedModalities
        The RNA AnnData and where the proteins are.

    Raises
    ------
    ValueError
        A modality is missing, or names (genes, proteins, cells) repeat.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> smart_sc.get.resolve_modalities(mdata, "rna", "adt")
    Traceback (most recent call last):
    ...
    ValueError: modality 'adt' is not in the MuData; it has ['rna', 'prot']
    """
    if isinstance(data, MuData):
        mods = list(data.mod)
        for name in (modality_in, modality_out):
            if name not in data.mod:
                raise ValueError(f"modality {name!r} is not in the MuData; it has {mods}")
        rna, prot = data.mod[modality_in], data.mod[modality_out]
        _check_unique(pd.Index(rna.var_names), f"modality {modality_in!r} var_names")
        _check_unique(pd.Index(prot.var_names), f"modality {modality_out!r} var_names")
        _check_unique(pd.Index(rna.obs_names), f"modality {modality_in!r} obs_names")
        _check_unique(pd.Index(prot.obs_names), f"modality {modality_out!r} obs_names")
        return PairedModalities(data, rna, prot, None, modality_in, modality_out)
    if isinstance(data, AnnData):
        frame = obsm_frame(data, modality_out, "proteins",
                           " (an AnnData holds them there as a cells x proteins DataFrame)")
        _check_unique(pd.Index(data.var_names), "var_names")
        _check_unique(pd.Index(data.obs_names), "obs_names")
        _check_unique(pd.Index(frame.columns), f".obsm[{modality_out!r}] columns")
        return PairedModalities(data, data, None, modality_out, modality_in, modality_out)
    raise TypeError(f"expected a MuData or an AnnData, got {type(data).__name__}")


def modality_adata(data, modality: str) -> AnnData:
    """Return the AnnData of ``modality`` in a MuData, or ``data`` itself for an AnnData."""
    if isinstance(data, MuData):
        if modality not in data.mod:
            raise ValueError(f"modality {modality!r} is not in the MuData; it has {list(data.mod)}")
        return data.mod[modality]
    if isinstance(data, AnnData):
        return data
    raise TypeError(f"expected a MuData or an AnnData, got {type(data).__name__}")


def obsm_frame(adata: AnnData, key: str, what: str, hint: str = "") -> pd.DataFrame:
    """``adata.obsm[key]``, which must be a cells x names DataFrame holding ``what``."""
    if key not in adata.obsm:
        raise ValueError(f"no {what} under .obsm[{key!r}]{hint}; .obsm has "
                         f"{list(adata.obsm)}")
    frame = adata.obsm[key]
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f".obsm[{key!r}] ({what}) must be a DataFrame with names as "
                         f"columns, got {type(frame).__name__}")
    return frame


def get_matrix(adata: AnnData, layer: str | None, modality: str):
    """Return ``.X`` or a layer of ``adata``, with an error naming what is absent.

    Parameters
    ----------
    adata : AnnData
        One modality.
    layer : str or None
        The layer, or ``None`` for ``.X``.
    modality : str
        The modality's name, for messages.

    Returns
    -------
    matrix
        As stored (dense, sparse or a backed dataset).

    Examples
    --------
    >>> import smart_sc
    >>> rna = smart_sc.datasets.toy_citeseq(random_state=0)["rna"]
    >>> smart_sc.get.get_matrix(rna, "counts", "rna").shape == rna.shape
    True
    """
    if layer is None:
        if adata.X is None:
            raise ValueError(f"modality {modality!r} has no .X; pass a layer")
        return adata.X
    if layer not in adata.layers:
        raise ValueError(
            f"layer {layer!r} not found in modality {modality!r}; it has {list(adata.layers)}"
        )
    return adata.layers[layer]


#: Cells per block when a backed (on-disk) matrix is read through dask.
BACKED_BLOCK_ROWS = 10_000


def lazy_if_backed(M):
    """Return a matrix of a backed AnnData (``backed="r"``) as a dask array, else ``M``.

    A backed ``.X`` (an HDF5 dataset, or anndata's CSR dataset) is read in
    blocks of :data:`BACKED_BLOCK_ROWS` cells (anndata's ``read_elem_lazy``),
    so the fit streams through it instead of loading the cells it indexes.
    Anything else, and everything when dask is not installed, is returned as
    is (CSC datasets too: their cells are not stored in blocks; read their
    columns with :func:`columns_of`).

    Examples
    --------
    >>> import os, tempfile, numpy as np, anndata as ad
    >>> path = os.path.join(tempfile.mkdtemp(), "x.h5ad")
    >>> ad.AnnData(np.ones((4, 3))).write_h5ad(path)
    >>> backed = ad.read_h5ad(path, backed="r")
    >>> type(lazy_if_backed(backed.X)).__name__, lazy_if_backed(backed.X).shape
    ('Array', (4, 3))
    >>> backed.file.close()
    """
    import anndata

    is_dataset = type(M).__module__.startswith(("h5py", "zarr"))
    if not (is_dataset or isinstance(M, anndata.abc.CSRDataset)) or len(M.shape) != 2:
        return M
    try:
        from anndata.experimental import read_elem_lazy

        return read_elem_lazy(M if is_dataset else M.group,
                              chunks=(BACKED_BLOCK_ROWS, int(M.shape[1])))
    except ImportError:  # no dask: the matrix is read as before
        return M


def columns_of(M, idx: np.ndarray):
    """Return the columns ``idx`` (increasing positions) of a matrix, reading only those.

    An in-memory or dask ``M`` is indexed as usual (and returned as is when
    ``idx`` is every column; a dask array stays lazy). A backed dataset that
    :func:`lazy_if_backed` leaves as it is (a CSC ``.X`` of ``backed="r"``
    AnnData, or any backed matrix without dask) is read column-wise: only
    these columns are loaded into memory, as stored (a CSC dataset gives a
    scipy CSC matrix).

    Examples
    --------
    >>> import numpy as np
    >>> columns_of(np.arange(6).reshape(2, 3), np.array([0, 2])).tolist()
    [[0, 2], [3, 5]]
    """
    idx = np.asarray(idx, dtype=np.intp)
    in_memory = isinstance(M, np.ndarray) or sp.issparse(M) or is_dask_array(M)
    if in_memory and np.array_equal(idx, np.arange(M.shape[1])):
        return M
    return M[:, idx]


def copy_data(data):
    """Copy a MuData or an AnnData (a MuData without pulling columns).

    A backed AnnData cannot be copied without a file to copy it to: that is
    an error saying what to do, before anything else happens.
    """
    if isinstance(data, MuData):
        with md.set_options(pull_on_update=False):
            return data.copy()
    if getattr(data, "isbacked", False):
        raise ValueError(
            f"copy=True on an AnnData backed by {data.filename}: anndata copies a backed "
            "object only to another file. Load it first (adata.to_memory()), or pass "
            "copy=False: the results are added to the object in memory and the file is "
            "never written")
    return data.copy()


def update_mudata(data) -> None:
    """Resynchronise a MuData after a modality changed its variables."""
    if isinstance(data, MuData):
        with md.set_options(pull_on_update=False):
            data.update()


def rows_of(M, obs_names: pd.Index, cells: pd.Index):
    """Rows of ``M`` (indexed by ``obs_names``) for ``cells``."""
    return M[pd.Index(obs_names).get_indexer(cells)]

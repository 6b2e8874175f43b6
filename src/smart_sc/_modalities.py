"""Reading the RNA and protein matrices out of MuData / AnnData, with checks.

Everything here is about names and shapes: which object holds the proteins,
which cells have both modalities, which cells train, and whether the numbers
are usable. It knows nothing of the estimator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from ._core.arrays import as_numpy, check_finite, is_dask_array

try:  # MuData is a dependency, but keep the AnnData path importable without it.
    from mudata import MuData
except ImportError:  # pragma: no cover
    MuData = ()  # type: ignore[assignment,misc]

__all__ = [
    "PairedModalities",
    "check_finite",
    "gene_subset",
    "get_matrix",
    "lazy_if_backed",
    "mask_obs_names",
    "modality_adata",
    "obsm_frame",
    "resolve_mask_var",
    "resolve_modalities",
    "select_cells",
]


@dataclass
class PairedModalities:
    """The input (RNA) AnnData and where the proteins are.

    ``prot`` is an AnnData (MuData input) or ``None`` when proteins live in
    ``rna.obsm[obsm_key]`` (AnnData input).
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

    For an AnnData, ``modality_out`` names a ``.obsm`` DataFrame of proteins.
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
    """``.X`` or a layer of ``adata``; clear error when the layer is absent."""
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
    is (CSC datasets too: their cells are not stored in blocks).

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


_MASK_FORMS = ("a boolean array with one entry per observation, a boolean Series indexed "
               "by the obs names, the name of a boolean .obs column, or a list of obs names")


def _boolean_values(values: pd.Series | np.ndarray, what: str) -> np.ndarray:
    """Return a boolean mask as a numpy array (pandas' nullable booleans: no missing value)."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = int(series.isna().sum())
    if missing:
        raise ValueError(f"{what} has {missing} missing value(s); a mask must be True or False "
                         "for every cell")
    return series.to_numpy(dtype=bool)


def mask_obs_names(obs: pd.DataFrame, mask_obs, what: str = "mask_obs") -> pd.Index:
    """Return the obs names a cell mask selects, with one rule for every public function.

    As scanpy's masks: a boolean array of the right length; a boolean Series,
    aligned by its index (an index that is not the obs names is refused, not
    read positionally); the name of a boolean ``.obs`` column; or obs names.
    Anything else is refused with what it is and what is accepted.
    """
    if isinstance(mask_obs, str):
        if mask_obs not in obs.columns:
            raise ValueError(f"{what} {mask_obs!r} is not a column of .obs; it has "
                             f"{list(obs.columns)}")
        column = obs[mask_obs]
        if not pd.api.types.is_bool_dtype(column.dtype):
            raise ValueError(
                f"{what} {mask_obs!r} is an .obs column of dtype {column.dtype}, not boolean; "
                f"pass a boolean mask, e.g. obs[{mask_obs!r}] == value")
        return pd.Index(obs.index[_boolean_values(column, f"{what} {mask_obs!r}")])
    if isinstance(mask_obs, pd.Series) and pd.api.types.is_bool_dtype(mask_obs.dtype):
        if not mask_obs.index.equals(obs.index):
            if len(mask_obs.index) != len(obs.index) or set(mask_obs.index) != set(obs.index):
                raise ValueError(
                    f"{what} is a boolean Series whose index is not the obs names (e.g. "
                    f"{list(mask_obs.index[:3])} against {list(obs.index[:3])}); index it by "
                    "the obs names, or pass .to_numpy() if its order is the obs order")
            mask_obs = mask_obs.reindex(obs.index)
        return pd.Index(obs.index[_boolean_values(mask_obs, what)])
    if isinstance(mask_obs, pd.Series):
        mask_obs = mask_obs.to_numpy()
    arr = np.asarray(mask_obs)
    if arr.dtype == bool:
        if arr.shape != (obs.shape[0],):
            raise ValueError(
                f"boolean {what} has shape {arr.shape}, expected ({obs.shape[0]},) "
                "(one entry per observation of the object passed)"
            )
        return pd.Index(obs.index[arr])
    if arr.ndim != 1 or not (arr.dtype.kind in "US" or (arr.dtype == object and all(
            isinstance(v, str) for v in arr))):
        raise ValueError(f"{what} must be {_MASK_FORMS}; got an array of dtype {arr.dtype} "
                         f"and shape {arr.shape}")
    names = pd.Index(arr.astype(str))
    unknown = names.difference(obs.index)
    if len(unknown):
        raise ValueError(
            f"{what} names {len(unknown)} cell(s) not in the data, e.g. {list(unknown[:5])}"
        )
    return names


def select_cells(pair: PairedModalities, mask_obs) -> pd.Index:
    """Training cells: paired cells, restricted by ``mask_obs`` (see :func:`mask_obs_names`)."""
    paired = pair.paired_cells()
    chosen = (paired if mask_obs is None
              else paired.intersection(mask_obs_names(pair.container.obs, mask_obs), sort=False))
    if len(chosen) == 0:
        raise ValueError(
            "no training cells selected: none of the chosen cells has both modalities "
            f"({len(paired)} paired cells in total)"
        )
    return chosen


def resolve_mask_var(mask_var, genes, *, stacklevel: int = 3):
    """``mask_var``, or the deprecated ``genes`` alias (with a ``FutureWarning``).

    ``stacklevel`` points the warning at the user's call: 3 when called from a
    public function's body.
    """
    if genes is None:
        return mask_var
    if mask_var is not None:
        raise TypeError("pass mask_var only: genes is its deprecated alias")
    warnings.warn("genes= is deprecated and will be removed; use mask_var= (scanpy's "
                  "name for a gene mask) instead", FutureWarning, stacklevel=stacklevel)
    return genes


def gene_subset(rna: AnnData, mask_var) -> np.ndarray:
    """Boolean mask over ``rna.var_names`` from ``mask_var``, as scanpy reads it.

    ``mask_var`` is ``None`` (all genes), the name of a boolean ``.var``
    column (e.g. ``"smart_screened"`` from :func:`smart_sc.pp.screen_genes`),
    a boolean array or Series over ``.var``, or gene names.
    """
    if mask_var is None:
        return np.ones(rna.n_vars, dtype=bool)
    if isinstance(mask_var, str):
        if mask_var not in rna.var.columns:
            raise ValueError(f"mask_var {mask_var!r} is not a column of .var; it has "
                             f"{list(rna.var.columns)[:10]}")
        mask_var = rna.var[mask_var]
    if isinstance(mask_var, pd.Series) and mask_var.dtype == bool:
        mask_var = mask_var.reindex(rna.var_names)
    values = np.asarray(mask_var)
    if values.dtype == bool:
        if values.shape != (rna.n_vars,):
            raise ValueError(f"boolean mask_var has shape {values.shape}, expected "
                             f"({rna.n_vars},) (one entry per gene of .var)")
        mask = values
    elif values.dtype.kind in "OUS":
        names = pd.Index(values.astype(str).ravel())
        unknown = names.difference(pd.Index(rna.var_names))
        if len(unknown):
            raise ValueError(f"{len(unknown)} of the genes in mask_var are not in the data, "
                             f"e.g. {list(unknown[:5])}")
        mask = np.asarray(pd.Index(rna.var_names).isin(names))
    else:
        raise ValueError("mask_var must be a boolean mask over .var, a boolean .var column "
                         f"name or gene names, got values of dtype {values.dtype}")
    if not mask.any():
        raise ValueError("no genes selected")
    return mask

"""RNA normalisation and protein CLR from raw counts, the SMART paper's way."""

from __future__ import annotations

import warnings

import numpy as np
import scanpy as sc
import scipy.sparse as sp

try:  # MuData is a dependency, but keep the AnnData path importable without it.
    from mudata import MuData
except ImportError:  # pragma: no cover
    MuData = ()  # type: ignore[assignment,misc]

from ..get import check_counts, get_matrix
from ..get._modalities import copy_data, modality_adata, update_mudata
from ._record import (
    logger,
    record,
)

__all__ = ["clr_proteins", "normalize_rna"]

_CLR_FLAVORS = {
    # flavor: (muon axis, muon flavor)
    "per_cell": (1, "stoeckius"),
    "per_protein": (0, "seurat"),
}


def as_float(M):
    """Return a float copy of ``M`` (dense or sparse); float32/64 kept, others to float64."""
    dtype = M.dtype if np.issubdtype(M.dtype, np.floating) else np.float64
    if sp.issparse(M):
        return M.astype(dtype, copy=True)
    return np.array(M, dtype=dtype, copy=True)


def _load_counts(adata, layer, modality, check, fn):
    """Raw counts of ``adata`` (``layer`` or ``.X``), checked; kept in ``layers['counts']``."""
    if layer is not None and layer not in adata.layers:
        raise ValueError(
            f"layer {layer!r} not found in modality {modality!r} (it has {list(adata.layers)}); "
            f"pass layer=None to use .X if .X holds the raw counts"
        )
    counts = get_matrix(adata, layer, modality)
    where = f".layers[{layer!r}]" if layer is not None else ".X"
    if check:
        check_counts(
            counts,
            f"modality {modality!r} {where}",
            f"{fn} needs raw counts: pass the layer that holds them (e.g. layer='counts'), or "
            "check_counts=False if you are sure.",
        )
    if "counts" not in adata.layers:
        adata.layers["counts"] = counts.copy()
    return as_float(counts), where


def check_normalize_args(target_sum, n_top_genes) -> None:
    """:func:`normalize_rna`'s scalar arguments, checked before anything is changed."""
    if n_top_genes is not None and (
        isinstance(n_top_genes, bool)
        or not isinstance(n_top_genes, int | np.integer)
        or n_top_genes < 1
    ):
        raise ValueError(f"n_top_genes must be a positive int or None, got {n_top_genes!r}")
    if (isinstance(target_sum, bool) or not isinstance(target_sum, int | float | np.number)
            or not (np.isfinite(target_sum) and target_sum > 0)):
        raise ValueError(f"target_sum must be a positive number, got {target_sum!r}")


def check_clr_flavor(flavor) -> None:
    """:func:`clr_proteins`'s ``flavor``, checked before anything is changed."""
    if flavor not in _CLR_FLAVORS:
        raise ValueError(f"flavor must be one of {sorted(_CLR_FLAVORS)}, got {flavor!r}")


def normalize_rna(
    data,
    *,
    modality: str = "rna",
    layer: str | None = "counts",
    target_sum: float = 1e4,
    n_top_genes: int | None = 3000,
    subset: bool = False,
    scale: bool = True,
    max_value: float | None = None,
    check_counts: bool = True,
    copy: bool = False,
):
    """Normalise RNA counts as the SMART paper did: total, log1p, HVGs, scale.

    Starting from raw counts (``layer``, copied into ``.X``; or ``.X`` itself
    when ``layer=None``), runs :func:`scanpy.pp.normalize_total`,
    :func:`scanpy.pp.log1p`, :func:`scanpy.pp.highly_variable_genes`
    (``flavor="seurat"`` on the log data) and :func:`scanpy.pp.scale`. Raw
    counts stay in ``layers["counts"]`` (copied there if absent).

    Parameters
    ----------
    data : mudata.MuData or anndata.AnnData
        The data; for a MuData, ``data[modality]`` is processed.
    modality : str, default="rna"
        The RNA modality of a MuData (ignored for an AnnData).
    layer : str or None, default="counts"
        Layer holding the raw counts, or ``None`` to use ``.X``.
    target_sum : float, default=1e4
        Total counts per cell after :func:`scanpy.pp.normalize_total`.
    n_top_genes : int or None, default=3000
        Number of highly variable genes (capped at the number of genes);
        ``None`` skips the selection.
    subset : bool, default=False
        Keep only the highly variable genes (otherwise they are only marked in
        ``.var["highly_variable"]``).
    scale : bool, default=True
        Scale each gene to zero mean and unit variance (dense result).
    max_value : float or None, default=None
        Clip scaled values at ``max_value`` (see :func:`scanpy.pp.scale`).
    check_counts : bool, default=True
        Refuse input that does not look like raw counts (negative or
        non-integer values), to avoid normalising twice.
    copy : bool, default=False
        Work on a copy and return it.

    Returns
    -------
    mudata.MuData, anndata.AnnData or None
        ``None`` if ``copy=False``, else the processed copy. The parameters are
        in ``.uns["smart_sc_preprocessing"]["normalize_rna"]`` of the modality.

    Raises
    ------
    ValueError
        When the counts are missing, non-finite, negative or non-integer.

    Examples
    --------
    >>> from smart_sc import pp
    >>> from smart_sc.datasets import toy_citeseq
    >>> mdata = toy_citeseq(random_state=0)
    >>> pp.normalize_rna(mdata, n_top_genes=100)
    >>> rna = mdata["rna"]
    >>> rna.shape, int(rna.var["highly_variable"].sum())
    ((750, 300), 100)
    >>> round(float(rna.X[:, 0].mean()), 6) + 0.0, "counts" in rna.layers
    (0.0, True)
    >>> rna.uns["smart_sc_preprocessing"]["normalize_rna"]["target_sum"]
    10000.0
    """
    if copy:
        data = copy_data(data)
    adata = modality_adata(data, modality)
    check_normalize_args(target_sum, n_top_genes)
    X, where = _load_counts(adata, layer, modality, check_counts, "normalize_rna")
    adata.X = X
    adata.uns.pop("log1p", None)  # .X is counts again; scanpy must not think it is logged
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    n_hvg = None
    if n_top_genes is not None:
        n_hvg = int(min(n_top_genes, adata.n_vars))
        sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_hvg)
        n_marked = int(adata.var["highly_variable"].sum())
        logger.info(
            "normalize_rna: %d highly variable genes of %d (modality %r)",
            n_marked,
            adata.n_vars,
            modality,
        )
        if subset:
            adata._inplace_subset_var(adata.var["highly_variable"].to_numpy())
            update_mudata(data)
    if scale:
        with warnings.catch_warnings():
            # scanpy warns when densifying a sparse matrix to centre it; intended here.
            warnings.filterwarnings("ignore", message=".*zero_center.*", category=UserWarning)
            if sp.issparse(adata.X):
                adata.X = adata.X.toarray()
            sc.pp.scale(adata, max_value=max_value)
    record(
        adata,
        "normalize_rna",
        {
            "input": where,
            "target_sum": float(target_sum),
            "log1p": True,
            "highly_variable_genes": n_hvg is not None,
            "hvg_flavor": "seurat" if n_hvg is not None else None,
            "n_top_genes": n_hvg,
            "subset": bool(subset and n_hvg is not None),
            "scale": bool(scale),
            "max_value": None if max_value is None else float(max_value),
            "n_vars": int(adata.n_vars),
        },
    )
    return data if copy else None


def clr_proteins(
    data,
    *,
    modality: str = "prot",
    layer: str | None = "counts",
    flavor: str = "per_cell",
    check_counts: bool = True,
    copy: bool = False,
):
    """Centred log-ratio transform of protein (ADT) counts with :func:`muon.prot.pp.clr`.

    ``flavor="per_cell"`` is the SMART paper's CLR: for each cell,
    ``log1p(x)`` minus the mean of ``log1p`` over that cell's proteins
    (``muon.prot.pp.clr(adata, axis=1, flavor="stoeckius")``, which is
    ``log((x + 1) / gmean(x + 1))`` across the proteins of a cell).
    ``flavor="per_protein"`` is muon's default (``axis=0``, ``flavor="seurat"``:
    ``log1p(x / exp(mean log1p x))`` across the cells of each protein).

    Parameters
    ----------
    data : mudata.MuData or anndata.AnnData
        Protein counts: ``data[modality]`` of a MuData, or an AnnData of proteins.
    modality : str, default="prot"
        Name of the protein modality (used for a MuData only).
    layer : str or None, default="counts"
        Layer holding the raw ADT counts, or ``None`` to use ``.X``.
    flavor : {"per_cell", "per_protein"}, default="per_cell"
        Which CLR, see above.
    check_counts : bool, default=True
        Refuse input that does not look like raw counts.
    copy : bool, default=False
        Work on a copy and return it.

    Returns
    -------
    mudata.MuData, anndata.AnnData or None
        ``None`` if ``copy=False``, else the processed copy. Parameters in
        ``.uns["smart_sc_preprocessing"]["clr_proteins"]`` of the modality (and
        of the ``"rna"`` modality of a MuData too, for a source model's
        provenance).

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc import pp
    >>> from smart_sc.datasets import toy_citeseq
    >>> mdata = toy_citeseq(random_state=0)
    >>> pp.clr_proteins(mdata)
    >>> X = mdata["prot"].X
    >>> bool(np.allclose(X.mean(axis=1), 0))  # per cell: centred over proteins
    True
    >>> mdata["prot"].uns["smart_sc_preprocessing"]["clr_proteins"]["muon_axis"]
    1
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # muon's import-time Future/ImportWarnings
        import muon as mu

    check_clr_flavor(flavor)
    if copy:
        data = copy_data(data)
    adata = modality_adata(data, modality)
    X, where = _load_counts(adata, layer, modality, check_counts, "clr_proteins")
    axis, mu_flavor = _CLR_FLAVORS[flavor]
    if sp.issparse(X) and mu_flavor == "stoeckius":
        X = X.toarray()
    elif sp.issparse(X):
        X = X.tocsc() if axis == 0 else X.tocsr()
    adata.X = np.asarray(X, dtype=np.float64) if not sp.issparse(X) else X
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # muon on scanpy versions
        mu.prot.pp.clr(adata, axis=axis, flavor=mu_flavor)
    params = {
        "input": where,
        "flavor": flavor,
        "muon_axis": axis,
        "muon_flavor": mu_flavor,
        "modality": modality,
    }
    record(adata, "clr_proteins", params)
    if isinstance(data, MuData):
        for name, other in data.mod.items():
            if name != modality:
                record(other, "clr_proteins", params)
    logger.info("clr_proteins: %s CLR on %d proteins (modality %r)", flavor, adata.n_vars, modality)
    return data if copy else None

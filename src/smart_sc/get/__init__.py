"""How the package reads MuData and AnnData: the one place ``pp``, ``tl`` and ``pl`` read from.

As scanpy's ``sc.get`` and decoupler's ``extract``: the functions that find
the RNA and protein modalities (:func:`resolve_modalities`), read a layer or
``.X`` (:func:`get_matrix`, lazily for backed data), select cells and genes by
one rule for every mask (:func:`select_cells`, :func:`gene_subset`), check
values (:func:`check_finite`, :func:`check_counts`), and extract what a fit
needs in one step (:func:`extract`). Nothing here knows the estimator.
"""

from ._checks import check_counts, check_finite
from ._extract import MIN_SHARED_GENES, Extracted, check_overlap, extract, matrix_label
from ._masks import gene_subset, mask_obs_names, resolve_groups, resolve_mask_var, select_cells
from ._modalities import (
    BACKED_BLOCK_ROWS,
    PairedModalities,
    copy_data,
    get_matrix,
    lazy_if_backed,
    modality_adata,
    obsm_frame,
    resolve_modalities,
    rows_of,
    update_mudata,
)

__all__ = [
    "BACKED_BLOCK_ROWS",
    "MIN_SHARED_GENES",
    "Extracted",
    "PairedModalities",
    "check_counts",
    "check_finite",
    "check_overlap",
    "copy_data",
    "extract",
    "gene_subset",
    "get_matrix",
    "lazy_if_backed",
    "mask_obs_names",
    "matrix_label",
    "modality_adata",
    "obsm_frame",
    "resolve_groups",
    "resolve_mask_var",
    "resolve_modalities",
    "rows_of",
    "select_cells",
    "update_mudata",
]

"""How the package reads MuData and AnnData: the one place ``pp``, ``tl`` and ``pl`` read from.

As scanpy's ``sc.get`` and decoupler's ``extract``: the functions that find
the RNA and protein modalities (:func:`resolve_modalities`), read a layer or
``.X`` (:func:`get_matrix`, lazily for backed data), select cells and genes by
one rule for every mask (:func:`select_cells`, :func:`gene_subset`), check
values (:func:`check_finite`, :func:`check_counts`), and extract what a fit
needs in one step (:func:`extract`). Nothing here knows the estimator.
"""

from ._checks import check_counts, check_finite
from ._extract import Extracted, extract
from ._masks import gene_subset, mask_obs_names, select_cells
from ._modalities import PairedModalities, get_matrix, resolve_modalities

# The public reading API. The package's own helpers (copying a MuData, the
# overlap check, ...) are imported from the private modules where they are used.
__all__ = [
    "Extracted",
    "PairedModalities",
    "check_counts",
    "check_finite",
    "extract",
    "gene_subset",
    "get_matrix",
    "mask_obs_names",
    "resolve_modalities",
    "select_cells",
]

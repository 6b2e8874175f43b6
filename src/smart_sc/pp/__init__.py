"""Preprocessing of CITE-seq data for SMART, the paper's way, from raw counts.

RNA: :func:`normalize_rna` (``normalize_total``, ``log1p``, highly variable
genes, ``scale`` through scanpy). Proteins: :func:`clr_proteins` (CLR through
:func:`muon.prot.pp.clr`, per cell as the paper). Features:
:func:`drop_constant_features` (zero variance in a population) and
:func:`screen_genes` (marginal correlation screening, marked in ``.var``).
:func:`prepare_citeseq` chains them. Parameters of each step are recorded in
``.uns["smart_sc_preprocessing"]`` of the modality, for a source model's
provenance.
"""

from ._features import drop_constant_features, screen_genes
from ._normalize import clr_proteins, normalize_rna
from ._pipeline import prepare_citeseq

__all__ = [
    "clr_proteins",
    "drop_constant_features",
    "normalize_rna",
    "prepare_citeseq",
    "screen_genes",
]

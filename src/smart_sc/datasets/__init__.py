"""Data sets: the SMART paper's simulation design, a toy CITE-seq set and real CITE-seq data.

- :func:`simulate_transfer` and friends: the paper's simulation design (Section 5), seeded.
- :func:`toy_citeseq`: a small simulated CITE-seq MuData with a known RNA-to-protein map.
- :func:`bmmc_cite`: 5,000 real bone-marrow cells (RNA and 134 proteins, raw counts) of the
  NeurIPS 2021 CITE-seq data (Luecken et al. 2021, GEO GSE194122), shipped with the package.
- :func:`neurips2021_cite`: the full GEO file of those data, downloaded by the user, read into
  the same layout.
"""

from ._citeseq import toy_citeseq
from ._real import bmmc_cite, neurips2021_cite
from ._simulation import (
    PAPER_EXPERIMENTS,
    PAPER_MODELS,
    SimulatedTransfer,
    estimation_error,
    paper_settings,
    simulate_transfer,
)

__all__ = [
    "PAPER_EXPERIMENTS",
    "PAPER_MODELS",
    "SimulatedTransfer",
    "bmmc_cite",
    "estimation_error",
    "neurips2021_cite",
    "paper_settings",
    "simulate_transfer",
    "toy_citeseq",
]

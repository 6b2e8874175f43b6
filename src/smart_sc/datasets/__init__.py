"""Data sets: the SMART paper's simulation design."""

from ._citeseq import toy_citeseq
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
    "estimation_error",
    "paper_settings",
    "simulate_transfer",
    "toy_citeseq",
]

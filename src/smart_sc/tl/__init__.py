"""Tools: SMART transfer on MuData / AnnData, source models, prediction by gene name."""

from ._transfer import fit_source, predict, to_model, transfer

__all__ = ["fit_source", "predict", "to_model", "transfer"]

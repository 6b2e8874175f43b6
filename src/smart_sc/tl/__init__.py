"""Tools: SMART transfer on MuData / AnnData, source models, prediction by gene name, benchmark."""

from ._benchmark import benchmark
from ._evaluate import evaluate
from ._transfer import fit_source, predict, to_model, transfer

__all__ = ["benchmark", "evaluate", "fit_source", "predict", "to_model", "transfer"]

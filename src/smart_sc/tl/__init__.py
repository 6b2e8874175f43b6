"""Tools: SMART transfer on MuData / AnnData, source models, prediction by gene name, benchmark."""

from ._benchmark import benchmark
from ._evaluate import evaluate
from ._methods import BENCHMARK_METHODS, BenchmarkMethod, benchmark_method
from ._predict import predict
from ._source import fit_source, to_model
from ._transfer import transfer

__all__ = [
    "BENCHMARK_METHODS",
    "BenchmarkMethod",
    "benchmark",
    "benchmark_method",
    "evaluate",
    "fit_source",
    "predict",
    "to_model",
    "transfer",
]

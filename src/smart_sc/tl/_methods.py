"""The methods :func:`smart_sc.tl.benchmark` compares, by name: one registry.

Each entry says whether the method uses a source model and builds its
estimator from the source's coefficients (``None`` for target-only methods),
the split's seed and SMART's parameters. An unknown name is an error that
lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..baselines import (
    OffsetTransfer,
    ReducedRankRegression,
    SourceMixture,
    SourceOnly,
    SourceSubspaceRRR,
    TargetLasso,
    TargetOLS,
    TargetRidge,
    placebo_coef,
)
from ..estimator import SMARTRegressor

__all__ = ["BENCHMARK_METHODS", "METHOD_ALIASES", "BenchmarkMethod", "benchmark_method"]

#: SMART parameters that only mean something with a source (dropped without one).
SOURCE_ONLY_PARAMS = ("structural_rank", "source_pull")


@dataclass(frozen=True)
class BenchmarkMethod:
    """A method of the benchmark: what it is, whether it needs a source, how it is built.

    ``build(C0, seed, smart_params)`` returns an unfitted estimator; ``C0`` is
    the source's coefficients (scikit-learn orientation) or ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.tl import BENCHMARK_METHODS
    >>> method = BENCHMARK_METHODS["source_only"]
    >>> method.uses_source, type(method.build(np.ones((2, 3)), 0, {})).__name__
    (True, 'SourceOnly')
    """

    name: str
    uses_source: bool
    description: str
    build: Callable[[np.ndarray | None, int, dict], object]


#: SMART's defaults in the benchmark, under the caller's ``smart_params``. The
#: transfer gain is a diagnostic the results table does not report; computed after
#: the fit, it never changes the coefficients (3% of a default fit's time on
#: 20-cell ILC1 targets: 41.9 s against 43.2 s for 32 fits, identical coefficients).
BENCHMARK_SMART_DEFAULTS = MappingProxyType({"transfer_gain": False})


def _smart_params(seed, smart_params) -> dict:
    return {"random_state": seed, **BENCHMARK_SMART_DEFAULTS, **smart_params}


def _smart(C0, seed, smart_params):
    return SMARTRegressor(C0, **_smart_params(seed, smart_params))


def _smart_placebo(C0, seed, smart_params):
    # The same call, folds and all, with the source's genes shuffled by the split's
    # seed (recorded in the row's placebo_seed).
    return _smart(placebo_coef(C0, random_state=seed)[0], seed, smart_params)


def _reduced_rank_ridge(_, seed, smart_params):
    # SMART's estimator and tuning with no source: a rank-r fit with alpha.
    params = {k: v for k, v in smart_params.items() if k not in SOURCE_ONLY_PARAMS}
    return SMARTRegressor(None, **_smart_params(seed, params))


_ENTRIES = (
    BenchmarkMethod("smart", True, "SMART with the source model", _smart),
    BenchmarkMethod("smart_placebo", True, "SMART with the source's genes shuffled (control)",
                    _smart_placebo),
    BenchmarkMethod("source_only", True, "the source model used as is",
                    lambda C0, seed, _: SourceOnly(C0)),
    BenchmarkMethod("ridge_to_source", True, "ridge shrunk toward the source",
                    lambda C0, seed, _: OffsetTransfer(C0)),
    BenchmarkMethod("source_rrr", True, "reduced-rank regression in the source's subspace",
                    lambda C0, seed, _: SourceSubspaceRRR(C0, random_state=seed)),
    BenchmarkMethod("mixture", True, "cross-validated mixture of the source and target ridge",
                    lambda C0, seed, _: SourceMixture(C0, random_state=seed)),
    BenchmarkMethod("target_ridge", False, "ridge on the target alone",
                    lambda C0, seed, _: TargetRidge()),
    BenchmarkMethod("target_ols", False, "least squares on the target alone",
                    lambda C0, seed, _: TargetOLS()),
    BenchmarkMethod("target_lasso", False, "lasso on the target alone",
                    lambda C0, seed, _: TargetLasso(random_state=seed)),
    BenchmarkMethod("target_rrr", False, "reduced-rank regression on the target alone",
                    lambda C0, seed, _: ReducedRankRegression()),
    BenchmarkMethod("reduced_rank_ridge", False, "SMART's estimator without a source (control)",
                    _reduced_rank_ridge),
)

#: Every method of :func:`smart_sc.tl.benchmark`, by name (read-only).
BENCHMARK_METHODS: Mapping[str, BenchmarkMethod] = MappingProxyType(
    {m.name: m for m in _ENTRIES})
#: Former names still accepted.
METHOD_ALIASES: Mapping[str, str] = MappingProxyType({"offset": "ridge_to_source"})


def benchmark_method(name: str) -> BenchmarkMethod:
    """Return the benchmark method called ``name`` (or a former name of it).

    Parameters
    ----------
    name : str
        A key of :data:`BENCHMARK_METHODS`, or a former name (``"offset"``).

    Returns
    -------
    BenchmarkMethod
        Its name, whether it uses a source, a description and its builder.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.

    Examples
    --------
    >>> from smart_sc.tl import benchmark_method
    >>> benchmark_method("smart_placebo").uses_source
    True
    >>> benchmark_method("offset").name
    'ridge_to_source'
    """
    method = BENCHMARK_METHODS.get(METHOD_ALIASES.get(name, name))
    if method is None:
        raise ValueError(f"unknown benchmark method {name!r}; the known ones are "
                         f"{list(BENCHMARK_METHODS)}")
    return method

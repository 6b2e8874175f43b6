"""Comparators of SMART, fitted from sufficient statistics.

Target-only and source-only baselines (:mod:`._target`): least squares, ridge
and lasso per response, reduced-rank regression, the bounded-difference
transfer ``C0 + Delta`` and the source model used as is. Source-aware
comparators (:mod:`._source_aware`): reduced-rank regression restricted to the
source's leading gene subspace, and a cross-validated mixture of the source and
a target-only ridge. Sparse reduced-rank regression (:mod:`._sparse_rrr`), the
SMART paper's other source models: row-sparse RRR (SRRR), RRR with a sparse
SVD (RSSVD) and sparse orthogonal factor regression (SOFAR). The control
(:mod:`._placebo`): the placebo source, the source with its genes shuffled.
"""

from ._placebo import placebo_coef
from ._source_aware import SourceMixture, SourceSubspaceRRR
from ._sparse_rrr import RSSVD, SOFAR, SRRR
from ._target import (
    OffsetTransfer,
    ReducedRankRegression,
    SourceOnly,
    TargetLasso,
    TargetOLS,
    TargetRidge,
)

__all__ = [
    "RSSVD",
    "SOFAR",
    "SRRR",
    "OffsetTransfer",
    "ReducedRankRegression",
    "SourceMixture",
    "SourceOnly",
    "SourceSubspaceRRR",
    "TargetLasso",
    "TargetOLS",
    "TargetRidge",
    "placebo_coef",
]

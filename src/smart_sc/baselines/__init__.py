"""Comparators of SMART, fitted from sufficient statistics.

Every estimator is a scikit-learn regressor that sees the cells once, to form
``X^T X``, ``X^T Y`` and ``Y^T Y`` (per fold, in the same pass, when it
cross-validates), and computes its coefficients from those statistics only.
The modules, by family:

- :mod:`._least_squares`: target-only least squares and ridge per response,
  and reduced-rank regression (:class:`TargetOLS`, :class:`TargetRidge`,
  :class:`ReducedRankRegression`).
- :mod:`._lasso`: the lasso per response with cross-validated penalties
  (:class:`TargetLasso`) and its path code.
- :mod:`._source_aware`: the comparators that use the source model: the
  source as is (:class:`SourceOnly`), the bounded-difference transfer
  ``C0 + Delta`` (:class:`OffsetTransfer`), reduced-rank regression restricted
  to the source's leading gene subspace (:class:`SourceSubspaceRRR`) and a
  cross-validated mixture of the source and a target-only ridge
  (:class:`SourceMixture`).
- :mod:`._srrr`, :mod:`._rssvd`, :mod:`._sofar`: sparse reduced-rank
  regression, the SMART paper's other source models: row-sparse RRR
  (:class:`SRRR`), RRR with a sparse SVD (:class:`RSSVD`) and sparse
  orthogonal factor regression (:class:`SOFAR`); what they share is in
  :mod:`._sparse_base`.
- :mod:`._placebo`: the control, the placebo source (the source with its
  genes shuffled, :func:`placebo_coef`).
- :mod:`._registry`: the source methods of :func:`smart_sc.tl.fit_source` by
  name (:data:`SOURCE_METHODS`, :func:`source_method`).

Shared by all: :mod:`._base` (the regressor base class
``StatsLinearRegressor``, which SMARTRegressor uses too, the source
coefficients' check, per-response reporting and the not-converged warning),
:mod:`._linalg` (least squares, its rank and reduced-rank fits),
:mod:`._cv` (cross-validation from per-fold sums) and :mod:`._params` (the
parameter rules, in scikit-learn's ``_parameter_constraints`` terms).
"""

from ._lasso import TargetLasso
from ._least_squares import ReducedRankRegression, TargetOLS, TargetRidge
from ._placebo import placebo_coef
from ._registry import SOURCE_METHODS, source_method
from ._rssvd import RSSVD
from ._sofar import SOFAR
from ._source_aware import OffsetTransfer, SourceMixture, SourceOnly, SourceSubspaceRRR
from ._srrr import SRRR

__all__ = [
    "RSSVD",
    "SOFAR",
    "SOURCE_METHODS",
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
    "source_method",
]

"""smart_sc: SMART spectral transfer for single-cell multimodal regression.

The estimator (:class:`SMARTRegressor`) fits a target's multi-response linear
model while borrowing the singular subspaces of a source model's coefficients
(Zhao, Kolar & Lv 2026, arXiv:2604.20161). Baselines live in
:mod:`smart_sc.baselines`, the paper's simulation design in
:mod:`smart_sc.datasets`.
"""

__version__ = "0.1.0"

# Defined before the submodules: tl records it in what it stores.
from . import baselines, datasets, pl, pp, tl
from ._core.pipeline import SmallTargetWarning
from .estimator import SMARTRegressor
from .source import SourceModel

__all__ = [
    "SMARTRegressor",
    "SmallTargetWarning",
    "SourceModel",
    "__version__",
    "baselines",
    "datasets",
    "pl",
    "pp",
    "tl",
]

"""smart_sc: SMART spectral transfer for single-cell multimodal regression.

The estimator (:class:`SMARTRegressor`) fits a target's multi-response linear
model while borrowing the singular subspaces of a source model's coefficients
(Zhao, Kolar & Lv 2026, arXiv:2604.20161). Baselines live in
:mod:`smart_sc.baselines`, the paper's simulation design in
:mod:`smart_sc.datasets`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smart-sc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

from . import baselines, datasets, pl, pp, tl
from ._core.pipeline import SmallTargetWarning
from ._input_scale import InputScaleWarning
from .estimator import SMARTRegressor
from .source import SourceModel

__all__ = [
    "InputScaleWarning",
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

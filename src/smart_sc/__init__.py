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

from . import baselines, datasets, exceptions, get, pl, pp, tl
from .estimator import SMARTRegressor
from .exceptions import InputScaleWarning, SmallSourceWarning, SmallTargetWarning
from .source import SourceModel

__all__ = [
    "InputScaleWarning",
    "SMARTRegressor",
    "SmallSourceWarning",
    "SmallTargetWarning",
    "SourceModel",
    "__version__",
    "baselines",
    "datasets",
    "exceptions",
    "get",
    "pl",
    "pp",
    "tl",
]

"""Plots of SMART fits: predictions, scores, coefficients, spectra, subspaces, convergence.

What the source contributed per protein: :func:`transfer_gain`.

Every function draws with matplotlib in the scanpy style: it takes an optional
``ax`` (or ``axes``), ``show`` and ``save`` (a file path) and returns what it
drew on (an Axes, or a list of Axes for :func:`convergence`);
:func:`benchmark` returns the Axes and a summary table.
"""

from ._benchmark import benchmark, benchmark_summary
from ._model import coef_heatmap, convergence, principal_angles, spectra
from ._scores import predicted_vs_observed, protein_scores, scores_from_uns
from ._transfer_gain import transfer_gain

__all__ = [
    "benchmark",
    "benchmark_summary",
    "coef_heatmap",
    "convergence",
    "predicted_vs_observed",
    "principal_angles",
    "protein_scores",
    "scores_from_uns",
    "spectra",
    "transfer_gain",
]

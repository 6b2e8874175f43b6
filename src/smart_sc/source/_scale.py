"""Check that the RNA handed to a model looks like the scale the model was fitted on.

A model fitted on log-normalised, scaled RNA predicts nonsense from raw counts
(values in the hundreds) without any error. The model's provenance records its
preprocessing; when it says the RNA was log-transformed or scaled and the
cells look like raw counts (non-negative whole numbers well above the values
a scaled matrix holds), :class:`InputScaleWarning` says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._core.arrays import as_numpy, is_dask_array
from ..exceptions import InputScaleWarning, SmallSourceWarning

__all__ = ["MIN_SOURCE_CELLS", "check_input_scale", "describe_scale", "warn_if_counts",
           "warn_if_rescaled", "warn_if_small_source"]

#: Fewer source cells than this give a noisy source model (a source is a large population).
MIN_SOURCE_CELLS = 50
#: Cells looked at: enough to see the scale, cheap on any matrix (also out of core).
_SAMPLE_CELLS = 500
#: Raw counts reach well above this; log1p-normalised values stay below it.
_COUNT_LIKE_MAX = 20.0
#: Cells summarised for a model's recorded input scale (evenly spaced through the rows).
_SCALE_CELLS = 2000
#: A share of negative values above this means centred input (scaled RNA: 0.9 on
#: the shipped data); log-normalised RNA has none.
_CENTRED_SHARE = 0.05
#: The mean positive value may differ by this factor either way. Against a CD14+
#: Mono model on the shipped data, other cell types of the same preprocessing
#: give 0.54-1.36; log1p of counts per million instead of per 10,000 gives 2.7,
#: normalised counts without the log 9.2.
_MAX_POSITIVE_RATIO = 2.5


def _fitted_on_processed(provenance: Mapping) -> str | None:
    """Return what the model's RNA preprocessing did, if it log-transformed or scaled."""
    steps = provenance.get("preprocessing") if isinstance(provenance, Mapping) else None
    rna = steps.get("normalize_rna") if isinstance(steps, Mapping) else None
    if not isinstance(rna, Mapping):
        return None
    done = [name for name in ("log1p", "scale") if rna.get(name)]
    return " and ".join(done) or None


def _sample(X) -> np.ndarray:
    rows = X[: min(X.shape[0], _SAMPLE_CELLS)]
    if is_dask_array(rows):
        rows = as_numpy(rows)
    if sp.issparse(rows):
        return np.asarray(rows.data)
    return np.asarray(rows).ravel()


def warn_if_counts(X, provenance: Mapping, what: str, stacklevel: int) -> bool:
    """Warn when ``X`` looks like raw counts and the model was fitted on processed RNA.

    Returns whether it warned.
    """
    processed = _fitted_on_processed(provenance)
    if processed is None or X.shape[0] == 0:
        return False
    values = _sample(X)
    if values.size == 0:
        return False
    looks_like_counts = (values.min() >= 0 and values.max() > _COUNT_LIKE_MAX
                         and np.all(values == np.round(values)))
    if looks_like_counts:
        warnings.warn(
            f"{what} looks like raw counts (non-negative whole numbers up to "
            f"{values.max():.0f} in the first {min(X.shape[0], _SAMPLE_CELLS)} cells), but "
            f"the model was fitted on RNA after {processed} (its provenance): its predictions "
            "here are on the wrong scale. Preprocess these cells as the model's own "
            "(smart_sc.pp.normalize_rna), or pass the layer that holds the processed values",
            InputScaleWarning, stacklevel=stacklevel)
    return bool(looks_like_counts)


def check_input_scale(X, names, model_genes, provenance: Mapping, what: str,
                      stacklevel: int) -> None:
    """Both checks of the module, the second only when the first found nothing."""
    if not warn_if_counts(X, provenance, what, stacklevel + 1):
        warn_if_rescaled(X, names, model_genes, provenance, what, stacklevel + 1)


def _evenly_spaced_rows(X, n: int):
    """Up to ``n`` rows spread over the whole matrix, as a dense float array."""
    step = max(1, X.shape[0] // n)
    rows = X[::step][:n]
    if is_dask_array(rows):
        rows = as_numpy(rows)
    return np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)


def describe_scale(X) -> dict:
    """Summarise the scale of (up to 2,000 evenly spaced) cells of ``X``.

    Stored in a model's provenance as ``input_scale``, so that cells handed to
    the model later can be compared: the share of negative values and the
    mean of the positive ones.
    """
    return _summary(_evenly_spaced_rows(X, _SCALE_CELLS))


def _summary(rows: np.ndarray) -> dict:
    """Return the recorded summary of dense sampled ``rows``."""
    return {"n_cells": int(rows.shape[0]),
            "negative_share": float((rows < 0).mean()) if rows.size else 0.0,
            "positive_mean": float(rows[rows > 0].mean()) if (rows > 0).any() else 0.0}


def _recorded_scale(provenance: Mapping) -> tuple[float, float] | None:
    """Return the recorded negative share and positive mean, when well formed."""
    scale = provenance.get("input_scale") if isinstance(provenance, Mapping) else None
    if not isinstance(scale, Mapping):
        return None
    try:
        return float(scale["negative_share"]), float(scale["positive_mean"])
    except (KeyError, TypeError, ValueError):
        return None  # an edited or foreign record: nothing to compare with


def _sign_mismatch(fitted_share: float, new_share: float) -> str | None:
    """Say how the signs differ, when one side is centred and the other never negative."""
    if fitted_share >= _CENTRED_SHARE and new_share == 0:
        return (f"{100 * fitted_share:.0f}% of the model's training values were negative "
                "(centred, scaled RNA) and these cells have none: they look unscaled")
    if fitted_share == 0 and new_share >= _CENTRED_SHARE:
        return (f"the model's training values were never negative and {100 * new_share:.0f}% "
                "of these cells' are: they look centred (scaled) where the model's were not")
    return None


def _magnitude_mismatch(fitted_mean: float, new_mean: float) -> str | None:
    """Say how the positive values' sizes differ, when by more than another cell type's."""
    if fitted_mean <= 0 or new_mean <= 0:
        return None
    ratio = new_mean / fitted_mean
    if 1 / _MAX_POSITIVE_RATIO <= ratio <= _MAX_POSITIVE_RATIO:
        return None
    return (f"their positive values average {new_mean:.3g}, {ratio:.2g} times the model's "
            f"{fitted_mean:.3g} (another cell type stays within a factor "
            f"{_MAX_POSITIVE_RATIO:g}): they look normalised otherwise (no log, another "
            "target_sum)")


def warn_if_rescaled(X, names, model_genes, provenance: Mapping, what: str,
                     stacklevel: int) -> None:
    """Warn when the columns of ``X`` are not on the scale the model recorded.

    ``names`` name the columns of ``X``; those among ``model_genes`` are compared.
    """
    recorded = _recorded_scale(provenance)
    if recorded is None or X.shape[0] == 0:
        return
    columns = np.flatnonzero(pd.Index(names).isin(pd.Index(model_genes)))
    if len(columns) == 0:
        return
    new = _summary(_evenly_spaced_rows(X, _SCALE_CELLS)[:, columns])
    problem = (_sign_mismatch(recorded[0], new["negative_share"])
               or _magnitude_mismatch(recorded[1], new["positive_mean"]))
    if problem is not None:
        warnings.warn(
            f"{what} is not on the scale of the cells the model was fitted on: {problem}. "
            "Preprocess these cells as the model's own (its provenance records the steps), "
            "or pass the layer that holds them", InputScaleWarning, stacklevel=stacklevel)


def warn_if_small_source(n_source: int, n_target: int | None, stacklevel: int) -> None:
    """Warn when the source was fitted on few cells, or on fewer than the target has.

    SMART borrows the source model's subspaces because a large population
    estimates them better than the small target can; a source from a handful
    of cells (or fewer cells than the target) has little to lend.
    """
    if n_source < MIN_SOURCE_CELLS:
        reason = f"fewer than {MIN_SOURCE_CELLS}"
    elif n_target is not None and n_source < n_target:
        reason = f"fewer than the {n_target} target cells"
    else:
        return
    warnings.warn(
        f"the source model was fitted on {n_source} cells, {reason}: its coefficients are "
        "noisy and transfer from it is unlikely to help (compare with the no-source fit, "
        "smart_sc.tl.benchmark)", SmallSourceWarning, stacklevel=stacklevel)

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
import scipy.sparse as sp

from ._core.chunked import as_numpy, is_dask_array
from .exceptions import InputScaleWarning, SmallSourceWarning

__all__ = ["MIN_SOURCE_CELLS", "warn_if_counts", "warn_if_small_source"]

#: Fewer source cells than this give a noisy source model (a source is a large population).
MIN_SOURCE_CELLS = 50
#: Cells looked at: enough to see the scale, cheap on any matrix (also out of core).
_SAMPLE_CELLS = 500
#: Raw counts reach well above this; log1p-normalised values stay below it.
_COUNT_LIKE_MAX = 20.0


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


def warn_if_counts(X, provenance: Mapping, what: str, stacklevel: int) -> None:
    """Warn when ``X`` looks like raw counts and the model was fitted on processed RNA."""
    processed = _fitted_on_processed(provenance)
    if processed is None or X.shape[0] == 0:
        return
    values = _sample(X)
    if values.size == 0:
        return
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

"""One pass over the cells, wherever they are: in memory (:mod:`.stats`) or dask (:mod:`.chunked`).

The two entry points every fit uses. They give the same sums for the same
values, whatever the storage, so a dask fit equals the in-memory fit.
"""

from __future__ import annotations

import numpy as np

from ..arrays import is_dask_array
from .chunked import dask_compute_sums, dask_fold_sums
from .stats import RawSums, memory_fold_sums, memory_sums

__all__ = ["compute_sums", "fold_sums"]


def _chunked(X, Y) -> bool:
    return is_dask_array(X) or is_dask_array(Y)


def compute_sums(X, Y, shift_x=None, shift_y=None) -> RawSums:
    """One pass over the cells of ``X`` (n x p) and ``Y`` (n x q), about the given shifts.

    Without shifts, the column means of the first block of cells are used
    (:func:`.stats.default_shift`). A dask ``X`` or ``Y`` is summed block by
    block (:func:`.chunked.dask_compute_sums`).
    """
    if _chunked(X, Y):
        return dask_compute_sums(X, Y, shift_x, shift_y)
    return memory_sums(X, Y, shift_x, shift_y)


def fold_sums(X, Y, folds: np.ndarray, n_folds: int, *, center: bool) -> list[RawSums]:
    """Sums per fold in one pass; ``folds[i]`` is cell ``i``'s fold in ``0..n_folds-1``.

    Without centring the sums are not shifted (the uncentred model has no
    intercept, so shifting would change it). Dask arrays are summed block by
    block in one pass (:func:`.chunked.dask_fold_sums`).
    """
    if not _chunked(X, Y):
        return memory_fold_sums(X, Y, folds, n_folds, center=center)
    if center:
        return dask_fold_sums(X, Y, folds, n_folds)
    q = 1 if Y.ndim == 1 else Y.shape[1]
    return dask_fold_sums(X, Y, folds, n_folds, np.zeros(X.shape[1]), np.zeros(q))

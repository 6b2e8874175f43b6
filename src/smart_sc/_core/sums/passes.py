"""One pass over the cells, wherever they are: in memory (:mod:`.stats`) or dask (:mod:`.chunked`).

The two entry points every fit uses. Dense cells are summed in dense blocks
(:mod:`.stats`), sparse cells through sparse products (:mod:`.sparse`); in
memory or through dask, the same storage of the same values gives the same
sums bit for bit, so a dask fit equals the in-memory fit. Dense and sparse
storage of the same values agree to round-off.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..arrays import is_dask_array
from .chunked import dask_compute_sums, dask_fold_sums
from .sparse import first_rows_shift, sparse_fold_sums
from .stats import RawSums, as_dense_targets, keep_few_cells, memory_fold_sums, memory_sums

__all__ = ["compute_sums", "fold_sums"]


def _chunked(X, Y) -> bool:
    return is_dask_array(X) or is_dask_array(Y)


def _sparse_shift(X, Y, shift_x, shift_y, center: bool = True):
    if shift_x is not None and shift_y is not None:
        return shift_x, shift_y
    if center:
        return first_rows_shift(X, Y)
    return np.zeros(X.shape[1]), np.zeros(as_dense_targets(Y).shape[1])


def compute_sums(X, Y, shift_x=None, shift_y=None) -> RawSums:
    """One pass over the cells of ``X`` (n x p) and ``Y`` (n x q), about the given shifts.

    Without shifts, the column means of the first block of cells are used
    (:func:`.stats.default_shift`). A dask ``X`` or ``Y`` is summed block by
    block (:func:`.chunked.dask_compute_sums`), sparse ``X`` through sparse
    products (:func:`.sparse.sparse_fold_sums`, one fold).
    """
    if _chunked(X, Y):
        return dask_compute_sums(X, Y, shift_x, shift_y)
    if sp.issparse(X):
        shift_x, shift_y = _sparse_shift(X, Y, shift_x, shift_y)
        return sparse_fold_sums(X, Y, np.zeros(X.shape[0], dtype=np.intp), 1, shift_x,
                                shift_y)[0]
    return memory_sums(X, Y, shift_x, shift_y)


def fold_sums(X, Y, folds: np.ndarray, n_folds: int, *, center: bool) -> list[RawSums]:
    """Sums per fold in one pass; ``folds[i]`` is cell ``i``'s fold in ``0..n_folds-1``.

    Without centring the sums are not shifted (the uncentred model has no
    intercept, so shifting would change it). Dask arrays are summed block by
    block in one pass (:func:`.chunked.dask_fold_sums`), sparse cells in
    memory too (:func:`.sparse.sparse_fold_sums`).
    """
    if not _chunked(X, Y):
        if sp.issparse(X):
            shift_x, shift_y = _sparse_shift(X, Y, None, None, center)
            sums = sparse_fold_sums(X, Y, np.asarray(folds, dtype=np.intp), n_folds, shift_x,
                                    shift_y)
            return keep_few_cells(sums, X, np.asarray(folds))
        return memory_fold_sums(X, Y, folds, n_folds, center=center)
    if center:
        return dask_fold_sums(X, Y, folds, n_folds)
    q = 1 if Y.ndim == 1 else Y.shape[1]
    return dask_fold_sums(X, Y, folds, n_folds, np.zeros(X.shape[1]), np.zeros(q))

"""Sufficient statistics and predictions of dask arrays: one pass, out of core.

Everything smart_sc fits needs the cells only through the per-fold sums of
:mod:`.stats`. For a dask array those sums are computed the way scanpy
computes covariances on dask: every block of rows (dense or scipy-sparse
chunks) is mapped to its own sums (:func:`dask.array.blockwise`, in
parallel, where the block lives), and the blocks' sums are added up, so
memory holds a few blocks and a few ``p x p`` partial sums at a time, never
the cells.

The blocks are those of the in-memory pass, shifted by the in-memory shift
(the column means of the same first rows), with the in-memory folds
(:func:`.stats.kfold_labels`), and their sums are added in the in-memory
order (a chain, not a tree). Dense chunks: each fold's cells in order, cut
every :func:`.stats.block_rows` cells. Scipy-sparse chunks
(:func:`_dask_sparse_fold_sums`): every :func:`.sparse.sparse_block_rows`
cells of the original order, split by fold in the block, read once for all
folds; the caller adds the parts as they come, a few in flight. A dask fit
therefore gets bit-for-bit the in-memory statistics of the same storage
(dense or sparse) and hence the in-memory fit, whatever the chunks, as long
as BLAS runs with the same number of threads (OpenBLAS's products change in
the last bits with it; workers of a cluster in other processes agree to
round-off only). A tree of additions would differ in the last bits only, but
the data-driven fit (ADMM stopped at a tolerance, cross-validated choices)
can amplify those to about ``1e-4`` on the coefficients.

The pass also counts NaN and infinite entries of every block; a non-zero
count is an error naming it, so a dask input is checked without a pass of
its own. dask is imported only when a dask array is met: the package works
without it.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import scipy.sparse as sp

from ..arrays import as_row_chunked, count_nonfinite, nonfinite_message
from ..memory import return_freed_memory
from .sparse import FoldAccumulator, first_rows_shift, fold_part, folds_in, sparse_block_rows
from .stats import RawSums, as_dense_targets, block_rows, default_shift, memory_sums

__all__ = ["da_blockwise_sums", "dask_compute_sums", "dask_fold_sums", "sparse_block_sums"]

logger = logging.getLogger("smart_sc")


def _layout(p: int, q: int) -> list[tuple[str, tuple[int, ...]]]:
    """Fields of one fold's sums packed in a flat vector, with their shapes."""
    return [("n", ()), ("sx", (p,)), ("sy", (q,)), ("sxx", (p, p)), ("sxy", (p, q)),
            ("syy", (q, q)), ("bad", (4,))]


def _packed_size(p: int, q: int) -> int:
    return sum(int(np.prod(shape)) for _, shape in _layout(p, q))


def _block_sums(x, y, *, shift_x: np.ndarray, shift_y: np.ndarray) -> np.ndarray:
    """Sums of one block of cells (one in-memory block), packed as ``(1, L)``."""
    p, q = x.shape[1], y.shape[1]
    bad = np.array([*count_nonfinite(x), *count_nonfinite(y)], dtype=np.float64)
    out = np.zeros((1, _packed_size(p, q)))
    out[0, -4:] = bad
    if bad.any():  # the fit will be refused: count, do not sum
        return out
    sums = memory_sums(x, as_dense_targets(y), shift_x, shift_y)
    out[0, :-4] = np.concatenate([[sums.n], sums.sx, sums.sy, sums.sxx.ravel(),
                                  sums.sxy.ravel(), sums.syy.ravel()])
    return out


def _in_order(parts) -> object:
    """``parts``' blocks added one after the other, first to last (a dask delayed).

    The in-memory pass adds its blocks' sums in this order; any other order
    (a tree) changes the last bits, and the solver can amplify those.
    """
    import dask

    blocks = parts.to_delayed().ravel()
    acc = blocks[0]
    for block in blocks[1:]:
        acc = dask.delayed(np.add, pure=True)(acc, block)
    return acc


def _unpack(vector: np.ndarray, p: int, q: int, shift_x, shift_y) -> tuple[RawSums, np.ndarray]:
    fields, start = {}, 0
    for name, shape in _layout(p, q):
        size = int(np.prod(shape))
        fields[name] = vector[start:start + size].reshape(shape)
        start += size
    bad = fields.pop("bad")
    n = round(float(fields.pop("n")))
    return RawSums(n=n, **{k: np.array(v) for k, v in fields.items()},
                   shift_x=np.asarray(shift_x, dtype=np.float64),
                   shift_y=np.asarray(shift_y, dtype=np.float64)), bad


def _first_rows_shift(X, Y, sparse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The in-memory shift (:func:`.stats.default_shift`), from the same first rows."""
    import dask

    rows = min(block_rows(X.shape[1]), X.shape[0])
    x0, y0 = dask.compute(X[:rows], Y[:rows])
    if sparse:
        return first_rows_shift(x0, y0)
    return default_shift(x0, as_dense_targets(y0))


def _has_sparse_chunks(X) -> bool:
    return sp.issparse(getattr(X, "_meta", None))


def sparse_block_sums(x, y, labels: np.ndarray, k: int, shift_y: np.ndarray) -> tuple:
    """One task of the sparse pass: fold ``k``'s raw sums of one block (:func:`.sparse.fold_part`).

    Parameters and result are those of :func:`.sparse.fold_part`.
    """
    return fold_part(x, y, labels, k, shift_y)


def _block_nonfinite(x, y) -> np.ndarray:
    return np.array([*count_nonfinite(x), *count_nonfinite(y)], dtype=np.float64)


def _tasks_in_flight() -> int:
    """Fold parts computed at once: the local cores, at most :data:`_MAX_TASKS_IN_FLIGHT`."""
    return max(1, min(os.cpu_count() or 1, _MAX_TASKS_IN_FLIGHT))


#: Each task in flight holds one ``p x p`` part and its sparse product (about
#: 75 MB at 2,000 genes): more would buy little on most machines.
_MAX_TASKS_IN_FLIGHT = 4


def _dask_sparse_fold_sums(X, Y, folds: np.ndarray, n_folds: int, shift_x, shift_y
                           ) -> list[RawSums]:
    """:func:`dask_fold_sums` of scipy-sparse chunks: the in-memory sparse pass, block by block.

    ``X`` and ``Y`` are cut at the in-memory pass's block boundaries
    (:func:`.sparse.sparse_block_rows`, whatever the chunks). The jobs, in
    order: read a block (and count its NaN), then one task per fold present
    in it (:func:`sparse_block_sums`), then the next block. They run a few at
    a time (:func:`_tasks_in_flight`; a block's read goes with the last parts
    of the block before it), and the caller adds each part as the in-memory
    pass does, in order. Memory holds the per-fold sums, two blocks of cells
    and the few parts in flight, however many blocks there are: never a pile
    of blocks' parts waiting to be added.
    """
    import dask

    n, p = X.shape
    q = Y.shape[1]
    rows = sparse_block_rows(p)
    X, Y = X.rechunk({0: rows}), Y.rechunk({0: rows})
    reads = list(zip(X.to_delayed().ravel(), Y.to_delayed().ravel(), strict=True))
    starts = range(0, n, rows)
    # Not pure: hashing each block of cells into a key would cost a few ms per
    # task, and every task is computed once anyway.
    task = dask.delayed(sparse_block_sums, pure=False)
    acc, bad, width = FoldAccumulator(p, q, n_folds), np.zeros(4), _tasks_in_flight()
    logger.info("statistics of a dask array of sparse chunks: %d cells, %d genes, %d responses, "
                "%d fold(s) in blocks of %d cells, %d task(s) at a time", n, p, q, n_folds, rows,
                width)
    jobs = []
    for b, start in enumerate(starts):
        jobs.append(("read", b, None))
        jobs += [("fold", b, k) for k in folds_in(folds[start:start + rows], n_folds)]
    cells, i = {}, 0
    while i < len(jobs):
        window = []
        for kind, b, k in jobs[i:i + width]:
            if kind == "fold" and b not in cells:
                break  # its block is read in this window
            window.append((kind, b, k))
        i += len(window)
        # Once a NaN is met the fit will be refused: count the rest, do not sum.
        work = [reads[b] if kind == "read" else None if bad.any() else
                task(*cells[b], folds[starts[b]:starts[b] + rows], k, shift_y)
                for kind, b, k in window]
        done = list(dask.compute(*[w for w in work if w is not None]))
        for kind, b, _ in (job for job, w in zip(window, work, strict=True) if w is not None):
            result = done.pop(0)  # each part is dropped as soon as it is added
            if kind == "read":
                cells.pop(b - 1, None)
                cells[b] = result
                bad += _block_nonfinite(*result)
            else:
                acc.add(result)
            result = None
    cells.clear()
    _raise_if_non_finite(bad)
    out = acc.sums(shift_x, shift_y)
    # The parts were allocated in dask's threads' malloc arenas and freed here.
    return_freed_memory()
    return out


def _raise_if_non_finite(bad: np.ndarray) -> None:
    n_nan_x, n_inf_x, n_nan_y, n_inf_y = (round(float(v)) for v in bad)
    for what, n_nan, n_inf in (("X", n_nan_x, n_inf_x), ("y", n_nan_y, n_inf_y)):
        if n_nan or n_inf:
            raise ValueError(nonfinite_message(
                what, n_nan, n_inf, "(found while computing the statistics of the dask array)"))


def dask_fold_sums(X, Y, folds, n_folds: int, shift_x=None, shift_y=None) -> list[RawSums]:
    """Per-fold sums of dask (or mixed dask and numpy) ``X`` and ``Y`` in one pass.

    Parameters
    ----------
    X : dask.array.Array of shape (n_cells, n_features)
        Design, chunked along rows (dense or scipy-sparse chunks; chunks
        across the columns are joined).
    Y : dask.array.Array or array-like of shape (n_cells, n_targets)
        Responses; rechunked (or wrapped) to ``X``'s row chunks.
    folds : array-like of int of shape (n_cells,)
        Fold of every cell in ``0 .. n_folds - 1`` (from
        :func:`.stats.kfold_labels`), or all zeros for one set.
    n_folds : int
        Number of folds.
    shift_x, shift_y : ndarray or None
        Shifts of the sums; ``None`` takes the in-memory default (column
        means of the first block of rows).

    Returns
    -------
    list of RawSums
        One per fold, all about the same shifts.

    Raises
    ------
    ValueError
        If ``X`` or ``Y`` holds NaN or infinite values (their numbers are
        named).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from smart_sc._core.sums.passes import fold_sums
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(100, 5)), rng.normal(size=(100, 2))
    >>> labels = np.arange(100) % 3
    >>> lazy = dask_fold_sums(da.from_array(X, chunks=(30, 5)), Y, labels, 3)
    >>> eager = fold_sums(X, Y, labels, 3, center=True)
    >>> all(np.allclose(a.sxx, b.sxx) and a.n == b.n for a, b in zip(lazy, eager))
    True
    """
    import dask

    X = as_row_chunked(X)
    n, p = X.shape
    Y = as_row_chunked(Y, rows=X.chunks[0])
    if Y.shape[0] != n:
        raise ValueError(f"X has {n} rows but Y has {Y.shape[0]}")
    q = Y.shape[1]
    folds = np.asarray(folds, dtype=np.intp)
    if folds.shape != (n,):
        raise ValueError(f"folds has shape {folds.shape}, expected ({n},)")
    sparse = _has_sparse_chunks(X)
    if shift_x is None or shift_y is None:
        shift_x, shift_y = _first_rows_shift(X, Y, sparse)
    shift_x = np.asarray(shift_x, dtype=np.float64)
    shift_y = np.asarray(shift_y, dtype=np.float64)
    if sparse:
        return _dask_sparse_fold_sums(X, Y, folds, n_folds, shift_x, shift_y)
    # Each fold's cells, in order, cut into the blocks the in-memory pass
    # uses; every block's sums are computed where its cells are, in parallel.
    rows = block_rows(p)
    per_fold = []
    for k in range(n_folds):
        idx = np.flatnonzero(folds == k)
        if idx.size == 0:
            per_fold.append(None)
            continue
        Xk, Yk = (X, Y) if idx.size == n else (X[idx], Y[idx])
        Xk, Yk = Xk.rechunk({0: rows}), Yk.rechunk({0: rows})
        parts = da_blockwise_sums(Xk, Yk, shift_x, shift_y)
        per_fold.append(_in_order(parts))
    logger.info("statistics of a dask array: %d cells, %d genes, %d responses, %d fold(s) "
                "in blocks of %d cells", n, p, q, n_folds, rows)
    # BLAS keeps its threads: its results depend on their number, and the
    # in-memory pass uses them all.
    packed = dask.compute(*[f for f in per_fold if f is not None])
    out, bad, it = [], np.zeros(4), iter(packed)
    for k in range(n_folds):
        if per_fold[k] is None:
            zeros = RawSums(0, np.zeros(p), np.zeros(q), np.zeros((p, p)), np.zeros((p, q)),
                            np.zeros((q, q)), shift_x, shift_y)
            out.append(zeros)
            continue
        sums, fold_bad = _unpack(np.asarray(next(it)).ravel(), p, q, shift_x, shift_y)
        out.append(sums)
        bad += fold_bad
    _raise_if_non_finite(bad)
    return out


def da_blockwise_sums(X, Y, shift_x: np.ndarray, shift_y: np.ndarray):
    """Sums of every row block of ``X`` and ``Y`` (aligned row chunks), lazily.

    Parameters
    ----------
    X : dask.array.Array of shape (n_cells, n_features)
        Design with one chunk across the columns.
    Y : dask.array.Array of shape (n_cells, n_targets)
        Responses with ``X``'s row chunks and one chunk across the columns.
    shift_x, shift_y : ndarray
        Shifts of the sums.

    Returns
    -------
    dask.array.Array of shape (n_blocks, L)
        One packed row of sums per block: ``n``, ``sx``, ``sy``, ``sxx``,
        ``sxy``, ``syy`` and the block's NaN and infinite counts of ``X`` and
        ``Y``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> X, Y = da.ones((6, 2), chunks=(2, 2)), da.ones((6, 1), chunks=(2, 1))
    >>> parts = da_blockwise_sums(X, Y, np.zeros(2), np.zeros(1))
    >>> parts.shape, parts[:, 0].compute().tolist()
    ((3, 15), [2.0, 2.0, 2.0])
    """
    import dask.array as da

    p, q = X.shape[1], Y.shape[1]
    return da.blockwise(
        _block_sums, "il",
        X, "ij", Y, "ik",
        new_axes={"l": _packed_size(p, q)},
        adjust_chunks={"i": 1},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0)),
        shift_x=shift_x,
        shift_y=shift_y,
    )


def dask_compute_sums(X, Y, shift_x=None, shift_y=None) -> RawSums:
    """All cells' sums of dask ``X`` and ``Y``: :func:`dask_fold_sums` with one fold.

    Parameters
    ----------
    X : dask.array.Array of shape (n_cells, n_features)
        Design.
    Y : dask.array.Array or array-like of shape (n_cells, n_targets)
        Responses.
    shift_x, shift_y : ndarray or None
        Shifts; ``None`` takes the in-memory default.

    Returns
    -------
    RawSums
        The sums of all cells.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> X = da.ones((10, 3), chunks=(4, 3))
    >>> dask_compute_sums(X, np.ones((10, 1)), np.zeros(3), np.zeros(1)).sxx[0, 0]
    np.float64(10.0)
    """
    return dask_fold_sums(X, Y, np.zeros(X.shape[0], dtype=np.intp), 1, shift_x, shift_y)[0]

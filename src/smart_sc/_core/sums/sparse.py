"""Sums of sparse cells through sparse products: one pass at the cost of the data.

Scipy-sparse input (in memory, or the scipy-sparse chunks of a dask array,
:mod:`.chunked`) is never densified. Every :func:`sparse_block_rows` cells of
the original row order form a block; a block is split by fold label, and for
each fold present in it the raw ``X_k^T X_k`` (a sparse product: only its
``p x p`` result is dense), ``X_k^T (Y_k - shift_y)``, the raw column sums
and the response sums are added to that fold's sums, block after block in
order. In-memory and dask input cut the same blocks (the boundaries depend
on the shapes only, never on the chunks) and add the same parts in the same
order, so they give the same bits.

The shift of ``X`` is applied to the finished sums algebraically,
``S_xx = X^T X - s sx^T - sx s^T + n s s^T`` (``sx`` the raw column sums),
in this one order. Centring after the products loses the digits a shift
before them would keep only for columns whose mean is large beside their
spread; a column with a fraction ``d`` of non-zero entries has
``mean^2 <= d E[x^2]``, so a sparse column loses at most ``-log10(1 - d)``
digits (0.3 at half non-zero). The responses are dense and few: they are
shifted before their products, as in :mod:`.stats`. Dense and sparse storage
of the same values agree to round-off.
"""

from __future__ import annotations

import numpy as np

from .stats import RawSums, as_dense_targets, block_rows

__all__ = ["FoldAccumulator", "first_rows_shift", "fold_part", "folds_in", "sparse_block_rows",
           "sparse_fold_sums"]

#: Cells per block of the sparse pass times the number of features. A block
#: costs one ``p x p`` densification and addition per fold present in it; at
#: 2,000 genes 20,000 cells (2% non-zero: 10 MB of CSR) make the products
#: several times that cost.
_SPARSE_BLOCK_ENTRIES = 40_000_000


def sparse_block_rows(p: int) -> int:
    """Cells per block of the sparse pass for ``p`` features (depends on the shape only)."""
    return max(1, _SPARSE_BLOCK_ENTRIES // max(p, 1))


def _as_csr64(x):
    """``x`` as CSR of float64 (only the stored values are converted)."""
    x = x.tocsr() if x.format != "csr" else x
    return x if x.dtype == np.float64 else x.astype(np.float64)


def _column_sums(x) -> np.ndarray:
    # In storage order, row after row: the same bits for the same rows
    # whatever the order of the indices within a row.
    return np.bincount(x.indices, weights=x.data, minlength=x.shape[1])


def first_rows_shift(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """Column means of the first :func:`.stats.block_rows` cells of sparse ``X`` and of ``Y``.

    The sparse counterpart of :func:`.stats.default_shift` (the same cells,
    the means without a dense copy); ``X`` may hold more rows than those.
    """
    rows = min(block_rows(X.shape[1]), X.shape[0])
    first = _as_csr64(X[:rows])
    Yd = as_dense_targets(Y)
    return _column_sums(first) / rows, Yd[:rows].mean(axis=0)


def fold_part(x, y, labels: np.ndarray, k: int, shift_y: np.ndarray) -> tuple:
    """The raw sums of fold ``k``'s cells of one block.

    Parameters
    ----------
    x : scipy.sparse matrix or array of shape (n_block, p)
        The block's cells.
    y : array-like of shape (n_block, q)
        Their responses (not shifted).
    labels : ndarray of int of shape (n_block,)
        Fold of each cell of the block.
    k : int
        The fold.
    shift_y : ndarray of shape (q,)
        Shift of the responses.

    Returns
    -------
    tuple
        ``(k, n, sx, sy, xtx, xty, syy)``: ``n`` cells, ``sx`` their raw column
        sums, ``xtx`` the dense raw ``X_k^T X_k``, ``xty = X_k^T (Y_k -
        shift_y)``, ``sy`` and ``syy`` the sums of ``Y_k - shift_y``.
    """
    idx = np.flatnonzero(np.asarray(labels) == k)
    # A row selection of the CSR block: the fold's cells in their order,
    # never densified.
    xk = _as_csr64(x)[idx]
    yk = as_dense_targets(y)[idx] - shift_y
    # (X^T X)^T is CSR: its dense form comes out in C order, as the sums.
    xtx = (xk.T @ xk).T.toarray()
    return (k, idx.size, _column_sums(xk), yk.sum(axis=0), xtx, np.asarray(xk.T @ yk),
            yk.T @ yk)


def folds_in(labels: np.ndarray, n_folds: int) -> list[int]:
    """The folds with cells among ``labels``, in order."""
    return [int(k) for k in np.flatnonzero(np.bincount(labels, minlength=n_folds))]


class FoldAccumulator:
    """Raw per-fold sums, added block after block; shifted when finished.

    Parameters
    ----------
    p, q : int
        Numbers of features and responses.
    n_folds : int
        Number of folds.
    """

    def __init__(self, p: int, q: int, n_folds: int):
        self.n = [0] * n_folds
        self.sx = [np.zeros(p) for _ in range(n_folds)]
        self.sy = [np.zeros(q) for _ in range(n_folds)]
        # np.zeros maps pages lazily: a fold never met costs no memory.
        self.xtx = [np.zeros((p, p)) for _ in range(n_folds)]
        self.xty = [np.zeros((p, q)) for _ in range(n_folds)]
        self.syy = [np.zeros((q, q)) for _ in range(n_folds)]

    def add(self, part) -> None:
        """Add one fold's part of a block (as :func:`fold_part` returns it)."""
        k, n, sx, sy, xtx, xty, syy = part
        self.n[k] += n
        self.sx[k] += sx
        self.sy[k] += sy
        self.xtx[k] += xtx
        self.xty[k] += xty
        self.syy[k] += syy

    def sums(self, shift_x: np.ndarray, shift_y: np.ndarray) -> list[RawSums]:
        """The shifted sums of every fold (the accumulators are consumed)."""
        shift_x = np.asarray(shift_x, dtype=np.float64)
        shift_y = np.asarray(shift_y, dtype=np.float64)
        out = []
        for k in range(len(self.n)):
            n, sx, sxx, sxy = self.n[k], self.sx[k], self.xtx[k], self.xty[k]
            # In place, in one fixed order (the same bits for every storage of
            # the same sparse cells); the raw sums are not kept.
            sxx -= np.outer(shift_x, sx)
            sxx -= np.outer(sx, shift_x)
            sxx += n * np.outer(shift_x, shift_x)
            sxy -= np.outer(shift_x, self.sy[k])
            out.append(RawSums(n=n, sx=sx - n * shift_x, sy=self.sy[k], sxx=sxx, sxy=sxy,
                               syy=self.syy[k], shift_x=shift_x, shift_y=shift_y))
        self.xtx = self.xty = []
        return out


def sparse_fold_sums(X, Y, folds: np.ndarray, n_folds: int, shift_x: np.ndarray,
                     shift_y: np.ndarray) -> list[RawSums]:
    """Per-fold sums of in-memory sparse ``X`` and ``Y`` in one pass.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_cells, n_features)
        Design (CSC is converted to CSR once).
    Y : array-like of shape (n_cells, n_targets)
        Responses.
    folds : ndarray of int of shape (n_cells,)
        Fold of every cell in ``0 .. n_folds - 1``.
    n_folds : int
        Number of folds.
    shift_x, shift_y : ndarray
        Shifts of the sums.

    Returns
    -------
    list of RawSums
        One per fold, all about the same shifts.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.random(50, 4, density=0.3, format="csr", random_state=0)
    >>> Y = np.ones((50, 1))
    >>> sums = sparse_fold_sums(X, Y, np.arange(50) % 2, 2, np.zeros(4), np.zeros(1))
    >>> bool(np.allclose(sums[0].sxx + sums[1].sxx, (X.T @ X).toarray()))
    True
    """
    X = _as_csr64(X)
    Yd = as_dense_targets(Y)
    folds = np.asarray(folds, dtype=np.intp)
    n, p = X.shape
    acc = FoldAccumulator(p, Yd.shape[1], n_folds)
    rows = sparse_block_rows(p)
    for start in range(0, n, rows):
        x, y, labels = X[start:start + rows], Yd[start:start + rows], folds[start:start + rows]
        for k in folds_in(labels, n_folds):
            acc.add(fold_part(x, y, labels, k, shift_y))
    return acc.sums(shift_x, shift_y)

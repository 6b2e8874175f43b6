"""Array helpers shared by every layer: dask or not, finite or not, predictions.

The package reads numpy arrays, scipy sparse matrices and dask arrays alike;
these helpers say which one a value is, turn it into what a step needs,
check it for NaN and infinite values with one message everywhere, and
predict ``X @ C + b`` from any of them (block by block for dask). dask is
imported only when a dask array is met: the package works without it.
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_numpy",
    "as_row_chunked",
    "check_finite",
    "count_nonfinite",
    "dense_copy",
    "is_dask_array",
    "linear_predict",
    "nonfinite_message",
    "predict_blocks",
]


def count_nonfinite(values) -> tuple[int, int]:
    """Count NaN and infinite entries of a dense or scipy-sparse block.

    Examples
    --------
    >>> import numpy as np
    >>> count_nonfinite(np.array([1.0, np.nan, np.inf, -np.inf]))
    (1, 2)
    """
    values = values.data if sp.issparse(values) else np.asarray(values)
    if values.dtype.kind not in "fc":  # integers and booleans are always finite
        return 0, 0
    return int(np.isnan(values).sum()), int(np.isinf(values).sum())


def nonfinite_message(what: str, n_nan: int, n_inf: int, where: str = "") -> str:
    """The one wording of a NaN/infinity error: ``"{what} contains 2 NaN and 1 infinite ..."``."""
    return (f"{what} contains {n_nan} NaN and {n_inf} infinite value(s)"
            + (f" {where}" if where else ""))


def check_finite(M, what: str) -> None:
    """Raise ``ValueError`` counting NaN and infinite entries of ``M``.

    A dask array is not read here: the statistics pass and the predictions
    count its NaN and infinite entries block by block and raise then
    (:mod:`.sums.chunked`), so checking costs no pass of its own.

    Examples
    --------
    >>> import numpy as np
    >>> check_finite(np.array([[1.0, np.nan]]), "modality 'rna' .X")
    Traceback (most recent call last):
    ...
    ValueError: modality 'rna' .X contains 1 NaN and 0 infinite value(s)
    """
    if is_dask_array(M):
        return
    n_nan, n_inf = count_nonfinite(M)
    if n_nan or n_inf:
        raise ValueError(nonfinite_message(what, n_nan, n_inf))


def linear_predict(X, coef_pq: np.ndarray, intercept):
    """``X @ coef_pq + intercept`` for dense, sparse or dask ``X`` (lazy for dask).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> linear_predict(sp.csr_matrix(np.eye(2)), np.array([[1.0], [2.0]]), 0.5).tolist()
    [[1.5], [2.5]]
    """
    if is_dask_array(X):
        return predict_blocks(X, coef_pq, intercept)
    return np.asarray(X @ coef_pq) + np.asarray(intercept)


def is_dask_array(x) -> bool:
    """Whether ``x`` is a dask array (without importing dask if nothing has).

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool
        True for a :class:`dask.array.Array`.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> is_dask_array(da.zeros((4, 2), chunks=2)), is_dask_array(np.zeros((4, 2)))
    (True, False)
    """
    # No dask array can exist before dask.array has been imported.
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(x, module.Array)


def as_row_chunked(x, rows=None):
    """``x`` as a 2-D dask array with one chunk across the columns.

    Parameters
    ----------
    x : dask.array.Array or array-like
        Cells x features (or responses); a 1-D array is one column. A numpy
        array or scipy sparse matrix is wrapped without a copy.
    rows : tuple of int or None
        Row chunks to give ``x`` (those of the design, so that the blocks of
        ``X`` and ``Y`` line up); ``None`` keeps ``x``'s own.

    Returns
    -------
    dask.array.Array
        The same values, chunked along rows only.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.ones((6, 4), chunks=(2, 2))
    >>> as_row_chunked(x).chunks
    ((2, 2, 2), (4,))
    >>> as_row_chunked(x[:, 0], rows=(3, 3)).chunks
    ((3, 3), (1,))
    """
    import dask.array as da

    if not is_dask_array(x):
        if sp.issparse(x):
            x = sp.csr_matrix(x)
        x = da.from_array(x, chunks=(rows if rows is not None else "auto", -1)
                          if x.ndim == 2 else (rows if rows is not None else "auto",))
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got {x.ndim}-D")
    if any(np.isnan(c) for c in x.chunks[0]):
        raise ValueError("the dask array's row chunk sizes are unknown; call "
                         "x.compute_chunk_sizes() first")
    if sp.issparse(x._meta) and x._meta.format not in ("csr", "csc"):
        # COO (or other) chunks can be neither sliced by rows nor joined: as CSR.
        x = x.map_blocks(sp.csr_matrix, dtype=x.dtype)
    return x.rechunk({0: rows if rows is not None else x.chunks[0], 1: -1})


def _predict_block(x, coef_pq: np.ndarray, intercept: np.ndarray, ravel: bool) -> np.ndarray:
    n_nan, n_inf = count_nonfinite(x)
    if n_nan or n_inf:
        raise ValueError(nonfinite_message("X", n_nan, n_inf, "in a block of the dask array"))
    x = x.astype(np.float64) if x.dtype != np.float64 else x
    out = np.asarray(x @ coef_pq) + intercept
    return out[:, 0] if ravel else out


def predict_blocks(X, coef_pq: np.ndarray, intercept, *, ravel: bool = False):
    """Lazy predictions ``X @ coef_pq + intercept`` of a dask ``X``, block by block.

    Parameters
    ----------
    X : dask.array.Array of shape (n_cells, n_features)
        Design (dense or scipy-sparse chunks).
    coef_pq : ndarray of shape (n_features, n_targets)
        Coefficients.
    intercept : ndarray of shape (n_targets,) or float
        Intercept.
    ravel : bool
        Return a 1-D array (one response).

    Returns
    -------
    dask.array.Array of shape (n_cells, n_targets) or (n_cells,)
        Predictions with ``X``'s row chunks; a block with NaN or infinite
        values raises ``ValueError`` when computed.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> pred = predict_blocks(da.ones((6, 2), chunks=(3, 2)), np.ones((2, 1)), np.zeros(1))
    >>> pred.chunks, float(pred.sum().compute())
    (((3, 3), (1,)), 12.0)
    """
    X = as_row_chunked(X)
    coef_pq = np.asarray(coef_pq, dtype=np.float64)
    intercept = np.broadcast_to(np.asarray(intercept, dtype=np.float64),
                                (coef_pq.shape[1],)).copy()
    q = coef_pq.shape[1]
    if ravel:
        return X.map_blocks(_predict_block, coef_pq, intercept, True, drop_axis=1,
                            chunks=(X.chunks[0],), dtype=np.float64,
                            meta=np.empty((0,)))
    return X.map_blocks(_predict_block, coef_pq, intercept, False, chunks=(X.chunks[0], (q,)),
                        dtype=np.float64, meta=np.empty((0, 0)))


def dense_copy(x) -> np.ndarray:
    """A new C-ordered float64 array of ``x`` (dense or scipy-sparse), to work on in place.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> dense_copy(sp.eye(2, format="csr")).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if sp.issparse(x):
        return np.asarray(x.toarray(order="C"), dtype=np.float64)
    return np.array(x, dtype=np.float64, order="C")


def _dense_block(block) -> np.ndarray:
    return block.toarray() if sp.issparse(block) else np.asarray(block)


def as_numpy(x) -> np.ndarray:
    """``x`` as a numpy array; a dask array is computed block by block into it.

    The blocks are written into one preallocated array as they are computed
    (:func:`dask.array.store`), so memory holds the result and a few blocks,
    never a second copy; scipy-sparse chunks are densified one at a time.

    Parameters
    ----------
    x : dask.array.Array or array-like
        Anything :func:`numpy.asarray` takes, or a dask array.

    Returns
    -------
    ndarray
        The values of ``x``.

    Examples
    --------
    >>> import dask.array as da
    >>> as_numpy(da.arange(6, chunks=2).reshape(3, 2)).tolist()
    [[0, 1], [2, 3], [4, 5]]
    """
    if not is_dask_array(x):
        return np.asarray(x)
    import dask.array as da

    if any(np.isnan(c) for chunks in x.chunks for c in chunks):
        raise ValueError("the dask array's chunk sizes are unknown; call "
                         "x.compute_chunk_sizes() first")
    x = x.map_blocks(_dense_block, dtype=x.dtype, meta=np.empty((0,) * x.ndim, x.dtype))
    out = np.empty(x.shape, dtype=x.dtype)
    da.store(x, out, lock=False)
    return out

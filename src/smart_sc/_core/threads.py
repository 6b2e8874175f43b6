"""BLAS threads for the solver: one for its many small products, the caller's for big work.

The ADMM multiplies small matrices thousands of times. Threaded BLAS spends
more on hand-offs than on such products (fits were seen to jump between two
speeds 100x apart), and threaded LAPACK is slower on mid-sized
factorisations (on 2 cores: the thin SVD of 400 x 2,000 cells 89 ms on one
thread, 196 ms on two; the QR and SVD of a 2,000 x 134 source 8 ms against
36 ms), so the solver runs on one thread. Work on a big matrix is another
matter: a product with the Gram matrix's rank-``n`` factor at 2,000 genes
streams 6 MB per call (1.14 ms on one thread, 0.68 ms on two) and the
eigendecomposition of a 2,000 x 2,000 Gram matrix takes 1.09 s on one, 0.62 s
on two. That work gets back the threads the caller had; inside a joblib
worker that is the worker's one thread, so nothing is oversubscribed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["THREADED_ABOVE_BYTES", "callers_threads", "single_threaded", "threaded_product"]

#: Work on a matrix of at least this many bytes runs on the caller's threads.
#: OpenBLAS itself starts to use a second thread for a skinny product at about
#: this size (measured: no gain at 1.6 MB, 1.8x at 2 MB and above).
THREADED_ABOVE_BYTES = 2_000_000

#: The BLAS libraries and the caller's thread count, inside :func:`single_threaded`.
_caller: ContextVar[tuple[ThreadpoolController, int] | None] = ContextVar(
    "smart_sc_caller_blas", default=None)


@contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS thread inside, remembering the caller's count for big work.

    The loaded BLAS libraries are looked up on entry (under 1 ms), so one
    loaded after import is limited too.
    """
    blas = ThreadpoolController().select(user_api="blas")
    threads = max((info["num_threads"] for info in blas.info()), default=1)
    token = _caller.set((blas, threads))
    try:
        with blas.limit(limits=1):
            yield
    finally:
        _caller.reset(token)


def _lifted(nbytes: int) -> tuple[ThreadpoolController, int] | None:
    """The caller's BLAS and thread count if work on ``nbytes`` should run on them."""
    caller = _caller.get()
    if caller is None or caller[1] <= 1 or nbytes < THREADED_ABOVE_BYTES:
        return None
    return caller


def callers_threads(nbytes: int):
    """A context in which work on a matrix of ``nbytes`` runs on the caller's BLAS threads.

    Inside :func:`single_threaded` and above :data:`THREADED_ABOVE_BYTES` it
    lifts the one-thread limit; otherwise it changes nothing.
    """
    lifted = _lifted(nbytes)
    if lifted is None:
        return nullcontext()
    blas, threads = lifted
    return blas.limit(limits=threads)


def threaded_product(matrix) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> matrix @ X``, on the caller's BLAS threads when ``matrix`` is big.

    ``matrix`` is an array or an operator with ``nbytes`` and ``@``; outside
    :func:`single_threaded` (or with one caller thread) this is plain ``@``.
    """
    lifted = _lifted(getattr(matrix, "nbytes", 0))
    if lifted is None:
        return matrix.__matmul__
    blas, threads = lifted

    def product(X: np.ndarray) -> np.ndarray:
        with blas.limit(limits=threads):
            return matrix @ X

    return product

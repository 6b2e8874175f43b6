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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

import numpy as np
from joblib import Parallel, effective_n_jobs
from threadpoolctl import ThreadpoolController

__all__ = ["THREADED_ABOVE_BYTES", "callers_thread_count", "callers_threads", "on_one_thread",
           "run_independent", "single_threaded", "threaded_product"]

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


def callers_thread_count() -> int:
    """BLAS threads the caller had before :func:`single_threaded` (1 outside it).

    The cores numpy would have used: the fit may spend them on independent
    small solves instead (one BLAS thread each), which gains more than
    threads inside a small product do.
    """
    caller = _caller.get()
    return 1 if caller is None else max(1, caller[1])


@contextmanager
def on_one_thread() -> Iterator[None]:
    """No work is lifted to the caller's threads inside (:func:`threaded_product`).

    For solves that run side by side on a thread pool: each keeps to its one
    BLAS thread, so none changes another's thread count (threadpoolctl's
    limits are process-wide) and every product's bits are the same whatever
    the pool's size.
    """
    token = _caller.set(None)
    try:
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


class _OnOneThread:
    """``func`` run inside :func:`on_one_thread` (a class: joblib's processes pickle it)."""

    def __init__(self, func: Callable):
        self.func = func

    def __call__(self, *args, **kwargs):
        with on_one_thread():
            return self.func(*args, **kwargs)


def run_independent(jobs, n_jobs: int | None):
    """Results of independent solves (joblib ``delayed`` calls), in order.

    ``n_jobs`` given (or set by a joblib ``parallel_config``): joblib's own
    semantics (processes), results as a generator. ``None``: a pool of as
    many threads as the caller had BLAS threads (:func:`callers_thread_count`),
    the cores numpy would have used anyway. Each solve keeps to one BLAS
    thread in every case, so the results do not depend on how many run side
    by side.
    """
    jobs = [(_OnOneThread(func), args, kwargs) for func, args, kwargs in jobs]
    if n_jobs is None and effective_n_jobs(None) == 1:
        workers = min(callers_thread_count(), len(jobs))
        if workers > 1:
            # Not joblib's threading backend: its result loop polls with sleeps
            # of 10 ms, longer than many of these solves.
            return _on_threads(jobs, workers)
    return Parallel(n_jobs=n_jobs, return_as="generator")(jobs)


def _on_threads(jobs, workers: int):
    # A generator, so that a progress bar over the results moves as they come.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(func, *args, **kwargs) for func, args, kwargs in jobs]
        for future in futures:
            yield future.result()

"""BLAS threads: one for the solver's small products, the caller's for its big ones."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from smart_sc._core.solver.admm import LowRankGram
from smart_sc._core.threads import THREADED_ABOVE_BYTES, single_threaded, threaded_product


def _blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info()
               if info["user_api"] == "blas")


class _Recording:
    """A matrix-like operator that records the BLAS threads each product ran on."""

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        self.seen: list[int] = []

    def __matmul__(self, X):
        self.seen.append(_blas_threads())
        return 2.0 * X


def test_big_products_get_the_callers_threads_back():
    with threadpool_limits(limits=2, user_api="blas"):
        caller = _blas_threads()
        with single_threaded():
            assert _blas_threads() == 1
            big, small = _Recording(THREADED_ABOVE_BYTES), _Recording(THREADED_ABOVE_BYTES - 1)
            X = np.ones((3, 2))
            np.testing.assert_array_equal(threaded_product(big)(X), 2.0 * X)
            threaded_product(small)(X)
            assert _blas_threads() == 1  # restored after the big product
        assert _blas_threads() == caller
    assert big.seen == [caller]
    assert small.seen == [1]


def test_outside_the_solver_a_product_is_plain():
    big = _Recording(10 * THREADED_ABOVE_BYTES)
    with threadpool_limits(limits=1, user_api="blas"):
        threaded_product(big)(np.ones((2, 2)))
    assert big.seen == [1]


def test_low_rank_gram_product_is_the_same_threaded_or_not():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(1200, 300))  # 2.9 MB: above the threshold
    gram = LowRankGram(G)
    assert gram.nbytes >= THREADED_ABOVE_BYTES
    X = rng.normal(size=(1200, 4))
    with threadpool_limits(limits=2, user_api="blas"), single_threaded():
        threaded = threaded_product(gram)(X)
    np.testing.assert_allclose(threaded, G @ (G.T @ X), rtol=1e-12, atol=1e-12)

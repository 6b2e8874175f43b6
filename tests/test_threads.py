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


def _thread_name(_):
    import threading

    return threading.current_thread().name


def test_independent_solves_share_the_callers_threads_in_order(monkeypatch):
    from joblib import delayed

    import smart_sc._core.threads as threads

    pools = []
    real_pool = threads.ThreadPoolExecutor

    def spy(max_workers):
        pools.append(max_workers)
        return real_pool(max_workers=max_workers)

    monkeypatch.setattr(threads, "ThreadPoolExecutor", spy)
    big = _Recording(10 * THREADED_ABOVE_BYTES)

    def job(i):
        threaded_product(big)(np.ones((2, 2)))  # never lifted inside the pool
        return i * i

    with threadpool_limits(limits=2, user_api="blas"), single_threaded():
        out = list(threads.run_independent([delayed(job)(i) for i in range(7)], None))
        assert list(threads.run_independent([delayed(job)(i) for i in range(3)], 1)) == [0, 1, 4]
    assert out == [i * i for i in range(7)]
    assert pools == [2]  # the pool only for n_jobs=None, sized by the caller's BLAS
    assert set(big.seen) == {1}


def test_one_blas_thread_means_no_pool():
    from joblib import delayed

    from smart_sc._core.threads import run_independent

    with threadpool_limits(limits=1, user_api="blas"), single_threaded():
        names = list(run_independent([delayed(_thread_name)(i) for i in range(3)], None))
    assert names == ["MainThread"] * 3


def _transfer_problem(seed, n, p, q, rank):
    """A rank-``rank`` source ``C0`` (p x q) and a target that departs from it."""
    rng = np.random.default_rng(seed)
    C0 = rng.normal(size=(p, rank)) @ rng.normal(size=(rank, q))
    X = rng.normal(size=(n, p))
    Y = X @ (C0 + 0.3 * rng.normal(size=(p, q))) + rng.normal(size=(n, q))
    return C0, X, Y


def test_a_fit_is_the_same_whatever_runs_side_by_side():
    from smart_sc import SMARTRegressor

    C0, X, Y = _transfer_problem(3, 60, 40, 6, 3)
    with threadpool_limits(limits=2, user_api="blas"):
        pooled = SMARTRegressor(C0.T, random_state=0).fit(X, Y)
        one = SMARTRegressor(C0.T, random_state=0, n_jobs=1).fit(X, Y)
    np.testing.assert_array_equal(pooled.coef_, one.coef_)
    assert pooled.structural_rank_ == one.structural_rank_


def test_a_fit_in_processes_with_memory_mapped_inputs_is_the_same():
    # joblib hands process workers arrays above max_nbytes (1 MB by default: a
    # source of 1,000 genes x 134 proteins) as read-only memory maps; LAPACK's
    # dormqr writes to the source's reflectors while it works, which crashed
    # the workers.
    from joblib import parallel_config

    from smart_sc import SMARTRegressor

    C0, X, Y = _transfer_problem(4, 50, 30, 5, 2)
    serial = SMARTRegressor(C0.T, random_state=0, n_jobs=1, blend=False).fit(X, Y)
    with parallel_config(max_nbytes=1):  # every array memory-mapped, as big ones are
        mapped = SMARTRegressor(C0.T, random_state=0, n_jobs=2, blend=False).fit(X, Y)
    np.testing.assert_array_equal(mapped.coef_, serial.coef_)

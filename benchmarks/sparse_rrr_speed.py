"""Speed of the sparse reduced-rank baselines (SRRR, RSSVD, SOFAR) at CITE-seq size, with accuracy.

Data (synthetic, seeded by ``--seed``): n = 2,000 cells, p = 300 genes, q = 134
proteins (the size of the shipped BMMC panel), genes AR(1)-correlated (rho 0.5),
``Y = X C* + E`` with unit noise and ``C* = sum_k d_k u_k v_k^T`` of rank 5,
``d = 8, ..., 3``: each ``u_k`` on 20 genes and each ``v_k`` on 25 proteins,
the supports disjoint, so ``C*`` is row-sparse (100 genes carry signal, SRRR's
model) and ``u_k d_k v_k^T`` is its SVD with sparse singular vectors (RSSVD's
and SOFAR's model).

Each estimator is fitted with its defaults (SRRR: rank and penalty by 5-fold
CV, ``random_state=0``; RSSVD and SOFAR: BIC). Every repeat first times a
baseline in the same process, right before the fit: scikit-learn's ``RidgeCV``
(the package's ridge grid, ``numpy.logspace(-3, 2, 10)``, efficient
leave-one-out) on the same data. The table reports the median fit time, the
median baseline time and the median of the per-repeat ratios, so a run on a
loaded machine can still be compared; the 1-minute load average is logged
before and after. Target: each fit < 30 s on 2 cores.

Accuracy is reported beside the time: ``||C_hat - C*||_F`` (and the same for
reduced-rank regression with the RSC rank), and the F1 score of the estimated
support, by gene (rows of ``C``) and by entry.

Example::

    python benchmarks/sparse_rrr_speed.py --out benchmarks/results/sparse_rrr_speed.md
    python benchmarks/sparse_rrr_speed.py --repeats 1 --methods sofar
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from _output import write_atomic
from _provenance import code_version, describe
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_info, threadpool_limits

from smart_sc.baselines import RSSVD, SOFAR, SRRR, ReducedRankRegression

N, P, Q, RANK = 2000, 300, 134, 5
TARGET_S = 30.0
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 2, 10))
METHODS = {
    "srrr": lambda: SRRR(random_state=0),
    "rssvd": lambda: RSSVD(),
    "sofar": lambda: SOFAR(),
}


def simulate(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated genes, a sparse rank-5 ``C*`` (20 genes, 25 proteins per layer), unit noise."""
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(P), np.arange(P)))
    X = rng.normal(size=(N, P)) @ np.linalg.cholesky(cov).T
    genes = rng.permutation(P)[: 20 * RANK].reshape(RANK, 20)
    proteins = rng.permutation(Q)[: 25 * RANK].reshape(RANK, 25)
    U, V = np.zeros((P, RANK)), np.zeros((Q, RANK))
    for k in range(RANK):
        U[genes[k], k] = rng.normal(size=20)
        V[proteins[k], k] = rng.normal(size=25)
    U /= np.linalg.norm(U, axis=0)
    V /= np.linalg.norm(V, axis=0)
    C = U @ np.diag(np.linspace(8.0, 3.0, RANK)) @ V.T
    Y = X @ C + rng.normal(size=(N, Q))
    return X, Y, C


def f1(estimated: np.ndarray, true: np.ndarray) -> float:
    tp = int(np.sum(estimated & true))
    if tp == 0:
        return 0.0
    precision, recall = tp / int(estimated.sum()), tp / int(true.sum())
    return 2 * precision * recall / (precision + recall)


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def time_method(name: str, X, Y, C, repeats: int) -> dict:
    fits, ridges, ratios, caught = [], [], [], set()
    load_before = load()
    for _ in range(repeats):
        t0 = time.perf_counter()
        RidgeCV(alphas=RIDGE_ALPHAS).fit(X, Y)
        ridge_s = time.perf_counter() - t0
        est = METHODS[name]()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X, Y)
            fit_s = time.perf_counter() - t0
        caught |= {str(x.message)[:80] for x in w}
        fits.append(fit_s)
        ridges.append(ridge_s)
        ratios.append(fit_s / ridge_s)
    coef = est.coef_.T
    rows_true = np.abs(C).sum(axis=1) > 0
    return {
        "method": name,
        "repeats": repeats,
        "median_s": statistics.median(fits),
        "min_s": min(fits),
        "max_s": max(fits),
        "ridge_s": statistics.median(ridges),
        "ratio": statistics.median(ratios),
        "met": max(fits) < TARGET_S,
        "error": float(np.linalg.norm(coef - C)),
        "f1_genes": f1(np.abs(coef).sum(axis=1) > 0, rows_true),
        "f1_entries": f1(coef != 0, C != 0),
        "rank": int(est.rank_),
        "tuning": tuning(est),
        "warnings": "; ".join(sorted(caught)) or "none",
        "load": f"{load_before}->{load()}",
    }


def tuning(est) -> str:
    if isinstance(est, SRRR):
        ranks = [int(r) for r in est.cv_results_["ranks"]]
        return f"rank {est.rank_} of {ranks}, lambda {est.lam_:.3g}"
    if isinstance(est, RSSVD):
        return "lambdas " + ", ".join(f"{r['lambda']:.2g}" for r in est.unit_tuning_)
    return f"lambda {est.lam_:.3g}"


def markdown(rows: list[dict], rrr_error: float, rrr_rank: int, args) -> str:
    head = ("| method | repeats | median s | min-max s | RidgeCV s | ratio to RidgeCV | target s "
            "| met | error | RRR error | F1 genes | F1 entries | rank | tuning | warnings "
            "| load 1m |\n" + "|---" * 16 + "|\n")
    body = "".join(
        f"| {r['method']} | {r['repeats']} | {r['median_s']:.2f} | {r['min_s']:.2f}-"
        f"{r['max_s']:.2f} | {r['ridge_s']:.3f} | {r['ratio']:.0f} | {TARGET_S:.0f} | "
        f"{'yes' if r['met'] else 'no'} | {r['error']:.3f} | {rrr_error:.3f} | "
        f"{r['f1_genes']:.2f} | {r['f1_entries']:.2f} | {r['rank']} | {r['tuning']} | "
        f"{r['warnings']} | {r['load']} |\n"
        for r in rows
    )
    blas = ", ".join(f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info())
    foot = (
        f"\n{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}; code "
        f"{describe(code_version())}; python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}; "
        f"{os.cpu_count()} CPUs; BLAS threads {blas}; --blas-threads {args.blas_threads}; "
        f"data n={N}, p={P}, q={Q}, rank {RANK}, seed {args.seed}. RRR: "
        f"ReducedRankRegression() (RSC rank {rrr_rank}; F1 of its support is that of the "
        "full matrix). RidgeCV timed right before each fit; ratios are medians of the "
        "per-repeat ratios. Load: 1-minute load average before and after the method's "
        "repeats (the machine is shared).\n"
    )
    return head + body + foot


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS threads (default: the library's own setting)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    args = parser.parse_args(argv)
    X, Y, C = simulate(args.seed)
    with threadpool_limits(args.blas_threads):
        RidgeCV(alphas=RIDGE_ALPHAS).fit(X, Y)  # warm-up: first-call costs are not timed
        rrr = ReducedRankRegression().fit(X, Y)
        rows = [time_method(name, X, Y, C, args.repeats) for name in args.methods]
    text = markdown(rows, float(np.linalg.norm(rrr.coef_.T - C)), int(rrr.rank_), args)
    sys.stdout.write(text)
    if args.out is not None:
        write_atomic(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

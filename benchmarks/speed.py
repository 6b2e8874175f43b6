"""Speed targets of SMARTRegressor on the paper's simulation design, with accuracy.

Targets (all ``fit_intercept=False``, data from ``simulate_transfer`` with
``sigma0=0.01``, true rank 5, 10 source directions, data seed ``--seed``):

a. known-rank fit on Model I (n=200, p=100, q=50): ``rank=5``,
   ``structural_rank=10``, ``lam`` by BIC, ``alpha=0``; target <= 0.5 s;
b. full data-driven fit on Model I (RSC rank, CV structural rank and alpha, BIC
   lam), ``n_jobs=1`` and ``n_jobs=2``; target <= 10 s;
c. full data-driven fit on Model III (n=500, p=300, q=200), ``n_jobs=2`` (and
   ``n_jobs=1`` unless ``--quick``); target <= 60 s.

Every repeat times a baseline first, in the same process, right before the fit:
the median of ``--baseline-reps`` fits of ``TargetRidge(fit_intercept=False)`` on
the same data. The table reports the median fit time, the median baseline time
and the median of the per-repeat ratios fit / baseline, so results taken on a
loaded machine can still be compared. Each fit's estimation error
``||C_hat - C*||_F / sqrt(p q)`` is reported next to its time.

Example::

    python benchmarks/speed.py --out benchmarks/results/speed.json
    python benchmarks/speed.py --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy
import sklearn
from _provenance import code_version, describe
from threadpoolctl import threadpool_info, threadpool_limits

from smart_sc import SMARTRegressor
from smart_sc.baselines import TargetRidge
from smart_sc.datasets import PAPER_MODELS, estimation_error, simulate_transfer


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_case(
    name: str,
    model: str,
    make_estimator,
    *,
    repeats: int,
    baseline_reps: int,
    target: float,
    seed: int,
    warmup: bool,
) -> dict:
    p, q, n_grid = PAPER_MODELS[model]
    n = n_grid[0]
    sim = simulate_transfer(n, p, q, rank=5, structural_rank=10, sigma0=0.01, random_state=seed)

    def baseline():
        return TargetRidge(fit_intercept=False).fit(sim.X, sim.Y)

    if warmup:  # first-call costs (imports, LAPACK workspace queries) are not timed
        baseline()
        make_estimator(sim).fit(sim.X, sim.Y)
    fits = []
    load_before = os.getloadavg()[0]
    for _ in range(repeats):
        base = _median_time(baseline, baseline_reps)
        with threadpool_limits(1):
            base1 = _median_time(baseline, baseline_reps)
        est = make_estimator(sim)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est.fit(sim.X, sim.Y)
            secs = time.perf_counter() - t0
        r_u, r_v = est.structural_rank_
        fits.append(
            {
                "seconds": secs,
                "baseline_seconds": base,
                "ratio": secs / base,
                "baseline1_seconds": base1,
                "ratio1": secs / base1,
                "error": estimation_error(est.coef_, sim.true_coef),
                "rank_": int(est.rank_),
                "structural_rank_": [int(r_u), int(r_v)],
                "lam_": float(est.lam_),
                "alpha_": float(est.alpha_),
                "converged_": bool(est.converged_),
                "n_iter_": int(est.n_iter_),
                "warnings": sorted(
                    {f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught}
                ),
            }
        )
    secs = [f["seconds"] for f in fits]
    errors = [f["error"] for f in fits]
    med = statistics.median(secs)
    return {
        "case": name,
        "model": model,
        "n": n,
        "p": p,
        "q": q,
        "repeats": repeats,
        "median_seconds": med,
        "min_seconds": min(secs),
        "max_seconds": max(secs),
        "median_baseline_seconds": statistics.median(f["baseline_seconds"] for f in fits),
        "median_ratio": statistics.median(f["ratio"] for f in fits),
        "median_baseline1_seconds": statistics.median(f["baseline1_seconds"] for f in fits),
        "median_ratio1": statistics.median(f["ratio1"] for f in fits),
        "target_seconds": target,
        "meets_target": med <= target,
        "error_median": statistics.median(errors),
        "error_min": min(errors),
        "error_max": max(errors),
        "ridge_error": estimation_error(baseline().coef_, sim.true_coef),
        "source_only_error": estimation_error(sim.source_coef, sim.true_coef),
        "loadavg_1min_before": load_before,
        "loadavg_1min_after": os.getloadavg()[0],
        "fits": fits,
    }


def known_rank(sim):
    return SMARTRegressor(
        sim.source_coef, rank=5, structural_rank=10, lam=None, alpha=0.0, blend=False,
        fit_intercept=False,
    )


def data_driven(n_jobs: int, seed: int):
    def make(sim):
        return SMARTRegressor(
            sim.source_coef, fit_intercept=False, n_jobs=n_jobs, random_state=seed
        )

    return make


def environment() -> dict:
    blas = [
        {k: d.get(k) for k in ("user_api", "internal_api", "version", "num_threads")}
        for d in threadpool_info()
    ]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "threadpools": blas,
        "code": code_version(),
    }


def to_markdown(results: list[dict]) -> str:
    head = [
        "case",
        "repeats",
        "median s",
        "min-max s",
        "ridge s",
        "ratio to ridge",
        "1-thread ridge s",
        "ratio to 1-thread ridge",
        "target s",
        "met",
        "error",
        "ridge error",
        "C0 error",
        "chosen r / (r_u,r_v) / lam / alpha",
        "converged",
        "load 1m",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        last = r["fits"][-1]
        chosen = (
            f"{last['rank_']} / ({last['structural_rank_'][0]},{last['structural_rank_'][1]})"
            f" / {last['lam_']:.3g} / {last['alpha_']:.3g}"
        )
        err = f"{r['error_median']:.4f}"
        if r["error_max"] - r["error_min"] > 1e-9:
            err += f" ({r['error_min']:.4f}-{r['error_max']:.4f})"
        conv = all(f["converged_"] for f in r["fits"])
        n_warn = sum(bool(f["warnings"]) for f in r["fits"])
        cells = [
            r["case"],
            str(r["repeats"]),
            f"{r['median_seconds']:.3f}",
            f"{r['min_seconds']:.3f}-{r['max_seconds']:.3f}",
            f"{r['median_baseline_seconds']:.4f}",
            f"{r['median_ratio']:.1f}",
            f"{r['median_baseline1_seconds']:.4f}",
            f"{r['median_ratio1']:.1f}",
            f"{r['target_seconds']:g}",
            "yes" if r["meets_target"] else "NO",
            err,
            f"{r['ridge_error']:.4f}",
            f"{r['source_only_error']:.4f}",
            chosen,
            ("yes" if conv else "NO") + (f", {n_warn} warned" if n_warn else ""),
            f"{r['loadavg_1min_before']:.1f}->{r['loadavg_1min_after']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json_atomic(obj, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        # mkstemp creates the file 0600; give the result the usual umask permissions.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--repeats",
        type=int,
        nargs=3,
        default=None,
        metavar=("A", "B", "C"),
        help="repeats of cases a, b (each n_jobs), c (each n_jobs); default 7 3 1, quick 3 1 1",
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats; Model III n_jobs=2 only")
    ap.add_argument("--baseline-reps", type=int, default=5, help="ridge fits per baseline (median)")
    ap.add_argument("--cases", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP threads (threadpoolctl) for fits and the default baseline",
    )
    ap.add_argument("--seed", type=int, default=0, help="data seed (and CV seed)")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (written atomically)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reps_a, reps_b, reps_c = args.repeats or ((3, 1, 1) if args.quick else (7, 3, 1))
    common = {"baseline_reps": args.baseline_reps, "seed": args.seed}
    results = []
    code_at_start = code_version()

    def report(r):
        results.append(r)
        print(
            f"[{r['case']}] median {r['median_seconds']:.3f} s, ratio to ridge "
            f"{r['median_ratio']:.1f}, error {r['error_median']:.4f}",
            file=sys.stderr,
            flush=True,
        )

    limiter = threadpool_limits(args.blas_threads)
    if "a" in args.cases:
        report(
            run_case(
                "a: Model I known rank (r=5, r_s=10, BIC lam, alpha=0)",
                "I",
                known_rank,
                repeats=reps_a,
                target=0.5,
                warmup=True,
                **common,
            )
        )
    if "b" in args.cases:
        for n_jobs in (1, 2):
            report(
                run_case(
                    f"b: Model I data-driven, n_jobs={n_jobs}",
                    "I",
                    data_driven(n_jobs, args.seed),
                    repeats=reps_b,
                    target=10.0,
                    warmup=False,
                    **common,
                )
            )
    if "c" in args.cases:
        for n_jobs in (2,) if args.quick else (2, 1):
            report(
                run_case(
                    f"c: Model III data-driven, n_jobs={n_jobs}",
                    "III",
                    data_driven(n_jobs, args.seed),
                    repeats=reps_c,
                    target=60.0,
                    warmup=False,
                    **common,
                )
            )
    env = environment()
    same = ("src_tree", "src_diff_sha256")
    if any(env["code"][k] != code_at_start[k] for k in same):
        print("warning: src/ changed while the benchmark ran", file=sys.stderr)
    if env["code"] != code_at_start:
        env["code_at_start"] = code_at_start
    limiter.restore_original_limits()
    print(to_markdown(results))
    print(
        f"\n{env['date']}; code {describe(env['code'])}; python {env['python']}, "
        f"numpy {env['numpy']}, scipy {env['scipy']}; "
        f"{env['cpu_count']} CPUs; BLAS threads "
        + ", ".join(f"{t['internal_api']}={t['num_threads']}" for t in env["threadpools"])
        + f"; --blas-threads {args.blas_threads}; baselines = median of {args.baseline_reps} "
        "TargetRidge(fit_intercept=False) fits timed right before each repeat, with the "
        "fit's BLAS threads and with BLAS limited to 1 thread; ratios are medians of the "
        "per-repeat ratios."
    )
    if args.out is not None:
        write_json_atomic(
            {"environment": env, "args": vars(args) | {"out": str(args.out)}, "results": results},
            args.out,
        )
        print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

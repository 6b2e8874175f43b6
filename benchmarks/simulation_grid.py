"""Run the SMART paper's Section 5 simulation grid (Zhao, Kolar, Lv 2026).

For every chosen model, experiment, value of the varied parameter and seed id
``k = 0 .. seeds-1``, one data set is drawn with
:func:`smart_sc.datasets.simulate_transfer` and every chosen method is fitted
on it. One CSV row per fit records the paper's estimation error
``||C_hat - C*||_F / sqrt(p q)``, the wall time and, because the machine may be
shared, the wall time of a ``TargetRidge(fit_intercept=False)`` fit on the same
data measured right before it (``baseline_seconds``) and the ratio of the two
(``seconds_ratio``).

Example (Model I, experiment 1, five seeds, all methods)::

    python benchmarks/simulation_grid.py --models I --experiments exp1 --seeds 5 \
        --methods smart_known smart_dd ridge rrr offset source_only --n-jobs 2 \
        --out benchmarks/results/grid_I_exp1.csv

Data seeds. With ``--seed-scheme paired`` (default) the data seed depends on
``(model, k)`` only, so within a model every setting of seed id ``k`` shares the
same source ``C0``, truth ``C*`` and sample stream (the generator's common
random numbers: experiment 1 gets nested samples, experiments 2 and 3 refit the
very same data with other tuning ranks, experiment 4 rescales the same source
noise). With ``--seed-scheme independent`` it depends on
``(model, experiment, value, k)``. Either way it is a deterministic function of
those keys and ``--base-seed`` (a CRC32 hash, independent of Python's string
hash randomisation).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from _provenance import code_version, describe
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from smart_sc import SMARTRegressor
from smart_sc.baselines import OffsetTransfer, ReducedRankRegression, TargetRidge
from smart_sc.datasets import (
    PAPER_EXPERIMENTS,
    PAPER_MODELS,
    estimation_error,
    paper_settings,
    simulate_transfer,
)

logger = logging.getLogger("benchmarks.simulation_grid")

METHODS = ("smart_known", "smart_dd", "ridge", "rrr", "offset", "source_only")

COLUMNS = [
    "model",
    "experiment",
    "value",
    "seed",
    "data_seed",
    "n",
    "p",
    "q",
    "rank",
    "structural_rank",
    "sigma0",
    "fit_rank",
    "fit_structural_rank",
    "method",
    "error",
    "seconds",
    "baseline_seconds",
    "seconds_ratio",
    "baseline1_seconds",
    "seconds_ratio1",
    "rank_",
    "structural_rank_",
    "lam_",
    "alpha_",
    "converged_",
    "n_iter_",
    "n_warnings",
    "warnings",
    "failure",
    "code",
]


def data_seed(model: str, experiment: str, value, k: int, scheme: str, base_seed: int) -> int:
    """Deterministic 32-bit data seed of one (setting, seed id)."""
    if scheme == "paired":
        key = f"{base_seed}|{model}|{k}"
    elif scheme == "independent":
        key = f"{base_seed}|{model}|{experiment}|{value!r}|{k}"
    else:
        raise ValueError(f"unknown seed scheme {scheme!r}")
    return zlib.crc32(key.encode("utf-8"))


def _make_estimator(method: str, sim, setting: dict, seed: int, n_jobs):
    if method == "smart_known":
        return SMARTRegressor(
            sim.source_coef,
            rank=setting["fit_rank"],
            structural_rank=setting["fit_structural_rank"],
            lam=None,
            alpha=0.0,
            blend=False,  # the paper's known-rank estimator
            fit_intercept=False,
        )
    if method == "smart_dd":
        return SMARTRegressor(
            sim.source_coef, fit_intercept=False, random_state=seed, n_jobs=n_jobs
        )
    if method == "ridge":
        return TargetRidge(fit_intercept=False)
    if method == "rrr":
        return ReducedRankRegression(rank=setting["fit_rank"], fit_intercept=False)
    if method == "offset":
        return OffsetTransfer(sim.source_coef, fit_intercept=False)
    raise ValueError(f"unknown method {method!r}")


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def fit_one(method: str, sim, setting: dict, seed: int, n_jobs) -> dict:
    """Fit one method on one data set; never raises (a failure is recorded)."""
    row: dict = {"method": method}

    # Baseline timings right before the method, in the same process: one
    # TargetRidge fit with the BLAS defaults (the ratio's denominator) and the
    # median of three with BLAS limited to one thread (a steadier ruler: on a
    # shared machine multi-threaded BLAS on small matrices is erratic).
    def ridge():
        return TargetRidge(fit_intercept=False).fit(sim.X, sim.Y)

    _, base = _timed(ridge)
    with threadpool_limits(1):
        base1 = statistics.median(_timed(ridge)[1] for _ in range(3))
    row["baseline_seconds"] = base
    row["baseline1_seconds"] = base1
    if method == "source_only":
        row["error"] = estimation_error(sim.source_coef, sim.true_coef)
        row["seconds"] = 0.0
        row["seconds_ratio"] = 0.0
        row["seconds_ratio1"] = 0.0
        row["n_warnings"] = 0
        return row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est = _make_estimator(method, sim, setting, seed, n_jobs)
            est, secs = _timed(lambda: est.fit(sim.X, sim.Y))
        except Exception as exc:  # keep the grid running, record the failure
            logger.exception("%s failed on %s seed %s", method, setting, seed)
            row.update(error=math.nan, seconds=math.nan, failure=f"{type(exc).__name__}: {exc}")
            est = None
    row["n_warnings"] = len(caught)
    if caught:
        kinds = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
        row["warnings"] = " | ".join(kinds)
    if est is None:
        return row
    row["seconds"] = secs
    row["seconds_ratio"] = secs / base if base > 0 else math.nan
    row["seconds_ratio1"] = secs / base1 if base1 > 0 else math.nan
    row["error"] = estimation_error(est.coef_, sim.true_coef)
    if method.startswith("smart"):
        r_u, r_v = est.structural_rank_
        row["rank_"] = est.rank_
        row["structural_rank_"] = f"{r_u}/{r_v}"
        row["lam_"] = est.lam_
        row["alpha_"] = est.alpha_
        row["converged_"] = bool(est.converged_)
        row["n_iter_"] = est.n_iter_
    elif method == "rrr":
        row["rank_"] = est.rank_
    return row


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("rank_", "n_iter_", "n_warnings"):
        df[col] = df[col].astype("Int64")
    return df


def write_csv_atomic(df: pd.DataFrame, out: Path) -> None:
    """Write ``df`` to a temporary file in the target folder, then rename it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        # mkstemp creates the file 0600; give the result the usual umask permissions.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        with os.fdopen(fd, "w", newline="") as fh:
            df.to_csv(fh, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of error, mean seconds and time ratio per setting and method."""
    keys = ["model", "experiment", "value", "method"]
    order = {m: i for i, m in enumerate(METHODS)}
    g = df.groupby(keys, sort=False)
    out = g.agg(
        fits=("error", "size"),
        error_mean=("error", "mean"),
        error_sd=("error", "std"),
        seconds_mean=("seconds", "mean"),
        ratio_median=("seconds_ratio", "median"),
        ratio1_median=("seconds_ratio1", "median"),
        failures=("failure", lambda s: int(s.notna().sum())),
        warned=("n_warnings", lambda s: int((s > 0).sum())),
    ).reset_index()
    out["_m"] = out["method"].map(order)
    out = out.sort_values(["model", "experiment", "_m"], kind="stable").drop(columns="_m")
    return out


def to_markdown(summary: pd.DataFrame) -> str:
    """Render the summary as a GitHub markdown table (no tabulate dependency)."""
    head = [
        "model",
        "exp",
        "value",
        "method",
        "fits",
        "error mean",
        "error sd",
        "seconds mean",
        "time / ridge (median)",
        "time / 1-thread ridge (median)",
        "failures",
        "fits with warnings",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(x, fmt):
        return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)

    for r in summary.itertuples(index=False):
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.model),
                    str(r.experiment),
                    str(r.value),
                    str(r.method),
                    str(r.fits),
                    f(r.error_mean, ".4f"),
                    f(r.error_sd, ".4f"),
                    f(r.seconds_mean, ".3f"),
                    f(r.ratio_median, ".1f"),
                    f(r.ratio1_median, ".1f"),
                    str(r.failures),
                    str(r.warned),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["I"], choices=list(PAPER_MODELS))
    ap.add_argument("--experiments", nargs="+", default=["exp1"], choices=list(PAPER_EXPERIMENTS))
    ap.add_argument(
        "--values",
        nargs="+",
        type=float,
        default=None,
        help="keep only settings whose varied value is one of these (e.g. --values 200)",
    )
    ap.add_argument("--seeds", type=int, default=5, help="seed ids 0..N-1")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--n-jobs", type=int, default=None, help="n_jobs of data-driven SMART")
    ap.add_argument("--seed-scheme", choices=("paired", "independent"), default="paired")
    ap.add_argument("--base-seed", type=int, default=0)
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP threads of the fits (threadpoolctl); default: library default",
    )
    ap.add_argument("--out", type=Path, default=None, help="CSV path (written atomically)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    settings = [
        s
        for m in args.models
        for e in args.experiments
        for s in paper_settings(m, e)
        if args.values is None or any(np.isclose(float(s["value"]), v) for v in args.values)
    ]
    if not settings:
        print("no setting matches the selection", file=sys.stderr)
        return 2
    code = describe(code_version())
    rows: list[dict] = []
    total = len(settings) * args.seeds * len(args.methods)
    t_start = time.perf_counter()
    with tqdm(total=total, desc="fits", unit="fit", dynamic_ncols=True) as bar:
        for s in settings:
            for k in range(args.seeds):
                ds = data_seed(
                    s["model"], s["experiment"], s["value"], k, args.seed_scheme, args.base_seed
                )
                sim = simulate_transfer(
                    s["n"],
                    s["p"],
                    s["q"],
                    rank=s["rank"],
                    structural_rank=s["structural_rank"],
                    sigma0=s["sigma0"],
                    random_state=ds,
                )
                for method in args.methods:
                    bar.set_postfix_str(
                        f"{s['model']}/{s['experiment']}={s['value']} seed={k} {method}"
                    )
                    with threadpool_limits(args.blas_threads):
                        row = fit_one(method, sim, s, ds, args.n_jobs)
                    row.update(
                        {
                            key: s[key]
                            for key in (
                                "model",
                                "experiment",
                                "value",
                                "n",
                                "p",
                                "q",
                                "rank",
                                "structural_rank",
                                "sigma0",
                                "fit_rank",
                                "fit_structural_rank",
                            )
                        },
                        seed=k,
                        data_seed=ds,
                        code=code,
                    )
                    rows.append(row)
                    bar.update()
            if args.out is not None:  # checkpoint after each setting
                write_csv_atomic(_frame(rows), args.out)
    df = _frame(rows)
    if args.out is not None:
        write_csv_atomic(df, args.out)
    elapsed = time.perf_counter() - t_start
    print(to_markdown(summarise(df)))
    print(
        f"\n{len(df)} fits in {elapsed:.1f} s wall; code {code}; seed scheme {args.seed_scheme}; "
        f"n_jobs={args.n_jobs}; blas_threads={args.blas_threads}; "
        "time / ridge = method seconds over a TargetRidge fit "
        "timed right before it on the same data (BLAS defaults: one fit; 1 thread: "
        "median of three)."
    )
    if args.out is not None:
        print(f"CSV: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SMART against its comparators on real CITE-seq data (the paper's Section 7 protocol).

For each ``source:target`` pair of cell types of :func:`smart_sc.datasets.bmmc_cite`
(5,000 bone-marrow cells, raw counts), :func:`smart_sc.tl.benchmark` runs
``--n-splits`` splits: random splits of the target cells (the paper's protocol)
or, with ``--split donor``, one held-out donor per split whose cells are kept
out of the source too. Preprocessing (HVGs, scaling, CLR, screening) is fitted
on each split's training cells. Writes ``<out>.csv`` (one row per split,
method and source method, plus the pair) and ``<out>.md``: per pair the median
and IQR of the held-out error per method, and whether SMART's median beats
target-only ridge and the source used as is, with the machine and the code
version.

Example (the four default pairs, 20 random splits, 2 workers)::

    python benchmarks/real_data.py --split random --n-splits 20 --n-jobs 2 \
        --out benchmarks/results/real_data_random

Smoke run (2 splits, SMART's ranks fixed)::

    python benchmarks/real_data.py --n-splits 2 --smart-rank 3 --smart-structural-rank 6 \
        --out benchmarks/results/real_smoke

``--data toy`` runs on :func:`smart_sc.datasets.toy_citeseq` (pair ``NK:ILC1``)
instead, for testing the script without the real data.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from _output import write_atomic
from _provenance import code_version, describe

import smart_sc
from smart_sc.pl import benchmark_summary
from smart_sc.tl import BENCHMARK_METHODS

logger = logging.getLogger("benchmarks.real_data")

DEFAULT_PAIRS = ("CD14+ Mono:CD16+ Mono", "NK:NK CD158e1+", "CD4+ T naive:CD8+ T naive",
                 "Naive CD20+ B IGKC+:Naive CD20+ B IGKC-", "NK:ILC1")
PACKAGES = ("smart-sc", "numpy", "scipy", "scikit-learn", "pandas", "scanpy", "anndata",
            "mudata", "muon", "joblib", "threadpoolctl")


def _pull(value: str):
    """``--smart-source-pull``: a float, or ``cv`` (the estimator's ``None``)."""
    return "cv" if value == "cv" else float(value)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS),
                   help="source:target cell types (obs 'cell_type')")
    p.add_argument("--split", choices=("random", "donor"), default="random")
    p.add_argument("--n-splits", type=int, default=20)
    p.add_argument("--test-size", type=float, default=0.3)
    p.add_argument("--min-test-cells", type=int, default=15)
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--source-methods", nargs="+", default=["ols", "ridge", "lasso", "rrr"])
    p.add_argument("--methods", nargs="+", default=list(BENCHMARK_METHODS))
    p.add_argument("--n-top-genes", type=int, default=3000)
    p.add_argument("--top-k", type=int, default=150,
                   help="genes screened per population; 0 skips screening")
    p.add_argument("--clr", choices=("per_protein", "per_cell"), default="per_protein")
    p.add_argument("--smart-rank", type=int, default=None,
                   help="fix SMART's rank (default: chosen by RSC)")
    p.add_argument("--smart-structural-rank", type=int, default=None,
                   help="fix SMART's structural ranks (default: cross-validated)")
    p.add_argument("--smart-structural-rank-pair", type=int, nargs=2, default=None,
                   metavar=("R_U", "R_V"),
                   help="fix SMART's gene-side and protein-side structural ranks separately "
                        "(a rank above its side's dimension is clipped to it: a large R_U "
                        "leaves the gene side free)")
    p.add_argument("--smart-tuning", choices=("fast", "paper"), default=None,
                   help="SMARTRegressor(tuning=...); default: the estimator's default")
    p.add_argument("--smart-lam", type=float, default=None,
                   help="fix SMART's penalty weight (default: BIC)")
    p.add_argument("--smart-alpha", type=float, default=None,
                   help="fix SMART's shrinkage (0: the paper's estimator)")
    p.add_argument("--smart-source-pull", type=_pull, default=None,
                   help="SMARTRegressor(source_pull=...): a number, or 'cv' to cross-validate "
                        "it; default: the estimator's default")
    p.add_argument("--no-blend", action="store_true",
                   help="SMART alone, without the cross-validated blend")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--data", choices=("bmmc", "toy"), default="bmmc")
    p.add_argument("--out", type=Path, required=True,
                   help="output stem: writes <out>.csv and <out>.md")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def machine() -> dict:
    """Cores, Python and the versions of the packages that do the work."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"nproc": os.cpu_count(), "usable_cores": affinity,
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": versions}


def load(data: str):
    if data == "toy":
        return smart_sc.datasets.toy_citeseq(random_state=0)
    return smart_sc.datasets.bmmc_cite()


def run_pair(mdata, pair: str, args: argparse.Namespace) -> tuple[pd.DataFrame | None, str]:
    """Benchmark one ``source:target`` pair; ``(None, reason)`` when it cannot run."""
    source_type, sep, target_type = pair.partition(":")
    types = mdata.obs["cell_type"].astype(str).to_numpy()
    missing = [t for t in (source_type, target_type) if t not in set(types)]
    if not sep or missing:
        return None, (f"pair {pair!r} is not 'source:target' of known cell types"
                      f"{f' (unknown: {missing})' if missing else ''}")
    smart_params = {k: v for k, v in (("rank", args.smart_rank),
                                      ("structural_rank", args.smart_structural_rank
                                       or (tuple(args.smart_structural_rank_pair)
                                           if args.smart_structural_rank_pair else None)),
                                      ("tuning", args.smart_tuning),
                                      ("alpha", args.smart_alpha),
                                      ("lam", args.smart_lam))
                    if v is not None}
    if args.smart_source_pull is not None:
        smart_params["source_pull"] = (None if args.smart_source_pull == "cv"
                                       else args.smart_source_pull)
    if args.no_blend:
        smart_params["blend"] = False
    try:
        df = smart_sc.tl.benchmark(
            mdata, source_mask=types == source_type, target_mask=types == target_type,
            source_methods=args.source_methods, methods=args.methods, split=args.split,
            n_splits=args.n_splits, test_size=args.test_size,
            min_test_cells=args.min_test_cells, n_top_genes=args.n_top_genes,
            top_k=args.top_k or None, clr=args.clr, smart_params=smart_params,
            random_state=args.random_state, n_jobs=args.n_jobs, verbose=True)
    except ValueError as err:  # e.g. no donor with enough target cells
        return None, str(err)
    df.insert(0, "pair", pair)
    df.insert(1, "source_type", source_type)
    df.insert(2, "target_type", target_type)
    df.insert(3, "n_source_cells", int((types == source_type).sum()))
    df.insert(4, "n_target_cells", int((types == target_type).sum()))
    return df, ""


def _fmt(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.3f}"


def pair_markdown(df: pd.DataFrame) -> list[str]:
    """Median and IQR of the error per method and source method of one pair."""
    summary = benchmark_summary(df, metric="error")
    lines = ["| method | source | median error | IQR | splits | SMART better than target ridge "
             "(share of splits) | SMART better than source-only (share of splits) | gain over "
             "placebo (median) | SMART better than placebo (share of splits) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.method} | {r.source} | {_fmt(r.median)} | {_fmt(r.q25)} to "
                     f"{_fmt(r.q75)} | {r.n_splits} | {_fmt(r.beats_target_ridge)} | "
                     f"{_fmt(r.beats_source_only)} | {_pct(r.gain_over_placebo)} | "
                     f"{_fmt(r.beats_placebo)} |")
    return lines


def _pct(x: float) -> str:
    return "" if not np.isfinite(x) else f"{100 * x:+.1f}%"


#: Comparators of the verdict table: (column, method, source or None for SMART's source).
VERDICT_COMPARATORS = (
    ("placebo", "smart_placebo", None), ("reduced_rank_ridge", "reduced_rank_ridge", "none"),
    ("ridge_to_source", "ridge_to_source", None), ("mixture", "mixture", None),
    ("target_ridge", "target_ridge", "none"), ("target_rrr", "target_rrr", "none"),
    ("source_only", "source_only", None))


def _ratio(x: float, yardstick: float) -> str:
    """``x / yardstick`` to one decimal; empty without a yardstick (no target ridge run)."""
    return f"{x / yardstick:.1f}" if np.isfinite(yardstick) and yardstick > 0 else ""


def time_markdown(df: pd.DataFrame, seconds: float) -> list[str]:
    """Where the time went: fit seconds per method and source model, against target ridge.

    Every fit is timed in its worker, right beside the others of its split;
    target ridge (a ridge with its penalty by generalised cross-validation,
    as ``RidgeCV``) is the yardstick. The source models are fitted once per
    split and source method.
    """
    fits = df.groupby(["method", "source"], sort=False)["seconds"]
    ridge = df.loc[df["method"] == "target_ridge", "seconds"].median()
    sources = (df[df["source"] != "none"].drop_duplicates(["pair", "split", "source"])
               .groupby("source", sort=False)["source_seconds"])
    total = float(df["seconds"].sum()) + float(sources.sum().sum())
    lines = ["## Time", "",
             f"{seconds:.0f} s of wall time; {total:.0f} s in fits, summed over the workers. "
             "Median seconds per fit and its ratio to target ridge's median (a ridge with "
             "its penalty by generalised cross-validation, timed in the same workers).", "",
             "| fit | source | fits | total s | median s | median / target ridge |",
             "|---|---|---|---|---|---|"]
    for (method, source), t in fits:
        lines.append(f"| {method} | {source} | {t.size} | {t.sum():.1f} | {t.median():.3f} | "
                     f"{_ratio(t.median(), ridge)} |")
    for source, t in sources:
        lines.append(f"| source model | {source} | {t.size} | {t.sum():.1f} | "
                     f"{t.median():.3f} | {_ratio(t.median(), ridge)} |")
    return lines


def verdicts(df: pd.DataFrame) -> list[dict]:
    """Per pair and source method: SMART's median error, each comparator's, and the best."""
    out = []
    for pair, sub in df.groupby("pair", sort=False):
        med = sub.groupby(["method", "source"])["error"].median()
        for source in dict.fromkeys(sub.loc[sub["method"] == "smart", "source"]):
            row = {"pair": pair, "source": source, "smart": med.get(("smart", source), np.nan)}
            for column, method, where in VERDICT_COMPARATORS:
                row[column] = med.get((method, where or source), np.nan)
            others = [row[c] for c, m, _ in VERDICT_COMPARATORS
                      if m != "smart_placebo" and np.isfinite(row[c])]
            row["best_other"] = min(others) if others else np.nan
            out.append(row)
    return out


def to_markdown(df: pd.DataFrame, skipped: dict, args, info: dict, code: str,
                seconds: float) -> str:
    lines = [f"# Real-data benchmark ({args.split} splits)", "",
             f"Data: `{args.data}`; splits per pair: up to {args.n_splits}"
             f"{f' (test_size {args.test_size})' if args.split == 'random' else ''}; "
             f"n_top_genes {args.n_top_genes}, top_k {args.top_k or 'none'}, CLR {args.clr}; "
             f"SMART rank {args.smart_rank or 'RSC'}, structural rank "
             f"{args.smart_structural_rank or args.smart_structural_rank_pair or 'CV'}, tuning "
             f"{args.smart_tuning or 'default'}, lam "
             f"{'BIC' if args.smart_lam is None else args.smart_lam}, alpha "
             f"{'CV' if args.smart_alpha is None else args.smart_alpha}, source pull "
             f"{'default' if args.smart_source_pull is None else args.smart_source_pull}, blend "
             f"{'off' if args.no_blend else 'on'}.", "",
             f"Source methods: {', '.join(args.source_methods)}. Methods: "
             f"{', '.join(args.methods)}.", "",
             f"Code: `{code}`. Machine: {info['nproc']} cores ({info['usable_cores']} usable), "
             f"Python {info['python']}, {info['platform']}; n_jobs {args.n_jobs}; "
             f"{seconds:.0f} s in total.", "",
             "Packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()), "",
             "Error: `||Y_hat - Y||_F / sqrt(n_test q)` on the target's held-out cells.", ""]
    if not df.empty:
        cols = [c for c, _, _ in VERDICT_COMPARATORS]
        lines += ["## Median errors: SMART, its controls and comparators", "",
                  "SMART / placebo below 0.97 means the source's genes did work; SMART / best "
                  "other compares with the best comparator that is not the placebo.", "",
                  "| pair | source | SMART | " + " | ".join(cols)
                  + " | SMART / placebo | SMART / best other |",
                  "|---" * (len(cols) + 5) + "|"]
        for v in verdicts(df):
            ratio = v["smart"] / v["placebo"] if np.isfinite(v["placebo"]) else np.nan
            lines.append(f"| {v['pair']} | {v['source']} | {_fmt(v['smart'])} | "
                         + " | ".join(_fmt(v[c]) for c in cols)
                         + f" | {_fmt(ratio)} | {_fmt(v['smart'] / v['best_other'])} |")
        lines += ["", *time_markdown(df, seconds)]
        for pair, sub in df.groupby("pair", sort=False):
            first = sub.iloc[0]
            lines += ["", f"## {pair}", "",
                      f"{first['n_source_cells']} source and {first['n_target_cells']} target "
                      f"cells; {sub['split'].nunique()} split(s); failed fits: "
                      f"{int((sub['failure'] != '').sum())}.", "", *pair_markdown(sub)]
    for pair, reason in skipped.items():
        lines += ["", f"## {pair}: not run", "", reason]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.data == "toy" and args.pairs == list(DEFAULT_PAIRS):
        args.pairs = ["NK:ILC1"]
    mdata = load(args.data)
    if args.split == "donor" and args.data == "toy":
        rng = np.random.default_rng(0)
        mdata.obs["donor"] = rng.choice(["d1", "d2", "d3", "d4"], size=mdata.n_obs)
    code, info = describe(code_version()), machine()
    start = time.perf_counter()
    frames, skipped = [], {}
    for pair in args.pairs:
        logger.info("pair %s", pair)
        df, reason = run_pair(mdata, pair, args)
        if df is None:
            logger.warning("pair %s not run: %s", pair, reason)
            skipped[pair] = reason
        else:
            frames.append(df)
    seconds = time.perf_counter() - start
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not table.empty:
        table["code"] = code
    out_csv, out_md = args.out.with_suffix(".csv"), args.out.with_suffix(".md")
    write_atomic(table.to_csv(index=False), out_csv)
    markdown = to_markdown(table, skipped, args, info, code, seconds)
    write_atomic(markdown, out_md)
    sys.stdout.write(markdown)
    sys.stdout.write(f"\nCSV: {out_csv}\nMarkdown: {out_md}\n")
    return 0 if frames else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed where users feel it: real-data transfers, a lasso source, many genes.

Cases (each timed beside a scikit-learn ``RidgeCV`` fit on the same matrices,
in the same process, right before it):

* ``fixed``: ``SMARTRegressor`` with all tuning fixed (rank 5, structural
  rank 10, lam 0.1, alpha 0.01, no blend) on a synthetic 400 cells x 2,000
  genes x 134 proteins (seeded);
* ``transfer_hvg``: ``tl.transfer`` with defaults on 400 target cells of the
  shipped BMMC subset, all 2,000 highly variable genes, 134 proteins;
* ``transfer_screened``: the same with the screened genes (about 300);
* ``lasso``: ``tl.fit_source(method="lasso")`` on 2,000 source cells x
  2,000 genes x 134 proteins; ``lasso_2jobs`` the same with ``n_jobs=2``;
* ``gain``: what the transfer gain costs: ``tl.transfer`` with defaults
  (``transfer_gain=True``) beside the same call with ``transfer_gain=False``
  (the baseline, timed right before it), on both gene sets of ``transfer``.
  Target: a ratio of at most 1.3.

Run from the repository root::

    python benchmarks/real_speed.py --out benchmarks/results/real_speed.md
    python benchmarks/real_speed.py --cases fixed transfer lasso lasso_2jobs \
        --out benchmarks/results/real_speed.md
    python benchmarks/real_speed.py --cases gain --reps 5 \
        --out benchmarks/results/transfer_gain_speed.md
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _output import write_atomic
from _provenance import code_version, describe
from sklearn.linear_model import RidgeCV

import smart_sc
from smart_sc import SMARTRegressor, pp, tl
from smart_sc.datasets import bmmc_cite


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _ridge_seconds(X, Y) -> float:
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    return _timed(lambda: RidgeCV().fit(X, Y))[0]


def fixed_case(reps: int) -> dict:
    rng = np.random.default_rng(0)
    n, p, q = 400, 2000, 134
    X = rng.normal(size=(n, p))
    C = rng.normal(size=(p, 5)) @ rng.normal(size=(5, q)) / np.sqrt(p)
    Y = X @ C + rng.normal(size=(n, q))
    C0 = (C + 0.01 * rng.normal(size=C.shape)).T
    rows = []
    for _ in range(reps):
        ridge = _ridge_seconds(X, Y)
        secs, m = _timed(lambda: SMARTRegressor(C0, rank=5, structural_rank=10, lam=0.1,
                                                alpha=0.01, blend=False).fit(X, Y))
        err = float(np.linalg.norm(m.coef_.T - C) / np.sqrt(p * q))
        rows.append((secs, ridge, f"iterations {m.n_iter_}, converged {m.converged_}, "
                                  f"error {err:.4f}"))
    return _summary("fixed tuning, 400 x 2,000 x 134 (synthetic)", rows, target=2.0)


def _real_data(n_target: int, n_source: int):
    mdata = bmmc_cite()
    rng = np.random.default_rng(0)
    mono = np.flatnonzero(mdata.obs["cell_type"].to_numpy() == "CD14+ Mono")
    target = rng.choice(mono, size=n_target, replace=False)
    others = np.setdiff1d(np.arange(mdata.n_obs), target)
    source = rng.choice(others, size=n_source, replace=False)
    keep = np.union1d(source, target)
    mdata = mdata[keep].copy()
    is_target = np.isin(keep, target)
    pp.prepare_citeseq(mdata, source_mask=~is_target, target_mask=is_target,
                       n_top_genes=2000, drop_constant=False)
    return mdata, ~is_target, is_target


def transfer_cases(reps: int) -> list[dict]:
    mdata, is_source, is_target = _real_data(400, 2000)
    rna, prot = mdata["rna"], mdata["prot"]
    source = tl.fit_source(mdata, mask_obs=is_source, method="ridge")
    out = []
    for name, mask_var, target in (("all 2,000 HVGs", None, 10.0),
                                   ("screened genes", "smart_screened", 3.0)):
        genes = (np.ones(rna.n_vars, bool) if mask_var is None
                 else rna.var[mask_var].to_numpy())
        X = rna.X[is_target][:, genes]
        Y = prot.X[is_target]
        rows = []
        for _ in range(reps):
            ridge = _ridge_seconds(X, Y)
            secs, _ = _timed(lambda mv=mask_var: tl.transfer(
                mdata, source, mask_obs=is_target, mask_var=mv, random_state=0))
            rec = mdata.uns["smart"] if "smart" in mdata.uns else rna.uns["smart"]
            rows.append((secs, ridge, f"rank {rec['rank']}, structural rank "
                                      f"{rec['structural_rank']}"))
        out.append(_summary(f"tl.transfer defaults, 400 cells x {X.shape[1]} genes x "
                            f"{Y.shape[1]} proteins ({name})", rows, target=target))
    return out


def gain_cases(reps: int) -> list[dict]:
    """Default ``tl.transfer`` with the transfer gain against the same call without it."""
    mdata, is_source, is_target = _real_data(400, 2000)
    source = tl.fit_source(mdata, mask_obs=is_source, method="ridge")
    out = []
    for name, mask_var in (("all 2,000 HVGs", None), ("screened genes", "smart_screened")):
        rows = []
        for _ in range(reps):
            off, _ = _timed(lambda mv=mask_var: tl.transfer(
                mdata, source, mask_obs=is_target, mask_var=mv, random_state=0,
                transfer_gain=False))
            on, _ = _timed(lambda mv=mask_var: tl.transfer(
                mdata, source, mask_obs=is_target, mask_var=mv, random_state=0))
            gain = mdata.uns["smart"]["transfer_gain"]
            rows.append((on, off, f"gain {100 * gain['gain']:+.1f}%"))
        out.append(_summary(f"transfer gain on / off, tl.transfer defaults, 400 cells "
                            f"({name})", rows, target=1.3, baseline="transfer_gain=False"))
    return out


def lasso_case(n_jobs: int | None = None) -> dict:
    mdata, is_source, _ = _real_data(400, 2000)
    rna, prot = mdata["rna"], mdata["prot"]
    X, Y = rna.X[is_source], prot.X[is_source]
    ridge = _ridge_seconds(X, Y)
    secs, _ = _timed(lambda: tl.fit_source(mdata, mask_obs=is_source, method="lasso",
                                           n_jobs=n_jobs))
    jobs = "" if n_jobs is None else f", n_jobs={n_jobs}"
    return _summary(f"tl.fit_source lasso{jobs}, {X.shape[0]} x {X.shape[1]} x {Y.shape[1]}",
                    [(secs, ridge, "")], target=60.0)


def _summary(case: str, rows, *, target: float, baseline: str = "RidgeCV") -> dict:
    secs = np.array([r[0] for r in rows])
    ridge = np.array([r[1] for r in rows])
    return {"case": case, "median_s": float(np.median(secs)), "min_s": float(secs.min()),
            "max_s": float(secs.max()), "ridgecv_s": float(np.median(ridge)),
            "ratio": float(np.median(secs / ridge)), "target_s": target,
            "baseline": baseline, "note": rows[len(rows) // 2][2]}


def to_markdown(results: list[dict]) -> str:
    lines = [
        "# Real-data and many-gene speed",
        "",
        f"{describe(code_version())}; smart_sc {smart_sc.__version__}; Python "
        f"{platform.python_version()}; {platform.machine()}.",
        "",
    ]
    # Seconds against RidgeCV (target in seconds), and ratios against another
    # configuration of the same call (target a ratio), in separate tables.
    for baseline in dict.fromkeys(r["baseline"] for r in results):
        rows = [r for r in results if r["baseline"] == baseline]
        ratio_target = baseline != "RidgeCV"
        lines += ["", f"| case | median s | min-max s | {baseline} s | ratio | target "
                  f"{'ratio' if ratio_target else 's'} | notes |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            ratio = f"{r['ratio']:.2f}" if ratio_target else f"{r['ratio']:.0f}"
            target = f"{r['target_s']:.1f}" if ratio_target else f"{r['target_s']:.0f}"
            lines.append(
                f"| {r['case']} | {r['median_s']:.2f} | {r['min_s']:.2f}-{r['max_s']:.2f} | "
                f"{r['ridgecv_s']:.3f} | {ratio} | {target} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=["fixed", "transfer", "lasso"],
                    choices=["fixed", "transfer", "lasso", "lasso_2jobs", "gain"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="Markdown output")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("smart_sc").setLevel(logging.ERROR)
    results = []
    if "fixed" in args.cases:
        results.append(fixed_case(args.reps))
    if "transfer" in args.cases:
        results += transfer_cases(args.reps)
    if "gain" in args.cases:
        results += gain_cases(args.reps)
    if "lasso" in args.cases:
        results.append(lasso_case())
    if "lasso_2jobs" in args.cases:  # the responses on both cores (joblib)
        results.append(lasso_case(n_jobs=2))
    text = to_markdown(results)
    if args.out is not None:
        write_atomic(text, args.out)
    print(text)


if __name__ == "__main__":
    main()

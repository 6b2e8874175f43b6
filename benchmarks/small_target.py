"""Speed where the mission lives: a small target with thousands of genes (issue 19).

The shipped BMMC CITE-seq subset (``datasets.bmmc_cite()``): RNA counts
normalised to 10,000 per cell, ``log1p``, the ``N`` most variable genes
(``sc.pp.highly_variable_genes``; all 4,000 shipped genes for ``N = 4000``),
scaled; proteins by CLR (``muon.prot.pp.clr``). The source coefficients are a
``TargetRidge`` fit on the CD14+ monocytes; the target is the CD16+
monocytes, shuffled with a seeded permutation: the first ``n_train`` cells
train, the rest are held out. Each case fits ``SMARTRegressor(C0,
random_state=0)`` with every default and records, beside it, a ``RidgeCV`` fit
on the same matrices timed in the same process right before it, their ratio,
the chosen tuning, the held-out mean squared error and the load average.

Cases (``--cases``): ``2000x150``, ``2000x100``, ``4000x150`` (genes x
training cells). Targets: at most 5 s for the 2,000-gene cases, 15 s at 4,000
genes, with the choices unchanged.

Run from the repository root::

    python benchmarks/small_target.py --out benchmarks/results/small_target.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from _output import write_atomic
from _provenance import code_version, describe
from sklearn.linear_model import RidgeCV

import smart_sc
from smart_sc import SMARTRegressor
from smart_sc.baselines import TargetRidge

CASES = {"2000x150": (2000, 150, 5.0), "2000x100": (2000, 100, 5.0),
         "4000x150": (4000, 150, 15.0)}
#: Today's figures (issue 19, measured under load 6-8) for the before column.
BEFORE = {"2000x150": 8.6, "2000x100": 12.5, "4000x150": 198.0}
#: The record before the span U-step and the rank floors (code 10368be, first
#: of two fits each, load 0.9-1.5; benchmarks/README.md, "Folds hardest first").
PREVIOUS = {"2000x150": 3.06, "2000x100": 4.94, "4000x150": 21.1}


def prepare(n_genes: int):
    """``X`` (cells x genes, scaled), ``Y`` (CLR proteins) and the cell types."""
    import muon as mu
    import scanpy as sc

    mdata = smart_sc.datasets.bmmc_cite()
    rna, prot = mdata["rna"].copy(), mdata["prot"].copy()
    rna.X = rna.layers["counts"].copy()
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    if n_genes < rna.n_vars:
        sc.pp.highly_variable_genes(rna, n_top_genes=n_genes)
        rna = rna[:, rna.var["highly_variable"].to_numpy()].copy()
    sc.pp.scale(rna)
    prot.X = prot.layers["counts"].copy()
    mu.prot.pp.clr(prot)
    X = np.asarray(rna.X.toarray() if hasattr(rna.X, "toarray") else rna.X, dtype=np.float64)
    Y = np.asarray(prot.X.toarray() if hasattr(prot.X, "toarray") else prot.X,
                   dtype=np.float64)
    return X, Y, rna.obs["cell_type"].to_numpy()


def run_case(name: str, data_cache: dict, seed: int) -> dict:
    n_genes, n_train, target = CASES[name]
    if n_genes not in data_cache:
        data_cache[n_genes] = prepare(n_genes)
    X, Y, cell_type = data_cache[n_genes]
    src = cell_type == "CD14+ Mono"
    C0 = TargetRidge().fit(X[src], Y[src]).coef_
    cells = np.flatnonzero(cell_type == "CD16+ Mono")
    cells = cells[np.random.default_rng(seed).permutation(cells.size)]
    train, test = cells[:n_train], cells[n_train:]
    Xtr, Ytr = np.ascontiguousarray(X[train]), np.ascontiguousarray(Y[train])
    load = os.getloadavg()[0]
    start = time.perf_counter()
    RidgeCV().fit(Xtr, Ytr)
    ridge = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu = time.perf_counter(), time.process_time()
        m = SMARTRegressor(C0, random_state=0).fit(Xtr, Ytr)
        secs, cpu = time.perf_counter() - start, time.process_time() - cpu
    resid = Y[test] - m.predict(X[test])
    err = float(np.mean(resid ** 2))
    # Relative to the held-out cells' own spread (1: no better than their mean).
    rel = float(np.sum(resid ** 2) / np.sum((Y[test] - Y[test].mean(axis=0)) ** 2))
    blend = m.blend_["weights"] if getattr(m, "blend_", None) else None
    return {"case": name, "genes": X.shape[1], "train": n_train, "test": test.size,
            "seconds": secs, "cpu_seconds": cpu, "ridgecv_seconds": ridge, "ratio": secs / ridge,
            "target": target, "before": BEFORE.get(name), "previous": PREVIOUS.get(name),
            "load": load,
            "rank": int(m.rank_), "structural_rank": tuple(int(v) for v in m.structural_rank_),
            "lam": float(m.lam_), "alpha": float(m.alpha_),
            "blend": {k: round(float(v), 3) for k, v in (blend or {}).items()},
            "held_out_mse": err, "held_out_relative": rel}


def to_markdown(rows: list[dict], version: dict) -> str:
    lines = [
        "# Small targets: defaults on few cells x many genes (benchmarks/small_target.py)",
        "",
        f"smart_sc {smart_sc.__version__}, code {describe(version)}; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "Each SMART fit is timed right after a `RidgeCV` fit on the same matrices in the "
        "same process; `load` is the 1-minute load average just before the pair. "
        "`CPU s` is the fit's process CPU time (all threads): above the wall time where "
        "the cross-validation ran on more than one core.",
        "",
        "| case | genes | train / test cells | SMART s | CPU s | RidgeCV s | ratio | target s | "
        "before s (issue 19) | previous quiet s | load | rank | structural ranks | lam | "
        "alpha | blend | held-out MSE | held-out relative SSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        blend = ", ".join(f"{k} {v:g}" for k, v in r["blend"].items()) or "off"
        lines.append(
            f"| {r['case']} | {r['genes']} | {r['train']} / {r['test']} | {r['seconds']:.2f} | "
            f"{r['cpu_seconds']:.2f} | {r['ridgecv_seconds']:.2f} | {r['ratio']:.1f} | "
            f"{r['target']:g} | {r['before'] if r['before'] is not None else '-'} | "
            f"{r['previous'] if r['previous'] is not None else '-'} | {r['load']:.1f} | "
            f"{r['rank']} | {r['structural_rank']} | {r['lam']:.3g} | {r['alpha']:.4g} | "
            f"{blend} | {r['held_out_mse']:.6f} | {r['held_out_relative']:.6f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--reps", type=int, default=1, help="fits per case (all rows kept)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the target's permutation")
    ap.add_argument("--out", type=Path, default=None, help="Markdown output")
    args = ap.parse_args()
    version = code_version()
    cache: dict = {}
    rows = []
    for name in args.cases:
        for _ in range(args.reps):
            rows.append(run_case(name, cache, args.seed))
            print(rows[-1], flush=True)
    text = to_markdown(rows, version)
    print(text)
    if args.out is not None:
        write_atomic(text, args.out)


if __name__ == "__main__":
    main()

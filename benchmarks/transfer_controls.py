"""Variant x pair x gain: does the source's gene subspace do work, on real pairs?

Reads the CSVs that ``real_data.py`` wrote with the controls (``smart_placebo``
and ``reduced_rank_ridge`` among the methods) and writes one Markdown table:
per variant (one CSV each) and pair, SMART's median held-out error, the
placebo's (the same call with the source's genes shuffled) and the no-source
counterpart's, the ratios SMART / placebo and SMART / no source (below 1: the
real source helped), and the share of splits where SMART beat the placebo.

Example (the recorded table)::

    python benchmarks/transfer_controls.py \\
        "default (blend on)=benchmarks/results/real_random_controls.csv" \\
        "blend off=benchmarks/results/real_random_controls_noblend.csv" \\
        --out benchmarks/results/transfer_controls.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _output import write_atomic


def _median(sub: pd.DataFrame, method: str, source: str | None) -> pd.Series:
    rows = sub[sub["method"] == method]
    if source is not None:
        rows = rows[rows["source"] == source]
    return rows.set_index("split")["error"]


def variant_rows(label: str, df: pd.DataFrame) -> list[dict]:
    out = []
    for pair, sub in df.groupby("pair", sort=False):
        for source in dict.fromkeys(sub.loc[sub["method"] == "smart", "source"]):
            smart = _median(sub, "smart", source)
            placebo = _median(sub, "smart_placebo", source)
            plain = _median(sub, "reduced_rank_ridge", None)
            both = pd.concat([smart, placebo], axis=1, keys=["s", "p"]).dropna()
            out.append({
                "variant": label, "pair": pair, "source": source, "splits": len(smart),
                "smart": smart.median(), "placebo": placebo.median(),
                "no_source": plain.median(),
                "smart_over_placebo": smart.median() / placebo.median(),
                "smart_over_no_source": smart.median() / plain.median(),
                "beats_placebo": float((both["s"] < both["p"]).mean()) if len(both) else np.nan,
            })
    return out


def to_markdown(rows: list[dict], inputs: dict[str, str]) -> str:
    lines = ["# Does the source's subspace do work? Variant x pair x gain", "",
             "Median held-out error over the splits of each run; placebo: the same SMART "
             "call with the source's genes shuffled (same singular values); no source: "
             "`reduced_rank_ridge`, SMART's estimator and tuning without a source. A ratio "
             "below 0.97 is the gain the transfer is asked to show.", "",
             "Inputs: " + "; ".join(f"{k}: `{v}`" for k, v in inputs.items()), "",
             "| variant | pair | source | splits | SMART | placebo | no source | SMART / placebo "
             "| SMART / no source | SMART beats placebo (share of splits) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['pair']} | {r['source']} | {r['splits']} | "
                     f"{r['smart']:.3f} | {r['placebo']:.3f} | {r['no_source']:.3f} | "
                     f"{r['smart_over_placebo']:.3f} | {r['smart_over_no_source']:.3f} | "
                     f"{r['beats_placebo']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="label=path.csv, one per variant")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    inputs = dict(run.split("=", 1) for run in args.runs)
    rows = []
    for label, path in inputs.items():
        rows += variant_rows(label, pd.read_csv(path))
    text = to_markdown(rows, inputs)
    write_atomic(text, args.out)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

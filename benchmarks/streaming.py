"""Streaming at the cost of the data: a fixed-tuning fit of a dask CSR atlas beside its bare pass.

Issue 19. The atlas is written block by block to a zarr store (never whole
in memory): ``X`` is cells x genes, CSR float32, about 2% non-zero (positive,
log1p of gamma values); ``Y`` holds 50 responses ``X C + b + noise`` with
``C`` of rank 5 inside the leading 10-dimensional singular subspaces of the
source coefficients ``C0`` (also stored). Everything is seeded; a block's
values depend only on the seed and the block's index. The fits read it as
a dask array of CSR chunks (``anndata.experimental.read_elem_lazy``) and the
responses with ``dask.array.from_zarr``.

Measurements, each in a fresh Python process whose peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, imports included) is
reported:

``pass``
    The cost of the data alone, written plainly with scipy here: every
    chunk of the same dask array read in turn, split by fold (5 folds), and
    per fold ``X_k^T X_k`` (scipy's sparse product, densified ``p x p``),
    ``X_k^T Y_k`` and the column sums added up; the total is their sum.
``fit``
    ``SMARTRegressor(C0, rank=5, structural_rank=10, lam=0.1, alpha=1.0,
    blend=False, random_state=0)`` (``FIXED`` of ``scale.py``: the transfer
    gain's folds seeded) on the dask array; then, in
    the same process, the plain pass again, so that the ratio compares two
    timings taken back to back on the same machine state.

Targets (the 400,000 x 2,000 case): the fit's peak RSS <= 1.0 GB and its
wall time <= 3 times the pass's. A correctness check runs every time on a
small atlas (the ``--quick`` size): the dask fit's coefficients against the
fit of the same cells read into memory as CSR (equal bit for bit, or to
1e-10 at the most).

Timings are wall-clock seconds on whatever else the machine runs; the
1-minute load average is recorded before and after each measurement.

Example::

    python benchmarks/streaming.py --quick
    python benchmarks/streaming.py --out benchmarks/results/streaming.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The fixed tuning of the issue (transfer gain's folds seeded), and the same
# coefficients and measuring helpers as the out-of-core benchmark.
from scale import FIXED, _peak_gb, generate
from scale import _open as scale_open
from scale import _run as scale_run

HERE = Path(__file__).resolve().parent
FULL = dict(n=400_000, p=2_000, q=50, rows=20_000)
# Several sparse-pass blocks (100,000 cells at 400 genes) cut across the chunks.
QUICK = dict(n=250_000, p=400, q=50, rows=20_000)
DENSITY = 0.02
N_FOLDS = 5
TARGET_GB = 1.0
TARGET_RATIO = 3.0


# --------------------------------------------------------------------------- data


def _block(i: int, rows: int, p: int, C: np.ndarray, b: np.ndarray, density: float,
           seed: int):
    """Block ``i``: CSR cells (drawn as positions, never dense) and their responses."""
    import scipy.sparse as sp

    rng = np.random.default_rng([seed, i])
    # Positions drawn with replacement, repeats dropped: about ``density`` of the
    # entries (the draw count makes up for the repeats on average).
    draws = int(-np.log1p(-density) * rows * p)
    pos = np.unique(rng.integers(0, rows * p, size=draws))
    r, c = np.divmod(pos, p)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=rows))])
    values = np.log1p(rng.gamma(2.0, 2.0, size=pos.size)).astype(np.float32)
    X = sp.csr_matrix((values, c.astype(np.int32), indptr), shape=(rows, p))
    Y = (X @ C + b + rng.normal(size=(rows, C.shape[1]))).astype(np.float32)
    return X, Y


def _open(path: Path, rows: int, lazy: bool = True):
    """``X`` (dask CSR chunks of ``rows`` cells, or in memory), ``Y`` and ``C0`` of the store."""
    return scale_open(path, rows, lazy)[:3]


# --------------------------------------------------------------------------- measurements


def plain_pass(X, Y, n_folds: int = N_FOLDS, seed: int = 0) -> dict:
    """The blockwise scipy sums of every chunk: per fold X^T X, X^T Y, column sums; their total."""
    import dask

    n, p = X.shape
    q = Y.shape[1]
    labels = np.random.default_rng(seed).integers(0, n_folds, size=n)
    xtx = [np.zeros((p, p)) for _ in range(n_folds)]
    xty = [np.zeros((p, q)) for _ in range(n_folds)]
    sx = [np.zeros(p) for _ in range(n_folds)]
    sy = [np.zeros(q) for _ in range(n_folds)]
    t0 = time.perf_counter()
    start = 0
    for xb, yb in zip(X.to_delayed().ravel(), Y.to_delayed().ravel(), strict=True):
        x, y = dask.compute(xb, yb)
        x = x.tocsr().astype(np.float64)
        y = np.asarray(y, dtype=np.float64)
        lab = labels[start:start + x.shape[0]]
        start += x.shape[0]
        for k in range(n_folds):
            idx = np.flatnonzero(lab == k)
            xk, yk = x[idx], y[idx]
            xtx[k] += (xk.T @ xk).toarray()
            xty[k] += xk.T @ yk
            sx[k] += np.asarray(xk.sum(axis=0)).ravel()
            sy[k] += yk.sum(axis=0)
    total = xtx[0].copy()
    for k in range(1, n_folds):
        total += xtx[k]
    return {"seconds": time.perf_counter() - t0, "trace": float(np.trace(total))}


def job_pass(path: Path, rows: int) -> dict:
    X, Y, _ = _open(path, rows)
    out = plain_pass(X, Y)
    out["peak_gb"] = _peak_gb()
    return out


def job_fit(path: Path, rows: int, coef_out: Path, then_pass: bool, lazy: bool = True) -> dict:
    import smart_sc

    imports_gb = _peak_gb()
    X, Y, C0 = _open(path, rows, lazy)
    t0 = time.perf_counter()
    model = smart_sc.SMARTRegressor(C0, **FIXED).fit(X, Y)
    out = {"seconds": time.perf_counter() - t0, "peak_gb": _peak_gb(),
           "imports_gb": imports_gb, "converged": bool(model.converged_),
           "x_type": f"{type(X).__module__}.{type(X).__name__}"}
    gain = getattr(model, "transfer_gain_", None)
    out["transfer_gain"] = None if gain is None else float(np.mean(gain["gain"]))
    np.save(coef_out, model.coef_)
    if then_pass:
        del model
        Xl, Yl, _ = _open(path, rows)
        out["pass_after"] = plain_pass(Xl, Yl)
    return out


# --------------------------------------------------------------------------- driver


def _worker(spec: dict) -> dict:
    path = Path(spec["path"])
    if spec["job"] == "generate":
        return generate(path, spec["n"], spec["p"], spec["q"], density=DENSITY,
                        rows=spec["rows"], seed=spec["seed"], block=_block)
    if spec["job"] == "pass":
        return job_pass(path, spec["rows"])
    return job_fit(path, spec["rows"], Path(spec["coef"]), spec["then_pass"], spec["lazy"])


def _run(spec: dict) -> dict:
    """Run one job of this script in a fresh interpreter (see ``scale._run``)."""
    return scale_run(spec, __file__)


def _machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib.metadata import version

    import dask
    import scipy

    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem, 1),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "dask": dask.__version__,
            "anndata": version("anndata")}


def correctness(workdir: Path, seed: int) -> dict:
    """The dask fit against the in-memory CSR fit of the same (quick-size) atlas."""
    store = workdir / "check.zarr"
    gen = _run({"job": "generate", "path": str(store), "seed": seed, **QUICK})
    coefs = {}
    for name, lazy in (("dask", True), ("memory", False)):
        coefs[name] = workdir / f"check_{name}.npy"
        _run({"job": "fit", "path": str(store), "rows": QUICK["rows"], "coef": str(coefs[name]),
              "then_pass": False, "lazy": lazy})
    a, b = np.load(coefs["dask"]), np.load(coefs["memory"])
    diff = float(np.abs(a - b).max())
    return {**QUICK, "nnz": gen["nnz"], "max_abs_coef_difference": diff,
            "bit_identical": bool(np.array_equal(a, b)), "ok": diff <= 1e-10}


def report(res: dict) -> str:
    size, fit, pas = res["size"], res["fit"], res["pass"]
    after = fit["pass_after"]
    ratio = fit["seconds"] / after["seconds"]
    ratio_alone = fit["seconds"] / pas["seconds"]
    chk = res["check"]
    m = res["machine"]
    lines = [
        "# Streaming at the cost of the data (`benchmarks/streaming.py`, issue 19)",
        "",
        f"Code {res['code']}. Run {res['started']} - {res['finished']} UTC on "
        f"{m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, dask {m['dask']}, anndata {m['anndata']}.",
        "",
        f"Data: {size['n']:,} cells x {size['p']:,} genes, CSR float32, "
        f"{res['nnz'] / (size['n'] * size['p']):.2%} non-zero ({res['nnz']:,} entries), "
        f"{size['q']} responses, in a zarr store read as a dask array of CSR chunks of "
        f"{size['rows']:,} cells (generated in {res['generate_seconds']:.0f} s). Fit: "
        "`SMARTRegressor(C0, rank=5, structural_rank=10, lam=0.1, alpha=1.0, blend=False, "
        "random_state=0)` (transfer gain on: 5 folds).",
        "",
        "| measurement | wall s | peak RSS GB | 1-min load before / after |",
        "|---|---|---|---|",
        f"| pass alone (plain scipy, own process) | {pas['seconds']:.1f} | {pas['peak_gb']:.2f} | "
        f"{pas['load_before']:.2f} / {pas['load_after']:.2f} |",
        f"| SMART fit on the dask array | {fit['seconds']:.1f} | **{fit['peak_gb']:.2f}** | "
        f"{fit['load_before']:.2f} / {fit['load_after']:.2f} |",
        f"| pass alone again, after the fit in its process | {after['seconds']:.1f} | - | - |",
        "",
        f"- Fit / pass (same process): **{ratio:.2f}** (target <= {TARGET_RATIO:g}); "
        f"fit / pass (own process): {ratio_alone:.2f}.",
        f"- Peak RSS of the fit: **{fit['peak_gb']:.2f} GB** (target <= {TARGET_GB:g} GB; "
        f"{fit['imports_gb']:.2f} GB of it after the imports).",
        f"- Targets met: ratio {'yes' if ratio <= TARGET_RATIO else 'NO'}, "
        f"memory {'yes' if fit['peak_gb'] <= TARGET_GB else 'NO'}.",
        f"- Correctness ({chk['n']:,} x {chk['p']} x {chk['q']}, chunks of {chk['rows']:,}): "
        f"dask fit vs in-memory CSR fit, largest coefficient difference "
        f"{chk['max_abs_coef_difference']:.1e} "
        f"({'bit for bit' if chk['bit_identical'] else 'not bit for bit'}).",
        "",
        "Command (from the repository root):",
        "",
        "```bash",
        res["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size only (seconds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the stores go (default: a temporary directory, removed)")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        res = _worker(json.loads(args.worker))
        sys.stdout.write("RESULT " + json.dumps(res) + "\n")
        return

    sys.path.insert(0, str(HERE))
    from _output import write_atomic
    from _provenance import code_version, describe

    size = QUICK if args.quick else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smart_sc_streaming_"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    res = {"size": size, "machine": _machine(), "started": started,
           "command": "python benchmarks/streaming.py" + (" --quick" if args.quick else "")
           + (f" --out {args.out}" if args.out else "")}
    try:
        res["check"] = correctness(workdir, args.seed)
        print("correctness:", json.dumps(res["check"]), flush=True)
        store = workdir / "atlas.zarr"
        gen = _run({"job": "generate", "path": str(store), "seed": args.seed, **size})
        res["nnz"], res["generate_seconds"] = gen["nnz"], gen["seconds"]
        print("generated:", json.dumps(gen), flush=True)
        res["pass"] = _run({"job": "pass", "path": str(store), "rows": size["rows"]})
        print("pass:", json.dumps(res["pass"]), flush=True)
        res["fit"] = _run({"job": "fit", "path": str(store), "rows": size["rows"],
                           "coef": str(workdir / "coef.npy"), "then_pass": True, "lazy": True})
        print("fit:", json.dumps(res["fit"]), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    res["finished"] = time.strftime("%H:%M", time.gmtime())
    res["code"] = describe(code_version())
    text = report(res)
    if args.out is not None:
        write_atomic(text, args.out)
    print(text)


if __name__ == "__main__":
    main()

"""Out-of-core scale: SMART fitted from a synthetic sparse atlas on disk through dask.

The atlas is generated block by block into a zarr store (never whole in
memory): ``X`` is cells x genes, CSR, about 5% non-zero (positive,
log-normalised-like values), written with anndata's ``write_elem`` and
appended block by block; ``Y`` (proteins) is ``X C + b + noise`` with ``C`` of
rank 5 inside the leading 10-dimensional singular subspaces of the source
coefficients ``C0`` (also stored). Everything is seeded (``--seed``); a block's
values depend only on the seed and the block's index.

Cases, each fitted in a fresh Python process whose peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, imports included) is
reported:

``a``
    400,000 cells x 2,000 genes x 134 proteins, FIXED tuning
    (``SMARTRegressor(C0, rank=5, structural_rank=10, lam=0.1, alpha=1.0,
    blend=False, random_state=0)``): the fit from the lazily read store (a dask array of CSR
    chunks, anndata's ``read_elem_lazy``) and the fit on the same cells read
    into memory (CSR); target peak memory of the dask fit <= 1.5 GB, the two
    coefficient matrices equal to 1e-6.
``b``
    1,000,000 cells x 2,000 genes x 134 proteins end to end from the store:
    statistics, default data-driven tuning (``random_state=0``), predictions
    of all cells written back into the store chunk by chunk
    (``dask.array.to_zarr``); target peak memory <= 4 GB. With
    ``--memory-baseline`` the same on the cells read into memory.

Timings are wall-clock seconds on whatever else the machine is running; the
1-minute load average is logged before and after each case. Memory figures
do not depend on the load.

Example::

    python benchmarks/scale.py --quick
    python benchmarks/scale.py --cases a --out benchmarks/results/scale_a.json
    python benchmarks/scale.py --cases b --out benchmarks/results/scale_b.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# The transfer gain's folds seeded: a fit with fixed tuning takes its
# statistics from the folds' pass (their total), so the dask and in-memory
# fits are the same bits only with the same folds.
FIXED = dict(rank=5, structural_rank=10, lam=0.1, alpha=1.0, blend=False, random_state=0)
SIZES = {"a": dict(n=400_000, p=2_000, q=134), "b": dict(n=1_000_000, p=2_000, q=134)}
QUICK = {"a": dict(n=20_000, p=200, q=20), "b": dict(n=30_000, p=200, q=20)}
TARGET_GB = {"a": 1.5, "b": 4.0}


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def _load() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- data


def _true_coefs(p: int, q: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source ``C0`` (rank 10), target ``C`` (rank 5 in C0's subspaces) and intercept."""
    rng = np.random.default_rng([seed, 10**6])
    U, _ = np.linalg.qr(rng.normal(size=(p, 10)))
    V, _ = np.linalg.qr(rng.normal(size=(q, 10)))
    C0 = U @ np.diag(np.linspace(10, 1, 10)) @ V.T
    # The target: other singular values and a rotation of 5 of the source's directions.
    R, _ = np.linalg.qr(rng.normal(size=(10, 5)))
    S, _ = np.linalg.qr(rng.normal(size=(10, 5)))
    C = (U @ R) @ np.diag(np.linspace(8, 4, 5)) @ (V @ S).T
    return C0, C, rng.normal(size=q)


def _block(i: int, rows: int, p: int, C: np.ndarray, b: np.ndarray, density: float,
           seed: int):
    import scipy.sparse as sp

    rng = np.random.default_rng([seed, i])
    mask = rng.random((rows, p), dtype=np.float32) < density
    values = np.log1p(rng.gamma(2.0, 2.0, size=int(mask.sum()))).astype(np.float32)
    X = np.zeros((rows, p), dtype=np.float32)
    X[mask] = values
    Xs = sp.csr_matrix(X)
    Y = (Xs @ C + b + rng.normal(size=(rows, C.shape[1]))).astype(np.float32)
    return Xs, Y


def generate(path: Path, n: int, p: int, q: int, *, density: float, rows: int,
             seed: int, block=None) -> dict:
    """Write the atlas to the zarr store ``path``, ``rows`` cells at a time.

    ``block(i, rows, p, C, b, density, seed)`` makes block ``i`` (CSR cells and
    their responses); ``None`` takes this script's.
    """
    import anndata as ad
    import zarr

    t0 = time.perf_counter()
    C0, C, b = _true_coefs(p, q, seed)
    group = zarr.open_group(str(path), mode="w")
    Yz = group.create_array("Y", shape=(n, q), chunks=(rows, q), dtype="float32")
    for i, start in enumerate(range(0, n, rows)):
        Xb, Yb = (block or _block)(i, min(rows, n - start), p, C, b, density, seed)
        if i == 0:
            ad.io.write_elem(group, "X", Xb)
        else:
            ad.io.sparse_dataset(group["X"]).append(Xb)
        Yz[start:start + Yb.shape[0]] = Yb
    group.create_array("C0", data=C0)
    group.create_array("C", data=C)
    nnz = int(ad.io.sparse_dataset(group["X"]).group["indptr"][-1])
    return {"seconds": time.perf_counter() - t0, "nnz": nnz, "density": nnz / (n * p),
            "peak_gb": _peak_gb()}


# --------------------------------------------------------------------------- fits


def _open(path: Path, rows: int, lazy: bool):
    import anndata as ad
    import zarr

    group = zarr.open_group(str(path), mode="r")
    C0 = np.asarray(group["C0"][:]).T  # scikit-learn orientation (q, p)
    if lazy:
        import dask.array as da

        X = ad.experimental.read_elem_lazy(group["X"], chunks=(rows, C0.shape[1]))
        Y = da.from_zarr(group["Y"])
    else:
        X = ad.io.read_elem(group["X"])
        Y = np.asarray(group["Y"][:])
    return X, Y, C0, group


def fit_case(case: str, path: Path, rows: int, lazy: bool, out: Path) -> dict:
    """One fit (in this process): fixed tuning for ``a``; end to end for ``b``."""
    import smart_sc

    base_gb = _peak_gb()
    X, Y, C0, _ = _open(path, rows, lazy)
    t0 = time.perf_counter()
    params = FIXED if case == "a" else dict(random_state=0)
    model = smart_sc.SMARTRegressor(C0, **params).fit(X, Y)
    fit_s = time.perf_counter() - t0
    np.save(out, model.coef_)
    result = {"fit_seconds": fit_s, "rank": int(model.rank_),
              "structural_rank": list(model.structural_rank_), "lam": float(model.lam_),
              "alpha": float(model.alpha_), "converged": bool(model.converged_),
              "imports_gb": base_gb, "x_type": f"{type(X).__module__}.{type(X).__name__}"}
    if case == "b":
        import zarr

        t1 = time.perf_counter()
        group = zarr.open_group(str(path), mode="r+")
        key = "pred_dask" if lazy else "pred_memory"
        if lazy:
            import dask.array as da

            pred = model.predict(X).astype(np.float32)  # lazy, X's row chunks
            da.to_zarr(pred, group.store, component=key, overwrite=True)
        else:
            pred = model.predict(X).astype(np.float32)
            arr = group.create_array(key, shape=pred.shape, chunks=(rows, pred.shape[1]),
                                     dtype="float32", overwrite=True)
            arr[:] = pred
        result["predict_write_seconds"] = time.perf_counter() - t1
    result["peak_gb"] = _peak_gb()
    return result


# --------------------------------------------------------------------------- driver


def _worker(args) -> None:
    spec = json.loads(args.worker)
    path = Path(spec["path"])
    if spec["job"] == "generate":
        res = generate(path, spec["n"], spec["p"], spec["q"], density=spec["density"],
                       rows=spec["rows"], seed=spec["seed"])
    else:
        res = fit_case(spec["case"], path, spec["rows"], spec["lazy"], Path(spec["out"]))
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")


def _run(spec: dict, script: str = __file__) -> dict:
    """Run one job of ``script`` in a fresh interpreter; its own peak memory comes back with it."""
    load_before = _load()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--worker", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['job']} failed:\n{proc.stderr[-4000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    res.update(wall_seconds=time.perf_counter() - t0, load_before=load_before,
               load_after=_load())
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=["a", "b"], default=["a", "b"])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--chunk-rows", type=int, default=10_000,
                        help="cells per zarr chunk and per dask block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-baseline", nargs="*", choices=["a", "b"], default=["a"],
                        help="cases also fitted on the cells read into memory")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the stores go (default: a temporary directory, removed)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(args)
        return

    sys.path.insert(0, str(HERE))
    from _provenance import code_version, describe

    sizes = QUICK if args.quick else SIZES
    rows = 1_000 if args.quick else args.chunk_rows
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smart_sc_scale_"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = {"code": code_version(), "machine": {"nproc": os.cpu_count(),
                                                  "python": platform.python_version()},
              "quick": args.quick, "cases": {}}
    try:
        for case in args.cases:
            size = sizes[case]
            store = workdir / f"atlas_{case}.zarr"
            entry = {**size, "density": args.density, "chunk_rows": rows}
            entry["generate"] = _run({"job": "generate", "path": str(store),
                                      "density": args.density, "rows": rows,
                                      "seed": args.seed, **size})
            print(f"[{case}] generated {size} in {entry['generate']['seconds']:.0f} s",
                  flush=True)
            runs = [("dask", True)]
            if case in args.memory_baseline:
                runs.append(("memory", False))
            for name, lazy in runs:
                out = workdir / f"coef_{case}_{name}.npy"
                entry[name] = _run({"job": "fit", "case": case, "path": str(store),
                                    "rows": rows, "lazy": lazy, "out": str(out)})
                print(f"[{case}] {name}: {json.dumps(entry[name])}", flush=True)
            entry["target_gb"] = TARGET_GB[case]
            entry["dask_within_target"] = entry["dask"]["peak_gb"] <= TARGET_GB[case]
            if "memory" in entry:
                a = np.load(workdir / f"coef_{case}_dask.npy")
                b = np.load(workdir / f"coef_{case}_memory.npy")
                entry["max_abs_coef_difference"] = float(np.abs(a - b).max())
                entry["time_ratio_dask_to_memory"] = (entry["dask"]["fit_seconds"]
                                                      / entry["memory"]["fit_seconds"])
                entry["memory_ratio_dask_to_memory"] = (entry["dask"]["peak_gb"]
                                                        / entry["memory"]["peak_gb"])
            report["cases"][case] = entry
            print(f"[{case}] summary: " + json.dumps({k: v for k, v in entry.items()
                                                      if not isinstance(v, dict)}),
                  flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["code_description"] = describe(report["code"])
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

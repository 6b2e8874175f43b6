"""Rebuild ``src/smart_sc/datasets/data/bmmc_cite.h5mu`` from its public source.

The shipped data set (:func:`smart_sc.datasets.bmmc_cite`) is a 5,000-cell
subset of the NeurIPS 2021 bone-marrow CITE-seq data (Luecken et al. 2021,
GEO GSE194122), as distributed in the source archive of the ``networkvi``
package, version 0.1.0, on PyPI::

    pip download --no-deps --no-binary :all: networkvi==0.1.0
    python scripts/make_bmmc_cite.py networkvi-0.1.0.tar.gz

The archive's member ``networkvi-0.1.0/docs/source/notebooks/
neurips2021_cite_bmmc_luecken2021.h5ad`` holds raw RNA counts of 4,000 genes
in ``.X``, raw ADT counts of 134 proteins in ``.obsm["protein_expression"]``
(protein names in ``.uns["protein_expression"]["var"]``; the rest of that
``.uns`` entry, metadata of other cells, is dropped except for the batch of
the 5,000 cells) and the cells' annotation in ``.obs``.

The script checks the archive's sha256 (``--sha256`` to expect another,
``--no-verify`` to skip the check for an archive of your own), reads the
member straight from the tar file (nothing is extracted to disk), keeps every
cell and every protein, keeps as many genes as fit in ``--max-mb`` megabytes
(all 4,000 do), writes a gzip-compressed ``.h5mu`` atomically (a temporary
file in the target directory, then :func:`os.replace`), and before publishing
it re-reads the written file and checks that its counts equal the archive's,
cell by cell and feature by feature.

Raw counts are stored once, as integers, in ``layers["counts"]`` of each
modality; ``.X`` is left empty in the file and the loader sets it to a copy of
the counts (storing them twice would double the file size).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import h5py
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

try:  # anndata >= 0.11
    from anndata.io import read_elem, write_elem
except ImportError:  # pragma: no cover - anndata 0.10
    from anndata.experimental import read_elem, write_elem

logger = logging.getLogger("make_bmmc_cite")

SCRIPT = "scripts/make_bmmc_cite.py"
ARCHIVE_NAME = "networkvi-0.1.0.tar.gz"
ARCHIVE_SHA256 = "3b46432e166b6f20a2d1c08c17a6b2a5e699fae5877d1f95a9f5ee9061ed118c"
MEMBER = "networkvi-0.1.0/docs/source/notebooks/neurips2021_cite_bmmc_luecken2021.h5ad"
H5AD_SHA256 = "fc82d4cc42f3d7c838deef95c7a516a75a86a50d1634115e60cbd7de47aa4416"
PIP_COMMAND = "pip download --no-deps --no-binary :all: networkvi==0.1.0"
DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "src" / "smart_sc" / "datasets" / "data"
    / "bmmc_cite.h5mu"
)
DEFAULT_MAX_MB = 6.0
#: h5py dataset options: gzip at the highest level with the byte-shuffle filter
#: (which groups the high and low bytes of the small integers, so they compress).
COMPRESSION = {"compression": "gzip", "compression_opts": 9, "shuffle": True}

SOURCE = {
    "title": "NeurIPS 2021 multimodal single-cell benchmark, bone marrow CITE-seq",
    "accession": "GSE194122",
    "url": "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSE194122",
    "geo_file": "GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad",
    "citation": (
        "Luecken, M. D. et al. A sandbox for prediction and integration of DNA, RNA, and "
        "proteins in single cells. Proceedings of the Neural Information Processing Systems "
        "Track on Datasets and Benchmarks 1 (NeurIPS 2021)."
    ),
    "license_note": (
        "not verified by smart_sc: the data are redistributed as in the networkvi 0.1.0 "
        "source archive (a BSD-3-Clause package); check the terms of GEO GSE194122 before "
        "redistributing further"
    ),
    "intermediate": (
        "5,000-cell subset with 4,000 genes shipped in the networkvi 0.1.0 source archive "
        f"on PyPI ({ARCHIVE_NAME}), member {MEMBER}"
    ),
}
GENE_RULE = (
    "genes ranked by the number of cells with a non-zero count (ties: larger total count, "
    "then the archive's order); the top n_genes_kept are kept, in the archive's order"
)


# ----------------------------------------------------------------------------- input


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_tar(path: Path) -> bool:
    return tarfile.is_tarfile(path)


def load_source(path: Path, *, expected_sha256: str | None, verify: bool) -> tuple[bytes, dict]:
    """Bytes of the archive's h5ad (from the tar member, or the h5ad itself) and their hashes."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist. Get the archive with\n    {PIP_COMMAND}\n"
            f"and pass its path: python {SCRIPT} {ARCHIVE_NAME}"
        )
    file_sha = sha256_of(path)
    is_tar = _is_tar(path)
    expected = expected_sha256 or (ARCHIVE_SHA256 if is_tar else H5AD_SHA256)
    if verify and file_sha != expected.lower():
        raise ValueError(
            f"sha256 of {path.name} is {file_sha}, expected {expected}; this is not the "
            f"published archive (get it with `{PIP_COMMAND}`), or pass --no-verify to build "
            "from a file of your own"
        )
    info = {"input_file": path.name, "input_sha256": file_sha, "input_verified": bool(verify)}
    if is_tar:
        with tarfile.open(path) as tar:
            try:
                member = tar.getmember(MEMBER)
            except KeyError:
                raise ValueError(
                    f"{path.name} has no member {MEMBER}; it has "
                    f"{len(tar.getnames())} members, e.g. {tar.getnames()[:5]}"
                ) from None
            fh = tar.extractfile(member)
            if fh is None:
                raise ValueError(f"member {MEMBER} of {path.name} is not a regular file")
            data = fh.read()
        info["archive_sha256"] = file_sha
        info["h5ad_sha256"] = hashlib.sha256(data).hexdigest()
        if verify and info["h5ad_sha256"] != H5AD_SHA256 and expected_sha256 is None:
            raise ValueError(
                f"member {MEMBER} has sha256 {info['h5ad_sha256']}, expected {H5AD_SHA256}"
            )
        logger.info("read %s (%.1f MB) from %s (sha256 %s%s)", MEMBER, len(data) / 1e6,
                    path.name, file_sha, ", verified" if verify else ", not verified")
    else:
        data = path.read_bytes()
        info["h5ad_sha256"] = file_sha
        logger.info("read %s (%.1f MB, sha256 %s%s)", path.name, len(data) / 1e6, file_sha,
                    ", verified" if verify else ", not verified")
    return data, info


def read_archive_h5ad(data: bytes) -> dict:
    """Read the parts of the archive's AnnData that the data set needs, checked."""
    with h5py.File(io.BytesIO(data), "r") as f:
        missing = [key for key in ("X", "obs", "var", "obsm/protein_expression",
                                   "uns/protein_expression/var") if key not in f]
        if missing:
            raise ValueError(f"the h5ad lacks {missing}; it has top-level keys {sorted(f)}")
        X = read_elem(f["X"])
        obs = read_elem(f["obs"])
        var = read_elem(f["var"])
        prot = np.asarray(read_elem(f["obsm/protein_expression"]))
        proteins = pd.Index(read_elem(f["uns/protein_expression/var"]).index.astype(str))
        batch = None
        if "uns/protein_expression/obs" in f:
            meta = f["uns/protein_expression/obs"]
            if "batch" in meta:
                index = pd.Index(np.asarray(read_elem(meta[meta.attrs["_index"]])).astype(str))
                batch = pd.Series(np.asarray(read_elem(meta["batch"])).astype(str), index=index)
    for col in ("cell_type", "DonorID", "Site"):
        if col not in obs:
            raise ValueError(f"the h5ad's obs lacks {col!r}; it has {list(obs.columns)}")
    if "gene_stable_id" not in var:
        raise ValueError(f"the h5ad's var lacks 'gene_stable_id'; it has {list(var.columns)}")
    n = obs.shape[0]
    if prot.shape != (n, len(proteins)):
        raise ValueError(
            f"obsm['protein_expression'] has shape {prot.shape}, expected ({n}, {len(proteins)})"
            " (cells x proteins named in uns['protein_expression']['var'])"
        )
    X = sp.csr_matrix(X)
    X.sort_indices()
    for name, values in (("X", X.data), ("obsm['protein_expression']", prot)):
        if values.size and not (np.all(values >= 0) and np.all(values == np.round(values))):
            raise ValueError(f"the h5ad's {name} is not raw counts (negative or non-integer)")
    cells = pd.Index(obs.index.astype(str))
    if batch is not None and cells.isin(batch.index).all():
        batch = batch.reindex(cells).to_numpy()
        source = "uns['protein_expression']['obs']['batch']"
    else:  # barcodes end in the batch, e.g. "AAAC...-1-s1d2"
        batch = cells.str.rsplit("-", n=1).str[-1].to_numpy()
        source = "the barcode suffix"
    logger.info("archive: %d cells, %d genes, %d proteins; batch from %s",
                n, X.shape[1], len(proteins), source)
    return {"X": X, "obs": obs, "var": var, "prot": prot, "proteins": proteins,
            "batch": np.asarray(batch, dtype=str)}


# ----------------------------------------------------------------------------- build


def rank_genes(X: sp.csr_matrix) -> np.ndarray:
    """Gene indices, best first, by :data:`GENE_RULE`."""
    detected = np.bincount(X.indices, minlength=X.shape[1])
    total = np.asarray(X.sum(axis=0)).ravel()
    order = np.arange(X.shape[1])
    return np.lexsort((order, -total, -detected))


def _int_dtype(max_value: float) -> type[np.signedinteger]:
    for dtype in (np.int16, np.int32, np.int64):
        if max_value <= np.iinfo(dtype).max:
            return dtype
    raise ValueError(f"a count of {max_value} does not fit in int64")


def build_mudata(src: dict, genes: np.ndarray, provenance: dict) -> md.MuData:
    """MuData of the kept ``genes`` (indices into the archive's, sorted) and all proteins."""
    obs_src, cells = src["obs"], pd.Index(src["obs"].index.astype(str))
    donor = obs_src["DonorID"].astype(str).to_numpy()
    columns = {
        "cell_type": pd.Categorical(obs_src["cell_type"].astype(str).to_numpy(),
                                    categories=sorted(set(obs_src["cell_type"].astype(str)))),
        "donor": pd.Categorical(donor, categories=sorted(set(donor))),
        "site": pd.Categorical(obs_src["Site"].astype(str).to_numpy(),
                               categories=sorted(set(obs_src["Site"].astype(str)))),
        "batch": pd.Categorical(src["batch"], categories=sorted(set(src["batch"]))),
    }

    def obs() -> pd.DataFrame:
        return pd.DataFrame(dict(columns), index=cells)

    X = src["X"][:, genes]
    X = sp.csr_matrix((X.data.astype(_int_dtype(X.data.max(initial=0))), X.indices, X.indptr),
                      shape=X.shape)
    prot = src["prot"].astype(_int_dtype(src["prot"].max(initial=0)))
    rna_var = pd.DataFrame(
        {"gene_stable_id": src["var"]["gene_stable_id"].astype(str).to_numpy()[genes],
         "feature_types": pd.Categorical(["GEX"] * len(genes))},
        index=pd.Index(src["var"].index.astype(str)[genes]),
    )
    prot_var = pd.DataFrame({"feature_types": pd.Categorical(["ADT"] * len(src["proteins"]))},
                            index=src["proteins"])
    rna = ad.AnnData(X=None, obs=obs(), var=rna_var, layers={"counts": X}, shape=X.shape)
    adt = ad.AnnData(X=None, obs=obs(), var=prot_var, layers={"counts": prot}, shape=prot.shape)
    with md.set_options(pull_on_update=False), warnings.catch_warnings():
        # 29 protein names are also gene symbols (CD4, CD14, ...): the global var_names
        # are not unique, by design; each modality's are.
        warnings.filterwarnings("ignore", message=".*var_names are not unique")
        mdata = md.MuData({"rna": rna, "prot": adt})
    for name, values in columns.items():
        mdata.obs[name] = values
    mdata.var["feature_types"] = pd.Categorical(["GEX"] * rna.n_vars + ["ADT"] * adt.n_vars)
    mdata.uns["provenance"] = provenance
    return mdata


def write_h5mu(mdata: md.MuData, path: Path) -> None:
    """Write compressed, without pulling columns and without the var_names warning.

    ``.uns`` (scalars, which HDF5 cannot compress) is written afterwards, plainly.
    """
    uns = dict(mdata.uns)
    mdata.uns.clear()
    try:
        with md.set_options(pull_on_update=False), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*var_names are not unique")
            md.write_h5mu(path, mdata, **COMPRESSION)
    finally:
        mdata.uns.update(uns)
    with h5py.File(path, "r+") as f:
        del f["uns"]
        write_elem(f, "uns", uns)


def read_h5mu(path: Path) -> md.MuData:
    """Read an h5mu without pulling columns and without the var_names warning."""
    with md.set_options(pull_on_update=False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*var_names are not unique")
        return md.read_h5mu(path)


def verify(path: Path, src: dict, genes: np.ndarray) -> str:
    """Re-read ``path`` and check its counts and annotation against the archive's."""
    back = read_h5mu(path)
    rna, prot = back["rna"], back["prot"]
    cells = pd.Index(src["obs"].index.astype(str))
    problems = []
    if not (rna.obs_names.equals(cells) and prot.obs_names.equals(cells)
            and back.obs_names.equals(cells)):
        problems.append("cell names or order differ")
    if not rna.var_names.equals(pd.Index(src["var"].index.astype(str)[genes])):
        problems.append("gene names differ")
    if not prot.var_names.equals(src["proteins"]):
        problems.append("protein names differ")
    rna_counts = sp.csr_matrix(rna.layers["counts"]).astype(np.int64)
    expected = src["X"][:, genes].astype(np.int64)
    if rna_counts.shape != expected.shape or (rna_counts != expected).nnz:
        problems.append("RNA counts differ")
    if not np.array_equal(np.asarray(prot.layers["counts"], dtype=np.int64),
                          src["prot"].astype(np.int64)):
        problems.append("ADT counts differ")
    for name, values in (("cell_type", src["obs"]["cell_type"]),
                         ("donor", src["obs"]["DonorID"]), ("site", src["obs"]["Site"])):
        if not np.array_equal(back.obs[name].astype(str).to_numpy(),
                              values.astype(str).to_numpy()):
            problems.append(f"obs[{name!r}] differs")
    if problems:
        raise AssertionError(f"{path.name} does not match the archive: {problems}")
    return (
        f"verified: the written file's counts equal the archive's exactly for all "
        f"{rna.n_obs} cells x {rna.n_vars} genes (RNA, {rna.layers['counts'].dtype}) and "
        f"{prot.n_vars} proteins (ADT, {prot.layers['counts'].dtype}); obs cell_type, donor "
        "and site match"
    )


def _provenance(info: dict, src: dict, n_genes: int, reason: str) -> dict:
    n_source = int(src["X"].shape[1])
    return {
        **SOURCE,
        **info,
        "script": SCRIPT,
        "n_cells": int(src["X"].shape[0]),
        "n_genes_source": n_source,
        "n_genes_kept": int(n_genes),
        "n_proteins": len(src["proteins"]),
        "gene_selection": GENE_RULE if n_genes < n_source else "none: all genes kept",
        "gene_selection_reason": reason,
        "counts": (
            "raw counts, exactly as in the archive, stored once as integers in "
            "layers['counts'] of each modality; smart_sc.datasets.bmmc_cite() sets .X to a "
            "float32 copy"
        ),
        "obs": (
            "cell_type (archive obs cell_type), donor (obs DonorID), site (obs Site), batch "
            "(uns['protein_expression']['obs']['batch'], e.g. s1d2 = site 1, donor 2)"
        ),
    }


def build(src: dict, info: dict, out: Path, *, max_mb: float, max_genes: int | None) -> Path:
    """Write the data set to ``out`` atomically, within ``max_mb``; return ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n_source = src["X"].shape[1]
    ranking = rank_genes(src["X"])
    n_genes = n_source if max_genes is None else max(1, min(int(max_genes), n_source))
    if n_genes == n_source:
        reason = f"all {n_source} genes of the archive fit the size budget of {max_mb:g} MB"
    else:
        reason = f"at most {n_genes} genes requested (--max-genes)"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        while True:
            genes = np.sort(ranking[:n_genes])
            mdata = build_mudata(src, genes, _provenance(info, src, n_genes, reason))
            write_h5mu(mdata, tmp)
            size_mb = tmp.stat().st_size / 1e6
            logger.info("%d genes: %.2f MB", n_genes, size_mb)
            if size_mb <= max_mb:
                break
            smaller = int(n_genes * 0.95 * max_mb / size_mb)
            if smaller < 1 or smaller >= n_genes:
                raise ValueError(
                    f"cannot fit the data set in {max_mb:g} MB: {n_genes} genes take "
                    f"{size_mb:.2f} MB (the cells and proteins alone need more); raise --max-mb"
                )
            n_genes = smaller
            reason = (f"{n_genes} of the archive's {n_source} genes kept so that the file fits "
                      f"the size budget of {max_mb:g} MB")
        logger.info(verify(tmp, src, genes))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp creates the file private (0600)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s: %d cells, %d genes, %d proteins, %.2f MB", out, src["X"].shape[0],
                n_genes, len(src["proteins"]), out.stat().st_size / 1e6)
    return out


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog=f"python {SCRIPT}",
        description="Rebuild smart_sc's bmmc_cite.h5mu from the networkvi 0.1.0 archive "
        f"(get it with: {PIP_COMMAND}).",
    )
    parser.add_argument("source", nargs="?", type=Path,
                        help=f"{ARCHIVE_NAME}, or the h5ad extracted from it")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output .h5mu (default: the package's data directory)")
    parser.add_argument("--sha256", default=None,
                        help="expected sha256 of SOURCE (default: the published archive's, or "
                             "its h5ad member's for an .h5ad)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the sha256 checks (for an archive or h5ad of your own)")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                        help=f"largest output size in MB; genes are dropped to fit "
                             f"(default {DEFAULT_MAX_MB:g})")
    parser.add_argument("--max-genes", type=int, default=None,
                        help="keep at most this many genes (by the rule in the file's provenance)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    """Build the data set; return the path written. Raises on any problem."""
    args = parse_args(argv)
    if args.source is None:
        raise ValueError(
            f"no source given. Download the archive with\n    {PIP_COMMAND}\n"
            f"then run: python {SCRIPT} {ARCHIVE_NAME} [--out PATH]"
        )
    if args.max_mb <= 0:
        raise ValueError(f"--max-mb must be > 0, got {args.max_mb}")
    if args.max_genes is not None and args.max_genes < 1:
        raise ValueError(f"--max-genes must be >= 1, got {args.max_genes}")
    data, info = load_source(args.source, expected_sha256=args.sha256,
                             verify=not args.no_verify)
    src = read_archive_h5ad(data)
    return build(src, info, args.out, max_mb=args.max_mb, max_genes=args.max_genes)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    logger.setLevel(logging.INFO)
    try:
        main()
    except (ValueError, FileNotFoundError, AssertionError) as err:
        logger.error("%s", err)
        sys.exit(1)

"""Preprocessing inside one train/test split: every cross-cell statistic from training cells.

Used by :func:`smart_sc.tl.benchmark`. The cell-local transforms (RNA
``normalize_total`` and ``log1p``; the per-cell CLR of the proteins) involve no
other cell, so :func:`cell_local` computes them once for all cells. Everything
that pools cells (highly variable genes, gene scaling, the per-protein CLR
centre, constant features, gene screening) is computed per split by
:func:`prepare_split` on the split's training cells (source training plus
target training cells) and then applied, unchanged, to the held-out cells.

Works on arrays: RNA as a CSR matrix or a dense array, proteins dense.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scanpy as sc
import scipy.sparse as sp
from anndata import AnnData

from ._features import constant_columns, correlation

__all__ = ["CellLocal", "SplitMatrices", "cell_local", "prepare_split"]

_CLR = ("per_cell", "per_protein")


@dataclass(frozen=True)
class CellLocal:
    """Cells x features matrices after the cell-local steps, and what is left per split.

    ``X`` is log-normalised RNA (or the input as is), ``Y`` the proteins:
    per-cell CLR, ``log1p`` counts still to be centred per protein
    (``center_proteins``), or the input as is.
    """

    X: np.ndarray | sp.csr_matrix
    Y: np.ndarray
    genes: np.ndarray
    proteins: np.ndarray
    preprocess: bool
    center_proteins: bool


@dataclass(frozen=True)
class SplitMatrices:
    """Dense, preprocessed matrices of one split (genes and proteins kept, in order)."""

    X_source: np.ndarray
    Y_source: np.ndarray
    X_target: np.ndarray
    Y_target: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    genes: np.ndarray
    proteins: np.ndarray
    n_hvg: int


def _log_normalize(counts, target_sum: float):
    """``normalize_total`` then ``log1p`` through scanpy (cell-local)."""
    counts = sp.csr_matrix(counts, dtype=np.float64) if sp.issparse(counts) else \
        np.array(counts, dtype=np.float64)
    adata = AnnData(counts)
    sc.pp.normalize_total(adata, target_sum=target_sum)
    sc.pp.log1p(adata)
    return adata.X


def cell_local(rna, prot, genes, proteins, *, preprocess: bool, clr: str,
               target_sum: float = 1e4) -> CellLocal:
    """Apply the steps that involve each cell alone.

    Parameters
    ----------
    rna : ndarray or sparse matrix of shape (n_cells, n_genes)
        Raw RNA counts (``preprocess=True``) or processed values.
    prot : ndarray or sparse matrix of shape (n_cells, n_proteins)
        Raw protein counts (``preprocess=True``) or processed values.
    genes, proteins : sequence of str
        Feature names.
    preprocess : bool
        Normalise from raw counts; otherwise the matrices are used as they are.
    clr : {"per_cell", "per_protein"}
        Protein CLR: ``log1p(x)`` minus the cell's mean ``log1p`` over proteins
        (here), or minus the protein's mean over training cells (per split).
    target_sum : float, default=1e4
        Library size after ``normalize_total``.

    Returns
    -------
    CellLocal
        The matrices and what remains to be done per split.
    """
    if clr not in _CLR:
        raise ValueError(f"clr must be one of {list(_CLR)}, got {clr!r}")
    Y = prot.toarray() if sp.issparse(prot) else np.asarray(prot)
    Y = np.array(Y, dtype=np.float64)
    if preprocess:
        X = _log_normalize(rna, target_sum)
        Y = np.log1p(Y)
        if clr == "per_cell":
            Y -= Y.mean(axis=1, keepdims=True)
    else:
        X = sp.csr_matrix(rna, dtype=np.float64) if sp.issparse(rna) else \
            np.asarray(rna, dtype=np.float64)
    return CellLocal(X=X, Y=Y, genes=np.asarray(genes, dtype=str),
                     proteins=np.asarray(proteins, dtype=str), preprocess=preprocess,
                     center_proteins=preprocess and clr == "per_protein")


def _hvg(X_train, n_top_genes: int) -> np.ndarray:
    """Return the indices of scanpy's ``flavor="seurat"`` highly variable genes of log data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy's notes on binning and dtypes
        table = sc.pp.highly_variable_genes(AnnData(X_train), flavor="seurat",
                                            n_top_genes=n_top_genes, inplace=False)
    return np.flatnonzero(table["highly_variable"].to_numpy())


def _top_genes(X, Y, top_k: int) -> np.ndarray:
    """Mask of the ``top_k`` genes by the l2 norm of their correlations with the proteins."""
    corr, unusable = correlation(X, Y)
    score = np.sqrt((corr**2).sum(axis=1))
    order = np.argsort(-score, kind="stable")
    order = order[~unusable[order]]
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[order[:top_k]] = True
    return mask


def _dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=np.float64)


def _varying(M_source, M_target, what: str) -> np.ndarray:
    """Features that vary within both populations' training cells; error when none."""
    const_s, const_t = constant_columns(M_source), constant_columns(M_target)
    if const_t.all():
        raise ValueError(
            f"all {M_target.shape[1]} {what} are constant in the {M_target.shape[0]} "
            "target training cells of this split: nothing to fit"
        )
    if const_s.all():
        raise ValueError(
            f"all {M_source.shape[1]} {what} are constant in the {M_source.shape[0]} "
            "source training cells of this split: nothing to fit"
        )
    return ~(const_s | const_t)


def _proteins(local: CellLocal, rows: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Protein blocks (source, target, test), centred on the training cells if needed."""
    blocks = [local.Y[r] for r in rows]
    if local.center_proteins:
        centre = np.concatenate(blocks[:2]).mean(axis=0)
        blocks = [b - centre for b in blocks]
    return tuple(blocks)


def _scale(blocks: list[np.ndarray]) -> list[np.ndarray]:
    """Centre and scale by the training cells' mean and sd (ddof 1, as ``sc.pp.scale``)."""
    train = np.concatenate(blocks[:2])
    mean = train.mean(axis=0)
    sd = train.std(axis=0, ddof=1)
    sd[sd == 0] = 1.0
    return [(b - mean) / sd for b in blocks]


def prepare_split(local: CellLocal, source_rows, target_rows, test_rows, *,
                  n_top_genes: int | None, top_k: int | None) -> SplitMatrices:
    """Preprocess one split from its training cells and apply it to its test cells.

    In order, with every statistic from the training cells (source training
    plus target training rows): highly variable genes (``preprocess`` only;
    scanpy, ``flavor="seurat"``), the per-protein CLR centre, removal of genes
    and proteins constant in the source or the target training cells,
    screening (the ``top_k`` genes per population by the l2 norm of their
    Pearson correlations with the proteins, union), and scaling of the kept
    genes (``preprocess`` only; mean and sd, no clipping). Pearson correlations
    do not change under scaling, so screening runs on the unscaled (sparse)
    values and only the kept genes are densified.

    Parameters
    ----------
    local : CellLocal
        The output of :func:`cell_local`.
    source_rows, target_rows, test_rows : array of int
        Rows of the source training, target training and target test cells.
    n_top_genes : int or None
        Highly variable genes kept (``None``: all).
    top_k : int or None
        Genes screened per population (``None``: no screening).

    Returns
    -------
    SplitMatrices
        Dense matrices of the three cell sets and the names kept.
    """
    rows = tuple(np.asarray(r, dtype=np.intp) for r in (source_rows, target_rows, test_rows))
    genes = np.arange(local.X.shape[1])
    if local.preprocess and n_top_genes is not None and n_top_genes < genes.size:
        genes = _hvg(local.X[np.concatenate(rows[:2])], n_top_genes)
    n_hvg = genes.size
    Xs, Xt = local.X[rows[0]][:, genes], local.X[rows[1]][:, genes]
    keep_g = _varying(Xs, Xt, "genes")
    Ys, Yt, Yv = _proteins(local, rows)
    keep_p = _varying(Ys, Yt, "proteins")
    Ys, Yt, Yv = Ys[:, keep_p], Yt[:, keep_p], Yv[:, keep_p]
    genes = genes[keep_g]
    if top_k is not None:
        Xs, Xt = Xs[:, keep_g], Xt[:, keep_g]
        chosen = _top_genes(Xs, Ys, top_k) | _top_genes(Xt, Yt, top_k)
        genes = genes[chosen]
    blocks = [_dense(local.X[r][:, genes]) for r in rows]
    if local.preprocess:
        blocks = _scale(blocks)
    return SplitMatrices(X_source=blocks[0], Y_source=Ys, X_target=blocks[1], Y_target=Yt,
                         X_test=blocks[2], Y_test=Yv, genes=local.genes[genes],
                         proteins=local.proteins[keep_p], n_hvg=int(n_hvg))

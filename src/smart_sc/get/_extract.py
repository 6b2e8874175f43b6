"""Everything a fit reads, in one step: cells, genes, proteins, matrices and their order.

``tl.transfer``, ``tl.fit_source`` and ``tl.benchmark`` open the same way:
find the modalities, choose the cells and genes, match a source model by
name, read and check the matrices (``tl.predict`` shares the overlap check).
:func:`extract` does that once and hands back an :class:`Extracted`: arrays
only, in the fit's canonical order (genes and proteins sorted by name), with
the positions that put results back in the data's own order. The caller
fits on the arrays and writes once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._core.arrays import check_finite
from ._checks import check_counts
from ._masks import gene_subset, select_cells
from ._modalities import PairedModalities, get_matrix, lazy_if_backed, resolve_modalities

__all__ = ["MIN_SHARED_GENES", "Extracted", "check_overlap", "extract", "matrix_label"]

#: Fewest shared genes a model is used with: below it the overlap is a naming
#: problem (gene symbols vs Ensembl IDs, another species' case) far more often
#: than a real model.
MIN_SHARED_GENES = 10


def matrix_label(modality: str, layer: str | None) -> str:
    """How messages name a matrix: ``"modality 'rna' layer 'counts'"`` or ``"... .X"``."""
    return f"modality {modality!r} " + (f"layer {layer!r}" if layer else ".X")


def _by_name(names: pd.Index, mask: np.ndarray) -> np.ndarray:
    """Positions where ``mask`` holds, ordered by name (the fit's canonical order).

    The SMART penalty lives in a basis of the source's singular complement that
    is only defined up to rotation (LAPACK's completion), and that completion
    follows the row order; sorting makes a fit depend on names only, never on
    how the data are ordered.
    """
    idx = np.flatnonzero(mask)
    return idx[np.argsort(names[idx].to_numpy(), kind="stable")]


def check_overlap(model, alignment, n_used: int, *, use: str = "the transfer",
                  minimum: int = MIN_SHARED_GENES, stacklevel: int = 4) -> None:
    """Refuse an overlap too small to use; warn when the model's weight is mostly lost.

    ``model`` is a :class:`~smart_sc.SourceModel`, ``alignment`` its
    :class:`~smart_sc.source.SourceAlignment` with the data and ``n_used`` the
    number of shared genes that will be used.
    """
    n_source = len(model.genes)
    if n_used < minimum:
        raise ValueError(
            f"the source model and the data share {n_used} usable gene(s) of the source's "
            f"{n_source} (at least {minimum} are needed); check that both use the "
            "same gene names (symbols vs Ensembl IDs, case such as 'Cd8a' vs 'CD8A'). "
            f"Source genes missing here, e.g. {list(alignment.missing_genes_in_target[:5])}"
        )
    coef = model.coef.to_numpy()
    total = float((coef**2).sum())
    kept = model.coef.index.isin(alignment.genes[alignment.gene_mask])
    lost = float((coef[~kept] ** 2).sum()) / total if total > 0 else 0.0
    if lost > 0.5:
        warnings.warn(
            f"{100 * lost:.0f}% of the source model's weight (squared coefficients) lies on "
            f"{int((~kept).sum())} gene(s) the data lack, e.g. "
            f"{list(alignment.missing_genes_in_target[:5])}; {use} uses little of it",
            UserWarning, stacklevel=stacklevel,
        )


@dataclass(frozen=True)
class Extracted:
    """What a fit reads from the data, in canonical (name-sorted) order unless asked not to.

    Attributes
    ----------
    pair : PairedModalities
        The modalities (to write results into).
    cells : pandas.Index
        Training cells (paired, selected by ``mask_obs``).
    X_all : matrix
        Every cell of the RNA modality (dask when the object is backed), for
        predictions.
    X, Y : matrix, ndarray
        Training cells x used genes, and x used proteins, in canonical order.
    gene_idx, prot_idx : ndarray of int
        Positions in the RNA's ``.var`` and in the protein names of the used
        genes and proteins, in canonical order.
    alignment : SourceAlignment or None
        The source model matched to the data by name (when one was given).
    label_in : str
        How messages name the RNA matrix read.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> data = smart_sc.get.extract(mdata)
    >>> data.Y.shape == (mdata["prot"].n_obs, mdata["prot"].n_vars), data.alignment is None
    (True, True)
    """

    pair: PairedModalities
    cells: pd.Index
    X_all: object
    X: object
    Y: np.ndarray
    gene_idx: np.ndarray
    prot_idx: np.ndarray
    alignment: object | None
    label_in: str

    @property
    def genes(self) -> pd.Index:
        """Used gene names, canonical order."""
        return pd.Index(self.pair.rna.var_names)[self.gene_idx]

    @property
    def proteins(self) -> pd.Index:
        """Used protein names, canonical order."""
        return self.pair.protein_names[self.prot_idx]

    @property
    def protein_order(self) -> np.ndarray:
        """Permutation from canonical to data order of the used proteins."""
        return np.argsort(self.prot_idx, kind="stable")

    def source_coef(self) -> np.ndarray:
        """Return the source's coefficients of the used genes and proteins (genes x proteins)."""
        return self.alignment.coef[np.ix_(self.gene_idx, self.prot_idx)]


def extract(mdata, *, modality_in: str = "rna", modality_out: str = "prot", mask_obs=None,
            mask_var=None, layer_in: str | None = None, layer_out: str | None = None,
            model=None, sort_by_name: bool = True, cells: pd.Index | None = None,
            counts_hint: str | None = None) -> Extracted:
    """Read the training matrices of a fit, checked, in canonical order.

    Parameters
    ----------
    mdata : MuData or AnnData
        Paired data (proteins in ``.obsm[modality_out]`` for an AnnData).
    modality_in, modality_out, mask_obs, mask_var, layer_in, layer_out
        As :func:`smart_sc.tl.transfer` takes them.
    model : SourceModel or None
        A source model: genes and proteins are then those it shares with the
        data (matched by name; too small an overlap is refused).
    sort_by_name : bool
        Order genes and proteins by name (the canonical order SMART fits in);
        ``False`` keeps the data's order.
    cells : pandas.Index or None
        The cells to read, in this order, instead of ``mask_obs``'s (each must
        have both modalities).
    counts_hint : str or None
        Require raw counts (finite, non-negative whole numbers) rather than
        finite values; the hint ends the error message (what to pass instead).

    Returns
    -------
    Extracted
        Arrays and positions; nothing in ``mdata`` is changed.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> data = extract(mdata, mask_obs=(mdata.obs["cell_type"] == "NK").to_numpy())
    >>> data.X.shape == (len(data.cells), mdata["rna"].n_vars), list(data.genes) == sorted(
    ...     mdata["rna"].var_names)
    (True, True)
    """
    pair = resolve_modalities(mdata, modality_in, modality_out)
    use = gene_subset(pair.rna, mask_var)
    proteins = np.ones(len(pair.protein_names), dtype=bool)
    alignment = None
    if model is not None:
        alignment = model.aligned(pd.Index(pair.rna.var_names), pair.protein_names)
        use = use & alignment.gene_mask
        proteins = alignment.protein_mask
        check_overlap(model, alignment, int(use.sum()))
    if cells is None:
        cells = select_cells(pair, mask_obs)
    what = "cells" if counts_hint else "training cells"
    order = _by_name if sort_by_name else (lambda _, mask: np.flatnonzero(mask))
    gene_idx = order(pd.Index(pair.rna.var_names), use)
    prot_idx = order(pair.protein_names, proteins)
    X_all = lazy_if_backed(get_matrix(pair.rna, layer_in, pair.modality_in))
    label_in = matrix_label(pair.modality_in, layer_in)
    X = X_all[pair.rna.obs_names.get_indexer(cells)][:, gene_idx]
    Y = pair.protein_matrix(cells, layer_out)[:, prot_idx]
    label_out = (matrix_label(pair.modality_out, layer_out) if pair.prot is not None
                 else f".obsm[{pair.obsm_key!r}]")
    for M, label in ((X, label_in), (Y, label_out)):
        if counts_hint:
            check_counts(M, f"{label} ({what})", counts_hint)
        else:
            check_finite(M, f"{label} ({what})")
    return Extracted(pair=pair, cells=cells, X_all=X_all, X=X, Y=Y, gene_idx=gene_idx,
                     prot_idx=prot_idx, alignment=alignment, label_in=label_in)

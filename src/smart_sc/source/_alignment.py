"""Alignment by name: how a source model meets a target's genes and proteins.

:class:`SourceAlignment` holds the source's coefficients in the target's order,
with what is missing on either side; :func:`align` builds it. The names are
checked by :mod:`smart_sc.source._names`; what a model is built from, by
:mod:`smart_sc.source._inputs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._names import N_EXAMPLES, check_names, examples

__all__ = ["SourceAlignment", "align"]

logger = logging.getLogger("smart_sc")


@dataclass(frozen=True, eq=False)
class SourceAlignment:
    """A source model's coefficients matched by name to a target's genes and proteins.

    Returned by :meth:`SourceModel.aligned`. Arrays follow the target's order and
    are read-only.

    Attributes
    ----------
    genes : pandas.Index
        Target gene names, in the target's order.
    proteins : pandas.Index
        Target protein names, in the target's order.
    coef : ndarray of shape (n_target_genes, n_target_proteins)
        Source coefficients in the target's order. Rows of genes the source lacks
        and columns of proteins the source lacks are zero.
    intercept : ndarray of shape (n_target_proteins,)
        Source intercept per target protein (zero where the source lacks the protein).
    gene_mask : ndarray of bool, shape (n_target_genes,)
        Target genes present in the source.
    protein_mask : ndarray of bool, shape (n_target_proteins,)
        Target proteins present in the source: only these can be transferred.
    missing_genes_in_source, missing_proteins_in_source : tuple of str
        Target names the source does not have (target order).
    missing_genes_in_target, missing_proteins_in_target : tuple of str
        Source names the target does not have (source order); their
        coefficients are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from smart_sc.source import SourceModel
    >>> coef = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=["A", "B"], columns=["P1", "P2"])
    >>> al = SourceModel.from_dataframe(coef).aligned(["B", "Z", "A"], ["P2", "P9"])
    >>> al.coef
    array([[4., 0.],
           [0., 0.],
           [2., 0.]])
    >>> al.gene_mask, al.protein_mask
    (array([ True, False,  True]), array([ True, False]))
    >>> al.missing_genes_in_source, al.missing_proteins_in_target
    (('Z',), ('P1',))
    """

    genes: pd.Index
    proteins: pd.Index
    coef: np.ndarray
    intercept: np.ndarray
    gene_mask: np.ndarray
    protein_mask: np.ndarray
    missing_genes_in_source: tuple[str, ...]
    missing_genes_in_target: tuple[str, ...]
    missing_proteins_in_source: tuple[str, ...]
    missing_proteins_in_target: tuple[str, ...]

    @property
    def n_shared_genes(self) -> int:
        """Number of target genes found in the source."""
        return int(self.gene_mask.sum())

    @property
    def n_shared_proteins(self) -> int:
        """Number of target proteins found in the source."""
        return int(self.protein_mask.sum())

    def to_dataframe(self) -> pd.DataFrame:
        """Aligned coefficients as a DataFrame (target genes x target proteins).

        Returns
        -------
        pandas.DataFrame
            ``coef`` with the target's gene names as index and protein names as
            columns.

        Examples
        --------
        >>> import pandas as pd
        >>> from smart_sc.source import SourceModel
        >>> coef = pd.DataFrame([[1.0], [3.0]], index=["A", "B"], columns=["P1"])
        >>> SourceModel.from_dataframe(coef).aligned(["B", "A"], ["P1"]).to_dataframe()
            P1
        B  3.0
        A  1.0
        """
        return pd.DataFrame(self.coef.copy(), index=self.genes, columns=self.proteins)

    def summary(self) -> dict[str, Any]:
        """Count mismatches and give up to five example names each, JSON-safe (for ``.uns``).

        Returns
        -------
        dict
            Keys ``n_genes_target``, ``n_genes_source``, ``n_genes_shared``,
            ``n_genes_missing_in_source``, ``genes_missing_in_source_examples``,
            ``n_genes_missing_in_target``, ``genes_missing_in_target_examples``,
            and the same for proteins.

        Examples
        --------
        >>> import pandas as pd
        >>> from smart_sc.source import SourceModel
        >>> coef = pd.DataFrame([[1.0], [3.0]], index=["A", "B"], columns=["P1"])
        >>> s = SourceModel.from_dataframe(coef).aligned(["B", "C"], ["P1"]).summary()
        >>> s["n_genes_shared"], s["genes_missing_in_source_examples"]
        (1, ['C'])
        """
        out: dict[str, Any] = {}
        for kind, names, mask, in_source, in_target in (
            (
                "genes",
                self.genes,
                self.gene_mask,
                self.missing_genes_in_source,
                self.missing_genes_in_target,
            ),
            (
                "proteins",
                self.proteins,
                self.protein_mask,
                self.missing_proteins_in_source,
                self.missing_proteins_in_target,
            ),
        ):
            n_shared = int(mask.sum())
            out[f"n_{kind}_target"] = len(names)
            out[f"n_{kind}_source"] = n_shared + len(in_target)
            out[f"n_{kind}_shared"] = n_shared
            out[f"n_{kind}_missing_in_source"] = len(in_source)
            out[f"{kind}_missing_in_source_examples"] = list(in_source[:N_EXAMPLES])
            out[f"n_{kind}_missing_in_target"] = len(in_target)
            out[f"{kind}_missing_in_target_examples"] = list(in_target[:N_EXAMPLES])
        return out


def _match(
    source: pd.Index, target: pd.Index, kind: str
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Position of each target name in the source (-1 if absent), and both missing lists."""
    idx = source.get_indexer(target)
    missing_in_source = tuple(target[idx < 0])
    missing_in_target = tuple(source[~source.isin(target)])
    if not (idx >= 0).any():
        # Different naming conventions are the usual cause; say so when case differs.
        lower_target = {n.lower() for n in target}
        n_case = sum(1 for n in source if n.lower() in lower_target)
        case_hint = (
            f" {n_case} match when case is ignored: check the naming convention "
            "(e.g. human vs mouse symbols)."
            if n_case
            else " Check that both sides use the same identifiers (symbols vs Ensembl IDs)."
        )
        raise ValueError(
            f"no {kind} in common between the source model ({len(source)} {kind}, e.g. "
            f"{examples(source)}) and the target ({len(target)} {kind}, e.g. "
            f"{examples(target)}).{case_hint}"
        )
    return idx, missing_in_source, missing_in_target


def align(
    source_coef: pd.DataFrame, source_intercept: pd.Series, genes: Any, proteins: Any
) -> SourceAlignment:
    """Match a source's named coefficients to a target's names (see ``SourceModel.aligned``)."""
    hint = ": pass the target's names (e.g. adata.var_names)"
    target_genes = check_names(genes, "target gene names", hint=hint)
    target_proteins = check_names(proteins, "target protein names", hint=hint)
    g_idx, g_miss_src, g_miss_tgt = _match(source_coef.index, target_genes, "genes")
    p_idx, p_miss_src, p_miss_tgt = _match(source_coef.columns, target_proteins, "proteins")
    g_mask = g_idx >= 0
    p_mask = p_idx >= 0

    coef = np.zeros((len(target_genes), len(target_proteins)))
    coef[np.ix_(g_mask, p_mask)] = source_coef.to_numpy()[np.ix_(g_idx[g_mask], p_idx[p_mask])]
    intercept = np.zeros(len(target_proteins))
    intercept[p_mask] = source_intercept.to_numpy()[p_idx[p_mask]]
    for arr in (coef, intercept, g_mask, p_mask):
        arr.flags.writeable = False

    logger.info(
        "source model alignment: %d of %d target genes found in the source "
        "(%d missing in source%s; %d source genes absent from target%s); "
        "%d of %d target proteins found (%d missing in source%s; %d source proteins "
        "absent from target%s)",
        int(g_mask.sum()),
        len(target_genes),
        len(g_miss_src),
        f", e.g. {examples(g_miss_src)}" if g_miss_src else "",
        len(g_miss_tgt),
        f", e.g. {examples(g_miss_tgt)}" if g_miss_tgt else "",
        int(p_mask.sum()),
        len(target_proteins),
        len(p_miss_src),
        f", e.g. {examples(p_miss_src)}" if p_miss_src else "",
        len(p_miss_tgt),
        f", e.g. {examples(p_miss_tgt)}" if p_miss_tgt else "",
    )
    return SourceAlignment(
        genes=target_genes,
        proteins=target_proteins,
        coef=coef,
        intercept=intercept,
        gene_mask=g_mask,
        protein_mask=p_mask,
        missing_genes_in_source=g_miss_src,
        missing_genes_in_target=g_miss_tgt,
        missing_proteins_in_source=p_miss_src,
        missing_proteins_in_target=p_miss_tgt,
    )

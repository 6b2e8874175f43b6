"""Names and alignment by name: how a source model meets a target's genes and proteins.

The checks :class:`smart_sc.source.SourceModel` applies to what it is built from
(a DataFrame, arrays or a fitted scikit-learn regressor) and to what it loads:
names are non-empty, unique strings, since alignment is by name, never by
position; values are real and finite. And :class:`SourceAlignment`, the source's
coefficients in the target's order with what is missing on either side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._jsonable import jsonable

__all__ = [
    "SourceAlignment",
    "align",
    "as_float_array",
    "check_finite",
    "check_names",
    "count_nonfinite",
    "examples",
]

logger = logging.getLogger("smart_sc")

_N_EXAMPLES = 5


def examples(names: Sequence[str], k: int = _N_EXAMPLES) -> str:
    """Format up to ``k`` names as ``'a', 'b' (+7 more)``, short enough for a log line."""
    shown = ", ".join(repr(n) for n in list(names)[:k])
    extra = len(names) - k
    return f"{shown} (+{extra} more)" if extra > 0 else shown


def _duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dups: dict[str, None] = {}  # dict keeps first-seen order for stable messages
    for n in names:
        if n in seen:
            dups[n] = None
        seen.add(n)
    return list(dups)


def check_names(values: Iterable[Any], what: str, *, hint: str = "") -> pd.Index:
    """Validate a list of names: non-empty, unique strings. Returns an object-dtype Index."""
    if isinstance(values, pd.MultiIndex):
        raise TypeError(f"{what} must be a flat list of names, got a MultiIndex")
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of names, got the single string {values!r}")
    names = list(values)
    not_str = [n for n in names if not isinstance(n, str)]
    if not_str:
        raise TypeError(
            f"{what} must be strings; found {len(not_str)} non-string name(s), e.g. "
            f"{examples(not_str)}. Alignment is by name, never by position{hint}"
        )
    names = [str(n) for n in names]  # np.str_ -> str, so equality and JSON behave plainly
    empty = sum(1 for n in names if not n)
    if empty:
        raise ValueError(f"{what} must be non-empty strings; found {empty} empty name(s)")
    # HDF5 strings cannot hold a NUL (nor could the old .npz keep a trailing one), and
    # a NUL has no place in a gene or protein name: refuse it rather than fail on save.
    with_nul = [n for n in names if "\x00" in n]
    if with_nul:
        raise ValueError(
            f"{what} must not contain NUL characters; found {len(with_nul)}: {examples(with_nul)}"
        )
    dups = _duplicates(names)
    if dups:
        raise ValueError(
            f"{what} must be unique; {len(dups)} duplicated name(s): {examples(dups)}"
        )
    return pd.Index(names, dtype=object)


def count_nonfinite(values: np.ndarray) -> tuple[int, int]:
    return int(np.isnan(values).sum()), int(np.isinf(values).sum())


def check_finite(values: np.ndarray, what: str) -> None:
    n_nan, n_inf = count_nonfinite(values)
    if n_nan or n_inf:
        raise ValueError(
            f"{what} must be finite; found {n_nan} NaN and {n_inf} infinite value(s) "
            f"out of {values.size}"
        )


def as_float_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        raise TypeError(f"{what} must be real numbers, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must be numeric, got dtype {arr.dtype} ({exc})") from None
    return np.array(arr, dtype=np.float64, copy=True)



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
            out[f"{kind}_missing_in_source_examples"] = list(in_source[:_N_EXAMPLES])
            out[f"n_{kind}_missing_in_target"] = len(in_target)
            out[f"{kind}_missing_in_target_examples"] = list(in_target[:_N_EXAMPLES])
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


# ----------------------------------------------------------------------------- model inputs


def checked_coef(coef: Any) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """Return a genes x proteins DataFrame's values (float64 copy, finite) and checked names."""
    if not isinstance(coef, pd.DataFrame):
        raise TypeError(
            f"coef must be a pandas DataFrame (genes x proteins) with names, got "
            f"{type(coef).__name__}; use SourceModel.from_arrays for an array plus names"
        )
    hint = ": give the DataFrame gene names as index and protein names as columns"
    genes = check_names(coef.index, "gene names (coef index)", hint=hint)
    proteins = check_names(coef.columns, "protein names (coef columns)", hint=hint)
    if len(genes) == 0 or len(proteins) == 0:
        raise ValueError(
            f"coef must have at least one gene and one protein, got shape {coef.shape}"
        )
    if any(dt.kind == "c" for dt in coef.dtypes):
        raise TypeError("coef must be real numbers, got a complex column")
    try:
        # na_value maps pandas' NA to NaN so the finiteness check can count it.
        values = coef.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"coef values must be numeric ({exc})") from None
    check_finite(values, "coef")
    return values, genes, proteins


def arrays_frame(coef_pq: Any, genes: Any, proteins: Any) -> pd.DataFrame:
    """Return a genes x proteins array with its name lists as a DataFrame, shapes checked."""
    genes_idx = check_names(genes, "genes")
    proteins_idx = check_names(proteins, "proteins")
    arr = as_float_array(coef_pq, "coef_pq")
    expected = (len(genes_idx), len(proteins_idx))
    if arr.ndim != 2:
        raise ValueError(f"coef_pq must be 2-D (n_genes, n_proteins), got {arr.ndim}-D")
    if arr.shape != expected:
        hint = (
            " It looks transposed (scikit-learn orientation): pass coef_pq.T."
            if arr.shape == expected[::-1]
            else ""
        )
        raise ValueError(
            f"coef_pq has shape {arr.shape} but there are {expected[0]} gene and "
            f"{expected[1]} protein names; expected {expected}.{hint}"
        )
    return pd.DataFrame(arr, index=genes_idx, columns=proteins_idx)


def checked_intercept(intercept: Any, proteins: pd.Index) -> np.ndarray:
    """Return the intercept per protein in ``proteins``' order (a Series by name, else position)."""
    if intercept is None:
        return np.zeros(len(proteins))
    if isinstance(intercept, pd.Series):
        names = check_names(intercept.index, "intercept index")
        missing = proteins.difference(names, sort=False)
        extra = names.difference(proteins, sort=False)
        if len(missing) or len(extra):
            parts = []
            if len(missing):
                parts.append(f"{len(missing)} protein(s) missing: {examples(missing)}")
            if len(extra):
                parts.append(f"{len(extra)} not in coef: {examples(extra)}")
            raise ValueError(
                "intercept index must hold the same protein names as coef's columns; "
                + "; ".join(parts)
            )
        b = as_float_array(intercept.reindex(proteins).to_numpy(), "intercept")
    else:
        b = as_float_array(intercept, "intercept")
        if b.shape != (len(proteins),):
            raise ValueError(
                f"intercept must have shape ({len(proteins)},) (one value per protein, "
                f"in coef's column order), got {b.shape}"
            )
    check_finite(b, "intercept")
    return b


def _estimator_type(estimator: Any) -> str | None:
    """scikit-learn's estimator type from its tags (None for objects without tags)."""
    tags = getattr(estimator, "__sklearn_tags__", None)
    if not callable(tags):
        return None
    try:
        return getattr(tags(), "estimator_type", None)
    except Exception:  # tags of an unfitted or foreign object: not ours to judge
        return None


def _estimator_coef(estimator: Any) -> np.ndarray:
    """Return a fitted linear regressor's ``coef_`` as float64 (n_targets, n_features)."""
    name = type(estimator).__name__
    if _estimator_type(estimator) == "classifier":
        raise TypeError(f"{name} is a classifier; a source model maps RNA to protein levels")
    if not hasattr(estimator, "coef_"):
        extra = (
            " For a Pipeline, pass its final step (e.g. pipe[-1]) and record the "
            "preprocessing in provenance."
            if hasattr(estimator, "steps")
            else ""
        )
        raise TypeError(
            f"{name} has no coef_: pass a fitted linear regressor (e.g. Ridge after fit).{extra}"
        )
    coef = estimator.coef_
    if hasattr(coef, "toarray"):  # scipy.sparse coef_ (some linear models allow it)
        coef = coef.toarray()
    coef = as_float_array(coef, f"{name}.coef_")
    if coef.ndim == 1:
        coef = coef[None, :]
    if coef.ndim != 2:
        raise ValueError(
            f"{name}.coef_ must be 1-D or 2-D (n_targets, n_features), got {coef.ndim}-D"
        )
    return coef


def _estimator_names(
    estimator: Any, n_targets: int, n_features: int, target_names: Any, feature_names: Any
) -> tuple[pd.Index, pd.Index]:
    """Return a fitted regressor's gene and protein names, checked against its ``coef_``."""
    name = type(estimator).__name__
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        genes = check_names(fitted_names, f"{name}.feature_names_in_")
        if feature_names is not None and not genes.equals(
            check_names(feature_names, "feature_names")
        ):
            raise ValueError(
                f"feature_names disagree with {name}.feature_names_in_ (the names "
                "the estimator was fitted with); drop feature_names or fix them"
            )
    elif feature_names is not None:
        genes = check_names(feature_names, "feature_names")
    else:
        raise ValueError(
            f"{name} does not know its feature (gene) names: it was fitted on an array. "
            "Fit it on a pandas DataFrame whose columns are gene names, or pass "
            "feature_names=<gene names in the column order used for fitting>"
        )
    if len(genes) != n_features:
        raise ValueError(
            f"{len(genes)} feature names for {n_features} coefficient(s) per target "
            f"in {name}.coef_"
        )
    if isinstance(target_names, str):
        target_names = [target_names]
    proteins = check_names(target_names, "target_names")
    if len(proteins) != n_targets:
        raise ValueError(
            f"{len(proteins)} target_names for {n_targets} target(s) in {name}.coef_ "
            "(one protein name per row of coef_, in the order of the fitted y columns)"
        )
    return genes, proteins


def _estimator_intercept(estimator: Any, n_targets: int) -> np.ndarray:
    """Return a fitted regressor's ``intercept_``, one value per target (0 when absent)."""
    name = type(estimator).__name__
    b = as_float_array(getattr(estimator, "intercept_", 0.0), f"{name}.intercept_")
    if b.ndim == 0 or b.shape == (1,):
        # fit_intercept=False stores a scalar 0.0 even for several targets.
        b = np.full(n_targets, float(b.reshape(-1)[0]))
    if b.shape != (n_targets,):
        raise ValueError(f"{name}.intercept_ has shape {b.shape}, expected ({n_targets},)")
    return b


def estimator_frame(
    estimator: Any, target_names: Any, feature_names: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return a fitted linear regressor's coefficients (genes x proteins) and intercept."""
    coef = _estimator_coef(estimator)
    n_targets, n_features = coef.shape
    genes, proteins = _estimator_names(
        estimator, n_targets, n_features, target_names, feature_names
    )
    b = _estimator_intercept(estimator, n_targets)
    return pd.DataFrame(coef.T, index=genes, columns=proteins), b


def estimator_params(estimator: Any) -> dict[str, Any]:
    """Return the JSON-safe part of ``estimator.get_params(deep=False)``."""
    params, skipped = {}, []
    for key, value in estimator.get_params(deep=False).items():
        try:
            params[key] = jsonable(value, strict=True, where=key)
        except (TypeError, ValueError):
            skipped.append(key)  # arrays, nested estimators, callables...
    if skipped:
        logger.debug("estimator_params: not recorded (not JSON-safe): %s", skipped)
    return params

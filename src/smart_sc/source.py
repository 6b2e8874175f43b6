"""SourceModel: a source population's RNA-to-protein map that travels without its data.

A :class:`SourceModel` is what SMART needs from a source population: a linear map
from genes to proteins (``coef``, genes x proteins, named on both sides), an
intercept per protein, and provenance (which population, how many cells, which
preprocessing, which estimator, which smart_sc version). It is saved as a single
``.npz`` file that holds only numeric and fixed-width text arrays plus one JSON
string, and is read with ``allow_pickle=False``, so loading a file can never run
code.

Names, not positions, decide how a source meets a target:
:meth:`SourceModel.aligned` matches genes and proteins by name, reports what is
missing on either side and returns the coefficients in the target's order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMAT", "FORMAT_VERSION", "SourceAlignment", "SourceModel", "as_source_model"]

logger = logging.getLogger("smart_sc")

#: Identifies our files; anything else with a ``metadata`` entry is "not ours".
FORMAT = "smart_sc.SourceModel"
#: Bumped whenever the layout changes; readers refuse versions they do not know.
FORMAT_VERSION = 1

# Exactly what a version-1 file holds. A strict set lets a stray or tampered
# archive be told apart from one of ours.
_ENTRIES = frozenset({"metadata", "coef", "intercept", "genes", "proteins"})
_N_EXAMPLES = 5
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load itself checks for an .npz


# ----------------------------------------------------------------------------- helpers


def _examples(names: Sequence[str], k: int = _N_EXAMPLES) -> str:
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


def _check_names(values: Iterable[Any], what: str, *, hint: str = "") -> pd.Index:
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
            f"{_examples(not_str)}. Alignment is by name, never by position{hint}"
        )
    names = [str(n) for n in names]  # np.str_ -> str, so equality and JSON behave plainly
    empty = sum(1 for n in names if not n)
    if empty:
        raise ValueError(f"{what} must be non-empty strings; found {empty} empty name(s)")
    # Fixed-width unicode arrays in the file drop trailing NULs; a NUL has no place
    # in a gene or protein name, so refuse it rather than change names on a round trip.
    with_nul = [n for n in names if "\x00" in n]
    if with_nul:
        raise ValueError(
            f"{what} must not contain NUL characters; found {len(with_nul)}: {_examples(with_nul)}"
        )
    dups = _duplicates(names)
    if dups:
        raise ValueError(
            f"{what} must be unique; {len(dups)} duplicated name(s): {_examples(dups)}"
        )
    return pd.Index(names, dtype=object)


def _count_nonfinite(values: np.ndarray) -> tuple[int, int]:
    return int(np.isnan(values).sum()), int(np.isinf(values).sum())


def _check_finite(values: np.ndarray, what: str) -> None:
    n_nan, n_inf = _count_nonfinite(values)
    if n_nan or n_inf:
        raise ValueError(
            f"{what} must be finite; found {n_nan} NaN and {n_inf} infinite value(s) "
            f"out of {values.size}"
        )


def _as_float_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        raise TypeError(f"{what} must be real numbers, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} must be numeric, got dtype {arr.dtype} ({exc})") from None
    return np.array(arr, dtype=np.float64, copy=True)


def _jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types (what a JSON round trip gives back) or raise.

    Normalising up front (tuples to lists, numpy scalars to Python numbers) means a
    model compares equal to itself after save/load. ``where`` names the offending
    key in errors.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # np.str_ -> str
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()  # numpy scalars (e.g. ``adata.n_obs`` arithmetic) are common here
        if isinstance(value, bool):
            return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number for JSON, got {value!r}")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                # JSON would silently turn 1 into "1"; refuse instead of changing keys.
                raise TypeError(f"{where} has a non-string key {k!r}; JSON keys must be strings")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{where} is not JSON-serialisable: got {type(value).__name__}. Provenance holds "
        "plain values only (str, int, float, bool, None, lists and dicts of them)"
    )


def _package_version() -> str:
    try:
        return version("smart-sc")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- alignment


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
            f"{_examples(source)}) and the target ({len(target)} {kind}, e.g. "
            f"{_examples(target)}).{case_hint}"
        )
    return idx, missing_in_source, missing_in_target


# ----------------------------------------------------------------------------- SourceModel


class SourceModel:
    """A named linear RNA-to-protein map with provenance, saved without pickle.

    Parameters
    ----------
    coef : pandas.DataFrame
        Coefficients, genes x proteins: index = gene names, columns = protein
        names (non-empty, unique strings), finite numeric values. Copied and
        stored as float64.
    intercept : pandas.Series, array-like of shape (n_proteins,) or None
        Intercept per protein. A Series is matched to ``coef``'s columns by name;
        an array is taken in ``coef``'s column order. ``None``: zeros.
    provenance : dict or None
        JSON-serialisable description of where the model came from. Suggested
        keys: ``population``, ``n_cells``, ``preprocessing``, ``estimator``,
        ``estimator_params``. ``created`` (UTC, ISO 8601) and
        ``smart_sc_version`` are filled in when absent.

    Attributes
    ----------
    coef : pandas.DataFrame
        Genes x proteins, float64.
    intercept : pandas.Series
        Indexed by protein names, float64.
    provenance : dict
        Plain JSON values (tuples stored as lists).

    See Also
    --------
    SourceModel.from_dataframe, SourceModel.from_estimator, SourceModel.from_arrays
    SourceModel.load, SourceModel.aligned

    Notes
    -----
    Treat instances as read-only: build a new one rather than editing ``coef``.

    The file written by :meth:`save` is an uncompressed ``.npz`` archive with
    entries ``coef`` (float64, genes x proteins), ``intercept`` (float64),
    ``genes`` and ``proteins`` (fixed-width unicode) and ``metadata`` (one JSON
    string with ``format``, ``format_version``, the shape and the provenance).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from smart_sc.source import SourceModel
    >>> coef = pd.DataFrame(
    ...     [[0.5, 0.0], [0.1, 2.0], [0.0, -1.0]],
    ...     index=["CD3E", "MS4A1", "LYZ"],
    ...     columns=["CD3", "CD19"],
    ... )
    >>> model = SourceModel.from_dataframe(coef, population="PBMC", n_cells=5000)
    >>> model.n_genes, model.n_proteins
    (3, 2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "pbmc_source.npz")
    ...     model.save(path)
    ...     SourceModel.load(path).equals(model)
    True
    """

    def __init__(
        self,
        coef: pd.DataFrame,
        intercept: pd.Series | Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self._setup(coef, intercept, provenance, fill_defaults=True)

    def _setup(
        self,
        coef: pd.DataFrame,
        intercept: Any,
        provenance: Mapping[str, Any] | None,
        *,
        fill_defaults: bool,
    ) -> None:
        if not isinstance(coef, pd.DataFrame):
            raise TypeError(
                f"coef must be a pandas DataFrame (genes x proteins) with names, got "
                f"{type(coef).__name__}; use SourceModel.from_arrays for an array plus names"
            )
        hint = ": give the DataFrame gene names as index and protein names as columns"
        genes = _check_names(coef.index, "gene names (coef index)", hint=hint)
        proteins = _check_names(coef.columns, "protein names (coef columns)", hint=hint)
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
        _check_finite(values, "coef")

        if intercept is None:
            b = np.zeros(len(proteins))
        elif isinstance(intercept, pd.Series):
            names = _check_names(intercept.index, "intercept index")
            missing = proteins.difference(names, sort=False)
            extra = names.difference(proteins, sort=False)
            if len(missing) or len(extra):
                parts = []
                if len(missing):
                    parts.append(f"{len(missing)} protein(s) missing: {_examples(missing)}")
                if len(extra):
                    parts.append(f"{len(extra)} not in coef: {_examples(extra)}")
                raise ValueError(
                    "intercept index must hold the same protein names as coef's columns; "
                    + "; ".join(parts)
                )
            # Same set of names: reorder by name, never by position.
            b = _as_float_array(intercept.reindex(proteins).to_numpy(), "intercept")
        else:
            b = _as_float_array(intercept, "intercept")
            if b.shape != (len(proteins),):
                raise ValueError(
                    f"intercept must have shape ({len(proteins)},) (one value per protein, "
                    f"in coef's column order), got {b.shape}"
                )
        _check_finite(b, "intercept")

        if provenance is None:
            provenance = {}
        if not isinstance(provenance, Mapping):
            raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")
        prov = _jsonable(dict(provenance), "provenance")
        if fill_defaults:
            prov.setdefault("created", _now_utc())
            prov.setdefault("smart_sc_version", _package_version())

        self.coef = pd.DataFrame(values, index=genes, columns=proteins)
        self.coef.index.name = "gene"
        self.coef.columns.name = "protein"
        self.intercept = pd.Series(b, index=proteins.copy(), name="intercept")
        self.intercept.index.name = "protein"
        self.provenance: dict[str, Any] = prov

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_dataframe(
        cls,
        coef: pd.DataFrame,
        intercept: pd.Series | Sequence[float] | np.ndarray | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a genes x proteins DataFrame.

        Parameters
        ----------
        coef : pandas.DataFrame
            Index = gene names, columns = protein names.
        intercept : pandas.Series, array-like or None
            Per protein (Series matched by name). ``None``: zeros.
        **provenance
            JSON-serialisable provenance, e.g. ``population="PBMC"``,
            ``n_cells=5000``, ``preprocessing={"rna": "log1p", "prot": "clr"}``.

        Returns
        -------
        SourceModel

        Examples
        --------
        >>> import pandas as pd
        >>> from smart_sc.source import SourceModel
        >>> coef = pd.DataFrame([[1.0, 0.0]], index=["CD3E"], columns=["CD3", "CD19"])
        >>> m = SourceModel.from_dataframe(coef, pd.Series({"CD19": 0.2, "CD3": 0.1}))
        >>> m.intercept.tolist()
        [0.1, 0.2]
        """
        return cls(coef, intercept, provenance)

    @classmethod
    def from_arrays(
        cls,
        coef_pq: Any,
        genes: Sequence[str],
        proteins: Sequence[str],
        intercept: Sequence[float] | np.ndarray | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a genes x proteins array and the two name lists.

        Parameters
        ----------
        coef_pq : array-like of shape (n_genes, n_proteins)
            Coefficients, one row per gene (not scikit-learn's orientation:
            pass ``estimator.coef_.T`` or use :meth:`from_estimator`).
        genes, proteins : sequence of str
            Names of the rows and columns of ``coef_pq``.
        intercept : array-like of shape (n_proteins,) or None
            In the order of ``proteins``. ``None``: zeros.
        **provenance
            JSON-serialisable provenance.

        Returns
        -------
        SourceModel

        Examples
        --------
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays(np.eye(2), ["CD3E", "MS4A1"], ["CD3", "CD19"])
        >>> m.coef
        protein  CD3  CD19
        gene
        CD3E     1.0   0.0
        MS4A1    0.0   1.0
        """
        genes_idx = _check_names(genes, "genes")
        proteins_idx = _check_names(proteins, "proteins")
        arr = _as_float_array(coef_pq, "coef_pq")
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
        frame = pd.DataFrame(arr, index=genes_idx, columns=proteins_idx)
        return cls(frame, intercept, provenance)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        target_names: Sequence[str] | str,
        feature_names: Sequence[str] | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a fitted scikit-learn linear regressor.

        Parameters
        ----------
        estimator : object
            Fitted linear regressor with ``coef_`` of shape
            ``(n_targets, n_features)`` or ``(n_features,)`` and optionally
            ``intercept_`` (e.g. ``Ridge``, ``LinearRegression``, ``Lasso``,
            :class:`~smart_sc.SMARTRegressor`). For a ``Pipeline``, pass its
            final step and record the preprocessing in ``provenance``.
        target_names : sequence of str
            Protein names, one per row of ``coef_`` (scikit-learn does not store
            the names of the responses). A single string is taken as the one
            name of a single-output model.
        feature_names : sequence of str or None
            Gene names, needed only when the estimator was fitted on an array
            (otherwise its ``feature_names_in_`` is used; if both are given they
            must agree).
        **provenance
            JSON-serialisable provenance. ``estimator`` (class name) and
            ``estimator_params`` (the JSON-safe part of ``get_params()``) are
            recorded unless given.

        Returns
        -------
        SourceModel

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sklearn.linear_model import Ridge
        >>> from smart_sc.source import SourceModel
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["CD3E", "MS4A1", "LYZ"])
        >>> Y = X.to_numpy() @ rng.normal(size=(3, 2))
        >>> m = SourceModel.from_estimator(Ridge(alpha=1.0).fit(X, Y),
        ...                                target_names=["CD3", "CD19"], population="PBMC")
        >>> m.genes.tolist(), m.provenance["estimator"], m.provenance["estimator_params"]["alpha"]
        (['CD3E', 'MS4A1', 'LYZ'], 'Ridge', 1.0)
        """
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
                f"{name} has no coef_: pass a fitted linear regressor (e.g. Ridge after "
                f"fit).{extra}"
            )
        coef = estimator.coef_
        if hasattr(coef, "toarray"):  # scipy.sparse coef_ (some linear models allow it)
            coef = coef.toarray()
        coef = _as_float_array(coef, f"{name}.coef_")
        if coef.ndim == 1:
            coef = coef[None, :]
        if coef.ndim != 2:
            raise ValueError(
                f"{name}.coef_ must be 1-D or 2-D (n_targets, n_features), got {coef.ndim}-D"
            )
        n_targets, n_features = coef.shape

        fitted_names = getattr(estimator, "feature_names_in_", None)
        if fitted_names is not None:
            genes = _check_names(fitted_names, f"{name}.feature_names_in_")
            if feature_names is not None:
                given = _check_names(feature_names, "feature_names")
                if not genes.equals(given):
                    raise ValueError(
                        f"feature_names disagree with {name}.feature_names_in_ (the names "
                        "the estimator was fitted with); drop feature_names or fix them"
                    )
        elif feature_names is not None:
            genes = _check_names(feature_names, "feature_names")
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
        proteins = _check_names(target_names, "target_names")
        if len(proteins) != n_targets:
            raise ValueError(
                f"{len(proteins)} target_names for {n_targets} target(s) in {name}.coef_ "
                "(one protein name per row of coef_, in the order of the fitted y columns)"
            )

        raw_b = getattr(estimator, "intercept_", 0.0)
        b = _as_float_array(raw_b, f"{name}.intercept_")
        if b.ndim == 0 or b.shape == (1,):
            # fit_intercept=False stores a scalar 0.0 even for several targets.
            b = np.full(n_targets, float(b.reshape(-1)[0]))
        if b.shape != (n_targets,):
            raise ValueError(f"{name}.intercept_ has shape {b.shape}, expected ({n_targets},)")

        prov = dict(provenance)
        prov.setdefault("estimator", name)
        if "estimator_params" not in prov and hasattr(estimator, "get_params"):
            params: dict[str, Any] = {}
            skipped = []
            for key, value in estimator.get_params(deep=False).items():
                try:
                    params[key] = _jsonable(value, key)
                except (TypeError, ValueError):
                    skipped.append(key)  # arrays, nested estimators, callables...
            if skipped:
                logger.debug("estimator_params: not recorded (not JSON-safe): %s", skipped)
            prov["estimator_params"] = params
        frame = pd.DataFrame(coef.T, index=genes, columns=proteins)
        return cls(frame, b, prov)

    # ------------------------------------------------------------------ properties

    @property
    def genes(self) -> pd.Index:
        """Gene names (rows of ``coef``)."""
        return self.coef.index

    @property
    def proteins(self) -> pd.Index:
        """Protein names (columns of ``coef``)."""
        return self.coef.columns

    @property
    def n_genes(self) -> int:
        """Number of genes."""
        return self.coef.shape[0]

    @property
    def n_proteins(self) -> int:
        """Number of proteins."""
        return self.coef.shape[1]

    def __repr__(self) -> str:
        parts = [f"{self.n_genes} genes x {self.n_proteins} proteins"]
        for key in ("population", "n_cells", "estimator"):
            if key in self.provenance:
                parts.append(f"{key}={self.provenance[key]!r}")
        if "smart_sc_version" in self.provenance:
            parts.append(f"smart_sc {self.provenance['smart_sc_version']}")
        return f"SourceModel({', '.join(parts)})"

    def equals(self, other: object) -> bool:
        """Exact equality of names (and their order), values, intercept and provenance.

        Parameters
        ----------
        other : object
            Anything; only a :class:`SourceModel` can be equal.

        Returns
        -------
        bool

        Examples
        --------
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> a = SourceModel.from_arrays(np.eye(2), ["g1", "g2"], ["p1", "p2"], created="x")
        >>> b = SourceModel.from_arrays(np.eye(2), ["g2", "g1"], ["p1", "p2"], created="x")
        >>> a.equals(a), a.equals(b)
        (True, False)
        """
        if not isinstance(other, SourceModel):
            return False
        return (
            self.genes.tolist() == other.genes.tolist()
            and self.proteins.tolist() == other.proteins.tolist()
            and np.array_equal(self.coef.to_numpy(), other.coef.to_numpy())
            and np.array_equal(self.intercept.to_numpy(), other.intercept.to_numpy())
            and self.provenance == other.provenance
        )

    # ------------------------------------------------------------------ alignment

    def aligned(self, genes: Iterable[str], proteins: Iterable[str]) -> SourceAlignment:
        """Match the model to a target's genes and proteins by name.

        Parameters
        ----------
        genes : sequence of str
            Target gene names (e.g. ``mdata["rna"].var_names``), unique.
        proteins : sequence of str
            Target protein names (e.g. ``mdata["prot"].var_names``), unique.

        Returns
        -------
        SourceAlignment
            Coefficients in the target's order: zero rows for target genes the
            source lacks (they contribute nothing to the source's prediction),
            zero columns and ``protein_mask == False`` for target proteins the
            source lacks (nothing to transfer for them). Source genes and
            proteins the target lacks are dropped and listed. The intercept is
            the source's, unchanged.

        Raises
        ------
        ValueError
            If no gene or no protein is shared, or target names are duplicated.

        Examples
        --------
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays([[1.0], [2.0], [3.0]], ["A", "B", "C"], ["P"])
        >>> al = m.aligned(["C", "A", "D"], ["P"])
        >>> al.coef.ravel().tolist(), al.missing_genes_in_source, al.missing_genes_in_target
        ([3.0, 1.0, 0.0], ('D',), ('B',))
        """
        hint = ": pass the target's names (e.g. adata.var_names)"
        target_genes = _check_names(genes, "target gene names", hint=hint)
        target_proteins = _check_names(proteins, "target protein names", hint=hint)
        g_idx, g_miss_src, g_miss_tgt = _match(self.genes, target_genes, "genes")
        p_idx, p_miss_src, p_miss_tgt = _match(self.proteins, target_proteins, "proteins")
        g_mask = g_idx >= 0
        p_mask = p_idx >= 0

        coef = np.zeros((len(target_genes), len(target_proteins)))
        coef[np.ix_(g_mask, p_mask)] = self.coef.to_numpy()[np.ix_(g_idx[g_mask], p_idx[p_mask])]
        intercept = np.zeros(len(target_proteins))
        intercept[p_mask] = self.intercept.to_numpy()[p_idx[p_mask]]
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
            f", e.g. {_examples(g_miss_src)}" if g_miss_src else "",
            len(g_miss_tgt),
            f", e.g. {_examples(g_miss_tgt)}" if g_miss_tgt else "",
            int(p_mask.sum()),
            len(target_proteins),
            len(p_miss_src),
            f", e.g. {_examples(p_miss_src)}" if p_miss_src else "",
            len(p_miss_tgt),
            f", e.g. {_examples(p_miss_tgt)}" if p_miss_tgt else "",
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

    # ------------------------------------------------------------------ file format

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_genes": self.n_genes,
            "n_proteins": self.n_proteins,
            "written_by": f"smart_sc {_package_version()}",
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` atomically, as a pickle-free ``.npz`` file.

        The file is written to a temporary file in the same directory, flushed to
        disk and then renamed over ``path``, so readers see either the old file
        or the complete new one, never a partial file. Exactly ``path`` is
        written (no suffix is added).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file; its directory must exist.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays(np.ones((2, 1)), ["A", "B"], ["P"], population="T")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     m.save(os.path.join(d, "model.smart"))
        ...     sorted(os.listdir(d))
        ['model.smart']
        """
        path = Path(os.fspath(path))
        directory = path.parent
        arrays = {
            "metadata": np.array(json.dumps(self._metadata(), allow_nan=False, sort_keys=True)),
            "coef": np.ascontiguousarray(self.coef.to_numpy(dtype=np.float64)),
            "intercept": np.ascontiguousarray(self.intercept.to_numpy(dtype=np.float64)),
            "genes": np.array(self.genes.tolist(), dtype=np.str_),
            "proteins": np.array(self.proteins.tolist(), dtype=np.str_),
        }
        tmp, fd = _create_temp(directory, path.name)
        try:
            with os.fdopen(fd, "wb") as fh:
                # A file handle, not a str path: numpy would append ".npz" to a bare name.
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(OSError):
                # Keep the permissions of a file we replace, as an in-place write would.
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_directory(directory)
        logger.debug("saved %r to %s", self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SourceModel:
        """Read a model written by :meth:`save`, without running any code from the file.

        The file is opened with ``numpy.load(allow_pickle=False)`` and every entry
        is checked (format name and version, entries, dtypes, shapes, finite
        values, names) before a model is built.

        Parameters
        ----------
        path : str or os.PathLike
            File written by :meth:`save`.

        Returns
        -------
        SourceModel

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a smart_sc SourceModel file, is damaged, holds
            Python objects, or was written by a newer smart_sc (format version).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays(np.ones((2, 1)), ["A", "B"], ["P"], n_cells=10)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "model.npz")
        ...     m.save(path)
        ...     loaded = SourceModel.load(path)
        >>> loaded.provenance["n_cells"], loaded.equals(m)
        (10, True)
        """
        path = Path(os.fspath(path))
        not_ours = f"{path} is not a smart_sc SourceModel file"
        # FileNotFoundError (and other errors opening the file) pass through unchanged.
        with open(path, "rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
            fh.seek(0)
            # Only a zip archive ever reaches np.load. Anything else would send numpy
            # down its pickle branch, whose refusal message invites unsafe loading.
            if magic.startswith(_NPY_MAGIC):
                raise ValueError(f"{not_ours}: it holds a single NumPy array, not an .npz archive")
            if not magic.startswith(_ZIP_MAGIC):
                raise ValueError(
                    f"{not_ours}: it is not an .npz archive (no zip signature at its start)"
                )
            try:
                archive = np.load(fh, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(
                    f"{not_ours}, or it is damaged: it cannot be read as an .npz archive ({exc})"
                ) from exc
            with archive:
                return cls._from_archive(archive, path, not_ours)

    @classmethod
    def _from_archive(cls, archive: Any, path: Path, not_ours: str) -> SourceModel:
        entries = set(archive.files)
        if "metadata" not in entries:
            raise ValueError(
                f"{not_ours}: it has no 'metadata' entry (entries: "
                f"{_examples(sorted(entries)) or 'none'})"
            )
        damaged = f"{path} is a damaged smart_sc SourceModel file"

        meta_arr = _read_entry(archive, "metadata", path, damaged)
        if meta_arr.ndim != 0 or meta_arr.dtype.kind != "U":
            raise ValueError(f"{not_ours}: its 'metadata' entry is not a text string")
        try:
            meta = json.loads(str(meta_arr[()]))
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"{not_ours}: its metadata is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            fmt = meta.get("format") if isinstance(meta, dict) else None
            raise ValueError(f"{not_ours}: format is {fmt!r}, expected {FORMAT!r}")
        version = meta.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"{damaged}: format_version is {version!r}, not an integer")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{path} uses SourceModel format version {version} (written by "
                f"{meta.get('written_by', 'a newer smart_sc')}); this smart_sc "
                f"({_package_version()}) reads format version {FORMAT_VERSION} at most. "
                "Upgrade smart_sc to load it."
            )
        if version < 1:
            raise ValueError(f"{damaged}: unsupported format_version {version}")

        missing = sorted(_ENTRIES - entries)
        extra = sorted(entries - _ENTRIES)
        if missing:
            raise ValueError(f"{damaged}: missing entries {missing}")
        if extra:
            raise ValueError(f"{damaged}: unexpected entries {extra}")

        n_genes, n_proteins = meta.get("n_genes"), meta.get("n_proteins")
        for key, val in (("n_genes", n_genes), ("n_proteins", n_proteins)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"{damaged}: metadata {key} is {val!r}, not a positive integer")
        provenance = meta.get("provenance", {})
        if not isinstance(provenance, dict):
            raise ValueError(f"{damaged}: provenance is {type(provenance).__name__}, not a dict")

        arrays = {
            k: _read_entry(archive, k, path, damaged) for k in sorted(_ENTRIES - {"metadata"})
        }
        expected = {
            "coef": ("f", (n_genes, n_proteins)),
            "intercept": ("f", (n_proteins,)),
            "genes": ("U", (n_genes,)),
            "proteins": ("U", (n_proteins,)),
        }
        for key, (kind, shape) in expected.items():
            arr = arrays[key]
            if arr.dtype.kind != kind:
                what = "floating-point" if kind == "f" else "text"
                raise ValueError(f"{damaged}: {key!r} has dtype {arr.dtype}, expected {what}")
            if arr.shape != shape:
                raise ValueError(
                    f"{damaged}: {key!r} has shape {arr.shape}, expected {shape} "
                    "(from the metadata)"
                )
        for key in ("coef", "intercept"):
            n_nan, n_inf = _count_nonfinite(arrays[key])
            if n_nan or n_inf:
                raise ValueError(
                    f"{damaged}: {key!r} holds {n_nan} NaN and {n_inf} infinite value(s)"
                )

        model = cls.__new__(cls)
        try:
            frame = pd.DataFrame(
                arrays["coef"].astype(np.float64),
                index=pd.Index(arrays["genes"].tolist(), dtype=object),
                columns=pd.Index(arrays["proteins"].tolist(), dtype=object),
            )
            # No defaults filled: a loaded model says what the file says.
            model._setup(frame, arrays["intercept"], provenance, fill_defaults=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{damaged}: {exc}") from exc
        logger.debug("loaded %r from %s", model, path)
        return model


def _estimator_type(estimator: Any) -> str | None:
    """scikit-learn's estimator type from its tags (None for objects without tags)."""
    tags = getattr(estimator, "__sklearn_tags__", None)
    if not callable(tags):
        return None
    try:
        return getattr(tags(), "estimator_type", None)
    except Exception:  # tags of an unfitted or foreign object: not ours to judge
        return None


def _read_entry(archive: Any, key: str, path: Path, damaged: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(
                f"{path}: entry {key!r} holds Python objects (pickled data). smart_sc never "
                "writes these and refuses to load them, because unpickling can run code"
            ) from exc
        raise ValueError(f"{damaged}: entry {key!r} could not be read ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{damaged}: entry {key!r} could not be read ({exc})") from exc


def _create_temp(directory: Path, name: str) -> tuple[Path, int]:
    """Create a fresh temporary file next to the destination; return its path and descriptor.

    ``O_EXCL`` with mode 0o666 (as ``tempfile`` does, but with 0o666 rather than
    0o600) so the saved file gets the usual umask permissions: a model meant to
    travel should be readable by whoever could read a normally written file.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- coercion


def as_source_model(
    source: Any,
    *,
    target_names: Sequence[str] | str | None = None,
    feature_names: Sequence[str] | None = None,
) -> SourceModel:
    """Turn what a user may pass as a source into a :class:`SourceModel`.

    Parameters
    ----------
    source : SourceModel, pandas.DataFrame, str, os.PathLike or fitted estimator
        A model (returned as is), a genes x proteins DataFrame, a path to a file
        written by :meth:`SourceModel.save`, or a fitted linear regressor.
    target_names : sequence of str or None
        Protein names, required for an estimator (see
        :meth:`SourceModel.from_estimator`).
    feature_names : sequence of str or None
        Gene names for an estimator fitted on an array.

    Returns
    -------
    SourceModel

    Examples
    --------
    >>> import pandas as pd
    >>> from smart_sc.source import as_source_model
    >>> as_source_model(pd.DataFrame({"CD3": [1.0]}, index=["CD3E"])).proteins.tolist()
    ['CD3']
    """
    if isinstance(source, SourceModel):
        return source
    if isinstance(source, pd.DataFrame):
        return SourceModel.from_dataframe(source)
    if isinstance(source, (str, os.PathLike)):
        return SourceModel.load(source)
    if hasattr(source, "coef_"):
        if target_names is None:
            raise ValueError(
                f"a {type(source).__name__} does not know its target (protein) names: pass "
                "target_names=<protein names in the order of the fitted y columns>"
            )
        return SourceModel.from_estimator(
            source, target_names=target_names, feature_names=feature_names
        )
    raise TypeError(
        "source must be a SourceModel, a genes x proteins DataFrame, a path to a saved "
        f"SourceModel or a fitted linear regressor; got {type(source).__name__}"
    )

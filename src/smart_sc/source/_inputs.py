"""What a :class:`~smart_sc.source.SourceModel` is built from, checked and named.

A genes x proteins DataFrame (:func:`checked_coef`), an array with its name
lists (:func:`arrays_frame`), an intercept by name or position
(:func:`checked_intercept`), or a fitted scikit-learn linear regressor
(:func:`estimator_frame`, :func:`estimator_params`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .._core.arrays import check_finite
from .._jsonable import jsonable
from ._names import as_float_array, check_names, examples

__all__ = ["arrays_frame", "checked_coef", "checked_intercept", "estimator_frame",
           "estimator_params"]

logger = logging.getLogger("smart_sc")


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

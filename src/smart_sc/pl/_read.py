"""What the plots read from a stored fit: its record, its coefficients, a model's factors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from mudata import MuData

from ..get import check_finite
from ..get._modalities import modality_adata
from ..source import SourceModel
from ..tl import to_model

__all__ = ["aligned", "coef_of", "fit_uns"]


def fit_uns(data, key: str, modality_in: str) -> Mapping:
    """``.uns[key]`` of the container, else of the RNA modality.

    Without a record under ``key`` in either, the ``ValueError`` lists the
    keys of each ``.uns`` searched (the MuData's own, where ``tl.transfer``
    and ``tl.evaluate`` write, and the RNA modality's, where ``tl.predict``
    writes).
    """
    if isinstance(data, MuData) and isinstance(data.uns.get(key), Mapping):
        return data.uns[key]
    rna = modality_adata(data, modality_in)
    info = rna.uns.get(key)
    if not isinstance(info, Mapping):
        if isinstance(data, MuData):
            searched = (f"the MuData's .uns has {sorted(data.uns)} and .uns of modality "
                        f"{modality_in!r} has {sorted(rna.uns)}")
        else:
            searched = f".uns has {sorted(rna.uns)}"
        raise ValueError(f"no results stored under key {key!r}: {searched}")
    return info


def coef_of(obj: Any, *, key: str, modality_in: str, what: str) -> pd.DataFrame | np.ndarray:
    """Genes x proteins coefficients of a model, a DataFrame, an array or a stored fit."""
    if isinstance(obj, SourceModel):
        coef = obj.coef
    elif isinstance(obj, pd.DataFrame):
        try:
            coef = obj.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what}: the DataFrame must be numeric ({err})") from None
    elif isinstance(obj, MuData | AnnData):
        # A stored tl.transfer fit, on the genes and proteins it used.
        try:
            coef = to_model(obj, key=key, modality_in=modality_in).coef
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
    elif hasattr(obj, "coef_"):
        # scikit-learn layout (n_targets, n_features) -> genes x proteins.
        coef = np.atleast_2d(np.asarray(obj.coef_, dtype=np.float64)).T
    else:
        try:
            coef = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{what}: expected a SourceModel, a genes x proteins DataFrame or array, "
                f"a fitted estimator or a MuData/AnnData, got {type(obj).__name__}"
            ) from None
        if coef.ndim != 2:
            raise ValueError(f"{what}: coefficients must be 2-D (genes x proteins), got "
                             f"shape {coef.shape}")
    values = np.asarray(coef)
    if values.size == 0:
        raise ValueError(f"{what}: the coefficient matrix is empty (shape {values.shape})")
    check_finite(values, f"{what}: the coefficients")
    return coef


def aligned(source, target) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices on their shared genes and proteins (by name when both are named)."""
    if isinstance(source, pd.DataFrame) and isinstance(target, pd.DataFrame):
        genes = source.index.intersection(target.index, sort=False)
        proteins = source.columns.intersection(target.columns, sort=False)
        if len(genes) == 0 or len(proteins) == 0:
            raise ValueError(
                f"source and target share {len(genes)} gene(s) and {len(proteins)} "
                "protein(s); both must be non-zero to compare them"
            )
        return (source.loc[genes, proteins].to_numpy(np.float64),
                target.loc[genes, proteins].to_numpy(np.float64))
    A, B = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(
            f"source has shape {A.shape} and target {B.shape}; without gene and protein "
            "names (DataFrames or SourceModels) the shapes must match"
        )
    return A, B


# --------------------------------------------------------------------------- plots



"""Shared helpers of :mod:`smart_sc.pp`: modality lookup, count checks, records."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

try:
    import mudata as md
    from mudata import MuData
except ImportError:  # pragma: no cover
    md = None
    MuData = ()  # type: ignore[assignment,misc]

from .._jsonable import jsonable
from .._modalities import (
    PairedModalities,
    check_finite,
    modality_adata,
    resolve_modalities,
    select_cells,
)

logger = logging.getLogger("smart_sc")

#: Key of the preprocessing record in a modality's ``.uns``.
PREP_KEY = "smart_sc_preprocessing"


def check_counts(M, what: str, hint: str) -> None:
    """Raise ``ValueError`` unless ``M`` looks like raw counts (finite, >= 0, integers)."""
    check_finite(M, what)
    values = M.data if sp.issparse(M) else np.asarray(M)
    n_neg = int((values < 0).sum())
    if n_neg:
        raise ValueError(
            f"{what} has {n_neg} negative value(s): it looks already normalised/scaled, not raw "
            f"counts. {hint}"
        )
    n_frac = int((values != np.round(values)).sum())
    if n_frac:
        raise ValueError(
            f"{what} has {n_frac} non-integer value(s): it looks already normalised or "
            f"log-transformed, not raw counts (normalising twice is wrong). {hint}"
        )


def as_float(M):
    """Return a float copy of ``M`` (dense or sparse); float32/64 kept, others to float64."""
    dtype = M.dtype if np.issubdtype(M.dtype, np.floating) else np.float64
    if sp.issparse(M):
        return M.astype(dtype, copy=True)
    return np.array(M, dtype=dtype, copy=True)


def record(adata: AnnData, step: str, params: dict) -> None:
    """Store ``params`` as ``adata.uns["smart_sc_preprocessing"][step]`` and log the step."""
    prep = adata.uns.get(PREP_KEY)
    prep = dict(prep) if isinstance(prep, dict) else {}
    steps = [str(s) for s in prep.get("steps", [])]
    prep[step] = jsonable(params)
    prep["steps"] = [*steps, step]
    adata.uns[PREP_KEY] = prep


def update_mudata(data) -> None:
    """Resynchronise a MuData after a modality changed its variables."""
    if isinstance(data, MuData):
        with md.set_options(pull_on_update=False):
            data.update()


def copy_data(data):
    """Copy a MuData or an AnnData (a MuData without pulling columns)."""
    if isinstance(data, MuData):
        with md.set_options(pull_on_update=False):
            return data.copy()
    return data.copy()


def resolve_groups(pair: PairedModalities, groups) -> dict[str, pd.Index]:
    """Named populations as paired cell names.

    ``groups`` is a dict ``{name: mask}`` (each mask as accepted by
    :func:`smart_sc.tl._modalities.select_cells`: boolean array over the
    container's obs, obs names, or a boolean ``.obs`` column) or the name of a
    categorical ``.obs`` column of the container (one population per category).
    """
    obs = pair.container.obs
    if isinstance(groups, str):
        if groups not in obs.columns:
            raise ValueError(
                f"groups {groups!r} is not a column of .obs; it has {list(obs.columns)}"
            )
        col = obs[groups]
        cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.unique()
        groups = {str(c): (col == c).to_numpy() for c in cats}
    if not isinstance(groups, dict) or not groups:
        raise ValueError(
            "groups must be a non-empty dict {name: mask or obs names} or the name of an .obs "
            f"column, got {type(groups).__name__}"
        )
    return {str(name): select_cells(pair, mask) for name, mask in groups.items()}


def rows(M, obs_names: pd.Index, cells: pd.Index):
    """Rows of ``M`` (indexed by ``obs_names``) for ``cells``."""
    return M[pd.Index(obs_names).get_indexer(cells)]


__all__ = [
    "PREP_KEY",
    "as_float",
    "check_counts",
    "check_finite",
    "copy_data",
    "jsonable",
    "logger",
    "modality_adata",
    "record",
    "resolve_groups",
    "resolve_modalities",
    "rows",
    "update_mudata",
]

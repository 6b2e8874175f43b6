"""The preprocessing record each step of :mod:`smart_sc.pp` leaves in ``.uns``."""

from __future__ import annotations

import logging

from anndata import AnnData

from .._jsonable import jsonable

logger = logging.getLogger("smart_sc")

#: Key of the preprocessing record in a modality's ``.uns``.
PREP_KEY = "smart_sc_preprocessing"


def record(adata: AnnData, step: str, params: dict) -> None:
    """Store ``params`` as ``adata.uns["smart_sc_preprocessing"][step]`` and log the step."""
    prep = adata.uns.get(PREP_KEY)
    prep = dict(prep) if isinstance(prep, dict) else {}
    steps = [str(s) for s in prep.get("steps", [])]
    prep[step] = jsonable(params)
    prep["steps"] = [*steps, step]
    adata.uns[PREP_KEY] = prep


__all__ = ["PREP_KEY", "logger", "record"]

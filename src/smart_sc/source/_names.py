"""Names and numbers a source model is built from: checked before anything aligns by them.

Names are non-empty, unique strings, since alignment is by name, never by
position; values are real and finite. Messages show a few example names
(:func:`examples`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["N_EXAMPLES", "as_float_array", "check_names", "examples"]

#: How many names a message or a summary shows.
N_EXAMPLES = 5


def examples(names: Sequence[str], k: int = N_EXAMPLES) -> str:
    """Format up to ``k`` names as ``'a', 'b' (+7 more)``, short enough for a log line."""
    shown = ", ".join(repr(n) for n in list(names)[:k])
    extra = len(names) - k
    return f"{shown} (+{extra} more)" if extra > 0 else shown


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
    index = pd.Index(names, dtype=object)
    dups = list(index[index.duplicated()].unique())  # in the order they first repeat
    if dups:
        raise ValueError(
            f"{what} must be unique; {len(dups)} duplicated name(s): {examples(dups)}"
        )
    return index


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

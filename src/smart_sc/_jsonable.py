"""One JSON normalisation for records kept in ``.uns`` and in saved source models.

:func:`jsonable` turns numpy scalars, tuples and arrays into plain Python values,
so a record compares equal to itself after a JSON (or ``.h5ad``) round trip.
``strict=True`` refuses what JSON cannot hold exactly (other objects, NaN and
infinities, non-string keys) and names the offending key; arrays are taken as
lists in both modes, since ``.h5ad``/``.h5mu`` read stored lists back as arrays; the lenient default
passes such values through unchanged, stringifying keys, for best-effort records.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["jsonable"]


def jsonable(value: Any, strict: bool = False, where: str = "value") -> Any:
    """Return ``value`` as plain JSON types; with ``strict``, raise on anything else.

    Parameters
    ----------
    value : object
        ``None``, str, bool, numbers (numpy scalars included), and dicts, lists,
        tuples and numpy arrays (or pandas Index) of them.
    strict : bool
        Raise ``TypeError`` (objects, non-string keys) or ``ValueError``
        (non-finite numbers) instead of passing values through.
    where : str
        Name of ``value`` in error messages, e.g. ``"provenance"``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"n": np.int64(3), "sizes": (1, 2), 1: np.array([0.5])})
    {'n': 3, 'sizes': [1, 2], '1': [0.5]}
    >>> jsonable({"x": object()}, strict=True, where="provenance")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: provenance['x'] is not JSON-serialisable: got object. ...
    """
    if value is None or isinstance(value, str):
        return None if value is None else str(value)  # np.str_ -> str
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if strict and not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number for JSON, got {value!r}")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                if strict:  # JSON would silently turn 1 into "1"; refuse to change keys
                    raise TypeError(f"{where} has a non-string key {k!r}; keys must be strings")
                k = str(k)
            out[str(k)] = jsonable(v, strict, f"{where}[{k!r}]")
        return out
    if isinstance(value, np.ndarray | pd.Index) and (not strict or value.dtype != object
                                                      or value.ndim <= 1):
        # Arrays are lists to JSON: .h5ad and .h5mu give stored lists back as
        # arrays, so a record read from a file is accepted as written. Strict mode
        # still checks every element (an object array of objects is refused).
        value = value.tolist()
        if not isinstance(value, list):  # a 0-d array is one value
            return jsonable(value, strict, where)
    if isinstance(value, list | tuple):
        return [jsonable(v, strict, f"{where}[{i}]") for i, v in enumerate(value)]
    if strict:
        raise TypeError(
            f"{where} is not JSON-serialisable: got {type(value).__name__}. Only plain values "
            "are kept (str, int, float, bool, None, lists and dicts of them)"
        )
    return value

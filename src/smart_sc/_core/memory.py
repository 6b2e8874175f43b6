"""Handing freed memory back to the system between the big steps of a fit.

A fit at thousands of genes allocates and frees ``p x p`` matrices of tens of
megabytes, some of them in worker threads (the dask pass). glibc keeps many
such freed pages in its heaps (matrices just under its largest mmap threshold
of 32 MiB come from there) where the next step cannot always reuse them, and
the process's peak grows by them. ``malloc_trim`` returns them; dask.distributed
trims its workers' memory the same way. Elsewhere (musl, macOS, Windows) this
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

__all__ = ["TRIM_ABOVE_BYTES", "return_freed_memory"]

#: Trim only after work on matrices at least this big: below it the heap holds
#: little, and the call (a walk of the heap) is not worth making per fold.
TRIM_ABOVE_BYTES = 8_000_000


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def return_freed_memory(nbytes: int | None = None) -> None:
    """Return the memory freed so far to the system (glibc only; else nothing).

    ``nbytes``: the size of the matrices just freed; below
    :data:`TRIM_ABOVE_BYTES` nothing is done. ``None`` always trims.
    """
    if nbytes is not None and nbytes < TRIM_ABOVE_BYTES:
        return
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

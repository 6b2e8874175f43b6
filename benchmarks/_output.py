"""Writing a benchmark's results: atomically, so that a stopped run leaves no half file.

The scripts are run as ``python benchmarks/<script>.py``, so this module is
importable as ``_output`` (the script's folder is first on ``sys.path``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is not
    os.replace(tmp, path)

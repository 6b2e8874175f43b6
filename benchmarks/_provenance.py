"""Which code a benchmark ran: git commit plus a hash of uncommitted changes to src/.

The scripts are run as ``python benchmarks/<script>.py``, so this module is
importable as ``_provenance`` (the script's folder is first on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import smart_sc

REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace")


def _relative(path: Path) -> str:
    # Results are committed: name the package relative to the repository root
    # (or as "installed" when it was not imported from this checkout).
    root = Path(__file__).resolve().parents[1]
    try:
        return str(path.relative_to(root))
    except ValueError:
        return "installed elsewhere"


def code_version() -> dict:
    """Commit, git tree of ``src/`` at it, and a hash of uncommitted ``src/`` changes.

    ``src_tree`` plus ``src_diff_sha256`` identify the package code exactly; the
    commit may move (docs, tests) without the code changing.
    """
    commit = _git("rev-parse", "HEAD")
    tree = _git("rev-parse", "HEAD:src")
    diff = _git("diff", "HEAD", "--", "src")
    return {
        "smart_sc": getattr(smart_sc, "__version__", "unknown"),
        "smart_sc_path": _relative(Path(smart_sc.__file__).resolve().parent),
        "commit": commit.strip() if commit else None,
        "src_tree": tree.strip() if tree else None,
        "dirty": bool(diff),
        "src_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None,
    }


def describe(v: dict) -> str:
    """One-line form: commit and src tree, plus ``+src diff <sha>`` when uncommitted."""
    s = f"{(v['commit'] or 'unknown')[:10]} (src tree {(v['src_tree'] or 'unknown')[:10]})"
    if v["dirty"]:
        s += f" +src diff {v['src_diff_sha256']}"
    return s

"""Sphinx configuration of the smart_sc documentation (cookiecutter-scverse style).

Build from the repository root with ``sphinx-build -W -b html docs docs/_build/html``.
The tutorials are rendered from the outputs stored in ``tutorials/*.ipynb``
(``nb_execution_mode = "off"``): the build runs no notebook and needs no network.
"""

from __future__ import annotations

import re
import shutil
import sys
from datetime import date
from importlib.metadata import metadata
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

# -- Project ---------------------------------------------------------------------------

_info = metadata("smart-sc")
project = "smart_sc"
author = _info.get("Author") or "smart_sc developers"
copyright = f"{date.today().year}, {author}"
release = version = _info["Version"]

# -- The tutorials: notebooks kept in ../tutorials, copied beside the pages ------------

_TUTORIALS = HERE / "tutorials"
_TUTORIALS.mkdir(exist_ok=True)
for _stale in _TUTORIALS.glob("*.ipynb"):
    if not (ROOT / "tutorials" / _stale.name).exists():
        _stale.unlink()
for _notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
    _copy = _TUTORIALS / _notebook.name
    if not _copy.exists() or _copy.read_bytes() != _notebook.read_bytes():
        shutil.copy2(_notebook, _copy)

# -- General ---------------------------------------------------------------------------

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.rst.tmp", "**.ipynb_checkpoints", "Thumbs.db",
                    ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
default_role = "literal"
nitpicky = False

# -- API reference: autosummary and numpydoc docstrings through napoleon ----------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
napoleon_custom_sections = [("Stored", "returns_style")]

# -- MyST and myst-nb ------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist", "html_image"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_output_stderr = "show"
nb_merge_streams = True

# -- HTML ------------------------------------------------------------------------------

html_theme = "sphinx_book_theme"
html_title = "smart_sc"
html_static_path: list[str] = []
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
    "path_to_docs": "docs",
}
html_show_sourcelink = False


# -- Docstring types such as ``ndarray of shape (rank_,)`` ------------------------------
# Napoleon puts the type of a parameter or attribute in a ``:type:`` field whose
# text is reStructuredText, where a word ending in "_" is a link to a target of
# that name (scikit-learn's fitted attributes all end in "_"). Escape the
# underscore there, after napoleon has run.

_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=[\s,)\]]|$)")


def _escape_type_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith((":type", ":rtype:", ":vartype")):
            head, sep, tail = stripped.partition(": ")
            indent = line[: len(line) - len(stripped)]
            lines[i] = indent + head + sep + _TRAILING_UNDERSCORE.sub(r"\\_", tail)


def _skip_metadata_routing(app, what, name, obj, skip, options):
    # scikit-learn adds set_{fit,score,...}_request methods to every estimator
    # class; they are scikit-learn's API, documented there.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    """Register the two docstring hooks above."""
    app.connect("autodoc-process-docstring", _escape_type_underscores, priority=600)
    app.connect("autodoc-skip-member", _skip_metadata_routing)

"""Every docstring example of the package runs and prints what it claims, once.

Modules are discovered, not listed, so a new module's examples run without
anyone remembering to add it; and every public function and class of the
documented namespaces must have an example. Plots draw with the non-interactive
Agg backend, so the ``pl`` examples run headless like any other.
"""

import doctest
import importlib
import inspect
import pkgutil
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

import smart_sc

MODULES = sorted(m.name for m in pkgutil.walk_packages(smart_sc.__path__, "smart_sc."))
NAMESPACES = ("smart_sc", "smart_sc.pp", "smart_sc.tl", "smart_sc.pl", "smart_sc.datasets",
              "smart_sc.baselines", "smart_sc.get")


@pytest.mark.filterwarnings("ignore::smart_sc.SmallTargetWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    try:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    finally:
        plt.close("all")
    assert result.failed == 0


def _examples(name):
    return [t for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples]


def test_plot_examples_are_found_and_run():
    # pl's examples are discovered like any other module's (they once never ran).
    found = {t.name.rsplit(".", 1)[-1] for name in MODULES if name.startswith("smart_sc.pl")
             for t in _examples(name)}
    public = set(importlib.import_module("smart_sc.pl").__all__)
    assert public <= found, f"pl functions whose example is not run: {public - found}"


def test_no_example_runs_twice():
    # Each example belongs to one module; a re-export must not run it again.
    places = Counter((t.filename, t.lineno) for name in MODULES for t in _examples(name))
    twice = [place for place, count in places.items() if count > 1]
    assert not twice, f"examples run more than once: {twice}"


def _public_callables():
    for ns_name in NAMESPACES:
        ns = importlib.import_module(ns_name)
        for name in ns.__all__:
            obj = getattr(ns, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            if isinstance(obj, type) and issubclass(obj, Warning):
                continue
            yield f"{ns_name}.{name}", obj


def test_every_public_function_and_class_has_an_example():
    missing = [name for name, obj in _public_callables() if ">>>" not in (obj.__doc__ or "")]
    assert not missing, f"no docstring example: {missing}"
    assert len(dict(_public_callables())) > 30  # the namespaces were really read

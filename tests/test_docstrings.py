"""Docstring examples of the public modules run and print what they claim."""

import doctest

import pytest

import smart_sc.datasets._simulation as simulation
import smart_sc.estimator as estimator


@pytest.mark.parametrize("module", [estimator, simulation], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

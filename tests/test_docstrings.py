"""Docstring examples of the public modules run and print what they claim."""

import doctest

import pytest

import smart_sc.datasets._citeseq as citeseq
import smart_sc.datasets._simulation as simulation
import smart_sc.estimator as estimator
import smart_sc.source as source
import smart_sc.tl._evaluate as evaluate
import smart_sc.tl._transfer as transfer


@pytest.mark.filterwarnings("ignore::smart_sc.SmallTargetWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("module", [estimator, simulation, citeseq, source, transfer, evaluate],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""One random_state rule: None, an int, a RandomState or a Generator, everywhere.

An int gives the same result on every call, two Generators seeded alike give
the same result, anything else is a ValueError that names the rule, and a
parallel fit gives the serial result whatever form the seed takes.
"""

from __future__ import annotations

import numpy as np
import pytest

import smart_sc
from smart_sc import baselines
from smart_sc.datasets import simulate_transfer, toy_citeseq

FORMS = {
    "int": lambda: 3,
    "RandomState": lambda: np.random.RandomState(3),
    "Generator": lambda: np.random.default_rng(3),
}


@pytest.fixture(scope="module")
def problem():
    sim = simulate_transfer(60, 40, 12, rank=2, structural_rank=4, random_state=0)
    return sim.X, sim.Y, sim.source_coef


def _estimators(C0):
    """Every estimator with a random_state, configured to use it (cross-validation)."""
    return {
        "SMARTRegressor": smart_sc.SMARTRegressor(C0, rank=2, structural_rank=4, blend=True,
                                                  transfer_gain=False),
        "TargetLasso": baselines.TargetLasso(n_alphas=5),
        "SourceMixture": baselines.SourceMixture(C0),
        "SourceSubspaceRRR": baselines.SourceSubspaceRRR(C0),
        "SRRR": baselines.SRRR(rank=2),
    }


@pytest.mark.parametrize("name", ["SMARTRegressor", "TargetLasso", "SourceMixture",
                                  "SourceSubspaceRRR", "SRRR"])
def test_estimators_take_every_form_and_equal_seeds_give_equal_fits(problem, name):
    X, Y, C0 = problem
    for form, make in FORMS.items():
        a = _estimators(C0)[name].set_params(random_state=make()).fit(X, Y)
        b = _estimators(C0)[name].set_params(random_state=make()).fit(X, Y)
        np.testing.assert_array_equal(a.coef_, b.coef_, err_msg=f"{name}, {form}")
    with pytest.raises(ValueError, match="random_state"):
        _estimators(C0)[name].set_params(random_state="seed").fit(X, Y)


@pytest.mark.parametrize("form", ["RandomState", "Generator"])
def test_a_parallel_lasso_equals_the_serial_one_with_an_instance(problem, form):
    # Each worker gets its own copy of the instance; the one seed drawn up front
    # gives every worker the serial run's folds.
    X, Y, _ = problem
    serial = baselines.TargetLasso(n_alphas=5, random_state=FORMS[form]()).fit(X, Y)
    parallel = baselines.TargetLasso(n_alphas=5, n_jobs=2, random_state=FORMS[form]()).fit(X, Y)
    np.testing.assert_array_equal(serial.coef_, parallel.coef_)


def test_a_generator_is_advanced_so_consecutive_fits_differ_in_their_folds(problem):
    X, Y, C0 = problem
    rng = np.random.default_rng(5)
    first = smart_sc.SMARTRegressor(C0, rank=2, random_state=rng).fit(X, Y)
    second = smart_sc.SMARTRegressor(C0, rank=2, random_state=rng).fit(X, Y)
    # Different folds give different validation curves (the choices may agree).
    assert not np.array_equal(first.cv_results_["mse"], second.cv_results_["mse"])


@pytest.mark.parametrize("form", sorted(FORMS))
def test_data_and_placebo_take_every_form(form):
    a, b = toy_citeseq(n_source=30, n_target=10, random_state=FORMS[form]()), \
        toy_citeseq(n_source=30, n_target=10, random_state=FORMS[form]())
    np.testing.assert_array_equal(a["prot"].X, b["prot"].X)
    s1 = simulate_transfer(10, 8, 6, rank=2, structural_rank=3, random_state=FORMS[form]())
    s2 = simulate_transfer(10, 8, 6, rank=2, structural_rank=3, random_state=FORMS[form]())
    np.testing.assert_array_equal(s1.X, s2.X)
    C0 = np.arange(12.0).reshape(2, 6)
    p1, _ = baselines.placebo_coef(C0, random_state=FORMS[form]())
    p2, _ = baselines.placebo_coef(C0, random_state=FORMS[form]())
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("call", ["toy_citeseq", "simulate_transfer", "placebo_coef"])
def test_anything_else_names_the_rule(call):
    run = {"toy_citeseq": lambda rs: toy_citeseq(random_state=rs),
           "simulate_transfer": lambda rs: simulate_transfer(10, 8, 6, rank=2,
                                                             structural_rank=3, random_state=rs),
           "placebo_coef": lambda rs: baselines.placebo_coef(np.eye(3), random_state=rs)}[call]
    for bad in ("seed", 1.5, True):
        with pytest.raises(ValueError, match="random_state must be None, an int, a numpy "
                                             "RandomState or a numpy Generator"):
            run(bad)


def test_benchmark_records_the_seed_a_generator_gave_and_that_seed_redoes_the_run():
    mdata = toy_citeseq(n_source=150, n_target=60, random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    kw = dict(source_mask=nk, target_mask=~nk, source_methods=("ridge",),
              methods=("smart", "target_ridge"), n_top_genes=100, top_k=30, n_splits=1,
              smart_params={"rank": 3, "structural_rank": 6, "blend": False})
    first = smart_sc.tl.benchmark(mdata, random_state=np.random.default_rng(2), **kw)
    seed = first.attrs["params"]["random_state"]
    assert isinstance(seed, int)
    again = smart_sc.tl.benchmark(mdata, random_state=seed, **kw)
    np.testing.assert_array_equal(first["error"].to_numpy(), again["error"].to_numpy())
    with pytest.raises(ValueError, match="random_state"):
        smart_sc.tl.benchmark(mdata, random_state="seed", **kw)

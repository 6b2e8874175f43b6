"""Every baseline checks its parameters with scikit-learn's rules, before touching the data.

A bad value of each kind (wrong type, out of its interval, a bad entry of a
sequence, an unknown option) raises scikit-learn's ``InvalidParameterError``
naming the parameter, from ``fit``.
"""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from smart_sc import baselines
from smart_sc.baselines import (
    RSSVD,
    SOFAR,
    SRRR,
    OffsetTransfer,
    ReducedRankRegression,
    SourceMixture,
    SourceOnly,
    SourceSubspaceRRR,
    TargetLasso,
    TargetOLS,
    TargetRidge,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 6))
Y = X @ RNG.normal(size=(6, 3)) + 0.1 * RNG.normal(size=(30, 3))
C0 = RNG.normal(size=(3, 6))  # scikit-learn orientation: (n_targets, n_features)


_NEEDS_SOURCE = {"OffsetTransfer", "SourceOnly", "SourceMixture", "SourceSubspaceRRR"}


#: The estimators of the module (its functions, such as placebo_coef, take no rules).
ESTIMATORS = [n for n in baselines.__all__ if isinstance(getattr(baselines, n), type)]


def _make(cls, **params):
    if cls.__name__ in _NEEDS_SOURCE:
        params = {"source_coef": C0, **params}
    return cls(**params)


BAD = [
    # (estimator, parameter, bad value)
    (TargetOLS, "fit_intercept", "yes"),
    (TargetRidge, "alphas", 1.0),
    (TargetRidge, "alphas", (1.0, -1.0)),
    (TargetRidge, "alphas", ()),
    (TargetRidge, "alphas", (np.nan,)),
    (TargetRidge, "fit_intercept", 1.5),
    (TargetLasso, "n_alphas", 0),
    (TargetLasso, "n_alphas", 2.5),
    (TargetLasso, "eps", 0.0),
    (TargetLasso, "eps", 1.5),
    (TargetLasso, "cv", 1),
    (TargetLasso, "max_iter", 0),
    (TargetLasso, "tol", -1.0),
    (TargetLasso, "random_state", "seed"),
    (ReducedRankRegression, "rank", 0),
    (ReducedRankRegression, "rank", 1.5),
    (ReducedRankRegression, "fit_intercept", None),
    (OffsetTransfer, "source_coef", "C0"),
    (OffsetTransfer, "alphas", (0.0,)),
    (SourceOnly, "source_coef", None),
    (SourceOnly, "source_intercept", "zero"),
    (SourceSubspaceRRR, "dims", (0,)),
    (SourceSubspaceRRR, "dims", ()),
    (SourceSubspaceRRR, "dims", (1.5,)),
    (SourceSubspaceRRR, "rank", 0),
    (SourceSubspaceRRR, "cv", 1),
    (SourceMixture, "target", "lasso"),
    (SourceMixture, "weights", (0.5, 1.5)),
    (SourceMixture, "weights", ()),
    (SourceMixture, "weights", ("a",)),
    (SourceMixture, "cv", 0),
    (SRRR, "rank", 0),
    (SRRR, "rank", ()),
    (SRRR, "rank", (1, 0)),
    (SRRR, "lam", -1.0),
    (SRRR, "lam", (1.0, 2.0)),
    (SRRR, "n_lambdas", 0),
    (SRRR, "lambda_min_ratio", 1.0),
    (SRRR, "gamma", -1.0),
    (SRRR, "cv", 1),
    (SRRR, "tol", 0.0),
    (RSSVD, "rank", (1, 2)),
    (RSSVD, "max_iter", 0),
    (RSSVD, "tol", 0.0),
    (RSSVD, "lam", np.inf),
    (SOFAR, "penalty_ratios", (0.0, 0.0, 0.0)),
    (SOFAR, "penalty_ratios", (1.0, 1.0)),
    (SOFAR, "penalty_ratios", (1.0, -1.0, 1.0)),
    (SOFAR, "lam", float("nan")),
    (SOFAR, "gamma", "two"),
]


@pytest.mark.parametrize(("cls", "name", "value"), BAD,
                         ids=[f"{c.__name__}-{n}-{v!r}" for c, n, v in BAD])
def test_bad_value_raises_invalid_parameter_error_naming_it(cls, name, value):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls.__name__}"):
        _make(cls, **{name: value}).fit(X, Y)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_parameter_has_one_rule(name):
    cls = getattr(baselines, name)
    assert set(cls._parameter_constraints) == set(_make(cls).get_params())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_defaults_are_valid(name):
    est = _make(getattr(baselines, name))
    est._validate_params()  # no error
    est.fit(X, Y)
    assert est.coef_.shape == (3, 6)

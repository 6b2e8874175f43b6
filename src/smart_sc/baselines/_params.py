"""Parameter rules of the estimators, in scikit-learn's ``_parameter_constraints`` terms.

Every estimator (the baselines and :class:`smart_sc.SMARTRegressor`) lists one
rule per parameter in ``_parameter_constraints`` and checks them with
``self._validate_params()`` at the start of ``fit``, which raises
scikit-learn's ``InvalidParameterError`` naming the parameter. A
sequence parameter (penalty grids, candidate dimensions, weights) is
``"array-like"`` there; :func:`check_entries` then holds each entry to its
interval, with the same error.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "FOLDS",
    "FRACTION",
    "NONNEGATIVE",
    "NONNEGATIVE_INT",
    "POSITIVE",
    "POSITIVE_INT",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "check_entries",
    "check_params",
]

#: An integer >= 1 (ranks, grid sizes, iteration caps, dimensions).
POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
#: An integer >= 0 (structural ranks, where 0 means "none of the source's subspace").
NONNEGATIVE_INT = Interval(numbers.Integral, 0, None, closed="left")
#: A number of cross-validation folds.
FOLDS = Interval(numbers.Integral, 2, None, closed="left")
#: A finite number >= 0 (penalties, powers).
NONNEGATIVE = Interval(numbers.Real, 0, None, closed="left")
#: A finite number > 0 (tolerances, ridge penalties).
POSITIVE = Interval(numbers.Real, 0, None, closed="neither")
#: A number strictly between 0 and 1 (ratios of the smallest to the largest penalty).
FRACTION = Interval(numbers.Real, 0, 1, closed="neither")


def check_entries(estimator, name: str, rule: Interval, *, size: int | None = None) -> np.ndarray:
    """Return the entries of the sequence parameter ``name``, each held to ``rule``.

    ``size`` fixes the number of entries; otherwise at least one is needed.
    Raises scikit-learn's ``InvalidParameterError`` naming the parameter.
    """
    value = getattr(estimator, name)
    entries = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    count_ok = len(entries) == size if size is not None else len(entries) > 0
    if not count_ok or not all(rule.is_satisfied_by(v) for v in entries):
        count = f"{size}" if size is not None else "one or more"
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be a sequence of "
            f"{count} entries, each {rule}. Got {value!r} instead."
        )
    return np.asarray(entries, dtype=np.float64)


def check_params(caller: str, rules: dict, params: dict) -> None:
    """Hold a function's arguments to scikit-learn parameter rules, as estimators are.

    The same rules and messages as ``_parameter_constraints`` (scikit-learn's
    ``InvalidParameterError``, a ``ValueError`` naming the parameter), for the
    functions of :mod:`smart_sc.tl`. Called first in the function's body
    rather than as scikit-learn's ``validate_params`` decorator, whose extra
    frame would move every warning's ``stacklevel`` off the user's call.
    ``params`` is the caller's ``locals()``; only the names in ``rules`` are
    checked.
    """
    validate_parameter_constraints(rules, {k: params[k] for k in rules}, caller_name=caller)

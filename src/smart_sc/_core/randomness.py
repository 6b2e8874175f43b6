"""One ``random_state`` rule for the whole package.

Every ``random_state`` in smart_sc takes what scikit-learn's take (``None``, an
int or a numpy ``RandomState``) and also a numpy ``Generator``. An int gives
the same result on every call; an instance is advanced, so consecutive calls
differ; ``None`` draws from numpy's global ``RandomState``. A fit that needs
several random streams (folds, repeated folds, workers) draws one int seed
from an instance at the start, so the streams agree with each other and a
serial and a parallel run give the same result.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state as _sklearn_check_random_state

__all__ = ["RANDOM_STATE_CONSTRAINT", "as_seed", "check_random_state"]

#: ``_parameter_constraints`` entry of every estimator's ``random_state``.
RANDOM_STATE_CONSTRAINT = ["random_state", np.random.Generator]

_MAX_SEED = np.iinfo(np.int32).max


def check_random_state(random_state) -> np.random.RandomState:
    """Return a ``RandomState`` for ``random_state``, or raise ``ValueError`` naming the rule.

    Parameters
    ----------
    random_state : None, int, numpy RandomState or numpy Generator
        An int seeds a new ``RandomState``; a ``RandomState`` is returned as
        is; a ``Generator`` seeds a new ``RandomState`` from one draw (and is
        advanced by it); ``None`` is numpy's global ``RandomState``.

    Returns
    -------
    numpy.random.RandomState

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc._core.randomness import check_random_state
    >>> a = check_random_state(np.random.default_rng(0)).permutation(5)
    >>> b = check_random_state(np.random.default_rng(0)).permutation(5)
    >>> bool((a == b).all())
    True
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(_MAX_SEED)))
    allowed = random_state is None or isinstance(random_state,
                                                 numbers.Integral | np.random.RandomState)
    if isinstance(random_state, bool) or not allowed:
        raise ValueError(
            "random_state must be None, an int, a numpy RandomState or a numpy Generator, "
            f"got {random_state!r}")
    return _sklearn_check_random_state(random_state)


def as_seed(random_state) -> int:
    """Return an int seed: an int as is, else one draw from :func:`check_random_state`.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc._core.randomness import as_seed
    >>> as_seed(7)
    7
    >>> as_seed(np.random.default_rng(0)) == as_seed(np.random.default_rng(0))
    True
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(_MAX_SEED))

"""The source methods by name: which baseline fits a source model for ``method="..."``.

One registry for every place that turns a method name into an estimator
(:func:`smart_sc.tl.fit_source`, :func:`smart_sc.tl.benchmark`), so that the
names, and the refusal of an unknown one, are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._base import StatsLinearRegressor
from ._lasso import TargetLasso
from ._least_squares import ReducedRankRegression, TargetOLS, TargetRidge
from ._rssvd import RSSVD
from ._sofar import SOFAR
from ._srrr import SRRR

__all__ = ["SOURCE_METHODS", "source_method"]

#: The source methods of :func:`smart_sc.tl.fit_source`, by name: a read-only
#: mapping from ``"ols"``, ``"ridge"``, ``"lasso"``, ``"rrr"``, ``"srrr"``,
#: ``"rssvd"`` and ``"sofar"`` to the estimator classes.
SOURCE_METHODS: Mapping[str, type[StatsLinearRegressor]] = MappingProxyType({
    "ols": TargetOLS,
    "ridge": TargetRidge,
    "lasso": TargetLasso,
    "rrr": ReducedRankRegression,
    "srrr": SRRR,
    "rssvd": RSSVD,
    "sofar": SOFAR,
})


def source_method(name: str) -> type[StatsLinearRegressor]:
    """Return the estimator class that fits a source model by the method ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`SOURCE_METHODS`: ``"ols"``, ``"ridge"``, ``"lasso"``,
        ``"rrr"``, ``"srrr"``, ``"rssvd"`` or ``"sofar"``.

    Returns
    -------
    type
        The estimator class (not an instance), e.g. :class:`TargetRidge` for
        ``"ridge"``.

    Raises
    ------
    ValueError
        If ``name`` is not a known method; the message lists the known names.
        There is no fallback: a misspelt method never fits another one.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import SOURCE_METHODS, source_method
    >>> source_method("ridge").__name__
    'TargetRidge'
    >>> sorted(SOURCE_METHODS)
    ['lasso', 'ols', 'ridge', 'rrr', 'rssvd', 'sofar', 'srrr']
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> source_method("ols")().fit(X, X @ np.ones((3, 2))).coef_.round(6)
    array([[1., 1., 1.],
           [1., 1., 1.]])
    >>> source_method("Ridge")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: method must be one of ['lasso', 'ols', 'ridge', 'rrr', ...], got 'Ridge'
    """
    try:
        return SOURCE_METHODS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name, such as a list
        # The wording fit_source has always used, so its callers see no change.
        raise ValueError(f"method must be one of {sorted(SOURCE_METHODS)}, got {name!r}") from None

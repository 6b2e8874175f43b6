"""The cross-validation every baseline shares: per-fold sums in one pass, pooled held-out error.

The cells are read once, into the sufficient statistics of each fold
(:func:`smart_sc._core.sums.stats.fold_sums`); the training set of a split is the
total minus one fold, and the held-out error of any coefficient matrix follows
from the fold's sums. Candidates (penalties, dimensions, weights) are compared
by their held-out squared error pooled over folds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .._core.randomness import as_seed
from .._core.sums.passes import fold_sums
from .._core.sums.stats import RawSums, SufficientStats, held_out_sse, kfold_labels, total

__all__ = ["FoldSums", "cv_sse"]


class FoldSums:
    """Per-fold sums of one pass over the cells, and their total.

    Parameters
    ----------
    X, y
        Validated design and 2-D responses.
    cv : int
        Number of folds (shuffled K-fold); at most the number of cells.
    random_state
        Seeds the shuffling.
    center : bool
        Centre each training set (fit an intercept).
    """

    def __init__(self, X, y, cv: int, random_state, center: bool):
        if cv > X.shape[0]:
            raise ValueError(f"cv={cv} folds need at least {cv} samples, got n_samples = "
                             f"{X.shape[0]}")
        labels = kfold_labels(X.shape[0], cv, as_seed(random_state))
        self.sums: list[RawSums] = fold_sums(X, y, labels, cv, center=center)
        self.full: RawSums = total(self.sums)
        self.center = center

    def stats(self) -> SufficientStats:
        """Statistics of all cells."""
        return self.full.to_stats(self.center)

    def splits(self) -> Iterator[tuple[RawSums, SufficientStats]]:
        """Each fold's held-out sums with the statistics of the other folds."""
        for held_out in self.sums:
            yield held_out, (self.full - held_out).to_stats(self.center)


def cv_sse(folds: FoldSums,
           fit: Callable[[SufficientStats], Iterable[np.ndarray]]) -> np.ndarray:
    """Held-out squared error per candidate and response, summed over folds.

    ``fit(train)`` gives the ``p x q`` coefficients of every candidate on a
    training set, in the same order each time. Returns ``(n_candidates, q)``;
    divide by ``folds.full.n`` for the pooled mean squared error per cell.
    """
    sse = 0.0
    for held_out, train in folds.splits():
        sse = sse + np.array([held_out_sse(held_out, train, coef)
                              for coef in fit(train)])
    return np.asarray(sse)


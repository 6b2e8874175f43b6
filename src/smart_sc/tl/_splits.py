"""Train/test splits of tl.benchmark: random splits of the target, or held-out donors.

Rows index the matrices of :class:`smart_sc.pp._split.CellLocal`, whose cells
are the source cells followed by the target cells.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import ShuffleSplit

__all__ = ["make_splits"]

logger = logging.getLogger("smart_sc")


@dataclass(frozen=True)
class Split:
    """Rows (into the :class:`CellLocal` matrices) of one split's three cell sets."""

    index: int
    protocol: str
    test_donors: str
    source_rows: np.ndarray
    target_rows: np.ndarray
    test_rows: np.ndarray
    seed: int


def _group_values(pair, groups: str, cells: pd.Index, what: str) -> np.ndarray:
    """Return obs column ``groups`` (container first, then the RNA modality) for ``cells``."""
    for obs in (pair.container.obs, pair.rna.obs):
        if groups in obs.columns:
            values = obs[groups].reindex(cells)
            if values.isna().any():
                # As str they would become one donor "nan", held out like a real one.
                raise ValueError(
                    f"split='donor': {int(values.isna().sum())} of the {len(cells)} {what} "
                    f"cells have no value in obs column {groups!r} (e.g. "
                    f"{list(values.index[values.isna()][:3])}); label them or leave them "
                    "out of the masks")
            return values.astype(str).to_numpy()
    raise ValueError(
        f"split='donor' needs obs column groups={groups!r}, which is not in .obs; it has "
        f"{list(pair.container.obs.columns)}"
        + (f" (modality {pair.modality_in!r} has {list(pair.rna.obs.columns)})"
           if pair.rna is not pair.container else "")
    )


def _seeds(random_state: int, n: int) -> list[int]:
    return [int(s) for s in np.random.SeedSequence(random_state).generate_state(n)]


def _min_train(cv: int) -> int:
    return 2 * cv


def _random_splits(n_source, n_target, *, n_splits, test_size, cv, random_state) -> list[Split]:
    n_test = math.ceil(test_size * n_target)
    n_train = n_target - n_test
    if n_train < _min_train(cv) or n_test < 2:
        raise ValueError(
            f"the target has {n_target} cells; test_size={test_size} leaves {n_train} "
            f"training and {n_test} test cells, but cross-validation with cv={cv} needs at "
            f"least {_min_train(cv)} training cells and scoring at least 2 test cells"
        )
    splitter = ShuffleSplit(n_splits=n_splits, test_size=n_test, random_state=random_state)
    source = np.arange(n_source)
    seeds = _seeds(random_state, n_splits)
    return [
        Split(k, "random", "", source, n_source + np.sort(train), n_source + np.sort(test),
               seeds[k])
        for k, (train, test) in enumerate(splitter.split(np.empty((n_target, 1))))
    ]


def _donor_splits(donors_source, donors_target, *, groups, n_splits, min_test_cells, cv,
                  random_state) -> list[Split]:
    names, counts = np.unique(donors_target, return_counts=True)
    if names.size < 2:
        raise ValueError(
            f"split='donor' needs target cells from at least 2 values of obs column "
            f"{groups!r}; the target cells have {names.size} ({list(names)})"
        )
    n_target = donors_target.size
    ok = (counts >= min_test_cells) & (n_target - counts >= _min_train(cv))
    if not ok.any():
        raise ValueError(
            f"no donor can be held out: each needs at least min_test_cells={min_test_cells} "
            f"target cells and must leave at least {_min_train(cv)} target training cells "
            f"(cv={cv}); target cells per donor: {dict(zip(names, counts.tolist(), strict=True))}"
        )
    skipped = names[(counts >= min_test_cells) & ~ok]
    if skipped.size:
        logger.warning("benchmark: donors %s not held out: too few target cells would be "
                       "left for training", list(skipped))
    order = sorted(np.flatnonzero(ok), key=lambda i: (-counts[i], names[i]))[:n_splits]
    seeds = _seeds(random_state, len(order))
    n_source = donors_source.size
    splits = []
    for k, i in enumerate(order):
        held = donors_target == names[i]
        splits.append(Split(k, "donor", str(names[i]),
                             np.flatnonzero(donors_source != names[i]),
                             n_source + np.flatnonzero(~held), n_source + np.flatnonzero(held),
                             seeds[k]))
    return splits


def make_splits(pair, source, target, *, split, groups, n_splits, test_size,
                 min_test_cells, cv, random_state) -> list[Split]:
    if split == "random":
        return _random_splits(len(source), len(target), n_splits=n_splits,
                              test_size=test_size, cv=cv, random_state=random_state)
    return _donor_splits(_group_values(pair, groups, source, "source"),
                         _group_values(pair, groups, target, "target"),
                         groups=groups, n_splits=n_splits, min_test_cells=min_test_cells,
                         cv=cv, random_state=random_state)

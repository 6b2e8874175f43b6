"""What the source contributed: the cross-validated error with the source and without it.

After a data-driven fit, the same folds are fitted twice more: with the source
at the chosen tuning, and without any source (the rank-``r`` fit with
shrinkage ``alpha``, penalty off), its rank and ``alpha`` chosen on the same
folds among the same candidates (read from the cross-validation's own
penalty-off candidates when it had them: with structural ranks ``(p, q)`` the
problem does not see the source's bases). With the blend on, both sides are blended on
those folds too (SMART, source and ridge against SMART without a source and
ridge), so the comparison is of what a user would get with and without the
source. The errors are per response as well, which gives each protein its
cross-validated R^2 and its own gain.

The gain is measured on the folds that also chose the tuning, so it is a
little optimistic for the side with more candidates (the source's structural
ranks); a placebo source (``smart_sc.baselines.placebo_coef``) run through
:func:`smart_sc.tl.benchmark` is the unbiased control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..solver.admm import SourceBasis
from .blend import choose_blend, residual_gram_per_target
from .tuning import FoldData, cv_error, fit_fold

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TransferGain", "scored_no_source", "transfer_gain"]


@dataclass(frozen=True)
class TransferGain:
    """Cross-validated errors with and without the source, overall and per response."""

    mse_source: float  # per cell and response, pooled over folds
    mse_no_source: float
    sse_source: np.ndarray  # (q,) held-out sums of squared errors
    sse_no_source: np.ndarray  # (q,)
    sse_intercept: np.ndarray  # (q,) of the training mean alone: R^2's denominator
    no_source_rank: int
    no_source_alpha: float
    blended: bool

    @property
    def gain(self) -> float:
        """``mse_no_source / mse_source - 1``: positive when the source helped."""
        return _ratio(self.mse_no_source, self.mse_source) - 1.0

    @property
    def per_target_gain(self) -> np.ndarray:
        return _ratio(self.sse_no_source, self.sse_source) - 1.0

    @property
    def per_target_r2(self) -> np.ndarray:
        """Cross-validated R^2 of each response with the source."""
        return 1.0 - _ratio(self.sse_source, self.sse_intercept)

    def as_dict(self) -> dict:
        return {"cv_mse_source": float(self.mse_source),
                "cv_mse_no_source": float(self.mse_no_source), "gain": float(self.gain),
                "no_source_rank": int(self.no_source_rank),
                "no_source_alpha": float(self.no_source_alpha), "blended": bool(self.blended)}


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(b) > 0, np.asarray(a) / np.where(b > 0, b, 1.0), np.nan)[()]


@dataclass(frozen=True)
class _LowRank:
    """A fold's fit ``L diag(d) R^T``, kept in factors: products with ``S_xx`` are cheap."""

    L: np.ndarray
    d: np.ndarray
    R: np.ndarray

    @property
    def coef(self) -> np.ndarray:
        return (self.L * self.d) @ self.R.T

    def sxx_times(self, held_out) -> np.ndarray:
        """``S C`` for the held-out sums' ``S = sxx``, through the factor ``L`` (p x r)."""
        return (held_out.sxx_times(self.L) * self.d) @ self.R.T


def _fold_fits(folds, basis, *, rank, pair, alpha, pull, lambdas, how) -> list[_LowRank]:
    out = []
    for fold in folds:
        _, state = fit_fold(fold, basis, rank=rank, pair=pair, alpha=alpha, pull=pull,
                            lambdas=lambdas, **how)
        out.append(_LowRank(basis.from_source(state.W), state.d.copy(), basis.V0 @ state.Z))
    return out


def _choose_no_source(folds, basis, ranks, alphas, pilot_alpha, how) -> tuple[int, float]:
    """The no-source rank and alpha on the same folds: fits at the pilot, alpha priced by D."""
    shrinkages = [(float(a), 0.0) for a in alphas]
    mse = np.vstack([cv_error(folds, basis, rank=r, pair=(basis.p, basis.V0.shape[0]),
                              alpha=pilot_alpha, shrinkages=shrinkages, lambdas=[0.0],
                              **how) for r in ranks])
    i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
    return int(ranks[i]), float(alphas[j])


#: Rows of the per-fold residual Gram: both fits, the source, the ridge fit, no fit.
_SMART, _NO_SOURCE, _SOURCE, _RIDGE, _INTERCEPT = range(5)


def _fold_gram(fold: FoldData, smart: _LowRank, plain: _LowRank, C0: np.ndarray) -> np.ndarray:
    """Per-response residual Gram of the compared matrices on one held-out fold."""
    held = fold.held_out
    zero = np.zeros_like(C0)
    coefs = [smart.coef, plain.coef, C0, fold.init_coef, zero]
    products = [smart.sxx_times(held), plain.sxx_times(held), held.sxx_times(C0),
                held.sxx_times(fold.init_coef), zero]
    return residual_gram_per_target(fold.held_out, fold.train_stats, coefs, products)


def _per_target_sse(gram: np.ndarray, parts: list[int], weights: np.ndarray) -> np.ndarray:
    G = gram[np.ix_(parts, parts)]
    return np.einsum("i,ijt,j->t", weights, G, weights)


def scored_no_source(cv_results: dict, p: int, q: int) -> tuple[int, float] | None:
    """The best penalty-off candidate of a cross-validation, ``(rank, alpha)``, if it had one.

    With structural ranks ``(p, q)`` the problem does not depend on the source's
    bases, so those candidates are no-source fits on the same folds, already
    scored (and in full: the cross-validation never gives them up early).
    """
    if not cv_results:
        return None
    rows = [i for i, pr in enumerate(cv_results["structural_ranks"]) if tuple(pr) == (p, q)]
    cols = np.flatnonzero(np.asarray(cv_results["source_pulls"]) == 0.0)
    if not rows or not cols.size:
        return None
    mse = np.asarray(cv_results["mse"])[np.ix_(rows, cols)]
    i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
    return int(cv_results["ranks"][rows[i]]), float(cv_results["alphas"][cols[j]])


def transfer_gain(
    folds: Sequence[FoldData],
    basis: SourceBasis,
    C0: np.ndarray,
    *,
    rank: int,
    pair: tuple[int, int],
    shrinkage: tuple[float, float],
    lambdas: Sequence[float],
    ranks: Sequence[int],
    alphas: Sequence[float],
    blend: bool,
    how: dict,
    no_source_choice: tuple[int, float] | None = None,
) -> TransferGain:
    """Cross-validated error of the fit with the source and of its no-source counterpart.

    ``how`` holds the fold fits' ``tol``, ``max_iter`` and ``inner_max_iter``.
    ``no_source_choice``: the no-source rank and alpha when the cross-validation
    already scored them (its candidates with the penalty off are no-source
    fits), else they are chosen here among ``ranks`` and ``alphas``.
    """
    p, q = C0.shape
    alpha, pull = shrinkage
    with_source = _fold_fits(folds, basis, rank=rank, pair=pair, alpha=alpha, pull=pull,
                             lambdas=lambdas, how=how)
    # Without the source: structural ranks (p, q) switch the penalty off, and the
    # problem no longer sees the source's bases (U0 and V0 only rotate it), so
    # the folds' own rotated statistics serve; no second Gram matrix per fold.
    r0, a0 = no_source_choice or _choose_no_source(folds, basis, list(ranks), list(alphas),
                                                   alpha, how)
    without = _fold_fits(folds, basis, rank=r0, pair=(p, q), alpha=a0, pull=0.0,
                         lambdas=[0.0], how=how)
    gram = sum(_fold_gram(f, s, w, C0) for f, s, w in zip(folds, with_source, without,
                                                           strict=True))
    n_values = sum(f.held_out.n for f in folds) * q
    src, nos = [_SMART], [_NO_SOURCE]
    if blend:
        src, nos = [_SMART, _SOURCE, _RIDGE], [_NO_SOURCE, _RIDGE]
    weights = {}
    for name, parts, names in (("src", src, ["smart", "source", "ridge"]),
                               ("nos", nos, ["smart", "ridge"])):
        total = gram[np.ix_(parts, parts)].sum(axis=2)
        weights[name] = (choose_blend(names[:len(parts)], total, n_values).weights
                         if len(parts) > 1 else np.ones(1))
    sse_src = _per_target_sse(gram, src, weights["src"])
    sse_nos = _per_target_sse(gram, nos, weights["nos"])
    return TransferGain(
        mse_source=float(sse_src.sum() / n_values), mse_no_source=float(sse_nos.sum() / n_values),
        sse_source=sse_src, sse_no_source=sse_nos,
        sse_intercept=_per_target_sse(gram, [_INTERCEPT], np.ones(1)),
        no_source_rank=r0, no_source_alpha=a0, blended=bool(blend))

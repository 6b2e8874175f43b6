"""What the source contributed: the cross-validated error with the source and without it.

After a data-driven fit, the same folds are fitted twice more: with the source
at the chosen tuning, and without any source (the rank-``r`` fit with
shrinkage ``alpha``, penalty off), its rank and ``alpha`` chosen on the same
folds among the same candidates. With the blend on, both sides are blended on
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

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .admm import RotatedProblem, RotatedStart, SourceBasis
from .blend import choose_blend, residual_gram
from .stats import validation_sse_per_target
from .tuning import FoldData, cv_error, fit_fold

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TransferGain", "transfer_gain"]


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


def _without_source(fold: FoldData, basis: SourceBasis) -> FoldData:
    """The same fold in the identity basis: its statistics and ridge start, no source."""
    base = RotatedProblem.from_stats(fold.train_stats, basis, basis.p, basis.V0.shape[0])
    return replace(fold, base=base, start=RotatedStart.from_coef(fold.init_coef, basis))


def _fold_coefs(folds, basis, *, rank, pair, alpha, pull, lambdas, how) -> list[np.ndarray]:
    out = []
    for fold in folds:
        _, state = fit_fold(fold, basis, rank=rank, pair=pair, alpha=alpha, pull=pull,
                            lambdas=lambdas, **how)
        out.append(state.coef(basis))
    return out


def _choose_no_source(folds, basis, ranks, alphas, pilot_alpha, how) -> tuple[int, float]:
    """The no-source rank and alpha on the same folds: fits at the pilot, alpha priced by D."""
    shrinkages = [(float(a), 0.0) for a in alphas]
    mse = np.vstack([cv_error(folds, basis, rank=r, pair=(basis.p, basis.V0.shape[0]),
                              alpha=pilot_alpha, shrinkages=shrinkages, lambdas=[0.0],
                              **how) for r in ranks])
    i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
    return int(ranks[i]), float(alphas[j])


def _sse(folds, coefs_per_fold: list[list[np.ndarray]], weights) -> np.ndarray:
    """Per-response held-out SSE of the weighted combination of each fold's matrices."""
    total = 0.0
    for fold, coefs in zip(folds, coefs_per_fold, strict=True):
        C = sum(w * c for w, c in zip(weights, coefs, strict=True))
        total = total + validation_sse_per_target(fold.held_out, fold.train_stats, C)
    return np.asarray(total)


def _blend_weights(folds, coefs_per_fold, names) -> np.ndarray:
    gram = sum(residual_gram(f.held_out, f.train_stats, c)
               for f, c in zip(folds, coefs_per_fold, strict=True))
    q = folds[0].init_coef.shape[1]
    n = sum(f.held_out.n for f in folds)
    return choose_blend(names, gram, n * q).weights


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
) -> TransferGain:
    """Cross-validated error of the fit with the source and of its no-source counterpart.

    ``how`` holds the fold fits' ``tol``, ``max_iter`` and ``inner_max_iter``.
    """
    p, q = C0.shape
    identity = SourceBasis.from_coef(None, p, q)
    plain = [_without_source(f, identity) for f in folds]
    alpha, pull = shrinkage
    with_source = _fold_coefs(folds, basis, rank=rank, pair=pair, alpha=alpha, pull=pull,
                              lambdas=lambdas, how=how)
    r0, a0 = _choose_no_source(plain, identity, list(ranks), list(alphas), alpha, how)
    without = _fold_coefs(plain, identity, rank=r0, pair=(p, q), alpha=a0, pull=0.0,
                          lambdas=[0.0], how=how)
    if blend:
        src = [[s, C0, f.init_coef] for s, f in zip(with_source, folds, strict=True)]
        nos = [[s, f.init_coef] for s, f in zip(without, folds, strict=True)]
        w_src = _blend_weights(folds, src, ["smart", "source", "ridge"])
        w_nos = _blend_weights(folds, nos, ["smart", "ridge"])
    else:
        src, nos = [[s] for s in with_source], [[s] for s in without]
        w_src = w_nos = np.ones(1)
    sse_src, sse_nos = _sse(folds, src, w_src), _sse(folds, nos, w_nos)
    zero = [[np.zeros((p, q))] for _ in folds]
    n_values = sum(f.held_out.n for f in folds) * q
    return TransferGain(
        mse_source=float(sse_src.sum() / n_values), mse_no_source=float(sse_nos.sum() / n_values),
        sse_source=sse_src, sse_no_source=sse_nos, sse_intercept=_sse(folds, zero, np.ones(1)),
        no_source_rank=r0, no_source_alpha=a0, blended=bool(blend))

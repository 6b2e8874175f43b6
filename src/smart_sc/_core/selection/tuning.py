"""Data-driven tuning of SMART (the paper's Section 4; docs/method.md).

* lambda by BIC along a deterministic, warm-started path (large to small);
* structural ranks by K-fold cross-validation over the paper's grid;
* the small-target shrinkage ``alpha`` by the same cross-validation, with 0
  (the paper's estimator) among the candidates.

Cross-validation works on per-fold sums (:mod:`..sums.stats`): each fold's training
statistics are the total minus the fold, and its validation error comes from the
fold's own sums, so the cells are read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..memory import return_freed_memory
from ..solver.admm import (
    AdmmResult,
    AdmmState,
    RotatedProblem,
    RotatedStart,
    SourceBasis,
    constrained_state,
    d_step,
    d_step_terms,
    initial_state,
    lambda_max,
    solve_admm,
    source_pull_terms,
)
from ..sums.spectrum import cells_are_cheaper, with_cell_spectrum
from ..sums.stats import RawSums, TrainingMeans, held_out_sse, shifted_intercept
from .ridge import ridge_gcv

__all__ = [
    "CV_LAMBDAS",
    "DEFAULT_LAMBDAS",
    "FoldData",
    "PathFit",
    "coarse_structural_grid",
    "cv_error",
    "fit_fold",
    "fit_lambda_path",
    "hard_folds_first",
    "structural_pairs",
    "structural_rank_grid",
]

#: The paper's lambda range, log10 lambda in [-3, 2], 10 values.
DEFAULT_LAMBDAS = np.logspace(-3, 2, 10)
#: The same range, 4 values: lambda inside cross-validation folds with the fast tuning.
CV_LAMBDAS = np.logspace(-3, 2, 4)


def rss_over_n(problem: RotatedProblem, state: AdmmState) -> float:
    """``||Y - X C||_F^2 / n`` from rotated statistics (``V^T V = I`` makes it cheap)."""
    W, Z, d = state.W, state.Z, state.d
    cross, quad = d_step_terms(problem.A @ W, problem.M @ Z, W)
    return max(problem.yy_trace - 2.0 * float(d @ cross) + float((d * d) @ quad), 0.0)


def bic(problem: RotatedProblem, result: AdmmResult, n: int) -> float:
    """The paper's BIC: ``log(RSS / nq) + nnz(Omega) log(nq) / nq``."""
    nq = n * problem.q
    mse = rss_over_n(problem, result.state) / problem.q
    return float(np.log(max(mse, 1e-300)) + result.nnz() * np.log(nq) / nq)


@dataclass
class PathFit:
    """A lambda path: every fit, its BIC, and the chosen index."""

    lambdas: np.ndarray
    bic: np.ndarray
    results: list[AdmmResult]
    best: int

    @property
    def best_result(self) -> AdmmResult:
        return self.results[self.best]

    @property
    def best_lambda(self) -> float:
        return float(self.lambdas[self.best])


def _warm(state: AdmmState, lam_u: float, lam_v: float) -> AdmmState:
    # At a solution for a larger lambda, |Gamma| <= lambda; project the
    # multipliers on the new box so they stay valid subgradients.
    nxt = state.copy()
    nxt.gamma_u = np.clip(nxt.gamma_u, -lam_u, lam_u)
    nxt.gamma_v = np.clip(nxt.gamma_v, -lam_v, lam_v)
    return nxt


def fit_lambda_path(
    problem: RotatedProblem,
    state0: AdmmState,
    lambdas: Sequence[float],
    n: int,
    *,
    tol: float,
    max_iter: int,
    inner_max_iter: int = 100,
    warm_start: bool = True,
    record: bool = True,
) -> PathFit:
    """Fit SMART for each tied ``lam_u = lam_v`` in ``lambdas`` and score by BIC.

    The path runs from the largest lambda down, each fit starting from the
    previous solution when that converged (else from ``state0``); ties in BIC
    (within :data:`BIC_TIE`: round-off) go to the larger lambda (the simpler model).
    Fits that did not converge are not chosen while a converged one exists.
    With one lambda this is a single fit.
    """
    lams = np.sort(np.asarray(lambdas, dtype=np.float64))[::-1]
    results: list[AdmmResult] = []
    scores = np.empty(lams.size)
    # Above lambda_max the fit confined to the source subspaces is exact; the
    # ADMM started there stops after one iteration instead of crawling to it.
    confined = constrained_state(problem, state0.W.shape[1]) if warm_start else None
    exact_above = lambda_max(confined) if confined is not None else np.inf
    state, fresh = state0, True
    for lam in lams:
        pb = problem.with_params(lam_u=float(lam), lam_v=float(lam))
        start = (confined if lam >= exact_above else state0) if fresh else _warm(state, lam, lam)
        res = solve_admm(pb, start, tol=tol, max_iter=max_iter,
                         inner_max_iter=inner_max_iter, record=record)
        results.append(res)
        scores[len(results) - 1] = bic(pb, res, n)
        # Warm-start only from a fit that converged: a stalled iterate (structural
        # rank < r at large lambda) sends the next fit to a poor stationary point
        # (Model I, n = 1000: error 0.045 instead of 0.005). Otherwise start again
        # from the initial estimate, as the paper does for every lambda.
        fresh = not (warm_start and res.converged)
        state = res.state
    # Only fits that met the tolerance are scored: an unconverged iterate's
    # Omega can still be all zero while U leaves the source subspace, which the
    # BIC would reward as a sparse model (seen at structural rank < r, large
    # lambda). Without any converged fit, all are compared.
    converged = np.array([res.converged for res in results])
    eligible = np.where(converged, scores, np.inf) if converged.any() else scores
    return PathFit(lambdas=lams, bic=scores, results=results, best=first_within_tie(eligible))


#: BICs closer than this are tied. The fits above ``lambda_max`` are the same
#: point, and their BICs differ only in the round-off of the RSS (about 1e-14;
#: dense and sparse storage of the same cells ordered them differently), while
#: one more non-zero in ``Omega`` moves the BIC by ``log(nq) / nq`` (1e-3 for
#: 10,000 values).
BIC_TIE = 1e-10


def first_within_tie(scores: np.ndarray) -> int:
    """Index of the first score within :data:`BIC_TIE` of the smallest (the largest lambda)."""
    return int(np.flatnonzero(scores <= scores.min() + BIC_TIE)[0])


def structural_rank_grid(r: int, source_rank: int, p: int, q: int,
                         n_between: int = 5) -> list[int]:
    """The paper's grid of tied structural ranks (docs/method.md).

    ``{0, ..., r}``, then ``n_between`` evenly spaced values from ``r`` to the
    source rank ``k0`` (or ``r, 2r, ..., 5r`` and ``n_between`` values from
    ``6r`` to ``k0`` when ``k0 > 10 r``), then ``n_between`` values from ``k0`` to
    ``max(p, q)``; rounded and deduplicated.
    """
    k0 = max(int(source_rank), r)
    m = max(p, q)
    vals: list[float] = list(range(r + 1))
    if k0 > 10 * r:
        vals += [r * j for j in range(1, 6)]
        vals += list(np.linspace(6 * r, k0, n_between))
    else:
        vals += list(np.linspace(r, k0, n_between))
    vals += list(np.linspace(k0, m, n_between))
    return sorted({round(v) for v in vals if 0 <= round(v) <= m})


def coarse_structural_grid(r: int, source_rank: int, p: int, q: int) -> list[int]:
    """A short grid of tied structural ranks: ``{r, 2r, 4r, 8r, k0, max(p, q)}``.

    On real data the validation error is flat across structural ranks near
    ``r`` (measured in ``docs/defaults.md``); six values, doubling from ``r``,
    plus the source rank ``k0`` and "no penalty", cover it at a third of the
    paper's grid's cost.
    """
    k0 = max(int(source_rank), r)
    m = max(p, q)
    return sorted({v for v in (r, 2 * r, 4 * r, 8 * r, k0, m) if 0 <= v <= m})


def structural_pairs(grid: Sequence[int], p: int, q: int) -> list[tuple[int, int]]:
    """Tied ranks clipped to ``(p, q)``, duplicates dropped, order kept."""
    seen: list[tuple[int, int]] = []
    for s in grid:
        pair = (min(int(s), p), min(int(s), q))
        if pair not in seen:
            seen.append(pair)
    return seen


@dataclass
class FoldData:
    """One cross-validation fold: training statistics rotated into the source bases."""

    base: RotatedProblem  # tuning parameters filled in per candidate
    init_coef: np.ndarray  # ridge initial estimate on the training cells
    start: RotatedStart  # its SVD in source coordinates
    held_out: RawSums
    train_stats: TrainingMeans  # the training cells' means (all a held-out error reads)
    n_train: int
    #: The held-out residual's spectrum at ``C = 0`` (see :meth:`rank_floor`),
    #: filled on first use; one assignment, so a thread never sees half of it.
    residual_spectrum: ZeroFitSpectrum | None = None

    def rank_floor(self, rank: int) -> float:
        """A lower bound of the fold's held-out SSE for any ``C`` of rank at most ``rank``.

        The held-out residual is ``A - B C`` with ``A`` the responses about the
        training intercept at ``C = 0`` and ``B`` the cells about the training
        means: ``B C`` has rank at most ``rank``, so (Eckart-Young) the residual
        is at least the energy of ``A`` beyond its ``rank`` leading directions.
        Lowered by ``FLOOR_MARGIN`` times the size of the sums it comes from,
        so that round-off (which scales with them, not with the residual, when
        the sums' shift is far from the cells) never makes it exceed a fit's
        own computed error.
        """
        spectrum = self.residual_spectrum
        if spectrum is None:
            spectrum = self.residual_spectrum = zero_fit_spectrum(self.held_out,
                                                                  self.train_stats)
        tail = float(np.maximum(spectrum.values[rank:], 0.0).sum())
        return tail - FLOOR_MARGIN * spectrum.magnitude


#: Slack of :meth:`FoldData.rank_floor`, relative to the size of the sums it is
#: computed from (their round-off is about 1e-14 of it).
FLOOR_MARGIN = 1e-9


class ZeroFitSpectrum(NamedTuple):
    """Eigenvalues (descending) of ``A^T A`` and the size of the sums they come from."""

    values: np.ndarray
    #: ``trace(S_yy) + 2 |b^T s_y| + n b^T b``: bounds the trace of ``A^T A`` and
    #: sets the scale of its round-off.
    magnitude: float


def zero_fit_spectrum(held_out: RawSums, train: TrainingMeans) -> ZeroFitSpectrum:
    """The spectrum of ``A^T A`` for the held-out residual ``A`` at ``C = 0``.

    ``A = Y - 1 b^T`` in ``held_out``'s shifted coordinates, ``b`` the training
    intercept of ``C = 0`` (:func:`..sums.stats.shifted_intercept`; zero for a
    fit without intercept, whose sums are not shifted): ``A^T A = S_yy - b s_y^T
    - s_y b^T + n b b^T``.
    """
    q = held_out.sy.size
    b = shifted_intercept(held_out, train, np.zeros((held_out.sx.size, q)))
    cross = np.outer(b, held_out.sy)
    gram = held_out.syy - cross - cross.T + held_out.n * np.outer(b, b)
    magnitude = (float(np.trace(held_out.syy)) + 2.0 * abs(float(b @ held_out.sy))
                 + held_out.n * float(b @ b))
    return ZeroFitSpectrum(np.linalg.eigvalsh(0.5 * (gram + gram.T))[::-1], magnitude)


def refit_d(problem: RotatedProblem, state: AdmmState, alpha: float,
            pull: float = 0.0) -> np.ndarray:
    """The D-step for another shrinkage ``(alpha, pull)`` at fixed singular vectors.

    Exact for that step: the pull adds ``alpha pull u_j^T C0 v_j`` to each
    component's cross term (:mod:`..solver.admm`).
    """
    num, quad = d_step_terms(problem.A @ state.W, problem.M @ state.Z, state.W)
    if alpha * pull != 0.0:
        num = num + alpha * pull * source_pull_terms(state.W, state.Z, problem.source_values)
    return d_step(num, quad, alpha)


def fit_fold(fold: FoldData, basis: SourceBasis, *, rank: int, pair: tuple[int, int],
             alpha: float, lambdas: Sequence[float], tol: float, max_iter: int,
             inner_max_iter: int, pull: float = 0.0) -> tuple[RotatedProblem, AdmmState]:
    """Fit one candidate on a fold's training cells, lambda by BIC; its problem and state."""
    r_u, r_v = pair
    pb = fold.base.with_params(r_u=r_u, r_v=r_v, alpha=alpha, pull=pull)
    state0 = initial_state(fold.start, basis, rank, r_u, r_v)
    path = fit_lambda_path(pb, state0, lambdas, fold.n_train, tol=tol, max_iter=max_iter,
                           inner_max_iter=inner_max_iter, record=False)
    return pb, path.best_result.state


def cv_error(
    folds: Sequence[FoldData],
    basis: SourceBasis,
    *,
    rank: int,
    pair: tuple[int, int],
    alpha: float,
    shrinkages: Sequence[tuple[float, float]],
    lambdas: Sequence[float],
    tol: float,
    max_iter: int,
    inner_max_iter: int,
    pull: float = 0.0,
    stop_above: float = np.inf,
    fold_order: Sequence[int] | None = None,
) -> np.ndarray:
    """Mean squared validation error ``sum_k ||Y_k - X_k C_k||^2 / (n q)`` of a candidate.

    Each fold is fitted at shrinkage ``(alpha, pull)`` with lambda by BIC. The
    error is returned for every ``(alpha, pull)`` in ``shrinkages``: the fold's
    fit is re-solved in its D-step only (singular vectors held), which prices
    the shrinkage at no extra cost, so structural ranks and the shrinkage are
    chosen jointly from one pass of fits.

    With ``stop_above``, the candidate is given up as soon as the folds fitted
    so far, plus a lower bound of the others' errors, exceed it at every
    shrinkage: its error would too, and a search for the smallest error cannot
    choose it. Its errors are then ``inf``. The bound of a fold not yet fitted
    is :meth:`FoldData.rank_floor`: every fit of the candidate has rank at most
    ``rank``, and no such fit can predict the held-out responses better than
    their best rank-``rank`` approximation does. ``fold_order`` is the
    order the folds are fitted in (:func:`hard_folds_first`: the sooner the
    big errors come, the sooner a hopeless candidate is given up); the error
    of a candidate scored in full is summed in fold order whatever it is, so
    its bits do not depend on it.
    """
    per_fold = np.zeros((len(folds), len(shrinkages)))
    so_far = np.zeros(len(shrinkages))
    total = sum(fold.held_out.n for fold in folds) * basis.V0.shape[0]  # held-out values
    # What the folds not yet fitted will add at least (nothing known without a bound).
    floors = ([fold.rank_floor(rank) for fold in folds] if np.isfinite(stop_above)
              else [0.0] * len(folds))
    order = list(range(len(folds)) if fold_order is None else fold_order)
    for i, k in enumerate(order):
        # Summed afresh, not kept by subtraction: a running difference of large
        # floors leaves round-off where the folds left have nothing to add.
        ahead = max(float(sum(floors[j] for j in order[i:])), 0.0)
        if (so_far.min(initial=np.inf) + ahead) / total > stop_above:
            return np.full(len(shrinkages), np.inf)
        fold = folds[k]
        pb, best = fit_fold(fold, basis, rank=rank, pair=pair, alpha=alpha, lambdas=lambdas,
                            tol=tol, max_iter=max_iter, inner_max_iter=inner_max_iter,
                            pull=pull)
        L, R = basis.from_source(best.W), basis.V0 @ best.Z
        for j, (a, g) in enumerate(shrinkages):
            same = a == alpha and (g == pull or a == 0.0)
            d = best.d if same else refit_d(pb, best, a, g)
            per_fold[k, j] = held_out_sse(fold.held_out, fold.train_stats, L * d, R).sum()
        so_far += per_fold[k]
    sse = np.zeros(len(shrinkages))
    for row in per_fold:  # in fold order whatever the fitting order: the bits of a plain sum
        sse += row
    return sse / total


def hard_folds_first(folds: Sequence[FoldData]) -> list[int]:
    """Folds by their held-out error at ``C = 0`` (the training means), largest first.

    A candidate is given up once its partial error passes a bound; what keeps
    a hopeless one going longest is its most shrunk fit, whose error follows
    the folds' spread around the training means. Fitting those folds first
    gives it up sooner, and the order changes no complete error.
    """
    zero = [held_out_sse(f.held_out, f.train_stats, np.zeros((f.held_out.sx.size, 1)),
                         np.zeros((f.held_out.sy.size, 1))).sum() for f in folds]
    return [int(k) for k in np.argsort(-np.asarray(zero), kind="stable")]  # ties: fold order


def make_folds(fold_sums: Sequence[RawSums], basis: SourceBasis, *, center: bool,
               ridge_alphas, cells=None, labels: np.ndarray | None = None,
               tot: RawSums | None = None,
               train_sums: Sequence[RawSums] | None = None) -> list[FoldData]:
    """Training statistics, rotated problem and ridge start for every fold.

    With the ``cells`` (``X``) and their fold ``labels``, each training set's
    spectrum comes from its cells where that is cheaper (:mod:`..sums.spectrum`).
    ``tot`` is the sum of ``fold_sums`` if the caller has it (``p^2`` per fold
    to add up again otherwise); ``train_sums`` the sums of each fold's
    training cells if the caller has them (else ``tot`` minus the fold).
    """
    from ..sums.stats import total

    if train_sums is None:
        tot = total(list(fold_sums)) if tot is None else tot
        train_sums = [tot - held for held in fold_sums]
    use_cells = cells is not None and labels is not None and cells_are_cheaper(cells)
    folds = []
    for k, (held, train_raw) in enumerate(zip(fold_sums, train_sums, strict=True)):
        train = train_raw.to_stats(center)
        train_raw = None  # p x p: freed before this fold's eigendecomposition
        return_freed_memory(8 * held.sx.size ** 2)  # what a p x p matrix takes
        if use_cells:
            train = with_cell_spectrum(train, cells, np.flatnonzero(labels != k))
        init = ridge_gcv(train, ridge_alphas).coef
        base = RotatedProblem.from_stats(train, basis, 0, 0)
        folds.append(FoldData(base=base, init_coef=init,
                              start=RotatedStart.from_coef(init, basis),
                              held_out=held, train_stats=TrainingMeans.of(train),
                              n_train=train.n))
    return folds

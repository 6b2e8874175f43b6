"""The full data-driven SMART fit: statistics, start, ranks, lambda, alpha, final fit, blend.

This is the paper's data-driven "SMART" (Section 4 of the paper: rank by RSC,
structural ranks by cross-validation, lambda by BIC) with our extensions, each
named and switchable: the small-target shrinkage ``alpha``, a faster search
(``tuning="fast"``: the RSC rank and the rank two above it, a short
structural-rank grid, four lambdas inside the folds), and the cross-validated
blend with the source and a target ridge fit (:mod:`.selection.blend`). Every tuning
parameter the caller fixes is used as is; every ``None`` is chosen from the
data. Arrays in, arrays out: the estimator layer does validation and
scikit-learn conventions.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from joblib import delayed
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from ..exceptions import SmallTargetWarning
from .randomness import check_random_state
from .selection.blend import BlendResult, choose_blend, residual_gram
from .selection.rank import RankSelection, is_design_ill_posed, select_rank_rsc
from .selection.ridge import DEFAULT_RIDGE_ALPHAS, RidgePath, ridge_gcv
from .selection.transfer_gain import TransferGain, scored_no_source, transfer_gain
from .selection.tuning import (
    CV_LAMBDAS,
    DEFAULT_LAMBDAS,
    FoldData,
    PathFit,
    coarse_structural_grid,
    cv_error,
    fit_fold,
    fit_lambda_path,
    hard_folds_first,
    make_folds,
    structural_pairs,
    structural_rank_grid,
)
from .solver.admm import RotatedProblem, SourceBasis, initial_state
from .solver.cells import cells_gram_problem, source_start
from .sums.passes import compute_sums, fold_sums
from .sums.spectrum import cells_are_cheaper, few_cells, with_cell_spectrum
from .sums.stats import SufficientStats, cell_fold_sums, kfold_labels, total
from .threads import run_independent, single_threaded

__all__ = ["SmartFit", "SmartSettings", "fit_smart"]

logger = logging.getLogger("smart_sc")

#: Multiples of the ridge penalty tried for ``alpha`` (0 is always tried too).
ALPHA_MULTIPLES = (0.001, 0.01, 0.1, 1.0, 10.0)
#: Pulls tried with a source: ``alpha`` shrinks toward ``pull * C0`` (0: toward zero).
SOURCE_PULLS = (0.0, 0.5, 1.0)
#: How many D-priced alpha candidates are confirmed by real fits at most.
ALPHA_CONFIRMATIONS = 3
#: Stiefel iterations per subproblem: final fit, and the loose cross-validation fits.
#: The ADMM's stopping rule checks stationarity of the whole problem, so the cap
#: changes the path, not the fixed point. 5 instead of 10 for the final fit:
#: the same errors on the paper's Models I and III (5 draws each), and 42% fewer
#: products with S_xx at 400 cells x 2,000 genes, where the subproblems always
#: hit the cap and the outer iteration does the work anyway.
INNER_MAX_ITER = 5
CV_INNER_MAX_ITER = 5
#: Ranks above the RSC rank that the fast tuning also cross-validates: on real
#: targets RSC tends to choose too low a rank.
RANK_STEPS_ABOVE_RSC = (2,)
TUNINGS = ("fast", "paper")
#: How products with S_xx are made: the p x p Gram matrix, or through the cells.
GRAMS = ("auto", "full", "cells")
#: With gram="auto", more features than this go through the cells: the Gram
#: matrix would take 0.5 GB and its eigendecomposition minutes. A fit that
#: tunes, on fewer cells than half the features, stays on the Gram route: its
#: per-fold sums then form no p x p matrix.
CELLS_ABOVE_GENES = 8000
#: Targets with fewer cells get their blend weights from this many K-fold partitions.
BLEND_REPEATS_BELOW = 100
BLEND_REPEATS = 3
#: ADMM iterations inside the folds with the fast tuning (see SmartSettings.cv_max_iter).
FAST_CV_MAX_ITER = 20
#: ADMM iterations of the fold fits that price alpha on an ill-posed design (the
#: pilot and its confirmation): at the final tolerance, but capped at the paper's
#: CV cap. A weakly shrunk fit shows its degradation well within it; uncapped,
#: the few fits that never converge took 500 iterations each and half of such a
#: fit's time. On 24 real 20-cell targets the choices and errors were unchanged
#: and the time fell by 17% (benchmarks/README.md).
ALPHA_CHECK_MAX_ITER = 100


@dataclass
class SmartSettings:
    """Tuning parameters (``None``: choose from the data) and solver settings."""

    rank: int | None = None
    structural_rank: tuple[int, int] | None = None
    lam: float | None = None
    alpha: float | None = None
    source_pull: float | None = 0.0
    fit_intercept: bool = True
    tuning: str = "fast"
    blend: bool = True
    transfer_gain: bool = True
    gram: str = "auto"
    tol: float = 1e-3
    max_iter: int = 500
    cv: int = 5
    cv_tol: float = 1e-2
    paper_cv_max_iter: int = 100
    lambdas: np.ndarray = field(default_factory=lambda: DEFAULT_LAMBDAS.copy())
    ridge_alphas: tuple[float, ...] = DEFAULT_RIDGE_ALPHAS
    n_jobs: int | None = None
    random_state: int | None = None
    verbose: bool = False

    @property
    def cv_max_iter(self) -> int:
        """ADMM iterations allowed to a fit inside a fold.

        The paper allows 100. Fits inside the folds that converge at the loose
        tolerance do so within 30 iterations (real CITE-seq: at most 15 of 188;
        the paper's Model I: 99% within 16, at most 29 of 745), while those
        that do not converge spent 100 each and 75-85% of all iterations. They
        never win a BIC against a converged fit, so the fast tuning stops them
        at 20; the rare fit that would have converged later loses its vote,
        and no choice changed where this was measured (docs/defaults.md).
        """
        return FAST_CV_MAX_ITER if self.tuning == "fast" else self.paper_cv_max_iter

    @property
    def cv_lambdas(self) -> np.ndarray:
        """Lambdas scored by BIC inside each cross-validation fold."""
        if self.lam is not None:
            return np.array([self.lam])
        return CV_LAMBDAS.copy() if self.tuning == "fast" else self.lambdas


@dataclass
class SmartFit:
    """Everything a fit produced: coefficients, choices and diagnostics."""

    coef: np.ndarray  # (p, q), blended when a blend was chosen
    intercept: np.ndarray  # (q,)
    smart_coef: np.ndarray  # (p, q), the SMART fit alone
    rank: int
    structural_rank: tuple[int, int]
    lam: float
    alpha: float
    source_pull: float
    path: PathFit
    source_rank: int
    rank_selection: RankSelection | None
    cv_results: dict
    blend: dict | None
    ill_posed: bool
    U: np.ndarray  # (p, r) target left singular vectors
    singular_values: np.ndarray  # (r,) the diagonal of D (may be signed)
    V: np.ndarray  # (q, r)
    transfer_gain: TransferGain | None = None

    @property
    def result(self):
        return self.path.best_result


@dataclass
class _Problem:
    """What every step of the data-driven fit reads: data summaries and settings."""

    stats: SufficientStats
    folds: list[FoldData] | None
    basis: SourceBasis
    C0: np.ndarray | None
    ridge: RidgePath
    settings: SmartSettings
    #: More fold partitions for the blend weights on small targets (see _blend).
    blend_folds: list[list[FoldData]] = field(default_factory=list)

    @property
    def has_source(self) -> bool:
        return self.C0 is not None

    @property
    def p(self) -> int:
        return self.stats.n_features

    @property
    def q(self) -> int:
        return self.stats.n_targets

    def lambdas_for(self, pair, *, in_cv: bool):
        """Lambdas to fit: none when the penalty is off, else the fold or final grid."""
        if tuple(pair) == (self.p, self.q):
            return [0.0]
        if in_cv:
            return self.settings.cv_lambdas
        s = self.settings
        return s.lambdas if s.lam is None else [s.lam]


def _needs_cv(s: SmartSettings, has_source: bool) -> bool:
    free_pull = has_source and s.source_pull is None and s.alpha != 0
    return (s.alpha is None or s.blend or (s.rank is None and s.tuning == "fast")
            or (has_source and s.structural_rank is None) or free_pull)


def fit_smart(X, Y: np.ndarray, C0: np.ndarray | None, settings: SmartSettings) -> SmartFit:
    """Fit SMART to validated ``X`` (n x p, dense or sparse) and ``Y`` (n x q).

    ``C0`` is the source coefficient matrix (p x q) or ``None`` for the
    no-transfer special case (rank-``r`` reduced-rank regression).
    """
    s = settings
    n, p = X.shape
    q = Y.shape[1]
    center = bool(s.fit_intercept)
    with single_threaded():  # threaded LAPACK is 4x slower on a p x q QR and SVD
        basis = SourceBasis.from_coef(C0, p, q)
    if C0 is not None and basis.rank == 0:
        raise ValueError("source_coef is zero (rank 0): it has no subspace to transfer; fit "
                         "without a source (source_coef=None) or check the source model")
    if _through_cells(X, s, C0 is not None):
        with single_threaded():
            return _fit_through_cells(X, Y, C0, basis, s)

    # One pass over the cells: per-fold sums when anything is cross-validated.
    sums_per_fold = None
    if _needs_cv(s, C0 is not None):
        if n < 2 * s.cv:
            raise ValueError(
                f"{s.cv}-fold cross-validation needs at least {2 * s.cv} samples "
                f"(2 per fold), got n_samples = {n}; lower cv, or fix the tuning "
                "parameters and pass blend=False"
            )
        labels = kfold_labels(n, s.cv, s.random_state)
        sums_per_fold, train_sums, raw = _fold_statistics(X, Y, labels, s.cv, center)
    else:
        train_sums = None
        raw = compute_sums(X, Y) if center else compute_sums(X, Y, np.zeros(p), np.zeros(q))
        # A fit that tunes nothing still gets folds for its transfer gain (where there
        # are enough cells), from a second pass: the fit's own statistics stay those
        # of a pass without folds, so the diagnostic never changes the fit (the
        # folds' total differs in the last bits, with the folds, and an ADMM
        # stopped at its tolerance shows that at about 1e-4).
        if s.transfer_gain and C0 is not None and n >= 2 * s.cv:
            labels = kfold_labels(n, s.cv, s.random_state)
            sums_per_fold = fold_sums(X, Y, labels, s.cv, center=center)
            train_sums = _training_sums(raw, sums_per_fold)

    # The solver multiplies small matrices thousands of times and runs on one
    # BLAS thread, except for work on big matrices (:mod:`.threads`). The
    # one-pass statistics above keep the caller's threads.
    with single_threaded():
        folds = (make_folds(sums_per_fold, basis, center=center, ridge_alphas=s.ridge_alphas,
                            cells=X, labels=labels, tot=raw, train_sums=train_sums)
                 if sums_per_fold is not None else None)
        # After the folds, and the raw total let go: one p x p fewer at their memory peak.
        stats, raw = raw.to_stats(center), None
        if cells_are_cheaper(X):
            stats = with_cell_spectrum(stats, X)
        ridge = ridge_gcv(stats, s.ridge_alphas)
        extra = (_repeated_folds(X, Y, basis, s) if folds is not None and s.blend
                 and n < BLEND_REPEATS_BELOW else [])
        return _fit_from_stats(_Problem(stats, folds, basis, C0, ridge, s, extra))


def _through_cells(X, s: SmartSettings, has_source: bool) -> bool:
    """Whether to multiply by ``S_xx`` through the cells (:mod:`.solver.cells`).

    The Gram matrix is then never formed.
    """
    p = X.shape[1]
    if s.gram == "full" or (s.gram == "auto" and p <= CELLS_ABOVE_GENES):
        return False
    free = {"rank": s.rank, "lam": s.lam, "alpha": s.alpha}
    if has_source:
        free["structural_rank"] = s.structural_rank
        if s.alpha != 0:
            free["source_pull"] = s.source_pull
    missing = [name for name, value in free.items() if value is None]
    if missing or s.blend:
        if s.gram == "auto" and few_cells(X):
            # Tuning reads per-fold sums, which with few cells in memory are kept
            # as the cells (no p x p matrix; a fixed fit's one total would be one).
            return False
        gb = 8 * p * p / 1e9
        raise ValueError(
            f"{p} features: choosing {', '.join(missing) or 'the blend weights'} from the "
            f"data needs the {p} x {p} Gram matrix ({gb:.1f} GB) and its eigendecomposition. "
            "Fix rank, structural_rank, lam and alpha and pass blend=False for the fit "
            "through the cells, or pass gram='full' to allow the Gram matrix"
        )
    if sp.issparse(X) or isinstance(X, np.ndarray):
        return True
    # Out-of-core cells: a product through them would read the store at every
    # iteration; the Gram matrix comes from one pass but takes 8 p^2 bytes.
    raise ValueError(
        f"{p} features with cells out of memory ({type(X).__name__}): products through "
        "the cells would read them at every iteration. Pass gram='full' to form the "
        f"{p} x {p} Gram matrix in one pass ({8 * p * p / 1e9:.1f} GB), or load the cells "
        "into memory (numpy or scipy.sparse) for gram='cells'")


def _fit_through_cells(X, Y, C0, basis: SourceBasis, s: SmartSettings) -> SmartFit:
    p, q = X.shape[1], Y.shape[1]
    pair = tuple(s.structural_rank) if C0 is not None else (p, q)
    lam = 0.0 if pair == (p, q) else float(s.lam)
    pull = float(s.source_pull or 0.0) if C0 is not None else 0.0
    problem, x_mean, y_mean = cells_gram_problem(
        X, Y, basis, center=bool(s.fit_intercept), r_u=pair[0], r_v=pair[1],
        alpha=float(s.alpha), pull=pull)
    # One lambda, from the source's leading subspaces: no spectrum for a ridge start.
    path = fit_lambda_path(problem, source_start(problem, int(s.rank)), [lam], X.shape[0],
                           tol=s.tol, max_iter=s.max_iter, inner_max_iter=INNER_MAX_ITER)
    _warn_unconverged(path.best_result, s)
    state = path.best_result.state
    coef = state.coef(basis)
    return SmartFit(
        coef=coef, intercept=y_mean - x_mean @ coef, smart_coef=coef, rank=int(s.rank),
        structural_rank=(int(pair[0]), int(pair[1])), lam=lam, alpha=float(s.alpha),
        source_pull=pull, path=path, source_rank=basis.rank if C0 is not None else 0,
        rank_selection=None, cv_results={}, blend=None, ill_posed=False,
        U=basis.from_source(state.W),
        singular_values=state.d.copy(), V=basis.V0 @ state.Z,
    )


def _repeated_folds(X, Y, basis: SourceBasis, s: SmartSettings) -> list[list[FoldData]]:
    """Other shuffles of the K folds, for the blend weights of a small target.

    With a few cells per fold one partition's validation errors are noisy
    enough to pick the wrong weights (20 training cells: folds of 4); repeated
    K-fold averages that noise out. Cheap where it applies: few cells.
    """
    rng = check_random_state(s.random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=BLEND_REPEATS - 1)
    out = []
    for seed in seeds:
        labels = kfold_labels(X.shape[0], s.cv, int(seed))
        sums, train_sums, tot = _fold_statistics(X, Y, labels, s.cv, bool(s.fit_intercept))
        out.append(make_folds(sums, basis, center=bool(s.fit_intercept),
                              ridge_alphas=s.ridge_alphas, cells=X, labels=labels, tot=tot,
                              train_sums=train_sums))
    return out


def _fold_statistics(X, Y, labels, n_folds: int, center: bool):
    """Per-fold held-out sums, training sums (``None``: total minus fold) and the total.

    With few cells (:func:`.sums.spectrum.few_cells`) no ``p x p`` sum is formed:
    every product with one goes through the cells (:class:`.sums.stats.DeferredSums`).
    """
    if few_cells(X):
        return cell_fold_sums(X, Y, labels, n_folds, center=center)
    sums = fold_sums(X, Y, labels, n_folds, center=center)
    tot = total(sums)
    return sums, _training_sums(tot, sums), tot


def _training_sums(tot, held_out):
    """Each fold's training sums, ``tot`` minus the fold, formed one at a time as read.

    A generator: the folds' set-up takes them in turn, so at most one extra
    ``p x p`` sum is alive (all of them at once were 5 x 32 MB at 2,000 genes).
    """
    return (tot - held for held in held_out)


def user_stacklevel() -> int:
    """Stack level of the first frame outside smart_sc: warnings point at the user's call.

    A fixed level points into the package when the estimator is reached
    through ``tl.transfer`` or ``tl.benchmark`` rather than called directly.
    """
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            package_dir + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _warn_if_ill_posed(pb: _Problem) -> bool:
    ill_posed = is_design_ill_posed(pb.stats)
    if ill_posed:
        s = pb.settings
        msg = (
            f"the target design is (near) singular: {pb.stats.n} cells for rank "
            f"{pb.stats.design_rank} of {pb.p} features. The paper's estimator has no "
            "shrinkage and overfits here; "
        )
        msg += (
            "alpha (ridge shrinkage of C) is chosen by cross-validation and RSC's noise "
            "level comes from a ridge fit."
            if s.alpha is None
            else f"alpha={s.alpha} is used as given."
        )
        warnings.warn(msg, SmallTargetWarning, stacklevel=user_stacklevel())
        logger.warning(msg)
    return ill_posed


def _rank_candidates(pb: _Problem) -> tuple[list[int], RankSelection | None]:
    """Ranks to cross-validate: the given one, or RSC's (and, fast, RSC's + 2)."""
    s, stats = pb.settings, pb.stats
    cap = min(pb.p, pb.q, max(stats.design_rank, 1))
    if pb.has_source:
        cap = min(cap, pb.basis.rank)
    if s.rank is not None:
        rank = int(s.rank)
        limits = {"min(n_features, n_targets)": min(pb.p, pb.q),
                  "the rank of the design": stats.design_rank}
        if pb.has_source:
            limits["the rank of source_coef"] = pb.basis.rank
        for what, limit in limits.items():
            if rank > limit:
                raise ValueError(f"rank={rank} exceeds {what} ({limit})")
        return [rank], None
    sel = select_rank_rsc(stats, max_rank=cap, ridge=pb.ridge)
    logger.info("rank %d selected by RSC (threshold %.3g)", sel.rank, sel.threshold)
    ranks = [sel.rank]
    if s.tuning == "fast" and pb.folds is not None:
        ranks += [max(1, min(sel.rank + k, cap)) for k in RANK_STEPS_ABOVE_RSC]
    return sorted(set(ranks)), sel


Shrinkage = tuple[float, float]  # (alpha, source pull)


def _alpha_grid(pb: _Problem) -> list[float]:
    if pb.settings.alpha is not None:
        return [float(pb.settings.alpha)]
    ridge_ref = float(np.median(pb.ridge.alpha)) / pb.stats.n  # SMART's per-cell units
    return sorted({0.0, *(ridge_ref * m for m in ALPHA_MULTIPLES)})


def _pull_grid(pb: _Problem) -> list[float]:
    """Pulls toward the source: the given one, or :data:`SOURCE_PULLS` (none without a source)."""
    if not pb.has_source:
        return [0.0]
    if pb.settings.source_pull is not None:
        return [float(pb.settings.source_pull)]
    return list(SOURCE_PULLS)


def _shrinkage_grid(pb: _Problem) -> list[Shrinkage]:
    """Every ``(alpha, pull)`` to price; at ``alpha = 0`` (the paper) the pull does nothing."""
    pulls = _pull_grid(pb)
    return [(a, g) for a in _alpha_grid(pb) for g in (pulls if a > 0 else pulls[:1])]


def _pilot_shrinkage(pb: _Problem, rank: int, grid: list[Shrinkage], ill_posed: bool):
    """The shrinkage the candidates are fitted at; cross-validated on an ill-posed design.

    There the shrinkage matters most and the paper's alpha = 0 may blow up, so
    the pilot comes from real fits at the final tolerance (at most
    ``ALPHA_CHECK_MAX_ITER`` iterations) of the rank-``r`` model without the
    transfer penalty (one lambda, cheap): how much shrinkage
    the design needs. The pilot has the smallest pull of the grid.
    """
    s = pb.settings
    pull0 = min(g for _, g in grid)
    if s.alpha is not None or not ill_posed or pb.folds is None:
        return (s.alpha if s.alpha is not None else 0.0, pull0), None
    alphas = sorted({a for a, _ in grid})
    errs = [
        cv_error(pb.folds, pb.basis, rank=rank, pair=(pb.p, pb.q), alpha=a, pull=pull0,
                 shrinkages=[(a, pull0)], lambdas=[0.0], tol=s.tol,
                 max_iter=min(s.max_iter, ALPHA_CHECK_MAX_ITER),
                 inner_max_iter=INNER_MAX_ITER)[0]
        for a in alphas
    ]
    pilot = (float(alphas[int(np.argmin(errs))]), pull0)
    return pilot, {"alphas": np.asarray(alphas), "mse": np.asarray(errs)}


def _structural_pairs(pb: _Problem, rank: int) -> list[tuple[int, int]]:
    s = pb.settings
    if not pb.has_source:
        return [(pb.p, pb.q)]
    if s.structural_rank is not None:
        return [tuple(s.structural_rank)]
    grid = (coarse_structural_grid if s.tuning == "fast" else structural_rank_grid)
    return structural_pairs(grid(rank, pb.basis.rank, pb.p, pb.q), pb.p, pb.q)


def _cv_candidates(pb: _Problem, candidates, grid: list[Shrinkage],
                   pilot: Shrinkage) -> np.ndarray:
    """Validation MSE of every (rank, pair) candidate (rows) at every shrinkage (columns).

    The penalty-off candidates (pair ``(p, q)``: no source basis enters, the
    cheap ones) are scored first; a penalised candidate is then given up once
    its folds so far exceed the best of them (:func:`cv_error`'s
    ``stop_above``; its row is ``inf``). The choice is the same as with every
    candidate scored in full, and, the bound being fixed before the others
    start, so is every row, however the candidates are run side by side.
    """
    s = pb.settings
    bar = tqdm(total=len(candidates), desc="SMART cross-validation", disable=not s.verbose,
               leave=False)
    mse = np.empty((len(candidates), len(grid)))
    free = np.array([pair == (pb.p, pb.q) for _, pair in candidates], dtype=bool)
    bound, order = np.inf, hard_folds_first(pb.folds)
    for part in (np.flatnonzero(free), np.flatnonzero(~free)):
        jobs = [delayed(cv_error)(
            pb.folds, pb.basis, rank=candidates[i][0], pair=candidates[i][1], alpha=pilot[0],
            pull=pilot[1], shrinkages=grid, lambdas=pb.lambdas_for(candidates[i][1], in_cv=True),
            tol=s.cv_tol, max_iter=s.cv_max_iter, inner_max_iter=CV_INNER_MAX_ITER,
            stop_above=bound, fold_order=order) for i in part]
        for i, row in zip(part, run_independent(jobs, s.n_jobs), strict=True):
            mse[i] = row
            bar.update()
        bound = float(mse[part].min(initial=np.inf))
    bar.close()
    return mse


def _confirm_shrinkage(pb: _Problem, rank, pair, grid: list[Shrinkage], mse_row,
                       pilot: Shrinkage, ill_posed: bool) -> tuple[Shrinkage, dict]:
    """Confirm D-priced shrinkages by real fits, best first; keep the first at least as good.

    Pricing ``(alpha, pull)`` by the D-step alone holds the singular vectors
    of the pilot fit; refitted at another shrinkage they can move (at alpha =
    0 on a singular design, into directions the cells barely see). On an
    ill-posed design a weakly shrunk fit degrades only as the iteration
    proceeds, so there the confirmation uses the final tolerance (at most
    ``ALPHA_CHECK_MAX_ITER`` iterations).
    """
    s = pb.settings
    if ill_posed:
        how = dict(tol=s.tol, max_iter=min(s.max_iter, ALPHA_CHECK_MAX_ITER),
                   inner_max_iter=INNER_MAX_ITER)
    else:
        how = dict(tol=s.cv_tol, max_iter=s.cv_max_iter, inner_max_iter=CV_INNER_MAX_ITER)

    def real_cv(shrinkage: Shrinkage) -> float:
        a, g = shrinkage
        return cv_error(pb.folds, pb.basis, rank=rank, pair=pair, alpha=a, pull=g,
                        shrinkages=[shrinkage], lambdas=pb.lambdas_for(pair, in_cv=True),
                        **how)[0]

    pilot_err = real_cv(pilot) if ill_posed else float(mse_row[grid.index(pilot)])
    order = [grid[k] for k in np.argsort(mse_row, kind="stable")
             if grid[k] != pilot and mse_row[k] < pilot_err]
    checks = []
    chosen = pilot
    for shrinkage in order[:ALPHA_CONFIRMATIONS]:
        err = real_cv(shrinkage)
        checks.append({"alpha": float(shrinkage[0]), "source_pull": float(shrinkage[1]),
                       "mse_refit": float(err)})
        if err <= pilot_err:
            chosen = (float(shrinkage[0]), float(shrinkage[1]))
            break
    return chosen, {"pilot_alpha": pilot[0], "pilot_mse": float(pilot_err), "tried": checks}


def _cross_validate(pb: _Problem, ranks, grid: list[Shrinkage], ill_posed: bool):
    """Rank, structural ranks and shrinkage by one K-fold cross-validation.

    Each candidate is fitted per fold at a pilot shrinkage (alpha 0 unless the
    design is ill-posed), and every ``(alpha, pull)`` of the grid is priced by
    re-solving those fits' D-step; the favourites are then confirmed by real
    refits.
    """
    pilot, pilot_cv = _pilot_shrinkage(pb, ranks[0], grid, ill_posed)
    if pilot_cv is not None:
        # Real fits already rejected the weaker shrinkages on this design; pricing
        # them again by the D-step only invites refits that blow up (and crawl).
        grid = [c for c in grid if c[0] >= pilot[0]]
    candidates = [(r, pair) for r in ranks for pair in _structural_pairs(pb, r)]
    if pb.folds is None or (len(candidates) == 1 and len(grid) == 1):
        rank, pair = candidates[0]
        return rank, pair, grid[0], {}
    mse = _cv_candidates(pb, candidates, grid, pilot)
    i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
    (rank, pair), shrinkage = candidates[i], grid[j]
    results = {"ranks": [c[0] for c in candidates],
               "structural_ranks": [c[1] for c in candidates],
               "alphas": np.array([a for a, _ in grid]),
               "source_pulls": np.array([g for _, g in grid]),
               "mse": mse, "stopped_early": np.isinf(mse).all(axis=1), "pilot_alpha": pilot[0]}
    if pilot_cv is not None:
        results["pilot_alpha_cv"] = pilot_cv
    if shrinkage != pilot:
        shrinkage, results["alpha_check"] = _confirm_shrinkage(pb, rank, pair, grid, mse[i],
                                                               pilot, ill_posed)
    logger.info("%d-fold CV chose rank %d, structural ranks %s, alpha %.3g and source "
                "pull %.2g", pb.settings.cv, rank, pair, shrinkage[0], shrinkage[1])
    return rank, pair, shrinkage, results


def _final_path(pb: _Problem, rank: int, pair, shrinkage: Shrinkage) -> PathFit:
    """The lambda path on all cells at the final tolerance, lambda by BIC among converged fits."""
    s = pb.settings
    r_u, r_v = pair
    problem = RotatedProblem.from_stats(pb.stats, pb.basis, r_u, r_v, alpha=shrinkage[0],
                                        pull=shrinkage[1])
    state0 = initial_state(pb.ridge.coef, pb.basis, rank, r_u, r_v)
    path = fit_lambda_path(problem, state0, pb.lambdas_for(pair, in_cv=False), pb.stats.n,
                           tol=s.tol, max_iter=s.max_iter, inner_max_iter=INNER_MAX_ITER)
    _warn_unconverged(path.best_result, s)
    return path


def _warn_unconverged(res, s: SmartSettings) -> None:
    if not res.converged:
        msg = (f"SMART did not converge in {res.n_iter} iterations (primal residual "
               f"{res.primal_residual[-1]:.2e}, dual {res.dual_residual[-1]:.2e}, tol "
               f"{s.tol:.1e}); increase max_iter or loosen tol")
        warnings.warn(msg, ConvergenceWarning, stacklevel=user_stacklevel())
        logger.warning(msg)


def _blend(pb: _Problem, rank: int, pair, shrinkage: Shrinkage) -> BlendResult:
    """Cross-validated weights of SMART, the source and the target ridge fit.

    See :mod:`.selection.blend`.
    """
    s = pb.settings
    names = ["smart", "source", "ridge"] if pb.has_source else ["smart", "ridge"]
    gram = np.zeros((len(names), len(names)))
    partitions = [pb.folds, *pb.blend_folds]
    for fold in (f for partition in partitions for f in partition):
        _, state = fit_fold(fold, pb.basis, rank=rank, pair=pair, alpha=shrinkage[0],
                            pull=shrinkage[1], lambdas=pb.lambdas_for(pair, in_cv=True),
                            tol=s.cv_tol, max_iter=s.cv_max_iter, inner_max_iter=CV_INNER_MAX_ITER)
        coefs = [state.coef(pb.basis)]
        if pb.has_source:
            coefs.append(pb.C0)
        coefs.append(fold.init_coef)
        gram += residual_gram(fold.held_out, fold.train_stats, coefs)
    result = choose_blend(names, gram, len(partitions) * pb.stats.n * pb.q,
                          n_partitions=len(partitions))
    logger.info("blend weights %s (cross-validated MSE %.4g; SMART alone %.4g)",
                dict(zip(names, np.round(result.weights, 2), strict=True)), result.mse,
                result.component_mse[0])
    return result


def _transfer_gain(pb: _Problem, ranks, rank: int, pair, shrinkage: Shrinkage, cv_results):
    """The fit with the source against its no-source counterpart, on the same folds."""
    s = pb.settings
    if not (s.transfer_gain and pb.has_source and pb.folds is not None):
        return None
    how = dict(tol=s.cv_tol, max_iter=s.cv_max_iter, inner_max_iter=CV_INNER_MAX_ITER)
    gain = transfer_gain(pb.folds, pb.basis, pb.C0, rank=rank, pair=pair, shrinkage=shrinkage,
                         lambdas=pb.lambdas_for(pair, in_cv=True), ranks=ranks,
                         alphas=_alpha_grid(pb), blend=s.blend, how=how,
                         no_source_choice=scored_no_source(cv_results, pb.p, pb.q))
    logger.info("transfer gain %+.1f%% (cross-validated MSE %.4g with the source, %.4g "
                "without)", 100 * gain.gain, gain.mse_source, gain.mse_no_source)
    return gain


def _fit_from_stats(pb: _Problem) -> SmartFit:
    s = pb.settings
    ill_posed = _warn_if_ill_posed(pb)
    ranks, rank_sel = _rank_candidates(pb)
    rank, pair, shrinkage, cv_results = _cross_validate(pb, ranks, _shrinkage_grid(pb),
                                                        ill_posed)
    path = _final_path(pb, rank, pair, shrinkage)
    res = path.best_result
    smart_coef = res.state.coef(pb.basis)
    coef, blend = smart_coef, None
    if s.blend and pb.folds is not None:
        chosen = _blend(pb, rank, pair, shrinkage)
        parts = [smart_coef, *([pb.C0] if pb.has_source else []), pb.ridge.coef]
        coef = sum(w * C for w, C in zip(chosen.weights, parts, strict=True))
        blend = chosen.as_dict()
    no_penalty = tuple(pair) == (pb.p, pb.q)
    gain = _transfer_gain(pb, ranks, rank, pair, shrinkage, cv_results)
    return SmartFit(
        coef=coef,
        intercept=pb.stats.intercept(coef),
        smart_coef=smart_coef,
        rank=rank,
        structural_rank=(int(pair[0]), int(pair[1])),
        lam=0.0 if no_penalty else path.best_lambda,
        alpha=float(shrinkage[0]),
        source_pull=float(shrinkage[1]) if shrinkage[0] > 0 else 0.0,
        path=path,
        source_rank=pb.basis.rank if pb.has_source else 0,
        rank_selection=rank_sel,
        cv_results=cv_results,
        blend=blend,
        ill_posed=ill_posed,
        U=pb.basis.from_source(res.state.W),
        singular_values=res.state.d.copy(),
        V=pb.basis.V0 @ res.state.Z,
        transfer_gain=gain,
    )

"""The full data-driven SMART fit: statistics, start, ranks, lambda, alpha, final fit.

This is the paper's "SMART" (SMART_METHOD.md section 4) plus the small-target
shrinkage of section 8. Every tuning parameter the caller fixes is used as is;
every ``None`` is chosen from the data. Arrays in, arrays out: the estimator
layer does validation and scikit-learn conventions.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .admm import RotatedProblem, SourceBasis, initial_state
from .rank import RankSelection, design_rank, is_design_ill_posed, select_rank_rsc
from .ridge import DEFAULT_RIDGE_ALPHAS, ridge_gcv
from .stats import compute_sums, fold_sums, kfold_labels, total
from .tuning import (
    DEFAULT_LAMBDAS,
    PathFit,
    cv_error,
    fit_lambda_path,
    make_folds,
    structural_pairs,
    structural_rank_grid,
)

__all__ = ["SmallTargetWarning", "SmartFit", "SmartSettings", "fit_smart"]

logger = logging.getLogger("smart_sc")

#: Multiples of the ridge penalty tried for ``alpha`` (0 is always tried too).
ALPHA_MULTIPLES = (0.001, 0.01, 0.1, 1.0, 10.0)
#: How many D-priced alpha candidates are confirmed by real fits at most.
ALPHA_CONFIRMATIONS = 3
#: Stiefel iterations per subproblem: final fit, and the loose cross-validation fits.
INNER_MAX_ITER = 10
CV_INNER_MAX_ITER = 5


class SmallTargetWarning(UserWarning):
    """The target design is (near) singular; shrinkage was used where the paper has none."""


@dataclass
class SmartSettings:
    """Tuning parameters (``None``: choose from the data) and solver settings."""

    rank: int | None = None
    structural_rank: tuple[int, int] | None = None
    lam: float | None = None
    alpha: float | None = None
    fit_intercept: bool = True
    tol: float = 1e-3
    max_iter: int = 500
    cv: int = 5
    cv_tol: float = 1e-2
    cv_max_iter: int = 100
    lambdas: np.ndarray = field(default_factory=lambda: DEFAULT_LAMBDAS.copy())
    ridge_alphas: tuple[float, ...] = DEFAULT_RIDGE_ALPHAS
    n_jobs: int | None = None
    random_state: int | np.random.RandomState | None = None
    verbose: bool = False


@dataclass
class SmartFit:
    """Everything a fit produced: coefficients, choices and diagnostics."""

    coef: np.ndarray  # (p, q)
    intercept: np.ndarray  # (q,)
    rank: int
    structural_rank: tuple[int, int]
    lam: float
    alpha: float
    path: PathFit
    source_rank: int
    rank_selection: RankSelection | None
    cv_results: dict
    ill_posed: bool
    U: np.ndarray  # (p, r) target left singular vectors
    singular_values: np.ndarray  # (r,) the diagonal of D (may be signed)
    V: np.ndarray  # (q, r)

    @property
    def result(self):
        return self.path.best_result


def _needs_cv(s: SmartSettings, has_source: bool) -> bool:
    return s.alpha is None or (has_source and s.structural_rank is None)


def fit_smart(X, Y: np.ndarray, C0: np.ndarray | None, settings: SmartSettings) -> SmartFit:
    """Fit SMART to validated ``X`` (n x p, dense or sparse) and ``Y`` (n x q).

    ``C0`` is the source coefficient matrix (p x q) or ``None`` for the
    no-transfer special case (rank-``r`` reduced-rank regression).
    """
    s = settings
    n, p = X.shape
    q = Y.shape[1]
    center = bool(s.fit_intercept)
    basis = SourceBasis.from_coef(C0, p, q)
    has_source = C0 is not None

    # One pass over the cells: per-fold sums when anything is cross-validated.
    sums_per_fold = None
    if _needs_cv(s, has_source):
        if n < 2 * s.cv:
            raise ValueError(
                f"{s.cv}-fold cross-validation needs at least {2 * s.cv} samples "
                f"(2 per fold), got n_samples = {n}; lower cv or fix the tuning parameters"
            )
        labels = kfold_labels(n, s.cv, s.random_state)
        sums_per_fold = fold_sums(X, Y, labels, s.cv, center=center)
        raw = total(sums_per_fold)
    elif center:
        raw = compute_sums(X, Y)
    else:
        raw = compute_sums(X, Y, np.zeros(p), np.zeros(q))
    stats = raw.to_stats(center)

    # The solver multiplies small matrices thousands of times; threaded BLAS
    # spends more on thread hand-offs than on the products (fits were seen to
    # jump between two speeds 100x apart). The one-pass statistics above keep
    # the threads; everything after runs on one (joblib workers likewise).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_from_stats(stats, sums_per_fold, basis, C0, s, n, p, q, center)


def _fit_from_stats(stats, sums_per_fold, basis, C0, s, n, p, q, center) -> SmartFit:
    has_source = C0 is not None
    ridge = ridge_gcv(stats, s.ridge_alphas)
    ill_posed = is_design_ill_posed(stats)
    ridge_ref = float(np.median(ridge.alpha)) / n  # in SMART's per-cell units
    if ill_posed:
        msg = (
            f"the target design is (near) singular: {n} cells for rank "
            f"{design_rank(stats.xx)} of {p} features. The paper's estimator has no "
            "shrinkage and overfits here; "
        )
        msg += (
            "alpha (ridge shrinkage of C) is chosen by cross-validation and RSC's noise "
            "level comes from a ridge fit."
            if s.alpha is None
            else f"alpha={s.alpha} is used as given."
        )
        warnings.warn(msg, SmallTargetWarning, stacklevel=4)
        logger.warning(msg)

    # Intrinsic rank.
    max_rank = min(p, q, basis.rank if has_source else min(p, q), max(design_rank(stats.xx), 1))
    rank_sel = None
    if s.rank is None:
        rank_sel = select_rank_rsc(stats, max_rank=max_rank, ridge=ridge)
        rank = rank_sel.rank
        logger.info("rank %d selected by RSC (threshold %.3g)", rank, rank_sel.threshold)
    else:
        rank = int(s.rank)
        limits = {"min(n_features, n_targets)": min(p, q),
                  "the rank of the design": design_rank(stats.xx)}
        if has_source:
            limits["the rank of source_coef"] = basis.rank
        for what, limit in limits.items():
            if rank > limit:
                raise ValueError(f"rank={rank} exceeds {what} ({limit})")

    # Structural ranks and alpha by one cross-validation: each candidate pair is
    # fitted per fold at a pilot alpha (0 unless the design is ill-posed), and every
    # alpha of the grid is priced by re-solving those fits' D-step.
    alpha_pilot = s.alpha if s.alpha is not None else 0.0
    if s.alpha is None:
        alpha_grid = sorted({0.0, *(ridge_ref * m for m in ALPHA_MULTIPLES)})
    else:
        alpha_grid = [float(s.alpha)]
    # Per-fold training statistics in the source bases, built once for every
    # cross-validation below.
    folds = (make_folds(sums_per_fold, basis, center=center, ridge_alphas=s.ridge_alphas)
             if sums_per_fold is not None else None)
    pilot_cv = None
    if s.alpha is None and ill_posed and folds is not None:
        # On an ill-posed design the shrinkage matters most and the paper's
        # alpha = 0 may blow up, so the pilot is itself cross-validated, with real
        # fits at the final tolerance, on the rank-r model without the transfer
        # penalty (one lambda, cheap): how much shrinkage the design needs.
        pilot_errs = [
            cv_error(folds, basis, rank=rank, pair=(p, q), alpha=a, alphas=[a],
                     lambdas=[0.0], tol=s.tol, max_iter=s.max_iter,
                     inner_max_iter=INNER_MAX_ITER)[0]
            for a in alpha_grid
        ]
        alpha_pilot = float(alpha_grid[int(np.argmin(pilot_errs))])
        pilot_cv = {"alphas": np.asarray(alpha_grid), "mse": np.asarray(pilot_errs)}
    if not has_source:
        pairs = [(p, q)]
    elif s.structural_rank is not None:
        pairs = [tuple(s.structural_rank)]
    else:
        pairs = structural_pairs(structural_rank_grid(rank, basis.rank, p, q), p, q)

    cv_results: dict = {}
    if folds is not None and (len(pairs) > 1 or len(alpha_grid) > 1):

        def _cv_lambdas(pair):
            if pair == (p, q):
                return [0.0]
            return s.lambdas if s.lam is None else [s.lam]

        jobs = (
            delayed(cv_error)(
                folds, basis, rank=rank, pair=pair, alpha=alpha_pilot, alphas=alpha_grid,
                lambdas=_cv_lambdas(pair),
                tol=s.cv_tol, max_iter=s.cv_max_iter, inner_max_iter=CV_INNER_MAX_ITER,
            )
            for pair in pairs
        )
        out = Parallel(n_jobs=s.n_jobs, return_as="generator")(jobs)
        mse = np.vstack(list(tqdm(out, total=len(pairs), desc="SMART cross-validation",
                                  disable=not s.verbose, leave=False)))
        i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
        pair, alpha = pairs[i], float(alpha_grid[j])
        cv_results = {"structural_ranks": pairs, "alphas": np.asarray(alpha_grid),
                      "mse": mse, "pilot_alpha": alpha_pilot}
        if pilot_cv is not None:
            cv_results["pilot_alpha_cv"] = pilot_cv
        if alpha != alpha_pilot:
            # Pricing alpha by the D-step alone holds the singular vectors of the
            # pilot fit; refitted at another alpha they can move (at alpha = 0 on a
            # singular design, into directions the cells barely see). So the
            # D-priced favourites are confirmed by real fits, best first, and the
            # first that does at least as well as the pilot is kept. On an
            # ill-posed design a weakly shrunk fit degrades only as the iteration
            # proceeds, so there the confirmation uses the final tolerance.
            tight = dict(tol=s.tol, max_iter=s.max_iter, inner_max_iter=INNER_MAX_ITER)
            loose = dict(tol=s.cv_tol, max_iter=s.cv_max_iter,
                         inner_max_iter=CV_INNER_MAX_ITER)
            how = tight if ill_posed else loose

            def real_cv(a):
                return cv_error(folds, basis, rank=rank, pair=pair, alpha=a, alphas=[a],
                                lambdas=_cv_lambdas(pair), **how)[0]

            pilot_err = (real_cv(alpha_pilot) if ill_posed
                         else float(mse[i, alpha_grid.index(alpha_pilot)]))
            order = [alpha_grid[k] for k in np.argsort(mse[i], kind="stable")
                     if alpha_grid[k] != alpha_pilot and mse[i, k] < pilot_err]
            checks = []
            alpha = alpha_pilot
            for a in order[:ALPHA_CONFIRMATIONS]:
                err = real_cv(a)
                checks.append({"alpha": float(a), "mse_refit": float(err)})
                if err <= pilot_err:
                    alpha = float(a)
                    break
            cv_results["alpha_check"] = {"pilot_alpha": alpha_pilot,
                                         "pilot_mse": float(pilot_err), "tried": checks}
        logger.info("%d-fold CV chose structural ranks %s and alpha %.3g", s.cv, pair, alpha)
    else:
        pair, alpha = pairs[0], float(alpha_grid[0])

    # Final fit on all cells: the lambda path at the final tolerance, lambda by
    # BIC among the fits that converged (SMART_METHOD.md 4.3 and 4.5).
    r_u, r_v = pair
    problem = RotatedProblem.from_stats(stats, basis, r_u, r_v, alpha=alpha)
    state0 = initial_state(ridge.coef, basis, rank, r_u, r_v)
    no_penalty = (r_u, r_v) == (p, q)
    lams = [0.0] if no_penalty else (s.lambdas if s.lam is None else [s.lam])
    path = fit_lambda_path(problem, state0, lams, n, tol=s.tol, max_iter=s.max_iter,
                           inner_max_iter=INNER_MAX_ITER)
    res = path.best_result
    if not res.converged:
        logger.warning(
            "SMART did not converge in %d iterations (primal residual %.2e, dual %.2e, "
            "tol %.1e); increase max_iter or loosen tol",
            res.n_iter, res.primal_residual[-1], res.dual_residual[-1], s.tol,
        )
    coef = res.state.coef(basis)
    U = basis.U0 @ res.state.W
    V = basis.V0 @ res.state.Z
    return SmartFit(
        coef=coef,
        intercept=stats.intercept(coef),
        rank=rank,
        structural_rank=(int(r_u), int(r_v)),
        lam=0.0 if no_penalty else path.best_lambda,
        alpha=alpha,
        path=path,
        source_rank=basis.rank if has_source else 0,
        rank_selection=rank_sel,
        cv_results=cv_results,
        ill_posed=ill_posed,
        U=U,
        singular_values=res.state.d.copy(),
        V=V,
    )

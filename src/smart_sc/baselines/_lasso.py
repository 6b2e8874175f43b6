"""Lasso per response, each penalty by K-fold cross-validation, from sufficient statistics.

:class:`TargetLasso`, the SMART paper's lasso competitor, and its path code:
each response's path is solved by scikit-learn's coordinate descent
(:func:`sklearn.linear_model.lasso_path`) on the precomputed Gram matrix, the
folds' statistics come from one pass over the cells, and the paths of all
folds advance together, a stretch of penalties at a time, stopping where the
held-out error has stopped improving.

Orientation: inside this module coefficient matrices are ``p x q`` (features x
responses); the public ``coef_`` is ``q x p`` as in scikit-learn, or ``(p,)``
after a fit on a 1-D ``y``.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lasso_path

from .._core.randomness import RANDOM_STATE_CONSTRAINT, as_seed
from .._core.sums.stats import SufficientStats, held_out_sse
from ._base import PerTargetMixin, StatsLinearRegressor, warn_not_converged
from ._cv import FoldSums
from ._linalg import roundoff_floor
from ._params import FOLDS, FRACTION, NONNEGATIVE, POSITIVE_INT, StrOptions

__all__ = ["TargetLasso"]

logger = logging.getLogger("smart_sc")


# --------------------------------------------------------------------------- path


@cache
def _solver_options() -> dict:
    """Keyword arguments that switch off scikit-learn's gap safe screening, where it has it.

    scikit-learn 1.8 screens genes by the gap safe rule at every duality-gap
    check. The fits are the same, but on genes the rule rarely drops (dense
    lasso fits of correlated genes) the checks cost more than they save: off,
    the lasso took 2% to 12% less time on five designs from 300 x 280 to
    2,000 x 2,000, with identical coefficients. The keyword is not in
    ``lasso_path``'s documented signature, so whether this scikit-learn takes
    it is asked once, on a one-gene problem, rather than assumed.
    """
    try:
        lasso_path(np.zeros((1, 1), order="F"), np.ones(1), alphas=[1.0],
                   precompute=np.ones((1, 1)), Xy=np.ones(1), check_input=False,
                   do_screening=False)
    except (TypeError, ValueError):
        return {}
    return {"do_screening": False}


def _lasso_gram_path(
    gram: np.ndarray,
    xy: np.ndarray,
    yy: float,
    alphas: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    coef_init: np.ndarray | None = None,
    selection: str = "cyclic",
    rng: np.random.RandomState | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One response's lasso path by :func:`sklearn.linear_model.lasso_path` on its Gram matrix.

    ``gram`` (C-contiguous) and ``xy`` are per-cell statistics and ``yy`` the
    response's mean square: the Gram matrix, correlations and squared norm of a
    one-sample problem with the objective
    ``1/2 w^T gram w - w^T xy + 1/2 yy + a ||w||_1`` (= scikit-learn's
    ``(1/2n)||y - Xw||^2 + a||w||_1``), so the penalties are passed as they are,
    and ``tol`` bounds the duality gap by ``tol * yy``, scikit-learn's
    criterion. Given the Gram matrix, the solver reads the design only for its
    shape and the response only for its squared norm: it gets a ``1 x p``
    placeholder design and the one-element response ``sqrt(yy)``.

    ``rng`` is what scikit-learn draws the coordinate order from; ``None``
    (``random_state=0``: a generator seeded afresh) fixes the order of a random
    selection per call. In cyclic order it draws from it but never uses the
    draw, so a caller may pass one generator for many calls: seeding a
    ``RandomState`` took about a sixth of a 20-cell lasso's time.

    Returns coefficients ``(p, n_alphas)``, sweeps, duality gaps and whether
    each fit reached the tolerance (where scikit-learn does not raise a
    :class:`~sklearn.exceptions.ConvergenceWarning`; the warnings themselves are
    silenced, for the caller to report once).
    """
    y = np.sqrt(np.array([max(yy, 0.0)]))
    # The arguments are built here and valid by construction; scikit-learn's
    # check of them took about a third of a short path's time (a cross-validated
    # lasso makes over a thousand such calls).
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coefs, gaps, n_iter = lasso_path(
            np.zeros((1, gram.shape[0]), order="F"),
            y,
            alphas=alphas,
            precompute=gram,
            Xy=np.ascontiguousarray(xy),
            coef_init=coef_init,
            max_iter=max_iter,
            tol=tol,
            return_n_iter=True,
            check_input=False,
            selection=selection,
            **_solver_options(),
            # The coordinate order of selection="random" (and drawn from by
            # cyclic descent too): fixed, so a fit never depends on the global RNG.
            random_state=0 if rng is None else rng,
        )
    # scikit-learn warns unless the last gap is at most tol * y^T y.
    return coefs, np.asarray(n_iter), gaps, gaps <= tol * float(y @ y)


def _lasso_path(
    stats: SufficientStats,
    alphas: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    n_solve: np.ndarray | None = None,
    polish_last: bool = False,
    targets: np.ndarray | None = None,
    coef_init: np.ndarray | None = None,
    selection: str = "cyclic",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lasso of each response along its path of penalties, warm-started.

    Each response's path is one call to :func:`sklearn.linear_model.lasso_path`
    on the precomputed Gram matrix (:func:`_lasso_gram_path`). Features whose
    variance ``xx_jj`` is at most the round-off of a constant feature
    (:func:`roundoff_floor`) are held at zero: the solver would divide by that
    round-off.

    With ``polish_last``, a response whose last solved penalty stopped at
    ``max_iter`` short of the tolerance (coordinate descent converges slowly
    where features are strongly correlated, though its support and signs are
    usually right by then) is restarted from the exact solution on that support
    and those signs, ``xx_SS w_S = xy_S - a sign(w_S)``. Coordinate descent
    from there stops at once if its duality gap is within the tolerance (the
    support was right), and otherwise goes on; the restart is kept if it ends
    with the smaller gap.

    Parameters
    ----------
    stats : SufficientStats
        Statistics of the training cells.
    alphas : ndarray of shape (n_alphas, n_targets)
        One decreasing column of penalties per response (scikit-learn units).
    max_iter : int
        Maximum coordinate-descent sweeps per penalty.
    tol : float
        Duality-gap tolerance relative to each response's mean square.
    n_solve : ndarray of shape (n_targets,), optional
        Solve only the first ``n_solve[j]`` penalties of response ``j`` (all by
        default); the coefficients past them are left at zero, with no sweeps,
        and flagged as converged.
    polish_last : bool, default=False
        Restart unconverged fits at each response's last solved penalty from
        the exact solution on their support.
    targets : ndarray of int, optional
        Solve only these responses (the columns of ``alphas`` are theirs).
    coef_init : ndarray of shape (n_features, len(targets)), optional
        Start each response's path here (the end of a previous stretch of it).
    selection : {"cyclic", "random"}, default="cyclic"
        scikit-learn's coordinate order.

    Returns
    -------
    coefs : ndarray of shape (n_alphas, n_features, n_targets)
        Coefficients along the path.
    n_iter : ndarray of shape (n_alphas, n_targets)
        Coordinate-descent sweeps per fit (restart included).
    converged : ndarray of shape (n_alphas, n_targets)
        Whether each fit reached the tolerance.
    """
    n_alphas, q = alphas.shape
    targets = np.arange(q) if targets is None else np.asarray(targets)
    coefs = np.zeros((n_alphas, stats.n_features, q))
    n_iter = np.zeros((n_alphas, q), dtype=int)
    conv = np.ones((n_alphas, q), dtype=bool)
    if n_solve is None:
        n_solve = np.full(q, n_alphas)
    usable = np.flatnonzero(np.diag(stats.xx) > roundoff_floor(stats))
    if usable.size == 0:
        return coefs, n_iter, conv
    if usable.size == stats.n_features and stats.xx.flags.c_contiguous:
        gram = stats.xx  # read only; the CV calls this once per penalty, a copy each time
    else:
        gram = np.ascontiguousarray(stats.xx[np.ix_(usable, usable)])
    xy = stats.xy[np.ix_(usable, targets)]
    yy = np.diag(stats.yy)[targets]
    # Cyclic descent draws from the generator but does not use the draw (see
    # _lasso_gram_path): one for every call here.
    rng = np.random.RandomState(0) if selection == "cyclic" else None
    for j in range(q):
        k = int(n_solve[j])
        if k <= 0:
            continue
        a = alphas[:k, j]
        path, sweeps, gaps, ok = _lasso_gram_path(
            gram, xy[:, j], yy[j], a, max_iter=max_iter, tol=tol, selection=selection, rng=rng,
            coef_init=None if coef_init is None else np.ascontiguousarray(
                coef_init[usable, j]),
        )
        if polish_last and not ok[-1]:
            restart = _support_solution(gram, xy[:, j], a[-1], path[:, -1])
            if restart is not None:
                w, extra, gap, done = _lasso_gram_path(
                    gram, xy[:, j], yy[j], a[-1:], max_iter=max_iter, tol=tol,
                    coef_init=restart, selection=selection, rng=rng,
                )
                sweeps[-1] += extra[0]
                if gap[0] < gaps[-1]:
                    path[:, -1], ok[-1] = w[:, 0], done[0]
        coefs[:k, usable, j] = path.T
        n_iter[:k, j] = sweeps
        conv[:k, j] = ok
    return coefs, n_iter, conv


def _support_solution(gram, xy, alpha, w) -> np.ndarray | None:
    """Solve the lasso's optimality conditions on the support and signs of ``w``.

    Returns ``w_S`` with ``gram_SS w_S = xy_S - alpha sign(w_S)`` on the support
    ``S`` of ``w`` and zeros elsewhere: the lasso solution if ``w`` has the right
    support and signs. ``None`` when ``w`` is zero or the block is singular.
    """
    S = np.flatnonzero(w)
    if S.size == 0:
        return None
    try:
        sol = np.linalg.solve(gram[np.ix_(S, S)], xy[S] - alpha * np.sign(w[S]))
    except np.linalg.LinAlgError:
        return None
    out = np.zeros_like(w)
    out[S] = sol
    return out if np.all(np.isfinite(out)) else None


#: Penalties solved in one stretch of every response's path, between checks of its CV
#: error, by number of features (at least the key). At 2,000 genes, one: each penalty
#: past the minimum costs more than the one before (denser fits), and checking after
#: every penalty halved the time of checking every four. With fewer genes a penalty
#: costs about as much as scikit-learn's per-call overhead, and longer stretches pay:
#: at 800 genes two (5.2 s -> 4.4 s), at 280 genes six (20 cells: 2.0 s -> 1.0 s;
#: 306 cells: 2.7 s -> 1.9 s; measured in cyclic order). The patience rule is applied
#: penalty by penalty either way, so in cyclic order the stretch changes the time, not
#: the fits (the CV errors move by round-off); a random order is drawn per call, so
#: there the fits agree to the tolerance.
LASSO_CV_STRETCH = {1000: 1, 300: 2, 0: 6}


def _stretch(n_features: int) -> int:
    return next(k for above, k in LASSO_CV_STRETCH.items() if n_features >= above)


def _lasso_cv_sse(folds: FoldSums, grid: np.ndarray, *, max_iter: int, tol: float,
                  patience: int | None, selection: str = "cyclic") -> tuple[np.ndarray, int]:
    """Held-out squared error along each response's path, pooled over folds.

    The paths of all folds advance together, a stretch of penalties at a time
    (``LASSO_CV_STRETCH``), each stretch warm-started from the end of the last.
    A response whose pooled error has not improved for ``patience`` penalties
    past its minimum stops there: the small penalties at the end of a path,
    where the fits are densest and coordinate descent slowest, are solved only
    for the responses whose error is still falling. Penalties past a
    response's stop get an infinite error (and are not counted as failures),
    whether or not its stretch solved them. ``patience=None`` solves every
    path to the end.

    Returns the ``(n_alphas, q)`` errors and the number of fits short of the
    tolerance.
    """
    n_alphas, q = grid.shape
    splits = list(folds.splits())
    stretch = _stretch(splits[0][1].n_features)
    sse = np.zeros((n_alphas, q))
    short = np.zeros((n_alphas, q), dtype=int)  # folds short of the tolerance
    ends = [np.zeros((train.n_features, q)) for _, train in splits]
    going = np.ones(q, dtype=bool)
    for start in range(0, n_alphas, stretch):
        cols = np.flatnonzero(going)
        if cols.size == 0:
            break
        stop = min(start + stretch, n_alphas)
        for (held_out, train), end in zip(splits, ends, strict=True):
            coefs, _, conv = _lasso_path(
                train, grid[start:stop, cols], max_iter=max_iter, tol=tol, targets=cols,
                coef_init=end[:, cols] if start else None, selection=selection)
            short[start:stop, cols] += ~conv
            for k in range(stop - start):
                sse[start + k, cols] += held_out_sse(held_out, train, coefs[k],
                                                                  targets=cols)
            end[:, cols] = coefs[-1]
        if patience is None:
            continue
        for k in range(start, stop):  # as if checked after every penalty
            live = np.flatnonzero(going)
            since_best = k - np.argmin(sse[:k + 1, live], axis=0)
            going[live[since_best >= patience]] = False
            sse[k + 1:, ~going] = np.inf
    return sse, int(short[np.isfinite(sse)].sum())


def _lasso_alpha_grid(stats: SufficientStats, n_alphas: int, eps: float) -> np.ndarray:
    """Per-response log grid from ``max_j |xy_j|`` (all-zero lasso) down to ``eps`` times it.

    The same grid as scikit-learn's ``LassoCV`` (computed once, on all training
    cells, and shared by the folds).
    """
    a_max = np.abs(stats.xy).max(axis=0) if stats.n_features else np.zeros(stats.n_targets)
    # A response uncorrelated with every feature has the zero solution for any
    # penalty; any positive grid will do.
    a_max = np.where(a_max > 0.0, a_max, 1.0)
    return np.geomspace(a_max, a_max * eps, num=n_alphas)  # (n_alphas, q)


# --------------------------------------------------------------------------- estimator


class TargetLasso(PerTargetMixin, StatsLinearRegressor):
    """Lasso per response, each with its own penalty chosen by K-fold cross-validation.

    Response ``j`` minimises scikit-learn's lasso objective
    ``(1/2n) ||y_j - X w||^2 + a_j ||w||_1``; at a fixed ``a_j`` the fit equals
    ``sklearn.linear_model.Lasso(alpha=a_j)``. The grid is ``n_alphas`` values
    log-spaced from ``a_max = max_i |x_i^T y_j| / n`` (centred; the smallest
    penalty with an all-zero fit) down to ``eps * a_max``, as in
    :class:`sklearn.linear_model.LassoCV`.

    Cross-validation needs one pass over the cells: the statistics of each fold
    are collected together, the training statistics of a split are the total
    minus the held-out fold, and the held-out error of every penalty is computed
    from the fold's sums. Each response's path is solved by
    :func:`sklearn.linear_model.lasso_path` on the precomputed Gram matrix
    (scikit-learn's coordinate descent, warm-started along the path). The
    penalty minimising the pooled held-out mean squared error is chosen per
    response (equal to ``LassoCV``'s mean over folds when the folds have equal
    sizes). In the refit on all cells, a response whose fit at its chosen
    penalty stops at ``max_iter`` short of the tolerance (coordinate descent
    converges slowly where features are strongly correlated) is restarted from
    the exact solution on the support and signs found, and keeps whichever ends
    with the smaller duality gap. Fits still short of the tolerance, where
    scikit-learn would raise a :class:`~sklearn.exceptions.ConvergenceWarning`,
    are counted and reported in one warning.

    Parameters
    ----------
    n_alphas : int, default=20
        Number of penalties on the path.
    eps : float, default=1e-3
        Ratio of the smallest to the largest penalty, in (0, 1).
    cv : int, default=5
        Number of folds (shuffled :class:`~sklearn.model_selection.KFold`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` on the training cells of each fit and fit an intercept.
    max_iter : int, default=1000
        Maximum coordinate-descent sweeps per penalty.
    tol : float, default=1e-4
        Stop a response when its duality gap is at most ``tol`` times its
        (centred) mean square: scikit-learn's criterion and default. On the
        shipped BMMC data ``1e-6`` took 1.7x (1,309 source cells) to 2.8x
        (118 target cells) as long for the same held-out error to four digits.
    patience : int or None, default=3
        A response's cross-validation path stops once its held-out error has
        not improved for this many penalties past its minimum; ``None``
        solves every path to the end, as ``LassoCV`` does. The smallest
        penalties, where the fits are densest, cost most: at 2,000 genes the
        last five of twenty took 90% of a path's time. The choice differs
        from the whole path's only if the error falls again after rising for
        ``patience`` penalties.
    selection : {"cyclic", "random"}, default="cyclic"
        The order in which coordinate descent visits the genes (scikit-learn's
        ``selection``; a random order is drawn from a fixed seed, so fits are
        reproducible). Which is faster depends on the design: on 2,000 source
        cells x 2,000 genes of the shipped data a random order took 23% less
        time (43% fewer sweeps, the same penalties chosen, coefficients equal
        to the tolerance), but on subsets of 300 x 280, 800 x 800, 400 x 2,000
        and 2,000 x 500 it took 1.4 to 2.6 times as long. ``"cyclic"`` with
        ``patience=None`` reproduces ``LassoCV``.
    n_jobs : int or None, default=None
        Workers for groups of responses (joblib; ``None`` is one, ``-1`` all
        cores). The responses are independent, so the fit is the same.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the shuffling of the folds.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Coefficients at the chosen penalties, refitted on all cells.
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept.
    alpha_ : ndarray of shape (n_targets,) or float
        Chosen penalty per response.
    alphas_ : ndarray of shape (n_alphas, n_targets) or (n_alphas,)
        The grid of each response.
    cv_mse_ : ndarray of shape (n_alphas, n_targets) or (n_alphas,)
        Held-out mean squared error of every penalty, pooled over folds
        (``inf`` past the point where a response's path stopped).
    n_iter_ : ndarray of shape (n_targets,) or int
        Coordinate-descent sweeps of the final fit at the chosen penalty
        (restart included).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.baselines import TargetLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 10))
    >>> y = 3.0 * X[:, 0] - 2.0 * X[:, 1] + 0.1 * rng.normal(size=100)
    >>> model = TargetLasso(random_state=0).fit(X, y)
    >>> np.flatnonzero(np.abs(model.coef_) > 0.1).tolist()
    [0, 1]
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "n_alphas": [POSITIVE_INT],
        "eps": [FRACTION],
        "cv": [FOLDS],
        "fit_intercept": ["boolean"],
        "max_iter": [POSITIVE_INT],
        "tol": [NONNEGATIVE],
        "patience": [POSITIVE_INT, None],
        "selection": [StrOptions({"cyclic", "random"})],
        "n_jobs": [Integral, None],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(
        self,
        n_alphas: int = 20,
        eps: float = 1e-3,
        cv: int = 5,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        patience: int | None = 3,
        selection: str = "cyclic",
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.patience = patience
        self.selection = selection
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        """Choose each response's penalty by K-fold CV and refit on all cells.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training design.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Responses.

        Returns
        -------
        self : TargetLasso
            The fitted estimator.
        """
        self._validate_params()
        X, y = self._validate_xy(X, y)
        settings = {name: getattr(self, name) for name in (
            "n_alphas", "eps", "cv", "fit_intercept", "max_iter", "tol", "patience",
            "selection")}
        # One seed for all workers: each group of responses gets the same folds.
        settings["random_state"] = as_seed(self.random_state)
        # Responses are independent: groups of them go to the workers whole
        # (each reads the cells once), and the results are the serial ones.
        n_groups = min(effective_n_jobs(self.n_jobs), y.shape[1])
        groups = np.array_split(np.arange(y.shape[1]), n_groups)
        parts = Parallel(n_jobs=n_groups)(
            delayed(_lasso_cv_fit)(X, y[:, g], **settings) for g in groups)
        fit = {key: np.concatenate([part[key] for part in parts], axis=-1)
               for key in ("coef", "intercept", "alpha", "alphas", "cv_mse", "n_iter")}
        n_failed = sum(part["n_failed"] for part in parts)
        warn_not_converged(
            "TargetLasso", n_failed,
            f"lasso fit(s) (response x penalty x split) stopped at max_iter={self.max_iter} "
            f"with a duality gap above tol={self.tol}")
        self._set_coef(fit["coef"], fit["intercept"])
        self.alpha_ = self._per_target(fit["alpha"])
        self.alphas_ = self._per_target(fit["alphas"])
        self.cv_mse_ = self._per_target(fit["cv_mse"])
        self.n_iter_ = self._per_target(fit["n_iter"])
        logger.debug("TargetLasso: CV penalties %s", fit["alpha"])
        return self


def _lasso_cv_fit(X, y, *, n_alphas, eps, cv, fit_intercept, max_iter, tol, patience,
                  selection, random_state) -> dict:
    """TargetLasso's fit of the responses ``y`` (2-D): penalties by CV, refit on all cells."""
    # The only pass over the cells: per-fold sums, from which every training
    # set (total minus one fold) and held-out error follow.
    folds = FoldSums(X, y, cv, random_state, bool(fit_intercept))
    stats = folds.stats()
    grid = _lasso_alpha_grid(stats, n_alphas, eps)
    sse, n_failed = _lasso_cv_sse(folds, grid, max_iter=max_iter, tol=tol, patience=patience,
                                  selection=selection)
    cv_mse = sse / stats.n
    # argmin takes the first minimum: ties go to the larger penalty.
    best = np.argmin(cv_mse, axis=0)
    # Refit on all cells, each response only as far down its path as it needs.
    coefs, n_iter, conv = _lasso_path(stats, grid, max_iter=max_iter, tol=tol,
                                      n_solve=best + 1, polish_last=True, selection=selection)
    cols = np.arange(stats.n_targets)
    coef = coefs[best, :, cols].T
    return {"coef": coef, "intercept": stats.intercept(coef), "alpha": grid[best, cols],
            "alphas": grid, "cv_mse": cv_mse, "n_iter": n_iter[best, cols],
            "n_failed": n_failed + int((~conv).sum())}

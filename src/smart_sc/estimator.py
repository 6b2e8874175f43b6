"""SMARTRegressor: the SMART transfer estimator as a scikit-learn regressor."""

from __future__ import annotations

import logging
import numbers

import numpy as np

from ._core.fit import GRAMS, TUNINGS, SmartSettings, fit_smart
from ._core.randomness import RANDOM_STATE_CONSTRAINT, as_seed
from ._core.selection.tuning import DEFAULT_LAMBDAS
from .baselines._base import StatsLinearRegressor, check_source_coef
from .baselines._params import (
    FOLDS,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    StrOptions,
)

__all__ = ["SMARTRegressor"]

logger = logging.getLogger("smart_sc")


def _structural_pair(value, p: int, q: int) -> tuple[int, int] | None:
    """One rule for both forms: each rank above its side's dimension is clipped to it."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral):
        r_u = r_v = value
    else:
        # scikit-learn's constraints checked "a tuple or list"; its contents here.
        if len(value) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(
                v, bool) and v >= 0 for v in value):
            raise ValueError(f"structural_rank must be an int >= 0 or a pair (r_u, r_v) of "
                             f"ints >= 0, got {value!r}")
        r_u, r_v = value
    pair = (min(int(r_u), p), min(int(r_v), q))
    if pair != (int(r_u), int(r_v)):
        logger.info("structural_rank %s clipped to the dimensions (%d, %d): %s",
                    value, p, q, pair)
    return pair


def _gain_record(gain) -> dict | None:
    if gain is None:
        return None
    return {**gain.as_dict(), "per_target_gain": np.asarray(gain.per_target_gain, float),
            "per_target_cv_r2": np.asarray(gain.per_target_r2, float)}


class SMARTRegressor(StatsLinearRegressor):
    """SMART spectral transfer for multi-response linear regression.

    Fits ``Y ~ X C + b`` on a (small) target data set, borrowing the leading
    singular subspaces of a source model's coefficients ``C0`` (not its values):
    the target's singular vectors are encouraged to lie in the source's leading
    ``(r_u, r_v)`` singular subspaces and to leave them only sparsely
    (Zhao, Kolar & Lv 2026, arXiv:2604.20161). Only the source coefficients are
    needed, never the source data.

    Every tuning parameter left at ``None`` is chosen from the data, as the
    paper does (its Section 4) or, with ``tuning="fast"``, over a shorter
    search: the rank by the rank selection criterion (and cross-validation),
    the structural ranks by K-fold cross-validation, ``lam`` by BIC along a
    warm-started path; ``alpha`` (our small-target shrinkage, a ridge term on
    ``C`` that the paper does not have) by the same cross-validation with 0
    among the candidates.
    By default the returned coefficients blend SMART with the source and a
    target ridge fit by cross-validated weights (``blend``). ``alpha=0`` and
    ``blend=False`` give exactly the paper's estimator.

    Parameters
    ----------
    source_coef : array-like of shape (n_targets, n_features) or None
        Source coefficients in scikit-learn orientation (a fitted
        ``Ridge().coef_`` can be passed as is). A DataFrame with the genes as
        columns is matched to ``X``'s columns by name when ``X`` is a
        DataFrame too (reordered; missing genes are an error); otherwise genes
        are matched by position. ``None`` fits the no-transfer special case:
        target-only rank-``r`` reduced-rank regression.
    rank : int or None
        Rank ``r`` of the target coefficient matrix; ``None`` selects it by RSC,
        capped at the source's rank. A given rank above the source's rank,
        ``min(n_features, n_targets)`` or the design's rank is an error.
    structural_rank : int, (int, int) or None
        Structural ranks ``(r_u, r_v)``: how many leading source singular
        vectors span the subspaces the target may use freely. An int ties them.
        A rank above its side's dimension is clipped to it, in both forms.
        ``None``: cross-validated.
        ``(n_features, n_targets)`` switches the penalty off.
    lam : float or None
        Weight of the L1 penalty on the target's departure from the source
        subspaces (``lam_u = lam_v``). ``None``: chosen by BIC over
        ``logspace(-3, 2, 10)``, the paper's range. The penalty is weighed
        against the per-cell loss, so its scale is that of ``y`` squared: the
        range suits responses of unit scale (CLR or standardised proteins, as
        in the paper); multiplying ``y`` by ``c`` acts like dividing ``lam``
        by ``c**2``.
    alpha : float or None
        Ridge shrinkage ``(alpha/2) ||C||_F^2`` added to the per-cell loss
        ``(1/2n) ||Y - XC||_F^2``. ``0`` is the paper's estimator; ``None``
        chooses it by cross-validation among 0 and multiples of the target-only
        ridge penalty.
    source_pull : float or None, default=0.0
        Where ``alpha`` shrinks to: ``(alpha/2) ||C - source_pull * C0||_F^2``.
        ``0`` (default) shrinks toward zero; ``None`` chooses it by the same
        cross-validation among 0, 0.5 and 1. Has no effect at ``alpha=0`` (the
        paper's estimator) or without a source. Measured on real CITE-seq it
        did not improve on ``0`` (``docs/defaults.md``), so it is off by default.
    fit_intercept : bool
        Centre ``X`` and ``Y`` on the training samples and fit an intercept.
    tuning : {"fast", "paper"}
        How parameters left at ``None`` are searched. ``"paper"``: the rank by
        RSC, the paper's structural-rank grid (about 17 values), and lambda by
        BIC over all 10 values inside every fold. ``"fast"`` (default): the
        RSC rank and the rank two above it are cross-validated too (RSC tends
        to be low on real targets), over a short structural-rank grid
        ``{r, 2r, 4r, 8r, rank(C0), max(p, q)}`` with 4 lambdas inside the
        folds; the final fit always scores all 10 lambdas by BIC. See
        ``docs/defaults.md`` for the measurements behind it.
    blend : bool
        Return the convex combination of SMART, the source coefficients and a
        target-only ridge fit whose weights (grid of step 0.1) minimise the
        validation error on the same folds (``blend_`` has the weights and the
        cross-validated errors). It protects against negative transfer (weight
        moves to ridge) and against targets too small to fit (weight moves to
        the source). ``False`` returns the SMART fit alone: with ``alpha=0``
        that is the paper's estimator.
    transfer_gain : bool
        Also measure what the source contributed (``transfer_gain_``): the
        same folds fitted with the source at the chosen tuning and without
        any source, its rank and ``alpha`` chosen among the same candidates,
        both blended when ``blend`` is on. A diagnostic: it never changes the
        fit. Off saves those fold fits.
    gram : {"auto", "full", "cells"}
        How the solver multiplies by the design's Gram matrix ``X^T X / n``.
        ``"full"`` forms it (``p x p``); ``"cells"`` never does and multiplies
        through the cells instead (two passes of ``X`` per product), which
        needs all tuning fixed (``rank``, ``structural_rank``, ``lam``,
        ``alpha``) and ``blend=False``, and starts the iteration from the
        source's leading subspaces rather than a ridge fit. ``"auto"`` uses
        ``"cells"`` above 8,000 features, where the Gram matrix would take
        0.5 GB and its eigendecomposition minutes. There a data-driven fit on
        fewer cells (in memory) than half the features stays on the Gram
        route, whose per-fold sums then keep the cells and form no ``p x p``
        matrix; with more cells it raises an error that says what to fix.
    tol : float
        ADMM stopping tolerance on both primal and dual residuals (the
        paper's rule). The dual residual is a gradient of the per-cell loss,
        in the units of ``y`` squared: on responses far below unit scale the
        iteration stops early (``converged_`` then says little); scale ``y``
        or lower ``tol``.
    max_iter : int
        Maximal number of ADMM iterations (``t_max``).
    cv : int
        Number of shuffled folds for cross-validation.
    n_jobs : int or None
        Parallel jobs over cross-validation candidates (joblib semantics:
        processes). ``None`` (unless a joblib ``parallel_config`` sets it):
        the candidates run side by side on as many threads as BLAS had (the
        cores numpy would use), each solve on one BLAS thread; the fit is the
        same as with ``n_jobs=1``.
    random_state : int, RandomState, Generator or None
        Seeds the fold shuffling; the rest of the fit is deterministic.
    verbose : bool
        Show a progress bar over cross-validation candidates.

    Attributes
    ----------
    coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        Fitted coefficients (1-D when ``y`` was 1-D).
    intercept_ : ndarray of shape (n_targets,) or float
        Intercept (zeros when ``fit_intercept=False``).
    rank_ : int
        Rank used.
    structural_rank_ : tuple of int
        ``(r_u, r_v)`` used.
    lam_ : float
        Penalty weight used (0 when the penalty is off).
    alpha_ : float
        Shrinkage used.
    source_pull_ : float
        Pull of the shrinkage toward the source used (0 without shrinkage).
    n_iter_ : int
        ADMM iterations of the final fit.
    converged_ : bool
        Whether the final fit met ``tol`` within ``max_iter``.
    objective_history_, primal_residual_history_, dual_residual_history_ : ndarray
        Per-iteration diagnostics of the final fit.
    bic_path_ : dict
        ``{"lambdas": ..., "bic": ...}`` of the final lambda path.
    cv_results_ : dict
        Cross-validated mean squared errors of the (rank, structural ranks)
        candidates (rows) at every alpha (columns), with ``ranks``,
        ``structural_ranks`` and ``alphas`` (empty when nothing was
        cross-validated). A penalised candidate whose first folds already
        exceed the best penalty-off candidate's error cannot be chosen and is
        not fitted on the remaining folds: its row is ``inf`` and
        ``stopped_early`` marks it.
    rank_selection_ : dict or None
        RSC's record when it chose the rank: ``eigenvalues``, ``threshold``,
        ``sigma2`` (its noise level) and ``shrunk_noise_estimate`` (whether
        that came from a ridge fit, on an ill-posed design); ``None`` when
        ``rank`` was given.
    blend_ : dict or None
        ``components``, ``weights``, each component's cross-validated MSE
        (``cv_mse``) and the blend's (``blend_cv_mse``); ``None`` with
        ``blend=False`` or when nothing was cross-validated.
    smart_coef_ : ndarray of shape (n_targets, n_features) or (n_features,)
        The SMART fit alone (equal to ``coef_`` when the blend gives SMART
        weight 1 or is off).
    source_rank_ : int
        Numerical rank of ``source_coef`` (0 without a source).
    singular_values_ : ndarray of shape (rank_,)
        Diagonal of ``D`` (the target's singular values, possibly signed).
    components_u_ : ndarray of shape (n_features, rank_)
        Target left singular vectors ``U``.
    components_v_ : ndarray of shape (n_targets, rank_)
        Target right singular vectors ``V``.
    small_target_ : bool
        True when the design was (near) singular and shrinkage-aware choices
        were made (a :class:`~smart_sc.SmallTargetWarning` was issued).
    transfer_gain_ : dict or None
        What the source contributed, from the cross-validation folds:
        ``cv_mse_source`` and ``cv_mse_no_source`` (mean squared error per
        cell and response), ``gain`` (``cv_mse_no_source / cv_mse_source -
        1``, positive when the source helped), the no-source counterpart's
        ``no_source_rank`` and ``no_source_alpha``, ``blended`` (both sides
        blended), and per response (in ``y``'s column order)
        ``per_target_gain`` and ``per_target_cv_r2`` (cross-validated R^2
        with the source). ``None`` without a source, with
        ``transfer_gain=False``, for a fit through the cells, or with fewer
        than ``2 * cv`` samples. Measured on the folds that also chose the
        tuning, it is slightly optimistic; :func:`smart_sc.tl.benchmark`'s
        ``"smart_placebo"`` is the unbiased control.

    Notes
    -----
    scikit-learn's ``check_estimator`` runs on ``SMARTRegressor()`` (no source:
    reduced-rank regression with data-driven rank and shrinkage).

    **Order of features.** The penalty is an L1 norm of the target's
    coordinates in the source's singular vectors beyond the structural ranks.
    Beyond ``rank(C0)`` those vectors are not determined by ``C0`` (any
    orthonormal completion is equally valid, and there is no canonical one), so
    when ``rank(C0)`` is below ``n_features`` or ``n_targets`` and the penalty
    is on, the fit can change by a few percent when the features or targets
    are permuted (the completion LAPACK returns follows the order). With
    ``rank(C0) = n_features = n_targets`` it does not.
    :func:`smart_sc.tl.transfer` fits in a canonical order (names sorted), so
    its results depend on names only, never on how the data are ordered.

    Examples
    --------
    >>> from smart_sc import SMARTRegressor
    >>> from smart_sc.datasets import simulate_transfer
    >>> sim = simulate_transfer(200, 100, 50, random_state=0)
    >>> model = SMARTRegressor(sim.source_coef, rank=5, structural_rank=10, alpha=0.0,
    ...                        blend=False, fit_intercept=False).fit(sim.X, sim.Y)
    >>> model.coef_.shape
    (50, 100)
    >>> bool(model.converged_)
    True
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "source_coef": ["array-like", None],
        "rank": [POSITIVE_INT, None],
        "structural_rank": [NONNEGATIVE_INT, tuple, list, None],
        "lam": [NONNEGATIVE, None],
        "alpha": [NONNEGATIVE, None],
        "source_pull": [NONNEGATIVE, None],
        "fit_intercept": ["boolean"],
        "tuning": [StrOptions(set(TUNINGS))],
        "blend": ["boolean"],
        "transfer_gain": ["boolean"],
        "gram": [StrOptions(set(GRAMS))],
        "tol": [POSITIVE],
        "max_iter": [POSITIVE_INT],
        "cv": [FOLDS],
        "n_jobs": [numbers.Integral, None],
        "random_state": RANDOM_STATE_CONSTRAINT,
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        source_coef=None,
        *,
        rank=None,
        structural_rank=None,
        lam=None,
        alpha=None,
        source_pull=0.0,
        fit_intercept=True,
        tuning="fast",
        blend=True,
        transfer_gain=True,
        gram="auto",
        tol=1e-3,
        max_iter=500,
        cv=5,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.source_coef = source_coef
        self.rank = rank
        self.structural_rank = structural_rank
        self.lam = lam
        self.alpha = alpha
        self.source_pull = source_pull
        self.fit_intercept = fit_intercept
        self.tuning = tuning
        self.blend = blend
        self.transfer_gain = transfer_gain
        self.gram = gram
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y):
        """Fit SMART to training data.

        Parameters
        ----------
        X : array-like, sparse matrix or dask array of shape (n_samples, n_features)
            Target design (e.g. scaled RNA of the target cells). A dask array
            (dense or sparse chunks, chunked along the samples) is never
            materialised: the statistics are computed in one pass over its
            blocks, with the same result as in memory (``docs/scale.md``).
        y : array-like or dask array of shape (n_samples,) or (n_samples, n_targets)
            Target responses (e.g. CLR protein levels).

        Returns
        -------
        self : SMARTRegressor
            The fitted estimator.
        """
        self._validate_params()
        X, Y = self._validate_xy(X, y)
        _n, p = X.shape
        q = Y.shape[1]
        C0 = None
        if self.source_coef is None:
            logger.info("no source_coef: fitting target-only reduced-rank regression")
        else:
            C0 = check_source_coef(self.source_coef, p, q,
                                   getattr(self, "feature_names_in_", None))
        pair = _structural_pair(self.structural_rank, p, q)

        settings = SmartSettings(
            rank=self.rank,
            structural_rank=pair,
            lam=None if self.lam is None else float(self.lam),
            alpha=None if self.alpha is None else float(self.alpha),
            source_pull=None if self.source_pull is None else float(self.source_pull),
            fit_intercept=bool(self.fit_intercept),
            tuning=self.tuning,
            blend=bool(self.blend),
            transfer_gain=bool(self.transfer_gain),
            gram=self.gram,
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            cv=int(self.cv),
            lambdas=DEFAULT_LAMBDAS.copy(),
            n_jobs=self.n_jobs,
            # One seed for every stream of the fit (folds, repeated folds).
            random_state=as_seed(self.random_state),
            verbose=bool(self.verbose),
        )
        fit = fit_smart(X, Y, C0, settings)
        self._set_coef(fit.coef, fit.intercept)
        res = fit.result
        self.rank_ = fit.rank
        self.structural_rank_ = fit.structural_rank
        self.lam_ = fit.lam
        self.alpha_ = fit.alpha
        self.source_pull_ = fit.source_pull
        self.n_iter_ = res.n_iter
        self.converged_ = res.converged
        self.objective_history_ = np.asarray(res.objective)
        self.primal_residual_history_ = np.asarray(res.primal_residual)
        self.dual_residual_history_ = np.asarray(res.dual_residual)
        self.bic_path_ = {"lambdas": fit.path.lambdas.copy(), "bic": fit.path.bic.copy()}
        self.cv_results_ = fit.cv_results
        self.blend_ = fit.blend
        self.smart_coef_ = (fit.smart_coef[:, 0].copy() if self._y_was_1d
                            else fit.smart_coef.T.copy())
        self.source_rank_ = fit.source_rank
        self.singular_values_ = fit.singular_values
        self.components_u_ = fit.U
        self.components_v_ = fit.V
        self.small_target_ = fit.ill_posed
        self.transfer_gain_ = _gain_record(fit.transfer_gain)
        # Set on every fit, so that a refit at a fixed rank does not keep the
        # previous fit's RSC record.
        self.rank_selection_ = None if fit.rank_selection is None else {
            "eigenvalues": fit.rank_selection.eigenvalues,
            "threshold": fit.rank_selection.threshold,
            "sigma2": fit.rank_selection.sigma2,
            "shrunk_noise_estimate": fit.rank_selection.shrunk,
        }
        return self

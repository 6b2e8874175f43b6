"""Cross-validation gives up a candidate only once it cannot be chosen.

A penalised candidate is stopped when its folds so far already exceed the
best penalty-off candidate's error at every shrinkage. Since the folds'
errors only add up, the choice, the fit and every other row of the table
must be those of the search that scores every candidate in full.
"""

import numpy as np
import pytest

import smart_sc._core.fit as fit_module
from smart_sc import SMARTRegressor
from smart_sc._core.selection import tuning


def _unrelated_source(seed=0, n=60, p=40, q=20, r=4):
    # The source (rank 2) has nothing to do with the target (rank r), so the
    # penalised candidates, confined near the source's subspaces, validate badly.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    C = rng.normal(size=(p, r)) @ rng.normal(size=(r, q)) * (3.0 / np.sqrt(p))
    Y = X @ C + 0.2 * rng.normal(size=(n, q))
    C0 = rng.normal(size=(p, 2)) @ rng.normal(size=(2, q))
    return X, Y, C0


def _in_full(monkeypatch, calls=None):
    """Patch the fit's ``cv_error`` to ignore ``stop_above`` (and record, if asked)."""
    plain = tuning.cv_error

    def scored(*args, stop_above=np.inf, **kwargs):
        full = plain(*args, **kwargs)
        if calls is not None:
            calls.append((stop_above, plain(*args, stop_above=stop_above, **kwargs), full))
        return full

    monkeypatch.setattr(fit_module, "cv_error", scored)


@pytest.mark.parametrize("seed", [0, 1])
def test_stopping_early_changes_no_choice_and_no_fit(monkeypatch, seed):
    X, Y, C0 = _unrelated_source(seed)
    kwargs = dict(random_state=seed, n_jobs=1)
    early = SMARTRegressor(C0.T, **kwargs).fit(X, Y)
    stopped = early.cv_results_["stopped_early"]
    assert stopped.any()  # the case exercises the rule
    with monkeypatch.context() as patch:
        _in_full(patch)
        full = SMARTRegressor(C0.T, **kwargs).fit(X, Y)
    assert (early.rank_, early.structural_rank_, early.alpha_, early.lam_) == (
        full.rank_, full.structural_rank_, full.alpha_, full.lam_)
    np.testing.assert_array_equal(early.coef_, full.coef_)
    mse, mse_full = early.cv_results_["mse"], full.cv_results_["mse"]
    np.testing.assert_array_equal(mse[~stopped], mse_full[~stopped])
    assert np.isinf(mse[stopped]).all()
    # What was given up could not have been chosen.
    assert mse_full[stopped].min() > mse_full[~stopped].min()
    assert not full.cv_results_["stopped_early"].any()


def test_a_candidate_stops_only_above_the_bound_and_penalty_off_never(monkeypatch):
    seen = []
    for seed in (0, 2):  # penalised candidates given up (0) and kept (2)
        X, Y, C0 = _unrelated_source(seed)
        calls = []
        with monkeypatch.context() as patch:
            _in_full(patch, calls)
            cv = SMARTRegressor(C0.T, random_state=0, n_jobs=1).fit(X, Y).cv_results_
        bounded = [(bound, got, full) for bound, got, full in calls if np.isfinite(bound)]
        for bound, got, full in bounded:
            seen.append(bool(np.isinf(got).all()))
            if seen[-1]:
                assert full.min() > bound
            else:
                np.testing.assert_array_equal(got, full)
        # The bound is the best penalty-off error; those rows are always complete.
        free = np.array([tuple(pair) == (X.shape[1], Y.shape[1])
                         for pair in cv["structural_ranks"]])
        assert free.any() and np.isfinite(cv["mse"][free]).all()
        assert {bound for bound, _, _ in bounded} == {cv["mse"][free].min()}
    assert set(seen) == {True, False}


def test_the_rows_given_up_do_not_depend_on_what_runs_side_by_side():
    from threadpoolctl import threadpool_limits

    X, Y, C0 = _unrelated_source(0)
    with threadpool_limits(limits=2, user_api="blas"):
        fits = [SMARTRegressor(C0.T, random_state=0, n_jobs=n_jobs).fit(X, Y)
                for n_jobs in (None, 1, 2)]  # a thread pool, serial, joblib's processes
    first = fits[0].cv_results_
    assert first["stopped_early"].any()
    for other in fits[1:]:
        np.testing.assert_array_equal(other.cv_results_["stopped_early"], first["stopped_early"])
        np.testing.assert_array_equal(other.cv_results_["mse"], first["mse"])
        np.testing.assert_array_equal(other.coef_, fits[0].coef_)


def test_folds_hardest_first_give_up_sooner_and_change_no_complete_error(monkeypatch):
    # Folds are fitted in order of their held-out error at C = 0, largest first,
    # so that a hopeless candidate passes the bound sooner; a candidate scored in
    # full is summed in fold order, so its error has the same bits in any order.
    from smart_sc._core.sums.stats import held_out_sse

    X, Y, C0 = _unrelated_source(0)
    seen, plain = [], tuning.cv_error

    def capture(*args, **kwargs):
        seen.append((args, kwargs))
        return plain(*args, **kwargs)

    monkeypatch.setattr(fit_module, "cv_error", capture)
    SMARTRegressor(C0.T, random_state=0, n_jobs=1).fit(X, Y)
    args, kwargs = next((a, k) for a, k in seen if np.isfinite(k["stop_above"]))
    folds = args[0]
    order = kwargs["fold_order"]
    assert order == tuning.hard_folds_first(folds)
    zero = [held_out_sse(f.held_out, f.train_stats, np.zeros((X.shape[1], 1)),
                         np.zeros((Y.shape[1], 1))).sum() for f in folds]
    assert sorted(order) == list(range(len(folds)))
    assert np.all(np.diff(np.asarray(zero)[order]) <= 0)

    in_full = dict(kwargs, stop_above=np.inf)
    want = plain(*args, **dict(in_full, fold_order=None))
    for other in (order, order[::-1], [2, 0, 4, 1, 3]):
        np.testing.assert_array_equal(plain(*args, **dict(in_full, fold_order=other)), want)

    fitted = []
    fit_fold = tuning.fit_fold
    monkeypatch.setattr(tuning, "fit_fold", lambda *a, **k: fitted.append(1) or fit_fold(*a, **k))
    counts = {}
    for name, other in (("in fold order", None), ("hardest first", order)):
        fitted.clear()
        assert np.isinf(plain(*args, **dict(kwargs, fold_order=other))).all()
        counts[name] = len(fitted)
    assert counts["hardest first"] <= counts["in fold order"]


def _captured_cv_call(monkeypatch, seed=0):
    """The arguments of the first bounded ``cv_error`` call of a default fit."""
    X, Y, C0 = _unrelated_source(seed)
    seen, plain = [], tuning.cv_error

    def capture(*args, **kwargs):
        seen.append((args, kwargs))
        return plain(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(fit_module, "cv_error", capture)
        SMARTRegressor(C0.T, random_state=0, n_jobs=1).fit(X, Y)
    return next((a, k) for a, k in seen if np.isfinite(k["stop_above"]))


@pytest.mark.parametrize(("shift", "centered"), [(0.0, True), (1e4, True), (0.0, False)],
                         ids=["intercept", "intercept, far shift", "no intercept"])
def test_rank_floor_bounds_every_fit_of_that_rank_and_is_reached(shift, centered):
    # The held-out SSE of any C of rank r is at least the fold's floor at r
    # (Eckart-Young on the held-out responses about the training intercept),
    # and the best rank-r prediction of those responses reaches it, to the
    # floor's slack. Sums shifted far from the cells (1e4 on unit-scale data)
    # carry round-off far above the residual's own scale: the slack follows
    # the sums, so the bound still holds there.
    from smart_sc._core.sums.passes import compute_sums
    from smart_sc._core.sums.stats import TrainingMeans, held_out_sse

    rng = np.random.default_rng(3)
    n, p, q = 12, 30, 8
    X, Y = rng.normal(size=(n, p)) + 1.0, rng.normal(size=(n, q)) + 0.5
    held = compute_sums(X[:5], Y[:5], np.full(p, shift), np.full(q, shift))
    x_mean, y_mean = X[5:].mean(0), Y[5:].mean(0)
    means = TrainingMeans(7, x_mean, y_mean, centered)
    fold = tuning.FoldData(base=None, init_coef=None, start=None, held_out=held,
                           train_stats=means, n_train=7)
    if not centered:  # predictions X C, no intercept
        x_mean, y_mean = np.zeros(p), np.zeros(q)
    fold.rank_floor(0)  # fills the fold's spectrum
    slack = tuning.FLOOR_MARGIN * fold.residual_spectrum.magnitude
    for r in (0, 1, 2, 4):
        floor = fold.rank_floor(r)
        for _ in range(20):
            C = rng.normal(size=(p, r)) @ rng.normal(size=(r, q))
            assert held_out_sse(held, means, C).sum() >= floor
        # Reached: predict the best rank-r approximation of A through the
        # held-out cells (5 cells, 30 genes: any held-out prediction is some X C).
        A = Y[:5] - y_mean
        U, s, Vt = np.linalg.svd(A)
        target = (U[:, :r] * s[:r]) @ Vt[:r]
        C = np.linalg.lstsq(X[:5] - x_mean, target, rcond=None)[0]
        best = held_out_sse(held, means, C).sum()
        assert floor <= best <= floor + 2 * slack + 1e-9
        assert floor <= float(np.sum(s[r:] ** 2)) <= floor + 2 * slack + 1e-9
    if shift == 0.0:  # sums near the cells: the slack is a hair of the residual
        assert slack < 1e-7 * float(np.sum((Y[:5] - y_mean) ** 2))


def test_floors_of_the_folds_ahead_give_up_sooner_and_change_no_complete_error(monkeypatch):
    # Without the floors (all zero) the same complete rows, and never fewer folds fitted.
    args, kwargs = _captured_cv_call(monkeypatch)
    folds = args[0]
    assert min(f.rank_floor(kwargs["rank"]) for f in folds) > 0.0
    fitted = []
    fit_fold = tuning.fit_fold
    monkeypatch.setattr(tuning, "fit_fold", lambda *a, **k: fitted.append(1) or fit_fold(*a, **k))
    in_full = tuning.cv_error(*args, **dict(kwargs, stop_above=np.inf))
    counts = {}
    for name in ("with floors", "without"):
        if name == "without":
            monkeypatch.setattr(tuning.FoldData, "rank_floor", lambda self, rank: 0.0)
        fitted.clear()
        got = tuning.cv_error(*args, **kwargs)
        assert np.isinf(got).all() or np.array_equal(got, in_full)
        counts[name] = len(fitted)
    assert counts["with floors"] < counts["without"]

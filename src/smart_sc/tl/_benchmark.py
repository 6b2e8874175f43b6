"""tl.benchmark: SMART against its comparators on held-out target cells, split by split.

The SMART paper's real-data protocol (repeated random splits of the target
cells; the source cells all train the source model), and a donor-held-out
variant in which every cell of a test donor, source or target, is kept out of
training. Per split, preprocessing is fitted on the training cells only
(:mod:`smart_sc.pp._split`); then source models, SMART and every comparator are
fitted and scored on the target test cells.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from .._core.randomness import RANDOM_STATE_CONSTRAINT, as_seed
from ..baselines import SOURCE_METHODS, source_method
from ..baselines._params import FRACTION, POSITIVE_INT, StrOptions, check_params
from ..estimator import SMARTRegressor
from ..get import extract, resolve_modalities, select_cells
from ..pp._split import CellLocal, SplitMatrices, cell_local, prepare_split
from ._evaluate import per_protein_metrics
from ._methods import BENCHMARK_METHODS, METHOD_ALIASES
from ._splits import Split, make_splits

__all__ = ["benchmark"]

logger = logging.getLogger("smart_sc")

#: Methods that use a source model (one row per source method).
TRANSFER_METHODS = tuple(n for n, m in BENCHMARK_METHODS.items() if m.uses_source)
#: Target-only methods (one row per split, source "none").
TARGET_METHODS = tuple(n for n, m in BENCHMARK_METHODS.items() if not m.uses_source)
METHODS = tuple(BENCHMARK_METHODS)

COLUMNS = [
    "split", "protocol", "test_donors", "n_train", "n_source_train", "n_test", "n_genes",
    "n_proteins", "method", "source", "error", "r2", "pearson_median", "spearman_median",
    "rmse_mean", "seconds", "source_seconds", "rank", "structural_rank_u",
    "structural_rank_v", "lam", "alpha", "placebo_seed", "failure", "warnings",
]  # fmt: skip

_FAILURES = (ValueError, FloatingPointError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class _Config:
    source_methods: tuple[str, ...]
    methods: tuple[str, ...]
    n_top_genes: int | None
    top_k: int | None
    smart_params: dict = field(default_factory=dict)
    source_params: dict = field(default_factory=dict)


@dataclass
class _Fit:
    """A fitted estimator (or why it failed), its seconds and the warnings it raised."""

    estimator: object | None
    seconds: float
    failure: str = ""
    warnings: str = ""


# --------------------------------------------------------------------------- checks


def _check_names(given, valid: Sequence[str], what: str, aliases=None,
                 allow_empty: bool = False) -> tuple[str, ...]:
    names = (given,) if isinstance(given, str) else tuple(given)
    names = tuple((aliases or {}).get(m, m) for m in names)
    unknown = [m for m in names if m not in valid]
    if unknown or not (names or allow_empty):
        raise ValueError(f"unknown {what} {unknown}; valid ones are {list(valid)}"
                         if unknown else f"{what} must not be empty; valid ones are "
                         f"{list(valid)}")
    return tuple(dict.fromkeys(names))


def _check_sources_for(config: _Config) -> None:
    """Methods that use a source need a source model; say which, and how to give one."""
    needing = [m for m in config.methods if m in TRANSFER_METHODS]
    if needing and not config.source_methods:
        raise ValueError(
            f"method(s) {needing} need a source model, and source_methods is empty: pass "
            f"source_methods (one of {list(SOURCE_METHODS)}), or drop those methods for a "
            "target-only benchmark")


# --------------------------------------------------------------------------- inputs


def _populations(pair, source_mask, target_mask) -> tuple[pd.Index, pd.Index]:
    source = select_cells(pair, source_mask)
    target = select_cells(pair, target_mask)
    both = source.intersection(target)
    if len(both):
        raise ValueError(f"source_mask and target_mask overlap in {len(both)} cell(s), e.g. "
                         f"{list(both[:5])}; a cell cannot be both source and target")
    return source, target


def _cell_inputs(pair, cells: pd.Index, *, preprocess, layer, clr) -> CellLocal:
    """Read and check the source and target cells' matrices; apply the cell-local steps."""
    where = layer if preprocess else None
    hint = ("preprocess=True needs raw counts: pass the layer that holds them, or "
            "preprocess=False for processed data") if preprocess else None
    data = extract(pair.container, modality_in=pair.modality_in, modality_out=pair.modality_out,
                   layer_in=where, layer_out=where if pair.prot is not None else None,
                   cells=cells, sort_by_name=False, counts_hint=hint)
    return cell_local(data.X, data.Y, data.genes, data.proteins, preprocess=preprocess,
                      clr=clr)


# --------------------------------------------------------------------------- fitting


def _timed_fit(estimator, X, Y) -> _Fit:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(X, Y)
            failure = ""
        except _FAILURES as err:
            failure = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    messages = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    if failure:
        logger.warning("benchmark: %s failed: %s", type(estimator).__name__, failure)
    return _Fit(None if failure else estimator, seconds, failure, "; ".join(messages))


def _source_estimator(method: str, params: dict, seed: int):
    params = dict(params.get(method, {}))
    estimator = source_method(method)
    # Every source method that cross-validates is seeded by the split (lasso, SRRR).
    if "random_state" in estimator().get_params():
        params.setdefault("random_state", seed)
    return estimator(**params)


def _fit_split(data: SplitMatrices, config: _Config, seed: int) -> dict[tuple[str, str], _Fit]:
    """Fit every source model and every method on one split's training cells.

    Keys are ``(method, source)``, with ``("source_model", name)`` for the
    source fits themselves and source ``"none"`` for target-only methods.
    """
    fits: dict[tuple[str, str], _Fit] = {}
    Xt, Yt = data.X_target, data.Y_target
    for method in (m for m in config.methods if m in TARGET_METHODS):
        estimator = BENCHMARK_METHODS[method].build(None, seed, config.smart_params)
        fits[(method, "none")] = _timed_fit(estimator, Xt, Yt)
    for name in config.source_methods:
        source = _timed_fit(_source_estimator(name, config.source_params, seed),
                            data.X_source, data.Y_source)
        fits[("source_model", name)] = source
        for method in (m for m in config.methods if m in TRANSFER_METHODS):
            if source.estimator is None:
                fits[(method, name)] = _Fit(None, math.nan, f"source model failed: "
                                            f"{source.failure}")
                continue
            C0 = np.atleast_2d(source.estimator.coef_)
            fits[(method, name)] = _timed_fit(
                BENCHMARK_METHODS[method].build(C0, seed, config.smart_params), Xt, Yt)
    return fits


def _split_fits(local: CellLocal, split: Split, config: _Config):
    """Preprocess one split from its training cells and fit everything on it."""
    data = prepare_split(local, split.source_rows, split.target_rows, split.test_rows,
                         n_top_genes=config.n_top_genes, top_k=config.top_k)
    return data, _fit_split(data, config, split.seed)


# --------------------------------------------------------------------------- scoring


def _smart_choices(est) -> dict:
    if not isinstance(est, SMARTRegressor):
        return {}
    r_u, r_v = est.structural_rank_
    return {"rank": est.rank_, "structural_rank_u": r_u, "structural_rank_v": r_v,
            "lam": est.lam_, "alpha": est.alpha_}


def _score(fit: _Fit, data: SplitMatrices) -> tuple[dict, dict]:
    nan = np.full(data.proteins.size, np.nan)
    if fit.estimator is None:
        return {}, {"pearson": nan, "spearman": nan, "rmse": nan}
    Y, Y_hat = data.Y_test, np.asarray(fit.estimator.predict(data.X_test)).reshape(
        data.Y_test.shape)
    per = per_protein_metrics(Y, Y_hat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN correlations
        summary = {
            "error": float(np.linalg.norm(Y_hat - Y) / math.sqrt(Y.size)),
            "r2": float(r2_score(Y, Y_hat)),
            "pearson_median": float(np.nanmedian(per["pearson"])),
            "spearman_median": float(np.nanmedian(per["spearman"])),
            "rmse_mean": float(per["rmse"].mean()),
        }
    return summary, per


def _run_split(local: CellLocal, split: Split, config: _Config) -> tuple[list, list]:
    """One split: preprocess, fit, score. Returns result rows and per-protein rows."""
    data, fits = _split_fits(local, split, config)
    base = {"split": split.index, "protocol": split.protocol, "test_donors": split.test_donors,
            "n_train": split.target_rows.size, "n_source_train": split.source_rows.size,
            "n_test": split.test_rows.size, "n_genes": data.genes.size,
            "n_proteins": data.proteins.size}
    rows, per_rows = [], []
    for (method, source), fit in fits.items():
        if method == "source_model":
            continue
        summary, per = _score(fit, data)
        source_fit = fits.get(("source_model", source))
        rows.append({**base, "method": method, "source": source, **summary,
                     "seconds": fit.seconds,
                     "source_seconds": source_fit.seconds if source_fit else math.nan,
                     **_smart_choices(fit.estimator),
                     "placebo_seed": split.seed if method == "smart_placebo" else math.nan,
                     "failure": fit.failure,
                     "warnings": fit.warnings})
        per_rows.append(pd.DataFrame({"split": split.index, "method": method, "source": source,
                                      "protein": data.proteins, **per}))
    return rows, per_rows


# --------------------------------------------------------------------------- assembly


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("failure", "warnings", "test_donors"):
        df[col] = df[col].fillna("").astype(str)
    # Within a split: target-only methods, then each source method's transfers, in the
    # order they were asked for.
    return df.sort_values("split", kind="stable").reset_index(drop=True)


def _records(df: pd.DataFrame) -> dict:
    """Column-wise plain arrays (strings or floats), writable to .h5mu."""
    out = {}
    for col in df.columns:
        values = df[col].to_numpy()
        out[str(col)] = (values.astype(str) if values.dtype == object
                         else values.astype(np.float64))
    return out


def _run_all(local, splits, config, n_jobs, verbose) -> tuple[list, list]:
    jobs = (delayed(_run_split)(local, s, config) for s in splits)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    rows, per_rows = [], []
    for split_rows, split_per in tqdm(results, total=len(splits), disable=not verbose,
                                      desc="benchmark splits"):
        rows.extend(split_rows)
        per_rows.extend(split_per)
    return rows, per_rows


#: scikit-learn parameter rules of :func:`smart_sc.tl.benchmark` (checked first).
_BENCHMARK_PARAMS = {
    "split": [StrOptions({"random", "donor"})],
    "groups": [str],
    "n_splits": [POSITIVE_INT],
    "test_size": [FRACTION],
    "min_test_cells": [POSITIVE_INT],
    "preprocess": ["boolean"],
    "n_top_genes": [POSITIVE_INT, None],
    "top_k": [POSITIVE_INT, None],
    "clr": [StrOptions({"per_cell", "per_protein"})],
    "layer": [str, None],
    "modality_in": [str],
    "modality_out": [str],
    "smart_params": [dict, None],
    "source_params": [dict, None],
    "random_state": RANDOM_STATE_CONSTRAINT,
    "n_jobs": [Integral, None],
    "verbose": ["boolean"],
    "key_added": [str, None],
    "return_per_protein": ["boolean"],
}


def benchmark(
    mdata,
    *,
    source_mask,
    target_mask,
    source_methods: Sequence[str] = ("ols", "ridge", "lasso", "rrr"),
    methods: Sequence[str] = METHODS,
    split: str = "random",
    groups: str = "donor",
    n_splits: int = 20,
    test_size: float = 0.3,
    min_test_cells: int = 15,
    preprocess: bool = True,
    n_top_genes: int | None = 3000,
    top_k: int | None = 150,
    clr: str = "per_protein",
    layer: str | None = "counts",
    modality_in: str = "rna",
    modality_out: str = "prot",
    smart_params: dict | None = None,
    source_params: dict | None = None,
    random_state: int | np.random.RandomState | np.random.Generator | None = 0,
    n_jobs: int | None = None,
    verbose: bool = True,
    key_added: str | None = None,
    return_per_protein: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Score SMART and its comparators on held-out target cells over repeated splits.

    For each split the target cells are divided into training and test
    cells. Preprocessing is fitted on the training cells only (source
    training plus target training cells) and applied to the test cells; each
    source method is fitted on the source training cells; every method is
    fitted on the target training cells and scored on the target test cells.

    Protocols:

    ``split="random"``
        The SMART paper's: ``n_splits`` random splits of the target cells,
        ``test_size`` of them held out; all source cells train the source.
    ``split="donor"``
        One split per donor (value of obs column ``groups``) with at least
        ``min_test_cells`` target cells, the donors with most target cells
        first, at most ``n_splits``. The donor's target cells are the test
        cells and its source cells are removed from the source: nothing of a
        test donor trains anything.

    Parameters
    ----------
    mdata : MuData or AnnData
        Paired data; an AnnData holds proteins in ``.obsm[modality_out]``.
    source_mask, target_mask
        Source and target cells (boolean arrays over ``obs_names``, obs names,
        or boolean ``.obs`` columns); they must not overlap.
    source_methods : sequence of {"ols", "ridge", "lasso", "rrr", "srrr", "rssvd", "sofar"}
        Source models, by their names in
        :data:`smart_sc.baselines.SOURCE_METHODS` (the estimators
        :func:`~smart_sc.tl.fit_source` fits); default the first four.
    methods : sequence of str
        Methods that use a source, one result per source method: ``"smart"``
        (:class:`smart_sc.SMARTRegressor`); ``"smart_placebo"``, the same
        call with the source's genes shuffled (:func:`~smart_sc.baselines.placebo_coef`
        seeded by the split's seed, recorded in ``placebo_seed``): same spectrum,
        meaningless gene subspaces, the control for "the source helped";
        ``"source_only"`` (:class:`~smart_sc.baselines.SourceOnly`, intercept
        refitted on the target); ``"ridge_to_source"``, ridge that shrinks
        toward the source, ``||Y - XC||^2 + a ||C - C0||^2`` with ``a`` per
        protein by GCV (:class:`~smart_sc.baselines.OffsetTransfer`; formerly
        ``"offset"``, still accepted); ``"source_rrr"``
        (:class:`~smart_sc.baselines.SourceSubspaceRRR`); ``"mixture"``
        (:class:`~smart_sc.baselines.SourceMixture`). Target-only methods, one
        result per split: ``"target_ridge"``, ``"target_ols"``,
        ``"target_lasso"``, ``"target_rrr"``, and ``"reduced_rank_ridge"``,
        SMART's estimator and tuning with no source
        (``SMARTRegressor(None, **smart_params)``, source-only parameters
        dropped): what SMART's shrinkage and rank give without any transfer.
    split : {"random", "donor"}
        Protocol, see above.
    groups : str
        Obs column of the donors (``split="donor"``); every source and target
        cell needs a value there.
    n_splits : int
        Number of random splits, or the largest number of donor splits.
    test_size : float
        Fraction of the target cells held out (``split="random"``).
    min_test_cells : int
        Fewest target cells a held-out donor must have (``split="donor"``).
    preprocess : bool
        Start from raw counts (``layer`` of both modalities): per split, RNA
        ``normalize_total`` and ``log1p``, ``n_top_genes`` highly variable
        genes (scanpy, ``flavor="seurat"``), scaling, protein CLR. With
        ``False``, ``.X`` of both modalities is used as it is.
    n_top_genes : int or None
        Highly variable genes (``preprocess=True``); ``None`` keeps all.
    top_k : int or None
        Genes screened per population (source and target training cells) by
        the l2 norm of their correlations with the proteins, union; ``None``
        skips screening. Genes and proteins constant in the source or the
        target training cells are always dropped.
    clr : {"per_protein", "per_cell"}
        Protein CLR: ``log1p(x)`` minus the protein's mean ``log1p`` over the
        training cells, or minus the cell's mean over proteins (the paper's).
    layer : str or None
        Layer of raw counts in both modalities (``None``: ``.X``).
    modality_in, modality_out : str
        RNA and protein modalities.
    smart_params : dict or None
        Passed to :class:`smart_sc.SMARTRegressor` (e.g. ``rank``,
        ``structural_rank``, ``cv``) in ``"smart"``, ``"smart_placebo"`` and
        ``"reduced_rank_ridge"``; the other methods keep their own settings (a
        ``cv`` here gives SMART other folds than the 5 of the cross-validated
        comparators). ``random_state`` defaults to the split's seed and
        ``transfer_gain`` to ``False``: the table does not report the
        diagnostic, and it never changes the coefficients.
    source_params : dict or None
        Parameters per source method, e.g. ``{"lasso": {"n_alphas": 10}}``.
    random_state : int, RandomState, Generator or None, default=0
        Seeds the splits and every cross-validation (one seed per split). An
        instance or ``None`` gives one int seed from a draw (the package's
        rule); the int used is stored in ``params["random_state"]``.
    n_jobs : int or None
        Splits run in parallel (joblib).
    verbose : bool
        Progress bar over splits.
    key_added : str or None
        Also store the results in ``mdata.uns[key_added]`` as plain arrays:
        ``{"results": {column: values}, "per_protein": {...}, "params": {...}}``.
    return_per_protein : bool
        Also return the per-protein scores.

    Returns
    -------
    results : pandas.DataFrame
        One row per (split, method, source): ``split``, ``protocol``,
        ``test_donors``, ``n_train`` (target training cells),
        ``n_source_train``, ``n_test``, ``n_genes``, ``n_proteins``,
        ``method``, ``source``, ``error`` (the paper's ``||Y_hat - Y||_F /
        sqrt(n_test q)``), ``r2`` (uniform over proteins), ``pearson_median``
        and ``spearman_median`` (over the proteins that vary on the test
        cells; a constant prediction counts as correlation 0), ``rmse_mean``, ``seconds``
        (fit), ``source_seconds``, SMART's ``rank``, ``structural_rank_u``,
        ``structural_rank_v``, ``lam``, ``alpha`` (NaN for other methods),
        ``placebo_seed`` (the permutation's seed on ``smart_placebo`` rows),
        ``failure`` (why a fit failed, else empty) and ``warnings`` (raised
        during the fit). ``df.attrs["params"]`` holds the settings.
    per_protein : pandas.DataFrame
        Only with ``return_per_protein``: a long table (split, method, source,
        protein, pearson, spearman, rmse). It is not kept in ``df.attrs``:
        pandas copies and compares ``attrs`` on every operation, and a
        DataFrame there makes ``concat`` (and printing wide frames) fail.

    Raises
    ------
    ValueError
        Unknown methods, methods that need a source with no ``source_methods``,
        overlapping masks, a missing or single-donor
        ``groups`` column, too few target cells for the split and
        cross-validation, or proteins all constant in the training cells.

    Examples
    --------
    >>> import numpy as np, smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> df = smart_sc.tl.benchmark(
    ...     mdata, source_mask=nk, target_mask=~nk, source_methods=["ridge"],
    ...     methods=["smart", "target_ridge", "source_only"], n_splits=2, n_top_genes=100,
    ...     top_k=30, smart_params={"rank": 3, "structural_rank": 6}, verbose=False)
    >>> df[["split", "method", "source"]].values.tolist()
    [[0, 'target_ridge', 'none'], [0, 'smart', 'ridge'], [0, 'source_only', 'ridge'],
     [1, 'target_ridge', 'none'], [1, 'smart', 'ridge'], [1, 'source_only', 'ridge']]
    >>> bool((df["error"] > 0).all()), df.attrs["params"]["split"]
    (True, 'random')
    """
    check_params("benchmark", _BENCHMARK_PARAMS, locals())
    smart_params, source_params = dict(smart_params or {}), dict(source_params or {})
    config = _Config(_check_names(source_methods, tuple(SOURCE_METHODS), "source_methods",
                                  allow_empty=True),
                     _check_names(methods, METHODS, "methods", aliases=METHOD_ALIASES),
                     n_top_genes, top_k, smart_params, source_params)
    _check_sources_for(config)
    if source_params:
        _check_names(list(source_params), tuple(SOURCE_METHODS), "source_params keys")
    # One int seeds every split and fit, and is recorded, so any run can be redone.
    random_state = as_seed(random_state)
    pair = resolve_modalities(mdata, modality_in, modality_out)
    source, target = _populations(pair, source_mask, target_mask)
    splits = make_splits(pair, source, target, split=split, groups=groups, n_splits=n_splits,
                          test_size=test_size, min_test_cells=min_test_cells,
                          cv=int(smart_params.get("cv", 5)), random_state=random_state)
    local = _cell_inputs(pair, source.append(target), preprocess=preprocess, layer=layer,
                         clr=clr)
    logger.info("benchmark: %d %s split(s), %d source and %d target cells", len(splits), split,
                len(source), len(target))
    rows, per_rows = _run_all(local, splits, config, n_jobs, verbose)
    df = _table(rows)
    per_protein = pd.concat(per_rows, ignore_index=True)
    params = {"split": split, "groups": groups if split == "donor" else "",
              "n_splits": len(splits), "test_size": float(test_size),
              "preprocess": bool(preprocess), "n_top_genes": n_top_genes or 0,
              "top_k": top_k or 0, "clr": clr, "random_state": int(random_state),
              "source_methods": list(config.source_methods), "methods": list(config.methods)}
    df.attrs["params"] = params
    if key_added is not None:
        mdata.uns[key_added] = {"results": _records(df), "per_protein": _records(per_protein),
                                "params": params}
    return (df, per_protein) if return_per_protein else df

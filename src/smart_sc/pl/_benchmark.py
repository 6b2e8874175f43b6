"""pl.benchmark: the SMART paper's box plot of held-out errors over splits, with a summary."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.axes import Axes

from ._figures import new_or_given_axes, save_or_show

__all__ = ["benchmark", "benchmark_summary"]

#: Metrics of :func:`smart_sc.tl.benchmark` and whether larger is better.
_METRICS = {"error": False, "rmse_mean": False, "r2": True, "pearson_median": True,
            "spearman_median": True}
_TARGET_ONLY = "none"
#: Axis labels: what each score is and which way is better.
_LABELS = {"error": "held-out error ‖Ŷ - Y‖_F / √(nq), lower is better",
           "rmse_mean": "mean RMSE over proteins, lower is better",
           "r2": "held-out R², higher is better",
           "pearson_median": "median Pearson correlation over proteins, higher is better",
           "spearman_median": "median Spearman correlation over proteins, higher is better"}
_SMART_COLOR = "tab:red"
_OTHER_COLOR = "0.75"


def _check_table(df, metric: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected the DataFrame of smart_sc.tl.benchmark, got "
                        f"{type(df).__name__}")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {list(_METRICS)}, got {metric!r}")
    missing = [c for c in ("split", "method", "source", metric) if c not in df.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing} (is it smart_sc.tl.benchmark's "
                         f"output?); it has {list(df.columns)}")
    if df.empty:
        raise ValueError("the benchmark table is empty: nothing to plot")
    return df


def _groups(df: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """``[(source, [methods])]``: target-only first, then sources, methods as they appear."""
    sources = list(dict.fromkeys(df["source"]))
    if _TARGET_ONLY in sources:
        sources.remove(_TARGET_ONLY)
        sources.insert(0, _TARGET_ONLY)
    return [(s, list(dict.fromkeys(df.loc[df["source"] == s, "method"]))) for s in sources]


def _beats(smart: pd.Series, other: pd.Series, larger_better: bool) -> float:
    """Fraction of the splits (both scored) where ``smart`` is strictly better."""
    both = pd.concat([smart, other], axis=1, keys=["smart", "other"]).dropna()
    if both.empty:
        return np.nan
    wins = both["smart"] > both["other"] if larger_better else both["smart"] < both["other"]
    return float(wins.mean())


def _gain(smart: pd.Series, control: pd.Series, larger_better: bool) -> float:
    """Median over splits of SMART's gain over a control (positive: SMART better).

    Errors: ``control / smart - 1``; scores where larger is better (R^2,
    correlations can be near zero or negative, so no ratio): ``smart - control``.
    """
    both = pd.concat([smart, control], axis=1, keys=["smart", "control"]).dropna()
    if both.empty:
        return np.nan
    gain = (both["smart"] - both["control"] if larger_better
            else both["control"] / both["smart"] - 1.0)
    return float(gain.median())


def benchmark_summary(df: pd.DataFrame, *, metric: str = "error") -> pd.DataFrame:
    """Summarise :func:`smart_sc.tl.benchmark` results per method and source method.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`smart_sc.tl.benchmark`.
    metric : {"error", "rmse_mean", "r2", "pearson_median", "spearman_median"}
        Score summarised (``error`` and ``rmse_mean``: lower is better).

    Returns
    -------
    pandas.DataFrame
        One row per (method, source), target-only methods first: ``median``,
        ``q25``, ``q75`` of the metric over the splits where the method has a
        score, ``n_splits`` (those splits) and ``n_failed`` (splits of the
        table where it has none: a failed fit, not counted in its median; a
        method's median then covers other splits than the others'), and for
        SMART rows the fraction of the splits where both were scored in which
        SMART is strictly better than ``target_ridge``
        (``beats_target_ridge``), than ``source_only`` with the same source
        (``beats_source_only``) and than every target-only method scored on
        that split (``beats_best_target_only``);
        and the control for the transfer itself: ``gain_over_placebo``, the
        median over splits of ``placebo / SMART - 1`` (errors; for scores where
        larger is better, ``SMART - placebo``), positive when the real source
        beats the same call with its genes shuffled, and ``beats_placebo``,
        the fraction of splits where it does. NaN elsewhere or when the
        comparator was not run.

    Examples
    --------
    >>> import pandas as pd
    >>> from smart_sc import pl
    >>> df = pd.DataFrame({"split": [0, 0, 1, 1], "method": ["target_ridge", "smart"] * 2,
    ...                    "source": ["none", "ridge"] * 2, "error": [1.0, 0.8, 0.9, 0.95]})
    >>> summary = pl.benchmark_summary(df)
    >>> summary["method"].tolist(), summary["median"].tolist()
    (['target_ridge', 'smart'], [0.95, 0.875])
    >>> float(summary.loc[1, "beats_target_ridge"])  # split 0 only
    0.5
    """
    df = _check_table(df, metric)
    larger = _METRICS[metric]
    wide = df.pivot_table(index="split", columns=["method", "source"], values=metric,
                          aggfunc="first", dropna=False)
    target_cols = [c for c in wide.columns if c[1] == _TARGET_ONLY]
    best = (wide[target_cols].max(axis=1) if larger else wide[target_cols].min(axis=1)) \
        if target_cols else None
    rows = []
    for source, methods in _groups(df):
        for method in methods:
            values = wide[(method, source)].dropna()
            row = {"method": method, "source": source, "median": values.median(),
                   "q25": values.quantile(0.25), "q75": values.quantile(0.75),
                   "n_splits": int(values.size),
                   "n_failed": int(len(wide) - values.size), "beats_target_ridge": np.nan,
                   "beats_source_only": np.nan, "beats_best_target_only": np.nan,
                   "gain_over_placebo": np.nan, "beats_placebo": np.nan}
            if method == "smart":
                smart = wide[(method, source)]
                for key, col in (("beats_target_ridge", ("target_ridge", _TARGET_ONLY)),
                                 ("beats_source_only", ("source_only", source)),
                                 ("beats_placebo", ("smart_placebo", source))):
                    if col in wide.columns:
                        row[key] = _beats(smart, wide[col], larger)
                if ("smart_placebo", source) in wide.columns:
                    row["gain_over_placebo"] = _gain(smart, wide[("smart_placebo", source)],
                                                     larger)
                if best is not None:
                    row["beats_best_target_only"] = _beats(smart, best, larger)
            rows.append(row)
    return pd.DataFrame(rows)


def _positions(groups) -> tuple[list[float], list[tuple[float, float]]]:
    """Box positions, with a gap of one box between groups, and each group's span."""
    positions, spans, x = [], [], 0.0
    for _, methods in groups:
        start = x
        for _ in methods:
            positions.append(x)
            x += 1.0
        spans.append((start, x - 1.0))
        x += 1.0
    return positions, spans


def _draw(ax: Axes, df: pd.DataFrame, metric: str, groups) -> None:
    positions, spans = _positions(groups)
    data, labels = [], []
    for source, methods in groups:
        for method in methods:
            sel = (df["source"] == source) & (df["method"] == method)
            data.append(df.loc[sel, metric].dropna().to_numpy(np.float64))
            labels.append(method)
    parts = ax.boxplot(data, positions=positions, widths=0.6, patch_artist=True,
                       manage_ticks=False, showfliers=True)
    for box, label in zip(parts["boxes"], labels, strict=True):
        box.set_facecolor(_SMART_COLOR if label == "smart" else _OTHER_COLOR)
        box.set_label(label)
    ax.set_xticks(positions)
    ax.set_xticklabels(labels, rotation=60, ha="right")
    ax.set_xlim(-0.8, positions[-1] + 0.8)
    ax.set_ylabel(_LABELS[metric], fontsize=9)
    trans = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for (source, _), (lo, hi) in zip(groups, spans, strict=True):
        title = "target only" if source == _TARGET_ONLY else f"source: {source}"
        ax.text((lo + hi) / 2, 1.01, title, transform=trans, ha="center", va="bottom")
        if lo > 0:
            ax.axvline(lo - 1.0, color="0.85", linewidth=0.8)


def benchmark(
    df: pd.DataFrame,
    *,
    metric: str = "error",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> tuple[Axes | None, pd.DataFrame]:
    """Box plot of :func:`smart_sc.tl.benchmark` scores over splits, as in the SMART paper.

    One box per (method, source method) across splits; target-only methods
    form the first group, then one group per source method (labelled above
    the boxes). SMART's boxes are red.

    Parameters
    ----------
    df : pandas.DataFrame
        The output of :func:`smart_sc.tl.benchmark`.
    metric : {"error", "rmse_mean", "r2", "pearson_median", "spearman_median"}
        Score shown.
    ax : matplotlib.axes.Axes or None
        Axes to draw on (default a new figure).
    show, save
        As for :func:`predicted_vs_observed` (the file's name starts with
        ``benchmark``).

    Returns
    -------
    ax : matplotlib.axes.Axes or None
        The Axes (``None`` when the figure was shown).
    summary : pandas.DataFrame
        :func:`benchmark_summary` of the same table and metric.

    Examples
    --------
    >>> import pandas as pd
    >>> import smart_sc
    >>> df = pd.DataFrame({"split": [0, 1, 0, 1], "method": ["target_ridge"] * 2 + ["smart"] * 2,
    ...                    "source": ["none"] * 2 + ["ridge"] * 2, "error": [1.0, 0.9, 0.8, 0.95]})
    >>> ax, summary = smart_sc.pl.benchmark(df, show=False)
    >>> [t.get_text() for t in ax.get_xticklabels()], len(ax.patches)
    (['target_ridge', 'smart'], 2)
    """
    summary = benchmark_summary(df, metric=metric)
    groups = _groups(df)
    n_boxes = sum(len(m) for _, m in groups)
    figsize = (max(4.0, 0.45 * (n_boxes + len(groups)) + 1.5), 4.0)
    ax, ax_given = new_or_given_axes(ax, figsize=figsize)
    _draw(ax, df, metric, groups)
    return save_or_show(ax, "benchmark", show=show, save=save, ax_given=ax_given), summary

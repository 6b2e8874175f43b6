"""Plots of predictions and per-protein scores of :mod:`smart_sc.pl`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from mudata import MuData

from ..get import resolve_modalities, select_cells
from ..get._modalities import obsm_frame
from ._figures import new_or_given_axes as _axes
from ._figures import save_or_show
from ._read import fit_uns


def predicted_vs_observed(
    mdata,
    protein: str,
    *,
    key: str = "smart",
    modality_in: str = "rna",
    modality_out: str = "prot",
    layer_out: str | None = None,
    mask_obs=None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    **scatter_kwargs,
) -> Axes | None:
    """Scatter of observed against predicted values of one protein.

    Parameters
    ----------
    mdata, key, modality_in, modality_out, layer_out
        The predictions (``mdata[modality_in].obsm[key]``) and the observed
        proteins, as for :func:`smart_sc.tl.evaluate`.
    protein : str
        Protein to plot.
    mask_obs : array of bool, sequence of str, str or None
        Cells to plot (e.g. held-out cells); default all cells with both
        modalities, the fit's training cells and any other population
        included (the title says which): pass the held-out cells to judge
        the predictions.
    ax : matplotlib.axes.Axes or None
        Axes to draw on; a new figure when ``None``.
    show : bool or None
        Show the figure; ``None`` follows ``scanpy.settings.autoshow``, as in
        scanpy. The Axes are returned only when the figure is not shown.
    save : bool, str, path or None
        As in scanpy, with :data:`scanpy.settings`: ``True`` writes
        ``{figdir}/{name}{plot_suffix}.{file_format_figs}``, where ``name`` is
        the function's name (here ``predicted_vs_observed``); a str is
        appended to the name (``"_cd3.pdf"``: an ending ``.png``, ``.pdf`` or
        ``.svg`` picks the format); ``None`` follows ``settings.autosave``
        (off by default: nothing is written). A :class:`pathlib.Path` is
        written exactly there.
    **scatter_kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The Axes (``None`` when the figure was shown). Points are (observed,
        predicted), one per cell; the title gives the Pearson correlation over
        the plotted cells and how many they are.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad
    >>> from smart_sc import pl
    >>> rng = np.random.default_rng(0)
    >>> obs = pd.DataFrame(index=[f"c{i}" for i in range(50)])
    >>> adata = ad.AnnData(np.zeros((50, 1)), obs=obs)
    >>> y = rng.normal(size=50)
    >>> adata.obsm["prot"] = pd.DataFrame({"CD3": y}, index=obs.index)
    >>> adata.obsm["smart"] = pd.DataFrame({"CD3": y + 0.1 * rng.normal(size=50)},
    ...                                    index=obs.index)
    >>> ax = pl.predicted_vs_observed(adata, "CD3", show=False)
    >>> len(ax.collections[0].get_offsets())
    50
    """
    pair = resolve_modalities(mdata, modality_in, modality_out)
    rna = pair.rna
    pred = obsm_frame(rna, key, "predictions", f" of modality {modality_in!r}")
    if protein not in pred.columns:
        raise ValueError(f"protein {protein!r} has no predictions under key {key!r}; "
                         f"predicted proteins: {list(pred.columns)}")
    if protein not in pair.protein_names:
        raise ValueError(f"protein {protein!r} is not observed in modality {modality_out!r}")
    cells = select_cells(pair, mask_obs)
    observed = pair.protein_matrix(cells, layer_out)[:, pair.protein_names.get_loc(protein)]
    predicted = pred.loc[cells, protein].to_numpy(np.float64)
    keep = np.isfinite(observed) & np.isfinite(predicted)
    observed, predicted = observed[keep], predicted[keep]

    ax, ax_given = _axes(ax, figsize=(4, 4))
    kwargs = {"s": 8, "alpha": 0.6, "linewidths": 0} | scatter_kwargs
    ax.scatter(observed, predicted, **kwargs)
    if observed.size:
        lo = float(min(observed.min(), predicted.min()))
        hi = float(max(observed.max(), predicted.max()))
        ax.plot([lo, hi], [lo, hi], color="0.4", linestyle="--", linewidth=1,
                label="identity")
    r = (np.corrcoef(observed, predicted)[0, 1]
         if observed.size > 1 and observed.std() > 0 and predicted.std() > 0 else np.nan)
    # Which cells: by default every paired cell, the source population and the
    # fit's training cells included, which a reader should not take for a test.
    which = (f"all {observed.size} paired cells" if mask_obs is None
             else f"{observed.size} chosen cells")
    ax.set_title(f"{protein} (r = {r:.3f}, {which})")
    ax.set_xlabel("observed")
    ax.set_ylabel("predicted")
    return save_or_show(ax, "predicted_vs_observed", show=show, save=save, ax_given=ax_given)


def scores_from_uns(
    mdata,
    keys: str | Sequence[str] | Mapping[str, str] = "smart",
    *,
    metric: str = "pearson",
    modality_in: str = "rna",
) -> pd.DataFrame:
    """Per-protein scores stored in ``.uns`` by one or several fits, as a table.

    Parameters
    ----------
    mdata : MuData or AnnData
        Data that :func:`smart_sc.tl.transfer` (``.uns[key]["metrics"]``) or
        :func:`smart_sc.tl.evaluate` (``.uns[key]["per_protein"]``) wrote to.
    keys : str, sequence of str or mapping
        The ``.uns`` keys; a mapping gives ``{label: key}``.
    metric : str
        Score to read (e.g. ``"pearson"``, ``"rmse"``).
    modality_in : str
        The RNA modality, looked at when the MuData's own ``.uns`` lacks a key.

    Returns
    -------
    pandas.DataFrame
        Proteins x methods (labels or keys), NaN where a method did not
        score a protein; ``columns.name`` says which cells were scored
        (training cells for :func:`~smart_sc.tl.transfer`'s ``metrics``,
        evaluated cells for :func:`~smart_sc.tl.evaluate`). Keys that mix the
        two raise a ``ValueError``.

    Examples
    --------
    >>> import numpy as np, anndata as ad
    >>> from smart_sc import pl
    >>> adata = ad.AnnData(np.zeros((2, 1)))
    >>> adata.uns["a"] = {"proteins": ["CD3", "CD4"], "metrics": {"pearson": [0.9, 0.5]}}
    >>> adata.uns["b"] = {"proteins": ["CD4"], "metrics": {"pearson": [0.7]}}
    >>> pl.scores_from_uns(adata, ["a", "b"])
    pearson on training cells    a    b
    CD3                        0.9  NaN
    CD4                        0.5  0.7
    """
    if isinstance(keys, str):
        keys = {keys: keys}
    elif not isinstance(keys, Mapping):
        keys = {k: k for k in keys}
    if not keys:
        raise ValueError("keys is empty")
    columns, kinds = {}, {}
    for label, key in keys.items():
        info = fit_uns(mdata, key, modality_in)
        # transfer stores scores on its training cells ("metrics"); evaluate on
        # the cells it is given, typically held out ("per_protein").
        kinds[key] = "training cells" if "metrics" in info else "evaluated cells"
        table = info.get("metrics", info.get("per_protein"))
        if not isinstance(table, Mapping) or "proteins" not in info:
            raise ValueError(f".uns[{key!r}] holds no per-protein scores (expected "
                             "'proteins' and 'metrics' or 'per_protein')")
        if metric not in table:
            raise ValueError(f"metric {metric!r} is not stored in .uns[{key!r}]; it has "
                             f"{sorted(table)}")
        columns[str(label)] = pd.Series(np.asarray(table[metric], dtype=np.float64),
                                        index=pd.Index(list(info["proteins"])))
    if len(set(kinds.values())) > 1:
        raise ValueError(
            "these keys mix scores on training cells (tl.transfer) with scores on evaluated "
            f"cells (tl.evaluate): {kinds}; compare like with like, e.g. tl.evaluate every "
            "method on the same held-out cells"
        )
    frame = pd.concat(columns, axis=1, sort=False)
    frame.columns.name = f"{metric} on {next(iter(kinds.values()))}"
    return frame


def protein_scores(
    scores,
    *,
    metric: str = "pearson",
    keys: str | Sequence[str] | Mapping[str, str] | None = None,
    modality_in: str = "rna",
    proteins: Sequence[str] | None = None,
    layout: str = "auto",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> Axes | None:
    """Plot per-protein scores of several methods, as grouped bars or a sorted strip.

    Parameters
    ----------
    scores : DataFrame, mapping, MuData or AnnData
        Proteins x methods DataFrame; a mapping ``{method: Series indexed by
        protein}``; or data with fits stored under ``keys`` (read with
        :func:`scores_from_uns`).
    metric : str
        Score name (axis label; the score read from ``.uns`` for data input).
    keys : str, sequence of str, mapping or None
        ``.uns`` keys, for data input (default ``"smart"``).
    modality_in : str
        RNA modality, for data input.
    proteins : sequence of str or None
        Proteins to show, in order; default all.
    layout : {"auto", "bars", "strip"}
        ``"bars"``: grouped bars, proteins in the given order. ``"strip"``:
        one marker series per method, proteins sorted by the first method's
        score (readable with 100+ proteins). ``"auto"``: bars up to 30
        proteins, else the strip.
    ax, show, save
        As for :func:`predicted_vs_observed`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The Axes: proteins on x; with bars one
        :class:`~matplotlib.container.BarContainer` per method, with the strip
        one line of markers per method, each labelled with the method's name.
        The y label says which cells were scored when the scores come from
        ``.uns``.

    Examples
    --------
    >>> import pandas as pd
    >>> from smart_sc import pl
    >>> scores = pd.DataFrame({"SMART": [0.8, 0.6], "ridge": [0.7, 0.4]},
    ...                       index=["CD3", "CD4"])
    >>> ax = pl.protein_scores(scores, show=False)
    >>> [c.get_label() for c in ax.containers]
    ['SMART', 'ridge']
    """
    if isinstance(scores, MuData | AnnData):
        frame = scores_from_uns(scores, "smart" if keys is None else keys, metric=metric,
                                modality_in=modality_in)
    elif isinstance(scores, pd.DataFrame):
        frame = scores
    elif isinstance(scores, pd.Series):
        frame = scores.to_frame(name=str(scores.name) if scores.name is not None else metric)
    elif isinstance(scores, Mapping):
        frame = pd.concat({str(k): pd.Series(v) for k, v in scores.items()}, axis=1,
                          sort=False) if scores else pd.DataFrame()
    else:
        raise TypeError("scores must be a DataFrame, a mapping of Series, a MuData or an "
                        f"AnnData, got {type(scores).__name__}")
    if proteins is not None:
        proteins = list(proteins)
        unknown = [p for p in proteins if p not in frame.index]
        if unknown:
            raise ValueError(f"protein(s) {unknown} have no scores; scored proteins: "
                             f"{list(frame.index)}")
        frame = frame.loc[proteins]
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"no scores to plot (table of shape {frame.shape})")
    try:
        values = frame.to_numpy(np.float64)
    except (TypeError, ValueError):
        raise ValueError("scores must be numeric") from None

    if layout not in ("auto", "bars", "strip"):
        raise ValueError(f"layout must be 'auto', 'bars' or 'strip', got {layout!r}")
    if layout == "auto":
        layout = "bars" if values.shape[0] <= MAX_BAR_PROTEINS else "strip"
    draw = _score_bars if layout == "bars" else _score_strip
    ax, ax_given = draw(frame, values, ax)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_ylabel(frame.columns.name or metric)
    ax.legend(title="method", frameon=False)
    return save_or_show(ax, "protein_scores", show=show, save=save, ax_given=ax_given)


#: Above this many proteins grouped bars are unreadable; scores are drawn as
#: a sorted strip instead.
MAX_BAR_PROTEINS = 30


def _score_bars(frame: pd.DataFrame, values: np.ndarray, ax):
    n_prot, n_methods = values.shape
    ax, ax_given = _axes(ax, figsize=(max(4.0, 0.25 * n_prot * n_methods + 2), 3.5))
    x = np.arange(n_prot)
    width = 0.8 / n_methods
    for i, method in enumerate(frame.columns):
        ax.bar(x - 0.4 + width * (i + 0.5), values[:, i], width, label=str(method))
    ax.set_xticks(x)
    ax.set_xticklabels([str(p) for p in frame.index], rotation=90)
    ax.set_xlim(-0.6, n_prot - 0.4)
    return ax, ax_given


def _score_strip(frame: pd.DataFrame, values: np.ndarray, ax):
    """Proteins ordered by the first method's score; one marker series per method."""
    n_prot = values.shape[0]
    order = np.argsort(np.where(np.isnan(values[:, 0]), np.inf, -values[:, 0]), kind="stable")
    ax, ax_given = _axes(ax, figsize=(min(14.0, 4.0 + 0.06 * n_prot), 3.5))
    x = np.arange(n_prot)
    for i, method in enumerate(frame.columns):
        ax.plot(x, values[order, i], marker="o", markersize=3, linestyle="none",
                label=str(method))
    names = [str(frame.index[j]) for j in order]
    step = max(1, n_prot // 40)  # at most about 40 labels
    ax.set_xticks(x[::step])
    ax.set_xticklabels(names[::step], rotation=90, fontsize=6)
    ax.set_xlabel(f"proteins, by {frame.columns[0]}'s score")
    ax.set_xlim(-1, n_prot)
    return ax, ax_given



"""Plotting functions of :mod:`smart_sc.pl` (matplotlib, scanpy-style)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from mudata import MuData
from scipy.linalg import subspace_angles

from ..get import modality_adata, obsm_frame, resolve_modalities, select_cells
from ..source import SourceModel
from ..tl import to_model
from ._figures import new_or_given_axes as _axes
from ._figures import save_or_show

# The public names are listed once, in smart_sc.pl.__all__.

_SOURCE_COLOR = "tab:blue"
_TARGET_COLOR = "tab:orange"


# --------------------------------------------------------------------------- helpers


def _fit_uns(data, key: str, modality_in: str) -> Mapping:
    """``.uns[key]`` of the container, else of the RNA modality."""
    if isinstance(data, MuData) and isinstance(data.uns.get(key), Mapping):
        return data.uns[key]
    rna = modality_adata(data, modality_in)
    info = rna.uns.get(key)
    if not isinstance(info, Mapping):
        raise ValueError(
            f"no results stored under key {key!r} in .uns (modality {modality_in!r}); "
            f".uns has {sorted(rna.uns)}"
        )
    return info


def _coef(obj: Any, *, key: str, modality_in: str, what: str) -> pd.DataFrame | np.ndarray:
    """Genes x proteins coefficients of a model, a DataFrame, an array or a stored fit."""
    if isinstance(obj, SourceModel):
        coef = obj.coef
    elif isinstance(obj, pd.DataFrame):
        try:
            coef = obj.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{what}: the DataFrame must be numeric ({err})") from None
    elif isinstance(obj, MuData | AnnData):
        # A stored tl.transfer fit, on the genes and proteins it used.
        try:
            coef = to_model(obj, key=key, modality_in=modality_in).coef
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
    elif hasattr(obj, "coef_"):
        # scikit-learn layout (n_targets, n_features) -> genes x proteins.
        coef = np.atleast_2d(np.asarray(obj.coef_, dtype=np.float64)).T
    else:
        try:
            coef = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{what}: expected a SourceModel, a genes x proteins DataFrame or array, "
                f"a fitted estimator or a MuData/AnnData, got {type(obj).__name__}"
            ) from None
        if coef.ndim != 2:
            raise ValueError(f"{what}: coefficients must be 2-D (genes x proteins), got "
                             f"shape {coef.shape}")
    values = np.asarray(coef)
    if values.size == 0:
        raise ValueError(f"{what}: the coefficient matrix is empty (shape {values.shape})")
    if not np.isfinite(values).all():
        raise ValueError(f"{what}: the coefficients contain NaN or infinite values")
    return coef


def _aligned(source, target) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices on their shared genes and proteins (by name when both are named)."""
    if isinstance(source, pd.DataFrame) and isinstance(target, pd.DataFrame):
        genes = source.index.intersection(target.index, sort=False)
        proteins = source.columns.intersection(target.columns, sort=False)
        if len(genes) == 0 or len(proteins) == 0:
            raise ValueError(
                f"source and target share {len(genes)} gene(s) and {len(proteins)} "
                "protein(s); both must be non-zero to compare them"
            )
        return (source.loc[genes, proteins].to_numpy(np.float64),
                target.loc[genes, proteins].to_numpy(np.float64))
    A, B = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(
            f"source has shape {A.shape} and target {B.shape}; without gene and protein "
            "names (DataFrames or SourceModels) the shapes must match"
        )
    return A, B


# --------------------------------------------------------------------------- plots


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
        modalities.
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
        the plotted cells.

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
    ax.set_title(f"{protein} (r = {r:.3f})")
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
        info = _fit_uns(mdata, key, modality_in)
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


def coef_heatmap(
    model,
    *,
    key: str = "smart",
    modality_in: str = "rna",
    n_top_genes: int = 20,
    proteins: Sequence[str] | None = None,
    cmap: str = "RdBu_r",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> Axes | None:
    """Heatmap of the coefficients of the top genes (rows) for each protein (columns).

    Genes are ranked by the l2 norm of their coefficients over the shown
    proteins, largest first. The colour scale is symmetric about 0.

    Parameters
    ----------
    model : SourceModel, DataFrame, MuData or AnnData
        Coefficients: a :class:`~smart_sc.SourceModel`, a genes x proteins
        DataFrame, or data with a fit stored by :func:`smart_sc.tl.transfer`
        (``.varm[key]`` of ``modality_in``).
    key, modality_in : str
        Where the fit is stored, for data input.
    n_top_genes : int
        Number of genes to show.
    proteins : sequence of str or None
        Proteins (columns) to show, in order; default all.
    cmap : str
        Diverging colormap.
    ax, show, save
        As for :func:`predicted_vs_observed`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The heatmap's Axes (its image is ``ax.images[0]``; gene names are the
        y tick labels, top to bottom).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from smart_sc import pl
    >>> coef = pd.DataFrame(np.arange(6.0).reshape(3, 2) - 2, index=["A", "B", "C"],
    ...                     columns=["CD3", "CD4"])
    >>> ax = pl.coef_heatmap(coef, n_top_genes=2, show=False)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['C', 'A']
    """
    coef = _coef(model, key=key, modality_in=modality_in, what="coef_heatmap")
    if not isinstance(coef, pd.DataFrame):
        raise ValueError("coef_heatmap needs gene and protein names: pass a SourceModel, a "
                         "DataFrame or data with a stored fit")
    if isinstance(n_top_genes, bool) or int(n_top_genes) != n_top_genes or n_top_genes < 1:
        raise ValueError(f"n_top_genes must be a positive integer, got {n_top_genes!r}")
    if proteins is not None:
        proteins = list(proteins)
        unknown = [p for p in proteins if p not in coef.columns]
        if unknown:
            raise ValueError(f"protein(s) {unknown} are not in the coefficients; they have "
                             f"{list(coef.columns)}")
        coef = coef[proteins]
    norms = np.sqrt((coef.to_numpy() ** 2).sum(axis=1))
    order = np.argsort(-norms, kind="stable")[: int(n_top_genes)]
    sub = coef.iloc[order]
    values = sub.to_numpy(np.float64)
    vmax = float(np.abs(values).max()) or 1.0

    n_genes, n_prot = values.shape
    ax, ax_given = _axes(ax, figsize=(1.5 + 0.35 * n_prot, 1.0 + 0.25 * n_genes))
    image = ax.imshow(values, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(np.arange(n_prot))
    ax.set_xticklabels([str(p) for p in sub.columns], rotation=90)
    ax.set_yticks(np.arange(n_genes))
    ax.set_yticklabels([str(g) for g in sub.index])
    ax.set_xlabel("protein")
    ax.set_ylabel("gene")
    ax.figure.colorbar(image, ax=ax, label="coefficient")
    return save_or_show(ax, "coef_heatmap", show=show, save=save, ax_given=ax_given)


def spectra(
    source,
    target,
    *,
    n: int | None = None,
    key: str = "smart",
    modality_in: str = "rna",
    align: bool = True,
    labels: tuple[str, str] = ("source", "target"),
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> Axes | None:
    """Singular values of the source and target coefficient matrices.

    Parameters
    ----------
    source, target : SourceModel, DataFrame, array, fitted estimator, MuData or AnnData
        Genes x proteins coefficients (an estimator's ``coef_`` is transposed;
        data are read from ``.varm[key]`` of ``modality_in``, used genes only).
    n : int or None
        Number of leading singular values to show; default all.
    key, modality_in : str
        Where a fit is stored, for data input.
    align : bool
        Restrict both matrices to their shared genes and proteins first (by
        name, or requiring equal shapes for unnamed arrays). ``False``: each
        matrix's own spectrum.
    labels : tuple of str
        Legend labels of the two series.
    ax, show, save
        As for :func:`predicted_vs_observed`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The Axes, with one line per matrix (``ax.lines[0]`` source,
        ``ax.lines[1]`` target) and a log y axis.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc import pl
    >>> rng = np.random.default_rng(0)
    >>> ax = pl.spectra(rng.normal(size=(30, 5)), rng.normal(size=(30, 5)), show=False)
    >>> len(ax.lines[0].get_ydata())
    5
    """
    A = _coef(source, key=key, modality_in=modality_in, what="source")
    B = _coef(target, key=key, modality_in=modality_in, what="target")
    if align:
        A, B = _aligned(A, B)
    s_a = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
    s_b = np.linalg.svd(np.asarray(B, dtype=np.float64), compute_uv=False)
    if n is not None:
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        s_a, s_b = s_a[: int(n)], s_b[: int(n)]

    ax, ax_given = _axes(ax, figsize=(4.5, 3.5))
    ax.plot(np.arange(1, s_a.size + 1), s_a, marker="o", color=_SOURCE_COLOR, label=labels[0])
    ax.plot(np.arange(1, s_b.size + 1), s_b, marker="s", color=_TARGET_COLOR, label=labels[1])
    ax.set_yscale("log")
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.legend(frameon=False)
    return save_or_show(ax, "spectra", show=show, save=save, ax_given=ax_given)


def principal_angles(
    source,
    target,
    *,
    rank: int | None = None,
    side: str = "left",
    key: str = "smart",
    modality_in: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> Axes | None:
    """Principal angles between the source's and the target's singular subspaces.

    Both matrices are first restricted to their shared genes and proteins (by
    name when both are named; unnamed arrays must have equal shapes). The
    angles, in degrees and increasing, are those of
    :func:`scipy.linalg.subspace_angles` between the leading ``rank`` left
    (gene-side) or right (protein-side) singular vectors.

    Parameters
    ----------
    source, target : SourceModel, DataFrame, array, fitted estimator, MuData or AnnData
        Genes x proteins coefficients, as for :func:`spectra`.
    rank : int or None
        Subspace dimension; default the smaller numerical rank of the two.
    side : {"left", "right"}
        Gene-side (``U``) or protein-side (``V``) subspaces.
    key, modality_in : str
        Where a fit is stored, for data input.
    ax, show, save
        As for :func:`predicted_vs_observed`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The Axes, one bar per angle (0 = shared direction, 90 = orthogonal).

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc import pl
    >>> rng = np.random.default_rng(0)
    >>> C = rng.normal(size=(30, 5))
    >>> ax = pl.principal_angles(C, 2 * C, rank=3, show=False)
    >>> bool(np.allclose([b.get_height() for b in ax.patches], 0, atol=1e-5))
    True
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    A = _coef(source, key=key, modality_in=modality_in, what="source")
    B = _coef(target, key=key, modality_in=modality_in, what="target")
    A, B = _aligned(A, B)
    if rank is None:
        rank = min(np.linalg.matrix_rank(A), np.linalg.matrix_rank(B))
        if rank == 0:
            raise ValueError("a coefficient matrix is zero: there is no subspace to compare")
    elif isinstance(rank, bool) or int(rank) != rank or not 1 <= rank <= min(A.shape):
        raise ValueError(f"rank must be an integer in [1, {min(A.shape)}] (the shared "
                         f"genes x proteins are {A.shape}), got {rank!r}")
    rank = int(rank)

    def basis(M: np.ndarray) -> np.ndarray:
        U, _, Vt = np.linalg.svd(M, full_matrices=False)
        return U[:, :rank] if side == "left" else Vt[:rank].T

    angles = np.sort(np.degrees(subspace_angles(basis(A), basis(B))))

    ax, ax_given = _axes(ax, figsize=(max(3.0, 0.5 * rank + 1.5), 3.5))
    x = np.arange(1, rank + 1)
    ax.bar(x, angles, color="tab:purple")
    ax.set_xticks(x)
    ax.set_xticklabels([f"θ{i}" for i in x])
    ax.set_ylim(0, 90)
    ax.set_ylabel("principal angle (degrees)")
    ax.set_title(f"{'left (genes)' if side == 'left' else 'right (proteins)'} subspaces, "
                 f"rank {rank}")
    return save_or_show(ax, "principal_angles", show=show, save=save, ax_given=ax_given)


def convergence(
    estimator,
    *,
    axes: Sequence[Axes] | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> list[Axes] | None:
    """ADMM convergence of a fitted :class:`~smart_sc.SMARTRegressor`.

    Three panels against the iteration: the objective, the primal residual
    and the dual residual (log y for the residuals), of the final fit.

    Parameters
    ----------
    estimator : SMARTRegressor
        A fitted estimator (``objective_history_``,
        ``primal_residual_history_``, ``dual_residual_history_``).
    axes : sequence of 3 Axes or None
        Axes to draw on; a new 1 x 3 figure when ``None``.
    show, save
        As for :func:`predicted_vs_observed`.

    Returns
    -------
    list of matplotlib.axes.Axes or None
        The three Axes, each with one line.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc import SMARTRegressor, pl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8))
    >>> C = rng.normal(size=(8, 3))
    >>> Y = X @ C + 0.1 * rng.normal(size=(60, 3))
    >>> est = SMARTRegressor(C.T, rank=2, structural_rank=2, alpha=0.0).fit(X, Y)
    >>> axes = pl.convergence(est, show=False)
    >>> len(axes)
    3
    """
    names = ("objective_history_", "primal_residual_history_", "dual_residual_history_")
    missing = [name for name in names if not hasattr(estimator, name)]
    if missing:
        raise ValueError(f"{type(estimator).__name__} has no {missing}: pass a fitted "
                         "SMARTRegressor")
    histories = [np.asarray(getattr(estimator, name), dtype=np.float64).ravel()
                 for name in names]
    if axes is None:
        fig, created = plt.subplots(1, 3, figsize=(11, 3.2))
        axes = list(created)
        ax_given = False
    else:
        axes = list(axes)
        if len(axes) != 3 or not all(isinstance(a, Axes) for a in axes):
            raise ValueError(f"axes must be 3 matplotlib Axes, got {len(axes)} object(s)")
        fig = axes[0].figure
        ax_given = True
    titles = ("objective", "primal residual", "dual residual")
    for a, history, title in zip(axes, histories, titles, strict=True):
        a.plot(np.arange(1, history.size + 1), history, marker=".", markersize=3)
        a.set_title(title)
        a.set_xlabel("iteration")
    for a, history in zip(axes[1:], histories[1:], strict=True):
        if np.any(history > 0):
            a.set_yscale("log")
    if not ax_given:
        fig.tight_layout()
    return save_or_show(axes, "convergence", show=show, save=save, ax_given=ax_given)

"""pl.transfer_gain: what the source contributed to each protein, sorted."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._figures import new_or_given_axes, save_or_show
from ._read import fit_uns

__all__ = ["transfer_gain"]

_HELPED, _HURT, _NEUTRAL = "tab:green", "tab:purple", "0.6"
#: Gains closer to zero than this are drawn neutral: the penalty switched off by
#: cross-validation gives exactly 0, and such a protein was neither helped nor hurt.
_ZERO_GAIN = 1e-9
#: Above this many proteins only every k-th name is written under the strip.
_MAX_LABELS = 40


def _per_protein(data, key: str, modality_in: str) -> tuple[pd.DataFrame, Mapping]:
    info = fit_uns(data, key, modality_in)
    gain = info.get("transfer_gain")
    if not isinstance(gain, Mapping) or "per_protein" not in gain:
        raise ValueError(
            f".uns[{key!r}] has no transfer gain: it is measured by smart_sc.tl.transfer with "
            "a source, transfer_gain=True (the default) and at least 2 * cv training cells")
    table = gain["per_protein"]
    frame = pd.DataFrame({"cv_r2": table["cv_r2"], "transfer_gain": table["transfer_gain"]},
                         index=pd.Index(table["protein"], name="protein"))
    return frame, gain


def transfer_gain(
    data,
    *,
    key: str = "smart",
    modality_in: str = "rna",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
) -> Axes | None:
    """Per-protein transfer gain of a :func:`smart_sc.tl.transfer` fit, as a sorted strip.

    Each protein's gain is its cross-validated error without the source over
    its error with it, minus one (``.uns[key]["transfer_gain"]``, also in the
    protein modality's ``.var[f"{key}_transfer_gain"]``): above zero the fit
    with the source had the lower error on that protein, below it the higher
    (not placebo-controlled: a source with shuffled genes scatters around zero
    too). Proteins are sorted by gain, green above zero, purple below, grey at
    zero (the penalty switched off) or missing; the title gives the overall
    gain.

    Parameters
    ----------
    data : MuData or AnnData
        Data that :func:`smart_sc.tl.transfer` wrote to.
    key : str
        The fit's ``key_added``.
    modality_in : str
        The RNA modality, looked at when the MuData's own ``.uns`` lacks ``key``.
    ax : matplotlib.axes.Axes or None
        Axes to draw on (default a new figure).
    show : bool or None
        Show the figure; ``None`` follows ``scanpy.settings.autoshow``, as in
        scanpy. The Axes are returned only when the figure is not shown.
    save : bool, str, path or None
        As in scanpy, with :data:`scanpy.settings`: ``True`` writes
        ``{figdir}/transfer_gain{plot_suffix}.{file_format_figs}`` (pdf by
        default); a str is appended to the name (an ending ``.png``, ``.pdf``
        or ``.svg`` picks the format); ``None`` follows ``settings.autosave``
        (off by default: nothing is written). A :class:`pathlib.Path` is
        written exactly there.

    Returns
    -------
    matplotlib.axes.Axes or None
        The Axes (``None`` when the figure was shown): one marker per protein,
        x in gain order, the names as tick labels.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> from smart_sc import pl
    >>> adata = ad.AnnData(np.zeros((2, 1)))
    >>> adata.uns["smart"] = {"transfer_gain": {"gain": 0.05, "per_protein": {
    ...     "protein": ["CD3", "CD4", "CD8"], "cv_r2": [0.6, 0.5, 0.4],
    ...     "transfer_gain": [0.01, 0.2, -0.05]}}}
    >>> ax = pl.transfer_gain(adata, show=False)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['CD4', 'CD3', 'CD8']
    """
    frame, gain = _per_protein(data, key, modality_in)
    values = frame["transfer_gain"].to_numpy(np.float64)
    order = np.argsort(np.where(np.isnan(values), np.inf, -values), kind="stable")
    n = values.size
    ax, ax_given = new_or_given_axes(ax, figsize=(min(14.0, 4.0 + 0.08 * n), 3.5))
    x = np.arange(n)
    sorted_values = values[order]
    colours = np.where(sorted_values > _ZERO_GAIN, _HELPED,
                       np.where(sorted_values < -_ZERO_GAIN, _HURT, _NEUTRAL))
    ax.scatter(x, 100 * sorted_values, c=list(colours), s=14, zorder=3)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    step = max(1, n // _MAX_LABELS)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([str(frame.index[j]) for j in order][::step], rotation=90,
                       fontsize=8 if n <= _MAX_LABELS else 6)
    ax.set_xlim(-1, n)
    ax.set_ylabel("transfer gain (%)\nCV error without / with source - 1")
    overall = gain.get("gain", np.nan)
    title = "CV error without / with the source, per protein (no placebo control)"
    ax.set_title(f"{title}; overall {100 * overall:+.1f}%" if np.isfinite(overall) else title,
                 fontsize=10)
    return save_or_show(ax, "transfer_gain", show=show, save=save, ax_given=ax_given)

"""Axes, saving and showing for every plot of :mod:`smart_sc.pl`, as scanpy does them.

``save`` and ``show`` follow :mod:`scanpy.pl`: ``save=True`` writes
``{figdir}/{name}{plot_suffix}.{file_format_figs}`` with scanpy's
:data:`scanpy.settings`; a string is appended to the plot's name (an ending
``.png``, ``.pdf`` or ``.svg`` chooses the format); ``None`` follows
``settings.autosave``. A :class:`pathlib.Path` (any ``os.PathLike``) is written
exactly there. ``show=None`` follows ``settings.autoshow``; the drawn Axes are
returned unless the figure was shown.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from scanpy import settings

logger = logging.getLogger("smart_sc")

#: Endings of ``save`` that choose the file format, as in scanpy.
_FORMATS = (".svg", ".pdf", ".png")


def new_or_given_axes(ax: Axes | None,
                      figsize: tuple[float, float] | None = None) -> tuple[Axes, bool]:
    """Return ``ax`` or a new figure's Axes, and whether ``ax`` was given."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
        return ax, False
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax, True


def figure_path(name: str, save: bool | str | os.PathLike | None) -> Path | None:
    """Return the file a plot named ``name`` is saved to for ``save``, or ``None``."""
    if isinstance(save, os.PathLike):
        return Path(save)
    if save is None:
        save = settings.autosave
    if isinstance(save, str):
        ext = next((e for e in _FORMATS if save.endswith(e)), "")
        name, save = name + save.removesuffix(ext), True
        file_format = ext[1:] or settings.file_format_figs
    elif isinstance(save, bool):
        file_format = settings.file_format_figs
    else:
        raise TypeError("save must be a bool, a str (appended to the figure's name) or a "
                        f"path, got {type(save).__name__}")
    if not save:
        return None
    return Path(settings.figdir) / f"{name}{settings.plot_suffix}.{file_format}"


def save_or_show(result: Axes | list[Axes], name: str, *, show: bool | None,
                 save: bool | str | os.PathLike | None, ax_given: bool):
    """Save and/or show the figure of ``result`` as scanpy does; return ``result`` unless shown.

    A figure this package created is closed after saving, as scanpy does; a
    figure holding Axes the caller passed is left open.
    """
    fig = (result[0] if isinstance(result, list) else result).figure
    path = figure_path(name, save)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("saving figure to file %s", path)
        fig.savefig(path, bbox_inches="tight")
    show = settings.autoshow if show is None else show
    if show:
        plt.show()
    if path is not None and not ax_given:
        plt.close(fig)
    return None if show else result

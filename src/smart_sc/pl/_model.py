"""Plots of a fitted model of :mod:`smart_sc.pl`: coefficients, spectra, subspaces, convergence.

Colours: the source in blue, the target in orange, in every figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy.linalg import subspace_angles

from ._figures import new_or_given_axes as _axes
from ._figures import save_or_show
from ._read import aligned, coef_of

_SOURCE_COLOR = "tab:blue"
_TARGET_COLOR = "tab:orange"


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
    coef = coef_of(model, key=key, modality_in=modality_in, what="coef_heatmap")
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
    A = coef_of(source, key=key, modality_in=modality_in, what="source")
    B = coef_of(target, key=key, modality_in=modality_in, what="target")
    if align:
        A, B = aligned(A, B)
    s_a = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
    s_b = np.linalg.svd(np.asarray(B, dtype=np.float64), compute_uv=False)
    if n is not None:
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        s_a, s_b = s_a[: int(n)], s_b[: int(n)]

    ax, ax_given = _axes(ax, figsize=(4.5, 3.5))
    ax.plot(np.arange(1, s_a.size + 1), _beyond_roundoff(s_a, A), marker="o",
            color=_SOURCE_COLOR, label=labels[0])
    ax.plot(np.arange(1, s_b.size + 1), _beyond_roundoff(s_b, B), marker="s",
            color=_TARGET_COLOR, label=labels[1])
    ax.set_yscale("log")
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.legend(frameon=False)
    return save_or_show(ax, "spectra", show=show, save=save, ax_given=ax_given)


def _beyond_roundoff(values: np.ndarray, matrix) -> np.ndarray:
    """Singular values with the numerical zeros (round-off of the SVD) left undrawn.

    On the log axis a value of 1e-16 would squash the informative range: it
    only says that the matrix's rank is lower (the drawn points end there).
    """
    floor = values.max(initial=0.0) * max(np.shape(matrix)) * np.finfo(np.float64).eps
    return np.where(values > floor, values, np.nan)


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
    A = coef_of(source, key=key, modality_in=modality_in, what="source")
    B = coef_of(target, key=key, modality_in=modality_in, what="target")
    A, B = aligned(A, B)
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
    and the dual residual (log y for the residuals), of the final fit. The
    objective is the penalised loss per cell at the split variables ``Omega``;
    ADMM does not lower it at every step (it can rise while the constraint
    ``U_perp^T U = Omega`` is being enforced). The dashed line on the residual
    panels is ``tol``: the iteration stops once both residuals are below it.

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
        The three Axes: each with its history, the residual panels also with
        the ``tol`` line.

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
    ylabels = ("penalised loss per cell", "constraint violation (rms)",
               "Riemannian gradient (rms)")
    for a, history, title, ylabel in zip(axes, histories, titles, ylabels, strict=True):
        a.plot(np.arange(1, history.size + 1), history, marker=".", markersize=3)
        a.set_title(title)
        a.set_xlabel("iteration")
        a.set_ylabel(ylabel, fontsize=9)
    tol = getattr(estimator, "tol", None)
    for a, history in zip(axes[1:], histories[1:], strict=True):
        if np.any(history > 0):
            a.set_yscale("log")
        if tol is not None:  # the iteration stops once both residuals are below it
            a.axhline(float(tol), color="0.5", linestyle="--", linewidth=0.8, label="tol")
            a.legend(frameon=False, fontsize=8)
    if not ax_given:
        fig.tight_layout()
    return save_or_show(axes, "convergence", show=show, save=save, ax_given=ax_given)

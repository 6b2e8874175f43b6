"""Feature filters for a source and a target population: constant features, gene screening."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..get import check_finite, get_matrix, resolve_modalities
from ..get._masks import resolve_groups
from ..get._modalities import copy_data, rows_of, update_mudata
from ._record import (
    logger,
    record,
)

__all__ = ["drop_constant_features", "screen_genes"]


def constant_columns(M) -> np.ndarray:
    """Boolean mask of the columns of ``M`` whose values are all equal (exactly)."""
    if M.shape[0] == 0:
        return np.ones(M.shape[1], dtype=bool)
    if sp.issparse(M):
        M = sp.csc_matrix(M)
        hi = np.asarray(M.max(axis=0).todense()).ravel()
        lo = np.asarray(M.min(axis=0).todense()).ravel()
    else:
        M = np.asarray(M)
        hi, lo = M.max(axis=0), M.min(axis=0)
    return hi == lo


def group_matrices(pair, cells, layer_in, layer_out):
    """RNA rows (sparse or dense) and dense protein rows of ``cells``, checked finite."""
    X = rows_of(get_matrix(pair.rna, layer_in, pair.modality_in), pair.rna.obs_names, cells)
    Y = pair.protein_matrix(cells, layer_out)
    check_finite(X, f"modality {pair.modality_in!r} ({'.X' if layer_in is None else layer_in})")
    check_finite(Y, f"proteins {pair.modality_out!r} ({'.X' if layer_out is None else layer_out})")
    return X, Y


def constant_modalities(columns: dict[str, np.ndarray]) -> list[str]:
    """Name the modalities (``{name: constant_columns mask}``) whose every feature is constant."""
    return [name for name, constant in columns.items() if constant.size and constant.all()]


def check_some_vary(per_group: dict, modalities: tuple[str, str]) -> None:
    """Refuse a population in which every gene, or every protein, is constant.

    ``per_group`` maps a population to ``{"n_cells": ..., "all_constant":
    [modalities with no varying feature]}``. Nothing would be left to fit
    (typically cells with no counts at all), and removing every feature
    would leave an empty modality behind without a word.
    """
    for name, found in per_group.items():
        if found["all_constant"]:
            what = " and ".join(f"every feature of {m!r}" for m in modalities
                                if m in found["all_constant"])
            raise ValueError(
                f"in group {name!r} ({found['n_cells']} cells) {what} is constant (cells "
                "without counts?), so nothing would be left to fit; check the group's mask "
                "and its cells")


def _names_preview(names, k: int = 10) -> str:
    names = list(names)
    more = f", ... (+{len(names) - k})" if len(names) > k else ""
    return ", ".join(map(str, names[:k])) + more


def drop_constant_features(
    data,
    *,
    groups,
    modality_in: str = "rna",
    modality_out: str = "prot",
    layer_in: str | None = None,
    layer_out: str | None = None,
    remove: bool = True,
    copy: bool = False,
):
    """Find (and by default remove) features constant within any of the populations.

    A gene or protein with zero variance among the cells of a population (e.g.
    the source or the target) carries no information there and breaks
    standardisation and correlations; the SMART paper drops such features.

    Parameters
    ----------
    data : mudata.MuData or anndata.AnnData
        Paired data: a MuData with both modalities, or an AnnData with the
        proteins as a DataFrame in ``.obsm[modality_out]``.
    groups : dict or str
        Populations, ``{name: mask}`` with each mask a boolean array over the
        cells of ``data``, a list of obs names or the name of a boolean
        ``.obs`` column; or the name of an ``.obs`` column (one population
        per value some cell has: unused categories and missing values are
        skipped). Only cells with both modalities count.
    modality_in, modality_out : str, default="rna", "prot"
        The RNA and protein modalities (for an AnnData, ``modality_out`` is the
        ``.obsm`` key of the proteins).
    layer_in, layer_out : str or None, default=None
        Layers to test (``None``: ``.X``).
    remove : bool, default=True
        Remove the constant features (otherwise only mark them).
    copy : bool, default=False
        Work on a copy and return it.

    Returns
    -------
    mudata.MuData, anndata.AnnData or None
        ``None`` if ``copy=False``, else the processed copy. Each modality gets
        ``.var["smart_constant"]`` (``True`` for a feature constant in some
        population; all ``False`` after removal) and the names found in
        ``.uns["smart_sc_preprocessing"]["drop_constant_features"]``.

    Raises
    ------
    ValueError
        A population in which every gene, or every protein, is constant
        (nothing would be left), before anything is changed.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> mdata["prot"].X[~is_nk, 0] = 5.0  # CD3 made constant in the ILC1 cells
    >>> smart_sc.pp.drop_constant_features(mdata, groups={"NK": is_nk, "ILC1": ~is_nk})
    >>> mdata["rna"].n_vars, mdata["prot"].n_vars
    (300, 19)
    >>> mdata["prot"].uns["smart_sc_preprocessing"]["drop_constant_features"]["constant"]["prot"]
    ['CD3']
    """
    if copy:
        data = copy_data(data)
    pair = resolve_modalities(data, modality_in, modality_out)
    populations = resolve_groups(pair, groups)
    genes = pd.Index(pair.rna.var_names)
    proteins = pair.protein_names
    const_in = np.zeros(len(genes), dtype=bool)
    const_out = np.zeros(len(proteins), dtype=bool)
    per_group = {}
    for name, cells in populations.items():
        X, Y = group_matrices(pair, cells, layer_in, layer_out)
        cin, cout = constant_columns(X), constant_columns(Y)
        per_group[name] = {
            "n_cells": len(cells),
            modality_in: list(genes[cin]),
            modality_out: list(proteins[cout]),
            "all_constant": constant_modalities({modality_in: cin, modality_out: cout}),
        }
        logger.info(
            "drop_constant_features: in %r (%d cells), %d constant %s feature(s) [%s] "
            "and %d constant %s feature(s) [%s]",
            name,
            len(cells),
            int(cin.sum()),
            modality_in,
            _names_preview(genes[cin]),
            int(cout.sum()),
            modality_out,
            _names_preview(proteins[cout]),
        )
        const_in |= cin
        const_out |= cout
    check_some_vary(per_group, (modality_in, modality_out))  # before anything is written
    found = {modality_in: list(genes[const_in]), modality_out: list(proteins[const_out])}
    params = {
        "groups": {k: v["n_cells"] for k, v in per_group.items()},
        "layer_in": layer_in,
        "layer_out": layer_out,
        "remove": bool(remove),
        "constant": found,
        "constant_per_group": {
            k: {m: v[m] for m in (modality_in, modality_out)} for k, v in per_group.items()
        },
        "n_removed": {
            modality_in: int(const_in.sum()) if remove else 0,
            modality_out: int(const_out.sum()) if remove else 0,
        },
    }
    pair.rna.var["smart_constant"] = const_in
    if pair.prot is not None:
        pair.prot.var["smart_constant"] = const_out
    if remove:
        if const_in.any():
            pair.rna._inplace_subset_var(~const_in)
        if const_out.any():
            if pair.prot is not None:
                pair.prot._inplace_subset_var(~const_out)
            else:
                frame = pair.rna.obsm[modality_out]
                pair.rna.obsm[modality_out] = frame.loc[:, ~const_out]
        update_mudata(data)
        logger.info(
            "drop_constant_features: removed %d %s and %d %s feature(s)",
            int(const_in.sum()),
            modality_in,
            int(const_out.sum()),
            modality_out,
        )
    record(pair.rna, "drop_constant_features", params)
    if pair.prot is not None:
        record(pair.prot, "drop_constant_features", params)
    return data if copy else None


def correlation(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlations genes x proteins (``X`` cells x genes, sparse ok; ``Y`` dense).

    Returns the correlations (0 for a constant gene or protein) and the mask
    of constant genes.
    """
    n = X.shape[0]
    Yc = Y - Y.mean(axis=0)
    sd_y = np.sqrt((Yc**2).sum(axis=0) / (n - 1))
    const_x = constant_columns(X)
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        mean_x = np.asarray(X.mean(axis=0)).ravel()
        sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        var_x = np.maximum(sq - mean_x**2, 0.0) * n / (n - 1)
        cov = np.asarray(X.T @ Yc) / (n - 1)  # X^T Yc = Xc^T Yc as Yc sums to zero
    else:
        Xc = np.asarray(X, dtype=np.float64)
        Xc = Xc - Xc.mean(axis=0)
        var_x = (Xc**2).sum(axis=0) / (n - 1)
        cov = Xc.T @ Yc / (n - 1)
    sd_x = np.sqrt(var_x)
    ok_x = ~const_x & (sd_x > 0)
    ok_y = sd_y > 0
    denom = np.outer(np.where(ok_x, sd_x, 1.0), np.where(ok_y, sd_y, 1.0))
    corr = np.clip(cov / denom, -1.0, 1.0)
    corr[~ok_x] = 0.0
    corr[:, ~ok_y] = 0.0
    return corr, ~ok_x


#: The fewest cells of a population :func:`screen_genes` computes correlations on.
MIN_SCREEN_CELLS = 3


def check_screen_groups(populations: dict, hint: str = "") -> None:
    """Every population (``{name: cell names}``) has enough cells to screen genes on."""
    for name, cells in populations.items():
        if len(cells) < MIN_SCREEN_CELLS:
            raise ValueError(
                f"group {name!r} has {len(cells)} cell(s) with both modalities; screening "
                f"needs at least {MIN_SCREEN_CELLS} to compute correlations{hint}"
            )


def check_top_k(top_k) -> None:
    """:func:`screen_genes`'s ``top_k``, checked before anything is changed."""
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")


def screen_genes(
    data,
    *,
    groups,
    top_k: int = 150,
    modality_in: str = "rna",
    modality_out: str = "prot",
    layer_in: str | None = None,
    layer_out: str | None = None,
    key_added: str = "smart_screened",
    copy: bool = False,
):
    """Screen genes by marginal correlation with the proteins, per population (no subsetting).

    For each population, the Pearson correlations of every gene with every
    protein are computed on its cells; a gene's score is the l2 norm of its
    row of correlations, and the ``top_k`` genes by score are kept. The
    screened genes are the union over populations (the SMART paper: top 150
    in the source and in the target). Genes are only marked, never removed.

    Parameters
    ----------
    data : mudata.MuData or anndata.AnnData
        Paired, preprocessed data: a MuData with both modalities, or an
        AnnData with the proteins as a DataFrame in ``.obsm[modality_out]``.
    groups : dict or str
        Populations, ``{name: mask}`` (boolean array over the cells of
        ``data``, list of obs names, or the name of a boolean ``.obs`` column)
        or the name of an ``.obs`` column (one population per value some cell
        has: unused categories and missing values are skipped). Each needs at
        least 3 cells with both modalities.
    top_k : int, default=150
        Genes kept per population (all genes when ``top_k`` exceeds the number
        of usable genes).
    modality_in, modality_out : str, default="rna", "prot"
        The RNA and protein modalities.
    layer_in, layer_out : str or None, default=None
        Layers to use (``None``: ``.X``, i.e. the preprocessed values).
    key_added : str, default="smart_screened"
        Prefix of the results.
    copy : bool, default=False
        Work on a copy and return it.

    Returns
    -------
    mudata.MuData, anndata.AnnData or None
        ``None`` if ``copy=False``, else the processed copy. The RNA modality
        gets ``.var[key_added]`` (bool, the union),
        ``.var[f"{key_added}_{group}"]`` (bool, the group's top ``top_k``),
        ``.var[f"{key_added}_score_{group}"]`` (float, the l2 norm; 0 for a
        gene constant in the group, which is never selected) and
        ``.uns[key_added]`` (``"params"`` and counts); the parameters also go to
        ``.uns["smart_sc_preprocessing"]["screen_genes"]``.

    Raises
    ------
    ValueError
        A missing modality, a group with fewer than 3 cells, non-finite values
        (counted), or a bad ``top_k``.

    Examples
    --------
    >>> from smart_sc import pp
    >>> from smart_sc.datasets import toy_citeseq
    >>> mdata = toy_citeseq(random_state=0)
    >>> pp.normalize_rna(mdata, n_top_genes=None); pp.clr_proteins(mdata)
    >>> groups = {"NK": mdata.obs["cell_type"] == "NK", "ILC1": mdata.obs["cell_type"] == "ILC1"}
    >>> pp.screen_genes(mdata, groups=groups, top_k=60)
    >>> rna = mdata["rna"]
    >>> rna.n_vars, int(rna.var["smart_screened_NK"].sum())  # nothing removed
    (300, 60)
    >>> informative = set(mdata.uns["toy_citeseq"]["informative_genes"])
    >>> hits = set(rna.var_names[rna.var["smart_screened_NK"]]) & informative
    >>> len(hits) >= 30  # of 60, where chance gives about 12
    True
    """
    check_top_k(top_k)
    if copy:
        data = copy_data(data)
    pair = resolve_modalities(data, modality_in, modality_out)
    populations = resolve_groups(pair, groups)
    check_screen_groups(populations)
    genes = pd.Index(pair.rna.var_names)
    union = np.zeros(len(genes), dtype=bool)
    columns = {}
    counts = {}
    for name, cells in populations.items():
        X, Y = group_matrices(pair, cells, layer_in, layer_out)
        corr, unusable = correlation(X, Y)
        score = np.sqrt((corr**2).sum(axis=1))
        order = np.argsort(-score, kind="stable")
        order = order[~unusable[order]]
        if top_k > len(order):
            logger.warning(
                "screen_genes: group %r has only %d usable gene(s) for top_k=%d; all are kept",
                name,
                len(order),
                top_k,
            )
        chosen = np.zeros(len(genes), dtype=bool)
        chosen[order[:top_k]] = True
        if unusable.any():
            logger.info(
                "screen_genes: %d gene(s) constant in group %r are never selected "
                "(see pp.drop_constant_features)",
                int(unusable.sum()),
                name,
            )
        columns[f"{key_added}_score_{name}"] = score
        columns[f"{key_added}_{name}"] = chosen
        counts[name] = {"n_cells": len(cells), "n_selected": int(chosen.sum())}
        union |= chosen
    pair.rna.var[key_added] = union
    for col, values in columns.items():
        pair.rna.var[col] = values
    params = {
        "groups": list(populations),
        "top_k": int(top_k),
        "layer_in": layer_in,
        "layer_out": layer_out,
        "modality_in": modality_in,
        "modality_out": modality_out,
        "score": "l2 norm of Pearson correlations",
    }
    result = {"params": params, "groups": counts, "n_selected": int(union.sum())}
    pair.rna.uns[key_added] = result
    record(
        pair.rna, "screen_genes", {**params, "key_added": key_added, "n_selected": int(union.sum())}
    )
    if pair.prot is not None:
        record(
            pair.prot,
            "screen_genes",
            {**params, "key_added": key_added, "n_selected": int(union.sum())},
        )
    logger.info(
        "screen_genes: %d gene(s) screened (union of top %d in %s), stored in "
        ".var[%r]; nothing subset",
        int(union.sum()),
        top_k,
        ", ".join(map(repr, populations)),
        key_added,
    )
    return data if copy else None

"""The SMART paper's CITE-seq preprocessing, chained."""

from __future__ import annotations

import numpy as np

from ..get import check_counts, get_matrix, resolve_modalities
from ..get._masks import resolve_groups
from ..get._modalities import copy_data, modality_adata
from ._features import (
    check_screen_groups,
    check_some_vary,
    check_top_k,
    constant_columns,
    constant_modalities,
    drop_constant_features,
    group_matrices,
    screen_genes,
)
from ._normalize import check_clr_flavor, check_normalize_args, clr_proteins, normalize_rna

__all__ = ["prepare_citeseq"]


def _refuse_obsm_proteins(modality_in: str, modality_out: str, layer) -> None:
    """Only a MuData: on an AnnData the steps would take the RNA for the proteins too."""
    need = (f"prepare_citeseq needs a MuData with modalities {modality_in!r} (RNA) and "
            f"{modality_out!r} (proteins)")
    key = repr(modality_out)
    layers = f"prot.layers[{layer!r}] = prot.X.copy(); " if layer is not None else ""
    raise TypeError(
        f"{need}, got an AnnData: the protein CLR would run on its RNA and leave the "
        f"proteins in .obsm[{key}] as raw counts. Pass a MuData, e.g. prot = anndata.AnnData("
        f"adata.obsm[{key}]); {layers}mudata.MuData({{{modality_in!r}: adata, {key}: prot}}); "
        "or run the steps on the AnnData: pp.normalize_rna, the CLR of the proteins "
        f"(pp.clr_proteins on an AnnData of them, stored back in .obsm[{key}]), then "
        f"pp.drop_constant_features and pp.screen_genes, which read proteins from .obsm[{key}]"
    )


def _validate_before_changing(mdata, modality_in, modality_out, layer, groups,
                              settings: dict) -> None:
    """Every check the steps would make, before the first step changes anything.

    The steps work in place; a failure half-way (a NaN in the proteins found
    after the RNA was normalised and cut to its HVGs, a bad ``top_k`` or a
    population too small to screen found at the last step) would leave the
    user's object half-processed.
    """
    check_normalize_args(settings["target_sum"], settings["n_top_genes"])
    check_clr_flavor(settings["clr_flavor"])
    check_top_k(settings["top_k"])
    for name in ("subset_hvg", "drop_constant", "copy"):
        if not isinstance(settings[name], bool | np.bool_):
            raise ValueError(f"{name} must be True or False, got {settings[name]!r}")
    if not isinstance(settings["key_added"], str) or not settings["key_added"]:
        raise ValueError(f"key_added must be a non-empty str, got {settings['key_added']!r}")
    pair = resolve_modalities(mdata, modality_in, modality_out)
    if pair.prot is None:  # an AnnData with the proteins in .obsm
        _refuse_obsm_proteins(modality_in, modality_out, layer)
    if pair.rna is pair.prot:  # the CLR would find the RNA normalised, or transform it
        names = (f"are both {modality_in!r}" if modality_in == modality_out
                 else f"({modality_in!r}, {modality_out!r}) are one AnnData")
        raise ValueError(f"modality_in and modality_out {names}; the RNA and the proteins "
                         "must be two modalities")
    for modality in (modality_in, modality_out):
        adata = modality_adata(mdata, modality)
        if layer is not None and layer not in adata.layers:
            raise ValueError(
                f"layer {layer!r} not found in modality {modality!r} (it has "
                f"{list(adata.layers)}); pass layer=None to use .X if .X holds the raw counts"
            )
        where = f".layers[{layer!r}]" if layer is not None else ".X"
        check_counts(get_matrix(adata, layer, modality), f"modality {modality!r} {where}",
                     "prepare_citeseq needs raw counts in both modalities.")
    populations = resolve_groups(pair, groups)
    both = populations["source"].intersection(populations["target"])
    if len(both):
        # As tl.benchmark: a cell cannot be both; screening and the constant-feature
        # check would count it twice.
        raise ValueError(f"source_mask and target_mask overlap in {len(both)} cell(s), e.g. "
                         f"{list(both[:5])}; a cell cannot be both source and target")
    for name, cells in populations.items():  # screen_genes' check, the last step's
        check_screen_groups({name: cells}, f": {name}_mask must select more")
    # A feature constant in a group's counts stays constant once normalised: a group
    # with none varying would be emptied by drop_constant_features half-way.
    check_some_vary({name: _constant_modalities(pair, cells, layer)
                     for name, cells in populations.items()}, (modality_in, modality_out))


def _constant_modalities(pair, cells, layer) -> dict:
    X, Y = group_matrices(pair, cells, layer, layer)
    return {"n_cells": len(cells), "all_constant": constant_modalities(
        {pair.modality_in: constant_columns(X), pair.modality_out: constant_columns(Y)})}


def prepare_citeseq(
    mdata,
    *,
    source_mask,
    target_mask,
    modality_in: str = "rna",
    modality_out: str = "prot",
    layer: str | None = "counts",
    target_sum: float = 1e4,
    n_top_genes: int | None = 3000,
    subset_hvg: bool = True,
    clr_flavor: str = "per_cell",
    drop_constant: bool = True,
    top_k: int = 150,
    key_added: str = "smart_screened",
    copy: bool = False,
):
    """Preprocess CITE-seq raw counts as the SMART paper's case study did.

    In order: :func:`normalize_rna` (``normalize_total``, ``log1p``,
    ``n_top_genes`` highly variable genes, kept only if ``subset_hvg``,
    ``scale``); :func:`clr_proteins` (per-cell CLR by default);
    :func:`drop_constant_features` in the source or the target (if
    ``drop_constant``); :func:`screen_genes` (top ``top_k`` per population,
    union, marked in ``.var[key_added]``, not subset). The populations are
    named ``"source"`` and ``"target"`` in the results. Highly variable genes
    and scaling use all cells of ``mdata``: pass only the cells the analysis
    is about.

    Everything the steps check is checked before the first step: on an error
    the object is unchanged.

    Parameters
    ----------
    mdata : mudata.MuData
        Raw counts in ``layer`` (or ``.X`` with ``layer=None``) of both
        modalities. Only a MuData: an AnnData with proteins in ``.obsm`` is
        refused; make a MuData of it, or run the steps
        (:func:`drop_constant_features` and :func:`screen_genes` read proteins
        from ``.obsm``).
    source_mask, target_mask
        The source and target cells: boolean arrays over ``mdata.obs_names``,
        lists of obs names, or names of boolean ``.obs`` columns. Disjoint,
        with at least 3 cells with both modalities each (for screening).
    modality_in, modality_out : str, default="rna", "prot"
        The RNA and protein modalities.
    layer : str or None, default="counts"
        Layer of raw counts in both modalities.
    target_sum, n_top_genes
        See :func:`normalize_rna`.
    subset_hvg : bool, default=True
        Keep only the highly variable genes (the paper's 3,000 genes).
    clr_flavor : {"per_cell", "per_protein"}, default="per_cell"
        See :func:`clr_proteins`.
    drop_constant : bool, default=True
        Remove features constant in the source or in the target.
    top_k : int, default=150
        Genes screened per population.
    key_added : str, default="smart_screened"
        Key of the screening results.
    copy : bool, default=False
        Work on a copy and return it.

    Returns
    -------
    mudata.MuData or None
        ``None`` if ``copy=False``, else the processed copy. Every step is
        recorded in ``.uns["smart_sc_preprocessing"]`` of the modalities.

    Raises
    ------
    TypeError
        ``mdata`` is not a MuData (an AnnData is refused with how to make one).
    ValueError
        A bad argument; a missing modality or layer; ``modality_in`` and
        ``modality_out`` naming one AnnData; counts that are not raw counts
        (NaN, negative, non-integer); duplicated names; a bad mask;
        overlapping populations; a population with fewer than 3 cells.

    Examples
    --------
    >>> from smart_sc import pp
    >>> from smart_sc.datasets import toy_citeseq
    >>> mdata = toy_citeseq(random_state=0)
    >>> is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> pp.prepare_citeseq(mdata, source_mask=is_nk, target_mask=~is_nk,
    ...                    n_top_genes=200, top_k=40)
    >>> rna = mdata["rna"]
    >>> rna.n_vars <= 200, 40 <= int(rna.var["smart_screened"].sum()) <= 80
    (True, True)
    >>> rna.uns["smart_sc_preprocessing"]["steps"]
    ['normalize_rna', 'clr_proteins', 'drop_constant_features', 'screen_genes']
    >>> rna_screened = rna[:, rna.var["smart_screened"]].copy()  # subset explicitly
    """
    _validate_before_changing(
        mdata, modality_in, modality_out, layer, {"source": source_mask, "target": target_mask},
        {"target_sum": target_sum, "n_top_genes": n_top_genes, "clr_flavor": clr_flavor,
         "top_k": top_k, "subset_hvg": subset_hvg, "drop_constant": drop_constant,
         "copy": copy, "key_added": key_added})
    if copy:
        mdata = copy_data(mdata)
    normalize_rna(
        mdata,
        modality=modality_in,
        layer=layer,
        target_sum=target_sum,
        n_top_genes=n_top_genes,
        subset=subset_hvg,
    )
    clr_proteins(mdata, modality=modality_out, layer=layer, flavor=clr_flavor)
    groups = {"source": source_mask, "target": target_mask}
    if drop_constant:
        drop_constant_features(
            mdata, groups=groups, modality_in=modality_in, modality_out=modality_out
        )
    screen_genes(
        mdata,
        groups=groups,
        top_k=top_k,
        modality_in=modality_in,
        modality_out=modality_out,
        key_added=key_added,
    )
    return mdata if copy else None

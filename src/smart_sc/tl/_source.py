"""tl.fit_source and tl.to_model: source models from chosen cells, or from a stored fit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..baselines import source_method
from ..baselines._params import check_params
from ..get import extract
from ..get._masks import resolve_mask_var
from ..get._modalities import modality_adata
from ..source import SourceModel
from ..source._scale import describe_scale, warn_if_small_source
from ._keys import RECORD_WRITERS, record_kind

__all__ = ["fit_source", "to_model"]


#: scikit-learn parameter rules of :func:`smart_sc.tl.fit_source` (checked first).
_FIT_SOURCE_PARAMS = {
    "modality_in": [str],
    "modality_out": [str],
    "method": [str],
    "layer_in": [str, None],
    "layer_out": [str, None],
    "population": [str, None],
}


def fit_source(
    mdata,
    *,
    modality_in: str = "rna",
    modality_out: str = "prot",
    mask_obs=None,
    method: str = "ridge",
    mask_var=None,
    layer_in: str | None = None,
    layer_out: str | None = None,
    population: str | None = None,
    genes=None,
    **params,
) -> SourceModel:
    """Fit a source model (RNA to proteins) on chosen cells.

    Parameters
    ----------
    mdata : MuData or AnnData
        Paired data, as for :func:`~smart_sc.tl.transfer`.
    modality_in, modality_out, mask_obs, layer_in, layer_out
        As for :func:`~smart_sc.tl.transfer`; ``mask_obs`` selects the source population.
    method : {"ols", "ridge", "lasso", "rrr", "srrr", "rssvd", "sofar"}
        Estimator of :mod:`smart_sc.baselines`: the seven source models of the
        SMART paper's Section 6.
    mask_var : str, array of bool, sequence of str or None
        Genes to use, as for :func:`~smart_sc.tl.transfer` (a boolean ``.var`` column name,
        a boolean mask over ``.var`` or gene names); default all.
    population : str or None
        Description of the cells, recorded in the provenance.
    genes
        Deprecated alias of ``mask_var`` (a ``FutureWarning``); passing both
        is a ``TypeError``.
    **params
        Passed to the estimator.

    Returns
    -------
    SourceModel
        Coefficients (genes x proteins), intercept and provenance.

    Examples
    --------
    >>> import scanpy as sc, muon as mu
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> sc.pp.normalize_total(mdata["rna"], target_sum=1e4); sc.pp.log1p(mdata["rna"])
    >>> sc.pp.scale(mdata["rna"]); mu.prot.pp.clr(mdata["prot"])
    >>> is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> source = smart_sc.tl.fit_source(mdata, mask_obs=is_nk, population="NK")
    >>> source.coef.shape == (mdata["rna"].n_vars, mdata["prot"].n_vars)
    True
    >>> source.provenance["population"], source.provenance["n_cells"] == int(is_nk.sum())
    ('NK', True)
    """
    check_params("fit_source", _FIT_SOURCE_PARAMS, locals())
    mask_var = resolve_mask_var(mask_var, genes)
    estimator_class = source_method(method)
    data = extract(mdata, modality_in=modality_in, modality_out=modality_out,
                   mask_obs=mask_obs, mask_var=mask_var, layer_in=layer_in,
                   layer_out=layer_out, sort_by_name=False)
    est = estimator_class(**params).fit(data.X, data.Y)
    warn_if_small_source(len(data.cells), None, stacklevel=3)
    prep = data.pair.rna.uns.get("smart_sc_preprocessing")
    return SourceModel.from_estimator(
        est, target_names=list(data.proteins), feature_names=list(data.genes),
        population=population if population is not None else
        (mask_obs if isinstance(mask_obs, str) else "selected cells"),
        n_cells=len(data.cells),
        preprocessing=prep if isinstance(prep, dict) else None,
        input_scale=describe_scale(data.X),
    )


#: scikit-learn parameter rules of :func:`smart_sc.tl.to_model` (checked first).
_TO_MODEL_PARAMS = {
    "key": [str],
    "modality_in": [str],
}


def to_model(mdata, key: str = "smart", modality_in: str = "rna") -> SourceModel:
    """Export a fit stored by :func:`~smart_sc.tl.transfer` as a :class:`SourceModel`.

    Parameters
    ----------
    mdata : MuData or AnnData
        Object that :func:`~smart_sc.tl.transfer` wrote to.
    key : str
        Its ``key_added``.
    modality_in : str
        The RNA modality (ignored for an AnnData).

    Returns
    -------
    SourceModel
        The fitted target coefficients of the used genes and proteins, ready
        to be saved and to serve as another study's source.

    Raises
    ------
    ValueError
        Nothing is stored under ``key``, ``.uns[key]`` is not a
        :func:`~smart_sc.tl.transfer` record (a :func:`~smart_sc.tl.predict`
        or :func:`~smart_sc.tl.evaluate` result, another tool's entry), or the
        record names genes or proteins the stored coefficients lack.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> is_nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> smart_sc.pp.prepare_citeseq(mdata, source_mask=is_nk, target_mask=~is_nk,
    ...                             n_top_genes=200, top_k=40)
    >>> source = smart_sc.tl.fit_source(mdata, mask_obs=is_nk, mask_var="smart_screened")
    >>> smart_sc.tl.transfer(mdata, source, mask_obs=~is_nk, mask_var="smart_screened",
    ...                      rank=3, structural_rank=6, random_state=0)
    >>> model = smart_sc.tl.to_model(mdata)
    >>> model.provenance["estimator"], list(model.genes) == mdata.uns["smart"]["genes"]
    ('SMARTRegressor', True)
    """
    check_params("to_model", _TO_MODEL_PARAMS, locals())
    rna = modality_adata(mdata, modality_in)
    info = mdata.uns.get(key)
    kind = record_kind(info)
    if key in mdata.uns and kind != "transfer":
        held = (f"a {RECORD_WRITERS[kind]} result" if kind is not None else
                f"an entry with keys {sorted(map(str, info))[:10]}" if isinstance(info, Mapping)
                else f"a {type(info).__name__}")
        raise ValueError(
            f".uns[{key!r}] holds {held}, not a smart_sc.tl.transfer fit; to_model exports "
            "the fits tl.transfer stores: pass the key_added of a tl.transfer call")
    if key not in rna.varm or key not in mdata.uns:
        raise ValueError(f"no SMART fit stored under key {key!r} (.uns of the object and "
                         f".varm of modality {modality_in!r})")
    stored = rna.varm[key]
    for what, names, have in (("gene", info["genes"], stored.index),
                              ("protein", info["proteins"], stored.columns)):
        absent = pd.Index([str(n) for n in names]).difference(pd.Index(have.astype(str)))
        if len(absent):
            raise ValueError(
                f".uns[{key!r}] names {len(absent)} {what}(s) that the stored coefficients "
                f"(.varm[{key!r}] of modality {modality_in!r}) do not have, e.g. "
                f"{list(absent[:5])}: the record was edited after the fit; refit with "
                "tl.transfer")
    coef = stored.loc[list(info["genes"]), list(info["proteins"])]
    return SourceModel.from_dataframe(
        coef,
        intercept=pd.Series(np.asarray(info["intercept"], dtype=float),
                            index=list(info["proteins"])),
        estimator="SMARTRegressor",
        n_cells=int(info["params"]["n_train_cells"]),
        rank=int(info["rank"]),
        structural_rank=[int(v) for v in info["structural_rank"]],
        lam=float(info["lam"]),
        alpha=float(info["alpha"]),
        **({"input_scale": info["input_scale"]} if "input_scale" in info else {}),
    )

"""tl.transfer: SMART on MuData / AnnData, in three steps: extract, fit, store."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .._jsonable import jsonable
from ..baselines._params import check_params
from ..estimator import SMARTRegressor
from ..get import Extracted, extract, resolve_modalities
from ..get._masks import resolve_mask_var
from ..get._modalities import copy_data
from ..source import SourceModel, as_source_model
from ..source._scale import check_input_scale, warn_if_small_source
from ._keys import check_key_free, uns_places
from ._store import GAIN_COLUMNS, fit_record, store_fit, store_gain

__all__ = ["as_target_source_model", "transfer"]

logger = logging.getLogger("smart_sc")


def as_target_source_model(source_model, proteins: pd.Index) -> SourceModel:
    """Any accepted source (model, path, DataFrame, scikit-learn model) as a SourceModel.

    A fitted scikit-learn model knows its feature names but not its responses'
    names: its responses are taken to be the target's ``proteins``, in order.
    """
    if hasattr(source_model, "coef_") and not isinstance(source_model, SourceModel):
        n_targets = np.atleast_2d(source_model.coef_).shape[0]
        if n_targets != len(proteins):
            raise ValueError(
                f"the scikit-learn source model predicts {n_targets} response(s) but the "
                f"target has {len(proteins)} proteins; wrap it in a SourceModel with "
                "target_names to say which proteins it predicts"
            )
        logger.info("source model responses are taken to be the target's %d proteins in "
                    "order", n_targets)
        return as_source_model(source_model, target_names=list(proteins))
    return as_source_model(source_model)


def _free_places(data: Extracted, key: str) -> dict[str, object]:
    """Where transfer writes under ``key`` besides ``.uns``, described for messages."""
    pair = data.pair
    places = {f".obsm of modality {pair.modality_in!r}": pair.rna.obsm,
              f".varm of modality {pair.modality_in!r}": pair.rna.varm}
    if pair.prot is not None:
        places[f".layers of modality {pair.modality_out!r}"] = pair.prot.layers
        columns = [f"{key}_{c}" for c in GAIN_COLUMNS if f"{key}_{c}" in pair.prot.var]
        if columns:
            places[f".var columns {columns} of modality {pair.modality_out!r}"] = {key}
    return places


def _warn_about_inputs(data: Extracted, model: SourceModel) -> None:
    """Warnings (pointing at the user's call) on the input scale and the source's size."""
    check_input_scale(data.X, data.genes, model.genes, model.provenance, data.label_in,
                      stacklevel=4)
    n_source = model.provenance.get("n_cells")
    if isinstance(n_source, int | np.integer):
        warn_if_small_source(int(n_source), len(data.cells), stacklevel=4)


#: scikit-learn parameter rules of :func:`smart_sc.tl.transfer` (checked first).
_TRANSFER_PARAMS = {
    "modality_in": [str],
    "modality_out": [str],
    "layer_in": [str, None],
    "layer_out": [str, None],
    "key_added": [str],
    "copy": ["boolean"],
}


def transfer(
    mdata,
    source_model,
    *,
    modality_in: str = "rna",
    modality_out: str = "prot",
    mask_obs=None,
    mask_var=None,
    layer_in: str | None = None,
    layer_out: str | None = None,
    key_added: str = "smart",
    genes=None,
    copy: bool = False,
    **estimator_params,
):
    """Fit SMART on target cells with a source model and store the results.

    The source model's genes and proteins are matched to the data by name; the
    fit uses the genes and proteins both sides have, on the training cells
    (those with both modalities, restricted by ``mask_obs``), and predicts
    proteins for every cell of ``modality_in``.

    Parameters
    ----------
    mdata : MuData or AnnData
        Paired data. An AnnData holds RNA in ``.X`` (or ``layer_in``) and
        proteins in ``.obsm[modality_out]`` as a DataFrame. The RNA may be a
        dask array (lazily read AnnData): the fit streams through its blocks
        and the predictions are computed block by block into ``.obsm``
        (see ``docs/scale.md``).
    source_model : SourceModel, path, DataFrame or fitted scikit-learn model
        The source. A DataFrame is genes x proteins; a scikit-learn model must
        know its feature names (``feature_names_in_``) and predict the target's
        proteins in order.
    modality_in, modality_out : str
        Modality names (MuData) of the RNA and the proteins.
    mask_obs : array of bool, sequence of str, str or None
        Training cells: a boolean mask over ``mdata.obs_names``, obs names, or
        the name of a boolean ``.obs`` column. Default: all cells with both
        modalities.
    mask_var : str, array of bool, sequence of str or None
        Genes to use, as scanpy's ``mask_var``: the name of a boolean ``.var``
        column of ``modality_in`` (e.g. ``"smart_screened"`` from
        :func:`smart_sc.pp.screen_genes`), a boolean mask over its ``.var``, or
        gene names. Default: every gene the source model also has.
    layer_in, layer_out : str or None
        Layers to read instead of ``.X``.
    key_added : str
        Key under which results are stored. A key another tool uses in any
        place written below (``"X_umap"``, scanpy's ``"log1p"`` in ``.uns``),
        or that holds a :func:`~smart_sc.tl.predict` or
        :func:`~smart_sc.tl.evaluate` result, is a ``ValueError`` before the
        fit; an earlier ``tl.transfer`` fit under the key is replaced.
    genes
        Deprecated alias of ``mask_var`` (a ``FutureWarning``); passing both
        is a ``TypeError``.
    copy : bool
        Work on a copy and return it.
    **estimator_params
        Passed to :class:`smart_sc.SMARTRegressor` (``rank``,
        ``structural_rank``, ``lam``, ``alpha``, ``random_state``, ...).

    Returns
    -------
    MuData, AnnData or None
        ``None``, or the modified copy when ``copy=True``. Stored (only once
        the fit has succeeded):

        ``mdata[modality_in].varm[key_added]``
            Genes x proteins coefficients (DataFrame; zero rows for genes not used).
        ``mdata[modality_in].obsm[key_added]``
            Cells x proteins predictions (DataFrame).
        ``mdata[modality_out].layers[key_added]``
            The predictions in the protein modality's shape (NaN where a cell
            has no RNA or a protein was not transferred), for
            ``sc.pl.umap(mdata["prot"], color=..., layer=key_added)``.
        ``mdata.uns[key_added]`` (of the object passed: the MuData, or the AnnData)
            ``params``, chosen ``rank``, ``structural_rank``, ``lam``,
            ``alpha``, ``converged``, ``n_iter``, per-protein training
            ``metrics``, the ``intercept``, the name ``alignment`` report, the
            source's ``provenance``, the tuning evidence, a ``verdict`` in
            words (did the source help; does SMART beat target ridge and
            source-only) and ``transfer_gain``: the cross-validated error with
            the source and without it on the same folds and tuning
            (``cv_mse_source``, ``cv_mse_no_source``, ``gain``; see
            ``SMARTRegressor.transfer_gain_``), with ``per_protein`` lists
            (``protein``, ``cv_r2``, ``transfer_gain``).
        ``mdata[modality_out].var[f"{key_added}_cv_r2"]``, ``[f"{key_added}_transfer_gain"]``
            Per protein, aligned by name: the cross-validated R^2 with the
            source and the relative gain over the no-source fit (NaN for
            proteins not transferred; MuData only). For
            :func:`smart_sc.pl.transfer_gain`.

    Examples
    --------
    >>> import numpy as np, scanpy as sc, muon as mu
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> sc.pp.normalize_total(mdata["rna"], target_sum=1e4); sc.pp.log1p(mdata["rna"])
    >>> sc.pp.scale(mdata["rna"]); mu.prot.pp.clr(mdata["prot"])
    >>> is_source = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> source = smart_sc.tl.fit_source(mdata, mask_obs=is_source, population="NK")
    >>> smart_sc.tl.transfer(mdata, source, mask_obs=~is_source, rank=4, structural_rank=8,
    ...                      random_state=0)
    >>> mdata["rna"].obsm["smart"].shape[0] == mdata["rna"].n_obs
    True
    """
    check_params("transfer", _TRANSFER_PARAMS, locals())
    mask_var = resolve_mask_var(mask_var, genes)
    if copy:
        mdata = copy_data(mdata)
    proteins = resolve_modalities(mdata, modality_in, modality_out).protein_names
    model = as_target_source_model(source_model, proteins)
    data = extract(mdata, modality_in=modality_in, modality_out=modality_out,
                   mask_obs=mask_obs, mask_var=mask_var, layer_in=layer_in,
                   layer_out=layer_out, model=model)
    check_key_free(_free_places(data, key_added),
                   uns_places(mdata, data.pair.rna, modality_in, writes_to="container"),
                   key_added, kind="transfer")
    _warn_about_inputs(data, model)
    estimator = SMARTRegressor(data.source_coef().T, **estimator_params).fit(data.X, data.Y)

    # Everything below only writes; the fit has succeeded.
    store_fit(data, key_added, estimator)
    params = {"modality_in": modality_in, "modality_out": modality_out,
              "layer_in": layer_in, "layer_out": layer_out, "n_train_cells": len(data.cells),
              "estimator_params": jsonable(estimator_params)}
    # Once, in the object the user passed (the MuData, or the AnnData itself):
    # the record concerns both modalities.
    mdata.uns[key_added] = record = fit_record(data, estimator, params=params, model=model)
    store_gain(data, key_added, estimator, record)
    logger.info("SMART on %d cells, %d genes, %d proteins: rank %d, structural ranks %s",
                len(data.cells), len(record["genes"]), len(record["proteins"]),
                record["rank"], tuple(record["structural_rank"]))
    return mdata if copy else None

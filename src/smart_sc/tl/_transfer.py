"""tl.transfer, tl.fit_source, tl.to_model, tl.predict: SMART on MuData / AnnData."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from .. import __version__, baselines
from .._core.arrays import as_numpy, linear_predict
from .._jsonable import jsonable
from .._modalities import (
    PairedModalities,
    check_finite,
    gene_subset,
    get_matrix,
    lazy_if_backed,
    modality_adata,
    resolve_mask_var,
    resolve_modalities,
    select_cells,
)
from ..estimator import SMARTRegressor
from ..source import SourceModel, as_source_model
from ..source._scale import check_input_scale, describe_scale, warn_if_small_source
from ._evaluate import per_protein_metrics
from ._tuning_record import tuning_record

__all__ = ["fit_source", "predict", "to_model", "transfer"]

logger = logging.getLogger("smart_sc")

_SOURCE_METHODS = {
    "ols": baselines.TargetOLS,
    "ridge": baselines.TargetRidge,
    "lasso": baselines.TargetLasso,
    "rrr": baselines.ReducedRankRegression,
    "srrr": baselines.SRRR,
    "rssvd": baselines.RSSVD,
    "sofar": baselines.SOFAR,
}


def _as_source_model(source_model, proteins: pd.Index) -> SourceModel:
    if hasattr(source_model, "coef_") and not isinstance(source_model, SourceModel):
        n_targets = np.atleast_2d(source_model.coef_).shape[0]
        if n_targets != len(proteins):
            raise ValueError(
                f"the scikit-learn source model predicts {n_targets} response(s) but the "
                f"target has {len(proteins)} proteins; wrap it in a SourceModel with "
                "target_names to say which proteins it predicts"
            )
        # scikit-learn knows feature names but not response names: its responses
        # are taken to be the target's proteins, in order (logged).
        logger.info("source model responses are taken to be the target's %d proteins in "
                    "order", n_targets)
        return as_source_model(source_model, target_names=list(proteins))
    return as_source_model(source_model)


#: Fewest shared genes a transfer is fitted on: below it the overlap is a
#: naming problem (gene symbols vs Ensembl IDs, another species' case) far
#: more often than a real model.
MIN_SHARED_GENES = 10


def _check_overlap(model: SourceModel, alignment, n_used: int, *, use: str = "the transfer",
                   minimum: int = MIN_SHARED_GENES) -> None:
    """Refuse an overlap too small to use; warn when the source's weight is mostly lost."""
    n_source = len(model.genes)
    if n_used < minimum:
        raise ValueError(
            f"the source model and the data share {n_used} usable gene(s) of the source's "
            f"{n_source} (at least {minimum} are needed); check that both use the "
            "same gene names (symbols vs Ensembl IDs, case such as 'Cd8a' vs 'CD8A'). "
            f"Source genes missing here, e.g. {list(alignment.missing_genes_in_target[:5])}"
        )
    coef = model.coef.to_numpy()
    total = float((coef**2).sum())
    kept = model.coef.index.isin(alignment.genes[alignment.gene_mask])
    lost = float((coef[~kept] ** 2).sum()) / total if total > 0 else 0.0
    if lost > 0.5:
        warnings.warn(
            f"{100 * lost:.0f}% of the source model's weight (squared coefficients) lies on "
            f"{int((~kept).sum())} gene(s) the data lack, e.g. "
            f"{list(alignment.missing_genes_in_target[:5])}; {use} uses little of it",
            UserWarning, stacklevel=3,
        )


def _training_arrays(pair: PairedModalities, cells: pd.Index, layer_in, layer_out):
    rna = pair.rna
    X_all = lazy_if_backed(get_matrix(rna, layer_in, pair.modality_in))
    rows = rna.obs_names.get_indexer(cells)
    X = X_all[rows]
    what_in = f"modality {pair.modality_in!r} " + (f"layer {layer_in!r}" if layer_in else ".X")
    check_finite(X, f"{what_in} (training cells)")
    Y = pair.protein_matrix(cells, layer_out)
    what_out = (f"modality {pair.modality_out!r} " + (f"layer {layer_out!r}" if layer_out
                                                        else ".X")
                if pair.prot is not None else f".obsm[{pair.obsm_key!r}]")
    check_finite(Y, f"{what_out} (training cells)")
    return X_all, X, Y


def _check_key_free(places: dict[str, object], record, key: str, ours: str) -> None:
    """Refuse a ``key_added`` that would overwrite what another tool stored.

    ``places`` maps a description (".obsm of modality 'rna'") to a mapping;
    a key already there is ours when ``record`` (``.uns[key]``) holds ``ours``.
    """
    if isinstance(record, dict) and ours in record:
        return  # a previous smart_sc result: refitting replaces it, as documented
    taken = [where for where, mapping in places.items() if key in mapping]
    if taken:
        raise ValueError(
            f"key_added={key!r} would overwrite {', '.join(taken)}, which smart_sc did not "
            "write (e.g. a UMAP); choose another key_added")


def _by_name(names: pd.Index, mask: np.ndarray) -> np.ndarray:
    """Positions where ``mask`` holds, ordered by name (the fit's canonical order)."""
    idx = np.flatnonzero(mask)
    return idx[np.argsort(names[idx].to_numpy(), kind="stable")]


def _predict(estimator, X) -> np.ndarray:
    """Predictions as a cells x proteins array, also for a single protein.

    For a dask ``X`` they are computed block by block into that array.
    """
    return as_numpy(estimator.predict(X)).reshape(X.shape[0], -1)


def _store_fit(pair: PairedModalities, key_added: str, gene_idx: np.ndarray,
               prot_idx: np.ndarray, coef: np.ndarray, pred: np.ndarray) -> None:
    """Write coefficients and predictions into the modalities (data order)."""
    rna = pair.rna
    used_prot = pair.protein_names[prot_idx]
    coef_full = np.zeros((rna.n_vars, len(prot_idx)))
    coef_full[gene_idx] = coef
    rna.varm[key_added] = pd.DataFrame(coef_full, index=rna.var_names, columns=used_prot)
    rna.obsm[key_added] = pd.DataFrame(pred, index=rna.obs_names, columns=used_prot)
    if pair.prot is not None:
        prot = pair.prot
        layer = np.full(prot.shape, np.nan)
        rows = rna.obs_names.get_indexer(prot.obs_names)
        have = rows >= 0
        layer[np.ix_(np.flatnonzero(have), prot_idx)] = pred[rows[have]]
        prot.layers[key_added] = layer


#: Per-protein columns of a fit's transfer gain in the protein modality's .var.
_GAIN_COLUMNS = ("cv_r2", "transfer_gain")


def _per_protein_gain(estimator, proteins: pd.Index, back: np.ndarray) -> pd.DataFrame | None:
    """Each transferred protein's cross-validated R^2 and transfer gain, in data order."""
    gain = estimator.transfer_gain_
    if gain is None:
        return None
    return pd.DataFrame({_GAIN_COLUMNS[0]: np.asarray(gain["per_target_cv_r2"])[back],
                         _GAIN_COLUMNS[1]: np.asarray(gain["per_target_gain"])[back]},
                        index=proteins)


def _store_gain(pair: PairedModalities, key_added: str, per_protein: pd.DataFrame | None
                ) -> None:
    """``.var`` columns of the protein modality, aligned by name (NaN where not transferred).

    Without a gain (``transfer_gain=False``) an earlier fit's columns under the
    same key are removed: they would describe a model that is no longer there.
    """
    if pair.prot is None:
        return  # proteins in .obsm have no .var; the record in .uns has them
    for column in _GAIN_COLUMNS:
        name = f"{key_added}_{column}"
        if per_protein is None:
            if name in pair.prot.var.columns:
                del pair.prot.var[name]
        else:
            pair.prot.var[name] = per_protein[column].reindex(
                pair.prot.var_names).to_numpy(np.float64)


def _fit_record(estimator, *, params: dict, genes, proteins, intercept, metrics: dict,
                alignment, model: SourceModel) -> dict:
    """Build the ``.uns`` record of a fit: parameters, choices, scores and provenance."""
    return {
        "params": {**params, "smart_sc_version": __version__},
        "genes": list(genes),
        "proteins": list(proteins),
        "rank": int(estimator.rank_),
        "structural_rank": list(estimator.structural_rank_),
        "lam": float(estimator.lam_),
        "alpha": float(estimator.alpha_),
        "converged": bool(estimator.converged_),
        "n_iter": int(estimator.n_iter_),
        "intercept": np.asarray(intercept).tolist(),
        "metrics": {name: values.tolist() for name, values in metrics.items()},
        "alignment": alignment.summary(),
        "provenance": dict(model.provenance),
        **tuning_record(estimator),
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
        Key under which results are stored.
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
    mask_var = resolve_mask_var(mask_var, genes)
    if copy:
        mdata = mdata.copy()
    pair = resolve_modalities(mdata, modality_in, modality_out)
    model = _as_source_model(source_model, pair.protein_names)
    genes, proteins = pd.Index(pair.rna.var_names), pair.protein_names
    alignment = model.aligned(genes, proteins)
    use = gene_subset(pair.rna, mask_var) & alignment.gene_mask
    _check_overlap(model, alignment, int(use.sum()))
    # Fit in a canonical order (names sorted). The penalty lives in a basis of
    # the source's singular complement that is only defined up to rotation
    # (LAPACK's completion), and that completion follows the row order; sorting
    # makes the result depend on names only, never on how the data are ordered.
    gene_idx = _by_name(genes, use)
    prot_idx = _by_name(proteins, alignment.protein_mask)
    cells = select_cells(pair, mask_obs)
    places = {f".obsm of modality {modality_in!r}": pair.rna.obsm,
              f".varm of modality {modality_in!r}": pair.rna.varm}
    if pair.prot is not None:
        places[f".layers of modality {modality_out!r}"] = pair.prot.layers
    _check_key_free(places, mdata.uns.get(key_added), key_added, ours="structural_rank")
    X_all, X, Y = _training_arrays(pair, cells, layer_in, layer_out)
    X, Y = X[:, gene_idx], Y[:, prot_idx]
    check_input_scale(X, genes[gene_idx], model.genes, model.provenance,
                      f"modality {modality_in!r} " + (f"layer {layer_in!r}" if layer_in
                                                      else ".X"), stacklevel=3)
    n_source = model.provenance.get("n_cells")
    if isinstance(n_source, int | np.integer):
        warn_if_small_source(int(n_source), len(cells), stacklevel=3)
    estimator = SMARTRegressor(alignment.coef[np.ix_(gene_idx, prot_idx)].T,
                               **estimator_params).fit(X, Y)

    # Everything below only writes; the fit has succeeded.
    X_used = X_all[:, gene_idx]
    check_finite(X_used, f"modality {modality_in!r} (cells to predict)")
    # Back from the canonical order to the modalities' own order.
    back = np.argsort(prot_idx, kind="stable")
    coef = np.atleast_2d(estimator.coef_).reshape(-1, X.shape[1]).T[:, back]
    _store_fit(pair, key_added, gene_idx, prot_idx[back], coef,
               _predict(estimator, X_used)[:, back])
    params = {"modality_in": modality_in, "modality_out": modality_out,
              "layer_in": layer_in, "layer_out": layer_out, "n_train_cells": len(cells),
              "estimator_params": jsonable(estimator_params)}
    # Once, in the object the user passed (the MuData, or the AnnData itself):
    # the record concerns both modalities.
    mdata.uns[key_added] = uns = _fit_record(
        estimator, params=params, genes=genes[np.sort(gene_idx)],
        proteins=proteins[np.sort(prot_idx)],
        intercept=np.atleast_1d(estimator.intercept_)[back],
        metrics=per_protein_metrics(Y[:, back], _predict(estimator, X)[:, back]),
        alignment=alignment, model=model)
    uns["input_scale"] = describe_scale(X)  # for to_model's file and its later users
    per_protein = _per_protein_gain(estimator, proteins[prot_idx[back]], back)
    _store_gain(pair, key_added, per_protein)
    if per_protein is not None:
        uns["transfer_gain"]["per_protein"] = {
            "protein": per_protein.index.astype(str).tolist(),
            **{c: per_protein[c].tolist() for c in per_protein.columns}}
    logger.info("SMART on %d cells, %d genes, %d proteins: rank %d, structural ranks %s",
                len(cells), len(uns["genes"]), len(uns["proteins"]), uns["rank"],
                tuple(uns["structural_rank"]))
    return mdata if copy else None


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
        Paired data, as for :func:`transfer`.
    modality_in, modality_out, mask_obs, layer_in, layer_out
        As for :func:`transfer`; ``mask_obs`` selects the source population.
    method : {"ols", "ridge", "lasso", "rrr", "srrr", "rssvd", "sofar"}
        Estimator of :mod:`smart_sc.baselines`: the seven source models of the
        SMART paper's Section 6.
    mask_var : str, array of bool, sequence of str or None
        Genes to use, as for :func:`transfer` (a boolean ``.var`` column name,
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
    mask_var = resolve_mask_var(mask_var, genes)
    if method not in _SOURCE_METHODS:
        raise ValueError(f"method must be one of {sorted(_SOURCE_METHODS)}, got {method!r}")
    pair = resolve_modalities(mdata, modality_in, modality_out)
    cells = select_cells(pair, mask_obs)
    use = gene_subset(pair.rna, mask_var)
    _, X, Y = _training_arrays(pair, cells, layer_in, layer_out)
    est = _SOURCE_METHODS[method](**params).fit(X[:, np.flatnonzero(use)], Y)
    warn_if_small_source(len(cells), None, stacklevel=3)
    coef = np.atleast_2d(est.coef_).T
    prep = pair.rna.uns.get("smart_sc_preprocessing")
    return SourceModel.from_arrays(
        coef,
        genes=list(pair.rna.var_names[use]),
        proteins=list(pair.protein_names),
        intercept=np.atleast_1d(est.intercept_),
        population=population if population is not None else
        (mask_obs if isinstance(mask_obs, str) else "selected cells"),
        n_cells=len(cells),
        estimator=type(est).__name__,
        estimator_params={k: v for k, v in est.get_params().items()
                          if isinstance(v, str | int | float | bool | type(None))},
        preprocessing=prep if isinstance(prep, dict) else None,
        input_scale=describe_scale(X[:, np.flatnonzero(use)]),
    )


def to_model(mdata, key: str = "smart", modality_in: str = "rna") -> SourceModel:
    """Export a fit stored by :func:`transfer` as a :class:`SourceModel`.

    Parameters
    ----------
    mdata : MuData or AnnData
        Object that :func:`transfer` wrote to.
    key : str
        Its ``key_added``.
    modality_in : str
        The RNA modality (ignored for an AnnData).

    Returns
    -------
    SourceModel
        The fitted target coefficients of the used genes and proteins, ready
        to be saved and to serve as another study's source.

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
    rna = modality_adata(mdata, modality_in)
    if key not in rna.varm or key not in mdata.uns:
        raise ValueError(f"no SMART fit stored under key {key!r} (.uns of the object and "
                         f".varm of modality {modality_in!r})")
    info = mdata.uns[key]
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


def predict(
    adata,
    model,
    *,
    layer: str | None = None,
    key_added: str = "smart_predicted",
    missing: str = "zero",
    copy: bool = False,
    modality_in: str = "rna",
):
    """Predict proteins for RNA-only cells with a source model, by gene name.

    Parameters
    ----------
    adata : AnnData or MuData
        RNA of the cells to predict, preprocessed as the model's training data;
        for a MuData, its modality ``modality_in`` (where the results go).
        ``.X`` may be a dask array (lazily read AnnData): the predictions are
        computed block by block, never holding all of ``.X``.
    model : SourceModel, path or genes x proteins DataFrame
        The model.
    layer : str or None
        Layer to read instead of ``.X``.
    key_added : str
        Predictions go to ``adata.obsm[key_added]`` (DataFrame, proteins as
        columns) and the report to ``adata.uns[key_added]``.
    missing : {"zero", "error"}
        What model genes absent from ``adata`` count as: ``"zero"`` (the mean,
        for scaled data) or an error.
    copy : bool
        Work on a copy and return it.
    modality_in : str
        The RNA modality, when ``adata`` is a MuData.

    Returns
    -------
    AnnData, MuData or None
        The copy when ``copy=True``.

    Examples
    --------
    >>> import pandas as pd, anndata as ad, numpy as np
    >>> import smart_sc
    >>> model = smart_sc.SourceModel.from_dataframe(
    ...     pd.DataFrame({"CD3": [1.0, 0.0], "CD4": [0.5, 2.0]}, index=["GENE_A", "GENE_B"]))
    >>> rna = ad.AnnData(np.array([[1.0, 2.0, 9.0]]),  # another order, an extra gene
    ...                  var=pd.DataFrame(index=["GENE_B", "GENE_A", "GENE_C"]))
    >>> smart_sc.tl.predict(rna, model)
    >>> rna.obsm["smart_predicted"].round(2).to_dict("records")
    [{'CD3': 2.0, 'CD4': 3.0}]
    >>> rna.uns["smart_predicted"]["alignment"]["n_genes_shared"]
    2
    """
    if missing not in ("zero", "error"):
        raise ValueError(f"missing must be 'zero' or 'error', got {missing!r}")
    if copy:
        adata = adata.copy()
    container = adata
    adata = modality_adata(adata, modality_in)  # the RNA modality of a MuData, or adata
    _check_key_free({".obsm": adata.obsm}, adata.uns.get(key_added), key_added,
                    ours="alignment")
    model = model if isinstance(model, SourceModel) else _as_source_model(model, pd.Index([]))
    genes = pd.Index(adata.var_names)
    alignment = model.aligned(genes, model.proteins)
    # The same floor as tl.transfer's (a model with fewer genes needs them all).
    _check_overlap(model, alignment, int(alignment.gene_mask.sum()), use="the prediction",
                   minimum=min(MIN_SHARED_GENES, len(model.genes)))
    n_missing = len(alignment.missing_genes_in_target)
    if n_missing and missing == "error":
        raise ValueError(
            f"{n_missing} model gene(s) are absent from the data, e.g. "
            f"{list(alignment.missing_genes_in_target[:5])}; pass missing='zero' to treat "
            "them as zero"
        )
    X = lazy_if_backed(get_matrix(adata, layer, modality_in))
    check_finite(X, ".X" if layer is None else f"layer {layer!r}")
    check_input_scale(X, genes, model.genes, model.provenance,
                      ".X" if layer is None else f"layer {layer!r}", stacklevel=3)
    # A dask X is predicted block by block; a block with NaN raises when it is read.
    pred = as_numpy(linear_predict(X, alignment.coef, alignment.intercept))
    adata.obsm[key_added] = pd.DataFrame(pred, index=adata.obs_names,
                                         columns=model.proteins)
    adata.uns[key_added] = {"alignment": alignment.summary(), "missing": missing,
                            "provenance": dict(model.provenance)}
    if n_missing:
        logger.warning("%d model gene(s) absent from the data were counted as zero",
                       n_missing)
    return container if copy else None

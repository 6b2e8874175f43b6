"""tl.predict: proteins for RNA-only cells from a model, by gene name."""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.utils._param_validation import StrOptions

from .._core.arrays import as_numpy, check_finite, linear_predict
from ..baselines._params import check_params
from ..get import get_matrix
from ..get._extract import MIN_SHARED_GENES, check_overlap
from ..get._modalities import lazy_if_backed, modality_adata
from ..source import SourceModel
from ..source._scale import check_input_scale
from ._store import check_key_free
from ._transfer import as_target_source_model

__all__ = ["predict"]

logger = logging.getLogger("smart_sc")


#: scikit-learn parameter rules of :func:`smart_sc.tl.predict` (checked first).
_PREDICT_PARAMS = {
    "layer": [str, None],
    "key_added": [str],
    "missing": [StrOptions({"zero", "error"})],
    "copy": ["boolean"],
    "modality_in": [str],
}


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
    check_params("predict", _PREDICT_PARAMS, locals())
    if copy:
        adata = adata.copy()
    container = adata
    adata = modality_adata(adata, modality_in)  # the RNA modality of a MuData, or adata
    check_key_free({".obsm": adata.obsm}, adata.uns.get(key_added), key_added,
                   ours="alignment")
    model = model if isinstance(model, SourceModel) else as_target_source_model(model, pd.Index([]))
    genes = pd.Index(adata.var_names)
    alignment = model.aligned(genes, model.proteins)
    # The same floor as tl.transfer's (a model with fewer genes needs them all).
    check_overlap(model, alignment, int(alignment.gene_mask.sum()), use="the prediction",
                  minimum=min(MIN_SHARED_GENES, len(model.genes)), stacklevel=3)
    n_missing = len(alignment.missing_genes_in_target)
    if n_missing and missing == "error":
        raise ValueError(
            f"{n_missing} model gene(s) are absent from the data, e.g. "
            f"{list(alignment.missing_genes_in_target[:5])}; pass missing='zero' to treat "
            "them as zero"
        )
    X = lazy_if_backed(get_matrix(adata, layer, modality_in))
    label = ".X" if layer is None else f"layer {layer!r}"
    check_finite(X, label)
    check_input_scale(X, genes, model.genes, model.provenance, label, stacklevel=3)
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

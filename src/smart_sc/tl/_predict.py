"""tl.predict: proteins for RNA-only cells from a model, by gene name."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import StrOptions

from .._core.arrays import as_numpy, check_finite, linear_predict
from ..baselines._params import check_params
from ..get import get_matrix
from ..get._extract import MIN_SHARED_GENES, check_overlap, matrix_label
from ..get._modalities import columns_of, copy_data, lazy_if_backed, modality_adata
from ..source import SourceModel, as_source_model
from ..source._scale import check_input_scale
from ._keys import check_key_free, uns_places

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


def _as_model(model) -> SourceModel:
    """Return the model ``tl.predict`` was given as a SourceModel; refuse a scikit-learn one.

    A fitted scikit-learn regressor does not know the names of the proteins it
    predicts, which name the prediction's columns.
    """
    if hasattr(model, "coef_") and not isinstance(model, SourceModel):
        n_proteins = np.atleast_2d(model.coef_).shape[0]
        raise ValueError(
            f"model is a fitted {type(model).__name__} ({n_proteins} response(s)), which does "
            "not know the names of the proteins it predicts; tl.predict needs a SourceModel, "
            "a saved model's path or a genes x proteins DataFrame. Wrap it: "
            "smart_sc.SourceModel.from_estimator(model, target_names=<protein names in the "
            "order of the fitted y columns>) (add feature_names=<gene names> if it was "
            "fitted on an array)")
    return as_source_model(model)


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
        computed block by block, never holding all of ``.X``. Of a backed
        AnnData (``backed="r"``), a dense or CSR ``.X`` is read in blocks of
        cells and a CSC ``.X`` column by column, the model's genes only. Only
        the genes the model uses are read and checked: NaN or infinite values
        there are a ``ValueError`` naming the modality and the count, values
        in other genes are ignored.
    model : SourceModel, path or genes x proteins DataFrame
        The model. A fitted scikit-learn regressor does not know its
        proteins' names: wrap it with
        :meth:`smart_sc.SourceModel.from_estimator` (``target_names=``).
    layer : str or None
        Layer to read instead of ``.X``.
    key_added : str
        Predictions go to ``adata.obsm[key_added]`` (DataFrame, proteins as
        columns) and the report to ``adata.uns[key_added]``. A key another
        tool uses there (``"X_umap"``, scanpy's ``"neighbors"``), or that holds
        a :func:`~smart_sc.tl.transfer` or :func:`~smart_sc.tl.evaluate`
        result, is a ``ValueError`` before anything is read; an earlier
        ``tl.predict`` result under the key is replaced.
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
        adata = copy_data(adata)
    container = adata
    adata = modality_adata(adata, modality_in)  # the RNA modality of a MuData, or adata
    check_key_free({f".obsm of modality {modality_in!r}": adata.obsm},
                   uns_places(container, adata, modality_in, writes_to="modality"),
                   key_added, kind="predict")
    model = _as_model(model)
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
    # Only the genes the model uses are read and checked (as tl.transfer does): a
    # backed CSC .X is read column-wise, a dask .X stays lazy.
    used = np.flatnonzero(alignment.gene_mask)
    X = columns_of(lazy_if_backed(get_matrix(adata, layer, modality_in)), used)
    label = matrix_label(modality_in, layer)
    check_finite(X, f"{label} (the {len(used)} gene(s) the model uses)")
    check_input_scale(X, genes[used], model.genes, model.provenance, label, stacklevel=3)
    # A dask X is predicted block by block; a block with NaN raises when it is read.
    pred = as_numpy(linear_predict(X, alignment.coef[used], alignment.intercept))
    adata.obsm[key_added] = pd.DataFrame(pred, index=adata.obs_names,
                                         columns=model.proteins)
    adata.uns[key_added] = {"alignment": alignment.summary(), "missing": missing,
                            "provenance": dict(model.provenance)}
    if n_missing:
        logger.warning("%d model gene(s) absent from the data were counted as zero",
                       n_missing)
    return container if copy else None

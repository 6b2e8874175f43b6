"""tl.evaluate: how well stored protein predictions match observed proteins."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..baselines._params import check_params
from ..get import check_finite, resolve_modalities, select_cells
from ..get._modalities import obsm_frame
from ._keys import check_key_free

__all__ = ["evaluate", "per_protein_metrics"]


def _pearson_columns(observed: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    a = observed - observed.mean(axis=0)
    b = predicted - predicted.mean(axis=0)
    ss_a, ss_b = (a * a).sum(axis=0), (b * b).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=0) / np.sqrt(ss_a * ss_b)
    # A constant prediction (a lasso that kept no gene) says nothing about the
    # protein: 0, not NaN, which a median over proteins would skip, crediting
    # the method only with the proteins it does predict.
    return np.where(ss_a > 0, np.where(ss_b > 0, r, 0.0), np.nan)


def per_protein_metrics(Y: np.ndarray, Y_hat: np.ndarray) -> dict[str, np.ndarray]:
    """Pearson and Spearman correlation and RMSE per column (protein).

    A protein that is constant on the cells has undefined correlations (NaN,
    for every method alike); a constant prediction of a varying protein has
    correlation 0.
    """
    return {
        "pearson": _pearson_columns(Y, Y_hat),
        "spearman": _pearson_columns(rankdata(Y, axis=0), rankdata(Y_hat, axis=0)),
        "rmse": np.sqrt(np.mean((Y - Y_hat) ** 2, axis=0)),
    }


#: scikit-learn parameter rules of :func:`smart_sc.tl.evaluate` (checked first).
_EVALUATE_PARAMS = {
    "key": [str],
    "modality_in": [str],
    "modality_out": [str],
    "layer_out": [str, None],
    "key_added": [str, None],
}


def evaluate(
    mdata,
    *,
    key: str = "smart",
    modality_in: str = "rna",
    modality_out: str = "prot",
    layer_out: str | None = None,
    mask_obs=None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Score stored predictions against observed proteins on chosen cells.

    Parameters
    ----------
    mdata : MuData or AnnData
        Data holding predictions in ``mdata[modality_in].obsm[key]`` (a cells x
        proteins DataFrame, as :func:`transfer` stores them; predictions of
        other methods stored the same way can be scored alike).
    key : str
        The predictions' ``.obsm`` key.
    modality_in, modality_out : str
        RNA and protein modalities (for an AnnData, proteins in
        ``.obsm[modality_out]``).
    layer_out : str or None
        Protein layer holding the observed values (default ``.X``).
    mask_obs : array of bool, sequence of str, str or None
        Cells to score, typically held-out cells; default all cells with both
        modalities.
    key_added : str or None
        Where the scores go in ``.uns`` (default ``f"{key}_evaluation"``). A
        key another tool uses there, or that holds a
        :func:`~smart_sc.tl.transfer` or :func:`~smart_sc.tl.predict` result,
        is a ``ValueError`` before the scores are computed; an earlier
        ``tl.evaluate`` result under the key is replaced.

    Returns
    -------
    pandas.DataFrame
        Proteins x (``pearson``, ``spearman``, ``rmse``). Also stored in
        ``mdata.uns[key_added]`` (of the object passed) as
        ``{"per_protein": {...}, "overall_error": ..., "n_cells": ..., "params": ...}``,
        where ``overall_error`` is the paper's ``||Y_hat - Y||_F / sqrt(n q)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, anndata as ad
    >>> import smart_sc
    >>> rng = np.random.default_rng(0)
    >>> obs = pd.DataFrame(index=[f"c{i}" for i in range(5)])
    >>> adata = ad.AnnData(np.zeros((5, 1)), obs=obs)
    >>> Y = pd.DataFrame(rng.normal(size=(5, 2)), index=obs.index, columns=["CD3", "CD4"])
    >>> adata.obsm["prot"] = Y
    >>> adata.obsm["smart"] = Y + 0.1
    >>> smart_sc.tl.evaluate(adata)["rmse"].round(3).tolist()
    [0.1, 0.1]
    """
    check_params("evaluate", _EVALUATE_PARAMS, locals())
    pair = resolve_modalities(mdata, modality_in, modality_out)
    rna = pair.rna
    out_key = key_added or f"{key}_evaluation"
    # Only the object's own .uns is written: a tl.predict record of the modality stays.
    check_key_free({}, {".uns" if rna is mdata else ".uns of the MuData": mdata.uns}, out_key,
                   kind="evaluate")
    pred = obsm_frame(rna, key, "predictions",
                      f" of modality {modality_in!r} (run tl.transfer first)")
    proteins = pd.Index(pred.columns)
    missing = proteins.difference(pair.protein_names)
    if len(missing):
        raise ValueError(
            f"{len(missing)} predicted protein(s) are not among the observed proteins, e.g. "
            f"{list(missing[:5])}"
        )
    cells = select_cells(pair, mask_obs)
    observed = pair.protein_matrix(cells, layer_out)
    col = pair.protein_names.get_indexer(proteins)
    Y = observed[:, col]
    Y_hat = pred.loc[cells].to_numpy(dtype=np.float64)
    check_finite(Y, "observed proteins (cells scored)")
    check_finite(Y_hat, f"predictions .obsm[{key!r}] (cells scored)")
    metrics = per_protein_metrics(Y, Y_hat)
    overall = float(np.linalg.norm(Y_hat - Y) / np.sqrt(Y.size))
    table = pd.DataFrame(metrics, index=proteins)
    result = {
        "per_protein": {name: values.tolist() for name, values in metrics.items()},
        "proteins": list(proteins),
        "overall_error": overall,
        "n_cells": len(cells),
        "params": {"key": key, "modality_in": modality_in, "modality_out": modality_out,
                   "layer_out": layer_out},
    }
    mdata.uns[out_key] = result
    return table

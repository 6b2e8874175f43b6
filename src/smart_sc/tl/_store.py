"""Writing a fit back into MuData / AnnData, once, after it has succeeded.

The writes of :func:`smart_sc.tl.transfer`: coefficients in ``.varm``,
predictions in ``.obsm`` and in the protein modality's ``.layers``, the
per-protein transfer gain in its ``.var``, and the record in ``.uns``. Each
takes the :class:`~smart_sc.get.Extracted` of the fit, whose positions put
the canonical (name-sorted) order back into the data's own order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import __version__
from .._core.arrays import as_numpy, check_finite
from ..get import Extracted
from ..source._scale import describe_scale
from ._evaluate import per_protein_metrics
from ._tuning_record import tuning_record

__all__ = ["GAIN_COLUMNS", "fit_record", "predict_cells", "store_fit", "store_gain"]


def predict_cells(estimator, X) -> np.ndarray:
    """Predictions as a cells x proteins array, also for a single protein.

    For a dask ``X`` they are computed block by block into that array.
    """
    return as_numpy(estimator.predict(X)).reshape(X.shape[0], -1)


def store_fit(data: Extracted, key_added: str, estimator) -> None:
    """Write coefficients and predictions into the modalities, in the data's order.

    ``.varm[key_added]`` (genes x proteins, zero rows for genes not used) and
    ``.obsm[key_added]`` (every cell) of the RNA modality; the protein
    modality's ``.layers[key_added]`` (NaN where a cell has no RNA or a protein
    was not transferred).
    """
    rna, back = data.pair.rna, data.protein_order
    prot_idx = data.prot_idx[back]
    used_prot = data.pair.protein_names[prot_idx]
    coef = np.atleast_2d(estimator.coef_).reshape(-1, len(data.gene_idx)).T[:, back]
    X_used = data.X_all[:, data.gene_idx]
    # Checked here, before the first write: only the training cells were read so far.
    check_finite(X_used, f"{data.label_in} (cells to predict)")
    pred = predict_cells(estimator, X_used)[:, back]
    coef_full = np.zeros((rna.n_vars, len(prot_idx)))
    coef_full[data.gene_idx] = coef
    rna.varm[key_added] = pd.DataFrame(coef_full, index=rna.var_names, columns=used_prot)
    rna.obsm[key_added] = pd.DataFrame(pred, index=rna.obs_names, columns=used_prot)
    if data.pair.prot is not None:
        prot = data.pair.prot
        layer = np.full(prot.shape, np.nan)
        rows = rna.obs_names.get_indexer(prot.obs_names)
        have = rows >= 0
        layer[np.ix_(np.flatnonzero(have), prot_idx)] = pred[rows[have]]
        prot.layers[key_added] = layer


#: Per-protein columns of a fit's transfer gain in the protein modality's .var.
GAIN_COLUMNS = ("cv_r2", "transfer_gain")


def _per_protein_gain(estimator, proteins: pd.Index, back: np.ndarray) -> pd.DataFrame | None:
    """Each transferred protein's cross-validated R^2 and transfer gain, in data order."""
    gain = estimator.transfer_gain_
    if gain is None:
        return None
    return pd.DataFrame({GAIN_COLUMNS[0]: np.asarray(gain["per_target_cv_r2"])[back],
                         GAIN_COLUMNS[1]: np.asarray(gain["per_target_gain"])[back]},
                        index=proteins)


def store_gain(data: Extracted, key_added: str, estimator, record: dict) -> None:
    """Write the per-protein transfer gain into the protein modality's ``.var`` and the record.

    Columns ``f"{key_added}_cv_r2"`` and ``f"{key_added}_transfer_gain"``,
    aligned by name (NaN where not transferred), and lists in
    ``record["transfer_gain"]["per_protein"]``. Without a gain
    (``transfer_gain=False``) an earlier fit's columns under the same key are
    removed: they would describe a model that is no longer there.
    """
    back = data.protein_order
    per_protein = _per_protein_gain(estimator, data.proteins[back], back)
    if per_protein is not None:
        record["transfer_gain"]["per_protein"] = {
            "protein": per_protein.index.astype(str).tolist(),
            **{c: per_protein[c].tolist() for c in per_protein.columns}}
    prot = data.pair.prot
    if prot is None:
        return  # proteins in .obsm have no .var; the record in .uns has them
    for column in GAIN_COLUMNS:
        name = f"{key_added}_{column}"
        if per_protein is None:
            if name in prot.var.columns:
                del prot.var[name]
        else:
            prot.var[name] = per_protein[column].reindex(prot.var_names).to_numpy(np.float64)


def fit_record(data: Extracted, estimator, *, params: dict, model) -> dict:
    """Build the ``.uns`` record of a fit: parameters, choices, scores and provenance.

    Gene and protein lists, the intercept and the per-protein training metrics
    follow the data's order; ``input_scale`` describes the training cells, for
    the model :func:`~smart_sc.tl.to_model` exports.
    """
    back = data.protein_order
    metrics = per_protein_metrics(data.Y[:, back], predict_cells(estimator, data.X)[:, back])
    return {
        "params": {**params, "smart_sc_version": __version__},
        "genes": list(data.pair.rna.var_names[np.sort(data.gene_idx)]),
        "proteins": list(data.pair.protein_names[np.sort(data.prot_idx)]),
        "rank": int(estimator.rank_),
        "structural_rank": list(estimator.structural_rank_),
        "lam": float(estimator.lam_),
        "alpha": float(estimator.alpha_),
        "converged": bool(estimator.converged_),
        "n_iter": int(estimator.n_iter_),
        "intercept": np.atleast_1d(estimator.intercept_)[back].tolist(),
        "metrics": {name: values.tolist() for name, values in metrics.items()},
        "alignment": data.alignment.summary(),
        "provenance": dict(model.provenance),
        "input_scale": describe_scale(data.X),
        **tuning_record(estimator),
    }

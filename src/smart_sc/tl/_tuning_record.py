"""What a user needs to trust a SMART fit, as plain values for ``.uns``.

Why this rank (RSC's eigenvalues and threshold, and the cross-validated
ranks), which structural ranks and shrinkage the cross-validation preferred,
how the final blend weighs SMART, the source and a target ridge fit, what the
source contributed (the fit against its no-source counterpart), and a verdict
in words: what the source changed, and separately whether SMART beats
target-only ridge and source-only on the same folds.
"""

from __future__ import annotations

import numpy as np

from .._jsonable import jsonable

__all__ = ["baseline_verdict", "source_verdict", "tuning_record", "verdict"]


#: Relative changes of the cross-validated error below this are "no measurable" change.
NEGLIGIBLE_GAIN = 0.01


def source_verdict(gain: dict | None) -> str:
    """Say what the source changed: the fit against its no-source counterpart, same folds.

    Not a placebo control: on the shipped data a source with its genes
    shuffled showed cross-validated gains of the same size (up to about 2%),
    so a gain here is not, alone, evidence that the populations share
    structure; :func:`smart_sc.tl.benchmark` compares with a placebo.
    """
    if not gain:
        return ("source contribution not measured (no source, transfer_gain=False, or too "
                "few cells for the folds)")
    with_source, without = gain["cv_mse_source"], gain["cv_mse_no_source"]
    what = "with the blend, " if gain["blended"] else ""
    numbers = (f"cross-validated MSE {with_source:.4g} with the source, {without:.4g} "
               f"without it ({what}same folds and tuning)")
    change = with_source / without - 1.0  # of the error, relative to the no-source fit
    if gain["gain"] >= NEGLIGIBLE_GAIN:
        head = (f"with the source, {100 * -change:.1f}% lower cross-validated error than "
                "without it (not placebo-controlled: a source with shuffled genes can gain "
                "as much; tl.benchmark compares with one)")
    elif gain["gain"] <= -NEGLIGIBLE_GAIN:
        head = f"with the source, {100 * change:.1f}% higher cross-validated error than without it"
    else:
        head = (f"the source made no measurable difference ({100 * abs(change):.1f}% "
                f"{'lower' if change < 0 else 'higher'} cross-validated error)")
    return f"{head}; {numbers}"


def baseline_verdict(blend: dict | None) -> str:
    """Whether SMART beats target-only ridge and the source used as is, on the fit's folds."""
    if not blend:
        return ("no comparison with the baselines: nothing was cross-validated (all tuning "
                "fixed and blend=False)")
    mse = blend["cv_mse"]
    w = blend["weights"]
    ridge, smart, final = mse["ridge"], mse["smart"], blend["blend_cv_mse"]
    parts = [f"cross-validated MSE: SMART {smart:.4g}, target-only ridge {ridge:.4g}"]
    if "source" in mse:
        parts.append(f"source-only {mse['source']:.4g}")
    parts.append(f"final blend {final:.4g} (weights " + ", ".join(
        f"{k} {v:.1f}" for k, v in w.items()) + ")")
    best_plain = min(ridge, mse.get("source", np.inf))
    if smart < best_plain:
        head = (f"SMART beats the simple baselines: {100.0 * (best_plain - smart) / best_plain:.1f}"
                "% below the better of them")
    else:
        head = ("SMART does not beat the simple baselines on these cells, and the blend "
                "leans on " + max((k for k in w if k != "smart"), key=w.get))
    return head + "; " + "; ".join(parts)


def verdict(blend: dict | None, gain: dict | None = None) -> str:
    """Two statements: what the source changed, then whether SMART beats the baselines.

    They differ: SMART's shrinkage and rank can beat target ridge with a
    source that adds nothing (compare a placebo source in
    :func:`smart_sc.tl.benchmark`).
    """
    return f"{source_verdict(gain)}. {baseline_verdict(blend)}"


def tuning_record(estimator) -> dict:
    """Tuning evidence of a fitted :class:`~smart_sc.SMARTRegressor`, JSON-safe."""
    gain = estimator.transfer_gain_
    out: dict = {"tuning": estimator.tuning, "verdict": verdict(estimator.blend_, gain)}
    if estimator.blend_:
        out["blend"] = estimator.blend_
    if gain is not None:
        # Per protein it goes to the protein modality's .var, aligned by name.
        out["transfer_gain"] = {k: v for k, v in gain.items() if not k.startswith("per_target")}
    selection = estimator.rank_selection_
    if selection is not None:
        out["rank_selection"] = {"method": "RSC", **selection}
    cv = estimator.cv_results_
    if cv:
        out["cv"] = {
            "ranks": cv["ranks"],
            "structural_ranks": [list(pair) for pair in cv["structural_ranks"]],
            "alphas": cv["alphas"],
            "mse": cv["mse"],
            "stopped_early": cv["stopped_early"],
            "pilot_alpha": cv["pilot_alpha"],
        }
    return jsonable(out)

"""What a user needs to trust a SMART fit, as plain values for ``.uns``.

Why this rank (RSC's eigenvalues and threshold, and the cross-validated
ranks), which structural ranks and shrinkage the cross-validation preferred,
how the final blend weighs SMART, the source and a target ridge fit, and a
one-line verdict comparing SMART's cross-validated error with target-only
ridge's and source-only's on the same folds.
"""

from __future__ import annotations

import numpy as np

from .._jsonable import jsonable

__all__ = ["tuning_record", "verdict"]


def verdict(blend: dict | None) -> str:
    """Say in one line whether the source helps, judged on the fit's own folds."""
    if not blend:
        return ("no verdict: nothing was cross-validated (all tuning fixed and "
                "blend=False)")
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
        gain = 100.0 * (best_plain - smart) / best_plain
        head = f"transfer helps: SMART is {gain:.1f}% below the better baseline"
    else:
        head = ("transfer does not help on these cells: SMART is not below the better "
                "baseline, and the blend leans on "
                + max((k for k in w if k != "smart"), key=w.get))
    return head + "; " + "; ".join(parts)


def tuning_record(estimator) -> dict:
    """Tuning evidence of a fitted :class:`~smart_sc.SMARTRegressor`, JSON-safe."""
    out: dict = {"tuning": estimator.tuning, "verdict": verdict(estimator.blend_)}
    if estimator.blend_:
        out["blend"] = estimator.blend_
    selection = getattr(estimator, "rank_selection_", None)
    if selection is not None:
        out["rank_selection"] = {"method": "RSC", **selection}
    cv = estimator.cv_results_
    if cv:
        out["cv"] = {
            "ranks": cv["ranks"],
            "structural_ranks": [list(pair) for pair in cv["structural_ranks"]],
            "alphas": cv["alphas"],
            "mse": cv["mse"],
            "pilot_alpha": cv["pilot_alpha"],
        }
    return jsonable(out)

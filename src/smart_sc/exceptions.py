"""The warnings smart_sc issues, in one public place (as :mod:`sklearn.exceptions`).

Filter them by class, e.g.
``warnings.simplefilter("error", smart_sc.exceptions.InputScaleWarning)``.
Each is also importable from the package itself (``smart_sc.InputScaleWarning``).
Failed convergence is scikit-learn's :class:`~sklearn.exceptions.ConvergenceWarning`.
"""

from __future__ import annotations

__all__ = ["InputScaleWarning", "SmallSourceWarning", "SmallTargetWarning"]


class SmallTargetWarning(UserWarning):
    """The target design is (near) singular; shrinkage was used where the paper has none."""


class SmallSourceWarning(UserWarning):
    """The source model was fitted on few cells: its subspaces carry little to transfer."""


class InputScaleWarning(UserWarning):
    """The RNA is not on the model's scale: raw counts, unscaled, or normalised otherwise."""

"""Ridge regression per response from sufficient statistics, penalty by GCV.

Penalties are in scikit-learn's units (``||Y - XC||^2 + a ||C||^2``, so
``a = n * lambda`` for the per-cell loss), which makes our ridge agree with
``sklearn.linear_model.Ridge(alpha=a)`` on the same data.

Generalised cross-validation (Golub, Heath, Wahba 1979) needs only the
eigenvalues of ``X^T X`` and the projections of ``X^T Y`` on its eigenvectors,
so every penalty of the grid and every response costs O(p q) after one
eigendecomposition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sums.stats import SufficientStats

__all__ = ["DEFAULT_RIDGE_ALPHAS", "RidgePath", "ridge_gcv"]

#: The paper's grid for the initial ridge estimate (scikit-learn units).
DEFAULT_RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 2, 10))


@dataclass(frozen=True)
class RidgePath:
    """Ridge fits of every response, penalty chosen per response by GCV."""

    coef: np.ndarray  # (p, q) at the chosen penalties
    alpha: np.ndarray  # (q,) chosen penalty per response (scikit-learn units)
    df: np.ndarray  # (q,) effective degrees of freedom of the chosen fits
    gcv: np.ndarray  # (n_alphas, q) GCV criterion
    mse: np.ndarray  # (q,) training mean squared error at the chosen penalties


def ridge_gcv(stats: SufficientStats, alphas=DEFAULT_RIDGE_ALPHAS) -> RidgePath:
    """Ridge per response with its own penalty chosen by GCV.

    Parameters
    ----------
    stats
        Training statistics (centred when an intercept is fitted).
    alphas
        Candidate penalties in scikit-learn units.

    Returns
    -------
    RidgePath
        Coefficients at the chosen penalties and the criterion for every
        candidate.
    """
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or np.any(alphas <= 0) or not np.all(np.isfinite(alphas)):
        raise ValueError(f"ridge penalties must be positive and finite, got {alphas}")
    n = stats.n
    # Null directions of the design carry no signal (xy has no component there),
    # so the eigenpairs above the rank tolerance give the same fits.
    evals, evecs = stats.xx_spectrum  # per-cell eigenvalues
    z = evecs.T @ stats.xy  # (p, q)
    z2 = z * z
    yy = np.diag(stats.yy)
    lam = alphas / n  # per-cell units
    shrink = evals[None, :] / (evals[None, :] + lam[:, None])  # (n_alphas, p)
    inv = 1.0 / (evals[None, :] + lam[:, None])
    # mse_j(lam) = yy_j - 2 sum z^2/(e+lam) + sum e z^2/(e+lam)^2
    mse = yy[None, :] - 2.0 * (inv @ z2) + ((evals[None, :] * inv * inv) @ z2)
    mse = np.maximum(mse, 0.0)
    df = shrink.sum(axis=1)  # (n_alphas,)
    dof_used = df + (1.0 if stats.centered else 0.0)
    denom = (1.0 - dof_used / n) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        gcv = np.where(dof_used[:, None] < n, mse / denom[:, None], np.inf)
    if np.all(~np.isfinite(gcv)):
        # No candidate leaves residual degrees of freedom (n tiny): the largest
        # penalty is the only defensible choice.
        best = np.full(stats.n_targets, alphas.size - 1)
    else:
        best = np.argmin(np.where(np.isfinite(gcv), gcv, np.inf), axis=0)
    chosen_inv = inv[best]  # (q, p)
    coef = evecs @ (z * chosen_inv.T)
    return RidgePath(
        coef=coef,
        alpha=alphas[best],
        df=df[best],
        gcv=gcv,
        mse=mse[best, np.arange(stats.n_targets)],
    )


def ridge_coef(stats: SufficientStats, alpha) -> np.ndarray:
    """Ridge coefficients for a penalty per response (scikit-learn units)."""
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (stats.n_targets,))
    evals, evecs = stats.xx_spectrum
    z = evecs.T @ stats.xy
    return evecs @ (z / (evals[:, None] + alpha[None, :] / stats.n))

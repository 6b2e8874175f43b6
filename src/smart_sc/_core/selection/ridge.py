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
    inv = 1.0 / (evals[None, :] + lam[:, None])
    kept = lam[:, None] * inv  # lam / (e + lam): what the penalty takes of each direction
    df = (evals[None, :] * inv).sum(axis=1)  # (n_alphas,)
    # With no more cells than genes the fit nearly interpolates at small penalties:
    # the residual and the residual degrees of freedom are then tiny differences of
    # large terms (yy - 2 sum z^2/(e+lam) + ..., n - 1 - df), whose round-off
    # decided the choice (another BLAS thread count, another penalty). Written as
    # sums of non-negative terms they keep full relative precision:
    #   mse_j = outside_j + sum_i z_ij^2 lam^2 / (e_i (e_i + lam)^2),
    #   n - centred - df = slack + sum_i lam / (e_i + lam),
    # with ``outside`` the part of y outside the design's range (none when the
    # design spans every centred cell direction, slack = 0).
    slack = n - (1 if stats.centered else 0) - evals.size
    outside = (np.zeros_like(yy) if slack <= 0
               else np.maximum(yy - (z2 / evals[:, None]).sum(axis=0), 0.0))
    mse = outside[None, :] + ((kept * kept) / evals[None, :]) @ z2
    resid_dof = slack + kept.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gcv = np.where(resid_dof[:, None] > 0, mse / ((resid_dof / n) ** 2)[:, None], np.inf)
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

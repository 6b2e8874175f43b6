"""Minimising a quadratic over the Stiefel manifold St(m, r).

Both ADMM subproblems of SMART have the form

    minimise  f(W) = 1/2 <W, H(W)> + <W, B>   over  W^T W = I_r

with ``H`` a self-adjoint linear map. We solve them with Riemannian gradient
descent (embedded metric) with Barzilai-Borwein steps, a non-monotone Armijo
line search (Zhang & Hager 2004) and the polar retraction, as in Wen & Yin (2013).

Three facts keep an iteration cheap. The Riemannian gradient ``xi`` at ``W``
satisfies ``W^T xi`` skew-symmetric, so ``(W - t xi)^T (W - t xi) = I + t^2
xi^T xi`` and the polar retraction of every trial step is
``(W - t xi) R(t)`` with ``R(t)`` from one ``r x r`` eigendecomposition per
iteration, shared by all backtracking trials. ``f`` and its gradient share the
one product ``H(W)``. And when ``H`` is built from an expensive linear map
``P`` that commutes with right products (``P(X R) = P(X) R``, as ``X -> A X``
does; :class:`SplitHessian`), every trial's ``P(W_new)`` is
``(P(W) - t P(xi)) R(t)``: one expensive product per iteration, however many
trials the line search makes.

With a metric ``M`` (the manifold ``W^T M W = I``, inner product ``<X, M Y>``;
see :func:`minimize_quadratic`) the same holds with ``W^T M xi`` skew and
``xi^T M xi`` in place of ``xi^T xi``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Direct LAPACK: numpy's eigh wrapper costs more than the r x r problem itself.
from scipy.linalg.lapack import dsyev as _syev

__all__ = ["SplitHessian", "StiefelResult", "minimize_quadratic", "polar",
           "riemannian_gradient"]


def polar(M: np.ndarray) -> np.ndarray:
    """Orthonormal polar factor of ``M`` (m x r): the nearest point of St(m, r)."""
    U, _, Vt = np.linalg.svd(M, full_matrices=False)
    return U @ Vt


def riemannian_gradient(W: np.ndarray, G: np.ndarray, MW: np.ndarray | None = None) -> np.ndarray:
    """Project a Euclidean gradient on the tangent space at ``W`` (embedded metric).

    ``MW`` is ``M W`` when the inner product is ``<X, Y> = <X, M Y>`` (see
    :func:`minimize_quadratic`); ``None`` (or ``W``) for the plain one.
    """
    WtG = (W if MW is None else MW).T @ G
    return G - W @ (0.5 * (WtG + WtG.T))


@dataclass(frozen=True)
class SplitHessian:
    """``H(X) = combine(X, apply(X))`` with ``apply`` linear and ``apply(X R) = apply(X) R``.

    ``apply`` is the expensive part (a product with a ``p x p`` matrix);
    ``combine`` is cheap (column scalings, masks). The solver then calls
    ``apply`` once per iteration.
    """

    apply: Callable[[np.ndarray], np.ndarray]
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class StiefelResult:
    """A subproblem solution, its gradient norm, the iterations and the last step size.

    ``applied`` is ``apply(W)`` of a :class:`SplitHessian` at the solution
    (``None`` for a plain Hessian), for the caller to reuse.
    """

    W: np.ndarray
    grad_norm: float
    n_iter: int
    step: float
    applied: np.ndarray | None = None


def minimize_quadratic(
    W0: np.ndarray,
    hess: Callable[[np.ndarray], np.ndarray] | SplitHessian,
    B: np.ndarray,
    *,
    tol: float,
    max_iter: int = 200,
    step0: float = 1.0,
    applied0: np.ndarray | None = None,
    metric: Callable[[np.ndarray], np.ndarray] | None = None,
) -> StiefelResult:
    """Minimise ``1/2 <W, hess(W)> + <W, B>`` over St(m, r) from ``W0``.

    Parameters
    ----------
    W0
        Starting point with orthonormal columns.
    hess
        The self-adjoint linear map ``H``, plain or split into an expensive
        product and a cheap combination (:class:`SplitHessian`).
    B
        Linear term.
    tol
        Stop when the Frobenius norm of the Riemannian gradient is at most this.
    max_iter
        Iteration cap.
    step0
        First step size; a good one is the inverse Lipschitz constant of the
        gradient, or the last step of a previous solve (warm start).
    applied0
        ``hess.apply(W0)`` if the caller has it (a :class:`SplitHessian` only).
    metric
        ``X -> M X`` for a symmetric positive semi-definite ``M``: the
        iteration then runs on ``{W : W^T M W = I}`` with the inner product
        ``<X, M Y>``. This is how a problem on St(p, r) is solved in the
        coefficients of a basis of a subspace that holds all its iterates
        (``M`` the basis' Gram matrix; ``hess`` and ``B`` in the same
        coefficients). ``None``: the plain inner product.

    Returns
    -------
    StiefelResult
    """
    if isinstance(hess, SplitHessian):
        apply, combine = hess.apply, hess.combine
    else:  # a plain Hessian: no product to carry along the line search
        apply, combine = None, _plain(hess)
    W = W0
    PW = None if apply is None else (apply(W) if applied0 is None else applied0)
    # M X for the iterate and the gradient, carried like P(W): with the plain
    # inner product they are the arrays themselves (the same bits as without).
    MW = W if metric is None else metric(W)
    G = combine(W, PW) + B  # the Euclidean gradient H(W) + B
    # f = 1/2 <W, H(W)> + <W, B>, from the gradient the iteration needs anyway.
    f = 0.5 * (_dot(MW, G) + _dot(MW, B))
    xi = riemannian_gradient(W, G, MW)
    Mxi = xi if metric is None else metric(xi)
    gnorm2 = _dot(Mxi, xi)
    step = step0
    # Zhang-Hager non-monotone reference value.
    C_ref, Q_ref, eta, delta = f, 1.0, 0.85, 1e-4
    it = 0
    while it < max_iter and gnorm2 > tol * tol:
        it += 1
        lam, E, _ = _syev(Mxi.T @ xi)
        lam[lam < 0.0] = 0.0
        Pxi = None if apply is None else apply(xi)
        t = step
        for _ in range(40):
            R = (E / np.sqrt(1.0 + (t * t) * lam)) @ E.T
            W_new = (W - t * xi) @ R
            PW_new = None if apply is None else (PW - t * Pxi) @ R
            MW_new = W_new if metric is None else (MW - t * Mxi) @ R
            G_new = combine(W_new, PW_new) + B
            f_new = 0.5 * (_dot(MW_new, G_new) + _dot(MW_new, B))
            if f_new <= C_ref - delta * t * gnorm2:
                break
            t *= 0.5
        xi_new = riemannian_gradient(W_new, G_new, MW_new)
        Mxi_new = xi_new if metric is None else metric(xi_new)
        s = W_new - W
        y = xi_new - xi
        Ms = s if metric is None else MW_new - MW
        My = y if metric is None else Mxi_new - Mxi
        sy = abs(_dot(Ms, y))
        if sy <= 0.0:
            step = 2.0 * t
        elif it % 2:  # alternate the two Barzilai-Borwein step lengths
            step = _dot(Ms, s) / sy
        else:
            step = sy / _dot(My, y)
        step = min(max(step, 1e-12), 1e12)
        W, PW, MW, f, xi, Mxi = W_new, PW_new, MW_new, f_new, xi_new, Mxi_new
        gnorm2 = _dot(Mxi, xi)
        Q_new = eta * Q_ref + 1.0
        C_ref = (eta * Q_ref * C_ref + f) / Q_new
        Q_ref = Q_new
    return StiefelResult(W=W, grad_norm=float(np.sqrt(max(gnorm2, 0.0))), n_iter=it, step=step,
                         applied=PW)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius inner product."""
    return float(np.vdot(a, b))


def _plain(hess: Callable[[np.ndarray], np.ndarray]):
    def combine(X: np.ndarray, _applied) -> np.ndarray:
        return hess(X)
    return combine



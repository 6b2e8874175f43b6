"""The penalised U-step inside the subspace that holds all its iterates.

With fewer cells than genes, ``A = U0^T S_xx U0`` is ``G G^T`` with ``G``
``p x m`` (``m`` below the number of cells) and ``M = U0^T S_xy V0 = G K``.
The U-step then minimises, over St(p, r),

    1/2 tr(D W^T G G^T W D) + rho/2 ||W_perp||^2 + <W, -G K Z D + [0; P]>,

with ``W_perp`` the rows from ``r_u`` on and ``P = Gamma_u - rho Omega_u``.
Its gradient is a combination of the columns of ``G``, the first ``r_u``
coordinate vectors ``E``, ``W`` itself and ``[0; P]``; the Riemannian
gradient adds ``W`` times a small matrix, and the polar retraction takes
combinations of ``W`` and the gradient. So every iterate of the solver
stays in the span of the basis ``[E, Q, W0, [0; P]]`` (``Q = G / sqrt(values)``,
the design's range), of ``s = r_u + m + 2 r`` columns against ``p`` rows.

The solver runs on the iterates' coefficients in that basis, with the
basis' Gram matrix as the inner product
(:func:`..geometry.stiefel.minimize_quadratic`'s ``metric``): the same
iterates, step sizes and line-search decisions as in gene space, up to
round-off, for ``s x s`` work per iteration instead of ``p x m``. Building
the Gram matrix and mapping the solution back cost three products with
``p`` rows each, against about five per iteration in gene space.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..geometry.stiefel import SplitHessian, StiefelResult, minimize_quadratic

__all__ = ["SpanSolver"]

#: The subspace must be this many times smaller than gene space for the
#: coefficient form to pay: building the Gram matrix and mapping back cost
#: about as much as one gene-space iteration.
SPAN_SMALLER_BY = 4
#: And the iterate this large (``p r`` entries): below it numpy's per-call
#: cost, not arithmetic, sets the time, and the coefficient form makes more calls
#: (281 genes x rank 3: 3% slower; 2,000 genes x rank 8: 10% faster).
SPAN_ABOVE_ENTRIES = 4_000
#: Only for subproblems solved in this many iterations at most. When the basis
#: is redundant (a start inside the design's range, ``P = 0`` at the first
#: iteration) its Gram matrix is singular, and coefficients along its null
#: space are invisible to the solver and free to drift; over the ADMM's
#: five-iteration subproblems they stay of order one (at most 5.7 over the
#: 2,000- and 4,000-gene small-target fits), not over hundreds.
SPAN_MAX_INNER_ITER = 10


class SpanSolver:
    """U-steps of one ADMM run in the span of ``[E, Q, W0, P]`` (see the module docstring).

    Parameters
    ----------
    Q
        An orthonormal basis of the design's range (``p x m``), with ``A = Q
        diag(values) Q^T`` (``LowRankGram.range_basis``).
    values
        The design's non-zero eigenvalues: ``G = Q diag(sqrt(values))``.
    r_u
        Rows of ``W`` without penalty.
    """

    def __init__(self, Q: np.ndarray, values: np.ndarray, r_u: int):
        self.Q = Q
        self.root = np.sqrt(values)[:, None]
        self.r_u = r_u

    @staticmethod
    def pays(p: int, m: int, r_u: int, r: int) -> bool:
        """Whether the coefficient form is cheaper than gene space for this size."""
        return p * r >= SPAN_ABOVE_ENTRIES and SPAN_SMALLER_BY * (r_u + m + 2 * r) <= p

    @staticmethod
    def suits(inner_max_iter: int) -> bool:
        """Whether subproblems this long may run in coefficients (``SPAN_MAX_INNER_ITER``)."""
        return inner_max_iter <= SPAN_MAX_INNER_ITER

    def u_step(self, W: np.ndarray, GtW: np.ndarray, P: np.ndarray, KZd: np.ndarray,
               d2: np.ndarray, rho: float, *, tol: float, max_iter: int, step0: float,
               WtW: np.ndarray | None = None) -> StiefelResult:
        """Solve the U-step from ``W``, whose ``G^T W`` is ``GtW`` (``W^T W``: ``WtW``, if known).

        ``P`` is ``Gamma_u - rho Omega_u`` (``(p - r_u) x r``) and ``KZd`` is
        ``K Z D`` (``m x r``: ``M Z D = G K Z D``). The result holds ``W`` in
        gene space and, as ``applied``, its ``G^T W``.
        """
        r_u, m, r = self.r_u, self.Q.shape[1], W.shape[1]
        iq, iw, ip = r_u, r_u + m, r_u + m + r  # block offsets: E, Q, W0, P
        gram = self._gram(W, GtW, P, W.T @ W if WtW is None else WtW)
        top, range_rows = gram[:r_u], gram[iq:iw]  # E^T basis, Q^T basis
        root = self.root

        def apply(c):  # G^T (basis c): carried along the line search
            return root * (range_rows @ c)

        def combine(c, Gtc):  # coefficients of A W D^2 + rho W_perp
            out = rho * c
            out[:r_u] -= rho * (top @ c)
            out[iq:iw] += root * Gtc * d2
            return out

        B = np.zeros((gram.shape[0], r))
        B[iq:iw] = -(root * KZd)
        B[ip:] = np.eye(r)
        c0 = np.zeros_like(B)
        c0[iw:ip] = np.eye(r)
        res = minimize_quadratic(c0, SplitHessian(apply, combine), B, tol=tol,
                                 max_iter=max_iter, applied0=GtW, step0=step0,
                                 metric=gram.__matmul__)
        c = res.W
        W_new = np.empty_like(W)
        W_new[:r_u] = top @ c
        W_new[r_u:] = self.Q[r_u:] @ c[iq:iw] + W[r_u:] @ c[iw:ip] + P @ c[ip:]
        return replace(res, W=W_new)

    def _gram(self, W: np.ndarray, GtW: np.ndarray, P: np.ndarray,
              WtW: np.ndarray) -> np.ndarray:
        """The Gram matrix of ``[E, Q, W, [0; P]]``; ``Q`` is orthonormal and ``E^T [0; P] = 0``."""
        r_u, m, r = self.r_u, self.Q.shape[1], W.shape[1]
        iq, iw, ip = r_u, r_u + m, r_u + m + r
        s = ip + r
        gram = np.zeros((s, s))
        gram[:r_u, iq:iw] = self.Q[:r_u]
        gram[:r_u, iw:ip] = W[:r_u]
        gram[iq:iw, iw:ip] = GtW / self.root
        gram[iq:iw, ip:] = self.Q[r_u:].T @ P
        gram[iw:ip, ip:] = W[r_u:].T @ P
        gram += gram.T
        gram[:iw, :iw][np.diag_indices(iw)] = 1.0
        gram[iw:ip, iw:ip] = WtW
        gram[ip:, ip:] = P.T @ P
        return gram

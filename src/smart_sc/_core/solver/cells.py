"""SMART for many genes without a ``p x p`` matrix: products with ``S_xx`` through the cells.

With 20,000 genes the Gram matrix ``S_xx`` is 3.2 GB and its
eigendecomposition takes hours. The solver needs neither: it multiplies
``S_xx`` by ``p x r`` matrices, and ``S_xx W = X_c^T (X_c W) / n`` costs two
passes of a sparse ``X`` (``4 nnz r`` flops) with the centring applied on the
fly. Everything else the fixed-tuning fit needs is ``p x q`` or smaller:
``S_xy``, the trace of ``S_yy``, the top eigenvalue of ``S_xx`` (a few
Lanczos steps, for the first step size) and the source bases, whose
complement is implicit (:mod:`..geometry.basis`).

Two departures from the Gram route, both because they would need the
design's spectrum: the tuning must be fixed (rank, structural ranks,
``lam``, ``alpha``; no cross-validation, no blend), and the iteration
starts from the source's leading singular subspaces (``U = U_s``,
``V = V_s``, ``D`` from the D-step) instead of a ridge fit. The fixed point
is the same stationarity condition of the same objective.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, eigsh

from ..geometry.basis import SourceBasis
from .admm import AdmmState, RotatedProblem, d_step, d_step_terms

__all__ = ["CellGram", "RotatedCellGram", "cells_gram_problem", "source_start"]


def _dense(M) -> np.ndarray:
    return np.asarray(M.toarray() if sp.issparse(M) else M, dtype=np.float64)


class CellGram:
    """``S_xx = X_c^T X_c / n`` applied through the cells ``X`` (n x p), never formed."""

    def __init__(self, X, x_mean: np.ndarray):
        self.X = X.tocsr() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        self.x_mean = np.asarray(x_mean, dtype=np.float64)
        self.n = X.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def __matmul__(self, W: np.ndarray) -> np.ndarray:
        XW = _dense(self.X @ W) - self.x_mean @ W  # X_c W, row by row
        XtXW = _dense(self.X.T @ XW) - np.outer(self.x_mean, XW.sum(axis=0))
        return XtXW / self.n

    def top_eigenvalue(self) -> float:
        """Largest eigenvalue (Lanczos; only the solver's first step size depends on it)."""
        if min(self.X.shape) < 3:
            return float(np.linalg.norm(self @ np.eye(self.p), 2))
        op = LinearOperator((self.p, self.p), matvec=lambda v: self @ v[:, None],
                            dtype=np.float64)
        return float(eigsh(op, k=1, which="LA", tol=1e-6,
                           v0=np.ones(self.p), return_eigenvectors=False)[0])


class RotatedCellGram:
    """``U0^T S_xx U0`` applied as three products: into gene space, ``S_xx``, back."""

    def __init__(self, gram: CellGram, basis: SourceBasis):
        self.gram, self.basis = gram, basis

    @property
    def shape(self) -> tuple[int, int]:
        return (self.gram.p, self.gram.p)

    @property
    def size(self) -> int:
        return self.gram.p ** 2

    def __matmul__(self, W: np.ndarray) -> np.ndarray:
        return self.basis.to_source(self.gram @ self.basis.from_source(W))

    def leading_block(self, k: int) -> np.ndarray:
        """The dense leading ``k x k`` block (``k`` products)."""
        E = np.zeros((self.gram.p, k))
        E[:k] = np.eye(k)
        return (self @ E)[:k]


def cells_gram_problem(X, Y: np.ndarray, basis: SourceBasis, *, center: bool, r_u: int,
                       r_v: int, **params) -> tuple[RotatedProblem, np.ndarray, np.ndarray]:
    """The rotated problem from the cells; also the means of ``X`` and ``Y`` (zeros uncentred).

    ``params`` are ``lam_u``, ``lam_v``, ``alpha`` and ``pull``.
    """
    n = X.shape[0]
    x_mean = _dense(X.mean(axis=0)).ravel() if center else np.zeros(X.shape[1])
    y_mean = Y.mean(axis=0) if center else np.zeros(Y.shape[1])
    Yc = Y - y_mean
    # X_c^T Y_c = X^T Y_c: Y_c sums to zero over the cells when centred.
    xy = _dense(X.T @ Yc) / n if center else _dense(X.T @ Y) / n
    gram = CellGram(X, x_mean)
    problem = RotatedProblem(
        A=RotatedCellGram(gram, basis), M=basis.to_source(xy) @ basis.V0,
        yy_trace=float(np.sum(Yc * Yc)) / n, a_max=gram.top_eigenvalue(),
        r_u=int(r_u), r_v=int(r_v), source_values=basis.singular_values, **params)
    return problem, x_mean, y_mean


def source_start(problem: RotatedProblem, rank: int) -> AdmmState:
    """``U``, ``V`` the source's leading ``rank`` singular vectors, ``D`` by its exact step."""
    p, q, r_u, r_v = problem.p, problem.q, problem.r_u, problem.r_v
    W, Z = np.eye(p, rank), np.eye(q, rank)
    num, quad = d_step_terms(problem.A @ W, problem.fit_M @ Z, W)
    return AdmmState(
        W=W, Z=Z, d=d_step(num, quad, problem.alpha),
        omega_u=np.zeros((p - r_u, rank)), omega_v=np.zeros((q - r_v, rank)),
        gamma_u=np.zeros((p - r_u, rank)), gamma_v=np.zeros((q - r_v, rank)),
    )

"""The source's singular bases, with the complement of its column space implicit.

SMART penalises the target's coordinates outside the leading source
subspaces, written in a full orthonormal basis ``U0`` (``p x p``) of gene
space. Only ``min(p, q)`` of its columns are singular vectors of ``C0``; the
rest complete them, and any orthonormal completion is as faithful to the
paper as any other. We keep the completion implicit: ``C0 = Q [R; 0]``
(Householder QR, ``min(p, q)`` reflectors) and the SVD ``R = U_R S V_R^T``
give ``U0 = Q diag(U_R, I)``, which is what LAPACK's full SVD returns for
a tall matrix (it takes the same QR first). Products ``U0^T X`` and
``U0 X`` then cost ``4 p min(p, q)`` per column instead of ``2 p^2``, and
no ``p x p`` matrix is stored: at 20,000 genes the dense basis alone would
be 3.2 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dormqr

__all__ = ["SourceBasis", "robust_svd"]


def robust_svd(M: np.ndarray, *, full_matrices: bool = False):
    """SVD by LAPACK's divide and conquer, falling back to the QR iteration.

    ``gesdd`` occasionally reports non-convergence on finite, well-scaled
    matrices (seen on a real 289 x 134 ridge fit); ``gesvd`` is slower but
    does not.
    """
    try:
        return np.linalg.svd(M, full_matrices=full_matrices)
    except np.linalg.LinAlgError:
        return scipy.linalg.svd(M, full_matrices=full_matrices, lapack_driver="gesvd")


def _apply_q(qr: np.ndarray, tau: np.ndarray, X: np.ndarray, trans: str) -> np.ndarray:
    """``Q X`` (``trans="N"``) or ``Q^T X`` (``"T"``) with ``Q`` held as Householder reflectors.

    LAPACK's ``dormqr`` writes to the reflectors while it works: for a few
    columns it takes the unblocked ``dorm2r``, which sets each diagonal entry
    to the reflector's implicit 1 and restores it afterwards. Hence the
    reflectors are stored with that 1 already on the diagonal
    (:meth:`SourceBasis.from_coef`), so that products running side by side
    on threads all read the same reflectors, and read-only reflectors (joblib
    hands process workers large arrays as read-only memory maps) are copied
    first: writing to them crashes the process.
    """
    X = np.asfortranarray(X, dtype=np.float64)
    if X.shape[1] == 0:
        return X.copy()
    if not qr.flags.writeable:
        qr = np.array(qr, order="F")
    lwork = max(1, X.shape[1]) * 64
    out, _, info = dormqr("L", trans, qr, tau, X, lwork, overwrite_c=0)
    if info != 0:  # pragma: no cover - LAPACK argument errors only
        raise np.linalg.LinAlgError(f"dormqr failed with info={info}")
    return out


@dataclass(frozen=True)
class SourceBasis:
    """Full singular bases of the source coefficients (identity when there is no source).

    ``U0`` (``p x p``) is held implicitly (see the module docstring);
    :meth:`to_source` and :meth:`from_source` apply ``U0^T`` and ``U0``.
    ``V0`` (``q x q``, proteins are few) is dense.
    """

    V0: np.ndarray  # (q, q)
    singular_values: np.ndarray
    rank: int
    p: int
    qr: np.ndarray | None = None  # C0's reflectors, p x k, 1 on the diagonal; None: identity
    tau: np.ndarray | None = None
    U_R: np.ndarray | None = None  # (k, k) left singular vectors of R

    @classmethod
    def from_coef(cls, C0: np.ndarray | None, p: int, q: int) -> SourceBasis:
        """Bases from ``C0`` (p x q); ``None`` gives identities (no transfer)."""
        if C0 is None:
            return cls(np.eye(q), np.zeros(0), min(p, q), p)
        k = min(p, q)
        (qr, tau), _ = scipy.linalg.qr(C0, mode="raw")
        # R (k x q) sits in the upper triangle, the reflectors below it.
        U_R, s, V0t = robust_svd(np.triu(qr[:k]), full_matrices=True)
        # numpy's matrix_rank tolerance, without a second SVD.
        tol = s.max(initial=0.0) * max(p, q) * np.finfo(np.float64).eps
        reflectors = np.array(qr[:, :k], order="F")
        # R's diagonal is done with (it went into the SVD above); the reflectors'
        # implicit unit takes its place (see _apply_q).
        np.fill_diagonal(reflectors[:k], 1.0)
        return cls(V0t.T, s, int(np.sum(s > tol)), p, reflectors, tau[:k], U_R)

    def to_source(self, X: np.ndarray) -> np.ndarray:
        """``U0^T X`` for ``X`` of ``p`` rows."""
        if self.qr is None:
            return np.array(X, dtype=np.float64)
        out = _apply_q(self.qr, self.tau, X, "T")
        k = self.U_R.shape[0]
        out[:k] = self.U_R.T @ out[:k]
        return np.ascontiguousarray(out)

    def from_source(self, X: np.ndarray) -> np.ndarray:
        """``U0 X`` for ``X`` of ``p`` rows."""
        if self.qr is None:
            return np.array(X, dtype=np.float64)
        k = self.U_R.shape[0]
        Y = np.array(X, dtype=np.float64, order="F")
        Y[:k] = self.U_R @ Y[:k]
        return np.ascontiguousarray(_apply_q(self.qr, self.tau, Y, "N"))

    @property
    def U0(self) -> np.ndarray:
        """The full ``p x p`` basis, materialised (for inspection; the solver never needs it)."""
        return self.from_source(np.eye(self.p))

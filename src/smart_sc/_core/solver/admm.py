"""The SMART estimator for fixed tuning parameters, solved by ADMM.

SMART (Zhao, Kolar, Lv 2026) minimises over ``U`` in St(p, r), ``V`` in St(q, r)
and diagonal ``D``

    1/2 tr(C^T S_xx C) - tr(C^T S_xy) + lam_u ||U_perp^T U||_1 + lam_v ||V_perp^T V||_1
        + alpha/2 ||C - pull C0||_F^2,          C = U D V^T,

where ``U_perp``/``V_perp`` complete the leading ``r_u``/``r_v`` left/right
singular vectors of the source coefficients ``C0``. ``alpha = 0`` is the paper's
estimator; ``alpha > 0`` is our shrinkage for small targets, toward zero
(``pull = 0``) or toward the scaled source (``pull > 0``). With ``V^T V = I``
the shrinkage is ``alpha/2 ||D||^2 - alpha pull tr(C^T C0)`` plus a constant, so
the pull only adds ``alpha pull C0`` to ``S_xy``: in the source bases, the
source's singular values on the diagonal of ``M``.

We work in the source's singular bases: with ``C0 = U0 S0 V0^T`` (full SVD),
``W = U0^T U`` and ``Z = V0^T V`` are again orthonormal, ``U_perp^T U`` is just
the rows ``r_u:`` of ``W``, and the statistics become ``A = U0^T S_xx U0`` and
``M = U0^T S_xy V0``. The iteration is the paper's (see docs/method.md)
step for step; the rotation only removes the products with ``U_perp``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry.basis import SourceBasis, robust_svd
from ..geometry.stiefel import SplitHessian, minimize_quadratic, polar, riemannian_gradient
from ..proximal import soft_threshold
from ..sums.stats import SufficientStats
from ..threads import threaded_product
from .span import SpanSolver

__all__ = [
    "AdmmResult",
    "AdmmState",
    "LowRankGram",
    "RotatedProblem",
    "RotatedStart",
    "SourceBasis",
    "constrained_state",
    "d_step",
    "d_step_terms",
    "initial_state",
    "lambda_max",
    "solve_admm",
    "source_pull_terms",
]

logger = logging.getLogger("smart_sc")

#: Bounds on the ADMM penalty rho. It starts at 1 (the paper) and is never
#: lowered below that: on this non-convex problem the balancing rule otherwise
#: drives rho down until the iteration oscillates (seen on the paper's Model I
#: at structural rank < r: no convergence in 500 iterations, error 7x worse).
#: Any fixed point is a KKT point whatever rho is, so the floor changes the
#: path, not the estimator.
RHO_MIN, RHO_MAX = 1.0, 1e6


#: ``M`` is taken through the design's range (:func:`_range_products`) only if
#: its part outside is below this (relative): round-off for a design whose
#: small eigenvalues are genuinely zero, as with fewer cells than genes.
RANGE_TOL = 1e-10


class LowRankGram:
    """A positive semi-definite ``p x p`` matrix held as ``G G^T`` (``G`` is ``p x m``).

    When the design has rank ``m`` well below ``p`` (fewer cells than genes),
    a product with ``G G^T`` costs ``2 p m`` per column against ``p^2`` for the
    dense matrix, and ``G`` fits in cache where the dense matrix does not. The
    products are the same up to round-off: only eigenvalues below the design's
    rank tolerance are dropped, and those are round-off themselves.
    """

    def __init__(self, G: np.ndarray, values: np.ndarray | None = None):
        self.G = np.ascontiguousarray(G)
        #: ``G``'s squared column norms when its columns are orthogonal (``G = Q
        #: diag(sqrt(values))``, from an eigendecomposition): then ``Q`` spans
        #: the matrix's range and the solver can work inside it (:func:`row_space`).
        self.values = None if values is None else np.asarray(values, dtype=np.float64)
        self._through = None  # (M, K) of the last through_range(M)

    def through_range(self, M: np.ndarray) -> np.ndarray | None:
        """``K`` (``m x q``) with ``M = G K``, when ``M`` lies in this matrix's range.

        ``K = diag(values)^-1 G^T M``; ``None`` without ``values`` or when ``M``
        has a part outside the range above round-off. Cached for the last
        ``M`` (a fold's statistics serve every candidate and lambda).
        """
        if self.values is None:
            return None
        cached = self._through  # read once: candidates on other threads may replace it
        if cached is not None and cached[0] is M:
            return cached[1]
        K = (self.G.T @ M) / self.values[:, None]
        outside = np.linalg.norm(M - self.G @ K)
        K = K if outside <= RANGE_TOL * max(np.linalg.norm(M), 1e-300) else None
        self._through = (M, K)
        return K

    def range_basis(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(Q, values)`` with ``Q`` orthonormal and ``Q diag(values) Q^T`` this matrix."""
        if self.values is None:
            return None
        return self.G / np.sqrt(self.values), self.values

    @property
    def shape(self) -> tuple[int, int]:
        return (self.G.shape[0], self.G.shape[0])

    @property
    def size(self) -> int:
        return self.G.shape[0] ** 2

    @property
    def nbytes(self) -> int:
        """Bytes a product reads (the factor's, twice as few as the dense matrix's)."""
        return self.G.nbytes

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        return self.G @ (self.G.T @ X)

    def leading_block(self, k: int) -> np.ndarray:
        """The dense leading ``k x k`` block."""
        Gk = self.G[:k]
        return Gk @ Gk.T


class DiagonalGram:
    """A diagonal Gram matrix ``diag(values)``: the design's Gram matrix in its own eigenbasis."""

    def __init__(self, values: np.ndarray):
        self.values = np.asarray(values, dtype=np.float64)
        self._column = self.values[:, None]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.values.size, self.values.size)

    @property
    def size(self) -> int:
        return self.values.size ** 2

    @property
    def nbytes(self) -> int:
        return self.values.nbytes

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        return self._column * X

    def leading_block(self, k: int) -> np.ndarray:
        return np.diag(self.values[:k])


#: A start whose distance from the design's range exceeds this (relative to its
#: norm) is solved in gene space: the row-space shortcut would project it.
ROW_SPACE_TOL = 1e-8


def row_space(problem: RotatedProblem, state: AdmmState):
    """The problem and start restricted to the range of ``S_xx``, when ``U`` has no penalty.

    With ``r_u = p`` (no penalty on ``U``; structural ranks ``(p, q)`` are the
    penalty-off fit) the U-step's gradient ``A W D^2 - M Z D`` lies in the
    range of ``A`` (``M = U0^T S_xy V0`` does, as ``S_xy = X_c^T Y_c / n``),
    the Riemannian gradient adds only ``W`` times a small matrix, and the
    polar retraction keeps ``W``'s span: an iterate that starts in the range
    (a ridge start does) stays there. With fewer cells than genes that range
    has dimension ``m < n`` against ``p`` genes, and with ``W = Q w`` (``Q``
    an orthonormal basis of the range) every inner product, step size and
    residual of the iteration is the same in ``w``: the same iterates, the
    same number of iterations, at ``m / p`` of the cost (and ``A`` diagonal).
    A pull toward the source adds its directions to the linear term; the
    basis then spans them too.

    Returns ``(reduced problem, reduced start, Q)``, or ``None`` when there is
    nothing to gain (no low-rank factorisation, a range as big as gene space,
    a penalty on ``U``) or the start leaves the range.
    """
    A = problem.A
    if problem.r_u != problem.p or not isinstance(A, LowRankGram):
        return None
    found = A.range_basis()
    if found is None:
        return None
    Q, values = found
    gram = DiagonalGram(values)
    k = problem.source_values.size
    if problem.alpha * problem.pull != 0.0 and k:
        # The pull's term alpha pull C0 sits on the first k source coordinates.
        E = np.zeros((problem.p, k))
        E[:k] = np.eye(k)
        for _ in range(2):  # twice is enough: orthogonal to Q to round-off
            E -= Q @ (Q.T @ E)
        Qe, R = np.linalg.qr(E)
        Qe = Qe[:, np.abs(np.diag(R)) > 1e-8]  # directions already (nearly) in the range
        Qe -= Q @ (Q.T @ Qe)
        Qe, _ = np.linalg.qr(Qe)
        Q = np.hstack([Q, Qe])
        gram = Q.T @ (A @ Q)
        gram = 0.5 * (gram + gram.T)
    m = Q.shape[1]
    if 2 * m > problem.p:
        return None
    w = Q.T @ state.W
    if np.linalg.norm(state.W - Q @ w) > ROW_SPACE_TOL * max(np.linalg.norm(state.W), 1.0):
        return None
    small = replace(problem, A=gram, M=Q.T @ problem.fit_M, r_u=m, pull=0.0,
                    source_values=np.zeros(0))
    start = replace(state.copy(), W=w)
    return small, start, Q


def leading_block(A, k: int) -> np.ndarray:
    """The leading ``k x k`` block of a dense matrix or of an operator that has one."""
    return A[:k, :k] if isinstance(A, np.ndarray) else A.leading_block(k)


def rotated_gram(stats: SufficientStats, basis: SourceBasis):
    """``U0^T S_xx U0``: dense, or as a :class:`LowRankGram` when the design's rank is low.

    The factor comes from the eigendecomposition of ``S_xx`` that every fit
    computes anyway (:attr:`SufficientStats.xx_spectrum`), so choosing it costs
    nothing; rotating it costs ``4 p min(p, q) m`` instead of ``2 p^3``.
    """
    evals, evecs = stats.xx_spectrum
    if 2 * evals.size < stats.n_features:
        return LowRankGram(basis.to_source(evecs * np.sqrt(evals)), evals)
    A = basis.to_source(basis.to_source(stats.xx).T)  # U0^T (S_xx U0), S_xx symmetric
    # 0.5 (A + A^T), the same bits with one p x p temporary fewer (a fold's memory peak).
    sym = A.T.copy()
    sym += A
    del A
    sym *= 0.5
    return sym


@dataclass(frozen=True)
class RotatedProblem:
    """Statistics in the source bases plus the fixed tuning parameters."""

    A: np.ndarray | LowRankGram  # U0^T S_xx U0
    M: np.ndarray  # U0^T S_xy V0
    yy_trace: float
    a_max: float  # largest eigenvalue of A (step-size scale)
    r_u: int
    r_v: int
    lam_u: float = 0.0
    lam_v: float = 0.0
    alpha: float = 0.0
    #: Shrink toward ``pull * C0`` instead of zero (0: toward zero).
    pull: float = 0.0
    #: The source's singular values, ``U0^T C0 V0`` on the diagonal (empty: no source).
    source_values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_stats(cls, stats: SufficientStats, basis: SourceBasis, r_u: int, r_v: int,
                   **params) -> RotatedProblem:
        """Rotate ``stats`` into ``basis``; ``params`` are ``lam_u, lam_v, alpha``."""
        A = rotated_gram(stats, basis)
        M = basis.to_source(stats.xy) @ basis.V0
        # U0 is orthogonal, so A has the eigenvalues of S_xx (computed once per stats).
        a_max = float(stats.xx_spectrum[0].max(initial=0.0))
        return cls(A=A, M=M, yy_trace=float(np.trace(stats.yy)), a_max=max(a_max, 0.0),
                   r_u=int(r_u), r_v=int(r_v), source_values=basis.singular_values,
                   **params)

    def with_params(self, **params) -> RotatedProblem:
        """The same statistics with other tuning parameters."""
        return replace(self, **params)

    @property
    def p(self) -> int:
        return self.A.shape[0]

    @property
    def fit_M(self) -> np.ndarray:
        """``U0^T (S_xy + alpha pull C0) V0``: ``M`` with the shrinkage's pull, the fit's."""
        shift = self.alpha * self.pull
        if shift == 0.0 or self.source_values.size == 0:
            return self.M
        M = self.M.copy()
        k = self.source_values.size
        M[np.arange(k), np.arange(k)] += shift * self.source_values
        return M

    @property
    def q(self) -> int:
        return self.M.shape[1]


@dataclass
class AdmmState:
    """Iterates of the ADMM in source coordinates (warm-startable)."""

    W: np.ndarray  # (p, r)
    Z: np.ndarray  # (q, r)
    d: np.ndarray  # (r,)
    omega_u: np.ndarray
    omega_v: np.ndarray
    gamma_u: np.ndarray
    gamma_v: np.ndarray
    rho: float = 1.0
    step_u: float | None = None
    step_v: float | None = None

    def copy(self) -> AdmmState:
        return AdmmState(self.W.copy(), self.Z.copy(), self.d.copy(), self.omega_u.copy(),
                         self.omega_v.copy(), self.gamma_u.copy(), self.gamma_v.copy(),
                         self.rho, self.step_u, self.step_v)

    def coef(self, basis: SourceBasis) -> np.ndarray:
        """``C = U D V^T`` back in gene/protein coordinates (p x q)."""
        return basis.from_source(self.W * self.d) @ (basis.V0 @ self.Z).T


@dataclass
class AdmmResult:
    """Final state and diagnostics of one ADMM run."""

    state: AdmmState
    converged: bool
    n_iter: int
    objective: list[float] = field(default_factory=list)
    primal_residual: list[float] = field(default_factory=list)
    dual_residual: list[float] = field(default_factory=list)

    def nnz(self) -> int:
        """Non-zeros of ``Omega_u`` and ``Omega_v`` (the BIC's degrees of freedom)."""
        return int(np.count_nonzero(self.state.omega_u) + np.count_nonzero(self.state.omega_v))


@dataclass(frozen=True)
class RotatedStart:
    """The SVD of an initial estimate in source coordinates, for starts of any rank.

    Cross-validation starts every candidate rank from the same fold's ridge
    fit; its SVD and rotation (``p^2 q``) are done once per fold here rather
    than once per candidate.
    """

    W: np.ndarray  # U0^T U, (p, k)
    s: np.ndarray  # (k,)
    Z: np.ndarray  # V0^T V, (q, k)

    @classmethod
    def from_coef(cls, coef: np.ndarray, basis: SourceBasis,
                  max_rank: int | None = None) -> RotatedStart:
        """From an initial estimate (p x q), keeping ``max_rank`` components (all if ``None``)."""
        U, s, Vt = robust_svd(coef)
        k = s.size if max_rank is None else min(int(max_rank), s.size)
        return cls(basis.to_source(U[:, :k]), s[:k].copy(), basis.V0.T @ Vt[:k].T)


def initial_state(init: np.ndarray | RotatedStart, basis: SourceBasis, r: int, r_u: int,
                  r_v: int) -> AdmmState:
    """Rank-``r`` truncated SVD of an initial estimate (p x q), in source coordinates."""
    start = init if isinstance(init, RotatedStart) else RotatedStart.from_coef(init, basis, r)
    W = start.W[:, :r].copy()
    Z = start.Z[:, :r].copy()
    p, q = W.shape[0], Z.shape[0]
    return AdmmState(
        W=W, Z=Z, d=start.s[:r].copy(),
        omega_u=np.zeros((p - r_u, r)), omega_v=np.zeros((q - r_v, r)),
        gamma_u=np.zeros((p - r_u, r)), gamma_v=np.zeros((q - r_v, r)),
    )


def constrained_state(problem: RotatedProblem, r: int) -> AdmmState | None:
    """The exact fit with ``U``, ``V`` confined to the leading source subspaces (``Omega = 0``).

    For ``r <= min(r_u, r_v)`` this is the rank-``r`` reduced-rank regression
    of the rotated statistics restricted to the first ``r_u`` (``r_v``)
    coordinates, in closed form: with ``K = A_ss + alpha I`` and
    ``M_ss`` the leading block of ``M``, ``C_s = K^{-1/2} [K^{-1/2} M_ss]_r``.
    The multipliers are those that make it stationary,
    ``Gamma = -(Euclidean gradient of the fit on the penalised block)``, so it
    is a fixed point of the ADMM (a KKT point of the penalised problem) for
    every ``lam >= lambda_max(state)``. Large lambdas, where the iteration
    otherwise crawls towards exactly this point, are thus solved exactly.
    ``None`` when ``r`` exceeds a structural rank (the subspaces cannot hold the fit).
    """
    r_u, r_v = problem.r_u, problem.r_v
    if r > min(r_u, r_v) or (r_u, r_v) == (problem.p, problem.q):
        return None
    K = leading_block(problem.A, r_u) + problem.alpha * np.eye(r_u)
    evals, evecs = np.linalg.eigh(0.5 * (K + K.T))
    keep = evals > max(evals.max(initial=0.0), 0.0) * r_u * np.finfo(np.float64).eps
    inv_sqrt = (evecs[:, keep] / np.sqrt(evals[keep])) @ evecs[:, keep].T
    M = problem.fit_M
    G = inv_sqrt @ M[:r_u, :r_v]
    Ug, sg, Vgt = robust_svd(G)
    C_s = (inv_sqrt @ (Ug[:, :r] * sg[:r])) @ Vgt[:r]
    P, d, Qt = robust_svd(C_s)
    W = np.zeros((problem.p, r))
    W[:r_u] = P[:, :r]
    Z = np.zeros((problem.q, r))
    Z[:r_v] = Qt[:r].T
    d = d[:r].copy()
    grad_u = (problem.A @ W) * (d * d) - M @ (Z * d)
    grad_v = -(M.T @ (W * d))
    return AdmmState(
        W=W, Z=Z, d=d,
        omega_u=np.zeros((problem.p - r_u, r)), omega_v=np.zeros((problem.q - r_v, r)),
        gamma_u=-grad_u[r_u:], gamma_v=-grad_v[r_v:],
    )


def lambda_max(state: AdmmState) -> float:
    """Smallest tied lambda at which a state with ``Omega = 0`` is stationary."""
    return float(max(np.abs(state.gamma_u).max(initial=0.0),
                     np.abs(state.gamma_v).max(initial=0.0)))


def d_step_terms(AW: np.ndarray, MZ: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u_j^T S_xy v_j`` and ``u_j^T S_xx u_j`` per component, from ``A W`` and ``M Z``."""
    return np.einsum("ij,ij->j", W, MZ), np.einsum("ij,ij->j", W, AW)


def source_pull_terms(W: np.ndarray, Z: np.ndarray, source_values: np.ndarray) -> np.ndarray:
    """``u_j^T C0 v_j`` per component (source coordinates: ``C0`` is diagonal there)."""
    k = source_values.size
    return np.einsum("ij,i,ij->j", W[:k], source_values, Z[:k])


def d_step(num: np.ndarray, quad: np.ndarray, alpha: float) -> np.ndarray:
    """Exact least squares for diagonal ``D`` (plus shrinkage): ``num / (quad + alpha)``.

    A component the cells do not see (zero denominator) gets ``D_jj = 0``.
    """
    den = quad + alpha
    safe = den > 1e-12
    return np.where(safe, num / np.where(safe, den, 1.0), 0.0)


def _orthonormal(W: np.ndarray) -> np.ndarray:
    return _orthonormal_gram(W)[0]


def _orthonormal_gram(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``W``, cleaned up if it drifted off the manifold, and its ``W^T W``."""
    # The retraction is exact only in exact arithmetic; clean up drift when seen.
    WtW = W.T @ W
    if np.abs(WtW - np.eye(W.shape[1])).max() > 1e-10:
        W = polar(W)
        WtW = W.T @ W
    return W, WtW


def _safe_norm_ratio(x: np.ndarray, size: int) -> float:
    return float(np.linalg.norm(x) / np.sqrt(size)) if size > 0 else 0.0


def solve_admm(
    problem: RotatedProblem,
    state: AdmmState,
    *,
    tol: float = 1e-3,
    max_iter: int = 500,
    inner_max_iter: int = 100,
    record: bool = True,
) -> AdmmResult:
    """Run the paper's ADMM from ``state`` (which is not modified).

    Parameters
    ----------
    problem
        Rotated statistics and tuning parameters.
    state
        Starting iterates (from :func:`initial_state` or a previous fit).
    tol
        Stop when both primal and dual residuals are at most ``tol``.
    max_iter
        Iteration cap (``t_max``).
    inner_max_iter
        Cap on the Stiefel solver's iterations per subproblem. The subproblems
        are solved inexactly from the current point; the stopping rule checks
        stationarity of the whole problem, so the cap changes the path to the
        fixed point, not the fixed point.
    record
        Keep objective and residual histories.

    Returns
    -------
    AdmmResult
    """
    reduced = row_space(problem, state) if problem.r_u == problem.p else None
    if reduced is not None:
        # The same iteration inside the design's range (see row_space): every
        # iterate is Q times the reduced one, so map the result back.
        small, start, Q = reduced
        res = _iterate(small, start, tol=tol, max_iter=max_iter,
                       inner_max_iter=inner_max_iter, record=record, p_scale=problem.p)
        res.state.W = Q @ res.state.W
        return res
    return _iterate(problem, state, tol=tol, max_iter=max_iter,
                    inner_max_iter=inner_max_iter, record=record, p_scale=problem.p)


class _Stacked:
    """``X -> [G G^T X; G^T X]``: ``A X`` and the range coordinates ``G^T X`` in one array.

    Linear and commuting with right products, so the Stiefel solver carries
    it along its line search like ``A X`` (:class:`..geometry.stiefel.SplitHessian`),
    and ``G^T W`` comes with every ``A W`` at ``m r^2`` more per trial.
    """

    def __init__(self, G: np.ndarray):
        self.G = G
        self.nbytes = G.nbytes

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        t = self.G.T @ X
        return np.concatenate([self.G @ t, t])


def _range_products(pb: RotatedProblem, M: np.ndarray):
    """``(G, K)`` with ``A = G G^T`` and ``M = G K`` when that saves work, else ``None``.

    With few cells ``M = U0^T S_xy V0`` lies in the range of ``A`` (``S_xy =
    X_c^T Y_c / n`` does): then ``M^T W = K^T (G^T W)`` costs ``m q r``
    with ``G^T W`` carried by the U-step, and ``M Z = G (K Z)`` costs ``p m r``,
    against ``2 p q r`` for both through ``M``. A pull toward the source puts
    ``M`` outside the range; a large ``m`` makes it dearer.
    """
    A = pb.A
    if not FACTOR_M or not isinstance(A, LowRankGram) or A.values is None:
        return None
    p, m = A.G.shape
    q = M.shape[1]
    if m * (p + 2 * q) >= 2 * p * q:
        return None
    K = A.through_range(M)
    return None if K is None else (A.G, K)


#: Switch for :func:`_range_products` (off: every product through ``M``).
FACTOR_M = True


def _iterate(pb: RotatedProblem, state: AdmmState, *, tol: float, max_iter: int,
             inner_max_iter: int, record: bool, p_scale: int) -> AdmmResult:
    """The ADMM iterations of :func:`solve_admm`; residuals are scaled by ``p_scale`` genes."""
    st = state.copy()
    M = pb.fit_M
    p, q, r = pb.p, pb.q, st.W.shape[1]
    r_u, r_v = pb.r_u, pb.r_v
    ranged = _range_products(pb, M)
    span = None
    if ranged is None:
        apply_A = threaded_product(pb.A)

        def m_times(Z):
            return M @ Z

        def mt_times(W, AW):
            return M.T @ W
    elif (r_u < p and SpanSolver.suits(inner_max_iter)
          and SpanSolver.pays(p, ranged[0].shape[1], r_u, r)):
        # With few cells the U-step's iterates stay in a small subspace
        # (span.py), and the iteration carries G^T W and K Z alone: A W = G G^T W
        # and M Z = G K Z are formed once per iteration, in the residual.
        G, K = ranged
        span = SpanSolver(*pb.A.range_basis(), r_u)
        apply_A = threaded_product(G.T)

        def m_times(Z):
            return K @ Z

        def mt_times(W, AW):
            return K.T @ AW
    else:
        # The U-step's products return [A X; G^T X] (see _Stacked); A W is the top.
        G, K = ranged
        apply_A = threaded_product(_Stacked(G))

        def m_times(Z):
            return G @ (K @ Z)

        def mt_times(W, AW):
            return K.T @ AW[p:]
    # When V's penalty block is empty (r_v = q) or everything (r_v = 0), the
    # V-step objective is linear on the manifold and polar(-B) solves it exactly.
    v_linear = r_v in (0, q)
    W, Z, d = st.W, st.Z, st.d
    rho = st.rho
    gu, gv, ou, ov = st.gamma_u, st.gamma_v, st.omega_u, st.omega_v
    objective: list[float] = []
    primal_hist: list[float] = []
    dual_hist: list[float] = []
    converged = False
    step_u, step_v = st.step_u, st.step_v
    n_u, n_v = (p - r_u) * r, (q - r_v) * r
    # The paper's inner tolerance schedule, max(1e-6, 1e-2 * 0.9^t); its floor is
    # lowered for outer tolerances below 1e-5 so that those stay reachable.
    inner_floor = min(1e-6, 0.1 * tol)
    # The iteration carries A W (see minimize_quadratic) and M Z: between the
    # D-step and the next U-step neither Z nor d changes, so the residual's and
    # the U-step's M Z d are one product.
    AW = apply_A(W)  # A W, or [A W; G^T W] through the range, or G^T W with the span U-step
    MZ = m_times(Z)  # M Z, or K Z with the span U-step
    WtW = None
    it = 0
    for it in range(1, max_iter + 1):
        inner_tol = max(inner_floor, 1e-2 * 0.9 ** (it - 1))
        d2 = d * d

        # U-step: 1/2 tr(D W^T A W D) + rho/2 ||W_perp||^2 + <W, B_u>.
        lip_u = pb.a_max * float(d2.max(initial=0.0)) + rho
        step0 = step_u if step_u else 1.0 / max(lip_u, 1e-12)
        if span is None:
            Bu = -(MZ * d)
            Bu[r_u:] += gu - rho * ou

            # rho on the penalised rows only, as a column of weights: one product.
            u_weight = np.zeros((p, 1))
            u_weight[r_u:] = rho

            def hess_u(X, AX, d2=d2, u_weight=u_weight):
                return AX[:p] * d2 + u_weight * X

            res_u = minimize_quadratic(W, SplitHessian(apply_A, hess_u), Bu, tol=inner_tol,
                                       max_iter=inner_max_iter, applied0=AW, step0=step0)
        else:  # the same steps in the coefficients of a small subspace
            res_u = span.u_step(W, AW, gu - rho * ou, MZ * d, d2, rho, WtW=WtW,
                                tol=inner_tol, max_iter=inner_max_iter, step0=step0)
        # W^T W of the clean-up check, which the next span U-step's Gram matrix reuses.
        (W, WtW), step_u = _orthonormal_gram(res_u.W), res_u.step
        # The solver's running A W, unless the clean-up moved W.
        AW = res_u.applied if W is res_u.W else apply_A(W)

        # V-step: rho/2 ||Z_perp||^2 + <Z, B_v>.
        MtW = mt_times(W, AW)  # for this V-step and, with the new d, the residual
        Bv = -(MtW * d)
        Bv[r_v:] += gv - rho * ov
        if v_linear:
            Z = polar(-Bv)
        else:
            v_weight = np.zeros((q, 1))
            v_weight[r_v:] = rho

            def hess_v(X, v_weight=v_weight):
                return v_weight * X

            res_v = minimize_quadratic(Z, hess_v, Bv, tol=inner_tol,
                                       max_iter=inner_max_iter,
                                       step0=step_v if step_v else 1.0 / rho)
            Z, step_v = _orthonormal(res_v.W), res_v.step

        # D-step: least squares (plus alpha) per component.
        MZ = m_times(Z)
        if span is None:
            num, quad = d_step_terms(AW[:p], MZ, W)
        else:  # W^T M Z = (G^T W)^T K Z and W^T A W = (G^T W)^T G^T W
            num, quad = d_step_terms(AW, MZ, AW)
        d = d_step(num, quad, pb.alpha)

        # Omega- and multiplier steps.
        Pu, Pv = W[r_u:], Z[r_v:]
        ou = soft_threshold(Pu + gu / rho, pb.lam_u / rho)
        ov = soft_threshold(Pv + gv / rho, pb.lam_v / rho)
        gu = gu + rho * (Pu - ou)
        gv = gv + rho * (Pv - ov)

        # Residuals: primal feasibility, and the Riemannian gradients of the next
        # U- and V-subproblems at the current point (docs/method.md).
        primal = 0.5 * (_safe_norm_ratio(Pu - ou, n_u) + _safe_norm_ratio(Pv - ov, n_v))
        Gu = AW[:p] * (d * d) - MZ * d if span is None else G @ (AW * (d * d) - MZ * d)
        Gu[r_u:] += rho * Pu + gu - rho * ou
        Gv = -(MtW * d)
        Gv[r_v:] += rho * Pv + gv - rho * ov
        dual = 0.5 * (
            np.linalg.norm(riemannian_gradient(W, Gu)) / np.sqrt(p_scale * r)
            + np.linalg.norm(riemannian_gradient(Z, Gv)) / np.sqrt(q * r)
        )
        if record:
            fit = 0.5 * float(np.dot(d * d, quad)) - float(np.dot(d, num)) + 0.5 * pb.yy_trace
            pen = pb.lam_u * np.abs(ou).sum() + pb.lam_v * np.abs(ov).sum()
            objective.append(fit + pen + 0.5 * pb.alpha * float(d @ d))
            primal_hist.append(primal)
            dual_hist.append(float(dual))
        if primal <= tol and dual <= tol:
            converged = True
            break
        # Residual balancing (paper: factor 10, step 2), bounded (see RHO_MIN;
        # with an empty penalty block the primal residual is 0 and the rule
        # would otherwise halve rho forever).
        if primal > 10.0 * dual:
            rho = min(rho * 2.0, RHO_MAX)
        elif dual > 10.0 * primal:
            rho = max(rho / 2.0, RHO_MIN)

    final = AdmmState(W, Z, d, ou, ov, gu, gv, rho, step_u, step_v)
    return AdmmResult(final, converged, it, objective, primal_hist, dual_hist)

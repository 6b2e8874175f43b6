"""The SMART paper's simulation design (Zhao, Kolar, Lv 2026, Section 5).

A source coefficient matrix with ``s`` orthonormal singular directions on each
side, a target coefficient matrix built from ``rank`` of those directions (new
singular values, a different mixture), an AR(1) Gaussian design and Gaussian
noise. The generator reproduces the distribution of the paper's data, not the
paper's random streams: results are comparable in distribution, not draw by
draw.

Two kinds of "rank" must be kept apart:

* the *generating* ranks, parameters of :func:`simulate_transfer`: the target
  rank ``rank`` (``r``, 5 in the paper) and the number of source directions
  ``structural_rank`` (``s``, 10 in the paper);
* the *fitted* ranks, tuning parameters handed to an estimator: the intrinsic
  rank and the structural rank ``r_s = r_u = r_v``. The paper's experiments 2
  and 3 vary these while the data keep ``r = 5`` and ``s = 10``.

:func:`paper_settings` records both, so a benchmark can generate with one and
fit with the other.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.randomness import check_random_state

__all__ = [
    "PAPER_EXPERIMENTS",
    "PAPER_MODELS",
    "SimulatedTransfer",
    "estimation_error",
    "paper_settings",
    "simulate_transfer",
]

#: Problem sizes of the paper: ``model -> (p, q, sample sizes of experiment 1)``.
#: Experiments 2 to 4 use the smallest sample size of the model.
PAPER_MODELS: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "I": (100, 50, (200, 400, 600, 800, 1000)),
    "II": (150, 100, (300, 500, 700, 1000, 1200)),
    "III": (300, 200, (500, 700, 1000, 1200, 1500)),
}

#: The four experiments of the paper. ``parameter`` names the key of a
#: :func:`paper_settings` dict that varies; ``values`` are its values (``None``
#: for experiment 1: the model's sample sizes, ``PAPER_MODELS[model][2]``);
#: ``generates`` says whether the varied parameter changes the data (``True``)
#: or only the estimator's tuning (``False``).
PAPER_EXPERIMENTS: dict[str, dict[str, Any]] = {
    "exp1": {
        "parameter": "n",
        "values": None,
        "generates": True,
        "description": "sample size n over the model's grid",
    },
    "exp2": {
        "parameter": "fit_rank",
        "values": (1, 3, 5, 7, 9, 11),
        "generates": False,
        "description": (
            "intrinsic rank r given to the estimator; the data keep true rank 5 "
            "(as in the authors' code), so r = 1, 3 under-fit and r > 5 over-fit"
        ),
    },
    "exp3": {
        "parameter": "fit_structural_rank",
        "values": (0, 3, 5, 7, 10, 15, 20),
        "generates": False,
        "description": (
            "structural rank r_s = r_u = r_v given to the estimator; the data keep "
            "10 source directions, so r_s < 10 truncates them and r_s > 10 adds noise "
            "directions of C0"
        ),
    },
    "exp4": {
        "parameter": "sigma0",
        "values": (0.0, 0.01, 0.02, 0.05, 0.1, 0.5),
        "generates": True,
        "description": "entrywise noise sigma0 of the source matrix C0",
    },
}

# Defaults shared by all experiments (paper, Section 5): every setting starts
# from these and changes one entry.
_PAPER_DEFAULTS: dict[str, Any] = {
    "rank": 5,
    "structural_rank": 10,
    "sigma0": 0.01,
    "fit_rank": 5,
    "fit_structural_rank": 10,
}


@dataclass(frozen=True, eq=False)
class SimulatedTransfer:
    """One draw of the paper's simulation design.

    Coefficient fields are in the paper's orientation (``p x q``, features by
    responses); the properties :attr:`source_coef` and :attr:`true_coef` give
    the scikit-learn orientation (``q x p``). The dataclass is frozen (fields
    cannot be rebound) but the arrays themselves are ordinary writeable arrays.

    Attributes
    ----------
    X : ndarray of shape (n, p)
        Target design, rows i.i.d. ``N(0, Sigma)``, ``Sigma_ij = rho^|i-j|``.
    Y : ndarray of shape (n, q)
        Target responses ``X C* + noise * E``.
    coef : ndarray of shape (p, q)
        True target coefficients ``C* = U* diag(singular_values) V*^T``.
    source_coef_pq : ndarray of shape (p, q)
        Observed source coefficients ``C0 = C0* + sigma0 * E0``.
    U_star : ndarray of shape (p, rank)
        Left singular vectors of ``C*`` (columns ``u_columns`` of ``source_U``).
    V_star : ndarray of shape (q, rank)
        Right singular vectors of ``C*`` (columns ``v_columns`` of ``source_V``).
    source_U : ndarray of shape (p, structural_rank)
        Left singular vectors ``U0*`` of the clean source ``C0*``.
    source_V : ndarray of shape (q, structural_rank)
        Right singular vectors ``V0*`` of the clean source ``C0*``.
    singular_values : ndarray of shape (rank,)
        Singular values of ``C*``, ``linspace(3, 5, rank)``, paired with the
        columns of ``U_star`` and ``V_star`` in order.
    source_singular_values : ndarray of shape (structural_rank,)
        Singular values of ``C0*``, ``linspace(1, 10, structural_rank)``, paired
        with the columns of ``source_U`` and ``source_V`` in order.
    u_columns, v_columns : ndarray of shape (rank,)
        Which source columns the target uses on each side (drawn independently).
    sigma0, noise, rho : float
        The generating noise levels and design correlation.

    Examples
    --------
    >>> from smart_sc.datasets import simulate_transfer
    >>> sim = simulate_transfer(200, 100, 50, rank=5, random_state=0)
    >>> sim.X.shape, sim.Y.shape, sim.source_coef.shape  # source in (q, p) orientation
    ((200, 100), (200, 50), (50, 100))
    >>> int((sim.singular_values > 0).sum()), list(sim.u_columns.shape)
    (5, [5])
    """

    X: np.ndarray
    Y: np.ndarray
    coef: np.ndarray
    source_coef_pq: np.ndarray
    U_star: np.ndarray
    V_star: np.ndarray
    source_U: np.ndarray
    source_V: np.ndarray
    singular_values: np.ndarray
    source_singular_values: np.ndarray
    u_columns: np.ndarray
    v_columns: np.ndarray
    sigma0: float
    noise: float
    rho: float

    @property
    def source_coef(self) -> np.ndarray:
        """``C0`` in scikit-learn orientation ``(q, p)``, as estimators take it."""
        return self.source_coef_pq.T

    @property
    def true_coef(self) -> np.ndarray:
        """``C*`` in scikit-learn orientation ``(q, p)``, comparable with ``coef_``."""
        return self.coef.T

    @property
    def clean_source_coef_pq(self) -> np.ndarray:
        """The noise-free source ``C0* = U0* D0* V0*^T`` (``p x q``)."""
        return (self.source_U * self.source_singular_values) @ self.source_V.T

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance ``Sigma`` of the rows of ``X`` (``p x p``)."""
        idx = np.arange(self.X.shape[1])
        return _ar1_power(self.rho, np.abs(idx[:, None] - idx[None, :]))


def _ar1_power(rho: float, k: np.ndarray) -> np.ndarray:
    # ``rho ** k`` for integer k >= 0, with 0 ** 0 = 1 (numpy's convention) so
    # that rho = 0 gives the identity.
    return np.power(float(rho), k.astype(np.float64))


def _ar1_cholesky(p: int, rho: float) -> np.ndarray:
    """Lower Cholesky factor of ``Sigma_ij = rho^|i-j|`` in closed form.

    ``L_ij = rho^(i-j) c_j`` for ``i >= j`` with ``c_0 = 1`` and
    ``c_j = sqrt(1 - rho^2)``: it is the AR(1) recursion
    ``x_i = rho x_{i-1} + sqrt(1 - rho^2) z_i`` written as a matrix. Exact, so
    no numerical Cholesky (which degrades as ``|rho| -> 1``) is needed.
    """
    idx = np.arange(p)
    lag = idx[:, None] - idx[None, :]
    L = np.tril(_ar1_power(rho, np.maximum(lag, 0)))
    L[:, 1:] *= np.sqrt(1.0 - rho * rho)
    return L


def _haar_frame(rng, dim: int, cols: int) -> np.ndarray:
    """Orthonormal ``dim x cols`` frame: Q of the QR of a Gaussian matrix.

    Signs are fixed so that ``diag(R) > 0``. This makes the frame uniformly
    (Haar) distributed and, more practically, independent of the LAPACK
    build's sign convention, so a seed gives the same basis everywhere.
    """
    Q, R = np.linalg.qr(rng.standard_normal((dim, cols)))
    signs = np.where(np.diag(R) < 0, -1.0, 1.0)
    return Q * signs


def check_int(value, name: str, *, low: int, high: int | None = None, hint: str = "") -> int:
    """Return ``value`` as an int in ``[low, high]``, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}{hint}")
    return value


def _check_float(value, name: str, *, nonneg: bool = False, open_unit: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if nonneg and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if open_unit and not -1.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between -1 and 1, got {value}")
    return value


def _as_rng(random_state):
    # A numpy Generator is used as is; anything else goes through scikit-learn's
    # check_random_state (None, int or RandomState). Only methods both APIs
    # share (standard_normal, permutation) are called below.
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


def simulate_transfer(
    n: int,
    p: int,
    q: int,
    *,
    rank: int = 5,
    structural_rank: int = 10,
    sigma0: float = 0.01,
    noise: float = 0.5,
    rho: float = 0.5,
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
) -> SimulatedTransfer:
    """Draw one data set of the SMART paper's simulation design.

    With ``s = structural_rank`` and ``r = rank``:

    1. source: ``U0*``, ``V0*`` are the Q factors of the QR decompositions of
       ``p x s`` and ``q x s`` standard Gaussian matrices;
       ``C0* = U0* diag(linspace(1, 10, s)) V0*^T`` and
       ``C0 = C0* + sigma0 * E0`` with ``E0`` standard Gaussian ``p x q``;
    2. target: ``r`` of the ``s`` columns of ``U0*`` drawn at random without
       replacement form ``U*``, and independently ``r`` columns of ``V0*`` form
       ``V*``; ``C* = U* diag(linspace(3, 5, r)) V*^T``;
    3. data: rows of ``X`` i.i.d. ``N(0, Sigma)`` with ``Sigma_ij = rho^|i-j|``
       (``X = Z L^T`` with ``L`` the Cholesky factor of ``Sigma``);
       ``Y = X C* + noise * E``.

    So ``C*`` lies exactly in the clean source's singular subspaces, but with
    different singular values and a different pairing of left and right
    directions than ``C0*``: ``C*`` is *not* close to ``C0`` entrywise.

    ``structural_rank`` here is the number of source directions in the truth.
    It is not the structural rank ``r_s`` tuned by SMART (the paper's
    experiment 3 varies that one with the data fixed at ``s = 10``; see
    :data:`PAPER_EXPERIMENTS`).

    Parameters
    ----------
    n : int
        Number of target samples (cells), at least 1.
    p : int
        Number of features.
    q : int
        Number of responses.
    rank : int, default=5
        Rank ``r`` of the true target coefficients, ``1 <= rank <= structural_rank``.
    structural_rank : int, default=10
        Number ``s`` of source singular directions, ``1 <= s <= min(p, q)``.
    sigma0 : float, default=0.01
        Standard deviation of the entrywise noise added to the source matrix.
    noise : float, default=0.5
        Standard deviation of the response noise.
    rho : float, default=0.5
        Correlation of neighbouring features, ``-1 < rho < 1``.
    random_state : int, RandomState, Generator or None, default=None
        Seed or generator. An int gives the same arrays bit for bit on every
        call; ``None`` uses numpy's global ``RandomState`` (scikit-learn's
        convention); a ``RandomState`` or ``Generator`` is advanced in place.

    Returns
    -------
    SimulatedTransfer
        The data ``X``, ``Y``, the truth ``coef`` (``C*``) and the source
        ``source_coef_pq`` (``C0``) with their singular bases.

    Notes
    -----
    The draws are made in a fixed order from one stream: the source frames,
    the source noise ``E0`` (drawn even when ``sigma0 = 0``), the target's
    column choices, then the samples. Hence, for one seed, ``C0*``, ``C*`` and
    the pattern of ``E0`` do not depend on ``n``, ``sigma0`` or ``noise``
    (common random numbers across the paper's experiments 1 and 4); and each
    sample's ``(z_i, e_i)`` is drawn jointly per row, so a larger ``n`` extends
    a smaller one: the first ``n`` rows coincide (up to rounding of the matrix
    product). The column choices are a random permutation truncated to
    ``rank``, so for one seed a higher rank adds directions to a lower one's.
    Changing ``structural_rank``, ``p`` or ``q`` changes every draw.

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.datasets import estimation_error, simulate_transfer
    >>> sim = simulate_transfer(200, 100, 50, random_state=0)
    >>> sim.X.shape, sim.Y.shape, sim.coef.shape, sim.source_coef.shape
    ((200, 100), (200, 50), (100, 50), (50, 100))
    >>> int(np.linalg.matrix_rank(sim.coef))
    5
    >>> round(estimation_error(sim.source_coef_pq, sim.coef), 1)  # C0 is far from C*
    0.3
    """
    n = check_int(n, "n", low=1)
    p = check_int(p, "p", low=1)
    q = check_int(q, "q", low=1)
    structural_rank = check_int(
        structural_rank,
        "structural_rank",
        low=1,
        high=min(p, q),
        hint=f" (the source needs structural_rank orthonormal columns in p={p} and q={q})",
    )
    rank = check_int(
        rank,
        "rank",
        low=1,
        high=structural_rank,
        hint=(
            f" (the target picks rank of the structural_rank={structural_rank} source "
            "columns; raise structural_rank to generate a higher rank)"
        ),
    )
    sigma0 = _check_float(sigma0, "sigma0", nonneg=True)
    noise = _check_float(noise, "noise", nonneg=True)
    rho = _check_float(rho, "rho", open_unit=True)
    rng = _as_rng(random_state)

    # 1. Source. E0 is drawn whatever sigma0 is, so that sigma0 only scales it
    # and every later draw is the same for all sigma0 (experiment 4).
    source_U = _haar_frame(rng, p, structural_rank)
    source_V = _haar_frame(rng, q, structural_rank)
    source_sv = np.linspace(1.0, 10.0, structural_rank)
    E0 = rng.standard_normal((p, q))
    source_coef = (source_U * source_sv) @ source_V.T + sigma0 * E0

    # 2. Target: left and right columns are chosen independently, so C* mixes
    # source directions that C0* never pairs.
    u_columns = np.asarray(rng.permutation(structural_rank)[:rank])
    v_columns = np.asarray(rng.permutation(structural_rank)[:rank])
    U_star = source_U[:, u_columns]
    V_star = source_V[:, v_columns]
    sv = np.linspace(3.0, 5.0, rank)
    coef = (U_star * sv) @ V_star.T

    # 3. Samples: one (p + q)-vector per row, so sample i depends only on the
    # seed and i, not on n (experiment 1 gets nested samples).
    Z = rng.standard_normal((n, p + q))
    X = Z[:, :p] @ _ar1_cholesky(p, rho).T
    Y = X @ coef + noise * Z[:, p:]

    return SimulatedTransfer(
        X=X,
        Y=Y,
        coef=coef,
        source_coef_pq=source_coef,
        U_star=U_star,
        V_star=V_star,
        source_U=source_U,
        source_V=source_V,
        singular_values=sv,
        source_singular_values=source_sv,
        u_columns=u_columns,
        v_columns=v_columns,
        sigma0=sigma0,
        noise=noise,
        rho=rho,
    )


def paper_settings(model: str | None = None, experiment: str | None = None) -> list[dict]:
    """List the settings of the paper's simulation experiments.

    Each setting starts from the paper's defaults (smallest ``n`` of the
    model, true rank 5, 10 source directions, ``sigma0 = 0.01``, fitted rank 5,
    fitted structural rank 10) and changes the experiment's parameter:

    - ``exp1``: ``n`` over the model's grid (``PAPER_MODELS[model][2]``);
    - ``exp2``: the fitted intrinsic rank ``fit_rank`` in ``{1, 3, 5, 7, 9, 11}``;
    - ``exp3``: the fitted structural rank ``fit_structural_rank`` in
      ``{0, 3, 5, 7, 10, 15, 20}``;
    - ``exp4``: the source noise ``sigma0`` in ``{0, 0.01, 0.02, 0.05, 0.1, 0.5}``.

    Experiments 2 and 3 vary tuning parameters of the estimator, not the data:
    every setting of them generates with ``rank = 5`` and
    ``structural_rank = 10``. For experiment 2 this follows the authors'
    published code, which draws the data with its default true rank 5 and
    passes ``r`` only to the estimators (their figures label the axis "fitted
    rank"). It also resolves ``r = 11``: drawing a true rank 11 from 10 source
    directions is impossible, while fitting rank 11 is well defined (one
    direction must leave the 10-dimensional source subspace, which is what the
    sparsity penalty is there to handle). A benchmark that wants the truth's
    rank to vary instead can call :func:`simulate_transfer` with
    ``rank=r, structural_rank=max(10, r)``.

    Parameters
    ----------
    model : {"I", "II", "III"} or None, default=None
        Problem size; ``None`` for all three.
    experiment : {"exp1", "exp2", "exp3", "exp4"} or None, default=None
        Experiment; ``None`` for all four.

    Returns
    -------
    list of dict
        One dict per setting, in the paper's order, with keys ``model``,
        ``experiment``, ``value`` (the varied parameter's value), ``n``, ``p``,
        ``q``, ``rank`` and ``structural_rank`` (generating ranks), ``sigma0``,
        ``fit_rank`` and ``fit_structural_rank`` (ranks to give the
        estimator; the structural rank is tied, ``r_u = r_v``). Generate with
        ``simulate_transfer(s["n"], s["p"], s["q"], rank=s["rank"],
        structural_rank=s["structural_rank"], sigma0=s["sigma0"], ...)``.

    Examples
    --------
    >>> from smart_sc.datasets import paper_settings
    >>> [s["n"] for s in paper_settings("II", "exp1")]
    [300, 500, 700, 1000, 1200]
    >>> s = paper_settings("I", "exp2")[-1]
    >>> s["value"], s["fit_rank"], s["rank"], s["n"]
    (11, 11, 5, 200)
    >>> len(paper_settings())  # 3 models x (5 + 6 + 7 + 6) settings
    72
    """
    models = list(PAPER_MODELS) if model is None else [model]
    experiments = list(PAPER_EXPERIMENTS) if experiment is None else [experiment]
    for m in models:
        if m not in PAPER_MODELS:
            raise ValueError(f"model must be one of {list(PAPER_MODELS)} or None, got {m!r}")
    for e in experiments:
        if e not in PAPER_EXPERIMENTS:
            raise ValueError(
                f"experiment must be one of {list(PAPER_EXPERIMENTS)} or None, got {e!r}"
            )

    settings = []
    for m in models:
        p, q, n_grid = PAPER_MODELS[m]
        for e in experiments:
            spec = PAPER_EXPERIMENTS[e]
            values = n_grid if spec["values"] is None else spec["values"]
            for value in values:
                setting = {
                    "model": m,
                    "experiment": e,
                    "value": value,
                    "n": n_grid[0],
                    "p": p,
                    "q": q,
                    **_PAPER_DEFAULTS,
                }
                setting[spec["parameter"]] = value
                settings.append(setting)
    return settings


def estimation_error(coef_hat, coef_true) -> float:
    """Paper's estimation error ``||C_hat - C*||_F / sqrt(p q)``.

    This is the root mean squared entry error, so it is the same in either
    orientation (``p x q`` or scikit-learn's ``q x p``) provided both
    arguments use the same one.

    Parameters
    ----------
    coef_hat : array-like of shape (p, q) or (q, p)
        Estimated coefficients.
    coef_true : array-like of the same shape as ``coef_hat``
        True coefficients.

    Returns
    -------
    float
        The error. NaN if ``coef_hat`` contains NaN (a failed fit stays visible).

    Examples
    --------
    >>> import numpy as np
    >>> from smart_sc.datasets import estimation_error
    >>> estimation_error(np.ones((2, 3)), np.zeros((2, 3)))
    1.0
    >>> estimation_error(np.full((3, 2), 2.0), np.zeros((3, 2)))
    2.0
    """
    a = np.asarray(coef_hat, dtype=np.float64)
    b = np.asarray(coef_true, dtype=np.float64)
    if a.shape != b.shape:
        hint = ""
        if a.ndim == 2 and a.shape == b.shape[::-1]:
            hint = "; they look transposed: pass both as (p, q) or both as (q, p)"
        raise ValueError(f"coef_hat has shape {a.shape} but coef_true has shape {b.shape}{hint}")
    if a.size == 0:
        raise ValueError("coef_hat and coef_true are empty")
    return float(np.sqrt(np.mean((a - b) ** 2)))

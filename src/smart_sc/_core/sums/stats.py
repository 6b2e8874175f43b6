"""Sufficient statistics: the seam between cells and solvers.

Every estimator in smart_sc (SMART, its baselines, the tuning criteria) needs the
data only through ``X^T X``, ``X^T Y``, ``Y^T Y`` and the column sums. One pass
over the cells collects these per fold (:class:`RawSums`); training statistics
of any fold are the total minus that fold, so cross-validation never touches the
cells again and the solvers' cost does not depend on the number of cells.

Dense cells are read in blocks of rows and shifted by approximately their
column means before the products are formed (uncentred sums of large-mean
columns lose digits when centred afterwards). Sparse cells go through sparse
products instead (:mod:`.sparse`), never densified; the two agree to
round-off. :mod:`.passes` chooses between them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from functools import cached_property, singledispatch

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import KFold

from ..arrays import dense_copy
from ..threads import callers_threads

__all__ = [
    "DeferredStats",
    "DeferredSums",
    "RawSums",
    "SufficientStats",
    "TrainingMeans",
    "as_dense_targets",
    "block_rows",
    "cell_fold_sums",
    "default_shift",
    "held_out_sse",
    "keep_few_cells",
    "kfold_labels",
    "memory_fold_sums",
    "memory_sums",
    "rank_tolerance",
    "shifted_intercept",
]


@dataclass(frozen=True)
class RawSums:
    """Uncentred sums of a set of cells, about fixed shift vectors.

    All sums are of ``X - shift_x`` and ``Y - shift_y``; the shifts are shared by
    every fold of one pass, so sums of different folds can be added and
    subtracted.
    """

    n: int
    sx: np.ndarray  # (p,)
    sy: np.ndarray  # (q,)
    sxx: np.ndarray  # (p, p)
    sxy: np.ndarray  # (p, q)
    syy: np.ndarray  # (q, q)
    shift_x: np.ndarray  # (p,)
    shift_y: np.ndarray  # (q,)
    #: The cells themselves (``X - shift_x``, dense) when they are fewer than half
    #: the genes: a product with ``sxx`` then goes through them (:meth:`sxx_times`).
    #: Sums of several sets (``+``, ``-``) do not keep them.
    cells: np.ndarray | None = field(default=None, repr=False, compare=False)

    def sxx_times(self, M: np.ndarray) -> np.ndarray:
        """``sxx @ M``, through the cells when they are held (``4 n p k`` flops, not ``2 p^2 k``).

        A fold of 30 cells at 2,000 genes: a sixtieth of the work. The same
        product up to round-off (``sxx`` is the sum of the same cells' outer
        products).
        """
        if self.cells is None:
            return self.sxx @ M
        return self.cells.T @ (self.cells @ M)

    def __add__(self, other: RawSums) -> RawSums:
        return RawSums(
            self.n + other.n,
            self.sx + other.sx,
            self.sy + other.sy,
            self.sxx + other.sxx,
            self.sxy + other.sxy,
            self.syy + other.syy,
            self.shift_x,
            self.shift_y,
        )

    def __sub__(self, other: RawSums) -> RawSums:
        return RawSums(
            self.n - other.n,
            self.sx - other.sx,
            self.sy - other.sy,
            self.sxx - other.sxx,
            self.sxy - other.sxy,
            self.syy - other.syy,
            self.shift_x,
            self.shift_y,
        )

    def to_stats(self, center: bool) -> SufficientStats:
        """Per-cell second moments, centred on these cells' means if ``center``."""
        if self.n <= 0:
            raise ValueError(f"cannot form statistics from {self.n} cells")
        light = _light_stats(self, center)
        # In place: at thousands of genes each pass over a p x p array costs
        # more than the small-target fit's arithmetic (same values, same bits).
        xx = self.sxx / self.n
        if center:
            mx = self.sx / self.n
            xx -= np.outer(mx, mx)
        # Symmetrise: subtraction of outer products leaves rounding asymmetry that
        # eigh would silently ignore but the Stiefel steps would not.
        xx += xx.T  # numpy buffers the overlapping transpose: 0.5 (xx + xx.T), bit for bit
        xx *= 0.5
        return replace(light, xx=xx)


def rank_tolerance(top_eigenvalue: float, p: int) -> float:
    """Eigenvalues of a ``p x p`` Gram matrix at or below this are round-off.

    LAPACK's usual relative tolerance, ``p eps`` times the largest eigenvalue;
    the one rule for the numerical rank of a design everywhere in smart_sc.
    """
    return max(float(top_eigenvalue), 0.0) * p * np.finfo(np.float64).eps


@dataclass(frozen=True)
class SufficientStats:
    """Second moments per cell of one training set.

    ``xx = X^T X / n``, ``xy = X^T Y / n``, ``yy = Y^T Y / n``, all centred on the
    training means when ``centered`` (then the least-squares intercept is
    ``y_mean - x_mean @ C`` for any coefficient matrix ``C``).
    """

    n: int
    xx: np.ndarray
    xy: np.ndarray
    yy: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    centered: bool

    @cached_property
    def xx_spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        """The design's eigenpairs above its rank tolerance: ``(values, vectors)``.

        Eigenvalues ascending, eigenvectors ``p x m`` with ``m`` the numerical
        rank (:attr:`design_rank`): what ridge GCV, RSC's projection, the
        step-size bound and the low-rank products of the solver need. The
        eigenvalues below the tolerance are round-off and carry nothing any of
        them uses. Computed once per set of statistics, from ``xx`` (``p^3``)
        unless :meth:`with_spectrum` supplied it from the cells (``n^2 p``,
        far cheaper with fewer cells than genes).
        """
        with callers_threads(self.xx.nbytes):  # p^3: worth both cores at thousands of genes
            evals, evecs = np.linalg.eigh(self.xx)
        keep = evals > rank_tolerance(evals.max(initial=0.0), self.n_features)
        return evals[keep], evecs[:, keep]

    def with_spectrum(self, evals: np.ndarray, evecs: np.ndarray) -> SufficientStats:
        """These statistics with :attr:`xx_spectrum` given (e.g. from the cells' SVD)."""
        keep = evals > rank_tolerance(evals.max(initial=0.0), self.n_features)
        order = np.argsort(evals[keep], kind="stable")
        out = copy.copy(self)  # not replace(): that would compute a deferred xx
        # cached_property stores its value in the instance dict; seeding it
        # there is how the cache is meant to be filled from outside.
        out.__dict__["xx_spectrum"] = (evals[keep][order], evecs[:, keep][:, order])
        return out

    @property
    def design_rank(self) -> int:
        """Numerical rank of ``xx``: eigenvalues above :func:`rank_tolerance`."""
        return int(self.xx_spectrum[0].size)

    def xx_times(self, M: np.ndarray) -> np.ndarray:
        """``xx @ M`` (:class:`DeferredStats` makes it through the cells)."""
        return self.xx @ M

    @property
    def n_features(self) -> int:
        return self.xy.shape[0]

    @property
    def n_targets(self) -> int:
        return self.xy.shape[1]

    def mse_per_target(self, coef: np.ndarray) -> np.ndarray:
        """Training mean squared error of each response for ``coef`` (p x q).

        Uses ``||y_j - X c_j||^2 / n = yy_jj - 2 c_j^T xy_j + c_j^T xx c_j``.
        """
        fit = np.einsum("ij,ij->j", coef, self.xx_times(coef))
        cross = np.einsum("ij,ij->j", coef, self.xy)
        return np.maximum(np.diag(self.yy) - 2.0 * cross + fit, 0.0)

    def rss(self, coef: np.ndarray) -> float:
        """Training residual sum of squares ``||Y - X C||_F^2`` (not divided by n)."""
        return float(self.n * self.mse_per_target(coef).sum())

    def intercept(self, coef: np.ndarray) -> np.ndarray:
        """Least-squares intercept for ``coef`` (zeros when not centred)."""
        if not self.centered:
            return np.zeros(coef.shape[1])
        return self.y_mean - self.x_mean @ coef


def _deferred(cls, gram_name: str, values: dict, make_gram):
    """An instance of ``cls`` whose ``p x p`` field ``gram_name`` is computed on first use.

    The other fields are set directly; the class's cached property of that
    name calls ``make_gram`` when something reads it (nothing in the
    few-cells route does).
    """
    out = object.__new__(cls)
    for f in fields(cls):
        if f.name != gram_name:
            object.__setattr__(out, f.name, values[f.name])
    object.__setattr__(out, "_make_gram", make_gram)
    return out


class DeferredSums(RawSums):
    """:class:`RawSums` of a few cells held as such: ``sxx`` only formed if read.

    With fewer cells than half the genes, everything the SMART fit needs of
    ``sxx`` goes through the cells (:meth:`RawSums.sxx_times`, and the
    spectrum from their SVD, :mod:`.spectrum`); the ``p x p`` sums and their
    centring were most of a small target's set-up (at 2,000 genes, 2 s of 7).
    Reading ``sxx`` forms it. Every other sum is computed exactly as
    :func:`compute_sums`, ``+``, ``-`` and :meth:`RawSums.to_stats` compute
    it, bit for bit: ridge GCV on a design with no residual degrees of freedom
    divides by ``(1 - df / n)^2 ~ 1e-12`` and turns a last-bit change of
    ``S_xy`` into another penalty for some responses, and RSC's rank with it.
    """

    @cached_property
    def sxx(self) -> np.ndarray:
        """:attr:`RawSums.sxx`, formed on first read."""
        return self._make_gram()

    @classmethod
    def make(cls, values: dict, make_gram, cells: np.ndarray | None) -> DeferredSums:
        """From the fields other than ``sxx``, a function forming it, and the (shifted) cells."""
        return _deferred(cls, "sxx", {**values, "cells": cells}, make_gram)

    @classmethod
    def from_cells(cls, cells: np.ndarray, y: np.ndarray, shift_x: np.ndarray,
                   shift_y: np.ndarray) -> DeferredSums:
        """The sums of shifted dense ``cells`` (``X - shift_x``) and ``y`` (``Y - shift_y``).

        Block by block in :func:`_cross_products`'s order, so the same bits.
        """
        p, q = cells.shape[1], y.shape[1]
        sx, sy, sxy, syy = np.zeros(p), np.zeros(q), np.zeros((p, q)), np.zeros((q, q))
        rows = block_rows(p)
        for start in range(0, cells.shape[0], rows):
            block, yb = cells[start:start + rows], y[start:start + rows]
            sx += block.sum(axis=0)
            sy += yb.sum(axis=0)
            sxy += block.T @ yb
            syy += yb.T @ yb
        values = dict(n=cells.shape[0], sx=sx, sy=sy, sxy=sxy, syy=syy, shift_x=shift_x,
                      shift_y=shift_y)
        return cls.make(values, lambda: cells.T @ cells, cells)

    def _combine(self, other: RawSums, sign: int) -> DeferredSums:
        light = (RawSums.__add__ if sign > 0 else RawSums.__sub__)(
            _light(self), _light(other))
        values = {f.name: getattr(light, f.name) for f in fields(RawSums)
                  if f.name not in ("sxx", "cells")}
        return DeferredSums.make(values, lambda: self.sxx + sign * other.sxx, None)

    def __add__(self, other: RawSums) -> DeferredSums:
        return self._combine(other, 1)

    def __sub__(self, other: RawSums) -> DeferredSums:
        return self._combine(other, -1)

    def to_stats(self, center: bool) -> SufficientStats:
        """:meth:`RawSums.to_stats` with ``xx`` deferred too (:class:`DeferredStats`)."""

        def make_xx():
            return RawSums.to_stats(self, center).xx

        stats = _light_stats(_light(self), center)
        values = {f.name: getattr(stats, f.name) for f in fields(SufficientStats)
                  if f.name != "xx"}
        out = _deferred(DeferredStats, "xx", values, make_xx)
        cells = self.cells
        if cells is not None and center:
            cells = cells - self.sx / self.n
        object.__setattr__(out, "_centred_cells", cells)
        return out


def _light(sums: RawSums) -> RawSums:
    """``sums`` with an empty placeholder for ``sxx`` (for arithmetic on the rest)."""
    return RawSums(sums.n, sums.sx, sums.sy, np.zeros((0, 0)), sums.sxy, sums.syy,
                   sums.shift_x, sums.shift_y)


class DeferredStats(SufficientStats):
    """:class:`SufficientStats` of a few cells: ``xx`` only formed if read.

    Products with ``xx`` go through the centred cells (:meth:`xx_times`).
    """

    @cached_property
    def xx(self) -> np.ndarray:
        """:attr:`SufficientStats.xx`, formed on first read."""
        return self._make_gram()

    def xx_times(self, M: np.ndarray) -> np.ndarray:
        cells = self._centred_cells
        if cells is None:
            return self.xx @ M
        return cells.T @ (cells @ M) / self.n


def _light_stats(sums: RawSums, center: bool) -> SufficientStats:
    """:meth:`RawSums.to_stats` without the ``p x p`` part (``xx`` is ``sums.sxx`` as is).

    The one computation of the means, ``xy`` and ``yy`` for both kinds of sums.
    """
    n = sums.n
    if center:
        mx, my = sums.sx / n, sums.sy / n
        xy = sums.sxy / n - np.outer(mx, my)
        yy = sums.syy / n - np.outer(my, my)
        x_mean, y_mean = mx + sums.shift_x, my + sums.shift_y
    else:
        if np.any(sums.shift_x) or np.any(sums.shift_y):
            raise ValueError("uncentred statistics need unshifted sums")
        xy, yy = sums.sxy / n, sums.syy / n
        x_mean, y_mean = np.zeros_like(sums.sx), np.zeros_like(sums.sy)
    yy = 0.5 * (yy + yy.T)
    return SufficientStats(n=n, xx=sums.sxx, xy=xy, yy=yy, x_mean=x_mean, y_mean=y_mean,
                           centered=center)


def cell_fold_sums(X, Y, folds: np.ndarray, n_folds: int, *, center: bool
                   ) -> tuple[list[DeferredSums], list[DeferredSums], DeferredSums]:
    """:func:`.passes.fold_sums` for few cells, deferred: ``(held out, training, all)`` per fold.

    The held-out sums are :func:`.passes.fold_sums`'s, the total their sum and each
    training set's the total minus its fold, all computed as there (the same
    bits) except for ``sxx``, which is never formed unless read.
    """
    Yd = as_dense_targets(Y)
    shift_x, shift_y = _fold_shift(X, Yd, center)
    held = []
    for k in range(n_folds):
        idx = np.flatnonzero(folds == k)
        cells = dense_copy(X[idx])
        cells -= shift_x
        held.append(DeferredSums.from_cells(cells, Yd[idx] - shift_y, shift_x, shift_y))
    summed = total(held)
    train = [summed - h for h in held]
    # The total keeps the cells (fold by fold, in cell order) for its products.
    everything = np.empty((X.shape[0], X.shape[1]))
    everything[np.argsort(folds, kind="stable")] = np.vstack([h.cells for h in held])
    values = {f.name: getattr(summed, f.name) for f in fields(RawSums)
              if f.name not in ("sxx", "cells")}
    tot = DeferredSums.make(values, lambda: summed.sxx, everything)
    return held, train, tot


def as_dense_targets(Y) -> np.ndarray:
    """Return the responses as a dense 2-D float array (one column for a 1-D ``y``)."""
    # Responses (proteins) are few; a dense copy is cheap and keeps every
    # product below sparse @ dense.
    if sp.issparse(Y):
        Y = Y.toarray()
    Y = np.asarray(Y, dtype=np.float64)
    return np.ascontiguousarray(Y[:, None] if Y.ndim == 1 else Y)


#: Entries of a block of dense cells (bounded memory per block; the same
#: blocks in memory and through dask give the same bits). Its first block also
#: gives the shift of every storage.
_BLOCK_ENTRIES = 4_000_000


@singledispatch
def _row_blocks(X, rows: int):
    """Yield consecutive dense float64 blocks of rows of ``X``."""
    raise TypeError(
        f"unsupported input type {type(X).__name__}; expected a numpy array or a "
        "scipy sparse matrix"
    )


@_row_blocks.register
def _(X: np.ndarray, rows: int):
    for start in range(0, X.shape[0], rows):
        # C order always: BLAS sums in an order set by the memory layout, and the
        # same values must give the same bits whatever layout they arrive in.
        yield np.array(X[start:start + rows], dtype=np.float64, order="C")


def _sparse_row_blocks(X, rows: int):
    X = X.tocsr()
    for start in range(0, X.shape[0], rows):
        yield np.asarray(X[start:start + rows].toarray(order="C"), dtype=np.float64)


for _sparse_type in (sp.spmatrix, sp.sparray):
    _row_blocks.register(_sparse_type)(_sparse_row_blocks)


def block_rows(p: int) -> int:
    """Cells per block of the one pass for ``p`` features (bounded memory per block)."""
    return max(1, _BLOCK_ENTRIES // max(p, 1))


def _cross_products(X, Y: np.ndarray, shift_x: np.ndarray):
    """Return ``(sum x, sum y, X^T X, X^T Y, Y^T Y)`` of ``X - shift_x`` and ``Y``.

    Block by block, every sum accumulated in block order: a dask array cut
    into the same blocks gives the same bits (:mod:`.chunked`).
    """
    p, q = X.shape[1], Y.shape[1]
    sx, sy = np.zeros(p), np.zeros(q)
    sxx, sxy, syy = np.zeros((p, p)), np.zeros((p, q)), np.zeros((q, q))
    rows = block_rows(p)
    for start, block in zip(range(0, X.shape[0], rows), _row_blocks(X, rows), strict=True):
        block -= shift_x
        y = Y[start:start + rows]
        sx += block.sum(axis=0)
        sy += y.sum(axis=0)
        sxx += block.T @ block
        sxy += block.T @ y
        syy += y.T @ y
    return sx, sy, sxx, sxy, syy


def _fold_shift(X, Yd: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray]:
    # Without centring the sums are not shifted: the uncentred model has no
    # intercept, so shifting would change it.
    if center:
        return default_shift(X, Yd)
    return np.zeros(X.shape[1]), np.zeros(Yd.shape[1])


def default_shift(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """Column means of the first block of cells: a shift that keeps digits.

    Uncentred sums of columns with large means lose precision when centred
    afterwards; shifting by (approximately) the mean first avoids it. The first
    block is read the same way for every storage, so dense and sparse inputs
    get the same shift.
    """
    Yd = as_dense_targets(Y)
    first = next(iter(_row_blocks(X, block_rows(X.shape[1]))))
    return first.mean(axis=0), Yd[: first.shape[0]].mean(axis=0)


def memory_sums(X, Y, shift_x=None, shift_y=None) -> RawSums:
    """One pass over the cells of in-memory ``X`` (n x p) and ``Y`` (n x q)."""
    Yd = as_dense_targets(Y)
    if shift_x is None or shift_y is None:
        shift_x, shift_y = default_shift(X, Yd)
    sx, sy, sxx, sxy, syy = _cross_products(X, Yd - shift_y, shift_x)
    return RawSums(
        n=X.shape[0],
        sx=np.asarray(sx, dtype=np.float64).ravel(),
        sy=sy,
        sxx=np.asarray(sxx, dtype=np.float64),
        sxy=np.asarray(sxy, dtype=np.float64),
        syy=syy,
        shift_x=np.asarray(shift_x, dtype=np.float64),
        shift_y=np.asarray(shift_y, dtype=np.float64),
    )


def kfold_labels(n: int, n_folds: int, random_state) -> np.ndarray:
    """Fold of each of ``n`` cells under shuffled K-fold (scikit-learn's ``KFold``)."""
    labels = np.empty(n, dtype=np.intp)
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for k, (_, test) in enumerate(splitter.split(np.empty((n, 1)))):
        labels[test] = k
    return labels


def memory_fold_sums(X, Y, folds: np.ndarray, n_folds: int, *, center: bool
                     ) -> list[RawSums]:
    """Sums per fold of in-memory ``X`` and ``Y``; ``folds[i]`` is cell ``i``'s fold.

    Without centring the sums are not shifted (the uncentred model has no
    intercept, so shifting would change it).
    """
    Yd = as_dense_targets(Y)
    shift_x, shift_y = _fold_shift(X, Yd, center)
    out = []
    for k in range(n_folds):
        idx = np.flatnonzero(folds == k)
        out.append(memory_sums(X[idx], Yd[idx], shift_x, shift_y))
    return keep_few_cells(out, X, folds)


def keep_few_cells(sums: list[RawSums], X, folds: np.ndarray) -> list[RawSums]:
    """``sums`` (one per fold of in-memory ``X``) holding the cells of every small fold.

    A fold with fewer cells than half the genes (a small target) has its
    held-out products go through its cells (``X - shift_x``, dense), which
    take less memory than its ``sxx``.
    """
    out = []
    for k, s in enumerate(sums):
        idx = np.flatnonzero(folds == k)
        if 2 * idx.size < X.shape[1]:
            cells = dense_copy(X[idx])
            cells -= s.shift_x
            s = replace(s, cells=cells)
        out.append(s)
    return out


def total(sums: list[RawSums]) -> RawSums:
    """Sum of a list of :class:`RawSums` sharing one shift."""
    acc = sums[0]
    for s in sums[1:]:
        acc = acc + s
    return acc


@dataclass(frozen=True)
class TrainingMeans:
    """What a held-out error reads of the training statistics: the means.

    A fold keeps these instead of its :class:`SufficientStats` once its
    rotated problem and ridge start are made: the ``p x p`` matrices are read
    no more (32 MB per fold at 2,000 genes).
    """

    n: int
    x_mean: np.ndarray
    y_mean: np.ndarray
    centered: bool

    @classmethod
    def of(cls, stats: SufficientStats) -> TrainingMeans:
        """The means of ``stats``."""
        return cls(stats.n, stats.x_mean, stats.y_mean, stats.centered)


def shifted_intercept(held_out: RawSums, train: SufficientStats | TrainingMeans,
                      left: np.ndarray, right: np.ndarray | None = None,
                      targets=None) -> np.ndarray:
    """Training intercept of ``C = left @ right.T`` in the shifted coordinates of ``held_out``.

    ``(y_mean - shift_y) - (x_mean - shift_x) C`` per response (zeros when the
    training statistics are not centred); ``right=None`` means ``C = left``.
    With ``targets``, ``C`` holds the columns (or ``right`` the rows) of those
    responses only.
    """
    n_targets = left.shape[1] if right is None else right.shape[0]
    if not train.centered:
        return np.zeros(n_targets)
    t = slice(None) if targets is None else np.asarray(targets)
    x_left = (train.x_mean - held_out.shift_x) @ left
    return (train.y_mean[t] - held_out.shift_y[t]) - (x_left if right is None
                                                      else right @ x_left)


def held_out_sse(held_out: RawSums, train: SufficientStats | TrainingMeans,
                 left: np.ndarray, right: np.ndarray | None = None,
                 targets=None) -> np.ndarray:
    """Per response ``||y_val - X_val c - b||^2`` on held-out cells, from their sums.

    The coefficients are ``C = left @ right.T`` (``right=None``: ``C = left``,
    ``p x q``); ``b`` is their training intercept (:func:`shifted_intercept`).
    A factored ``C`` (``L diag(d) R^T`` as ``left = L * d``, or ``B A^T``) is
    never formed: the quadratic term needs ``left^T S_xx left`` (``p^2 r``)
    instead of ``S_xx C`` (``p^2 q``). With ``targets``, ``C`` holds the
    columns of those responses only.
    """
    t = slice(None) if targets is None else np.asarray(targets)
    sxx_left = held_out.sxx_times(left)
    if right is None:
        cross = np.einsum("ij,ij->j", left, held_out.sxy[:, t])
        quad = np.einsum("ij,ij->j", left, sxx_left)
        x_c = left.T @ held_out.sx
    else:
        cross = np.einsum("jk,kj->j", right, left.T @ held_out.sxy[:, t])
        quad = np.einsum("jk,kl,jl->j", right, left.T @ sxx_left, right)
        x_c = right @ (left.T @ held_out.sx)
    b = shifted_intercept(held_out, train, left, right, targets)
    sse = (np.diag(held_out.syy)[t] - 2.0 * cross + quad
           - 2.0 * b * (held_out.sy[t] - x_c) + held_out.n * b * b)
    return np.maximum(sse, 0.0)

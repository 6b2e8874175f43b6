"""A small, seeded toy CITE-seq data set with a known RNA-to-protein map.

The data mimic the SMART paper's single-cell case study (its Section 6: NK
cells as the source, ILC1 as the target) at toy size, with the paper's
simulation design (its Section 5) as the truth: on standardised latent
expression of some informative genes, each cell type's protein log-abundances
follow a linear model, and the two coefficient matrices share singular
subspaces in SMART's sense while differing in rank, singular values and the
pairing of left and right directions. What a test sees are counts (RNA and
ADT), so the usual preprocessing (``normalize_total``, ``log1p``, ``scale``;
CLR) is needed to recover the map.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._core.randomness import as_seed, check_random_state
from ._simulation import check_int

__all__ = ["toy_citeseq"]

#: Real surface markers of CITE-seq panels, NK/ILC-relevant ones first; the
#: first ``n_proteins`` are used (generic ``ADT###`` names beyond the list).
_PROTEIN_NAMES: tuple[str, ...] = (
    "CD3", "CD56", "CD16", "CD94", "CD161", "CD127", "CD335", "CD314", "CD57", "CD2",
    "CD7", "CD49a", "CD103", "CD69", "CD45RA", "CD8a", "CD4", "CD14", "CD19", "CD11c",
    "CD11b", "CD25", "CD27", "CD28", "CD38", "CD122", "CD159a", "CD244", "CD62L", "CD197",
    "CD45RO", "CD5", "CD44", "CD49d", "CD34", "CD71", "CD79b", "CD86", "CD123", "CD141",
    "CD1c", "CD20", "CD24", "CD26", "CD36", "CD39", "CD40", "CD48", "CD52", "CD64",
    "CD81", "CD99", "CD117", "HLA-DR", "TIGIT", "KLRG1",
)  # fmt: skip

_SOURCE_TYPE = "NK"
_TARGET_TYPE = "ILC1"
_BATCHES = ("s1d1", "s1d2", "s2d1")

# Generator constants (documented in toy_citeseq's Notes).
_N_PROGRAMS = 5  # shared gene programs (correlated genes)
_PROGRAM_SD = 0.25  # loading sd of a gene on a program
_GENE_SD = 0.5  # gene-specific latent sd
_SHIFTED_FRACTION = 0.1  # genes whose mean differs between the two types
_RNA_DEPTH = 5000.0  # median RNA library size
_ADT_BASE = 80.0  # median specific ADT counts of a protein
_AMBIENT_FRACTION = 0.05  # ambient ADT counts relative to the protein's base
_INFORMATIVE_MEAN = 2.5  # baseline log-expression of informative genes
_SIGNAL = 1.0  # source signal variance per protein (identity design)
_SOURCE_VALUES = (1.0, 10.0)  # source singular values: c * linspace(*_SOURCE_VALUES, s)
_TARGET_VALUES = (5.0, 10.0)  # target singular values: c * linspace(*_TARGET_VALUES, rank)


def _frame(rng: np.random.Generator, dim: int, cols: int, *, centred: bool = False):
    """Haar-distributed orthonormal ``dim x cols`` frame (sign-fixed QR).

    ``centred`` draws it in the complement of the all-ones vector, so every
    column sums to zero.
    """
    G = rng.standard_normal((dim, cols))
    if centred:
        G -= G.mean(axis=0)
    Q, R = np.linalg.qr(G)
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _names(prefix: str, n: int, start: int) -> list[str]:
    width = max(4, len(str(n - 1 + start)))
    return [f"{prefix}{i:0{width}d}" for i in range(start, n + start)]


def _protein_names(n: int) -> list[str]:
    names = list(_PROTEIN_NAMES[:n])
    names += [f"ADT{i:03d}" for i in range(len(names) + 1, n + 1)]
    return names


def toy_citeseq(
    n_source: int = 600,
    n_target: int = 150,
    n_genes: int = 300,
    n_proteins: int = 20,
    rank: int = 4,
    structural_rank: int = 8,
    n_informative_genes: int = 60,
    random_state: int | np.random.RandomState | np.random.Generator | None = 0,
    *,
    noise: float = 0.3,
) -> md.MuData:
    """Simulate a small CITE-seq data set with a source and a target cell type.

    ``n_source`` cells of a large type (``"NK"``) and ``n_target`` cells of a
    small related type (``"ILC1"``), with RNA and ADT (protein) counts. On the
    standardised latent log-expression ``X`` of ``n_informative_genes`` genes,
    the protein log-abundances of each type follow a linear model
    ``A = X C^T + b + noise * E`` whose coefficients share singular subspaces
    as SMART assumes (the paper's simulation design, its Section 5):

    * source: ``C_src = V0 D0 U0^T`` (scikit-learn orientation, proteins x
      genes) with ``s = structural_rank`` orthonormal directions on each side,
      ``D0 = c * linspace(1, 10, s)``;
    * target: ``rank`` of the ``s`` gene directions and, drawn independently,
      ``rank`` of the ``s`` protein directions, ``D* = c * linspace(5, 10, rank)``;
      so ``C_tgt`` lies in the source's singular subspaces but has another
      rank, other singular values and another pairing of directions, and is
      far from ``C_src`` entrywise.

    ``c`` sets the source's signal variance to 1 per protein (for an identity
    design covariance; the target's is then about 0.8 at the defaults). The
    protein directions sum to zero, so the CLR transform (which removes each
    cell's mean over proteins) keeps them.

    Parameters
    ----------
    n_source : int, default=600
        Number of source cells (``"NK"``), at least 2.
    n_target : int, default=150
        Number of target cells (``"ILC1"``), at least 2.
    n_genes : int, default=300
        Number of genes, at least ``n_informative_genes``.
    n_proteins : int, default=20
        Number of proteins, at least ``structural_rank + 1``. The first 56 get
        real marker names, further ones ``ADT057``, ``ADT058``, ...
    rank : int, default=4
        Rank of the target's coefficient matrix, ``1 <= rank <= structural_rank``.
    structural_rank : int, default=8
        Rank ``s`` of the source's coefficient matrix, at most
        ``n_informative_genes`` and ``n_proteins - 1``.
    n_informative_genes : int, default=60
        Number of genes that drive the proteins, ``1 <= . <= n_genes``.
    random_state : int, numpy Generator or None, default=0
        Seed (an int gives identical data bit for bit on every call), a
        numpy ``Generator`` (advanced in place), a numpy ``RandomState`` or
        ``None`` (each seeds the data from one draw; ``None`` draws from
        numpy's global ``RandomState``, scikit-learn's convention).
    noise : float, default=0.3
        Standard deviation of the protein log-abundance noise, ``>= 0``.

    Returns
    -------
    mudata.MuData
        Cells ``cell_0000``, ``cell_0001``, ... (source cells first), shared by
        both modalities, with:

        - ``obs["cell_type"]``: categorical, ``"NK"`` (source) or ``"ILC1"``
          (target); ``obs["batch"]``: categorical, ``"s1d1"``, ``"s1d2"`` or
          ``"s2d1"`` (each cell at random; batches differ in sequencing depth
          only). Both columns are in ``mdata.obs`` and in each modality's ``obs``.
        - ``mdata["rna"]``: ``.X`` raw counts as a ``scipy.sparse.csr_matrix``
          of integer-valued float32, ``layers["counts"]`` a copy;
          ``var_names`` ``GENE0001``, ...; ``var["feature_types"] = "GEX"``.
        - ``mdata["prot"]``: ``.X`` ADT counts, dense integer-valued float32,
          ``layers["counts"]`` a copy; ``var_names`` marker names (``CD3``,
          ``CD56``, ...); ``var["feature_types"] = "ADT"``.
        - ``mdata.var["feature_types"]``: the same, for all features.
        - ``mdata.uns["toy_citeseq"]``: the ground truth, as a dict of
          h5-writable values (numpy arrays, lists of str, ints, floats, str):

          ``informative_genes``
              list of str, the ``p`` informative genes in the column order of
              the coefficient matrices.
          ``source_coef``, ``target_coef``
              arrays of shape ``(n_proteins, p)`` (scikit-learn orientation,
              comparable with a fitted ``coef_``): ``C_src`` and ``C_tgt``.
          ``source_intercept``, ``target_intercept``
              arrays of shape ``(n_proteins,)``: ``b`` per type (log scale,
              including the protein's base abundance).
          ``source_U``, ``source_V``
              arrays ``(p, s)`` and ``(n_proteins, s)``: the source's gene and
              protein singular vectors (orthonormal columns; those of
              ``source_V`` sum to zero).
          ``source_singular_values``, ``target_singular_values``
              arrays ``(s,)`` and ``(rank,)``, paired with the columns of
              ``source_U``/``source_V`` (resp. ``u_columns``/``v_columns``)
              in order; ascending, as in the paper, not sorted like an SVD.
          ``u_columns``, ``v_columns``
              int arrays ``(rank,)``: the source columns the target uses on
              the gene and the protein side.
          ``latent_mean``, ``latent_sd``
              arrays ``(p,)``: the standardisation of the latent
              log-expression (``latent_mean`` for the source type; the target
              type's mean differs by ``target_shift``).
          ``target_shift``
              array ``(p,)``: the target type's latent mean shift.
          ``rank``, ``structural_rank``
              int.
          ``noise``
              float.
          ``source_type``, ``target_type``
              str, ``"NK"`` and ``"ILC1"``.
          ``random_state``
              int, the seed; ``-1`` when the call was not seeded by an int.

    Notes
    -----
    The generator, in this order from one stream:

    1. Genes: ``p`` informative genes at random, baseline log-expression
       ``N(2.5, 0.5^2)`` (well expressed) for them and ``N(-0.5, 1)`` for the
       others; a latent mean shift ``N(0, 1)`` for the target type on a random
       10 % of the genes; loadings ``N(0, 0.25^2)`` on 5 shared gene programs.
    2. Truth: the frames and singular values above; protein base
       log-abundance ``log 80 + N(0, 0.5^2)``, a type offset ``N(0, 0.5^2)``
       for the source and that plus ``N(0, 0.5^2)`` for the target; ambient ADT
       level 5 % of the base, times ``exp(N(0, 0.3^2))``.
    3. Cells: type, batch, program scores ``F`` and gene noise; latent
       log-expression ``L = baseline + shift + F W^T + 0.5 N(0, 1)``;
       ``X = (L_informative - mean) / sd`` with the population mean and sd of
       the cell's type (so ``X`` has unit variance and correlated columns);
       ``A = X C^T + b + noise * E``.
    4. Counts: RNA ``Poisson(depth * softmax(L))`` with depth log-normal
       around 5,000 (times a batch factor); ADT ``Poisson(depth * (ambient +
       exp(A)))`` with a log-normal per-cell depth (times a batch factor).

    A model fitted on observed data estimates the truth only approximately:
    counting noise attenuates the RNA side, and the ambient ADT background
    compresses low protein levels after CLR.

    Examples
    --------
    >>> from smart_sc.datasets import toy_citeseq
    >>> mdata = toy_citeseq(random_state=0)
    >>> mdata.n_obs, mdata["rna"].n_vars, mdata["prot"].n_vars
    (750, 300, 20)
    >>> mdata.obs["cell_type"].value_counts().to_dict()
    {'NK': 600, 'ILC1': 150}
    >>> truth = mdata.uns["toy_citeseq"]
    >>> truth["source_coef"].shape, len(truth["informative_genes"])
    ((20, 60), 60)
    >>> import numpy as np
    >>> int(np.linalg.matrix_rank(truth["target_coef"]))
    4
    """
    n_source = check_int(n_source, "n_source", low=2)
    n_target = check_int(n_target, "n_target", low=2)
    n_genes = check_int(n_genes, "n_genes", low=1)
    q = check_int(n_proteins, "n_proteins", low=2)
    p = check_int(n_informative_genes, "n_informative_genes", low=1, high=n_genes)
    s = check_int(
        structural_rank,
        "structural_rank",
        low=1,
        high=min(p, q - 1),
        hint=(
            f" (the source needs structural_rank orthonormal directions among "
            f"n_informative_genes={p} genes and, summing to zero, among "
            f"n_proteins={q} proteins)"
        ),
    )
    r = check_int(rank, "rank", low=1, high=s, hint=f" (rank <= structural_rank={s})")
    noise = _check_noise(noise)
    seed = _seed_of(random_state)
    rng = _as_generator(random_state)
    # One stream, drawn in the order the Notes give.
    genes = _draw_genes(rng, n_genes, p)
    truth = _draw_truth(rng, p, q, s, r)
    cells = _draw_cells(rng, n_source, n_target, genes, truth, noise)
    rna_counts, adt_counts = _draw_counts(rng, cells)
    mdata = _as_mudata(rna_counts, adt_counts, cells)
    truth.update(
        informative_genes=[str(mdata["rna"].var_names[j]) for j in genes.informative],
        latent_mean=genes.baseline[genes.informative],
        latent_sd=genes.latent_sd,
        target_shift=genes.shift[genes.informative],
        rank=r, structural_rank=s, noise=noise, source_type=_SOURCE_TYPE,
        target_type=_TARGET_TYPE, random_state=seed,
    )
    del truth["ambient"]
    mdata.uns["toy_citeseq"] = truth
    return mdata


def _check_noise(noise) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise ValueError(f"noise must be a real number, got {noise!r}")
    noise = float(noise)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0, got {noise}")
    return noise


def _seed_of(random_state) -> int:
    """Return the int seed recorded in the truth (``-1`` when not seeded by an int)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if not isinstance(random_state, np.random.Generator):
        check_random_state(random_state)  # raises, naming the rule, on anything else
    return -1


def _as_generator(random_state) -> np.random.Generator:
    # A Generator draws the data as is; an int seeds one (the recorded data sets);
    # None or a RandomState give a seed by the package's rule.
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(as_seed(random_state))


@dataclass
class _Genes:
    informative: np.ndarray  # positions of the p informative genes
    baseline: np.ndarray  # baseline log-expression per gene
    shift: np.ndarray  # the target type's latent mean shift per gene
    loadings: np.ndarray  # genes x programs
    latent_sd: np.ndarray  # sd of the informative genes' latent log-expression


def _draw_genes(rng: np.random.Generator, n_genes: int, p: int) -> _Genes:
    """Step 1 of the Notes: informative genes, baselines, the target's shift, programs."""
    informative = np.sort(rng.choice(n_genes, size=p, replace=False))
    baseline = rng.normal(-0.5, 1.0, n_genes)
    baseline[informative] = rng.normal(_INFORMATIVE_MEAN, 0.5, p)
    shift = rng.normal(0.0, 1.0, n_genes) * (rng.random(n_genes) < _SHIFTED_FRACTION)
    W = rng.normal(0.0, _PROGRAM_SD, (n_genes, _N_PROGRAMS))
    latent_sd = np.sqrt((W[informative] ** 2).sum(axis=1) + _GENE_SD**2)
    return _Genes(informative, baseline, shift, W, latent_sd)


def _draw_truth(rng: np.random.Generator, p: int, q: int, s: int, r: int) -> dict:
    """Step 2: the paper's design (the target picks source directions, new values)."""
    U0 = _frame(rng, p, s)
    V0 = _frame(rng, q, s, centred=True)
    base_values = np.linspace(*_SOURCE_VALUES, s)
    c = np.sqrt(_SIGNAL * q / np.sum(base_values**2))
    D0 = c * base_values
    u_columns = rng.permutation(s)[:r]
    v_columns = rng.permutation(s)[:r]
    D_star = c * np.linspace(*_TARGET_VALUES, r)
    log_base = np.log(_ADT_BASE) + rng.normal(0.0, 0.5, q)
    offset_src = rng.normal(0.0, 0.5, q)
    offset_tgt = offset_src + rng.normal(0.0, 0.5, q)
    return {
        "source_coef": (V0 * D0) @ U0.T,  # (q, p), scikit-learn orientation
        "target_coef": (V0[:, v_columns] * D_star) @ U0[:, u_columns].T,
        "source_intercept": log_base + offset_src,
        "target_intercept": log_base + offset_tgt,
        "source_U": U0,
        "source_V": V0,
        "source_singular_values": D0,
        "target_singular_values": D_star,
        "u_columns": u_columns.astype(np.int64),
        "v_columns": v_columns.astype(np.int64),
        "ambient": _AMBIENT_FRACTION * np.exp(log_base + rng.normal(0.0, 0.3, q)),
    }


@dataclass
class _Cells:
    is_target: np.ndarray
    batch: np.ndarray  # batch index per cell
    latent: np.ndarray  # cells x genes latent log-expression L
    log_abundance: np.ndarray  # cells x proteins A
    ambient: np.ndarray  # ambient ADT level per protein


def _draw_cells(rng: np.random.Generator, n_source: int, n_target: int, genes: _Genes,
                truth: dict, noise: float) -> _Cells:
    """Step 3: type, batch, latent expression ``L`` and protein log-abundance ``A``."""
    n = n_source + n_target
    is_target = np.arange(n) >= n_source
    batch = rng.integers(0, len(_BATCHES), n)
    F = rng.standard_normal((n, _N_PROGRAMS))
    L = rng.standard_normal((n, genes.baseline.size))
    L *= _GENE_SD
    L += F @ genes.loadings.T
    L += genes.baseline
    L += np.outer(is_target, genes.shift)
    inf = genes.informative
    X = L[:, inf] - genes.baseline[inf] - np.outer(is_target, genes.shift[inf])
    X /= genes.latent_sd
    A = noise * rng.standard_normal((n, truth["ambient"].size))
    A[:n_source] += X[:n_source] @ truth["source_coef"].T + truth["source_intercept"]
    A[n_source:] += X[n_source:] @ truth["target_coef"].T + truth["target_intercept"]
    return _Cells(is_target, batch, L, A, truth["ambient"])


def _draw_counts(rng: np.random.Generator, cells: _Cells) -> tuple[sp.csr_matrix, np.ndarray]:
    """Step 4: RNA and ADT counts, with per-cell depths and batch factors."""
    n = cells.is_target.size
    batch_rna = np.exp(rng.normal(0.0, 0.2, len(_BATCHES)))
    batch_adt = np.exp(rng.normal(0.0, 0.2, len(_BATCHES)))
    depth_rna = _RNA_DEPTH * batch_rna[cells.batch] * np.exp(rng.normal(0.0, 0.35, n))
    depth_adt = batch_adt[cells.batch] * np.exp(rng.normal(0.0, 0.3, n))
    L = cells.latent - cells.latent.max(axis=1, keepdims=True)
    rates = np.exp(L)
    rates *= (depth_rna / rates.sum(axis=1))[:, None]
    rna_counts = sp.csr_matrix(rng.poisson(rates).astype(np.float32))
    adt_rates = depth_adt[:, None] * (cells.ambient + np.exp(cells.log_abundance))
    return rna_counts, rng.poisson(adt_rates).astype(np.float32)


def _as_mudata(rna_counts: sp.csr_matrix, adt_counts: np.ndarray, cells: _Cells) -> md.MuData:
    """Wrap the counts in a MuData, cell types and batches in every ``obs``."""
    n, n_genes, q = adt_counts.shape[0], rna_counts.shape[1], adt_counts.shape[1]
    names = _names("cell_", n, 0)
    cell_type = pd.Categorical(np.where(cells.is_target, _TARGET_TYPE, _SOURCE_TYPE),
                               categories=[_SOURCE_TYPE, _TARGET_TYPE])
    batch = pd.Categorical(np.asarray(_BATCHES)[cells.batch], categories=list(_BATCHES))

    def modality(counts, var_names: list[str], feature_type: str) -> ad.AnnData:
        return ad.AnnData(
            X=counts,
            obs=pd.DataFrame({"cell_type": cell_type, "batch": batch}, index=names),
            var=pd.DataFrame({"feature_types": feature_type}, index=var_names),
            layers={"counts": counts.copy()},
        )

    rna = modality(rna_counts, _names("GENE", n_genes, 1), "GEX")
    prot = modality(adt_counts, _protein_names(q), "ADT")
    # Build without pulling the modalities' columns (mudata's legacy default
    # would add prefixed copies and warn); the global columns are set below.
    with md.set_options(pull_on_update=False):
        mdata = md.MuData({"rna": rna, "prot": prot})
    mdata.obs["cell_type"] = cell_type
    mdata.obs["batch"] = batch
    mdata.var["feature_types"] = ["GEX"] * n_genes + ["ADT"] * q
    return mdata

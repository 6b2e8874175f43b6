"""SourceModel: a source population's RNA-to-protein map that travels without its data.

A :class:`SourceModel` is what SMART needs from a source population: a linear map
from genes to proteins (``coef``, genes x proteins, named on both sides), an
intercept per protein, and provenance (which population, how many cells, which
preprocessing, which estimator, which smart_sc version).

It is saved as an AnnData of genes x proteins in ``.h5ad`` (coefficients in ``X``,
``var["intercept"]``, provenance in ``uns["smart_sc_source_model"]``): any scverse
tool opens it, names included, and loading never unpickles. Saving is atomic and
loading checks everything (layout and checks: :mod:`smart_sc.source._file`).

Earlier ``.npz`` files (format version 1) still load, through a small read-only
reader (``numpy.load(allow_pickle=False)``, same checks), rather than raising:
their source cells need not have travelled with them, so refitting may be
impossible; saving them again converts them.

Names, not positions, decide how a source meets a target: :meth:`SourceModel.aligned`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from .._jsonable import jsonable
from . import _file, _inputs
from ._alignment import SourceAlignment, align
from ._file import FORMAT, FORMAT_VERSION
from ._inputs import checked_coef, checked_intercept

__all__ = ["FORMAT", "FORMAT_VERSION", "SourceAlignment", "SourceModel", "as_source_model"]

logger = logging.getLogger("smart_sc")


class SourceModel:
    """A named linear RNA-to-protein map with provenance, saved without pickle.

    Parameters
    ----------
    coef : pandas.DataFrame
        Coefficients, genes x proteins: index = gene names, columns = protein
        names (non-empty, unique strings), finite numeric values. Copied and
        stored as float64.
    intercept : pandas.Series, array-like of shape (n_proteins,) or None
        Intercept per protein. A Series is matched to ``coef``'s columns by name;
        an array is taken in ``coef``'s column order. ``None``: zeros.
    provenance : dict or None
        JSON-serialisable description of where the model came from. Suggested
        keys: ``population``, ``n_cells``, ``preprocessing``, ``estimator``,
        ``estimator_params``. ``created`` (UTC, ISO 8601) and
        ``smart_sc_version`` are filled in when absent.

    Attributes
    ----------
    coef : pandas.DataFrame
        Genes x proteins, float64.
    intercept : pandas.Series
        Indexed by protein names, float64.
    provenance : dict
        Plain JSON values (tuples stored as lists).

    Notes
    -----
    Treat instances as read-only: build a new one rather than editing ``coef``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from smart_sc.source import SourceModel
    >>> coef = pd.DataFrame([[0.5, 0.0], [0.1, 2.0], [0.0, -1.0]],
    ...                     index=["CD3E", "MS4A1", "LYZ"], columns=["CD3", "CD19"])
    >>> model = SourceModel.from_dataframe(coef, population="PBMC", n_cells=5000)
    >>> model.n_genes, model.n_proteins
    (3, 2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = model.save(os.path.join(d, "pbmc_source"))
    ...     path.name, SourceModel.load(path).equals(model)
    ('pbmc_source.h5ad', True)
    """

    def __init__(
        self,
        coef: pd.DataFrame,
        intercept: pd.Series | Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self._setup(coef, intercept, provenance, fill_defaults=True)

    def _setup(self, coef: Any, intercept: Any, provenance: Any, *, fill_defaults: bool) -> None:
        values, genes, proteins = checked_coef(coef)
        b = checked_intercept(intercept, proteins)
        if provenance is None:
            provenance = {}
        if not isinstance(provenance, Mapping):
            raise TypeError(f"provenance must be a dict, got {type(provenance).__name__}")
        prov = jsonable(dict(provenance), strict=True, where="provenance")
        if fill_defaults:
            prov.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
            prov.setdefault("smart_sc_version", __version__)
        self.coef = pd.DataFrame(values, index=genes, columns=proteins)
        self.coef.index.name = "gene"
        self.coef.columns.name = "protein"
        self.intercept = pd.Series(b, index=proteins.copy(), name="intercept")
        self.intercept.index.name = "protein"
        self.provenance: dict[str, Any] = prov

    @classmethod
    def from_dataframe(
        cls,
        coef: pd.DataFrame,
        intercept: pd.Series | Sequence[float] | np.ndarray | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a genes x proteins DataFrame.

        ``coef``: index = gene names, columns = protein names; ``intercept``: per
        protein (a Series matched by name), ``None`` for zeros; ``**provenance``:
        JSON-serialisable, e.g. ``population="PBMC", n_cells=5000``.

        Examples
        --------
        >>> import pandas as pd
        >>> from smart_sc.source import SourceModel
        >>> coef = pd.DataFrame([[1.0, 0.0]], index=["CD3E"], columns=["CD3", "CD19"])
        >>> m = SourceModel.from_dataframe(coef, pd.Series({"CD19": 0.2, "CD3": 0.1}))
        >>> m.intercept.tolist()
        [0.1, 0.2]
        """
        return cls(coef, intercept, provenance)

    @classmethod
    def from_arrays(
        cls,
        coef_pq: Any,
        genes: Sequence[str],
        proteins: Sequence[str],
        intercept: Sequence[float] | np.ndarray | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a genes x proteins array and the two name lists.

        ``coef_pq`` has one row per gene, named by ``genes``, and one column per
        protein (not scikit-learn's orientation: pass ``estimator.coef_.T`` or use
        :meth:`from_estimator`); ``intercept`` follows ``proteins`` (``None``: zeros).

        Examples
        --------
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays(np.eye(2), ["CD3E", "MS4A1"], ["CD3", "CD19"])
        >>> m.coef
        protein  CD3  CD19
        gene
        CD3E     1.0   0.0
        MS4A1    0.0   1.0
        """
        return cls(_inputs.arrays_frame(coef_pq, genes, proteins), intercept, provenance)

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        target_names: Sequence[str] | str,
        feature_names: Sequence[str] | None = None,
        **provenance: Any,
    ) -> SourceModel:
        """Build a model from a fitted scikit-learn linear regressor.

        Parameters
        ----------
        estimator : object
            Fitted, with ``coef_`` (``(n_targets, n_features)`` or
            ``(n_features,)``) and optionally ``intercept_``: ``Ridge``, ``Lasso``,
            :class:`~smart_sc.SMARTRegressor`... (a ``Pipeline``'s final step).
        target_names : sequence of str
            Protein names, one per row of ``coef_`` (one string: single output).
        feature_names : sequence of str or None
            Gene names if fitted on an array (else ``feature_names_in_``).
        **provenance
            JSON-serialisable; ``estimator`` and ``estimator_params`` (JSON-safe
            ``get_params()``) are recorded unless given.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sklearn.linear_model import Ridge
        >>> from smart_sc.source import SourceModel
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["CD3E", "MS4A1", "LYZ"])
        >>> Y = X.to_numpy() @ rng.normal(size=(3, 2))
        >>> m = SourceModel.from_estimator(Ridge(alpha=1.0).fit(X, Y),
        ...                                target_names=["CD3", "CD19"], population="PBMC")
        >>> m.genes.tolist(), m.provenance["estimator"], m.provenance["estimator_params"]["alpha"]
        (['CD3E', 'MS4A1', 'LYZ'], 'Ridge', 1.0)
        """
        frame, b = _inputs.estimator_frame(estimator, target_names, feature_names)
        prov = dict(provenance)
        prov.setdefault("estimator", type(estimator).__name__)
        if "estimator_params" not in prov and hasattr(estimator, "get_params"):
            prov["estimator_params"] = _inputs.estimator_params(estimator)
        return cls(frame, b, prov)

    @property
    def genes(self) -> pd.Index:
        """Gene names (rows of ``coef``)."""
        return self.coef.index

    @property
    def proteins(self) -> pd.Index:
        """Protein names (columns of ``coef``)."""
        return self.coef.columns

    @property
    def n_genes(self) -> int:
        """Number of genes."""
        return self.coef.shape[0]

    @property
    def n_proteins(self) -> int:
        """Number of proteins."""
        return self.coef.shape[1]

    def __repr__(self) -> str:
        parts = [f"{self.n_genes} genes x {self.n_proteins} proteins"]
        parts += [f"{k}={self.provenance[k]!r}" for k in ("population", "n_cells", "estimator")
                  if k in self.provenance]
        if "smart_sc_version" in self.provenance:
            parts.append(f"smart_sc {self.provenance['smart_sc_version']}")
        return f"SourceModel({', '.join(parts)})"

    def equals(self, other: object) -> bool:
        """Exact equality of names (and their order), values, intercept and provenance.

        Examples
        --------
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> a = SourceModel.from_arrays(np.eye(2), ["g1", "g2"], ["p1", "p2"], created="x")
        >>> b = SourceModel.from_arrays(np.eye(2), ["g2", "g1"], ["p1", "p2"], created="x")
        >>> a.equals(a), a.equals(b)
        (True, False)
        """
        if not isinstance(other, SourceModel):
            return False
        return (
            self.genes.tolist() == other.genes.tolist()
            and self.proteins.tolist() == other.proteins.tolist()
            and np.array_equal(self.coef.to_numpy(), other.coef.to_numpy())
            and np.array_equal(self.intercept.to_numpy(), other.intercept.to_numpy())
            and self.provenance == other.provenance
        )

    def aligned(self, genes: Iterable[str], proteins: Iterable[str]) -> SourceAlignment:
        """Match the model to a target's genes and proteins by name.

        ``genes`` and ``proteins`` are the target's unique names (e.g.
        ``mdata["rna"].var_names``). The :class:`SourceAlignment` holds the
        coefficients in the target's order: zero rows for target genes the source
        lacks, zero columns and ``protein_mask == False`` for target proteins it
        lacks; source names the target lacks are dropped and listed. Raises
        ``ValueError`` if no gene or no protein is shared.

        Examples
        --------
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays([[1.0], [2.0], [3.0]], ["A", "B", "C"], ["P"])
        >>> al = m.aligned(["C", "A", "D"], ["P"])
        >>> al.coef.ravel().tolist(), al.missing_genes_in_source, al.missing_genes_in_target
        ([3.0, 1.0, 0.0], ('D',), ('B',))
        """
        return align(self.coef, self.intercept, genes, proteins)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model atomically to an ``.h5ad`` file (genes x proteins AnnData).

        A temporary file in the same directory is written, flushed to disk and
        renamed over ``path``: readers see the old file or the whole new one, and
        a failed write leaves no partial file. ``.h5ad`` is appended to a name
        without extension; otherwise exactly ``path`` is written. Returns the path.
        A ``path`` that is a directory raises ``IsADirectoryError``, a missing
        folder ``FileNotFoundError`` naming it.

        Examples
        --------
        >>> import os, tempfile
        >>> import anndata
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays([[1.0], [2.0]], ["A", "B"], ["P"], population="T")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     adata = anndata.read_h5ad(m.save(os.path.join(d, "model.h5ad")))
        >>> adata.obs_names.tolist(), adata.var_names.tolist(), adata.var["intercept"].tolist()
        (['A', 'B'], ['P'], [0.0])
        """
        path = Path(os.fspath(path))
        if path.is_dir():
            # Appending .h5ad would silently write a sibling of the folder.
            raise IsADirectoryError(f"{path} is a directory: give the model's file name, e.g. "
                                    f"{path / 'model.h5ad'}")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot save to {path}: its folder {path.parent} does not "
                                    "exist; create it first")
        if not path.suffix:
            path = path.with_suffix(".h5ad")
        written_by = f"smart_sc {__version__}"
        adata = _file.to_anndata(self.coef, self.intercept, self.provenance, written_by)
        _file.write_atomic(adata, path)
        logger.debug("saved %r to %s", self, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SourceModel:
        """Read a model written by :meth:`save`, without running any code from the file.

        The format is told from the file's content: ``.h5ad`` (read with
        ``anndata.read_h5ad``) or the earlier ``.npz`` (read with
        ``numpy.load(allow_pickle=False)``). Format, version, coefficients
        (finite floats), intercept and names (unique) are checked first.

        ``path.h5ad`` is tried for a ``path`` without extension that does not exist.
        Raises ``FileNotFoundError`` for a missing file and ``ValueError``, saying
        what is wrong, for a file that is not a SourceModel, is damaged, holds
        Python objects, was changed after it was written (its content no longer
        matches the sha256 stored with it) or was written by a newer smart_sc.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from smart_sc.source import SourceModel
        >>> m = SourceModel.from_arrays(np.ones((2, 1)), ["A", "B"], ["P"], n_cells=10)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = m.save(os.path.join(d, "model.h5ad"))
        ...     loaded = SourceModel.load(os.path.join(d, "model.h5ad"))
        >>> loaded.provenance["n_cells"], loaded.equals(m)
        (10, True)
        """
        path = Path(os.fspath(path))
        if not path.suffix and not path.exists() and path.with_suffix(".h5ad").exists():
            path = path.with_suffix(".h5ad")
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory, not a SourceModel file")
        frame, intercept, provenance, damaged, check_content = _file.read(path)
        model = cls.__new__(cls)
        try:  # no defaults filled: a loaded model says what the file says
            model._setup(frame, intercept, provenance, fill_defaults=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{damaged}: {exc}") from exc
        check_content()  # the names are sound: now, are they the ones written?
        logger.debug("loaded %r from %s", model, path)
        return model


def as_source_model(
    source: Any,
    *,
    target_names: Sequence[str] | str | None = None,
    feature_names: Sequence[str] | None = None,
) -> SourceModel:
    """Turn what a user may pass as a source into a :class:`SourceModel`.

    ``source`` is a model (returned as is), a genes x proteins DataFrame, a path
    to a file written by :meth:`SourceModel.save`, or a fitted linear regressor,
    which needs ``target_names`` (and ``feature_names`` if fitted on an array;
    see :meth:`SourceModel.from_estimator`).

    Examples
    --------
    >>> import pandas as pd
    >>> from smart_sc.source import as_source_model
    >>> as_source_model(pd.DataFrame({"CD3": [1.0]}, index=["CD3E"])).proteins.tolist()
    ['CD3']
    """
    if isinstance(source, SourceModel):
        return source
    if isinstance(source, pd.DataFrame):
        return SourceModel.from_dataframe(source)
    if isinstance(source, (str, os.PathLike)):
        return SourceModel.load(source)
    if hasattr(source, "coef_"):
        if target_names is None:
            raise ValueError(
                f"a {type(source).__name__} does not know its target (protein) names: pass "
                "target_names=<protein names in the order of the fitted y columns>"
            )
        return SourceModel.from_estimator(
            source, target_names=target_names, feature_names=feature_names
        )
    raise TypeError(
        "source must be a SourceModel, a genes x proteins DataFrame, a path to a saved "
        f"SourceModel or a fitted linear regressor; got {type(source).__name__}"
    )

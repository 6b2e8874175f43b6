"""Source models that travel without their data.

A :class:`SourceModel` holds what SMART needs from a source population: the
coefficients of a linear RNA-to-protein map, named by gene and protein, an
intercept and provenance. This room holds everything about it:

- :mod:`._model`: the model itself, its constructors and its file;
- :mod:`._inputs`: what a model is built from (arrays, DataFrames, fitted
  scikit-learn estimators), checked and named;
- :mod:`._alignment`: how a model meets data, by name;
- :mod:`._file`: the ``.h5ad`` layout, the atomic write, the checked read
  (never unpickling) and the content digest;
- :mod:`._names`: the name and value checks the others share;
- :mod:`._scale`: whether cells handed to a model are on the scale it was
  fitted on, and whether its source had enough cells.
"""

from ._file import FORMAT, FORMAT_VERSION
from ._model import SourceAlignment, SourceModel, as_source_model

__all__ = ["FORMAT", "FORMAT_VERSION", "SourceAlignment", "SourceModel", "as_source_model"]

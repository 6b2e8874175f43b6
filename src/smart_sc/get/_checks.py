"""Whether the values read are usable: finite, and raw counts where counts are needed."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._core.arrays import check_finite

__all__ = ["check_counts", "check_finite"]


def check_counts(M, what: str, hint: str) -> None:
    """Raise ``ValueError`` unless ``M`` looks like raw counts (finite, >= 0, integers).

    Parameters
    ----------
    M : array or sparse matrix
        The values.
    what : str
        How the message names them (``"modality 'rna' layer 'counts'"``).
    hint : str
        What to do instead, ending the message.

    Examples
    --------
    >>> import numpy as np, smart_sc
    >>> try:
    ...     smart_sc.get.check_counts(np.array([[0.0, 2.5]]), "layer 'counts'", "")
    ... except ValueError as err:
    ...     print(str(err)[:41])
    layer 'counts' has 1 non-integer value(s)
    """
    check_finite(M, what)
    values = M.data if sp.issparse(M) else np.asarray(M)
    n_neg = int((values < 0).sum())
    if n_neg:
        raise ValueError(
            f"{what} has {n_neg} negative value(s): it looks already normalised/scaled, not raw "
            f"counts. {hint}"
        )
    n_frac = int((values != np.round(values)).sum())
    if n_frac:
        raise ValueError(
            f"{what} has {n_frac} non-integer value(s): it looks already normalised or "
            f"log-transformed, not raw counts (normalising twice is wrong). {hint}"
        )

"""Which cells and genes a call uses: one rule for every mask of the package.

Masks follow scanpy's: a boolean array of the right length, a boolean
Series aligned by its index, the name of a boolean column, or names; anything
else is refused, saying what it is and what is accepted.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from anndata import AnnData

from ._modalities import PairedModalities

__all__ = ["gene_subset", "mask_obs_names", "resolve_groups", "resolve_mask_var",
           "select_cells"]


_MASK_FORMS = ("a boolean array with one entry per observation, a boolean Series indexed "
               "by the obs names, the name of a boolean .obs column, or a list of obs names")


def _boolean_values(values: pd.Series | np.ndarray, what: str) -> np.ndarray:
    """Return a boolean mask as a numpy array (pandas' nullable booleans: no missing value)."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = int(series.isna().sum())
    if missing:
        raise ValueError(f"{what} has {missing} missing value(s); a mask must be True or False "
                         "for every cell")
    return series.to_numpy(dtype=bool)


def mask_obs_names(obs: pd.DataFrame, mask_obs, what: str = "mask_obs") -> pd.Index:
    """Return the obs names a cell mask selects, with one rule for every public function.

    As scanpy's masks: a boolean array of the right length; a boolean Series,
    aligned by its index (an index that is not the obs names is refused, not
    read positionally); the name of a boolean ``.obs`` column; or obs names.
    Anything else is refused with what it is and what is accepted.

    Parameters
    ----------
    obs : DataFrame
        The ``.obs`` the mask refers to.
    mask_obs : array of bool, Series of bool, str or sequence of str
        The mask.
    what : str
        The argument's name, for messages.

    Returns
    -------
    pandas.Index
        The selected obs names.

    Examples
    --------
    >>> import pandas as pd, smart_sc
    >>> obs = pd.DataFrame({"is_b": [True, False, True]}, index=["c1", "c2", "c3"])
    >>> list(smart_sc.get.mask_obs_names(obs, "is_b"))
    ['c1', 'c3']
    >>> try:  # a Series from a reset frame: its index is not the obs names
    ...     smart_sc.get.mask_obs_names(obs, pd.Series([True, False, True]))
    ... except ValueError as err:
    ...     print(str(err)[:61])
    mask_obs is a boolean Series whose index is not the obs names
    """
    if isinstance(mask_obs, str):
        if mask_obs not in obs.columns:
            raise ValueError(f"{what} {mask_obs!r} is not a column of .obs; it has "
                             f"{list(obs.columns)}")
        column = obs[mask_obs]
        if not pd.api.types.is_bool_dtype(column.dtype):
            raise ValueError(
                f"{what} {mask_obs!r} is an .obs column of dtype {column.dtype}, not boolean; "
                f"pass a boolean mask, e.g. obs[{mask_obs!r}] == value")
        return pd.Index(obs.index[_boolean_values(column, f"{what} {mask_obs!r}")])
    if isinstance(mask_obs, pd.Series) and pd.api.types.is_bool_dtype(mask_obs.dtype):
        if not mask_obs.index.equals(obs.index):
            if len(mask_obs.index) != len(obs.index) or set(mask_obs.index) != set(obs.index):
                raise ValueError(
                    f"{what} is a boolean Series whose index is not the obs names (e.g. "
                    f"{list(mask_obs.index[:3])} against {list(obs.index[:3])}); index it by "
                    "the obs names, or pass .to_numpy() if its order is the obs order")
            mask_obs = mask_obs.reindex(obs.index)
        return pd.Index(obs.index[_boolean_values(mask_obs, what)])
    if isinstance(mask_obs, pd.Series):
        mask_obs = mask_obs.to_numpy()
    arr = np.asarray(mask_obs)
    if arr.dtype == bool:
        if arr.shape != (obs.shape[0],):
            raise ValueError(
                f"boolean {what} has shape {arr.shape}, expected ({obs.shape[0]},) "
                "(one entry per observation of the object passed)"
            )
        return pd.Index(obs.index[arr])
    if arr.ndim != 1 or not (arr.dtype.kind in "US" or (arr.dtype == object and all(
            isinstance(v, str) for v in arr))):
        raise ValueError(f"{what} must be {_MASK_FORMS}; got an array of dtype {arr.dtype} "
                         f"and shape {arr.shape}")
    names = pd.Index(arr.astype(str))
    unknown = names.difference(obs.index)
    if len(unknown):
        raise ValueError(
            f"{what} names {len(unknown)} cell(s) not in the data, e.g. {list(unknown[:5])}"
        )
    return names


def select_cells(pair: PairedModalities, mask_obs, what: str = "mask_obs") -> pd.Index:
    """Return the cells that have both modalities, restricted by ``mask_obs``.

    Parameters
    ----------
    pair : PairedModalities
        From :func:`resolve_modalities`.
    mask_obs : mask or None
        Any form :func:`mask_obs_names` takes; ``None`` selects every paired cell.
    what : str
        How error messages name the mask (``"mask_obs"``, ``"the mask of group 'NK'"``).

    Returns
    -------
    pandas.Index
        Paired cell names, in the RNA's order.

    Examples
    --------
    >>> import smart_sc
    >>> mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    >>> pair = smart_sc.get.resolve_modalities(mdata, "rna", "prot")
    >>> nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    >>> len(smart_sc.get.select_cells(pair, nk)) == int(nk.sum())
    True
    """
    paired = pair.paired_cells()
    chosen = paired if mask_obs is None else mask_obs_names(pair.container.obs, mask_obs, what)
    cells = paired.intersection(chosen, sort=False)
    if len(cells) == 0:
        reason = ("selects no cell" if len(chosen) == 0 else
                  f"has none with both modalities among its {len(chosen)} cell(s)")
        raise ValueError(f"no cells selected: {what} {reason} ({len(paired)} paired cells "
                         "in total); cells with both modalities are needed")
    return cells


def resolve_mask_var(mask_var, genes, *, stacklevel: int = 3):
    """``mask_var``, or the deprecated ``genes`` alias (with a ``FutureWarning``).

    ``stacklevel`` points the warning at the user's call: 3 when called from a
    public function's body.
    """
    if genes is None:
        return mask_var
    if mask_var is not None:
        raise TypeError("pass mask_var only: genes is its deprecated alias")
    warnings.warn("genes= is deprecated and will be removed; use mask_var= (scanpy's "
                  "name for a gene mask) instead", FutureWarning, stacklevel=stacklevel)
    return genes


def gene_subset(rna: AnnData, mask_var) -> np.ndarray:
    """Return a boolean mask over ``rna.var_names`` from ``mask_var``, as scanpy reads it.

    Parameters
    ----------
    rna : AnnData
        The RNA modality.
    mask_var : str, array of bool, sequence of str or None
        ``None`` (all genes), the name of a boolean ``.var`` column (e.g.
        ``"smart_screened"`` from :func:`smart_sc.pp.screen_genes`), a boolean
        array, a boolean Series indexed by the var names (aligned by its
        index; another index is refused, not read positionally), or gene names.

    Returns
    -------
    ndarray of bool
        One entry per gene.

    Examples
    --------
    >>> import smart_sc
    >>> rna = smart_sc.datasets.toy_citeseq(random_state=0)["rna"]
    >>> int(smart_sc.get.gene_subset(rna, list(rna.var_names[:3])).sum())
    3
    >>> try:  # a Series from a reset frame: its index is not the var names
    ...     smart_sc.get.gene_subset(rna, rna.var["feature_types"].eq("GEX")
    ...                              .reset_index(drop=True))
    ... except ValueError as err:
    ...     print(str(err)[:61])
    mask_var is a boolean Series whose index is not the var names
    """
    if mask_var is None:
        return np.ones(rna.n_vars, dtype=bool)
    if isinstance(mask_var, str):
        if mask_var not in rna.var.columns:
            raise ValueError(f"mask_var {mask_var!r} is not a column of .var; it has "
                             f"{list(rna.var.columns)[:10]}")
        mask_var = rna.var[mask_var]
    if isinstance(mask_var, pd.Series) and pd.api.types.is_bool_dtype(mask_var.dtype):
        var = pd.Index(rna.var_names)
        if not mask_var.index.equals(var):
            if len(mask_var.index) != len(var) or set(mask_var.index) != set(var):
                # Reindexing would read it as gene names ('nan'), not as a mask.
                raise ValueError(
                    "mask_var is a boolean Series whose index is not the var names (e.g. "
                    f"{list(mask_var.index[:3])} against {list(var[:3])}); index it by the var "
                    "names, or pass .to_numpy() if its order is the var order")
            mask_var = mask_var.reindex(var)
        mask_var = _boolean_values(mask_var, "mask_var")
    values = np.asarray(mask_var)
    if values.dtype == bool:
        if values.shape != (rna.n_vars,):
            raise ValueError(f"boolean mask_var has shape {values.shape}, expected "
                             f"({rna.n_vars},) (one entry per gene of .var)")
        mask = values
    elif values.dtype.kind in "OUS":
        names = pd.Index(values.astype(str).ravel())
        unknown = names.difference(pd.Index(rna.var_names))
        if len(unknown):
            raise ValueError(f"{len(unknown)} of the genes in mask_var are not in the data, "
                             f"e.g. {list(unknown[:5])}")
        mask = np.asarray(pd.Index(rna.var_names).isin(names))
    else:
        raise ValueError("mask_var must be a boolean mask over .var, a boolean .var column "
                         f"name or gene names, got values of dtype {values.dtype}")
    if not mask.any():
        raise ValueError("no genes selected")
    return mask


def resolve_groups(pair: PairedModalities, groups) -> dict[str, pd.Index]:
    """Named populations as paired cell names.

    ``groups`` is a dict ``{name: mask}`` (each mask as :func:`select_cells`
    takes it) or the name of an ``.obs`` column of the container: one
    population per value that some cell has. Unused categories of a
    categorical column (left by subsetting, ``adata[mask].copy()``) and
    missing values are skipped.

    Raises
    ------
    ValueError
        ``groups`` is not a column or a non-empty dict, or a group has no cell
        with both modalities: the message names the group and says whether
        it selects no cell or only unpaired ones.
    """
    obs = pair.container.obs
    if isinstance(groups, str):
        if groups not in obs.columns:
            raise ValueError(
                f"groups {groups!r} is not a column of .obs; it has {list(obs.columns)}"
            )
        col = obs[groups]
        cats = (col.cat.remove_unused_categories().cat.categories
                if isinstance(col.dtype, pd.CategoricalDtype) else col.dropna().unique())
        if len(cats) == 0:
            raise ValueError(f"groups {groups!r}: the .obs column has no values (all missing)")
        groups = {str(c): (col == c).to_numpy() for c in cats}
    if not isinstance(groups, dict) or not groups:
        raise ValueError(
            "groups must be a non-empty dict {name: mask or obs names} or the name of an .obs "
            f"column, got {type(groups).__name__}"
        )
    return {str(name): select_cells(pair, mask, f"the mask of group {str(name)!r}")
            for name, mask in groups.items()}

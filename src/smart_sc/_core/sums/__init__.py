"""Sufficient statistics: the seam between cells and solvers.

One pass over the cells gives ``X^T X``, ``X^T Y``, ``Y^T Y`` and the column
sums, per fold (:mod:`.stats` in memory, :mod:`.sparse` for sparse cells,
:mod:`.chunked` through dask, all reached through :mod:`.passes`); the
design's spectrum from the cells when they are fewer (:mod:`.spectrum`); and
the held-out error of any coefficients from the sums alone. Nothing above
this layer touches the cells again.
"""

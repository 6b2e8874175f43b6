"""SMART for fixed tuning parameters.

:mod:`.admm` is the paper's ADMM in the source's singular bases; :mod:`.cells`
supplies its products with ``S_xx`` through the cells when the Gram matrix is
too large to form; :mod:`.span` solves its penalised U-step, with fewer cells
than genes, in the small subspace that holds the step's iterates.
"""

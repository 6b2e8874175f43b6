"""The maths of smart_sc, on arrays only (it knows nothing of AnnData).

Layers, lowest first; a module imports only from its own layer or lower ones
(``tests/test_architecture.py`` checks it):

- helpers every layer uses: :mod:`.arrays` (dask or not, finite or not,
  ``X @ C + b``), :mod:`.threads` (BLAS threads where they pay),
  :mod:`.randomness` (the one ``random_state`` rule), :mod:`.proximal`
  (soft-thresholding);
- :mod:`.sums`: sufficient statistics, the seam between cells and solvers;
- :mod:`.geometry`: the Stiefel manifold and the source's singular bases;
- :mod:`.solver`: SMART for fixed tuning parameters (the ADMM);
- :mod:`.selection`: choosing the tuning (ridge, RSC, BIC, cross-validation,
  the blend, the transfer gain);
- :mod:`.fit`: the data-driven fit, step by step.
"""

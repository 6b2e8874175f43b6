"""Shared fixtures: the toy CITE-seq data, prepared as the paper prepares RNA and ADT."""

import muon as mu
import numpy as np
import pytest
import scanpy as sc

import smart_sc


@pytest.fixture(scope="session")
def prepared_toy():
    """Toy MuData, normalised: RNA log-normalised and scaled on its informative genes, CLR ADT.

    Session-scoped; tests that modify it must work on ``prepared_toy.copy()``.
    """
    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    rna, prot = mdata["rna"], mdata["prot"]
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    info = mdata.uns["toy_citeseq"]
    rna._inplace_subset_var(np.isin(rna.var_names, list(info["informative_genes"])))
    sc.pp.scale(rna)
    mu.prot.pp.clr(prot)
    mdata.update()
    return mdata

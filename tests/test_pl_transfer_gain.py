"""pl.transfer_gain: proteins sorted by the source's gain, coloured by its sign."""

import anndata as ad
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from smart_sc import pl


def _data(gains=(0.01, 0.2, -0.05, np.nan)):
    adata = ad.AnnData(np.zeros((2, 1)))
    adata.uns["smart"] = {"transfer_gain": {"gain": 0.04, "per_protein": {
        "protein": ["CD3", "CD4", "CD8", "CD19"][:len(gains)],
        "cv_r2": [0.6, 0.5, 0.4, 0.1][:len(gains)], "transfer_gain": list(gains)}}}
    return adata


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_proteins_are_sorted_by_gain_and_coloured_by_sign():
    ax = pl.transfer_gain(_data(), show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CD4", "CD3", "CD8", "CD19"]
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets()[:3, 1], [20.0, 1.0, -5.0])
    colours = points.get_facecolors()
    assert tuple(colours[0]) == tuple(colours[1]) != tuple(colours[2])
    assert "+4.0%" in ax.get_title() and "no placebo control" in ax.get_title()
    # The missing gain is neither helped nor hurt (it was drawn as hurt).
    assert tuple(colours[3]) not in {tuple(colours[0]), tuple(colours[2])}


def test_a_zero_gain_is_drawn_neutral():
    # The penalty switched off gives a gain of exactly 0; it was drawn as "helped".
    ax = pl.transfer_gain(_data((0.1, 0.0, -0.1)), show=False)
    colours = [tuple(c) for c in ax.collections[0].get_facecolors()]
    assert len(set(colours)) == 3


def test_save_writes_the_figure(tmp_path):
    path = tmp_path / "gain.png"
    pl.transfer_gain(_data(), save=path, show=False)
    assert path.stat().st_size > 0


def test_a_fit_without_a_gain_says_why():
    adata = ad.AnnData(np.zeros((2, 1)))
    adata.uns["smart"] = {"rank": 3}
    with pytest.raises(ValueError, match=r"no transfer gain.*transfer_gain=True"):
        pl.transfer_gain(adata, show=False)


def test_a_missing_key_lists_the_uns_of_every_place_searched():
    # It listed the RNA modality's .uns only, never the MuData's, where fits live.
    from mudata import MuData

    rna = ad.AnnData(np.zeros((2, 1)))
    rna.uns["log1p"] = {"base": None}
    mdata = MuData({"rna": rna, "prot": ad.AnnData(np.zeros((2, 1)))})
    mdata.uns["smart_other"] = _data().uns["smart"]
    with pytest.raises(ValueError, match=r"no results stored under key 'smart': the MuData's "
                       r"\.uns has \['smart_other'\] and \.uns of modality 'rna' has "
                       r"\['log1p'\]"):
        pl.transfer_gain(mdata, show=False)
    with pytest.raises(ValueError, match=r"no results stored under key 'smart': \.uns has "
                       r"\['log1p'\]"):
        pl.transfer_gain(rna, show=False)

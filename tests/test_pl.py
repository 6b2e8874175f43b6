"""smart_sc.pl: the plots draw the stored values (points, bars, images, lines, labels)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy.linalg import subspace_angles

import smart_sc
from smart_sc import SMARTRegressor, pl
from smart_sc.source import SourceModel

FIXED = dict(rank=4, structural_rank=8, alpha=0.0, blend=False)


@pytest.fixture(scope="module")
def fitted(prepared_toy):
    mdata = prepared_toy.copy()
    ct = mdata.obs["cell_type"].astype(str).to_numpy()
    source = smart_sc.tl.fit_source(mdata, mask_obs=ct == "NK", population="NK")
    smart_sc.tl.transfer(mdata, source, mask_obs=ct == "ILC1", **FIXED)
    return mdata, source


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 10))
    C = rng.normal(size=(10, 2)) @ rng.normal(size=(2, 4))
    Y = X @ C + 0.1 * rng.normal(size=(80, 4))
    return SMARTRegressor(C.T + 0.1 * rng.normal(size=(4, 10)), rank=2, structural_rank=2,
                          alpha=0.0, blend=False).fit(X, Y)


def _target_coef(mdata):
    info = mdata.uns["smart"]
    return mdata["rna"].varm["smart"].loc[list(info["genes"]), list(info["proteins"])]


# ------------------------------------------------------------ predicted vs observed


def test_predicted_vs_observed_points_are_the_paired_cells(fitted):
    mdata, _ = fitted
    rna, prot = mdata["rna"], mdata["prot"]
    protein = next(iter(rna.obsm["smart"].columns))
    ax = pl.predicted_vs_observed(mdata, protein, show=False)
    assert isinstance(ax, plt.Axes)
    paired = rna.obs_names.intersection(prot.obs_names, sort=False)
    offsets = np.asarray(ax.collections[0].get_offsets())
    assert offsets.shape == (len(paired), 2)
    observed = np.asarray(prot[paired, protein].X).ravel()
    predicted = rna.obsm["smart"].loc[paired, protein].to_numpy()
    np.testing.assert_allclose(offsets[:, 0], observed)
    np.testing.assert_allclose(offsets[:, 1], predicted)
    r = np.corrcoef(observed, predicted)[0, 1]
    assert protein in ax.get_title()
    assert f"{r:.3f}" in ax.get_title()
    # The title says which cells: by default all paired ones, training cells included.
    assert f"all {len(paired)} paired cells" in ax.get_title()
    assert ax.get_xlabel() == "observed" and ax.get_ylabel() == "predicted"
    # identity line
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), line.get_ydata())


def test_predicted_vs_observed_mask_restricts_cells(fitted):
    mdata, _ = fitted
    protein = list(mdata["rna"].obsm["smart"].columns)[-1]
    is_ilc1 = (mdata.obs["cell_type"].astype(str) == "ILC1").to_numpy()
    ax = pl.predicted_vs_observed(mdata, protein, mask_obs=is_ilc1, show=False)
    assert len(ax.collections[0].get_offsets()) == int(is_ilc1.sum())


def test_predicted_vs_observed_bad_input(fitted):
    mdata, _ = fitted
    with pytest.raises(ValueError, match="NOT_A_PROTEIN"):
        pl.predicted_vs_observed(mdata, "NOT_A_PROTEIN", show=False)
    protein = next(iter(mdata["rna"].obsm["smart"].columns))
    with pytest.raises(ValueError, match="missing_key"):
        pl.predicted_vs_observed(mdata, protein, key="missing_key", show=False)


def test_save_writes_png(fitted, tmp_path):
    mdata, _ = fitted
    protein = next(iter(mdata["rna"].obsm["smart"].columns))
    path = tmp_path / "pvo.png"
    ax = pl.predicted_vs_observed(mdata, protein, show=False, save=path)
    assert ax is not None
    data = path.read_bytes()
    assert len(data) > 100 and data[:8] == b"\x89PNG\r\n\x1a\n"


_SETTINGS = ("figdir", "file_format_figs", "plot_suffix", "autosave", "autoshow")


@pytest.fixture
def settings():
    """scanpy's settings, restored afterwards (monkeypatch cannot undo its properties)."""
    before = {name: getattr(sc.settings, name) for name in _SETTINGS}
    yield sc.settings
    for name, value in before.items():
        setattr(sc.settings, name, value)


@pytest.fixture
def figdir(tmp_path, settings):
    """scanpy's figure directory, in a fresh temporary folder."""
    settings.figdir = tmp_path / "figures"
    settings.file_format_figs = "png"
    settings.plot_suffix = ""
    return tmp_path / "figures"


def test_save_true_writes_under_scanpys_figdir(fitted, figdir):
    mdata, _ = fitted
    protein = next(iter(mdata["rna"].obsm["smart"].columns))
    ax = pl.predicted_vs_observed(mdata, protein, show=False, save=True)
    assert ax is not None
    assert sorted(p.name for p in figdir.iterdir()) == ["predicted_vs_observed.png"]
    assert (figdir / "predicted_vs_observed.png").read_bytes()[:4] == b"\x89PNG"


def test_save_string_is_a_suffix_whose_ending_picks_the_format(figdir):
    scores = pd.DataFrame({"SMART": [0.8, 0.6]}, index=["CD3", "CD4"])
    pl.protein_scores(scores, show=False, save="_cd.pdf")
    pl.protein_scores(scores, show=False, save="_again")
    written = sorted(p.name for p in figdir.iterdir())
    assert written == ["protein_scores_again.png", "protein_scores_cd.pdf"]
    assert (figdir / "protein_scores_cd.pdf").read_bytes()[:4] == b"%PDF"


def test_nothing_is_written_by_default(figdir, settings):
    settings.autosave, settings.autoshow = False, False
    scores = pd.DataFrame({"SMART": [0.8, 0.6]}, index=["CD3", "CD4"])
    ax = pl.protein_scores(scores)
    assert ax is not None and not figdir.exists()
    settings.autosave = True  # scanpy's switch is followed
    pl.protein_scores(scores)
    assert [p.name for p in figdir.iterdir()] == ["protein_scores.png"]


def test_show_follows_scanpys_autoshow(monkeypatch, settings):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    scores = pd.DataFrame({"SMART": [0.8, 0.6]}, index=["CD3", "CD4"])
    settings.autoshow = True
    assert pl.protein_scores(scores) is None and shown == [True]
    settings.autoshow = False
    assert isinstance(pl.protein_scores(scores), matplotlib.axes.Axes) and shown == [True]
    assert pl.protein_scores(scores, show=True) is None and shown == [True, True]
    with pytest.raises(TypeError, match="save must be"):
        pl.protein_scores(scores, show=False, save=3)


def test_given_ax_is_used(fitted):
    mdata, _ = fitted
    protein = next(iter(mdata["rna"].obsm["smart"].columns))
    _fig, (a, b) = plt.subplots(1, 2)
    out = pl.predicted_vs_observed(mdata, protein, ax=b, show=False)
    assert out is b
    assert len(a.collections) == 0 and len(b.collections) == 1


# ------------------------------------------------------------ protein scores


def _bar_heights(container):
    return np.array([patch.get_height() for patch in container.patches])


def test_protein_scores_bars_equal_scores():
    scores = pd.DataFrame({"SMART": [0.8, 0.6, 0.3], "ridge": [0.7, 0.4, 0.5],
                           "source only": [0.2, 0.1, -0.1]},
                          index=["CD3", "CD4", "CD8"])
    ax = pl.protein_scores(scores, show=False)
    assert [c.get_label() for c in ax.containers] == list(scores.columns)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(scores.columns)
    for container, method in zip(ax.containers, scores.columns, strict=True):
        np.testing.assert_allclose(_bar_heights(container), scores[method].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == list(scores.index)
    # grouped: bars of one protein sit side by side around its tick
    centres = np.array([[p.get_x() + p.get_width() / 2 for p in c.patches]
                        for c in ax.containers])
    np.testing.assert_allclose(centres.mean(axis=0), np.arange(3), atol=1e-12)
    assert ax.get_ylabel() == "pearson"


def test_protein_scores_from_dict_and_protein_subset():
    scores = {"a": pd.Series({"CD3": 0.5, "CD4": 0.2}), "b": pd.Series({"CD4": 0.9})}
    ax = pl.protein_scores(scores, proteins=["CD4", "CD3"], show=False)
    np.testing.assert_allclose(_bar_heights(ax.containers[0]), [0.2, 0.5])
    np.testing.assert_allclose(_bar_heights(ax.containers[1]), [0.9, np.nan])
    with pytest.raises(ValueError, match="CD99"):
        pl.protein_scores(scores, proteins=["CD99"], show=False)


def test_protein_scores_from_uns(fitted):
    mdata, _ = fitted
    m = mdata.copy()
    m.uns["other"] = {"proteins": list(m.uns["smart"]["proteins"])[::-1],
                      "metrics": {"pearson": list(np.linspace(0, 1, len(m.uns["smart"]
                                                                            ["proteins"])))}}
    table = pl.scores_from_uns(m, {"SMART": "smart", "other": "other"})
    proteins = list(m.uns["smart"]["proteins"])
    assert list(table.index) == proteins
    np.testing.assert_allclose(table["SMART"], m.uns["smart"]["metrics"]["pearson"])
    other = pd.Series(m.uns["other"]["metrics"]["pearson"], index=m.uns["other"]["proteins"])
    np.testing.assert_allclose(table["other"], other.loc[proteins])

    ax = pl.protein_scores(m, keys={"SMART": "smart", "other": "other"}, show=False)
    assert [c.get_label() for c in ax.containers] == ["SMART", "other"]
    np.testing.assert_allclose(_bar_heights(ax.containers[0]), table["SMART"])

    ax = pl.protein_scores(m, metric="rmse", show=False)
    np.testing.assert_allclose(_bar_heights(ax.containers[0]),
                               m.uns["smart"]["metrics"]["rmse"])
    with pytest.raises(ValueError, match="nokey"):
        pl.scores_from_uns(m, ["smart", "nokey"])
    with pytest.raises(ValueError, match="spearmanx"):
        pl.scores_from_uns(m, "smart", metric="spearmanx")


# ------------------------------------------------------------ coefficient heatmap


@pytest.mark.parametrize("kind", ["source_model", "dataframe", "mdata"])
def test_coef_heatmap_shows_top_genes(fitted, kind):
    mdata, source = fitted
    n_top = 7
    if kind == "source_model":
        obj, coef = source, source.coef
    elif kind == "dataframe":
        obj = coef = _target_coef(mdata)
    else:
        obj, coef = mdata, _target_coef(mdata)
    ax = pl.coef_heatmap(obj, n_top_genes=n_top, show=False)
    norms = np.linalg.norm(coef.to_numpy(), axis=1)
    top = coef.index[np.argsort(-norms, kind="stable")[:n_top]]
    image = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(image, coef.loc[top].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(top)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(coef.columns)
    lo, hi = ax.images[0].get_clim()
    assert lo == pytest.approx(-hi)
    assert hi == pytest.approx(np.abs(coef.loc[top].to_numpy()).max())


def test_coef_heatmap_protein_subset_and_errors(fitted):
    mdata, source = fitted
    proteins = list(source.proteins[:2])[::-1]
    ax = pl.coef_heatmap(source, proteins=proteins, n_top_genes=3, show=False)
    coef = source.coef[proteins]
    top = coef.index[np.argsort(-np.linalg.norm(coef.to_numpy(), axis=1), kind="stable")[:3]]
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), coef.loc[top].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == proteins
    with pytest.raises(ValueError, match="NOPE"):
        pl.coef_heatmap(source, proteins=["NOPE"], show=False)
    with pytest.raises(ValueError, match="absent_key"):
        pl.coef_heatmap(mdata, key="absent_key", show=False)


# ------------------------------------------------------------ spectra and angles


def test_spectra_lines_are_singular_values(fitted):
    mdata, source = fitted
    target = _target_coef(mdata)
    ax = pl.spectra(source, mdata, show=False)
    A = source.coef.loc[target.index, target.columns].to_numpy()
    B = target.to_numpy()
    s_a = np.linalg.svd(A, compute_uv=False)
    s_b = np.linalg.svd(B, compute_uv=False)
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_ydata(), s_a)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(1, s_a.size + 1))
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["source", "target"]
    # The target fit has rank 4: its other singular values are round-off, which on
    # the log axis squashed the informative range; they are left undrawn.
    assert s_b[4] < 1e-8 * s_b[0]
    drawn = ax.lines[1].get_ydata()
    np.testing.assert_allclose(drawn[:4], s_b[:4])
    assert np.isnan(drawn[4:]).all()

    ax = pl.spectra(source, mdata, n=3, show=False)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), s_b[:3])


def test_spectra_of_arrays_and_estimator(estimator):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(10, 4))
    ax = pl.spectra(A, estimator, show=False)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.linalg.svd(A, compute_uv=False))
    s_est = np.linalg.svd(estimator.coef_, compute_uv=False)
    np.testing.assert_allclose(ax.lines[1].get_ydata()[:2], s_est[:2])  # rank 2
    assert np.isnan(ax.lines[1].get_ydata()[2:]).all() and (s_est[2:] < 1e-12).all()
    with pytest.raises(ValueError, match="shape"):
        pl.spectra(A, A[:5], show=False)


@pytest.mark.parametrize("side", ["left", "right"])
def test_principal_angles_match_scipy(fitted, side):
    mdata, source = fitted
    target = _target_coef(mdata)
    ax = pl.principal_angles(source, mdata, side=side, show=False)
    A = source.coef.loc[target.index, target.columns].to_numpy()
    B = target.to_numpy()
    rank = 4  # the target's rank; the ridge source has full rank
    Ua, _, Vta = np.linalg.svd(A, full_matrices=False)
    Ub, _, Vtb = np.linalg.svd(B, full_matrices=False)
    if side == "left":
        expected = subspace_angles(Ua[:, :rank], Ub[:, :rank])
    else:
        expected = subspace_angles(Vta[:rank].T, Vtb[:rank].T)
    heights = np.array([p.get_height() for p in ax.patches])
    np.testing.assert_allclose(heights, np.sort(np.degrees(expected)), atol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"θ{i}" for i in range(1, 5)]


def test_principal_angles_zero_for_identical_subspaces():
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(20)]
    proteins = [f"p{j}" for j in range(6)]
    C = pd.DataFrame(rng.normal(size=(20, 3)) @ rng.normal(size=(3, 6)), index=genes,
                     columns=proteins)
    # same subspaces, different singular values, rows and columns shuffled
    scaled = C * 3.0
    shuffled = scaled.loc[genes[::-1], proteins[::-1]]
    ax = pl.principal_angles(SourceModel.from_dataframe(C), shuffled, show=False)
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights.shape == (3,)  # default rank: the numerical rank
    np.testing.assert_allclose(heights, 0.0, atol=1e-5)

    other = pd.DataFrame(rng.normal(size=(20, 6)), index=genes, columns=proteins)
    ax = pl.principal_angles(C, other, rank=2, show=False)
    assert all(p.get_height() > 1.0 for p in ax.patches)
    with pytest.raises(ValueError, match="rank"):
        pl.principal_angles(C, other, rank=50, show=False)
    with pytest.raises(ValueError, match="side"):
        pl.principal_angles(C, other, side="up", show=False)
    disjoint = other.set_axis([f"x{i}" for i in range(20)], axis=0)
    with pytest.raises(ValueError, match="share 0 gene"):
        pl.principal_angles(C, disjoint, show=False)


# ------------------------------------------------------------ convergence


def test_convergence_lines_are_histories(estimator, tmp_path):
    path = tmp_path / "conv.png"
    axes = pl.convergence(estimator, show=False, save=path)
    assert isinstance(axes, list) and len(axes) == 3
    histories = [estimator.objective_history_, estimator.primal_residual_history_,
                 estimator.dual_residual_history_]
    for a, history in zip(axes, histories, strict=True):
        np.testing.assert_allclose(a.lines[0].get_ydata(), history)
        np.testing.assert_allclose(a.lines[0].get_xdata(), np.arange(1, len(history) + 1))
        assert a.get_ylabel()
    assert len(axes[0].lines) == 1
    for a in axes[1:]:  # the stopping tolerance, dashed, on each residual panel
        assert len(a.lines) == 2 and set(a.lines[1].get_ydata()) == {estimator.tol}
    assert [a.get_title() for a in axes] == ["objective", "primal residual", "dual residual"]
    assert axes[1].get_yscale() == "log" and axes[2].get_yscale() == "log"
    assert path.stat().st_size > 0 and path.read_bytes()[:4] == b"\x89PNG"


def test_convergence_given_axes_and_unfitted():
    _fig, axes = plt.subplots(3, 1)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    est = SMARTRegressor(rng.normal(size=(2, 5)), rank=1, structural_rank=1,
                         alpha=0.0, blend=False).fit(X, Y)
    out = pl.convergence(est, axes=axes, show=False)
    assert out == list(axes)
    with pytest.raises(ValueError, match="objective_history_"):
        pl.convergence(SMARTRegressor(), show=False)
    with pytest.raises(ValueError, match="3 matplotlib Axes"):
        pl.convergence(est, axes=axes[:2])


def test_many_proteins_are_drawn_as_a_sorted_strip():
    rng = np.random.default_rng(0)
    names = [f"P{i}" for i in range(134)]
    scores = pd.DataFrame({"SMART": rng.uniform(size=134), "ridge": rng.uniform(size=134)},
                          index=names)
    ax = pl.protein_scores(scores, show=False)
    assert len(ax.containers) == 0 and len(ax.lines) == 3  # two series and the zero line
    smart = ax.lines[0].get_ydata()
    assert np.all(np.diff(smart) <= 0)  # sorted by the first method
    np.testing.assert_allclose(np.sort(smart), np.sort(scores["SMART"]))
    assert ax.figure.get_size_inches()[0] <= 14.0
    with pytest.raises(ValueError, match="layout"):
        pl.protein_scores(scores, layout="grid", show=False)


def test_training_and_held_out_scores_are_not_mixed(fitted):
    mdata, _ = fitted
    m = mdata.copy()
    is_target = (m.obs["cell_type"] == "ILC1").to_numpy()
    smart_sc.tl.evaluate(m, mask_obs=is_target, key_added="held_out")
    assert pl.scores_from_uns(m, "held_out").columns.name == "pearson on evaluated cells"
    assert pl.scores_from_uns(m, "smart").columns.name == "pearson on training cells"
    with pytest.raises(ValueError, match="mix scores on training cells"):
        pl.scores_from_uns(m, ["smart", "held_out"])
    ax = pl.protein_scores(m, keys="held_out", show=False)
    assert ax.get_ylabel() == "pearson on evaluated cells"


def test_scores_from_uns_lists_the_keys_of_every_place_searched(fitted):
    # It listed the RNA modality's .uns only, never the MuData's, where fits live.
    mdata, _ = fitted
    with pytest.raises(ValueError, match=r"no results stored under key 'nokey': the MuData's "
                       r"\.uns has \[.*'smart'.*\] and \.uns of modality 'rna' has "):
        pl.scores_from_uns(mdata, "nokey")

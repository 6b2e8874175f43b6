"""pl.benchmark: one box per (method, source) over splits, grouped; the summary's numbers."""


import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from smart_sc import pl


def _table():
    """3 splits; target-only ridge and OLS; SMART and source-only for two sources."""
    rows = []
    errors = {
        ("target_ridge", "none"): [1.0, 0.9, 1.1],
        ("target_ols", "none"): [1.5, 0.85, 1.6],
        ("smart", "ridge"): [0.8, 0.95, 0.7],
        ("source_only", "ridge"): [2.0, 0.5, 2.0],
        ("smart", "lasso"): [1.2, 1.0, np.nan],  # a failed fit in split 2
        ("source_only", "lasso"): [2.5, 2.5, 2.5],
    }
    for (method, source), values in errors.items():
        for split, e in enumerate(values):
            rows.append({"split": split, "method": method, "source": source, "error": e,
                         "r2": -e})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_one_box_per_method_and_source_in_groups():
    ax, summary = pl.benchmark(_table(), show=False)
    assert len(ax.patches) == 6  # box patches (patch_artist)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["target_ridge", "target_ols", "smart", "source_only", "smart",
                      "source_only"]
    ticks = ax.get_xticks()
    # Groups are separated by a one-box gap: 0 1 | 3 4 | 6 7.
    np.testing.assert_allclose(ticks, [0, 1, 3, 4, 6, 7])
    titles = [t.get_text() for t in ax.texts]
    assert titles == ["target only", "source: ridge", "source: lasso"]
    assert ax.get_ylabel().startswith("held-out error") and "lower is better" in ax.get_ylabel()
    # SMART boxes are highlighted, the others grey.
    colours = [p.get_facecolor() for p in ax.patches]
    assert colours[2] == colours[4] != colours[0]
    # Each box spans the quartiles of its values (SMART with the ridge source).
    box = ax.patches[2].get_path().vertices[:, 1]
    q25, q75 = np.percentile([0.8, 0.95, 0.7], [25, 75])
    assert box.min() == pytest.approx(q25) and box.max() == pytest.approx(q75)
    assert isinstance(summary, pd.DataFrame) and len(summary) == 6


def test_summary_numbers():
    summary = pl.benchmark_summary(_table())
    smart_ridge = summary[(summary["method"] == "smart") & (summary["source"] == "ridge")]
    row = smart_ridge.iloc[0]
    assert row["median"] == pytest.approx(0.8)
    assert row["q25"] == pytest.approx(0.75) and row["q75"] == pytest.approx(0.875)
    assert row["n_splits"] == 3
    assert row["beats_target_ridge"] == pytest.approx(2 / 3)  # loses split 1 (0.95 > 0.9)
    assert row["beats_source_only"] == pytest.approx(2 / 3)  # loses split 1 (0.95 > 0.5)
    # Best target-only per split: 1.0, 0.85, 1.1; SMART wins splits 0 and 2.
    assert row["beats_best_target_only"] == pytest.approx(2 / 3)
    lasso = summary[(summary["method"] == "smart") & (summary["source"] == "lasso")].iloc[0]
    assert lasso["n_splits"] == 2 and lasso["n_failed"] == 1  # the failed split is shown
    assert row["n_failed"] == 0
    assert lasso["beats_target_ridge"] == 0.0 and lasso["beats_source_only"] == 1.0
    others = summary[summary["method"] != "smart"]
    assert others[["beats_target_ridge", "beats_source_only"]].isna().all().all()
    assert summary["source"].iloc[0] == "none"


def test_larger_is_better_metrics():
    summary = pl.benchmark_summary(_table(), metric="r2")
    row = summary[(summary["method"] == "smart") & (summary["source"] == "ridge")].iloc[0]
    # r2 = -error here, so the comparisons must come out the same way round.
    assert row["beats_target_ridge"] == pytest.approx(2 / 3)
    assert row["median"] == pytest.approx(-0.8)


def test_given_axes_and_save(tmp_path):
    _, ax = plt.subplots()
    path = tmp_path / "box.png"
    out, _ = pl.benchmark(_table(), metric="r2", ax=ax, save=path, show=False)
    assert out is ax and path.stat().st_size > 0
    assert ax.get_ylabel() == "held-out R², higher is better"


def test_show_true_returns_no_axes(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda: None)
    ax, summary = pl.benchmark(_table(), show=True)
    assert ax is None and len(summary) == 6


@pytest.mark.parametrize(
    ("df", "kwargs", "error", "match"),
    [
        (_table(), {"metric": "seconds"}, ValueError, r"metric must be one of \['error'"),
        (_table().drop(columns="source"), {}, ValueError, r"lacks column\(s\) \['source'\]"),
        (_table().iloc[:0], {}, ValueError, "empty"),
        ({"error": [1.0]}, {}, TypeError, "expected the DataFrame"),
    ],
)
def test_bad_input(df, kwargs, error, match):
    with pytest.raises(error, match=match):
        pl.benchmark(df, show=False, **kwargs)




def test_draws_tl_benchmark_output():
    import smart_sc

    mdata = smart_sc.datasets.toy_citeseq(random_state=0)
    nk = (mdata.obs["cell_type"] == "NK").to_numpy()
    df = smart_sc.tl.benchmark(mdata, source_mask=nk, target_mask=~nk,
                               source_methods=("ridge", "ols"),
                               methods=("smart", "source_only", "target_ridge"), n_splits=2,
                               n_top_genes=100, top_k=30, verbose=False,
                               smart_params={"rank": 3, "structural_rank": 6})
    ax, summary = pl.benchmark(df, show=False)
    assert len(ax.patches) == 1 + 2 * 2
    assert (summary["n_splits"] == 2).all()
    smart = summary[summary["method"] == "smart"]
    assert smart[["beats_target_ridge", "beats_source_only",
                  "beats_best_target_only"]].notna().all().all()


def test_gain_over_placebo():
    df = _table()
    placebo = [0.88, 0.95, 0.63]  # SMART: 0.8, 0.95, 0.7 (ridge source)
    df = pd.concat([df, pd.DataFrame({"split": range(3), "method": "smart_placebo",
                                      "source": "ridge", "error": placebo,
                                      "r2": [-e for e in placebo]})], ignore_index=True)
    summary = pl.benchmark_summary(df).set_index(["method", "source"])
    row = summary.loc[("smart", "ridge")]
    # placebo / smart - 1 per split: 0.1, 0.0, -0.1; median 0.0; a strict win in one split.
    assert row["gain_over_placebo"] == pytest.approx(0.0, abs=1e-12)
    assert row["beats_placebo"] == pytest.approx(1 / 3)
    # No placebo was run with the lasso source, and other methods get no gain.
    assert np.isnan(summary.loc[("smart", "lasso"), "gain_over_placebo"])
    assert summary.drop(index=[("smart", "ridge")])["gain_over_placebo"].isna().all()
    r2 = pl.benchmark_summary(df, metric="r2").set_index(["method", "source"])
    # Larger is better: smart - placebo per split (0.08, 0.0, -0.07), median 0.
    assert r2.loc[("smart", "ridge"), "gain_over_placebo"] == pytest.approx(0.0, abs=1e-12)

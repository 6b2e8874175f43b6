"""The paper's simulation design (the paper's Section 5)."""

import numpy as np
import pytest
from scipy.linalg import toeplitz

from smart_sc.datasets import (
    PAPER_EXPERIMENTS,
    PAPER_MODELS,
    SimulatedTransfer,
    estimation_error,
    paper_settings,
    simulate_transfer,
)
from smart_sc.datasets._simulation import _ar1_cholesky

ARRAYS = ("X", "Y", "coef", "source_coef_pq", "U_star", "V_star", "source_U", "source_V")


def _proj_residual(basis, M):
    """Norm of the part of M's columns outside span(basis) (basis orthonormal)."""
    return np.linalg.norm(M - basis @ (basis.T @ M))


def test_shapes_and_orientation():
    sim = simulate_transfer(30, 12, 8, rank=2, structural_rank=4, random_state=0)
    assert isinstance(sim, SimulatedTransfer)
    assert sim.X.shape == (30, 12)
    assert sim.Y.shape == (30, 8)
    assert sim.coef.shape == sim.source_coef_pq.shape == (12, 8)
    assert sim.source_coef.shape == sim.true_coef.shape == (8, 12)
    np.testing.assert_array_equal(sim.source_coef, sim.source_coef_pq.T)
    np.testing.assert_array_equal(sim.true_coef, sim.coef.T)
    assert sim.U_star.shape == (12, 2) and sim.V_star.shape == (8, 2)
    assert sim.source_U.shape == (12, 4) and sim.source_V.shape == (8, 4)
    assert sim.u_columns.shape == sim.v_columns.shape == (2,)
    with pytest.raises(AttributeError):
        sim.X = None  # frozen


def test_same_seed_identical_different_seed_differs():
    a = simulate_transfer(50, 20, 10, random_state=3)
    b = simulate_transfer(50, 20, 10, random_state=3)
    c = simulate_transfer(50, 20, 10, random_state=4)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name)), name


def test_generator_and_randomstate_are_accepted_and_reproducible():
    a = simulate_transfer(20, 15, 12, random_state=np.random.default_rng(7))
    b = simulate_transfer(20, 15, 12, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(a.Y, b.Y)
    c = simulate_transfer(20, 15, 12, random_state=np.random.RandomState(7))
    d = simulate_transfer(20, 15, 12, random_state=7)
    np.testing.assert_array_equal(c.Y, d.Y)


def test_bases_orthonormal():
    sim = simulate_transfer(10, 40, 25, random_state=1)
    np.testing.assert_allclose(sim.source_U.T @ sim.source_U, np.eye(10), atol=1e-12)
    np.testing.assert_allclose(sim.source_V.T @ sim.source_V, np.eye(10), atol=1e-12)
    np.testing.assert_array_equal(sim.U_star, sim.source_U[:, sim.u_columns])
    np.testing.assert_array_equal(sim.V_star, sim.source_V[:, sim.v_columns])
    # distinct columns: the target picks without replacement
    assert len(set(sim.u_columns)) == len(set(sim.v_columns)) == 5


@pytest.mark.parametrize("rank", [1, 3, 5, 10])
def test_true_coef_rank_and_singular_values(rank):
    sim = simulate_transfer(10, 40, 25, rank=rank, random_state=rank)
    sv = np.linalg.svd(sim.coef, compute_uv=False)
    np.testing.assert_allclose(sv[:rank], np.linspace(3, 5, rank)[::-1], rtol=1e-12)
    assert sv[rank:].max(initial=0.0) < 1e-12
    assert np.linalg.matrix_rank(sim.coef) == rank
    np.testing.assert_array_equal(sim.singular_values, np.linspace(3, 5, rank))


def test_true_coef_lies_in_clean_source_subspaces():
    sim = simulate_transfer(10, 60, 30, rank=5, structural_rank=10, random_state=2)
    # column space of C* inside span(U0*), row space inside span(V0*)
    assert _proj_residual(sim.source_U, sim.coef) < 1e-12
    assert _proj_residual(sim.source_V, sim.coef.T) < 1e-12
    # ...and not trivially so: C* is far from the source entrywise
    assert estimation_error(sim.source_coef_pq, sim.coef) > 0.1


def test_target_mixes_source_directions_independently():
    # Left and right picks are independent draws, so across seeds they differ.
    picks = [simulate_transfer(2, 20, 20, rank=3, random_state=s) for s in range(20)]
    assert any(not np.array_equal(s.u_columns, s.v_columns) for s in picks)


def test_clean_source_rank_and_singular_values():
    s = 7
    sim = simulate_transfer(5, 30, 20, rank=3, structural_rank=s, sigma0=0.0, random_state=5)
    sv = np.linalg.svd(sim.source_coef_pq, compute_uv=False)
    np.testing.assert_allclose(sv[:s], np.linspace(10, 1, s), rtol=1e-12)
    assert sv[s:].max() < 1e-12
    assert np.linalg.matrix_rank(sim.source_coef_pq) == s
    np.testing.assert_array_equal(sim.source_coef_pq, sim.clean_source_coef_pq)


def test_source_noise_scales_one_draw():
    # sigma0 only scales E0; everything else is unchanged (common random numbers).
    a = simulate_transfer(20, 60, 40, sigma0=0.0, random_state=9)
    b = simulate_transfer(20, 60, 40, sigma0=0.1, random_state=9)
    c = simulate_transfer(20, 60, 40, sigma0=0.2, random_state=9)
    for name in ("X", "Y", "coef", "source_U", "source_V"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    e_b = b.source_coef_pq - a.source_coef_pq
    e_c = c.source_coef_pq - a.source_coef_pq
    np.testing.assert_allclose(e_c, 2 * e_b, atol=1e-12)
    # the noise is standard Gaussian times sigma0
    assert abs(e_b.std() / 0.1 - 1) < 0.05  # 2400 entries: relative sd ~0.015


def test_samples_nested_in_n():
    small = simulate_transfer(50, 20, 10, random_state=11)
    big = simulate_transfer(120, 20, 10, random_state=11)
    np.testing.assert_array_equal(small.coef, big.coef)
    np.testing.assert_array_equal(small.source_coef_pq, big.source_coef_pq)
    np.testing.assert_allclose(small.X, big.X[:50], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(small.Y, big.Y[:50], rtol=1e-13, atol=1e-13)


def test_ar1_cholesky_is_exact():
    for rho in (0.0, 0.5, -0.3, 0.95):
        L = _ar1_cholesky(12, rho)
        assert np.allclose(L, np.tril(L))
        np.testing.assert_allclose(L @ L.T, toeplitz(rho ** np.arange(12)), atol=1e-13)
    np.testing.assert_array_equal(_ar1_cholesky(5, 0.0), np.eye(5))


def test_design_covariance_is_ar1():
    p = 8
    sim = simulate_transfer(20000, p, 3, rank=1, structural_rank=2, random_state=0)
    emp = sim.X.T @ sim.X / sim.X.shape[0]
    target = toeplitz(0.5 ** np.arange(p))
    np.testing.assert_allclose(sim.covariance, target, atol=1e-15)
    # entry sd ~ sqrt(2/n) ~ 0.01: 0.05 is a loose bound
    assert np.abs(emp - target).max() < 0.05
    assert abs(sim.X.mean()) < 0.02


def test_noise_level():
    sim = simulate_transfer(4000, 20, 10, noise=0.7, random_state=1)
    resid = sim.Y - sim.X @ sim.coef
    assert abs(resid.std() - 0.7) < 0.02  # 40000 draws: sd of the estimate ~0.0025
    assert abs(resid.mean()) < 0.02
    quiet = simulate_transfer(50, 20, 10, noise=0.0, random_state=1)
    np.testing.assert_allclose(quiet.Y, quiet.X @ quiet.coef, atol=1e-12)


def test_paper_models():
    assert PAPER_MODELS == {
        "I": (100, 50, (200, 400, 600, 800, 1000)),
        "II": (150, 100, (300, 500, 700, 1000, 1200)),
        "III": (300, 200, (500, 700, 1000, 1200, 1500)),
    }


@pytest.mark.parametrize("model", ["I", "II", "III"])
def test_paper_settings_values(model):
    p, q, n_grid = PAPER_MODELS[model]
    n0 = n_grid[0]
    defaults = {
        "n": n0,
        "p": p,
        "q": q,
        "rank": 5,
        "structural_rank": 10,
        "sigma0": 0.01,
        "fit_rank": 5,
        "fit_structural_rank": 10,
    }
    expected = {
        "exp1": ("n", list(n_grid)),
        "exp2": ("fit_rank", [1, 3, 5, 7, 9, 11]),
        "exp3": ("fit_structural_rank", [0, 3, 5, 7, 10, 15, 20]),
        "exp4": ("sigma0", [0.0, 0.01, 0.02, 0.05, 0.1, 0.5]),
    }
    for exp, (param, values) in expected.items():
        assert PAPER_EXPERIMENTS[exp]["parameter"] == param
        settings = paper_settings(model, exp)
        assert len(settings) == len(values)
        assert [s["value"] for s in settings] == values
        assert [s[param] for s in settings] == values
        for s in settings:
            assert s["model"] == model and s["experiment"] == exp
            # everything but the varied parameter is at the paper's default
            others = {k: v for k, v in defaults.items() if k != param}
            assert {k: s[k] for k in others} == others


def test_paper_settings_all_and_generatable():
    every = paper_settings()
    assert len(every) == 3 * (5 + 6 + 7 + 6)
    assert len(paper_settings("I")) == 24
    assert len(paper_settings(experiment="exp3")) == 21
    # Every setting generates, including exp2's fitted rank 11 (data keep rank 5).
    for s in paper_settings("I"):
        sim = simulate_transfer(
            5,
            s["p"],
            s["q"],
            rank=s["rank"],
            structural_rank=s["structural_rank"],
            sigma0=s["sigma0"],
            random_state=0,
        )
        assert np.linalg.matrix_rank(sim.coef) == 5


def test_paper_settings_bad_names():
    with pytest.raises(ValueError, match="model"):
        paper_settings("IV", "exp1")
    with pytest.raises(ValueError, match="experiment"):
        paper_settings("I", "exp5")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": 2.5}, "n"),
        ({"p": 0}, "p"),
        ({"q": -1}, "q"),
        ({"rank": 11}, "rank"),
        ({"rank": 0}, "rank"),
        ({"rank": True}, "rank"),
        ({"structural_rank": 21, "rank": 5}, "structural_rank"),
        ({"structural_rank": 0}, "structural_rank"),
        ({"sigma0": -0.1}, "sigma0"),
        ({"sigma0": float("nan")}, "sigma0"),
        ({"noise": -1.0}, "noise"),
        ({"noise": "loud"}, "noise"),
        ({"rho": 1.0}, "rho"),
        ({"rho": -1.5}, "rho"),
    ],
)
def test_bad_inputs_raise(kwargs, name):
    args = {"n": 10, "p": 30, "q": 20}
    args.update(kwargs)
    n, p, q = args.pop("n"), args.pop("p"), args.pop("q")
    with pytest.raises(ValueError, match=rf"^{name} "):
        simulate_transfer(n, p, q, random_state=0, **args)


def test_rank_above_structural_rank_message_explains():
    with pytest.raises(ValueError, match="structural_rank=10"):
        simulate_transfer(10, 30, 20, rank=11)
    # raising the number of source directions makes rank 11 possible
    sim = simulate_transfer(10, 30, 20, rank=11, structural_rank=11, random_state=0)
    assert np.linalg.matrix_rank(sim.coef) == 11


def test_estimation_error_by_hand():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    b = np.array([[1.0, 0.0, 3.0], [4.0, 5.0, 2.0]])
    # differences 2 and 4: sqrt((4 + 16) / 6)
    assert estimation_error(a, b) == pytest.approx(np.sqrt(20 / 6), rel=1e-15)
    assert estimation_error(a.T, b.T) == pytest.approx(np.sqrt(20 / 6), rel=1e-15)
    assert estimation_error(b, b) == 0.0
    with pytest.raises(ValueError, match="transposed"):
        estimation_error(a, b.T)
    with pytest.raises(ValueError, match="shape"):
        estimation_error(a, np.zeros((2, 2)))


def test_estimation_error_orientation_on_simulation():
    sim = simulate_transfer(5, 30, 20, random_state=0)
    hat = sim.coef + 0.01
    assert estimation_error(hat, sim.coef) == pytest.approx(0.01)
    assert estimation_error(hat.T, sim.true_coef) == pytest.approx(0.01)

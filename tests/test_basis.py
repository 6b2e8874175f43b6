"""The source bases with an implicit complement: a full orthonormal basis, never stored."""

import numpy as np
import pytest

from smart_sc._core.geometry.basis import SourceBasis


@pytest.mark.parametrize("shape", [(40, 12), (12, 40), (15, 15), (45, 30)])
def test_basis_is_orthonormal_and_holds_the_svd_of_the_source(shape):
    p, q = shape
    C0 = np.random.default_rng(0).normal(size=shape)
    basis = SourceBasis.from_coef(C0, p, q)
    U0, V0, s = basis.U0, basis.V0, basis.singular_values
    k = min(p, q)
    np.testing.assert_allclose(U0.T @ U0, np.eye(p), atol=1e-12)
    np.testing.assert_allclose(V0.T @ V0, np.eye(q), atol=1e-12)
    np.testing.assert_allclose((U0[:, :k] * s) @ V0[:, :k].T, C0, atol=1e-12)
    np.testing.assert_allclose(s, np.linalg.svd(C0, compute_uv=False), rtol=1e-12)
    X = np.random.default_rng(1).normal(size=(p, 3))
    np.testing.assert_allclose(basis.to_source(X), U0.T @ X, atol=1e-12)
    np.testing.assert_allclose(basis.from_source(X), U0 @ X, atol=1e-12)


def test_tall_source_gets_lapacks_completion():
    # For a tall C0 LAPACK's full SVD takes the same Householder QR first, so
    # the completion (not only the singular vectors) is the one numpy returns.
    C0 = np.random.default_rng(2).normal(size=(100, 50))
    U, _, _ = np.linalg.svd(C0, full_matrices=True)
    U0 = SourceBasis.from_coef(C0, 100, 50).U0
    signs = np.sign(np.sum(U * U0, axis=0))
    np.testing.assert_allclose(U * signs, U0, atol=1e-12)


def test_rank_of_a_deficient_source_and_the_identity_without_source():
    rng = np.random.default_rng(3)
    C0 = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 10))
    assert SourceBasis.from_coef(C0, 30, 10).rank == 3
    assert SourceBasis.from_coef(np.zeros((30, 10)), 30, 10).rank == 0
    none = SourceBasis.from_coef(None, 30, 10)
    X = rng.normal(size=(30, 2))
    np.testing.assert_array_equal(none.to_source(X), X)
    np.testing.assert_array_equal(none.V0, np.eye(10))


def test_many_genes_store_no_gene_by_gene_matrix():
    # 20,000 genes: the dense basis would be 3.2 GB; the implicit one is p x q.
    C0 = np.random.default_rng(4).normal(size=(20_000, 20))
    basis = SourceBasis.from_coef(C0, 20_000, 20)
    stored = sum(a.nbytes for a in (basis.qr, basis.tau, basis.U_R, basis.V0))
    assert stored < 20_000 * 25 * 8
    X = np.random.default_rng(5).normal(size=(20_000, 2))
    np.testing.assert_allclose(basis.from_source(basis.to_source(X)), X, atol=1e-10)


def test_products_side_by_side_on_threads_read_the_same_reflectors():
    # dormqr's unblocked code writes each reflector's implicit 1 on the diagonal
    # while it works and then puts back what was there: with R's diagonal stored
    # there, a product on one thread could read it mid-product on another (seen:
    # 13 wrong products in 9,600 on four threads). The 1 is stored instead.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    p, q = 400, 12
    basis = SourceBasis.from_coef(rng.normal(size=(p, q)), p, q)
    np.testing.assert_array_equal(np.diag(basis.qr[:q]), 1.0)
    before = basis.qr.copy()
    Xs = [rng.normal(size=(p, 3)) for _ in range(4)]
    want = [basis.from_source(X) for X in Xs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: basis.from_source(Xs[i % 4]), range(400)))
    for i, product in enumerate(got):
        np.testing.assert_array_equal(product, want[i % 4])
    np.testing.assert_array_equal(basis.qr, before)


def test_read_only_reflectors_give_the_same_products():
    import dataclasses

    rng = np.random.default_rng(6)
    basis = SourceBasis.from_coef(rng.normal(size=(50, 7)), 50, 7)
    frozen_qr = basis.qr.copy(order="F")
    frozen_qr.flags.writeable = False  # as joblib's memory maps are
    frozen = dataclasses.replace(basis, qr=frozen_qr)
    X = rng.normal(size=(50, 4))
    np.testing.assert_array_equal(frozen.from_source(X), basis.from_source(X))
    np.testing.assert_array_equal(frozen.to_source(X), basis.to_source(X))

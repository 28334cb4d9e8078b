"""FastGram and fast_gp_nll against dense float64 linear algebra.

Kernels here are written out in the test (independent of
``jaxmethods.qmc``'s kernel classes): a product Bernoulli-polynomial kernel
(shift-invariant, alpha = 1) for lattices and the base-2 Walsh kernel of
smoothness 1 for digital nets.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from jaxmethods.qmc import (
    FastGram,
    digital_net_b2,
    fast_gp_nll,
    lattice,
)

from ..helpers import assert_close


class SIKernel(eqx.Module):
    scale: jax.Array
    gamma: jax.Array

    def __call__(self, x, z):
        d = (x - z) % 1.0
        b2 = d**2 - d + 1 / 6
        g = self.gamma.reshape((1,) * (b2.ndim - 1) + (-1,))
        return self.scale * jnp.prod(1 + g * 2 * jnp.pi**2 * b2, axis=-1)


class DSIKernel(eqx.Module):
    scale: jax.Array
    gamma: jax.Array
    alpha: int = eqx.field(static=True, default=1)
    t: int = eqx.field(static=True, default=32)

    def __call__(self, x, z):
        xi = jnp.floor(x * 2.0**self.t).astype(jnp.uint64)
        zi = jnp.floor(z * 2.0**self.t).astype(jnp.uint64)
        u = (xi ^ zi).astype(jnp.float64) * 2.0**-self.t
        safe = jnp.where(u > 0, u, 1.0)
        lg = jnp.floor(jnp.log2(safe))
        if self.alpha == 1:  # depends on the leading differing bit only
            kt = jnp.where(u > 0, 6 * (1 / 6 - 2.0 ** (lg - 1)), 1.0)
        else:  # alpha = 2: beta = -floor(log2 u), t1 = 2^-beta
            kt = jnp.where(u > 0, lg * u + 2.5 * (1 - 2.0**lg) - 1, 1.5)
        g = self.gamma.reshape((1,) * (kt.ndim - 1) + (-1,))
        return self.scale * jnp.prod(1 + g * kt, axis=-1)


# eqx.error_if raises EquinoxRuntimeError eagerly; from a jitted call the
# error surfaces through XLA's callback as a JaxRuntimeError with the message
_RUNTIME = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError)


def _setup(kind, m=8, d=3, seed=0):
    key = jax.random.key(seed)
    n = 2**m
    if kind == "lattice":
        x = lattice(key, n, d)
        k = SIKernel(jnp.asarray(1.3), jnp.asarray([0.9, 0.5, 0.2][:d]))
    else:
        x = digital_net_b2(key, n, d)
        k = DSIKernel(jnp.asarray(1.3), jnp.asarray([0.9, 0.5, 0.2][:d]))
    return x, k


def _dense(k, x, eta):
    return np.asarray(k(x[:, None, :], x[None, :, :])) + eta * np.eye(x.shape[0])


@pytest.mark.parametrize("kind", ["lattice", "net"])
@pytest.mark.parametrize("m", [1, 4, 10])
def test_fast_ops_equal_dense(kind, m):
    x, k = _setup(kind, m=m)
    eta = 1e-3
    n = 2**m
    rng = np.random.default_rng(m)
    y = rng.standard_normal(n)
    ys = rng.standard_normal((n, 3))

    @jax.jit
    def fast(x, y, ys):
        g = FastGram(k, x, kind=kind, nugget=eta)
        return g.matvec(y), g.matvec(ys), g.solve(ys), g.logdet(), g.quad(y), g.eigs

    mv, mv2, sol_f, logdet_f, quad_f, eigs = fast(x, jnp.asarray(y), jnp.asarray(ys))
    kd = _dense(k, x, eta)
    scale = np.abs(kd).max()
    assert_close(mv, jnp.asarray(kd @ y), rtol=1e-10, atol=1e-10 * scale * n)
    assert_close(mv2, jnp.asarray(kd @ ys), rtol=1e-10, atol=1e-10 * scale * n)
    sol = np.linalg.solve(kd, ys)
    assert_close(sol_f, jnp.asarray(sol), rtol=1e-8, atol=1e-8 * np.abs(sol).max())
    sign, logdet = np.linalg.slogdet(kd)
    assert sign > 0
    assert abs(float(logdet_f) - logdet) <= 1e-10 * max(1.0, abs(logdet))
    quad = y @ np.linalg.solve(kd, y)
    assert abs(float(quad_f) - quad) <= 1e-8 * abs(quad)
    # eigenvalues are those of the dense matrix
    want = jnp.asarray(np.linalg.eigvalsh(kd))
    assert_close(jnp.sort(eigs), want, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("kind", ["lattice", "net"])
def test_nll_and_gradient_equal_dense(kind):
    x, k = _setup(kind, m=7)
    y = jnp.sin(2 * jnp.pi * x[:, 0]) + x[:, 1] ** 2

    def dense_nll(kern, eta):
        kd = kern(x[:, None, :], x[None, :, :]) + eta * jnp.eye(x.shape[0])
        chol = jnp.linalg.cholesky(kd)
        a = jax.scipy.linalg.cho_solve((chol, True), y)
        n = x.shape[0]
        return (
            0.5 * y @ a
            + jnp.sum(jnp.log(jnp.diag(chol)))
            + 0.5 * n * jnp.log(2 * jnp.pi)
        )

    def fast(kern, eta):
        return fast_gp_nll(kern, x, y, kind=kind, nugget=eta)

    eta = jnp.asarray(1e-4)
    nf, nd = float(jax.jit(fast)(k, eta)), float(jax.jit(dense_nll)(k, eta))
    assert abs(nf - nd) < 1e-9 * abs(nd)
    gf = eqx.filter_jit(eqx.filter_grad(fast))(k, eta)
    gd = eqx.filter_jit(eqx.filter_grad(dense_nll))(k, eta)
    assert_close(gf.scale, gd.scale, rtol=1e-8)
    assert_close(gf.gamma, gd.gamma, rtol=1e-8)
    ge_f = jax.jit(jax.grad(fast, argnums=1))(k, eta)
    ge_d = jax.jit(jax.grad(dense_nll, argnums=1))(k, eta)
    assert_close(ge_f, ge_d, rtol=1e-7)
    # under jit, and vmapped over data sets (keys)
    nll = jax.jit(lambda kern: fast(kern, eta))(k)
    assert_close(nll, fast(k, eta))


def test_vmap_over_randomizations():
    keys = jax.random.split(jax.random.key(3), 4)
    k = SIKernel(jnp.asarray(1.0), jnp.asarray([0.5, 0.5]))

    def one(key):
        x = lattice(key, 64, 2)
        return FastGram(k, x, kind="lattice", nugget=1e-6).logdet()

    out = jax.vmap(one)(keys)
    # shifting a lattice does not change its Gram matrix
    assert_close(out, jnp.full((4,), out[0]), rtol=1e-10)


def test_float32():
    x, _ = _setup("lattice", m=6)
    k = SIKernel(
        jnp.asarray(1.0, jnp.float32), jnp.asarray([0.5, 0.5, 0.5], jnp.float32)
    )
    g = FastGram(k, x.astype(jnp.float32), kind="lattice", nugget=1e-3)
    assert g.eigs.dtype == jnp.float32
    y = jnp.ones(64, jnp.float32)
    assert g.solve(y).dtype == jnp.float32
    kd = _dense(k, np.asarray(x, np.float64).astype(np.float32), 1e-3)
    assert_close(
        g.matvec(y), jnp.asarray(kd @ np.ones(64), jnp.float32), rtol=1e-4, atol=1e-3
    )


def test_structure_violations_are_refused():
    x, k = _setup("net", m=6)
    with pytest.raises(ValueError, match="power of two"):
        FastGram(k, x[:48], kind="net")
    # the library's ValueError, or the runtime annotation check of the test suite
    with pytest.raises((ValueError, TypeCheckError), match="kind"):
        FastGram(k, x, kind="sobol")  # pyright: ignore[reportArgumentType]
    # Gray order breaks a lattice's structure ...
    xl, kl = _setup("lattice", m=6)
    gray_lattice = lattice(jax.random.key(0), 64, 3, order="gray")
    with pytest.raises(_RUNTIME, match="not diagonalised"):
        FastGram(kl, gray_lattice, kind="lattice")
    # nested uniform scrambling (Owen) keeps the leading differing bit of two
    # points, so the alpha = 1 kernel is unchanged, but alpha = 2 is not
    nus = digital_net_b2(jax.random.key(0), 64, 3, randomize="nus")
    k2 = DSIKernel(k.scale, k.gamma, alpha=2)
    FastGram(k2, x, kind="net")
    with pytest.raises(_RUNTIME, match="not diagonalised"):
        FastGram(k2, nus, kind="net")
    # a net with the lattice's transform, and random points
    with pytest.raises(_RUNTIME, match="not diagonalised"):
        FastGram(kl, x, kind="lattice")
    with pytest.raises(_RUNTIME, match="not diagonalised"):
        jax.jit(lambda z: FastGram(kl, z, kind="lattice").logdet())(
            jax.random.uniform(jax.random.key(1), (64, 3))
        )
    # the same points pass when the structure holds
    FastGram(kl, xl, kind="lattice")


def test_gray_ordered_nets_keep_the_structure():
    """The Gray map g(i) = i ^ (i >> 1) is linear over GF(2), so
    x_g(i) xor x_g(j) = x_g(i xor j) and the Gram matrix is still a function of
    i xor j: the Walsh transform diagonalises it (unlike a Gray-ordered
    lattice, refused above)."""
    _, k = _setup("net", m=6)
    gray = digital_net_b2(jax.random.key(0), 64, 3, order="gray")
    g = FastGram(k, gray, kind="net", nugget=1e-3)
    kd = _dense(k, gray, 1e-3)
    y = np.random.default_rng(0).standard_normal(64)
    assert_close(
        g.solve(jnp.asarray(y)), jnp.asarray(np.linalg.solve(kd, y)), rtol=1e-8
    )


def test_research_eigenvalues_with_the_library_kernels():
    """qmc.md §1.3: lambda = sqrt(8) ft(K[:, 0]) for the alpha = (1, 2, 3, 4),
    scale 10, lengthscales 1/j^2 kernels on qmcpy's seeded point sets."""
    qp = pytest.importorskip("qmcpy")
    from jaxmethods.qmc import DigitalShiftInvariantKernel, ShiftInvariantKernel

    ls = 1.0 / np.arange(1, 5) ** 2
    x = jnp.asarray(qp.Lattice(4, seed=11)(8))
    si = ShiftInvariantKernel(4, alpha=(1, 2, 3, 4), scale=10.0, lengthscales=ls)
    lam = FastGram(si, x, kind="lattice").eigs
    want = [116.1267515517, 118.2710665176, 77.5306502123, 68.8410137941,
            84.4633436721, 68.8410137941, 77.5306502123, 118.2710665176]  # fmt: skip
    assert_close(lam, jnp.asarray(want), rtol=1e-9)
    xb = jnp.asarray(qp.DigitalNetB2(4, seed=11)(8, return_binary=True))
    dsi = DigitalShiftInvariantKernel(
        4, 63, alpha=(1, 2, 3, 4), scale=10.0, lengthscales=ls
    )
    lam = FastGram(dsi, xb, kind="net").eigs
    want = [90.5848776773, 52.3998249076, 28.4369263226, 28.2283435678,
            15.845405297, 17.496895297, 19.6955520796, 23.2351350844]  # fmt: skip
    assert_close(lam, jnp.asarray(want), rtol=1e-9)

"""FastGP: posterior equals dense GP algebra; fitting lowers the marginal likelihood."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from jaxmethods.qmc import (
    DigitalShiftInvariantKernel,
    FastGP,
    ShiftInvariantKernel,
    digital_net_b2,
    lattice,
)

from ..helpers import assert_close


def _f(x):
    return jnp.sin(2 * jnp.pi * x[:, 0]) + 0.5 * x[:, 1] ** 2 + 0.1 * x[:, 2]


def _problem(kind, m=7):
    key = jax.random.key(0)
    if kind == "lattice":
        x = lattice(key, 2**m, 3)
        k = ShiftInvariantKernel(3, alpha=2, scale=1.5, lengthscales=[0.8, 0.4, 0.2])
    else:
        x = digital_net_b2(key, 2**m, 3)
        k = DigitalShiftInvariantKernel(
            3, 32, alpha=2, scale=1.5, lengthscales=[0.8, 0.4, 0.2]
        )
    return x, _f(x), k


@pytest.mark.parametrize("kind", ["lattice", "net"])
def test_posterior_equals_dense(kind):
    x, y, k = _problem(kind)
    gp = FastGP(k, x, y, kind=kind, nugget=1e-4)
    xs = jax.random.uniform(jax.random.key(1), (9, 3))
    mean, var = jax.jit(lambda g, z: g.predict(z))(gp, xs)
    kd = np.asarray(k.gram(x), np.float64) + 1e-4 * np.eye(x.shape[0])
    ks = np.asarray(k.gram(xs, x), np.float64)  # (9, n)
    mu = float(gp.mean)
    want_mean = mu + ks @ np.linalg.solve(kd, np.asarray(y) - mu)
    prior = np.asarray(k(xs, xs), np.float64)
    want_var = prior - np.sum(ks.T * np.linalg.solve(kd, ks.T), axis=0)
    assert_close(mean, jnp.asarray(want_mean), rtol=1e-8, atol=1e-9)
    assert_close(var, jnp.asarray(np.maximum(want_var, 0)), rtol=1e-6, atol=1e-8)
    # at a training point, the posterior nearly interpolates
    m0, v0 = gp.predict(x[:3])
    assert_close(m0, y[:3], atol=1e-2)
    assert float(jnp.max(v0)) < 1e-2 * float(k(x[:1], x[:1])[0])


@pytest.mark.parametrize("kind", ["lattice", "net"])
def test_fit_lowers_nll_and_improves_prediction(kind, capsys):
    x, y, k = _problem(kind, m=8)
    gp = FastGP(k, x, y, kind=kind, nugget=1e-2)
    fitted, history = gp.fit(steps=60, progress=True)
    assert history.shape == (60,)
    assert bool(jnp.all(jnp.isfinite(history)))
    assert float(fitted.nll()) < float(gp.nll()) - 1.0
    assert "FastGP.fit: step 60/60" in capsys.readouterr().out
    # positive hyperparameters stay positive (log-space optimisation)
    assert float(fitted.kernel.scale) > 0 and float(fitted.nugget) > 0
    assert bool(jnp.all(fitted.kernel.lengthscales > 0))
    xs = jax.random.uniform(jax.random.key(2), (256, 3))
    err_before = jnp.sqrt(jnp.mean((gp.predict(xs)[0] - _f(xs)) ** 2))
    err_after = jnp.sqrt(jnp.mean((fitted.predict(xs)[0] - _f(xs)) ** 2))
    assert float(err_after) < float(err_before)


def test_errors():
    x, y, k = _problem("lattice", m=4)
    # the library's message, or the test suite's runtime shape check
    with pytest.raises((ValueError, TypeCheckError)):
        FastGP(k, x, y[:5], kind="lattice")
    with pytest.raises(ValueError, match="nugget"):
        FastGP(k, x, y, kind="lattice", nugget=0.0)
    with pytest.raises(ValueError, match="steps"):
        FastGP(k, x, y, kind="lattice").fit(steps=0)


def test_predict_batches_and_mean_only():
    x, y, k = _problem("lattice")
    gp = FastGP(k, x, y, kind="lattice", nugget=1e-4)
    xs = jax.random.uniform(jax.random.key(2), (11, 3))
    m1, v1 = gp.predict(xs)
    m2, v2 = gp.predict(xs, batch_size=4)  # 3 blocks, the last one padded
    assert_close(m2, m1, rtol=1e-12, atol=1e-12)
    assert_close(v2, v1, rtol=1e-10, atol=1e-12)
    m3 = gp.predict(xs, variance=False)
    assert m3.shape == (11,)
    assert_close(m3, m1, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="batch_size"):
        gp.predict(xs, batch_size=0)


def test_fit_with_lbfgs_and_compiled_once():
    import optax

    from jaxmethods.qmc._fast_gp import _fit_chunk

    x, y, k = _problem("net", m=8)
    gp = FastGP(k, x, y, kind="net", nugget=1e-2)
    opt = optax.lbfgs()
    fitted, history = gp.fit(steps=20, optimizer=opt)
    assert float(fitted.nll()) < float(gp.nll()) - 1.0
    assert bool(jnp.all(jnp.isfinite(history)))
    # a second fit with the same optimizer object reuses the compiled steps
    before = _fit_chunk._cached._cache_size()  # pyright: ignore[reportAttributeAccessIssue]
    fitted.fit(steps=20, optimizer=opt)
    assert _fit_chunk._cached._cache_size() == before  # pyright: ignore[reportAttributeAccessIssue]

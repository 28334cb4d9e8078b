"""Resampling schemes: unbiased counts, structure, transforms and errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods import smc
from tests.helpers import assert_mean_within, unchecked


SCHEMES = [smc.multinomial, smc.systematic, smc.stratified, smc.residual]
W = np.array([0.05, 0.0, 0.41, 0.29, 0.25])  # M W_i never an integer


def _counts(idx, n):
    return jax.nn.one_hot(idx, n).sum(axis=-2)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda f: f.__name__)
def test_counts_are_unbiased(scheme):
    # E[count_i] = M W_i for every scheme. 5 entries x 4 schemes at k=4: a
    # false-alarm rate of about 1e-3 in all.
    m, reps = 10, 4000
    lw = jnp.log(jnp.asarray(W)) + 3.7  # unnormalized on purpose
    keys = jr.split(jr.key(0), reps)
    idx = jax.jit(jax.vmap(lambda k: scheme(k, lw, m)))(keys)
    assert idx.dtype == jnp.int32 and idx.shape == (reps, m)
    counts = np.asarray(_counts(idx, W.size))
    assert np.all(counts[:, 1] == 0)  # zero weight: never drawn
    mask = W > 0
    assert_mean_within(counts[:, mask], m * W[mask], k=4.0)


def test_low_variance_structure():
    lw = jnp.log(jnp.asarray(W))
    m = 10
    keys = jr.split(jr.key(1), 500)
    for scheme in (smc.systematic, smc.residual):
        idx = jax.vmap(lambda k, s=scheme: s(k, lw, m))(keys)
        counts = np.asarray(_counts(idx, W.size))
        floor = np.floor(m * W)
        assert np.all(counts >= floor), scheme.__name__
        if scheme is smc.systematic:
            assert np.all(counts <= np.ceil(m * W))


def test_residual_all_integer_weights():
    lw = jnp.log(jnp.array([0.5, 0.25, 0.25]))
    idx = smc.residual(jr.key(0), lw, 4)
    np.testing.assert_array_equal(np.sort(idx), [0, 0, 1, 2])


def test_conditional_multinomial():
    lw = jnp.log(jnp.array([0.2, 0.8, 0.0]))
    keys = jr.split(jr.key(2), 3000)
    idx = jax.vmap(lambda k: smc.conditional_multinomial(k, lw, 6))(keys)
    assert np.all(idx[:, -1] == 2)  # frozen slot gets the last particle
    counts = np.asarray(_counts(idx[:, :-1], 3))
    assert np.all(counts[:, 2] == 0)
    assert_mean_within(counts[:, :2], 5 * np.array([0.2, 0.8]))
    idx = smc.conditional_multinomial(jr.key(0), lw, 6, reference_index=0)
    assert int(idx[-1]) == 0


def test_float32_and_long_series_weights():
    # Weights far below exp(-745) still resample: only differences matter.
    lw = jnp.array([-2000.0, -2001.0, -5000.0], jnp.float32)
    for scheme in SCHEMES:
        idx = scheme(jr.key(0), lw, 8)
        assert set(np.asarray(idx).tolist()) <= {0, 1}, scheme.__name__


@pytest.mark.parametrize("scheme", [*SCHEMES, smc.conditional_multinomial])
def test_errors(scheme):
    name = scheme.__name__
    f = unchecked(scheme)
    with pytest.raises(
        ValueError, match=f"{name}: log_weights must be a non-empty 1-D"
    ):
        f(jr.key(0), jnp.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match=f"{name}: num_samples must be"):
        f(jr.key(0), jnp.zeros(3), 0)
    with pytest.raises(TypeError, match=f"{name}: log_weights must be floating"):
        f(jr.key(0), jnp.zeros(3, jnp.int32), 3)
    bad = jnp.array([0.0, jnp.nan, 0.0])
    with pytest.raises((ValueError, RuntimeError), match="NaN or are all -inf"):
        jax.jit(lambda lw: scheme(jr.key(0), lw, 3))(bad).block_until_ready()
    with pytest.raises((ValueError, RuntimeError), match="NaN or are all -inf"):
        scheme(jr.key(0), jnp.full(3, -jnp.inf), 3).block_until_ready()

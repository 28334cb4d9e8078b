"""Particle filters: log-evidence unbiasedness, proposals, transforms, errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.stats as jss
import numpy as np
import pytest

from jaxmethods import smc
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    unchecked,
)
from tests.smc.common import reference


class OptimalProposal(smc.Proposal):
    """The fully adapted proposal of the scalar reference LGSSM.

    ``q_t(x_t | x_{t-1}, y_t) = p(x_t | x_{t-1}, y_t)`` and the auxiliary
    weight ``p(y_t | x_{t-1})``: every particle weight is then the same.
    """

    def _scales(self, params):
        return jnp.exp(params["log_sigma_x"]), jnp.exp(params["log_sigma_y"])

    def _post(self, prior_mean, prior_var, y, params):
        _, sy = self._scales(params)
        var = 1.0 / (1.0 / prior_var + 1.0 / sy**2)
        return var * (prior_mean / prior_var + y[0] / sy**2), var

    def sample(self, key, x_prev, y, t, params):
        sx, _ = self._scales(params)
        m, v = self._post(params["rho"] * x_prev[0], sx**2, y, params)
        return (m + jnp.sqrt(v) * jr.normal(key, (), m.dtype))[None]

    def log_prob(self, x_prev, x, y, t, params):
        sx, _ = self._scales(params)
        m, v = self._post(params["rho"] * x_prev[0], sx**2, y, params)
        return jss.norm.logpdf(x[0], m, jnp.sqrt(v))

    def log_adjustment(self, x_prev, y, t, params):
        sx, sy = self._scales(params)
        return jss.norm.logpdf(y[0], params["rho"] * x_prev[0], jnp.sqrt(sx**2 + sy**2))

    def sample_init(self, key, y, params):
        m, v = self._post(jnp.zeros(()), 1.0, y, params)
        return (m + jnp.sqrt(v) * jr.normal(key, (), m.dtype))[None]

    def log_prob_init(self, x0, y, params):
        m, v = self._post(jnp.zeros(()), 1.0, y, params)
        return jss.norm.logpdf(x0[0], m, jnp.sqrt(v))


def _ratio(log_z_hat, log_z):
    return np.exp(np.asarray(log_z_hat, np.float64) - log_z)


@pytest.mark.parametrize(
    ("resampling", "ess_threshold"),
    [(smc.multinomial, 1.0), (smc.systematic, 0.5), (smc.residual, 1.0)],
    ids=["multinomial", "systematic-adaptive", "residual"],
)
def test_evidence_is_unbiased(resampling, ess_threshold):
    # E[Z^ / Z] = 1 on the first 10 observations (exact log Z by Kalman).
    # 20,000 runs of N = 20; k = 4: false-alarm rate about 6e-5 per case.
    model, params, ys = reference()
    ys = ys[:10]
    log_z = float(model.log_likelihood(params, ys))

    def run(k):
        out = smc.particle_filter(
            k, model, params, ys, 20, resampling=resampling, ess_threshold=ess_threshold
        )
        return out.log_evidence, jnp.mean(out.resampled[1:])

    log_z_hat, frac = jax.jit(jax.vmap(run))(jr.split(jr.key(10), 20_000))
    assert_mean_within(_ratio(log_z_hat, log_z), 1.0)
    if ess_threshold < 1.0:
        assert 0.05 < float(jnp.mean(frac)) < 0.95  # it did skip some steps
    else:
        assert float(jnp.mean(frac)) == 1.0


def test_fully_adapted_auxiliary_filter():
    # With the optimal proposal and adjustment all weights are equal, so the
    # evidence estimate is still unbiased and has far less variance.
    model, params, ys = reference()
    ys = ys[:10]
    log_z = float(model.log_likelihood(params, ys))
    prop = OptimalProposal()

    def run(k, proposal):
        return smc.particle_filter(k, model, params, ys, 20, proposal=proposal)

    keys = jr.split(jr.key(11), 4000)
    apf = jax.jit(jax.vmap(lambda k: run(k, prop)))(keys)
    boot = jax.jit(jax.vmap(lambda k: run(k, None)))(keys)
    assert_mean_within(_ratio(apf.log_evidence, log_z), 1.0)
    # Equal weights within each step (up to rounding).
    spread = jnp.max(apf.log_weights, -1) - jnp.min(apf.log_weights, -1)
    assert float(jnp.max(spread)) < 1e-10
    assert float(jnp.std(apf.log_evidence)) < 0.2 * float(jnp.std(boot.log_evidence))


def test_full_series_log_evidence():
    # On all 100 observations log Z^ is biased low by about var/2; the check
    # of research/smc.md: |mean - log Z| < 4 sd / sqrt(R) + sd^2 / 2.
    model, params, ys = reference()
    log_z = float(model.log_likelihood(params, ys))
    reps = 200
    out = jax.jit(
        jax.vmap(lambda k: smc.particle_filter(k, model, params, ys, 1000).log_evidence)
    )(jr.split(jr.key(12), reps))
    x = np.asarray(out)
    sd = x.std(ddof=1)
    assert abs(x.mean() - log_z) < 4 * sd / np.sqrt(reps) + sd**2 / 2
    assert 0.1 < sd < 1.5  # about 0.51 at N = 1000 (research notes)


def test_output_structure_and_ancestry():
    model, params, ys = reference()
    out = smc.particle_filter(jr.key(0), model, params, ys, 64)
    assert out.particles.shape == (100, 64, 1)
    assert out.log_weights.shape == out.ancestors.shape == (100, 64)
    np.testing.assert_array_equal(out.ancestors[0], np.arange(64))
    assert out.ancestors.dtype == jnp.int32
    assert_close(out.log_evidence, jnp.sum(out.log_evidence_increments))
    assert_close(out.log_evidence_increments, jax.nn.logsumexp(out.log_weights, -1))
    w = jax.nn.softmax(out.log_weights, -1)
    assert_close(out.ess, 1.0 / jnp.sum(w**2, -1))
    # Bootstrap weights are the observation densities at the particles.
    t = jnp.asarray(7, jnp.int32)
    g = jax.vmap(lambda x: model.log_observation(x, ys[t], t, params))(out.particles[t])
    assert_close(
        out.log_weights[t] - jax.nn.logsumexp(out.log_weights[t]),
        g - jax.nn.logsumexp(g),
    )


def test_transforms():
    model, params, ys = reference()

    def f(key, rho):
        p = dict(params, rho=rho)
        return smc.particle_filter(key, model, p, ys[:20], 32).log_evidence

    key = jr.key(3)
    jf = jax.jit(f)
    assert_close(jf(key, 0.9), f(key, 0.9))
    keys = jr.split(key, 3)
    rhos = jnp.array([0.5, 0.8, 0.95])
    batched = jax.jit(jax.vmap(f))(keys, rhos)
    assert_close(
        batched, jnp.stack([jf(k, r) for k, r in zip(keys, rhos, strict=True)])
    )
    assert_traced_once(
        lambda k, y: smc.particle_filter(k, model, params, y, 16).log_evidence,
        [(jr.key(i), ys[:20] + i) for i in range(3)],
    )


def test_float32():
    model, params, ys = reference()
    p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    out = smc.particle_filter(jr.key(0), model, p32, ys.astype(jnp.float32), 64)
    assert out.log_weights.dtype == jnp.float32
    assert out.particles.dtype == jnp.float32
    assert out.log_evidence.dtype == jnp.float32
    log_z = float(model.log_likelihood(params, ys))
    assert abs(float(out.log_evidence) - log_z) < 10.0


def test_errors():
    model, params, ys = reference()
    pf = unchecked(smc.particle_filter)
    with pytest.raises(ValueError, match="particle_filter: num_particles must be"):
        smc.particle_filter(jr.key(0), model, params, ys, 0)
    with pytest.raises(ValueError, match="particle_filter: ess_threshold must be in"):
        smc.particle_filter(jr.key(0), model, params, ys, 8, ess_threshold=2.0)
    with pytest.raises(TypeError, match="particle_filter: model must be"):
        pf(jr.key(0), object(), params, ys, 8)
    with pytest.raises(TypeError, match="particle_filter: resampling must be"):
        pf(jr.key(0), model, params, ys, 8, resampling="systematic")
    with pytest.raises(ValueError, match="particle_filter: every leaf of ys"):
        smc.particle_filter(jr.key(0), model, params, {"a": ys, "b": ys[:5]}, 8)
    bad = ys.at[3].set(jnp.nan)  # NaN observation -> NaN weights at t = 3
    with pytest.raises((ValueError, RuntimeError), match="NaN"):
        jax.jit(lambda y: smc.particle_filter(jr.key(0), model, params, y, 8))(
            bad
        ).log_evidence.block_until_ready()

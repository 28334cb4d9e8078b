"""The two-level inverse CDF of ``jaxmethods._internal.sampling``."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from scipy import stats

from jaxmethods._internal.sampling import two_level_inverse_cdf


def test_draw_index_law_across_blocks():
    # the two-level inverse CDF over 300 weights (3 blocks, the last one
    # partial), a third of them zero: chi-square over the 200 positive ones,
    # false-alarm rate 0.1%; zero weights are never drawn
    def _draw_index(w, u):
        return two_level_inverse_cdf(w, u, 128)

    w = np.random.default_rng(4).uniform(0.2, 1.0, 300)
    w[::3] = 0.0
    n = 200_000
    us = jr.uniform(jr.key(8), (n,), jnp.float64)
    idx = np.asarray(jax.jit(jax.vmap(_draw_index, (None, 0)))(jnp.asarray(w), us))
    counts = np.bincount(idx, minlength=300)
    assert counts[w == 0].sum() == 0
    pos = w > 0
    expect = n * w[pos] / w.sum()
    chi2 = np.sum((counts[pos] - expect) ** 2 / expect)
    assert chi2 < stats.chi2.ppf(0.999, pos.sum() - 1), chi2
    # the ends of [0, 1) give the first and last positive weights
    ends = jnp.array([0.0, 1.0 - 1e-16, 1.0])
    np.testing.assert_array_equal(
        jax.vmap(_draw_index, (None, 0))(jnp.asarray(w), ends), [1, 299, 299]
    )

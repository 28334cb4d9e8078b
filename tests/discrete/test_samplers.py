"""Ancestral and RADD-cached samplers against the exact DP law of the table oracle.

Chi-square tests reject at p < 1e-3 (false-alarm rate 1e-3 each, on fixed
seeds, so a pass is reproducible). NFE means use 4 standard errors.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxmethods.discrete as jd
from jaxmethods.testing.discrete_oracle import ancestral_output_law

from ..helpers import assert_close, assert_mean_within, unchecked
from .common import L, V, chi_square_pvalue, oracle


N_SAMPLES = 200_000
P_MIN = 1e-3


def _sample(sampler, key, num_steps, n=N_SAMPLES, **kw):
    return sampler(key, oracle(), (n, L), num_steps=num_steps, **kw)


@pytest.mark.parametrize("num_steps", [1, 4, 16])
def test_ancestral_law_matches_exact_dp(num_steps):
    law = ancestral_output_law(oracle(), V, L, num_steps)
    tokens, nfe = _sample(jd.ancestral_sample, jr.key(num_steps), num_steps)
    assert tokens.shape == (N_SAMPLES, L) and tokens.dtype == jnp.int32
    assert np.all(np.asarray(nfe) == num_steps)
    assert chi_square_pvalue(tokens, law) > P_MIN


@pytest.mark.parametrize(
    "num_steps,kw",
    [
        (4, {"schedule": jd.LinearSchedule()}),
        (16, {"schedule": jd.LinearSchedule()}),
        (16, {"schedule": jd.LinearSchedule(), "method": "euler"}),
        (8, {"schedule": jd.CosineSchedule(eps=0.0), "grid": "cosine"}),
    ],
)
def test_cached_law_equals_uncached_law(num_steps, kw):
    law_kw = {k: v for k, v in kw.items() if k in ("schedule", "grid")}
    law = ancestral_output_law(oracle(), V, L, num_steps, **law_kw)
    tokens, nfe = _sample(
        jd.radd_cached_sample, jr.key(100 + num_steps), num_steps, **kw
    )
    assert chi_square_pvalue(tokens, law) > P_MIN
    assert np.all(np.asarray(nfe) <= min(num_steps, L))
    want = float(jd.expected_cached_nfe(L, num_steps=num_steps, **kw))
    assert_mean_within(np.asarray(nfe), want, k=4.0)


def test_expected_nfe_closed_form():
    # RADD: N (1 - (1 - 1/N)^L) for the linear schedule on a uniform grid
    for n, length in [(16, 4), (1024, 1024), (4096, 1024), (64, 256)]:
        want = n * (1 - (1 - 1 / n) ** length)
        assert_close(jd.expected_cached_nfe(length, num_steps=n), jnp.asarray(want))
    assert abs(float(jd.expected_cached_nfe(1024, num_steps=1024)) - 647.475) < 1e-3
    assert abs(float(jd.expected_cached_nfe(1024, num_steps=4096)) - 906.129) < 1e-3
    assert float(jd.expected_cached_nfe(4, num_steps=16)) == pytest.approx(
        3.640380859375
    )


def test_cached_nfe_mean_long_sequences():
    """NFE over 2000 sequences of L = 64 with N = 256 matches the closed form."""
    uniform = lambda z: jnp.full((z.shape[0], 5), -jnp.log(5.0))  # noqa: E731
    _, nfe = jd.radd_cached_sample(
        jr.key(7), uniform, (2000, 64), num_steps=256, schedule=jd.LinearSchedule()
    )
    want = 256 * (1 - (1 - 1 / 256) ** 64)
    assert_mean_within(np.asarray(nfe), want, k=4.0)


def test_prompt_tokens_are_kept_and_not_counted():
    prompt = jnp.array([[0, V, 2, V], [V, V, V, V], [1, 1, 1, 1]], jnp.int32)
    for sampler in (jd.ancestral_sample, jd.radd_cached_sample):
        tokens, nfe = sampler(
            jr.key(0), oracle(), prompt.shape, num_steps=8, prompt=prompt
        )
        visible = np.asarray(prompt) != V
        assert np.array_equal(np.asarray(tokens)[visible], np.asarray(prompt)[visible])
        assert np.all(np.asarray(tokens) < V)
    # a fully visible prompt needs no network call in the cached sampler
    assert int(nfe[2]) == 0 and int(nfe[0]) <= 2


def test_prompt_law_is_the_conditional_with_one_token_per_step():
    """With z_0 = (0, M, 2, M) and N large, the law tends to P(x1, x3 | x0=0, x2=2)."""
    p = np.asarray(jnp.exp(oracle().log_p))
    cond = p[0, :, 2, :] / p[0, :, 2, :].sum()
    prompt = jnp.broadcast_to(jnp.array([0, V, 2, V], jnp.int32), (50_000, L))
    tokens, _ = jd.radd_cached_sample(
        jr.key(3), oracle(), prompt.shape, num_steps=4096, prompt=prompt,
        schedule=jd.LinearSchedule(),
    )  # fmt: skip
    # with 4096 steps the two masked tokens are revealed together w.p. ~ 1/4096
    sub = np.asarray(tokens)[:, [1, 3]]
    law2 = cond.copy()
    assert chi_square_pvalue(sub, law2) > P_MIN


def test_greedy_and_truncation():
    logp = jnp.log(jnp.array([[0.1, 0.6, 0.3]] * L))
    model = lambda z: jnp.where((z == V)[:, None], logp, jnp.log(jax.nn.one_hot(z, V)))  # noqa: E731
    for sampler in (jd.ancestral_sample, jd.radd_cached_sample):
        t0, _ = sampler(jr.key(0), model, (5, L), num_steps=3, temperature=0.0)
        assert np.all(np.asarray(t0) == 1)
        tk, _ = sampler(jr.key(1), model, (500, L), num_steps=3, top_k=2)
        assert set(np.unique(np.asarray(tk))) == {1, 2}
        tp, _ = sampler(jr.key(2), model, (500, L), num_steps=3, top_p=0.5)
        assert np.all(np.asarray(tp) == 1)
        tp2, _ = sampler(jr.key(3), model, (2000, L), num_steps=3, top_p=0.7)
        frac = float(np.mean(np.asarray(tp2) == 1))
        assert (
            abs(frac - 2 / 3) < 4 * np.sqrt(2 / 9 / (2000 * L)) * 2
        )  # correlated within rows
        hot, _ = sampler(jr.key(4), model, (4000, L), num_steps=3, temperature=0.5)
        # T = 1/2 squares the probabilities: P(1) = 0.36 / 0.46
        assert_mean_within((np.asarray(hot) == 1).mean(-1), 0.36 / 0.46, k=4.0)


def test_vmap_over_keys_and_jit_traced_once():
    keys = jr.split(jr.key(0), 4)
    f = lambda k: jd.radd_cached_sample(k, oracle(), (L,), num_steps=8)  # noqa: E731
    batched = jax.vmap(f)(keys)
    for i in range(4):
        one = f(keys[i])
        assert np.array_equal(np.asarray(batched[0][i]), np.asarray(one[0]))
        assert int(batched[1][i]) == int(one[1])
    count = 0

    def g(k):
        nonlocal count
        count += 1
        return jd.ancestral_sample(k, oracle(), (3, L), num_steps=4)

    gj = jax.jit(g)
    for i in range(3):
        gj(jr.key(i))
    assert count == 1


def test_float32_sampling_dtype():
    tokens, _ = jd.ancestral_sample(
        jr.key(0), oracle(), (10, L), num_steps=4, sample_dtype=jnp.float32
    )
    assert tokens.shape == (10, L)


def test_explicit_times_and_errors():
    times = jnp.array([1.0, 0.5, 0.25, 0.0])
    tokens, nfe = jd.ancestral_sample(jr.key(0), oracle(), (2, L), times=times)
    assert np.all(np.asarray(nfe) == 3)
    with pytest.raises((ValueError, RuntimeError), match="decrease"):
        jd.ancestral_sample(
            jr.key(0), oracle(), (2, L), times=jnp.array([1.0, 0.5, 0.5, 0.0])
        )
    with pytest.raises(ValueError, match="decrease"):
        jd.expected_cached_nfe(L, times=jnp.array([1.0, 0.5, 0.5, 0.0]))
    with pytest.raises((ValueError, RuntimeError), match="decrease"):
        jax.jit(lambda t: jd.radd_cached_sample(jr.key(0), oracle(), (2, L), times=t))(
            jnp.array([0.0, 0.5, 1.0])
        )
    with pytest.raises(ValueError, match="num_steps or times"):
        jd.ancestral_sample(jr.key(0), oracle(), (2, L), num_steps=3, times=times)
    with pytest.raises(ValueError, match="num_steps"):
        jd.radd_cached_sample(jr.key(0), oracle(), (2, L), num_steps=0)
    with pytest.raises(ValueError, match="shape"):
        jd.ancestral_sample(jr.key(0), oracle(), (2, L + 1), num_steps=3)
    with pytest.raises(ValueError, match="log-probabilities"):
        jd.ancestral_sample(jr.key(0), lambda z: jnp.zeros((L,)), (2, L), num_steps=3)
    with pytest.raises(ValueError, match="temperature"):
        jd.ancestral_sample(jr.key(0), oracle(), (2, L), num_steps=3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_p"):
        jd.radd_cached_sample(jr.key(0), oracle(), (2, L), num_steps=3, top_p=0.0)
    with pytest.raises((ValueError, RuntimeError), match="outside"):
        jd.radd_cached_sample(
            jr.key(0),
            oracle(),
            (1, L),
            num_steps=3,
            prompt=jnp.array([[0, 1, V + 1, 0]]),
        )
    with pytest.raises(ValueError, match="prompt must have shape"):
        jd.radd_cached_sample(
            jr.key(0),
            oracle(),
            (2, L),
            num_steps=3,
            prompt=jnp.zeros((1, L), jnp.int32),
        )
    with pytest.raises(TypeError, match="sample_dtype"):
        jd.ancestral_sample(
            jr.key(0), oracle(), (2, L), num_steps=3, sample_dtype=jnp.int32
        )
    with pytest.raises(TypeError, match="MaskingSchedule"):
        unchecked(jd.ancestral_sample)(
            jr.key(0), oracle(), (2, L), num_steps=3, schedule=1.0
        )


def test_time_grid_and_probabilities():
    assert_close(jd.time_grid(4), jnp.array([1.0, 0.75, 0.5, 0.25, 0.0]))
    g = jd.time_grid(8, kind="cosine")
    assert float(g[0]) == 1.0 and float(g[-1]) == 0.0 and bool(jnp.all(jnp.diff(g) < 0))
    # cosine grid with the linear schedule: expected masked fraction cos(pi k / 2N)
    k = np.arange(9)
    assert_close(
        jd.LinearSchedule().mask_prob(g),
        jnp.asarray(np.cos(np.pi * k / 16)),
        atol=1e-15,
    )
    p = jd.unmask_probabilities(jd.LinearSchedule(), jd.time_grid(4))
    assert_close(p, jnp.array([1 / 4, 1 / 3, 1 / 2, 1.0]))
    pe = jd.unmask_probabilities(jd.LinearSchedule(), jd.time_grid(4), method="euler")
    assert_close(pe, p)
    # reveal-step law sums to one and survival equals the schedule's mask prob
    s = jd.LogLinearSchedule()
    grid = jd.time_grid(10)
    p = np.asarray(jd.unmask_probabilities(s, grid))
    surv = np.cumprod(1 - p)[:-1]
    assert_close(
        jnp.asarray(surv), s.mask_prob(grid[1:-1]) / s.mask_prob(grid[0]), rtol=1e-12
    )
    # RADD's log-linear schedule reveals exactly like the linear one (1 - alpha ~ t)
    for kind in ("uniform", "cosine"):
        g = jd.time_grid(16, kind=kind)
        for method in ("tweedie", "euler"):
            assert_close(
                jd.unmask_probabilities(jd.LogLinearSchedule(), g, method=method),
                jd.unmask_probabilities(jd.LinearSchedule(), g, method=method),
            )
    with pytest.raises(ValueError, match="kind"):
        unchecked(jd.time_grid)(4, kind="karras")
    with pytest.raises(ValueError, match="t_end"):
        jd.time_grid(4, t_start=0.5, t_end=0.5)
    with pytest.raises(ValueError, match="method"):
        unchecked(jd.unmask_probabilities)(s, grid, method="midpoint")


@pytest.mark.parametrize("batch_size", [1, 7])
def test_continuous_batching_is_identical(batch_size):
    """Slots refilled as sequences finish: same draws as the plain batched path."""
    prompt = jnp.tile(
        jnp.array([[0, V, 2, V], [1, 1, 1, 1], [V, V, V, V]], jnp.int32), (7, 1)
    )
    plain = jd.radd_cached_sample(
        jr.key(5), oracle(), prompt.shape, num_steps=8, prompt=prompt
    )
    slots = jd.radd_cached_sample(
        jr.key(5),
        oracle(),
        prompt.shape,
        num_steps=8,
        prompt=prompt,
        batch_size=batch_size,
    )
    assert np.array_equal(np.asarray(plain[0]), np.asarray(slots[0]))
    assert np.array_equal(np.asarray(plain[1]), np.asarray(slots[1]))
    with pytest.raises(ValueError, match="batch_size"):
        jd.radd_cached_sample(jr.key(0), oracle(), (2, L), num_steps=3, batch_size=0)


def test_float32_mode_without_x64():
    """With x64 off everything runs in float32 (losses, grid, Gumbel draws)."""
    with jax.enable_x64(False):
        model = lambda z: jnp.where(  # noqa: E731
            (z == V)[:, None],
            jnp.log(jnp.full((z.shape[0], V), 1.0 / V, jnp.float32)),
            jnp.log(jax.nn.one_hot(z, V, dtype=jnp.float32)),
        )
        tokens, nfe = jd.radd_cached_sample(jr.key(0), model, (64, L), num_steps=8)
        assert tokens.dtype == jnp.int32 and bool(jnp.all(tokens < V))
        t2, _ = jd.ancestral_sample(jr.key(0), model, (64, L), num_steps=8)
        assert bool(jnp.all(t2 < V))
        assert jd.time_grid(4).dtype == jnp.float32
        xs = jnp.zeros((256, L), jnp.int32)
        for loss in (jd.lambda_dce_loss, jd.k_dce_loss, jd.t_dce_loss):
            out = loss(model, jr.key(1), xs)
            assert out.dtype == jnp.float32
        # k-DCE of a uniform model is exactly L log V per sequence
        out = jd.k_dce_loss(model, jr.key(1), xs)
        assert_close(out, jnp.full((256,), L * np.log(V), jnp.float32), rtol=1e-5)
        with pytest.raises(TypeError, match="x64"):
            jd.ancestral_sample(
                jr.key(0), model, (2, L), num_steps=3, sample_dtype=jnp.float64
            )

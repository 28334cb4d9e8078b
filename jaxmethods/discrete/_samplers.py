r"""Ancestral (MD4/MDLM) and RADD-cached samplers for absorbing diffusion.

Both samplers draw from the same law. From all-masked (or a prompt), each step
$k$ of a decreasing grid reveals every masked token independently with
probability $p_k$ (see
[`unmask_probabilities`][jaxmethods.discrete.unmask_probabilities]) and gives
a revealed token a value drawn from the denoiser's conditional at the current
state; visible tokens are carried over. The ancestral sampler calls
the denoiser at every step. The RADD sampler uses that the reveal decisions do
not depend on token values and that the denoiser has no time input: it draws
every token's reveal step up front and calls the denoiser only at steps where
some token is revealed ("event times"), in a ``lax.while_loop`` whose trip
count is per sequence, so the saving is real under ``jit`` and ``vmap``
(a per-sequence ``lax.cond`` cache would run both branches under ``vmap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype
from ._common import (
    Denoiser,
    check_sampling_args,
    check_tokens,
    denoiser_output,
    flatten,
    sample_tokens,
)
from ._grids import GridKind, time_grid, unmask_probabilities
from ._schedules import LinearSchedule, MaskingSchedule


Method = Literal["tweedie", "euler"]


def _check_times(fn: str, times: ArrayLike) -> Array:
    times = jnp.asarray(times)
    if times.ndim != 1 or times.shape[0] < 2:
        raise ValueError(
            f"{fn}: times must be 1-D with >= 2 entries, got {times.shape}"
        )
    if not jnp.issubdtype(times.dtype, jnp.floating):
        raise TypeError(f"{fn}: times must be floats, got {times.dtype}")
    bad = jnp.any(jnp.diff(times) >= 0) | jnp.any((times < 0) | (times > 1))
    try:
        is_bad = bool(bad)
    except jax.errors.ConcretizationTypeError:
        return eqx.error_if(times, bad, f"{fn}: times must decrease strictly in [0, 1]")
    if is_bad:
        raise ValueError(
            f"{fn}: times must decrease strictly within [0, 1], got {times}"
        )
    return times


def _setup(
    fn: str,
    denoise_fn: Denoiser,
    shape: Sequence[int],
    prompt: ArrayLike | None,
    schedule: MaskingSchedule,
    num_steps: int | None,
    grid: GridKind,
    times: ArrayLike | None,
    method: Method,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    sample_dtype,
):
    """Validate the arguments; return ``(canvas (B, L), unflatten, V, p, dtype)``."""
    if not isinstance(schedule, MaskingSchedule):
        raise TypeError(
            f"{fn}: schedule must be a MaskingSchedule, got {type(schedule).__name__}"
        )
    shape = tuple(int(s) for s in shape)
    if len(shape) < 1 or any(s < 1 for s in shape):
        raise ValueError(
            f"{fn}: shape must be (*batch, L) with positive sizes, got {shape}"
        )
    check_sampling_args(fn, temperature, top_k, top_p)
    dtype = check_float_dtype(f"{fn}: sample_dtype", sample_dtype)
    vocab, _ = denoiser_output(fn, denoise_fn, shape[-1])
    if prompt is None:
        canvas = jnp.full(shape, vocab, jnp.int32)
    else:
        canvas = check_tokens(fn, prompt, vocab, allow_mask=True, name="prompt")
        if canvas.shape != shape:
            raise ValueError(
                f"{fn}: prompt must have shape {shape}, got {canvas.shape}"
            )
        canvas = canvas.astype(jnp.int32)
    if times is None:
        if num_steps is None:
            raise ValueError(f"{fn}: give num_steps or times")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"{fn}: num_steps must be an int >= 1, got {num_steps!r}")
        grid_t = time_grid(num_steps, kind=grid)
    else:
        if num_steps is not None:
            raise ValueError(f"{fn}: give num_steps or times, not both")
        grid_t = _check_times(fn, times)
    p = unmask_probabilities(schedule, grid_t, method=method)
    flat, unflatten = flatten(canvas)
    return flat, unflatten, vocab, p, dtype


@eqx.filter_jit
def ancestral_sample(
    key: PRNGKeyArray,
    denoise_fn: Denoiser,
    shape: Sequence[int],
    *,
    num_steps: int | None = None,
    schedule: MaskingSchedule = LinearSchedule(),  # noqa: B008 (immutable Module)
    grid: GridKind = "uniform",
    times: Float[ArrayLike, " n"] | None = None,
    method: Method = "tweedie",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    sample_dtype: DTypeLike | None = None,
    prompt: Int[ArrayLike, "*batch L"] | None = None,
) -> tuple[Int[Array, "*batch L"], Int[Array, "*batch"]]:
    r"""Ancestral sampler of masked diffusion (MD4/MDLM), one denoiser call per step.

    On the grid $t_0 > \dots > t_N$ (``num_steps`` points of ``grid``, or
    explicit ``times``), step $k$ computes $\log c_\theta(\cdot \mid z)$ once,
    draws a value for every masked position from it, and reveals each masked
    position with probability $p_k$; the last step reveals all that remain.
    Visible tokens (and the visible tokens of ``prompt``) are never
    resampled. With the exact conditionals of $p$ the output law converges to
    $p$ as $N \to \infty$, with an $O(1/N)$ error from revealing several tokens
    from one factorised conditional (exactly computable with
    [`ancestral_output_law`][jaxmethods.testing.discrete_oracle.ancestral_output_law]).

    Values are drawn by Gumbel-max in ``sample_dtype`` (float64 by default
    when x64 is on): float32 Gumbels truncate the tail of the categorical and
    lower sample diversity (LLaDA's ``add_gumbel_noise``, arXiv:2409.02908).
    ``temperature`` divides the log-probabilities (``0`` takes the argmax),
    ``top_k`` and ``top_p`` truncate them before sampling.

    Args:
        key: PRNG key.
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)``; mask id ``V``.
        shape: ``(*batch, L)`` (static).
        num_steps: number of steps $N$ (static); or give ``times``.
        schedule: masking schedule (default linear).
        grid: ``"uniform"`` or ``"cosine"`` (see
            [`time_grid`][jaxmethods.discrete.time_grid]).
        times: an explicit strictly decreasing grid in $[0, 1]$, instead of
            ``num_steps`` and ``grid``.
        method: reveal probabilities, ``"tweedie"`` (exact) or ``"euler"``.
        temperature: softmax temperature, $\ge 0$ (static).
        top_k: keep the ``k`` most likely tokens (static), or ``None``.
        top_p: nucleus mass in $(0, 1]$ (static), or ``None``.
        sample_dtype: float dtype of the Gumbel draws.
        prompt: optional canvas of shape ``shape`` whose non-mask tokens are
            kept (infilling, prefixes).

    Returns:
        ``(tokens, nfe)``: tokens of shape ``shape`` in ``[0, V)``, and the
        number of denoiser calls per sequence ($N$), shape ``batch``.

    Raises:
        ValueError: bad shapes, steps, grid or sampling parameters, a
            denoiser of the wrong output shape, or a non-decreasing ``times``
            (at run time when ``times`` is traced).
        TypeError: non-integer prompt, non-float times or sample dtype.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import ancestral_sample
        >>> uniform = lambda z: jnp.full((z.shape[0], 5), -jnp.log(5.0))
        >>> key = jax.random.key(0)
        >>> tokens, nfe = ancestral_sample(key, uniform, (2, 8), num_steps=4)
        >>> print(tokens.shape, nfe.tolist(), bool((tokens < 5).all()))
        (2, 8) [4, 4] True

    References:
        Shi et al., "Simplified and Generalized Masked Diffusion for Discrete
        Data", NeurIPS 2024 (arXiv:2406.04329); Sahoo et al., "Simple and
        Effective Masked Diffusion Language Models", NeurIPS 2024
        (arXiv:2406.07524); survey arXiv:2506.13759.
    """
    fn = "ancestral_sample"
    flat, unflatten, vocab, p, dtype = _setup(
        fn, denoise_fn, shape, prompt, schedule, num_steps, grid, times, method,
        temperature, top_k, top_p, sample_dtype,
    )  # fmt: skip
    n_steps = p.shape[0]
    k_rev, k_val = jr.split(key)
    steps = jnp.arange(n_steps)

    def step(z, inputs):
        k, p_k = inputs
        logp = jax.vmap(denoise_fn)(z)
        vals = sample_tokens(
            jr.fold_in(k_val, k), logp, temperature=temperature, top_k=top_k,
            top_p=top_p, dtype=dtype,
        )  # fmt: skip
        u = jr.uniform(jr.fold_in(k_rev, k), z.shape, p.dtype)
        reveal = (z == vocab) & (u < p_k)
        return jnp.where(reveal, vals, z), None

    z, _ = jax.lax.scan(step, flat, (steps, p))
    nfe = jnp.full(flat.shape[:1], n_steps, jnp.int32)
    return unflatten(z), unflatten(nfe)


def _reveal_cdf(p: Float[Array, " N"]) -> Float[Array, " N"]:
    """CDF of a token's reveal step: ``P(step <= k) = 1 - prod_{j<=k}(1 - p_j)``."""
    survive = jnp.cumprod(1 - p)
    return (1 - survive).at[-1].set(1.0)


@eqx.filter_jit
def radd_cached_sample(
    key: PRNGKeyArray,
    denoise_fn: Denoiser,
    shape: Sequence[int],
    *,
    num_steps: int | None = None,
    schedule: MaskingSchedule = LinearSchedule(),  # noqa: B008
    grid: GridKind = "uniform",
    times: Float[ArrayLike, " n"] | None = None,
    method: Method = "tweedie",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    sample_dtype: DTypeLike | None = None,
    prompt: Int[ArrayLike, "*batch L"] | None = None,
    batch_size: int | None = None,
) -> tuple[Int[Array, "*batch L"], Int[Array, "*batch"]]:
    r"""RADD's caching sampler in event-time form: one denoiser call per reveal step.

    Same output law as [`ancestral_sample`][jaxmethods.discrete.ancestral_sample]
    with the same arguments, with fewer network calls. Each masked token's
    reveal step is drawn first from $P(k) = p_k\prod_{j<k}(1 - p_j)$ (legal
    because reveal decisions never depend on token values); the sampler then
    loops over the distinct reveal steps of each sequence only, calling the
    time-free denoiser once per step and drawing the tokens revealed there.
    Between those steps the state, and so the denoiser output, cannot change,
    which is exactly what RADD's cache reuses. The per-sequence call count is
    the number of distinct reveal steps; for the linear schedule on a uniform
    grid its mean is $N(1 - (1 - 1/N)^L)$ (see
    [`expected_cached_nfe`][jaxmethods.discrete.expected_cached_nfe]), e.g.
    647.5 instead of 1024 for $N = L = 1024$.

    By default the loop is a ``lax.while_loop`` per sequence, vectorised over
    the batch: it runs until the sequence with the most events is done, with
    the denoiser evaluated for the whole batch each iteration, so wall time
    follows the batch *maximum* of events while the reported NFE is per
    sequence. With ``batch_size=B`` smaller than the number of sequences the
    sampler instead keeps $B$ slots busy (continuous batching): a slot whose
    sequence is finished takes the next one, so the number of batched calls
    is about the *total* NFE divided by $B$. Both paths give identical output
    for the same key. Not reverse-differentiable (sampling is discrete).

    Args:
        key: PRNG key.
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)`` with no time input.
        shape: ``(*batch, L)`` (static).
        num_steps: number of grid steps $N$ (static); or give ``times``.
        schedule: masking schedule (default linear; RADD's log-linear
            schedule gives exactly the same reveal probabilities, since
            $1-\alpha$ is proportional to $t$ for both).
        grid: ``"uniform"`` or ``"cosine"``.
        times: an explicit strictly decreasing grid in $[0, 1]$.
        method: reveal probabilities, ``"tweedie"`` or ``"euler"`` (RADD's
            two update rules).
        temperature: softmax temperature, $\ge 0$ (static).
        top_k: keep the ``k`` most likely tokens (static), or ``None``.
        top_p: nucleus mass in $(0, 1]$ (static), or ``None``.
        sample_dtype: float dtype of the Gumbel draws (float64 with x64).
        prompt: optional canvas whose non-mask tokens are kept.
        batch_size: number of sequences per denoiser call with continuous
            batching (static), or ``None`` to run the whole batch at once.

    Returns:
        ``(tokens, nfe)``: tokens of shape ``shape``, and the number of
        denoiser calls each sequence needed, shape ``batch``.

    Raises:
        ValueError: as [`ancestral_sample`][jaxmethods.discrete.ancestral_sample].
        TypeError: as [`ancestral_sample`][jaxmethods.discrete.ancestral_sample].

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import radd_cached_sample
        >>> uniform = lambda z: jnp.full((z.shape[0], 5), -jnp.log(5.0))
        >>> key = jax.random.key(0)
        >>> tokens, nfe = radd_cached_sample(key, uniform, (1000, 8), num_steps=64)
        >>> print(tokens.shape, bool((nfe <= 8).all()), round(float(nfe.mean()), 1))
        (1000, 8) True 7.6

    References:
        Ou, Nie, Xue, Zhu, Sun, Li and Li, "Your Absorbing Discrete Diffusion
        Secretly Models the Conditional Distributions of Clean Data", ICLR
        2025. arXiv:2406.03736.
    """
    fn = "radd_cached_sample"
    flat, unflatten, vocab, p, dtype = _setup(
        fn, denoise_fn, shape, prompt, schedule, num_steps, grid, times, method,
        temperature, top_k, top_p, sample_dtype,
    )  # fmt: skip
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(
            f"{fn}: batch_size must be a positive int or None, got {batch_size!r}"
        )
    n_seq = flat.shape[0]
    cdf = _reveal_cdf(p)
    keys = jr.split(key, n_seq)
    plan = jax.vmap(lambda k, z0: _plan_events(k, z0, cdf, vocab))(keys, flat)

    def draw(k_val, s, z):
        return sample_tokens(
            jr.fold_in(k_val, s), denoise_fn(z), temperature=temperature,
            top_k=top_k, top_p=top_p, dtype=dtype,
        )  # fmt: skip

    if batch_size is None or batch_size >= n_seq:
        z = jax.vmap(lambda pl, z0: _run_events(pl, z0, draw))(plan, flat)
    else:
        z = _run_slots(plan, flat, draw, batch_size)
    return unflatten(z), unflatten(plan.num_events)


class _EventPlan(eqx.Module):
    """Pre-drawn reveal steps of one sequence (or a batch, leading axis)."""

    k_val: PRNGKeyArray
    step: Int[Array, "*b L"]  # reveal step per token; N for visible tokens (never)
    events: Int[Array, "*b L"]  # distinct reveal steps ascending, padded with N
    num_events: Int[Array, "*b"]


def _plan_events(key, z0, cdf, vocab) -> _EventPlan:
    n_steps = cdf.shape[0]
    k_ev, k_val = jr.split(key)
    u = jr.uniform(k_ev, z0.shape, cdf.dtype)
    step = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), n_steps - 1)
    step = jnp.where(z0 == vocab, step, n_steps).astype(jnp.int32)
    srt = jnp.sort(step)
    new = jnp.concatenate(
        [srt[:1] < n_steps, (srt[1:] != srt[:-1]) & (srt[1:] < n_steps)]
    )
    events = jnp.sort(jnp.where(new, srt, n_steps))
    return _EventPlan(k_val, step, events, jnp.sum(new, dtype=jnp.int32))


def _run_events(plan: _EventPlan, z0, draw):
    """One sequence: a while loop over its own reveal steps only."""

    def body(carry):
        e, z = carry
        s = plan.events[e]
        return e + 1, jnp.where(plan.step == s, draw(plan.k_val, s, z), z)

    _, z = jax.lax.while_loop(
        lambda c: c[0] < plan.num_events, body, (jnp.zeros((), jnp.int32), z0)
    )
    return z


def _run_slots(plan: _EventPlan, canvas, draw, num_slots: int):
    """Continuous batching: ``num_slots`` sequences per denoiser call, refilled.

    Each iteration performs the next event of every busy slot (one batched
    denoiser call); a slot whose sequence is finished writes it out and takes
    the next sequence of the queue, so the number of iterations is about the
    total number of events divided by ``num_slots`` rather than the batch
    maximum. Draws use the same per-sequence keys as the plain path, so the
    output is identical.
    """
    n = canvas.shape[0]
    busy_first = jnp.argsort(plan.num_events == 0, stable=True).astype(jnp.int32)
    queued = jnp.sum(plan.num_events > 0, dtype=jnp.int32)
    first = jnp.minimum(jnp.arange(num_slots, dtype=jnp.int32), n - 1)
    seq = busy_first[first]
    active = jnp.arange(num_slots, dtype=jnp.int32) < queued
    carry = (
        seq,
        active,
        jnp.zeros((num_slots,), jnp.int32),  # events done per slot
        canvas[seq],
        canvas,  # outputs; sequences without events are already final
        jnp.asarray(num_slots, jnp.int32),  # next queue position
    )

    def body(carry):
        seq, active, e, z, out, nxt = carry
        s = plan.events[seq, e]
        vals = jax.vmap(draw)(plan.k_val[seq], s, z)
        reveal = active[:, None] & (plan.step[seq] == s[:, None])
        z = jnp.where(reveal, vals, z)
        e = e + active.astype(jnp.int32)
        done = active & (e == plan.num_events[seq])
        out = out.at[jnp.where(done, seq, n)].set(z, mode="drop")
        pos = nxt + jnp.cumsum(done, dtype=jnp.int32) - 1
        refill = done & (pos < queued)
        new_seq = busy_first[jnp.clip(pos, 0, n - 1)]
        seq = jnp.where(refill, new_seq, seq)
        z = jnp.where(refill[:, None], canvas[new_seq], z)
        e = jnp.where(refill, 0, e)
        active = jnp.where(done, refill, active)
        return seq, active, e, z, out, nxt + jnp.sum(done, dtype=jnp.int32)

    carry = jax.lax.while_loop(lambda c: jnp.any(c[1]), body, carry)
    return carry[4]


def expected_cached_nfe(
    length: int,
    *,
    num_steps: int | None = None,
    schedule: MaskingSchedule = LinearSchedule(),  # noqa: B008
    grid: GridKind = "uniform",
    times: Float[ArrayLike, " n"] | None = None,
    method: Method = "tweedie",
) -> Float[Array, ""]:
    r"""Expected denoiser calls of the RADD cached sampler from all-masked starts.

    The expectation of the ``nfe`` of
    [`radd_cached_sample`][jaxmethods.discrete.radd_cached_sample].

    Every token's reveal step is independent with law
    $P_k = p_k\prod_{j<k}(1-p_j)$, and the cached sampler calls the denoiser
    once per occupied step, so $\mathbb E[\mathrm{NFE}] = \sum_k 1 - (1 -
    P_k)^L$. For the linear schedule on a uniform grid $P_k = 1/N$ and this is
    RADD's $N(1 - (1 - 1/N)^L)$.

    Args:
        length: sequence length $L$.
        num_steps: grid steps $N$; or give ``times``.
        schedule: masking schedule.
        grid: ``"uniform"`` or ``"cosine"``.
        times: an explicit decreasing grid.
        method: ``"tweedie"`` or ``"euler"``.

    Returns:
        The expected number of calls, a scalar.

    Raises:
        ValueError: bad ``length``, steps or grid.

    Examples:
        >>> from jaxmethods.discrete import expected_cached_nfe
        >>> print(round(float(expected_cached_nfe(1024, num_steps=1024)), 1))
        647.5

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "expected_cached_nfe"
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"{fn}: length must be an int >= 1, got {length!r}")
    if times is None:
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"{fn}: num_steps must be an int >= 1, got {num_steps!r}")
        times = time_grid(num_steps, kind=grid)
    p = unmask_probabilities(schedule, _check_times(fn, times), method=method)
    cdf = _reveal_cdf(p)
    probs = jnp.diff(cdf, prepend=jnp.zeros((1,), cdf.dtype))
    return jnp.sum(-jnp.expm1(length * jnp.log1p(-probs)))

r"""Continuous-time (CTMC) discrete diffusion: closed forms, reverse rates, samplers.

The forward process of every token is a continuous-time Markov chain with
generator $Q_t = \sigma'(t)\,Q$, so a token at noise level $\sigma$ has the law
$e^{\sigma Q}$ (rows are "from" states). Two generators are provided, with
the conventions of SEDD (louaaron/Score-Entropy-Discrete-Diffusion,
``graph_lib.py``):

* ``"uniform"`` ($K = V$ states): $Q = (\mathbf 1\mathbf 1^\top - K I)/K$, so
  $e^{\sigma Q} = e^{-\sigma} I + (1 - e^{-\sigma})\,\mathbf 1\mathbf 1^\top/K$;
* ``"absorbing"`` ($K = V + 1$ states, the mask is the last state $M = V$):
  $Q = \mathbf 1 e_M^\top - I$ (mask row zero), so
  $e^{\sigma Q} = e^{-\sigma} I + (1 - e^{-\sigma})\,\mathbf 1 e_M^\top$.

The reverse chain runs with rates $\bar R_t(x \to y) = R_t(y \to x)\,s(x)_y$
where $s(x)_y = p_t(y)/p_t(x)$ is the *concrete score*, for a sequence the
ratio of the probabilities of $x$ with position $i$ set to $y$ and of $x$.
A score model is any callable ``log_score_fn(x_t: int[L], sigma: scalar) ->
float[L, K]`` returning $\log s$; its entry at each position's own token is
ignored (the ratio is 1 by definition).

Categorical draws are made in ``sample_dtype`` (float64 when x64 is enabled):
Gumbel noise drawn in low precision truncates the tail of the distribution
(arXiv:2409.02908).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype, default_float
from ._schedules import MaskingSchedule


Kind = Literal["uniform", "absorbing"]
KINDS = ("uniform", "absorbing")

LogScoreFn = Callable[[Array, Array], Array]


# ----------------------------------------------------------------- shared checks


def _check_kind(fn: str, kind, name: str = "kind") -> None:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"{fn}: {name} must be 'uniform' or 'absorbing', got {kind!r}")


def _check_num_states(fn: str, num_states, kind: str) -> int:
    if isinstance(num_states, bool):
        raise TypeError(f"{fn}: num_states must be an int, got {num_states!r}")
    try:
        n = operator.index(num_states)
    except TypeError:
        raise TypeError(
            f"{fn}: num_states must be an int, got {type(num_states).__name__}"
        ) from None
    lo = 2 if kind == "absorbing" else 1
    if n < lo:
        raise ValueError(
            f"{fn}: num_states must be >= {lo} for kind={kind!r} (the absorbing "
            f"chain has V clean states plus the mask), got {n}"
        )
    return n


def _as_float(fn: str, name: str, a) -> Array:
    """``a`` as a float array; integers go to the default float."""
    a = jnp.asarray(a)
    if jnp.issubdtype(a.dtype, jnp.floating):
        return a
    if jnp.issubdtype(a.dtype, jnp.integer):
        return a.astype(default_float())
    raise TypeError(f"{fn}: {name} must be a real array, got dtype {a.dtype}")


def _as_tokens(fn: str, name: str, x) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{fn}: {name} must be an integer array, got dtype {x.dtype}")
    return x


def _check_range(fn: str, name: str, x: Array, upper: int) -> Array:
    """Runtime check ``0 <= x < upper`` (``eqx.error_if``)."""
    return eqx.error_if(
        x, (x < 0) | (x >= upper), f"{fn}: {name} has entries outside [0, {upper})"
    )


def _categorical(key: PRNGKeyArray, probs: Array, sample_dtype) -> Array:
    """Draw from (unnormalised, non-negative) ``probs`` along the last axis."""
    logits = jnp.log(probs.astype(sample_dtype))
    return jr.categorical(key, logits, axis=-1)


def _call_model(fn: str, model: Callable, x: Array, arg: Array) -> Array:
    """Call a per-sequence model on ``x`` of shape ``(*batch, L)``.

    ``arg`` is a scalar (shared) or has shape ``batch``. Returns the model's
    float array of shape ``(*x.shape, K)``.
    """
    flat = x.reshape((-1, x.shape[-1]))
    arg = jnp.asarray(arg)
    if arg.ndim:
        out = jax.vmap(model)(flat, arg.reshape(-1))
    else:
        out = jax.vmap(model, in_axes=(0, None))(flat, arg)
    out = jnp.asarray(out)
    if out.ndim != 3 or out.shape[1] != x.shape[-1]:
        raise ValueError(
            f"{fn}: the model returned shape {out.shape[1:]} for tokens of shape "
            f"{x.shape[-1:]}; expected (L, K)"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"{fn}: the model must return floats, got dtype {out.dtype}")
    return out.reshape((*x.shape, out.shape[-1]))


def _check_sequences(fn: str, x, name: str = "x") -> Array:
    x = _as_tokens(fn, name, x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{fn}: tokens must have shape (*batch, L), got {x.shape}")
    return x


def _scalar_time(fn: str, name: str, t) -> Array:
    t = _as_float(fn, name, t)
    if t.ndim != 0:
        raise ValueError(f"{fn}: {name} must be a scalar, got shape {t.shape}")
    return t


# ----------------------------------------------------------------- closed forms


def rate_matrix(
    kind: Kind, *, num_states: int, dtype: DTypeLike | None = None
) -> Float[Array, "num_states num_states"]:
    r"""The base generator $Q[\text{from}, \text{to}]$ of SEDD's graphs.

    ``"uniform"``: $Q = (\mathbf 1\mathbf 1^\top - K I)/K$ (every state jumps to
    every other at rate $1/K$). ``"absorbing"``: $Q_{xM} = 1$, $Q_{xx} = -1$
    for $x \ne M = K - 1$ and a zero mask row. Rows sum to zero. The
    time-$t$ generator is $\sigma'(t) Q$.

    Args:
        kind: ``"uniform"`` or ``"absorbing"``.
        num_states: number of states $K$ (static); for ``"absorbing"`` this
            includes the mask, $K = V + 1$.
        dtype: float dtype; default the default float.

    Returns:
        The $K \times K$ generator.

    Raises:
        ValueError: unknown ``kind`` or ``num_states`` too small.
        TypeError: ``num_states`` not an int, or a non-float ``dtype``.

    Examples:
        >>> from jaxmethods.discrete import rate_matrix
        >>> print(rate_matrix("absorbing", num_states=3))
        [[-1.  0.  1.]
         [ 0. -1.  1.]
         [ 0.  0.  0.]]

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    _check_kind("rate_matrix", kind)
    k = _check_num_states("rate_matrix", num_states, kind)
    dtype = check_float_dtype("rate_matrix", dtype)
    eye = jnp.eye(k, dtype=dtype)
    if kind == "uniform":
        return jnp.full((k, k), 1 / k, dtype) - eye
    q = jnp.zeros((k, k), dtype).at[:, -1].set(1.0) - eye
    return q.at[-1].set(0.0)


def ctmc_transition(
    kind: Kind, sigma: Float[ArrayLike, "*batch"], *, num_states: int
) -> Float[Array, "*batch num_states num_states"]:
    r"""The transition matrix $e^{\sigma Q}$ in closed form.

    Uniform: $e^{-\sigma} I + (1 - e^{-\sigma})\,\mathbf 1\mathbf 1^\top / K$;
    absorbing: $e^{-\sigma} I + (1 - e^{-\sigma})\,\mathbf 1 e_M^\top$ (the mask
    row is $e_M$). $1 - e^{-\sigma}$ is computed as ``-expm1(-sigma)``. Entry
    ``[..., x, y]`` is $P(x_\sigma = y \mid x_0 = x)$. Differentiable in
    ``sigma``.

    Args:
        kind: ``"uniform"`` or ``"absorbing"``.
        sigma: total noise $\sigma \ge 0$, any shape.
        num_states: number of states $K$ (static), mask included.

    Returns:
        Row-stochastic matrices of shape ``(*sigma.shape, K, K)``, in the
        dtype of ``sigma`` (integers go to the default float).

    Raises:
        ValueError: unknown ``kind`` or ``num_states`` too small.
        TypeError: non-real ``sigma`` or non-int ``num_states``.

    Examples:
        >>> from jaxmethods.discrete import ctmc_transition
        >>> P = ctmc_transition("uniform", 0.8, num_states=5)
        >>> print(round(float(P[0, 0]), 6), round(float(P[0, 1]), 6))
        0.559463 0.110134

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    _check_kind("ctmc_transition", kind)
    k = _check_num_states("ctmc_transition", num_states, kind)
    sigma = _as_float("ctmc_transition", "sigma", sigma)
    return _mix_matrices(kind, jnp.exp(-sigma), -jnp.expm1(-sigma), k)


def _mix_matrices(kind: str, stay: Array, move: Array, k: int) -> Array:
    """``stay * I + move * T`` with the rank-one part ``T`` of ``kind``, batched."""
    shape = (*stay.shape, k, k)
    eye = jnp.broadcast_to(jnp.eye(k, dtype=stay.dtype), shape)
    if kind == "uniform":
        target = jnp.full(shape, 1 / k, stay.dtype)
    else:
        target = _is_mask_column(shape).astype(stay.dtype)
    return stay[..., None, None] * eye + move[..., None, None] * target


def _one_hot(x: Array, k: int) -> Array:
    """Boolean one-hot of ``x`` along a new last axis of size ``k``."""
    return jax.nn.one_hot(x, k, dtype=jnp.bool_)


def _is_mask_column(shape: tuple[int, ...]) -> Array:
    """Boolean array of ``shape`` that is True in the last column (the mask)."""
    k = shape[-1]
    return jnp.broadcast_to(jnp.arange(k) == k - 1, shape)


def _into_rate(kind: str, x_t: Array, k: int, dtype) -> Array:
    """$R(y \\to x_t)$ of the base generator for every $y$ (zero at $y = x_t$)."""
    shape = (*x_t.shape, k)
    own = _one_hot(x_t, k)
    if kind == "uniform":
        r = jnp.full(shape, 1 / k, dtype)
    else:
        masked = jnp.broadcast_to((x_t == k - 1)[..., None], shape)
        r = (masked & ~_is_mask_column(shape)).astype(dtype)
    return jnp.where(own, jnp.zeros((), dtype), r)


def reverse_rate(
    kind: Kind, score: Float[ArrayLike, "*shape K"], x_t: Int[ArrayLike, "*shape"]
) -> Float[Array, "*shape K"]:
    r"""Reverse-chain rates $\bar R(x \to y) = R(y \to x)\, s(x)_y$ per position.

    $R$ is the base generator of [`rate_matrix`][jaxmethods.discrete.rate_matrix]
    (multiply by $\sigma'(t)$ for the rate at time $t$). The entry at
    $y = x_t$ is $-\sum_{y \ne x_t} \bar R(x_t \to y)$, so rows sum to zero.
    Uniform: $\bar R(x \to y) = s_y / K$; absorbing: $\bar R(M \to v) = s_v$ for
    $v \ne M$ and no moves out of clean tokens (SEDD
    ``graph_lib.Graph.reverse_rate``).

    Args:
        kind: ``"uniform"`` or ``"absorbing"``.
        score: concrete scores $s(x)_y \ge 0$ (not logs), shape ``(*shape, K)``.
        x_t: current tokens in ``[0, K)``, shape ``(*shape)``.

    Returns:
        Rates of shape ``(*shape, K)`` in the dtype of ``score``.

    Raises:
        ValueError: unknown ``kind``; shapes that do not match.
        TypeError: non-integer ``x_t`` or non-real ``score``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import reverse_rate
        >>> s = jnp.array([[2.0, 0.5, 1.0]])
        >>> print(reverse_rate("absorbing", s, jnp.array([2])))
        [[ 2.   0.5 -2.5]]

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    fn = "reverse_rate"
    _check_kind(fn, kind)
    score = _as_float(fn, "score", score)
    x_t = _as_tokens(fn, "x_t", x_t)
    if score.ndim < 1 or score.shape[:-1] != x_t.shape:
        raise ValueError(
            f"{fn}: score must have shape (*x_t.shape, K) = {(*x_t.shape, 'K')}, "
            f"got {score.shape}"
        )
    k = _check_num_states(fn, score.shape[-1], kind)
    x_t = _check_range(fn, "x_t", x_t, k)
    rate = _into_rate(kind, x_t, k, score.dtype) * score
    own = _one_hot(x_t, k)
    rate = jnp.where(own, jnp.zeros((), score.dtype), rate)
    return jnp.where(own, -jnp.sum(rate, axis=-1, keepdims=True), rate)


# ----------------------------------------------------------------- one-step laws


def _prep_probs(fn, kind, log_score, x_t, t, dt):
    _check_kind(fn, kind)
    t = _scalar_time(fn, "t", t)
    dt = _scalar_time(fn, "dt", dt)
    log_score = _as_float(fn, "log_score", log_score)
    dtype = jnp.result_type(log_score, t, dt)
    t, dt, log_score = t.astype(dtype), dt.astype(dtype), log_score.astype(dtype)
    x_t = _as_tokens(fn, "x_t", x_t)
    if log_score.ndim < 1 or log_score.shape[:-1] != x_t.shape:
        raise ValueError(
            f"{fn}: log_score must have shape (*x_t.shape, K) = "
            f"{(*x_t.shape, 'K')}, got {log_score.shape}"
        )
    k = _check_num_states(fn, log_score.shape[-1], kind)
    x_t = _check_range(fn, "x_t", x_t, k)
    own = _one_hot(x_t, k)
    # The ratio at the current token is 1 by definition: ignore the model there.
    score = jnp.where(own, jnp.ones((), dtype), jnp.exp(jnp.where(own, 0, log_score)))
    return x_t, k, own, score, t, dt


def _normalize(probs: Array) -> Array:
    probs = jnp.maximum(probs, 0)
    return probs / jnp.sum(probs, axis=-1, keepdims=True)


def euler_probs(
    log_score: Float[ArrayLike, "*shape K"],
    x_t: Int[ArrayLike, "*shape"],
    t: Float[ArrayLike, ""],
    dt: Float[ArrayLike, ""],
    schedule: MaskingSchedule,
    *,
    kind: Kind,
) -> Float[Array, "*shape K"]:
    r"""Per-position law of one Euler (first-order $\tau$-leaping) reverse step.

    From time $t$ to $t - \Delta t$ each position moves independently with
    $P(y) = \delta_{x_t y} + \Delta t\,\sigma'(t)\,\bar R(x_t \to y)$, with the
    reverse rates of [`reverse_rate`][jaxmethods.discrete.reverse_rate] (SEDD
    ``EulerPredictor``). If the step is so large that the stay probability
    would be negative it is set to 0 and the row renormalised (which is what
    SEDD's Gumbel-max draw on unnormalised probabilities does).

    Args:
        log_score: log concrete scores at $\sigma(t)$, shape ``(*shape, K)``;
            the entry at each position's own token is ignored.
        x_t: current tokens in ``[0, K)``, shape ``(*shape)``.
        t: current time (scalar).
        dt: step $\Delta t > 0$ (scalar); the step goes to $t - \Delta t$.
        schedule: the noise schedule (its ``dsigma`` is used).
        kind: ``"uniform"`` or ``"absorbing"``.

    Returns:
        Probabilities of shape ``(*shape, K)``, rows summing to 1, in the
        promoted float dtype of ``log_score`` and ``t``.

    Raises:
        ValueError: unknown ``kind``, non-scalar times or mismatched shapes.
        TypeError: non-integer ``x_t``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import LogLinearSchedule, euler_probs
        >>> ls = jnp.log(jnp.array([[1.0, 3.0, 1.0]]))
        >>> p = euler_probs(ls, jnp.array([2]), 0.5, 0.1, LogLinearSchedule(0.0),
        ...                 kind="absorbing")
        >>> print([round(float(v), 4) for v in p[0]])
        [0.2, 0.6, 0.2]

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    fn = "euler_probs"
    x_t, k, own, score, t, dt = _prep_probs(fn, kind, log_score, x_t, t, dt)
    h = dt * schedule.dsigma(t)
    move = h * _into_rate(kind, x_t, k, t.dtype) * score
    stay = 1 - jnp.sum(move, axis=-1, keepdims=True)
    return _normalize(jnp.where(own, stay, move))


def tweedie_probs(
    log_score: Float[ArrayLike, "*shape K"],
    x_t: Int[ArrayLike, "*shape"],
    t: Float[ArrayLike, ""],
    dt: Float[ArrayLike, ""],
    schedule: MaskingSchedule,
    *,
    kind: Kind,
) -> Float[Array, "*shape K"]:
    r"""Per-position law of one Tweedie ("analytic") reverse step.

    With $\Delta\sigma = \sigma(t) - \sigma(t - \Delta t)$, SEDD's
    ``AnalyticPredictor`` uses, per position,
    $P(y) \propto [(e^{-\Delta\sigma Q})^\top s]_y \cdot (e^{\Delta\sigma Q})_{y x_t}$:
    the *staggered score*
    $(e^{-\Delta\sigma Q})^\top s = p_{t-\Delta t}(\cdot)/p_t(x_t)$ (exact for one
    position) times the transposed transition. For a single position with the
    exact score this is the exact reverse transition
    $p(x_{t-\Delta t} = y \mid x_t)$. Absorbing: from the mask,
    $P(v) = \operatorname{expm1}(\Delta\sigma)\,s_v$ and
    $P(M) = 1 - \operatorname{expm1}(\Delta\sigma)\sum_v s_v$ (RADD's
    $(\alpha_s - \alpha_t)/(1 - \alpha_t)$ rate); clean tokens stay. Negative
    entries (possible with an inexact score) are set to 0 and rows
    renormalised.

    Args:
        log_score: log concrete scores at $\sigma(t)$, shape ``(*shape, K)``;
            the entry at each position's own token is ignored.
        x_t: current tokens in ``[0, K)``, shape ``(*shape)``.
        t: current time (scalar).
        dt: step $\Delta t > 0$ (scalar); the step goes to $t - \Delta t$.
        schedule: the noise schedule (its ``sigma`` is used).
        kind: ``"uniform"`` or ``"absorbing"``.

    Returns:
        Probabilities of shape ``(*shape, K)``, rows summing to 1, in the
        promoted float dtype of ``log_score`` and ``t``.

    Raises:
        ValueError: unknown ``kind``, non-scalar times or mismatched shapes.
        TypeError: non-integer ``x_t``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import LogLinearSchedule, tweedie_probs
        >>> # At t = 0.5, expm1(sigma) = 1, so s_v = p(x = v | rest) = (0.25, 0.75).
        >>> ls = jnp.log(jnp.array([[0.25, 0.75, 1.0]]))
        >>> p = tweedie_probs(ls, jnp.array([2]), 0.5, 0.25, LogLinearSchedule(0.0),
        ...                   kind="absorbing")
        >>> print([round(float(v), 4) for v in p[0]])  # unmask w.p. 0.5
        [0.125, 0.375, 0.5]

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "tweedie_probs"
    x_t, k, own, score, t, dt = _prep_probs(fn, kind, log_score, x_t, t, dt)
    dsig = schedule.sigma(t) - schedule.sigma(t - dt)
    em1 = jnp.expm1(dsig)
    if kind == "absorbing":
        masked = jnp.broadcast_to((x_t == k - 1)[..., None], score.shape)
        clean = ~_is_mask_column(score.shape)
        jump = jnp.where(clean, em1 * score, 0)
        from_mask = jnp.where(clean, jump, 1 - jnp.sum(jump, axis=-1, keepdims=True))
        return _normalize(jnp.where(masked, from_mask, own.astype(t.dtype)))
    # Staggered score e^{dsig} s - expm1(dsig) S / K, written as s + expm1 (s - S/K).
    total = jnp.sum(score, axis=-1, keepdims=True)
    stag = score + em1 * (score - total / k)
    moved = -jnp.expm1(-dsig)
    col = jnp.where(own, jnp.exp(-dsig), 0) + moved / k
    return _normalize(stag * col)


# ----------------------------------------------------------------- samplers


def _step(fn, probs_fn, key, log_score_fn, x_t, t, dt, schedule, kind, sample_dtype):
    _check_kind(fn, kind)
    x_t = _check_sequences(fn, x_t, "x_t")
    t = _scalar_time(fn, "t", t)
    sample_dtype = check_float_dtype(fn, sample_dtype)
    log_score = _call_model(fn, log_score_fn, x_t, schedule.sigma(t))
    probs = probs_fn(log_score, x_t, t, dt, schedule, kind=kind)
    return _categorical(key, probs, sample_dtype).astype(x_t.dtype)


def euler_step(
    key: PRNGKeyArray,
    log_score_fn: LogScoreFn,
    x_t: Int[ArrayLike, "*batch L"],
    t: Float[ArrayLike, ""],
    dt: Float[ArrayLike, ""],
    schedule: MaskingSchedule,
    *,
    kind: Kind,
    sample_dtype: DTypeLike | None = None,
) -> Int[Array, "*batch L"]:
    r"""One Euler reverse step from $t$ to $t - \Delta t$ (SEDD ``euler``).

    Evaluates ``log_score_fn(x_t, sigma(t))`` once per sequence and draws every
    position independently from [`euler_probs`][jaxmethods.discrete.euler_probs].
    Not differentiable (it samples).

    Args:
        key: PRNG key.
        log_score_fn: ``(x: int[L], sigma: scalar) -> log concrete scores [L, K]``.
        x_t: tokens, shape ``(*batch, L)`` (the model is vmapped over the batch).
        t: current time (scalar).
        dt: step $\Delta t > 0$ (scalar).
        schedule: the noise schedule.
        kind: ``"uniform"`` or ``"absorbing"`` (the mask is state ``K - 1``).
        sample_dtype: float dtype of the categorical draw; default float64 when
            x64 is enabled, else float32.

    Returns:
        The new tokens, shape and dtype of ``x_t``.

    Raises:
        ValueError: unknown ``kind``; bad shapes of ``x_t`` or of the model
            output.
        TypeError: non-integer ``x_t``, non-float ``sample_dtype``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.discrete import LogLinearSchedule, euler_step
        >>> f = lambda x, s: jnp.zeros((x.shape[0], 4))   # every ratio 1
        >>> x = euler_step(jr.key(0), f, jnp.array([3, 3, 1]), 0.5, 0.01,
        ...                LogLinearSchedule(), kind="absorbing")
        >>> print(x.shape, int(x[2]))
        (3,) 1

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    return _step(
        "euler_step",
        euler_probs,
        key,
        log_score_fn,
        x_t,
        t,
        dt,
        schedule,
        kind,
        sample_dtype,
    )


def tweedie_step(
    key: PRNGKeyArray,
    log_score_fn: LogScoreFn,
    x_t: Int[ArrayLike, "*batch L"],
    t: Float[ArrayLike, ""],
    dt: Float[ArrayLike, ""],
    schedule: MaskingSchedule,
    *,
    kind: Kind,
    sample_dtype: DTypeLike | None = None,
) -> Int[Array, "*batch L"]:
    r"""One Tweedie ("analytic") reverse step from $t$ to $t - \Delta t$ (SEDD).

    Evaluates ``log_score_fn(x_t, sigma(t))`` once per sequence and draws every
    position independently from
    [`tweedie_probs`][jaxmethods.discrete.tweedie_probs] (staggered score times
    the transposed transition). Not differentiable (it samples).

    Args:
        key: PRNG key.
        log_score_fn: ``(x: int[L], sigma: scalar) -> log concrete scores [L, K]``.
        x_t: tokens, shape ``(*batch, L)`` (the model is vmapped over the batch).
        t: current time (scalar).
        dt: step $\Delta t > 0$ (scalar).
        schedule: the noise schedule.
        kind: ``"uniform"`` or ``"absorbing"`` (the mask is state ``K - 1``).
        sample_dtype: float dtype of the categorical draw; default float64 when
            x64 is enabled, else float32.

    Returns:
        The new tokens, shape and dtype of ``x_t``.

    Raises:
        ValueError: unknown ``kind``; bad shapes of ``x_t`` or of the model
            output.
        TypeError: non-integer ``x_t``, non-float ``sample_dtype``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.discrete import LogLinearSchedule, tweedie_step
        >>> f = lambda x, s: jnp.zeros((x.shape[0], 4))
        >>> x = tweedie_step(jr.key(0), f, jnp.array([[3, 0, 2]]), 0.5, 0.1,
        ...                  LogLinearSchedule(), kind="absorbing")
        >>> print(x.shape, x[0, 1:].tolist())
        (1, 3) [0, 2]

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Survey: Yu et al., "Discrete Diffusion in Large Language and
        Multimodal Models: A Survey", 2025. arXiv:2506.13759.
    """
    return _step(
        "tweedie_step",
        tweedie_probs,
        key,
        log_score_fn,
        x_t,
        t,
        dt,
        schedule,
        kind,
        sample_dtype,
    )

r"""D3PM: discrete-time discrete diffusion with structured transition matrices.

Every token follows a Markov chain with row-stochastic transition matrices
$Q_t[\text{from}, \text{to}]$, $t = 1, \dots, T$:
$q(x_t \mid x_{t-1}) = \mathrm{Cat}(x_t; e_{x_{t-1}} Q_t)$. Two families have
closed-form products $\bar Q_t = Q_1 \cdots Q_t$ with
$\bar\alpha_t = \prod_{s \le t}(1 - \beta_s)$:

* ``"uniform"`` ($K = V$): $Q_t = (1-\beta_t) I + \beta_t \mathbf 1\mathbf 1^\top/K$,
  $\bar Q_t = \bar\alpha_t I + (1-\bar\alpha_t)\mathbf 1\mathbf 1^\top/K$;
* ``"absorbing"`` ($K = V + 1$, mask $M = K - 1$):
  $Q_t = (1-\beta_t) I + \beta_t \mathbf 1 e_M^\top$,
  $\bar Q_t = \bar\alpha_t I + (1-\bar\alpha_t)\mathbf 1 e_M^\top$.

Nothing here multiplies $T$ matrices or even forms a $K \times K$ matrix
outside [`uniform_transition`][jaxmethods.discrete.uniform_transition],
[`absorbing_transition`][jaxmethods.discrete.absorbing_transition] and
[`cumulative_transition`][jaxmethods.discrete.cumulative_transition]: the
posterior uses the closed-form rows and columns, $O(K)$ per token (the
official code's ``Precision.HIGHEST`` matmuls are then not needed).
Times are 1-based as in the paper: ``betas[t - 1]`` is $\beta_t$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype
from ._ctmc import (
    Kind,
    _as_float,
    _as_tokens,
    _call_model,
    _check_kind,
    _check_num_states,
    _check_range,
    _check_sequences,
    _is_mask_column,
    _mix_matrices,
    _one_hot,
)


BetaSchedule = Literal["jsd", "cosine", "linear"]
_BETA_SCHEDULES = ("jsd", "cosine", "linear")
EPS = 1e-20  # google-research d3pm: log(p + 1e-20)

DenoiseFn = Callable[[Array, Array], Array]


# ----------------------------------------------------------------- matrices


def _mix(fn: str, kind: str, value, num_states, value_is_beta: bool) -> Array:
    k = _check_num_states(fn, num_states, kind)
    a = _as_float(fn, "beta" if value_is_beta else "alpha_bar", value)
    stay = (1 - a) if value_is_beta else a
    return _mix_matrices(kind, stay, 1 - stay, k)


def uniform_transition(
    beta: Float[ArrayLike, "*batch"], *, num_states: int
) -> Float[Array, "*batch num_states num_states"]:
    r"""One-step uniform transition matrix $Q_t$ of D3PM.

    $Q_t = (1-\beta_t) I + \beta_t \mathbf 1\mathbf 1^\top / K$.

    Args:
        beta: $\beta_t \in [0, 1]$, any shape.
        num_states: number of states $K$ (static).

    Returns:
        Row-stochastic matrices ``Q[..., from, to]`` of shape
        ``(*beta.shape, K, K)`` in the dtype of ``beta``.

    Raises:
        ValueError: ``num_states < 1``.
        TypeError: non-int ``num_states`` or non-real ``beta``.

    Examples:
        >>> from jaxmethods.discrete import uniform_transition
        >>> print(uniform_transition(0.3, num_states=3).round(3))
        [[0.8 0.1 0.1]
         [0.1 0.8 0.1]
         [0.1 0.1 0.8]]

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Survey: arXiv:2506.13759.
    """
    return _mix("uniform_transition", "uniform", beta, num_states, True)


def absorbing_transition(
    beta: Float[ArrayLike, "*batch"], *, num_states: int
) -> Float[Array, "*batch num_states num_states"]:
    r"""One-step absorbing transition matrix $Q_t$ of D3PM.

    $Q_t = (1-\beta_t) I + \beta_t \mathbf 1 e_M^\top$. The mask is the last
    state $M = K - 1$; its row is $e_M$.

    Args:
        beta: $\beta_t \in [0, 1]$, any shape.
        num_states: number of states $K = V + 1 \ge 2$, mask included (static).

    Returns:
        Row-stochastic matrices ``Q[..., from, to]`` of shape
        ``(*beta.shape, K, K)`` in the dtype of ``beta``.

    Raises:
        ValueError: ``num_states < 2``.
        TypeError: non-int ``num_states`` or non-real ``beta``.

    Examples:
        >>> from jaxmethods.discrete import absorbing_transition
        >>> print(absorbing_transition(0.25, num_states=3))
        [[0.75 0.   0.25]
         [0.   0.75 0.25]
         [0.   0.   1.  ]]

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Survey: arXiv:2506.13759.
    """
    return _mix("absorbing_transition", "absorbing", beta, num_states, True)


def cumulative_transition(
    kind: Kind, alpha_bar: Float[ArrayLike, "*batch"], *, num_states: int
) -> Float[Array, "*batch num_states num_states"]:
    r"""Closed-form cumulative transition $\bar Q_t = Q_1 Q_2 \cdots Q_t$.

    With $\bar\alpha_t = \prod_{s \le t}(1-\beta_s)$: uniform:
    $\bar\alpha_t I + (1-\bar\alpha_t)\mathbf 1\mathbf 1^\top/K$; absorbing:
    $\bar\alpha_t I + (1-\bar\alpha_t)\mathbf 1 e_M^\top$. Entry ``[..., x0, y]``
    is $q(x_t = y \mid x_0)$.

    Args:
        kind: ``"uniform"`` or ``"absorbing"``.
        alpha_bar: $\bar\alpha_t \in [0, 1]$, any shape.
        num_states: number of states $K$ (static), mask included.

    Returns:
        Row-stochastic matrices of shape ``(*alpha_bar.shape, K, K)``.

    Raises:
        ValueError: unknown ``kind`` or ``num_states`` too small.
        TypeError: non-int ``num_states`` or non-real ``alpha_bar``.

    Examples:
        >>> from jaxmethods.discrete import cumulative_transition
        >>> print(cumulative_transition("absorbing", 0.6, num_states=3).round(3))
        [[0.6 0.  0.4]
         [0.  0.6 0.4]
         [0.  0.  1. ]]

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Survey: arXiv:2506.13759.
    """
    _check_kind("cumulative_transition", kind)
    return _mix("cumulative_transition", kind, alpha_bar, num_states, False)


def d3pm_betas(
    num_steps: int,
    *,
    schedule: BetaSchedule = "jsd",
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    dtype: DTypeLike | None = None,
) -> tuple[Float[Array, " num_steps"], Float[Array, " num_steps+1"]]:
    r"""D3PM's noise schedules $\beta_{1..T}$ and $\bar\alpha_{0..T}$.

    * ``"jsd"``: $\beta_t = 1/(T - t + 1)$ (Sohl-Dickstein et al.; D3PM's
      mutual-information schedule for absorbing noise), so
      $\bar\alpha_t = 1 - t/T$ exactly and $\bar\alpha_T = 0$;
    * ``"cosine"``:
      $\bar\alpha(s) = \cos\big(\tfrac{\pi}{2}\tfrac{s + 0.008}{1.008}\big)$ at
      $s = t/T$ and $\beta_t = \min(1 - \bar\alpha(t/T)/\bar\alpha((t-1)/T), 0.999)$
      (D3PM's uniform-noise schedule, after Nichol and Dhariwal);
    * ``"linear"``: $\beta_t$ evenly spaced from ``beta_start`` to ``beta_end``.

    The values are computed in float64 NumPy, then cast. ``alpha_bars[t]`` is
    $\prod_{s \le t}(1 - \beta_s)$ (exactly $1 - t/T$ for ``"jsd"``).

    Args:
        num_steps: $T \ge 1$ (static).
        schedule: ``"jsd"``, ``"cosine"`` or ``"linear"``.
        beta_start: first $\beta$ of ``"linear"``.
        beta_end: last $\beta$ of ``"linear"``.
        dtype: float dtype; default the default float.

    Returns:
        ``(betas, alpha_bars)`` of shapes ``(T,)`` and ``(T + 1,)``, with
        ``betas[t - 1]`` $= \beta_t$ and ``alpha_bars[0]`` $= 1$.

    Raises:
        ValueError: ``num_steps < 1``, unknown ``schedule`` or linear betas
            outside $[0, 1]$.

    Examples:
        >>> from jaxmethods.discrete import d3pm_betas
        >>> betas, alpha_bars = d3pm_betas(4)
        >>> print([round(float(b), 4) for b in betas], alpha_bars.tolist())
        [0.25, 0.3333, 0.5, 1.0] [1.0, 0.75, 0.5, 0.25, 0.0]

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Nichol and Dhariwal, "Improved Denoising Diffusion
        Probabilistic Models", ICML 2021. arXiv:2102.09672.
    """
    fn = "d3pm_betas"
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise ValueError(f"{fn}: num_steps must be an int >= 1, got {num_steps!r}")
    n = int(num_steps)
    if n < 1:
        raise ValueError(f"{fn}: num_steps must be an int >= 1, got {n}")
    if schedule not in _BETA_SCHEDULES:
        raise ValueError(
            f"{fn}: schedule must be one of {_BETA_SCHEDULES}, got {schedule!r}"
        )
    dtype = check_float_dtype(fn, dtype)
    t = np.arange(1, n + 1, dtype=np.float64)
    if schedule == "jsd":
        betas = 1.0 / (n - t + 1)
        alpha_bars = np.concatenate([[1.0], (n - t) / n])
    else:
        if schedule == "cosine":
            s = np.arange(n + 1, dtype=np.float64) / n
            ab = np.cos((s + 0.008) / 1.008 * math.pi / 2)
            betas = np.minimum(1 - ab[1:] / ab[:-1], 0.999)
        else:
            if not (0.0 <= beta_start <= 1.0 and 0.0 <= beta_end <= 1.0):
                raise ValueError(
                    f"{fn}: beta_start and beta_end must lie in [0, 1], got "
                    f"{beta_start}, {beta_end}"
                )
            betas = np.linspace(beta_start, beta_end, n)
        alpha_bars = np.concatenate([[1.0], np.cumprod(1 - betas)])
    return jnp.asarray(betas, dtype), jnp.asarray(alpha_bars, dtype)


# ----------------------------------------------------------------- posterior


def _check_betas(fn: str, betas) -> Array:
    betas = _as_float(fn, "betas", betas)
    if betas.ndim != 1 or betas.shape[0] < 1:
        raise ValueError(
            f"{fn}: betas must be 1-D with T >= 1 entries, got {betas.shape}"
        )
    return betas


def _alpha_bars(betas: Array) -> Array:
    one = jnp.ones((1,), betas.dtype)
    return jnp.concatenate([one, jnp.cumprod(1 - betas)])


def _posterior(kind, probs0, x_t, t, betas, k, at_start):
    """log q(x_{t-1} | x_t, x0 ~ probs0) (D3PM eq. 4, unnormalised), shape (*S, K)."""
    dtype = betas.dtype
    beta = betas[t - 1][..., None]
    abar = _alpha_bars(betas)[t - 1][..., None]
    own = _one_hot(x_t, k).astype(dtype)
    # fact1[y] = Q_t[y, x_t] (a column of Q_t).
    if kind == "uniform":
        fact1 = (1 - beta) * own + beta / k
        # fact2 = probs0 @ Qbar_{t-1} (sum(probs0) = 1).
        fact2 = abar * probs0 + (1 - abar) / k
    else:
        masked = jnp.broadcast_to((x_t == k - 1)[..., None], own.shape).astype(dtype)
        fact1 = (1 - beta) * own + beta * masked
        fact2 = abar * probs0 + (1 - abar) * _is_mask_column(own.shape).astype(dtype)
    out = jnp.log(fact1 + EPS) + jnp.log(fact2 + EPS)
    return jnp.where(at_start[..., None], jnp.log(probs0 + EPS), out)


def _start_probs(fn, kind, x_start, shape, k, dtype):
    """One-hot or softmax of ``x_start`` over the K states (mask column 0)."""
    v = k - 1 if kind == "absorbing" else k
    if jnp.issubdtype(x_start.dtype, jnp.integer):
        if x_start.shape != shape:
            raise ValueError(
                f"{fn}: integer x_start must have the shape of x_t {shape}, got "
                f"{x_start.shape}"
            )
        x_start = _check_range(fn, "x_start", x_start, v)
        return _one_hot(x_start, k).astype(dtype)
    if x_start.shape != (*shape, v):
        raise ValueError(
            f"{fn}: x_start log-probabilities must have shape (*x_t.shape, V) = "
            f"{(*shape, v)} for kind={kind!r}, got {x_start.shape}"
        )
    p = jax.nn.softmax(x_start.astype(dtype), axis=-1)
    if kind == "absorbing":
        p = jnp.concatenate([p, jnp.zeros((*shape, 1), dtype)], axis=-1)
    return p


def d3pm_posterior_logits(
    x_start: Int[ArrayLike, "*shape"] | Float[ArrayLike, "*shape V"],
    x_t: Int[ArrayLike, "*shape"],
    t: Int[ArrayLike, "*#shape"],
    betas: Float[ArrayLike, " T"],
    *,
    kind: Kind,
    num_states: int,
) -> Float[Array, "*shape num_states"]:
    r"""Logits of D3PM's $q(x_{t-1} \mid x_t, x_0)$ or of $p_\theta(x_{t-1} \mid x_t)$.

    For an integer ``x_start`` $= x_0$ this is Bayes' rule
    $q(x_{t-1} \mid x_t, x_0) \propto Q_t[x_{t-1}, x_t]\,\bar Q_{t-1}[x_0, x_{t-1}]$.
    For log-probabilities $\log\tilde p_\theta(\tilde x_0 \mid x_t)$ over the
    $V$ clean tokens it is D3PM's $x_0$-parameterisation (eq. 4)
    $p_\theta(x_{t-1} \mid x_t) \propto \sum_{\tilde x_0}
    q(x_{t-1}, x_t \mid \tilde x_0)\, \tilde p_\theta(\tilde x_0 \mid x_t)
    = Q_t[x_{t-1}, x_t]\,(\tilde p_\theta \bar Q_{t-1})[x_{t-1}]$, i.e.
    $\sum_{\tilde x_0} q(x_{t-1} \mid x_t, \tilde x_0)\,w(\tilde x_0)$ with
    $w \propto \tilde p_\theta(\tilde x_0 \mid x_t)\, q(x_t \mid \tilde x_0)$
    (the two weightings agree when $q(x_t \mid \tilde x_0)$ is constant on the
    support of $\tilde p_\theta$, e.g. absorbing noise with $x_t = M$). Both are
    computed as google-research ``d3pm`` does: $\log(a + \varepsilon) +
    \log(b + \varepsilon)$ with $\varepsilon = 10^{-20}$, unnormalised (apply
    ``log_softmax`` for log-probabilities). At $t = 1$ the result is
    $\log(p_0 + \varepsilon)$ with $p_0$ the one-hot $x_0$ or $\tilde p_\theta$
    (D3PM's decoder $p_\theta(x_0 \mid x_1) = \tilde p_\theta(x_0 \mid x_1)$).
    Cost $O(K)$ per token; differentiable in ``x_start`` and ``betas``.

    Args:
        x_start: clean tokens $x_0 \in [0, V)$ of shape ``(*shape)`` (integer),
            or log-probabilities (or logits) over the $V$ clean tokens of shape
            ``(*shape, V)`` (float), where $V = K - 1$ for absorbing and $K$
            for uniform.
        x_t: noisy tokens in ``[0, K)``, shape ``(*shape)``.
        t: time steps in ``1..T``, broadcastable to ``(*shape)``.
        betas: $\beta_1, \dots, \beta_T$, shape ``(T,)``, e.g. from
            [`d3pm_betas`][jaxmethods.discrete.d3pm_betas].
        kind: ``"uniform"`` or ``"absorbing"`` (mask $M = K - 1$).
        num_states: number of states $K$ (static), mask included.

    Returns:
        Logits over the $K$ states of $x_{t-1}$, shape ``(*shape, K)``, in the
        dtype of ``betas`` (promoted with a float ``x_start``).

    Raises:
        ValueError: unknown ``kind``, bad ``num_states`` or shapes.
        TypeError: non-integer ``x_t`` or ``t``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import d3pm_betas, d3pm_posterior_logits
        >>> betas, _ = d3pm_betas(10)
        >>> lg = d3pm_posterior_logits(jnp.array(1), jnp.array(4), jnp.array(4),
        ...                            betas, kind="absorbing", num_states=5)
        >>> print(jax.nn.softmax(lg).round(4).tolist())
        [0.0, 0.25, 0.0, 0.0, 0.75]

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Survey: arXiv:2506.13759.
    """
    fn = "d3pm_posterior_logits"
    _check_kind(fn, kind)
    k = _check_num_states(fn, num_states, kind)
    betas = _check_betas(fn, betas)
    x_start = jnp.asarray(x_start)
    if jnp.issubdtype(x_start.dtype, jnp.floating):
        betas = betas.astype(jnp.promote_types(betas.dtype, x_start.dtype))
    elif not jnp.issubdtype(x_start.dtype, jnp.integer):
        raise TypeError(f"{fn}: x_start must be integer tokens or float log-probs")
    x_t = _check_range(fn, "x_t", _as_tokens(fn, "x_t", x_t), k)
    t = _as_tokens(fn, "t", t)
    if t.ndim > x_t.ndim:
        raise ValueError(
            f"{fn}: t of shape {t.shape} does not broadcast to {x_t.shape}"
        )
    t = jnp.broadcast_to(_check_t(fn, t, betas.shape[0]), x_t.shape)
    p0 = _start_probs(fn, kind, x_start, x_t.shape, k, betas.dtype)
    return _posterior(kind, p0, x_t, t, betas, k, t == 1)


def _check_t(fn: str, t: Array, num_steps: int) -> Array:
    return eqx.error_if(
        t, (t < 1) | (t > num_steps), f"{fn}: t has entries outside 1..{num_steps}"
    )


# ----------------------------------------------------------------- loss


def _kl_logits(l1: Array, l2: Array) -> Array:
    lp1 = jax.nn.log_softmax(l1, axis=-1)
    return jnp.sum(jnp.exp(lp1) * (lp1 - jax.nn.log_softmax(l2, axis=-1)), axis=-1)


def _d3pm_terms(log_probs, x0, x_t, t, betas, *, kind, num_states):
    """Per-token ``(vb, ce)`` for one time step (D3PM ``vb_terms_bpd`` in nats).

    ``vb`` is KL(q(x_{t-1}|x_t,x0) || p_theta(x_{t-1}|x_t)) for t >= 2 and the
    decoder NLL -log p~(x0|x1) for t = 1; ``ce`` is -log p~(x0|x_t). ``t``
    broadcasts to ``x_t``; ``log_probs`` has shape ``(*x_t.shape, V)``.
    """
    k = num_states
    t = jnp.broadcast_to(t, x_t.shape)
    lp = jax.nn.log_softmax(log_probs, axis=-1)
    ce = -jnp.sum(jnp.where(_one_hot(x0, lp.shape[-1]), lp, 0), axis=-1)
    first = t == 1
    q = _posterior(kind, _one_hot(x0, k).astype(betas.dtype), x_t, t, betas, k, first)
    p0 = jnp.exp(lp)
    if kind == "absorbing":
        p0 = jnp.concatenate([p0, jnp.zeros((*x_t.shape, 1), p0.dtype)], axis=-1)
    p = _posterior(kind, p0, x_t, t, betas, k, first)
    return jnp.where(first, ce, _kl_logits(q, p)), ce


def _prior_kl(x0, betas, *, kind, num_states):
    """KL(q(x_T | x0) || stationary) per token, with D3PM's eps-smoothed logs."""
    k = num_states
    abar = _alpha_bars(betas)[-1]
    onehot = _one_hot(x0, k).astype(betas.dtype)
    if kind == "uniform":
        pi = jnp.full(onehot.shape, 1 / k, betas.dtype)
    else:
        pi = _is_mask_column(onehot.shape).astype(betas.dtype)
    q = abar * onehot + (1 - abar) * pi
    return _kl_logits(jnp.log(q + EPS), jnp.log(pi + EPS))


def d3pm_hybrid_loss(
    denoise_fn: DenoiseFn,
    key: PRNGKeyArray,
    x0: Int[ArrayLike, "*batch L"],
    betas: Float[ArrayLike, " T"],
    *,
    kind: Kind,
    hybrid_coeff: float = 0.01,
    antithetic: bool = True,
) -> Float[Array, "*batch"]:
    r"""D3PM's hybrid loss $L_{\mathrm{vb}} + \lambda L_{\mathrm{CE}}$ per sequence.

    One time step $t \in \{1..T\}$ is drawn per sequence (stratified over the
    batch when ``antithetic``: $t_i = 1 + \lfloor T((u + i/B) \bmod 1)\rfloor$),
    then $x_t \sim q(x_t \mid x_0)$ per token (absorbing: masked with
    probability $1-\bar\alpha_t$; uniform: replaced by a uniform token with
    that probability), and the network gives
    $\log\tilde p_\theta(\tilde x_0 \mid x_t)$ = ``denoise_fn(x_t, t)``. The loss
    is the unbiased one-sample estimate of D3PM's eq. (5),

    $$T\,\sum_i L_{t,i} + \sum_i \mathrm{KL}\big(q(x_T \mid x_{0,i}) \,\|\, \pi\big)
    + \lambda \sum_i -\log\tilde p_\theta(x_{0,i} \mid x_t),$$

    with $L_{t,i} = \mathrm{KL}(q(x_{t-1} \mid x_t, x_0) \| p_\theta(x_{t-1}
    \mid x_t))$ for $t \ge 2$ (posteriors from
    [`d3pm_posterior_logits`][jaxmethods.discrete.d3pm_posterior_logits]) and
    the decoder NLL $-\log\tilde p_\theta(x_0 \mid x_1)$ for $t = 1$, and $\pi$
    the stationary law (uniform, or the mask). Its expectation over $t$ and
    $x_t$ is $L_{\mathrm{vb}} + \lambda\,\mathbb E_t[L_{\mathrm{CE}}]$, and
    $L_{\mathrm{vb}} \ge -\log p_\theta(x_0)$. The official code
    (``training_losses``, ``hybrid``) instead reports the per-step average
    $L_{t} + \lambda L_{\mathrm{CE}}$ in bits per token, without the prior
    term: divide the first term by $T$ (and by $L \log 2$) to compare, which
    also rescales $\lambda$ by $T$. Gradients flow through the network and
    ``betas``, not through the sampled $t$ and $x_t$.

    Args:
        denoise_fn: ``(x_t: int[L], t: int scalar) -> [L, V]`` log-probabilities
            (or logits; they are log-softmaxed) of the clean tokens, no mask
            column ($V = K - 1$ for absorbing, $K$ for uniform). $t$ is an
            ``int32`` scalar.
        key: PRNG key.
        x0: clean tokens in ``[0, V)``, shape ``(*batch, L)``.
        betas: $\beta_1, \dots, \beta_T$, shape ``(T,)``, e.g. from
            [`d3pm_betas`][jaxmethods.discrete.d3pm_betas]; its dtype is the
            loss dtype (the network output is cast to it).
        kind: ``"uniform"`` or ``"absorbing"`` (mask $M = V$).
        hybrid_coeff: $\lambda \ge 0$ (D3PM: 0.01 for text, 0.001 for images).
        antithetic: stratify $t$ over the batch.

    Returns:
        The loss per sequence, shape ``batch`` (a scalar for ``x0`` of shape
        ``(L,)``).

    Raises:
        ValueError: unknown ``kind``, bad shapes or a network output of the
            wrong shape.
        TypeError: non-integer ``x0``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.discrete import d3pm_betas, d3pm_hybrid_loss
        >>> betas, _ = d3pm_betas(10)
        >>> f = lambda x, t: jnp.full((x.shape[0], 4), -jnp.log(4.0))
        >>> loss = d3pm_hybrid_loss(f, jr.key(0), jnp.zeros((3, 6), jnp.int32),
        ...                         betas, kind="absorbing")
        >>> print(loss.shape, bool(jnp.all(loss > 0)))
        (3,) True

    References:
        Austin, Johnson, Ho, Tarlow and van den Berg, "Structured Denoising
        Diffusion Models in Discrete State-Spaces", NeurIPS 2021.
        arXiv:2107.03006. Survey: arXiv:2506.13759.
    """
    fn = "d3pm_hybrid_loss"
    _check_kind(fn, kind)
    x0 = _check_sequences(fn, x0)
    betas = _check_betas(fn, betas)
    hybrid_coeff = float(hybrid_coeff)
    if not hybrid_coeff >= 0:
        raise ValueError(f"{fn}: hybrid_coeff must be >= 0, got {hybrid_coeff}")
    num_steps = betas.shape[0]
    row = jax.ShapeDtypeStruct(x0.shape[-1:], x0.dtype)
    out = jax.eval_shape(denoise_fn, row, jax.ShapeDtypeStruct((), jnp.int32)).shape
    if len(out) != 2 or out[0] != x0.shape[-1]:
        raise ValueError(
            f"{fn}: denoise_fn returned shape {out} for L={x0.shape[-1]}; "
            "expected (L, V)"
        )
    v = out[-1]
    k = _check_num_states(fn, v + 1 if kind == "absorbing" else v, kind)
    x0 = _check_range(fn, "x0", x0, v)

    xb = x0.reshape((-1, x0.shape[-1]))
    b = xb.shape[0]
    k_t, k_move, k_tok = jr.split(key, 3)
    dtype = betas.dtype
    if antithetic:
        u = jnp.mod(jr.uniform(k_t, (), dtype) + jnp.arange(b, dtype=dtype) / b, 1.0)
        t = jnp.minimum(jnp.floor(u * num_steps).astype(jnp.int32) + 1, num_steps)
    else:
        t = jr.randint(k_t, (b,), 1, num_steps + 1, dtype=jnp.int32)
    abar = _alpha_bars(betas)[t]
    move = jr.uniform(k_move, xb.shape, dtype) < (1 - abar)[:, None]
    if kind == "absorbing":
        target = jnp.full_like(xb, k - 1)
    else:
        target = jr.randint(k_tok, xb.shape, 0, k, dtype=xb.dtype)
    x_t = jnp.where(move, target, xb)
    log_probs = _call_model(fn, denoise_fn, x_t, t).astype(dtype)
    vb, ce = _d3pm_terms(log_probs, xb, x_t, t[:, None], betas, kind=kind, num_states=k)
    prior = _prior_kl(xb, betas, kind=kind, num_states=k)
    loss = jnp.sum(num_steps * vb + prior + hybrid_coeff * ce, axis=-1)
    return loss.reshape(x0.shape[:-1])

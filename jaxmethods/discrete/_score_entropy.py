r"""SEDD's denoising score entropy, pointwise and as a Monte Carlo NELBO.

For the forward CTMC of [`ctmc_transition`][jaxmethods.discrete.ctmc_transition]
and a log concrete score $\log s_\theta(x_t)$, the denoising score entropy of
one position is

$$\ell = \sum_{y \ne x_t} R(y \to x_t)\Big(s_y - r_y \log s_y + K(r_y)\Big),
\qquad r_y = \frac{p_\sigma(y \mid x_0)}{p_\sigma(x_t \mid x_0)},
\quad K(r) = r(\log r - 1),$$

with the forward rates $R$ of [`rate_matrix`][jaxmethods.discrete.rate_matrix].
The constant $K(r)$ makes $\ell \ge 0$, with equality iff $s_y = r_y$.
Weighted by $\sigma'(t)$, summed over positions and integrated over
$t \in [0, 1]$ it is an upper bound on $-\log p_\theta(x_0)$ (SEDD Thm. 3.6),
tight for the exact score up to the truncation of the schedule at $t = 0, 1$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype
from ._ctmc import (
    Kind,
    LogScoreFn,
    _as_float,
    _as_tokens,
    _call_model,
    _check_kind,
    _check_num_states,
    _check_range,
    _check_sequences,
    _is_mask_column,
    _one_hot,
)
from ._schedules import MaskingSchedule


def _xlogx_minus(r: Array) -> Array:
    """$K(r) = r(\\log r - 1)$ with $K(0) = 0$."""
    safe = jnp.where(r > 0, r, 1)
    return jnp.where(r > 0, r * (jnp.log(safe) - 1), 0)


def score_entropy(
    log_score: Float[ArrayLike, "*shape K"],
    x_t: Int[ArrayLike, "*shape"],
    x0: Int[ArrayLike, "*shape"],
    sigma: Float[ArrayLike, "*#shape"],
    *,
    graph: Kind,
) -> Float[Array, "*shape"]:
    r"""Pointwise denoising score entropy $\ell(s_\theta(x_t), x_t, x_0, \sigma)$.

    **Absorbing** (mask $M = K - 1$): with $a = 1/\operatorname{expm1}(\sigma)$,
    at a masked position
    $\ell = \sum_{v \ne M} s_v - a \log s_{x_0} + a(\log a - 1)$, and
    $\ell = 0$ at clean positions (SEDD ``Absorbing.score_entropy``; RADD's
    t-DSE uses it with $s_v = c_\theta(v)\,a$). **Uniform** ($K = V$): the case
    split of SEDD ``Uniform.score_entropy``: with $e = \operatorname{expm1}(\sigma)$
    and $r = e/(e + K)$, if $x_t = x_0$,
    $\ell = \tfrac1K\sum_{y \ne x_t}\big(s_y - r \log s_y\big)
    + \tfrac{K-1}{K} r(\log r - 1)$;
    otherwise
    $\ell = \tfrac1K\sum_{y \ne x_t}(s_y - \log s_y) - \tfrac1e \log s_{x_0}
    + \tfrac1K\big((-\log r - 1)/r - (K - 2)\big)$.
    The entry of ``log_score`` at $y = x_t$ (and, for absorbing, the mask
    column) is never used. $\ell \ge 0$, with equality at the exact ratios.

    Args:
        log_score: log concrete scores $\log s(x_t)_y$, shape ``(*shape, K)``
            (for absorbing, $K = V + 1$ including the mask column).
        x_t: noisy tokens in ``[0, K)``, shape ``(*shape)``.
        x0: clean tokens in ``[0, V)``, shape ``(*shape)``.
        sigma: total noise $\sigma > 0$, broadcastable to ``(*shape)``.
        graph: ``"absorbing"`` or ``"uniform"``.

    Returns:
        $\ell$ per position, shape ``(*shape)``, in the promoted float dtype of
        ``log_score`` and ``sigma``.

    Raises:
        ValueError: unknown ``graph`` or mismatched shapes.
        TypeError: non-integer tokens or non-real scores.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import score_entropy
        >>> a = 1 / jnp.expm1(0.7)
        >>> exact = jnp.log(jnp.array([[0.5 * a, 0.3 * a, 0.2 * a, 1.0]]))
        >>> l = score_entropy(exact, jnp.array([3]), jnp.array([0]), 0.7,
        ...                   graph="absorbing")
        >>> print(round(float(l[0]), 5), round(float(-a * jnp.log(0.5)), 5))
        0.68374 0.68374

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "score_entropy"
    _check_kind(fn, graph, "graph")
    log_score = _as_float(fn, "log_score", log_score)
    sigma = _as_float(fn, "sigma", sigma)
    x_t = _as_tokens(fn, "x_t", x_t)
    x0 = _as_tokens(fn, "x0", x0)
    if log_score.ndim < 1 or log_score.shape[:-1] != x_t.shape:
        raise ValueError(
            f"{fn}: log_score must have shape (*x_t.shape, K) = {(*x_t.shape, 'K')}, "
            f"got {log_score.shape}"
        )
    if x0.shape != x_t.shape:
        raise ValueError(f"{fn}: x0 shape {x0.shape} != x_t shape {x_t.shape}")
    if sigma.ndim > x_t.ndim:
        raise ValueError(
            f"{fn}: sigma of shape {sigma.shape} does not broadcast to {x_t.shape}"
        )
    dtype = jnp.result_type(log_score, sigma)
    log_score = log_score.astype(dtype)
    sigma = jnp.broadcast_to(sigma.astype(dtype), x_t.shape)
    k = _check_num_states(fn, log_score.shape[-1], graph)
    v = k - 1 if graph == "absorbing" else k
    x_t = _check_range(fn, "x_t", x_t, k)
    x0 = _check_range(fn, "x0", x0, v)
    shape = log_score.shape
    own = _one_hot(x_t, k)
    at_x0 = _one_hot(x0, k)
    em1 = jnp.expm1(sigma)
    zero = jnp.zeros((), dtype)

    if graph == "absorbing":
        masked = x_t == k - 1
        use = jnp.broadcast_to(masked[..., None], shape) & ~_is_mask_column(shape)
        ls = jnp.where(use, log_score, zero)  # no NaN/inf leaks from unused entries
        pos = jnp.sum(jnp.where(use, jnp.exp(ls), zero), axis=-1)
        a = 1 / jnp.where(masked, em1, 1)  # no inf at clean positions (grads)
        neg = a * jnp.sum(jnp.where(at_x0, ls, zero), axis=-1)
        return jnp.where(masked, pos - neg + _xlogx_minus(a), zero)

    ls = jnp.where(own, zero, log_score)
    pos = jnp.sum(jnp.where(own, zero, jnp.exp(ls)), axis=-1) / k
    mean_log = jnp.sum(ls, axis=-1) / k
    r = em1 / (em1 + k)
    log_r = jnp.log(em1) - jnp.log(em1 + k)
    same = x_t == x0
    neg = jnp.where(
        same, r * mean_log, mean_log + jnp.sum(jnp.where(at_x0, ls, zero), -1) / em1
    )
    const = jnp.where(
        same,
        (k - 1) / k * r * (log_r - 1),
        ((-log_r - 1) / r - (k - 2)) / k,
    )
    return pos - neg + const


def score_entropy_loss(
    log_score_fn: LogScoreFn,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    schedule: MaskingSchedule,
    *,
    graph: Kind = "absorbing",
    antithetic: bool = True,
    t_min: float = 0.0,
    dtype: DTypeLike | None = None,
) -> Float[Array, "*batch"]:
    r"""SEDD's denoising score entropy loss: a one-sample NELBO estimate in nats.

    For each sequence, $t = t_{\min} + (1 - t_{\min})(1 - u_i)$ with
    $u_i \sim U[0, 1)$, stratified over the (flattened) batch when
    ``antithetic``: $u_i = (u + i/B) \bmod 1$ (MDLM), every position is
    noised independently from row $x_i$ of $e^{\sigma(t) Q}$ (absorbing: masked
    with probability $1 - e^{-\sigma(t)}$; uniform: replaced by a uniform
    token with that probability), and the loss is
    $(1 - t_{\min})\,\sigma'(t)\sum_i \ell_i$ with $\ell$ of
    [`score_entropy`][jaxmethods.discrete.score_entropy] at
    ``log_score_fn(x_t, sigma(t))``. Its expectation is
    $\int_{t_{\min}}^1 \sigma'(t)\,\mathbb E\sum_i \ell_i\,dt$, an upper bound
    on $-\log p_\theta(x)$ up to the schedule's truncation; for the exact
    score it equals $-\log p(x)$ up to that truncation. SEDD trains with
    $t_{\min} = 10^{-3}$ (``sampling_eps``): for the log-linear schedule the
    integrand's variance grows like $\log(1/t_{\min})$. Gradients flow
    through the model, not through the sampled $t$ and $x_t$.

    Args:
        log_score_fn: ``(x: int[L], sigma: scalar) -> log concrete scores [L, K]``
            (absorbing: $K = V + 1$, the last column is the mask and unused).
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(*batch, L)``.
        schedule: the noise schedule ($\sigma$, $\sigma'$ and
            $1 - e^{-\sigma}$ = ``mask_prob``); SEDD uses
            [`LogLinearSchedule`][jaxmethods.discrete.LogLinearSchedule] for
            absorbing and [`GeometricSchedule`][jaxmethods.discrete.GeometricSchedule]
            for uniform.
        graph: ``"absorbing"`` or ``"uniform"``.
        antithetic: stratify $t$ over the batch.
        t_min: lower end of the time interval, in ``[0, 1)``.
        dtype: float dtype of $t$, $\sigma$ and the loss (the model output is
            cast to it); default the default float.

    Returns:
        The loss per sequence, shape ``batch`` (a scalar for ``x`` of shape
        ``(L,)``).

    Raises:
        ValueError: unknown ``graph``, bad ``t_min`` or bad shapes.
        TypeError: non-integer ``x`` or non-float ``dtype``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.discrete import LogLinearSchedule, score_entropy_loss
        >>> f = lambda z, s: jnp.zeros((z.shape[0], 4))
        >>> loss = score_entropy_loss(f, jr.key(0), jnp.zeros((8, 5), jnp.int32),
        ...                           LogLinearSchedule())
        >>> print(loss.shape, bool(jnp.all(loss >= 0)))
        (8,) True

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
        Sahoo et al., "Simple and Effective Masked Diffusion Language Models",
        NeurIPS 2024 (arXiv:2406.07524) for the antithetic times.
    """
    fn = "score_entropy_loss"
    _check_kind(fn, graph, "graph")
    x = _check_sequences(fn, x)
    t_min = float(t_min)
    if not 0.0 <= t_min < 1.0:
        raise ValueError(f"{fn}: t_min must lie in [0, 1), got {t_min}")
    dtype = check_float_dtype(fn, dtype)
    row = jax.ShapeDtypeStruct(x.shape[-1:], x.dtype)
    out_shape = jax.eval_shape(log_score_fn, row, jax.ShapeDtypeStruct((), dtype)).shape
    if len(out_shape) != 2 or out_shape[0] != x.shape[-1]:
        raise ValueError(
            f"{fn}: log_score_fn returned shape {out_shape} for L={x.shape[-1]}; "
            "expected (L, K)"
        )
    k = _check_num_states(fn, out_shape[-1], graph)
    v = k - 1 if graph == "absorbing" else k
    x = _check_range(fn, "x", x, v)

    xb = x.reshape((-1, x.shape[-1]))
    b = xb.shape[0]
    k_t, k_move, k_tok = jr.split(key, 3)
    if antithetic:
        u = jnp.mod(jr.uniform(k_t, (), dtype) + jnp.arange(b, dtype=dtype) / b, 1.0)
    else:
        u = jr.uniform(k_t, (b,), dtype)
    # 1 - u lies in (0, 1]: t = t_min (where the weight may be infinite) is excluded.
    t = t_min + (1 - t_min) * (1 - u)
    sigma = schedule.sigma(t)
    move = jr.uniform(k_move, xb.shape, dtype) < schedule.mask_prob(t)[:, None]
    if graph == "absorbing":
        target = jnp.full_like(xb, k - 1)
    else:
        target = jr.randint(k_tok, xb.shape, 0, k, dtype=xb.dtype)
    x_t = jnp.where(move, target, xb)
    log_score = _call_model(fn, log_score_fn, x_t, sigma).astype(dtype)
    ell = score_entropy(log_score, x_t, xb, sigma[:, None], graph=graph)
    loss = (1 - t_min) * schedule.dsigma(t) * jnp.sum(ell, axis=-1)
    return loss.reshape(x.shape[:-1])

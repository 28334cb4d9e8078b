r"""Masked-diffusion ELBOs (MD4/MDLM) and RADD's time-free likelihood bounds.

With absorbing noise every token of $x \in \{0..V-1\}^L$ is masked at time $t$
independently with probability $1 - \alpha(t)$. For a denoiser $c_\theta(x_i
\mid z)$ (log-probabilities of the clean token given the partially masked
sequence $z$) the continuous-time negative ELBO is

$$\mathrm{NELBO}(x) = \int_0^1 \frac{-\alpha'(t)}{1 - \alpha(t)}\,
\mathbb E_{z_t}\Bigl[\sum_{i:\, z_{t,i} = M} -\log c_\theta(x_i \mid z_t)\Bigr]\,dt,$$

and substituting $\lambda = 1 - \alpha(t)$ shows it does not depend on the
schedule: it is $\int_0^1 \lambda^{-1}\,\mathbb E_{z \sim \lambda}[\dots]\,
d\lambda$, RADD's $\lambda$-DCE, which in turn equals the average over all
$L!$ orders of the autoregressive NLL (the AO-ARM bound). Every estimator here
is unbiased for its stated bound and returns one value per sequence, in nats.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ._common import (
    Denoiser,
    check_tokens,
    denoiser_output,
    flatten,
    gather_nll,
    stratified_uniform,
)
from ._schedules import LogLinearSchedule, MaskingSchedule


def _prologue(fn: str, denoise_fn: Denoiser, x: ArrayLike):
    """Validate ``x`` against the denoiser; return ``(flat x, unflatten, V, dtype)``."""
    x = jnp.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have shape (..., L), got {x.shape}")
    length = x.shape[-1]
    vocab, dtype = denoiser_output(fn, denoise_fn, length)
    x = check_tokens(fn, x, vocab, allow_mask=False)
    flat, unflatten = flatten(x.astype(jnp.int32))
    return flat, unflatten, vocab, dtype


def _masked_nll(
    denoise_fn: Denoiser, x: Int[Array, "B L"], mask: Array, vocab: int
) -> Float[Array, " B"]:
    """``sum_{i masked} -log c(x_i | z)`` with ``z = x`` masked where ``mask``."""
    z = jnp.where(mask, vocab, x)
    logp = jax.vmap(denoise_fn)(z)
    nll = jax.vmap(gather_nll)(logp, x)
    return jnp.sum(jnp.where(mask, nll, jnp.zeros((), nll.dtype)), axis=-1)


def _draw_noise(
    key: PRNGKeyArray,
    x: Int[Array, "B L"],
    dtype,
    schedule: MaskingSchedule,
    *,
    t_min: float,
    num_steps: int | None,
    antithetic: bool,
) -> tuple[Float[Array, " B"], Float[Array, " B"], Array]:
    """Times, ELBO weights and masks of one draw: ``(t, w, mask)``.

    Continuous time: ``t`` in ``(t_min, 1]`` with ``w = -alpha'/(1 - alpha)``;
    ``num_steps=T``: ``t = k/T`` with ``k`` uniform on ``{1..T}`` and the
    ``T``-step weight. Each token is masked with probability ``1 - alpha(t)``.
    """
    k_t, k_mask = jr.split(key)
    u = stratified_uniform(
        k_t, x.shape[0], dtype, "antithetic" if antithetic else "iid"
    )
    if num_steps is None:
        t = t_min + (1 - t_min) * u
        m_t = schedule.mask_prob(t)
        w = schedule.weight(t)
    else:
        k = jnp.ceil(u * num_steps)
        t, s = k / num_steps, (k - 1) / num_steps
        m_t, m_s = schedule.mask_prob(t), schedule.mask_prob(s)
        w = num_steps * (m_t - m_s) / m_t
    mask = jr.uniform(k_mask, x.shape, dtype) < m_t[:, None]
    return t, w, mask


def _time_loss(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[Array, "B L"],
    vocab: int,
    dtype,
    schedule: MaskingSchedule,
    **noise,
) -> Float[Array, " B"]:
    """One Monte Carlo draw of the (continuous or discrete) masked-diffusion NELBO."""
    _, w, mask = _draw_noise(key, x, dtype, schedule, **noise)
    return w * _masked_nll(denoise_fn, x, mask, vocab).astype(dtype)


def _check_schedule(fn: str, schedule) -> None:
    if not isinstance(schedule, MaskingSchedule):
        raise TypeError(
            f"{fn}: schedule must be a MaskingSchedule, got {type(schedule).__name__}"
        )


def masked_diffusion_nelbo(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    schedule: MaskingSchedule,
    *,
    num_steps: int | None = None,
    antithetic: bool = True,
) -> Float[Array, "*batch"]:
    r"""One-sample Monte Carlo estimate of the masked-diffusion NELBO (MD4/MDLM).

    Continuous time (``num_steps=None``): draws $t \in (0, 1]$ and a masked
    $z_t$ and returns $w(t)\sum_{i:\,z_{t,i}=M} -\log c_\theta(x_i \mid z_t)$
    with $w = -\alpha'/(1-\alpha)$, an unbiased estimate of

    $$\int_0^1 w(t)\,\mathbb E_{z_t}\Bigl[\sum_{i \text{ masked}}
    -\log c_\theta(x_i\mid z_t)\Bigr]dt,$$

    which is the same for every schedule with $\alpha(0)=1$, $\alpha(1)=0$
    (MD4's invariance) and equals $-\log p(x)$ when $c_\theta$ is the exact
    conditional of $p$. Discrete time (``num_steps=T``): draws $k$ uniformly
    in $\{1..T\}$, $t = k/T$, $s = (k-1)/T$ and weights the masked cross-entropy
    by $T(\alpha_s - \alpha_t)/(1 - \alpha_t)$, the $T$-step ELBO of D3PM's
    absorbing process written as in MD4. With ``antithetic=True`` the times of
    the batch are $1 - ((u + i/B) \bmod 1)$ with one shared $u$ (MDLM), which
    lowers the variance of the batch mean without bias. Clipped schedules
    ($\alpha(0) < 1$ or $\alpha(1) > 0$) give the diffusion term only; the
    boundary terms are left out, as MDLM and RADD do.

    The denoiser takes no time input; a time-conditioned model can be passed
    as a closure only if it ignores $t$ (as the optimal absorbing denoiser
    does, see RADD). Gradients flow to the denoiser's parameters (pass an
    ``eqx.Module`` and differentiate with ``eqx.filter_grad``).

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)``; mask id is ``V``.
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        schedule: the masking schedule.
        num_steps: ``None`` for continuous time, else the number of discrete
            steps $T$ (static).
        antithetic: stratify the times across the flattened batch.

    Returns:
        The NELBO estimate per sequence in nats, shape ``batch`` (a scalar for
        ``(L,)`` input), in the denoiser's float dtype.

    Raises:
        ValueError: ``x`` has no sequence axis, the denoiser has the wrong
            output shape, or ``num_steps < 1``; at run time (``eqx.error_if``)
            tokens outside ``[0, V)``, including the mask id ``V``.
        TypeError: non-integer tokens or a non-schedule ``schedule``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import LinearSchedule, masked_diffusion_nelbo
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> x = jnp.zeros((1000, 3), jnp.int32)
        >>> key = jax.random.key(0)
        >>> nelbo = masked_diffusion_nelbo(uniform, key, x, LinearSchedule())
        >>> print(nelbo.shape, round(float(nelbo.mean())))  # mean 3 log 4 = 4.16
        (1000,) 4

    References:
        Shi, Han, Wang, Doucet and Titsias, "Simplified and Generalized Masked
        Diffusion for Discrete Data", NeurIPS 2024 (arXiv:2406.04329); Sahoo
        et al., "Simple and Effective Masked Diffusion Language Models",
        NeurIPS 2024 (arXiv:2406.07524); survey arXiv:2506.13759.
    """
    fn = "masked_diffusion_nelbo"
    _check_schedule(fn, schedule)
    if num_steps is not None and (not isinstance(num_steps, int) or num_steps < 1):
        raise ValueError(
            f"{fn}: num_steps must be None or an int >= 1, got {num_steps!r}"
        )
    flat, unflatten, vocab, dtype = _prologue(fn, denoise_fn, x)
    out = _time_loss(
        denoise_fn,
        key,
        flat,
        vocab,
        dtype,
        schedule,
        t_min=0.0,
        num_steps=num_steps,
        antithetic=antithetic,
    )
    return unflatten(out)


def t_dce_loss(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    schedule: MaskingSchedule | None = None,
    *,
    t_min: float = 1e-3,
    antithetic: bool = True,
) -> Float[Array, "*batch"]:
    r"""RADD's t-DCE loss: time-weighted cross-entropy of a time-free denoiser.

    Draws $t = t_{\min} + (1 - t_{\min})u$ (antithetic over the batch, as
    RADD's "vdm" sampling) and a masked $z_t$, and returns
    $\frac{\sigma'(t)}{e^{\sigma(t)} - 1}\sum_{i \text{ masked}} -\log
    c_\theta(x_i \mid z_t)$. Up to the truncation $t \ge t_{\min}$ (and the
    $1/(1 - t_{\min})$ of the uniform density, as in the official code) this is
    the masked-diffusion NELBO; with $t_{\min} = 0$ it equals
    [`masked_diffusion_nelbo`][jaxmethods.discrete.masked_diffusion_nelbo].

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)`` (no time input).
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        schedule: masking schedule; default RADD's log-linear with
            $\varepsilon = 10^{-3}$.
        t_min: smallest time, in $[0, 1)$ (RADD's ``sampling_eps``).
        antithetic: stratify the times across the flattened batch.

    Returns:
        The loss per sequence in nats, shape ``batch``.

    Raises:
        ValueError: bad shapes or ``t_min``; tokens outside ``[0, V)`` at run
            time.
        TypeError: non-integer tokens or a non-schedule ``schedule``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import t_dce_loss
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> x = jnp.zeros((1000, 3), jnp.int32)
        >>> print(round(float(t_dce_loss(uniform, jax.random.key(0), x).mean())))
        4

    References:
        Ou, Nie, Xue, Zhu, Sun, Li and Li, "Your Absorbing Discrete Diffusion
        Secretly Models the Conditional Distributions of Clean Data", ICLR
        2025. arXiv:2406.03736.
    """
    fn = "t_dce_loss"
    schedule = LogLinearSchedule(1e-3) if schedule is None else schedule
    _check_schedule(fn, schedule)
    if not (0.0 <= float(t_min) < 1.0):
        raise ValueError(f"{fn}: t_min must lie in [0, 1), got {t_min}")
    flat, unflatten, vocab, dtype = _prologue(fn, denoise_fn, x)
    out = _time_loss(
        denoise_fn,
        key,
        flat,
        vocab,
        dtype,
        schedule,
        t_min=float(t_min),
        num_steps=None,
        antithetic=antithetic,
    )
    return unflatten(out)


def t_dse_loss(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    schedule: MaskingSchedule | None = None,
    *,
    t_min: float = 1e-3,
    antithetic: bool = True,
) -> Float[Array, "*batch"]:
    r"""RADD's t-DSE loss: SEDD's score entropy with the reparameterised score.

    The score of absorbing diffusion is written as $s_\theta(z_t)_v =
    c_\theta(v \mid z_t)/\operatorname{expm1}\sigma(t)$ (see
    [`radd_concrete_score`][jaxmethods.discrete.radd_concrete_score]) and fed to
    SEDD's denoising score entropy
    ([`score_entropy`][jaxmethods.discrete.score_entropy], absorbing graph),
    weighted by $\sigma'(t)$ and summed over positions; times as in
    [`t_dce_loss`][jaxmethods.discrete.t_dce_loss]. For a normalised
    $c_\theta$ the score-entropy term equals the t-DCE term pointwise
    ($\sum_v s_v = a$ cancels the constant), so the two losses agree draw by
    draw; t-DSE also penalises denoisers whose rows do not sum to one.

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)`` (no time input).
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        schedule: masking schedule; default RADD's log-linear with
            $\varepsilon = 10^{-3}$.
        t_min: smallest time, in $[0, 1)$.
        antithetic: stratify the times across the flattened batch.

    Returns:
        The loss per sequence in nats, shape ``batch``.

    Raises:
        ValueError: bad shapes or ``t_min``; tokens outside ``[0, V)`` at run
            time.
        TypeError: non-integer tokens or a non-schedule ``schedule``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import t_dce_loss, t_dse_loss
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> x = jnp.zeros((8, 3), jnp.int32)
        >>> a = t_dse_loss(uniform, jax.random.key(0), x)
        >>> b = t_dce_loss(uniform, jax.random.key(0), x)
        >>> print(bool(jnp.allclose(a, b, rtol=1e-4)))
        True

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025 (arXiv:2406.03736);
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024 (arXiv:2310.16834).
    """
    from ._score_entropy import score_entropy

    fn = "t_dse_loss"
    schedule = LogLinearSchedule(1e-3) if schedule is None else schedule
    _check_schedule(fn, schedule)
    if not (0.0 <= float(t_min) < 1.0):
        raise ValueError(f"{fn}: t_min must lie in [0, 1), got {t_min}")
    flat, unflatten, vocab, dtype = _prologue(fn, denoise_fn, x)
    t, _, mask = _draw_noise(
        key, flat, dtype, schedule, t_min=t_min, num_steps=None, antithetic=antithetic
    )
    z = jnp.where(mask, vocab, flat)
    logp = jax.vmap(denoise_fn)(z).astype(dtype)
    sigma = schedule.sigma(t)
    log_score = radd_concrete_score(logp, sigma[:, None])
    log_score = jnp.concatenate(
        [log_score, jnp.zeros(log_score.shape[:-1] + (1,), dtype)], axis=-1
    )  # the mask column of SEDD's absorbing graph (never used)
    ell = score_entropy(log_score, z, flat, sigma[:, None], graph="absorbing")
    return unflatten(schedule.dsigma(t) * jnp.sum(ell, axis=-1))


def lambda_dce_loss(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    *,
    stratified: bool = True,
) -> Float[Array, "*batch"]:
    r"""RADD's $\lambda$-DCE loss: mask with probability $\lambda$, divide by $\lambda$.

    Returns $\lambda^{-1}\sum_{i \text{ masked}} -\log c_\theta(x_i \mid z)$
    where each token is masked with probability $\lambda$. Its expectation is
    the schedule-free NELBO $\int_0^1 \lambda^{-1}\mathbb E_{z\sim\lambda}[\dots]
    d\lambda$, equal to the AO-ARM bound (average NLL over all orders; see
    [`ao_arm_nll_exact`][jaxmethods.discrete.ao_arm_nll_exact]). With
    ``stratified=True`` the batch uses RADD's decoupled strata
    $\lambda_i = 1 - (u_i + i)/B$. $\lambda$ lies in $(0, 1]$ by construction,
    so the division never produces NaN; arithmetic is in the denoiser's
    dtype (use a float64 model for the official code's float64 division).

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)`` (no time input).
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        stratified: stratify $\lambda$ across the flattened batch.

    Returns:
        The loss per sequence in nats, shape ``batch``.

    Raises:
        ValueError: bad shapes; tokens outside ``[0, V)`` at run time.
        TypeError: non-integer tokens.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import lambda_dce_loss
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> x = jnp.zeros((1000, 3), jnp.int32)
        >>> loss = lambda_dce_loss(uniform, jax.random.key(0), x)
        >>> print(round(float(loss.mean())))  # 3 log 4 = 4.16
        4

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    flat, unflatten, vocab, dtype = _prologue("lambda_dce_loss", denoise_fn, x)
    k_lam, k_mask = jr.split(key)
    lam = stratified_uniform(
        k_lam, flat.shape[0], dtype, "stratified" if stratified else "iid"
    )
    mask = jr.uniform(k_mask, flat.shape, dtype) < lam[:, None]
    nll = _masked_nll(denoise_fn, flat, mask, vocab).astype(dtype)
    return unflatten(nll / lam)


def k_dce_loss(
    denoise_fn: Denoiser,
    key: PRNGKeyArray,
    x: Int[ArrayLike, "*batch L"],
    *,
    stratified: bool = True,
) -> Float[Array, "*batch"]:
    r"""RADD's k-DCE (AO-ARM) loss: mask exactly $k$ tokens, weight $L/k$.

    Returns $\frac{L}{k}\sum_{i \text{ masked}} -\log c_\theta(x_i \mid z)$
    for a uniformly random set of $k$ masked positions. Its expectation is the
    AO-ARM bound, the same as $\lambda$-DCE's: both give a masked set $S$ of
    size $k$ the weight $1/(k\binom{L}{k})$. This is also LLaDA's likelihood
    estimator. With ``stratified=True``, $k$ is stratified across the batch.

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)`` (no time input).
        key: PRNG key.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        stratified: stratify $k$ across the flattened batch.

    Returns:
        The loss per sequence in nats, shape ``batch``.

    Raises:
        ValueError: bad shapes; tokens outside ``[0, V)`` at run time.
        TypeError: non-integer tokens.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.discrete import k_dce_loss
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> x = jnp.zeros((8, 3), jnp.int32)
        >>> print(round(float(k_dce_loss(uniform, jax.random.key(0), x).mean()), 2))
        4.16

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025 (arXiv:2406.03736);
        Nie et al., "Large Language Diffusion Models", 2025 (arXiv:2502.09992).
    """
    flat, unflatten, vocab, dtype = _prologue("k_dce_loss", denoise_fn, x)
    n, length = flat.shape
    k_k, k_perm = jr.split(key)
    u = stratified_uniform(k_k, n, dtype, "stratified" if stratified else "iid")
    k = jnp.clip(jnp.ceil(u * length), 1, length).astype(jnp.int32)
    ranks = jnp.argsort(jnp.argsort(jr.uniform(k_perm, flat.shape), axis=-1), axis=-1)
    ranks = ranks.astype(jnp.int32)
    mask = ranks < k[:, None]
    nll = _masked_nll(denoise_fn, flat, mask, vocab).astype(dtype)
    return unflatten(nll * (length / k.astype(dtype)))


def ordered_nll(
    denoise_fn: Denoiser,
    x: Int[ArrayLike, "*batch L"],
    order: Int[ArrayLike, "*order_batch L"],
) -> Float[Array, "*batch"]:
    r"""Exact NLL of one order, $-\sum_j \log c(x_{\pi_j} \mid x_{\pi_{<j}})$.

    Starts from the all-masked sequence and reveals $x_{\pi_1}, x_{\pi_2},
    \dots$ in the given order, scoring each token with one denoiser call
    ($L$ calls in a ``lax.scan``). For any conditional model this is the exact
    negative log-likelihood of $x$ under the autoregressive joint that the
    model defines along the order $\pi$ (RADD's ``ar_forward`` loss).

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)``.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        order: a permutation of ``0..L-1`` per sequence, the same shape as
            ``x`` or ``(L,)`` (shared).

    Returns:
        The NLL per sequence in nats, shape ``batch``.

    Raises:
        ValueError: shape mismatch between ``x`` and ``order``; at run time,
            ``order`` is not a permutation or tokens are out of range.
        TypeError: non-integer tokens or order.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import ordered_nll
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> nll = ordered_nll(uniform, jnp.array([0, 1, 2]), jnp.array([2, 0, 1]))
        >>> print(round(float(nll), 4))
        4.1589

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "ordered_nll"
    flat, unflatten, vocab, dtype = _prologue(fn, denoise_fn, x)
    order = jnp.asarray(order)
    if not jnp.issubdtype(order.dtype, jnp.integer):
        raise TypeError(f"{fn}: order must be integer, got {order.dtype}")
    length = flat.shape[1]
    if order.shape == (length,):
        order = jnp.broadcast_to(order, flat.shape)
    elif order.shape[-1:] == (length,) and order.size == flat.size:
        order = order.reshape(flat.shape)
    else:
        raise ValueError(
            f"{fn}: order must have shape ({length},) or the shape of x, got "
            f"{order.shape}"
        )
    order = order.astype(jnp.int32)
    order = eqx.error_if(
        order,
        jnp.any(jnp.sort(order, axis=-1) != jnp.arange(length, dtype=jnp.int32)[None]),
        f"{fn}: order must be a permutation of 0..L-1",
    )

    def one(xs, pi):
        def body(carry, pos):
            z, total = carry
            logp = denoise_fn(z)
            total = total - logp[pos, xs[pos]].astype(dtype)
            return (z.at[pos].set(xs[pos]), total), None

        z0 = jnp.full((length,), vocab, jnp.int32)
        (_, total), _ = jax.lax.scan(body, (z0, jnp.zeros((), dtype)), pi)
        return total

    return unflatten(jax.vmap(one)(flat, order))


def ao_arm_nll_exact(
    denoise_fn: Denoiser,
    x: Int[ArrayLike, "*batch L"],
    *,
    batch_size: int = 256,
) -> Float[Array, "*batch"]:
    r"""The AO-ARM bound computed exactly by enumerating all $2^L - 1$ masks.

    $$\sum_{\emptyset \ne S \subseteq \{1..L\}} \frac{1}{|S|\binom{L}{|S|}}
    \sum_{i \in S} -\log c_\theta(x_i \mid x_{S^c}),$$

    the exact expectation of $\lambda$-DCE and k-DCE and of the
    masked-diffusion NELBO, and the average over all $L!$ orders of
    [`ordered_nll`][jaxmethods.discrete.ordered_nll]. It equals $-\log p(x)$
    when $c_\theta$ holds the exact conditionals of $p$, and is an upper
    bound on the NLL of every order's joint otherwise. Costs $2^L - 1$ denoiser
    calls, evaluated ``batch_size`` at a time; $L \le 20$.

    Args:
        denoise_fn: ``tokens (L,) int -> log-probs (L, V)``.
        x: clean tokens in ``[0, V)``, shape ``(L,)`` or ``(*batch, L)``.
        batch_size: masks evaluated per vectorised denoiser call (static).

    Returns:
        The bound per sequence in nats, shape ``batch``.

    Raises:
        ValueError: ``L > 20`` or bad shapes; out-of-range tokens at run time.
        TypeError: non-integer tokens.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import ao_arm_nll_exact
        >>> uniform = lambda z: jnp.full((z.shape[0], 4), -jnp.log(4.0))
        >>> print(round(float(ao_arm_nll_exact(uniform, jnp.array([0, 1, 2]))), 4))
        4.1589

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025 (arXiv:2406.03736);
        Hoogeboom et al., "Autoregressive Diffusion Models", ICLR 2022
        (arXiv:2110.02037).
    """
    fn = "ao_arm_nll_exact"
    flat, unflatten, vocab, dtype = _prologue(fn, denoise_fn, x)
    length = flat.shape[1]
    if length > 20:
        raise ValueError(f"{fn}: enumeration needs L <= 20, got L={length}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{fn}: batch_size must be a positive int, got {batch_size!r}")
    codes = np.arange(1, 2**length)
    masks_np = ((codes[:, None] >> np.arange(length)) & 1).astype(bool)
    sizes = masks_np.sum(-1)
    weights_np = 1.0 / (sizes * np.array([math.comb(length, int(k)) for k in sizes]))
    masks = jnp.asarray(masks_np)
    weights = jnp.asarray(weights_np, dtype)

    def one(xs):
        def per_mask(m):
            z = jnp.where(m, vocab, xs)
            nll = gather_nll(denoise_fn(z), xs).astype(dtype)
            return jnp.sum(jnp.where(m, nll, jnp.zeros((), dtype)))

        vals = jax.lax.map(per_mask, masks, batch_size=min(batch_size, masks.shape[0]))
        return jnp.sum(weights * vals)

    return unflatten(jax.lax.map(one, flat))


def radd_concrete_score(
    logprobs: Float[ArrayLike, "*batch V"], sigma: Float[ArrayLike, "*#batch"]
) -> Float[Array, "*batch V"]:
    r"""RADD's log concrete score of absorbing diffusion from a time-free denoiser.

    For absorbing noise with total noise $\sigma$ and position $i$ masked in
    $z_t$, $p_t(z_t^{i \leftarrow v}) / p_t(z_t) = c(x_i = v \mid z_t) /
    (e^{\sigma} - 1)$, so the log score is $\log c - \log\operatorname{expm1}
    \sigma$: an analytic function of time times a conditional of clean data.
    ``expm1`` keeps it accurate for small $\sigma$ (the official code switches
    formulas at $\sigma = 0.5$).

    Args:
        logprobs: log-conditionals $\log c(\cdot \mid z_t)$, shape ``(..., V)``.
        sigma: total noise $\sigma(t) > 0$, broadcastable to ``logprobs``
            without its last axis.

    Returns:
        Log concrete scores, shape ``(..., V)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import radd_concrete_score
        >>> s = radd_concrete_score(jnp.log(jnp.array([0.5, 0.5])), jnp.log(2.0))
        >>> print([round(float(v), 4) for v in jnp.exp(s)])
        [0.5, 0.5]

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    logprobs = jnp.asarray(logprobs)
    sigma = jnp.broadcast_to(jnp.asarray(sigma, logprobs.dtype), logprobs.shape[:-1])
    return logprobs - jnp.log(jnp.expm1(sigma))[..., None]

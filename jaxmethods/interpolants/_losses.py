r"""Quadratic regression losses whose minimisers are the interpolant's fields (P18).

Write the interpolant as $x_t = m_t + \sigma(t)\zeta$ with the Gaussian latent
$\zeta$ ($z$ with $\sigma = \gamma$ for two-sided paths, $x_0$ with
$\sigma = \alpha$ for one-sided ones; see
:meth:`jaxmethods.interpolants.Interpolant.latent_coeffs`). Each loss is
$\mathbb E\bigl[\tfrac12|\hat f(t, x_t)|^2 - T\cdot\hat f(t, x_t)\bigr]$ for a
target $T$, so its unique minimiser is $\mathbb E[T \mid x_t]$ and
$L(f^* + \delta) - L(f^*) = \tfrac12\mathbb E|\delta|^2$:

- ``loss_b``: $T = \dot m_t + \dot\sigma\zeta$, minimiser the velocity $b$;
- ``loss_v``: $T = \dot m_t$, minimiser $v$;
- ``loss_s``: $T = -\zeta/\sigma$, minimiser the score $s = \nabla\log\rho_t$;
- ``loss_eta``: $T = \zeta$, minimiser the denoiser $\eta$.

The antithetic estimators evaluate the model at $m_t \pm \sigma\zeta$ (with
$\pm\zeta$ in the target) and average, which removes the $O(1/\sigma)$ noise
of the $\zeta$ terms near the endpoints.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from ._core import (
    Interpolant,
    Model,
    bcast,
    call_model,
    check_points,
    check_unit_interval,
)


def _setup(fn: str, interp, t, x0, x1, z):
    """Checked inputs and ``(m, m_dot, sigma, sigma_dot, zeta, t)``, broadcast."""
    x0, x1, z = check_points(fn, interp, x0, x1, z)
    if x0.ndim < 2:
        raise ValueError(
            f"{fn}: x0, x1 and z must have shape (B, *event), got {x0.shape}"
        )
    t = jnp.asarray(t)
    if not (
        jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: t must be real, got dtype {t.dtype}")
    t = t.astype(x0.dtype)
    if t.shape != x0.shape[:1]:
        raise ValueError(
            f"{fn}: t must have shape ({x0.shape[0]},), one time per sample, got "
            f"{t.shape}"
        )
    t = check_unit_interval(fn, "t", t)
    alpha, alpha_dot, beta, beta_dot, _, _ = (bcast(c, x0) for c in interp._coeffs(t))
    sigma, sigma_dot, _ = (bcast(c, x0) for c in interp._latent(t))
    if interp.is_one_sided:
        m, m_dot, zeta = beta * x1, beta_dot * x1, x0
    else:
        m = alpha * x0 + beta * x1
        m_dot = alpha_dot * x0 + beta_dot * x1
        zeta = jnp.zeros_like(x0) if z is None else z
    return m, m_dot, sigma, sigma_dot, zeta, t


def _sum(x: Array) -> Array:
    """Sum over the event axes: one value per sample."""
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def _quadratic(fn, what, model, x, t, target) -> Array:
    """Per-sample $\\frac12|f(x)|^2 - T\\cdot f(x)$."""
    f = call_model(fn, what, model, x, t)
    return _sum(0.5 * f**2 - target * f)


def _loss(fn, what, model, t, m, sigma, zeta, target_mean, target_zeta, antithetic):
    """Mean over samples of the quadratic loss with target ``T0 + Tz zeta``."""
    if not antithetic:
        x = m + sigma * zeta
        per = _quadratic(fn, what, model, x, t, target_mean + target_zeta * zeta)
    else:
        plus = _quadratic(
            fn, what, model, m + sigma * zeta, t, target_mean + target_zeta * zeta
        )
        minus = _quadratic(
            fn, what, model, m - sigma * zeta, t, target_mean - target_zeta * zeta
        )
        per = 0.5 * (plus + minus)
    return jnp.mean(per)


def _no_latent(fn: str, interp: Interpolant) -> None:
    if not interp.is_one_sided and interp.gamma_type == "zero":
        raise ValueError(
            f"{fn}: a two-sided path with gamma='zero' has no Gaussian latent "
            "(no score or denoiser to learn)"
        )


def loss_b(
    b_fn: Model,
    interp: Interpolant,
    t: Real[ArrayLike, " B"],
    x0: Float[ArrayLike, " B *event"],
    x1: Float[ArrayLike, " B *event"],
    z: Float[ArrayLike, " B *event"] | None = None,
    *,
    antithetic: bool = True,
) -> Float[Array, ""]:
    r"""The velocity loss $L_b$, minimised by $b = \mathbb E[\dot x_t \mid x_t]$.

    $L_b = \mathbb E[\frac12|\hat b(t, x_t)|^2 - (\dot m_t +
    \dot\sigma\zeta)\cdot\hat b(t, x_t)]$.

    Its minimiser is the velocity $b(t, x) = \mathbb E[\dot x_t \mid x_t = x]$
    of the probability-flow ODE, with $\dot x_t = \dot\alpha x_0 + \dot\beta
    x_1 + \dot\gamma z$. The Monte-Carlo estimate averages over the batch
    (one $t$ per sample; draw $t \sim U[0, 1]$, or from a truncated range).
    ``antithetic=True`` (the default, as in the official code) evaluates
    $\hat b$ at $m_t \pm \sigma\zeta$ with targets $\dot m_t \pm
    \dot\sigma\zeta$ and averages the two (the official code sums them; the
    minimiser is the same). $\dot\sigma$ is infinite at $t \in \{0, 1\}$ for
    the Brownian gammas: keep $t$ inside $(0, 1)$. Cost: one or two model
    calls on the batch.

    Args:
        b_fn: the model ``b_fn(x, t)``: ``x`` of shape `(B, *event)`, ``t``
            of shape `(B,)`, returning the shape of ``x``.
        interp: the interpolant.
        t: times in $[0, 1]$, shape `(B,)`.
        x0: base samples, shape `(B, *event)` (standard normal for one-sided
            paths; for ``mirror``, pass ``x1``).
        x1: target samples, same shape.
        z: standard normal samples, same shape (two-sided paths; ignored and
            optional for one-sided ones and ``gamma="zero"``).
        antithetic: use the antithetic estimator.

    Returns:
        The scalar loss, in the dtype of ``x0``.

    Raises:
        TypeError: non-float or mixed-dtype points, or a bad ``interp``.
        ValueError: mismatched shapes, ``t`` not of shape `(B,)`, a missing
            ``z``, a model returning the wrong shape, or a concrete ``t``
            outside $[0, 1]$ (traced: ``eqx.error_if`` at run time).

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.interpolants import Interpolant, loss_b
        >>> k0, k1, k2 = jr.split(jr.key(0), 3)
        >>> x0, x1 = jr.normal(k0, (64, 2)), 2.0 + jr.normal(k1, (64, 2))
        >>> t = jnp.linspace(0.1, 0.9, 64)
        >>> loss = loss_b(lambda x, t: jnp.zeros_like(x), Interpolant.linear(),
        ...               t, x0, x1, jr.normal(k2, (64, 2)))
        >>> float(loss)
        0.0

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, theorem 2.6 and section 6.1.
    """
    fn = "loss_b"
    m, m_dot, sigma, sigma_dot, zeta, t = _setup(fn, interp, t, x0, x1, z)
    return _loss(fn, "b_fn", b_fn, t, m, sigma, zeta, m_dot, sigma_dot, antithetic)


def loss_v(
    v_fn: Model,
    interp: Interpolant,
    t: Real[ArrayLike, " B"],
    x0: Float[ArrayLike, " B *event"],
    x1: Float[ArrayLike, " B *event"],
    z: Float[ArrayLike, " B *event"] | None = None,
    *,
    antithetic: bool = False,
) -> Float[Array, ""]:
    r"""Loss $L_v = \mathbb E[\frac12|\hat v|^2 - \dot m_t\cdot\hat v]$ for $v$.

    $\dot m_t = \dot\alpha x_0 + \dot\beta x_1$ for two-sided paths, so the
    minimiser is $v = \mathbb E[\dot\alpha x_0 + \dot\beta x_1 \mid x_t]$
    and $b = v - \gamma\dot\gamma\, s$ (:func:`b_from_v_s`). For one-sided
    paths $\dot m_t = \dot\beta x_1$ (the Gaussian latent $x_0$ is left
    out), so that $b = v - \alpha\dot\alpha\, s$ holds the same way; the
    official ``loss_per_sample_one_sided_v`` regresses $\dot\alpha x_0 +
    \dot\beta x_1$ instead, which is $b$ itself. ``antithetic=False`` by
    default (as the official code); the antithetic version averages the
    model at $m_t \pm \sigma\zeta$ against the same target. Finite at every
    $t \in [0, 1]$.

    Args:
        v_fn: the model ``v_fn(x, t)`` (convention of :func:`loss_b`).
        interp: the interpolant.
        t: times in $[0, 1]$, shape `(B,)`.
        x0: base samples, shape `(B, *event)`.
        x1: target samples, same shape.
        z: standard normal samples (two-sided paths), same shape.
        antithetic: use the antithetic estimator.

    Returns:
        The scalar loss, in the dtype of ``x0``.

    Raises:
        TypeError: see :func:`loss_b`.
        ValueError: see :func:`loss_b`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, loss_v
        >>> x0, x1 = jnp.zeros((2, 1)), jnp.ones((2, 1))
        >>> loss = loss_v(lambda x, t: jnp.ones_like(x),
        ...               Interpolant.one_sided_linear(), jnp.array([0.2, 0.7]),
        ...               x0, x1)
        >>> float(loss)   # 1/2 - 1 (the target is x1 - 0 = 1)
        -0.5

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, section 2.2.
    """
    fn = "loss_v"
    m, m_dot, sigma, _, zeta, t = _setup(fn, interp, t, x0, x1, z)
    zero = jnp.zeros_like(sigma)
    return _loss(fn, "v_fn", v_fn, t, m, sigma, zeta, m_dot, zero, antithetic)


def loss_s(
    s_fn: Model,
    interp: Interpolant,
    t: Real[ArrayLike, " B"],
    x0: Float[ArrayLike, " B *event"],
    x1: Float[ArrayLike, " B *event"],
    z: Float[ArrayLike, " B *event"] | None = None,
    *,
    antithetic: bool = True,
) -> Float[Array, ""]:
    r"""Score loss $L_s = \mathbb E[\frac12|\hat s|^2 + \sigma^{-1}\zeta\cdot\hat s]$.

    Its minimiser is the score $s = \nabla\log\rho_t = -\mathbb E[\zeta
    \mid x_t]/\sigma$ ($\sigma = \gamma$, $\zeta = z$ two-sided; $\sigma =
    \alpha$, $\zeta = x_0$ one-sided). ``antithetic=True`` (default, as the
    official code) averages the terms at $m_t \pm \sigma\zeta$, whose
    $\pm\sigma^{-1}\zeta$ parts cancel to leading order, removing the
    $O(1/\sigma)$ variance near the endpoints. $1/\sigma$ is infinite where
    $\sigma = 0$: sample $t$ in $[t_{\min}, 1 - t_{\min}]$ (two-sided) or
    $[0, 1 - t_{\min}]$ (one-sided).

    Args:
        s_fn: the model ``s_fn(x, t)`` (convention of :func:`loss_b`).
        interp: the interpolant (not a two-sided ``gamma="zero"`` path).
        t: times in $[0, 1]$, shape `(B,)`.
        x0: base samples, shape `(B, *event)`.
        x1: target samples, same shape.
        z: standard normal samples (two-sided paths), same shape.
        antithetic: use the antithetic estimator.

    Returns:
        The scalar loss, in the dtype of ``x0``.

    Raises:
        TypeError: see :func:`loss_b`.
        ValueError: see :func:`loss_b`; also a path without a latent.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, loss_s
        >>> # one-sided linear at t = 1/2: x_t = (x0 + x1) / 2, latent x0, sigma = 1/2
        >>> x0, x1, t = jnp.ones((1, 1)), jnp.zeros((1, 1)), jnp.array([0.5])
        >>> s = lambda x, t: -2.0 * x   # evaluated at +-1/2 (antithetic)
        >>> float(loss_s(s, Interpolant.one_sided_linear(), t, x0, x1))
        -1.5

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, theorem 2.6 and section 6.1.
    """
    fn = "loss_s"
    _no_latent(fn, interp)
    m, _, sigma, _, zeta, t = _setup(fn, interp, t, x0, x1, z)
    zero = jnp.zeros_like(m)
    return _loss(fn, "s_fn", s_fn, t, m, sigma, zeta, zero, -1.0 / sigma, antithetic)


def loss_eta(
    eta_fn: Model,
    interp: Interpolant,
    t: Real[ArrayLike, " B"],
    x0: Float[ArrayLike, " B *event"],
    x1: Float[ArrayLike, " B *event"],
    z: Float[ArrayLike, " B *event"] | None = None,
    *,
    antithetic: bool = False,
) -> Float[Array, ""]:
    r"""Denoiser loss $L_\eta = \mathbb E[\frac12|\hat\eta|^2 - \zeta\cdot\hat\eta]$.

    Its minimiser is $\eta = \mathbb E[\zeta \mid x_t]$, the paper's sign,
    so $s = -\eta/\sigma$ (:func:`s_from_eta`). The official code uses
    $+\zeta\cdot\hat\eta$, i.e. learns $-\eta$. Unlike $L_s$ it has no
    $1/\sigma$, so it is finite at every $t$. ``antithetic=False`` by
    default (as the official code).

    Args:
        eta_fn: the model ``eta_fn(x, t)`` (convention of :func:`loss_b`).
        interp: the interpolant (not a two-sided ``gamma="zero"`` path).
        t: times in $[0, 1]$, shape `(B,)`.
        x0: base samples, shape `(B, *event)`.
        x1: target samples, same shape.
        z: standard normal samples (two-sided paths), same shape.
        antithetic: use the antithetic estimator.

    Returns:
        The scalar loss, in the dtype of ``x0``.

    Raises:
        TypeError: see :func:`loss_b`.
        ValueError: see :func:`loss_s`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, loss_eta
        >>> x0, x1, z = jnp.zeros((1, 2)), jnp.ones((1, 2)), jnp.ones((1, 2))
        >>> float(loss_eta(lambda x, t: jnp.ones_like(x), Interpolant.linear(),
        ...                jnp.array([0.5]), x0, x1, z))   # 1 - 2
        -1.0

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, section 2.2.
    """
    fn = "loss_eta"
    _no_latent(fn, interp)
    m, _, sigma, _, zeta, t = _setup(fn, interp, t, x0, x1, z)
    zero = jnp.zeros_like(m)
    one = jnp.ones_like(sigma)
    return _loss(fn, "eta_fn", eta_fn, t, m, sigma, zeta, zero, one, antithetic)

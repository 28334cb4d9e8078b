r"""Generative dynamics of a stochastic interpolant: PF-ODE, SDE and likelihood (P18).

- :func:`pf_ode_sample`: the probability-flow ODE $\dot X = b(t, X)$ with
  diffrax, optionally with $\log\rho$ carried along ($\frac{d}{dt}\log\rho_t(X_t)
  = -\nabla\cdot b$, exact or Hutchinson divergence);
- :func:`log_likelihood`: the same ODE run from $t = 1$ back to $t = 0$;
- :func:`sde_sample`: $dX = [b + \epsilon s]\,dt + \sqrt{2\epsilon}\,dW$ with
  Euler-Maruyama or stochastic Heun in one ``lax.scan``.

Model convention (all three): ``fn(x, t)`` with ``x`` of shape `(B, *event)`
and ``t`` of shape `(B,)` (every entry equal), returning the shape of ``x``;
samples must not interact (the divergence is computed per sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from .._internal.checks import check_choice, check_size
from ._core import (
    Model,
    _BFromVS,
    call_model,
    check_float_array,
    check_unit_interval,
    concrete,
)


DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")
SDE_METHODS = ("euler", "heun")


def _sum_event(x: Array) -> Array:
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def _exact_divergence(f: Callable[[Array], Array], x: Array) -> tuple[Array, Array]:
    """``f(x)`` and the trace of each sample's Jacobian (D forward-mode JVPs)."""
    b, f_lin = jax.linearize(f, x)
    n, event = x.shape[0], x.shape[1:]
    d = math.prod(event)
    basis = jnp.eye(d, dtype=x.dtype).reshape((d, 1, *event))
    basis = jnp.broadcast_to(basis, (d, n, *event))
    jv = jax.vmap(f_lin)(basis).reshape(d, n, d)
    return b, jnp.sum(jnp.diagonal(jv, axis1=0, axis2=2), axis=-1)


def _check_time(fn: str, name: str, t, dtype) -> Array:
    t = jnp.asarray(t)
    if t.ndim != 0:
        raise ValueError(f"{fn}: {name} must be a scalar, got shape {t.shape}")
    if not (
        jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: {name} must be real, got dtype {t.dtype}")
    return check_unit_interval(fn, name, t.astype(dtype))


def _check_x(fn: str, name: str, x) -> Array:
    x = check_float_array(fn, name, x)
    if x.ndim < 2:
        raise ValueError(
            f"{fn}: {name} must have shape (B, *event) with a batch axis, got {x.shape}"
        )
    return x


def _check_span(fn: str, t0: Array, t1: Array) -> None:
    v0, v1 = concrete(t0), concrete(t1)
    if v0 is not None and v1 is not None and float(v0) == float(v1):
        raise ValueError(f"{fn}: t0 and t1 must differ, got t0 = t1 = {float(v0)}")


class _PFField(eqx.Module):
    """The PF-ODE vector field, with ``log p`` when ``with_logp``.

    A module with static fields only, so that diffrax's ``filter_jit`` finds
    it equal across calls and reuses the compiled solve. The model and the
    Hutchinson probe come in ``args`` (differentiable with any adjoint).
    """

    fn: str = eqx.field(static=True)
    with_logp: bool = eqx.field(static=True)
    n: int = eqx.field(static=True)

    def __call__(self, t, y, args):
        model, eps = args
        x = y[0] if self.with_logp else y
        tb = jnp.broadcast_to(jnp.asarray(t).astype(x.dtype), (self.n,))
        f = lambda xx: call_model(self.fn, "b_fn", model, xx, tb)
        if not self.with_logp:
            return f(x)
        if eps is None:
            b, div = _exact_divergence(f, x)
        else:
            b, jv = jax.jvp(f, (x,), (eps,))
            div = _sum_event(eps * jv)
        return b, -div


def pf_ode_sample(
    b_fn: Model,
    x0: Float[ArrayLike, " B *event"],
    *,
    t0: float | Real[ArrayLike, ""] = 0.0,
    t1: float | Real[ArrayLike, ""] = 1.0,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    dt0: float | None = None,
    max_steps: int = 4096,
    with_logp: bool = False,
    divergence: str = "exact",
    probe: str = "rademacher",
    key: PRNGKeyArray | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> Float[Array, " B *event"] | tuple[Float[Array, " B *event"], Float[Array, " B"]]:
    r"""Integrate the probability-flow ODE $\dot X_t = b(t, X_t)$ from ``t0`` to ``t1``.

    With ``with_logp=True`` the log-density change is integrated jointly,

    $$\frac{d}{dt}\log\rho_t(X_t) = -\nabla\cdot b(t, X_t), \qquad
    \Delta = \log\rho_{t_1}(X_{t_1}) - \log\rho_{t_0}(X_{t_0})
    = -\int_{t_0}^{t_1}\nabla\cdot b(t, X_t)\,dt,$$

    so $\log\rho_1(X_1) = \log\rho_0(X_0) + \Delta$. ``divergence="exact"``
    takes the trace of each sample's Jacobian with $D$ forward-mode JVPs
    ($D$ = event size; memory $O(BD^2)$); ``"hutchinson"`` uses
    $\nabla\cdot b \approx \varepsilon^\top (\partial_x b)\,\varepsilon$ with
    **one** probe $\varepsilon$ per trajectory, drawn once from ``key`` and
    fixed over the solve (resampling it per solver step would make the
    integrand rough and the adaptive controller fail). Then $\Delta$ is an
    unbiased estimate, $\mathbb E_\varepsilon[\varepsilon^\top A
    \varepsilon] = \operatorname{tr} A$; use it beyond $D \approx 64$.

    ``t1 < t0`` integrates backwards (see :func:`log_likelihood`). The whole
    batch is one ODE state, so all samples share the step sequence (the
    controller's error norm is an RMS over the batch and $\log\rho$).
    Differentiable with respect to ``x0`` and to the arrays of ``b_fn``
    (an ``eqx.Module``) through diffrax's ``adjoint``. With
    ``diffrax.BacksolveAdjoint`` the parameters must be inside ``b_fn``
    (it is passed to diffrax as ``args``), not closed over.

    Args:
        b_fn: the velocity ``b_fn(x, t)``: ``x`` of shape `(B, *event)`,
            ``t`` of shape `(B,)`, returning the shape of ``x``.
        x0: the starting points at ``t0``, shape `(B, *event)`.
        t0: start time in $[0, 1]$.
        t1: end time in $[0, 1]$, $\ne$ ``t0``.
        solver: a diffrax ODE solver (default ``diffrax.Dopri5()``).
        stepsize_controller: default ``diffrax.PIDController(rtol, atol)``;
            pass ``diffrax.ConstantStepSize()`` (with ``dt0``) for fixed
            steps. ``rtol``/``atol`` are ignored when it is given.
        rtol: relative tolerance of the default controller.
        atol: absolute tolerance of the default controller.
        dt0: initial step size (its sign is taken from ``t1 - t0``); ``None``
            lets the default controller choose.
        max_steps: diffrax's step budget; exceeding it raises.
        with_logp: also return $\Delta$.
        divergence: ``"exact"`` or ``"hutchinson"``.
        probe: Hutchinson probe, ``"rademacher"`` ($\pm1$) or ``"gaussian"``.
        key: PRNG key for the Hutchinson probe.
        adjoint: a diffrax adjoint (default
            ``diffrax.RecursiveCheckpointAdjoint()``).

    Returns:
        ``x1`` of the shape and dtype of ``x0``, or ``(x1, delta_logp)`` with
        ``delta_logp`` of shape `(B,)` when ``with_logp``.

    Raises:
        TypeError: non-float ``x0``.
        ValueError: ``x0`` without a batch axis; ``t0``/``t1`` not scalars,
            outside $[0, 1]$ or equal (concrete values; traced ones are
            checked at run time); unknown ``divergence`` or ``probe``;
            ``"hutchinson"`` with ``with_logp`` but no ``key``; a model
            returning the wrong shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import pf_ode_sample
        >>> b = lambda x, t: -x   # X_1 = e^{-1} X_0, div b = -D
        >>> x1, dlogp = pf_ode_sample(b, jnp.ones((3, 2)), with_logp=True)
        >>> round(float(x1[0, 0]), 4), [round(float(d), 4) for d in dlogp]
        (0.3679, [2.0, 2.0, 2.0])

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, sections 2.3 and 6.

        W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud,
        "FFJORD: Free-form Continuous Dynamics for Scalable Reversible
        Generative Models", ICLR 2019. arXiv:1810.01367.
    """
    fn = "pf_ode_sample"
    return _pf_ode(
        fn,
        b_fn,
        x0,
        t0=t0,
        t1=t1,
        solver=solver,
        stepsize_controller=stepsize_controller,
        rtol=rtol,
        atol=atol,
        dt0=dt0,
        max_steps=max_steps,
        with_logp=with_logp,
        divergence=divergence,
        probe=probe,
        key=key,
        adjoint=adjoint,
    )


def _pf_ode(
    fn: str,
    b_fn: Model,
    x0,
    *,
    t0,
    t1,
    solver,
    stepsize_controller,
    rtol,
    atol,
    dt0,
    max_steps,
    with_logp,
    divergence,
    probe,
    key,
    adjoint,
):
    x0 = _check_x(fn, "x0", x0)
    divergence = check_choice(fn, "divergence", divergence, DIVERGENCES)
    probe = check_choice(fn, "probe", probe, PROBES)
    check_size(fn, "max_steps", max_steps, minimum=1)
    dtype = x0.dtype
    t0_, t1_ = _check_time(fn, "t0", t0, dtype), _check_time(fn, "t1", t1, dtype)
    _check_span(fn, t0_, t1_)
    hutchinson = with_logp and divergence == "hutchinson"
    if hutchinson and key is None:
        raise ValueError(f"{fn}: divergence='hutchinson' needs a key")
    n = x0.shape[0]

    eps = None
    if hutchinson:
        k = cast(PRNGKeyArray, key)
        if probe == "rademacher":
            eps = jr.rademacher(k, x0.shape, dtype)
        else:
            eps = jr.normal(k, x0.shape, dtype)

    if solver is None:
        solver = diffrax.Dopri5()
    if stepsize_controller is None:
        stepsize_controller = diffrax.PIDController(rtol=rtol, atol=atol)
    if adjoint is None:
        adjoint = diffrax.RecursiveCheckpointAdjoint()
    if dt0 is not None:
        dt0 = jnp.abs(jnp.asarray(dt0, dtype)) * jnp.sign(t1_ - t0_)
    y0: Any = (x0, jnp.zeros((n,), dtype)) if with_logp else x0
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_PFField(fn, with_logp, n)),
        solver,
        t0=t0_,
        t1=t1_,
        dt0=dt0,
        y0=y0,
        args=(b_fn, eps),
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=stepsize_controller,
        max_steps=max_steps,
        adjoint=adjoint,
    )
    ys: Any = sol.ys
    if with_logp:
        return ys[0][-1], ys[1][-1]
    return ys[-1]


def log_likelihood(
    b_fn: Model,
    x1: Float[ArrayLike, " B *event"],
    base_logpdf: Callable[[Array], Array],
    *,
    t0: float | Real[ArrayLike, ""] = 0.0,
    t1: float | Real[ArrayLike, ""] = 1.0,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    dt0: float | None = None,
    max_steps: int = 4096,
    divergence: str = "exact",
    probe: str = "rademacher",
    key: PRNGKeyArray | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
) -> Float[Array, " B"]:
    r"""Log-density $\log\rho_{t_1}(x_1)$ of the PF-ODE's pushforward, solved backwards.

    Solves $\dot X = b(t, X)$ from $X_{t_1} = x_1$ back to $t_0$ together with
    $\log\rho$ (as :func:`pf_ode_sample` with the times swapped) and returns

    $$\log\rho_{t_1}(x_1) = \log\rho_{t_0}(X_{t_0})
    - \int_{t_0}^{t_1}\nabla\cdot b(t, X_t)\,dt .$$

    This is the exact model likelihood of a flow-based sampler when
    $\log\rho_{t_0}$ = ``base_logpdf`` is the base density (with the exact
    divergence; with Hutchinson, an unbiased estimate of $\log\rho$ whose
    exponential is biased). Differentiable like :func:`pf_ode_sample`.

    Args:
        b_fn: the velocity ``b_fn(x, t)`` (convention of :func:`pf_ode_sample`).
        x1: points at ``t1``, shape `(B, *event)`.
        base_logpdf: $\log\rho_{t_0}$ on a batch, ``base_logpdf(x)`` with
            ``x`` of shape `(B, *event)` returning shape `(B,)`.
        t0: the time of the base density (default 0).
        t1: the time of ``x1`` (default 1).
        solver: see :func:`pf_ode_sample`.
        stepsize_controller: see :func:`pf_ode_sample`.
        rtol: see :func:`pf_ode_sample`.
        atol: see :func:`pf_ode_sample`.
        dt0: see :func:`pf_ode_sample`.
        max_steps: see :func:`pf_ode_sample`.
        divergence: ``"exact"`` or ``"hutchinson"``.
        probe: ``"rademacher"`` or ``"gaussian"``.
        key: PRNG key for the Hutchinson probe.
        adjoint: see :func:`pf_ode_sample`.

    Returns:
        $\log\rho_{t_1}(x_1)$, shape `(B,)`, in the dtype of ``x1``.

    Raises:
        TypeError: non-float ``x1``.
        ValueError: as :func:`pf_ode_sample`, or ``base_logpdf`` not
            returning shape `(B,)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jax.scipy.stats import norm
        >>> from jaxmethods.interpolants import log_likelihood
        >>> b = lambda x, t: jnp.ones_like(x)   # a shift by 1: rho_1 = N(1, I)
        >>> base = lambda x: norm.logpdf(x).sum(-1)
        >>> lp = log_likelihood(b, jnp.array([[1.0, 1.0]]), base)
        >>> round(float(lp[0]), 4)   # log N(0; 0, I_2)
        -1.8379

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, section 2.3.

        R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, "Neural
        Ordinary Differential Equations", NeurIPS 2018. arXiv:1806.07366.
    """
    fn = "log_likelihood"
    x1 = _check_x(fn, "x1", x1)
    # Checked here under the caller's names; the solve runs from t1 to t0.
    t0_, t1_ = _check_time(fn, "t0", t0, x1.dtype), _check_time(fn, "t1", t1, x1.dtype)
    _check_span(fn, t0_, t1_)
    out = _pf_ode(
        fn,
        b_fn,
        x1,
        t0=t1_,
        t1=t0_,
        solver=solver,
        stepsize_controller=stepsize_controller,
        rtol=rtol,
        atol=atol,
        dt0=dt0,
        max_steps=max_steps,
        with_logp=True,
        divergence=divergence,
        probe=probe,
        key=key,
        adjoint=adjoint,
    )
    x0, delta = out
    base = jnp.asarray(base_logpdf(x0))
    if base.shape != (x1.shape[0],):
        raise ValueError(
            f"{fn}: base_logpdf must return shape ({x1.shape[0]},), one value per "
            f"sample, got {base.shape}"
        )
    # delta = log rho_t0(x0) - log rho_t1(x1).
    return base.astype(x1.dtype) - delta


def _check_eps(fn: str, eps):
    """A callable, or ``eps`` as a real scalar array checked to be >= 0 if concrete."""
    if callable(eps):
        return eps
    e = jnp.asarray(eps)
    if e.ndim != 0:
        raise ValueError(
            f"{fn}: eps must be a scalar or a callable of t, got shape {e.shape}"
        )
    if not (
        jnp.issubdtype(e.dtype, jnp.floating) or jnp.issubdtype(e.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: eps must be real, got dtype {e.dtype}")
    v = concrete(e)
    if v is not None and not (np.isfinite(v) and v >= 0.0):
        raise ValueError(f"{fn}: eps must be a finite number >= 0, got {float(v)}")
    return e


def _eps_grid(fn: str, eps, ts: Array) -> Array:
    """``eps`` on the time grid, checked (at run time) to be >= 0."""
    if callable(eps):
        e = jax.vmap(lambda t: jnp.asarray(eps(t)))(ts)
        if e.shape != ts.shape:
            raise ValueError(
                f"{fn}: eps(t) must return a scalar for a scalar t, got shape "
                f"{e.shape[1:]}"
            )
        e = e.astype(ts.dtype)
        return eqx.error_if(e, jnp.any(~(e >= 0.0)), f"{fn}: eps(t) must be >= 0")
    e = eqx.error_if(eps.astype(ts.dtype), ~(eps >= 0.0), f"{fn}: eps must be >= 0")
    return jnp.broadcast_to(e, ts.shape)


def sde_sample(
    b_fn: Model,
    s_fn: Model,
    eps: float | Real[ArrayLike, ""] | Callable[[Array], Array],
    x0: Float[ArrayLike, " B *event"],
    key: PRNGKeyArray,
    *,
    t0: float | Real[ArrayLike, ""] = 0.0,
    t1: float | Real[ArrayLike, ""] = 1.0,
    n_steps: int = 500,
    method: str = "euler",
) -> Float[Array, " B *event"]:
    r"""Sample the interpolant's SDE $dX = [b + \epsilon s]\,dt + \sqrt{2\epsilon}\,dW$.

    For every $\epsilon(t) \ge 0$ this SDE has the same marginals $\rho_t$ as
    the PF-ODE ($\epsilon = 0$): the score term $\epsilon s$ undoes the
    spreading of the noise. With ``t1 < t0`` the backward SDE $dX = [b -
    \epsilon s]\,dt + \sqrt{2\epsilon}\,d\bar W$ is integrated, which also
    preserves the marginals. ``n_steps`` uniform steps of
    ``method="euler"`` (Euler-Maruyama, weak order 1, ``n_steps`` calls of
    each model) or ``"heun"`` (stochastic Heun for additive noise: an Euler
    predictor and a trapezoidal corrector on the drift and on
    $\sqrt{2\epsilon}$, twice the calls) in one ``lax.scan``.

    **Endpoints.** A learned score $s = -\eta/\sigma$ explodes where the
    latent's coefficient $\sigma$ vanishes ($t \in \{0, 1\}$ for two-sided
    paths, $t = 1$ for one-sided ones). Here $\epsilon$ is set to zero at
    the two end points of the grid, ``t0`` and ``t1``, so the score is never
    used there: the first Euler step is a plain ODE step, and the first Heun
    predictor and last Heun corrector use $b$ alone. This differs from the
    requested $\epsilon$ on the first and last steps only, which changes
    the result by $O(1/n)$, the order of the scheme. At those two points
    ``s_fn`` is evaluated at the midpoint time of the grid instead and
    multiplied by zero, so a non-finite score at an endpoint reaches neither
    the result nor its gradients. For a learned score, an $\epsilon(t)$ that
    vanishes near the ends, e.g. $\epsilon_0\,t(1 - t)$, is smoother still.

    Differentiable with respect to ``x0`` and to model arrays (fixed
    ``key``); ``vmap`` over keys gives independent runs. When ``b_fn`` is
    ``b_from_v_s(v_fn, s_fn, interp)`` with this same ``s_fn``, the drift is
    formed as $v + (\epsilon - \sigma\dot\sigma)s$ with one score call per
    evaluation instead of two.

    Args:
        b_fn: the velocity ``b_fn(x, t)``: ``x`` of shape `(B, *event)`,
            ``t`` of shape `(B,)`.
        s_fn: the score ``s_fn(x, t)``, same convention.
        eps: the diffusion coefficient $\epsilon \ge 0$: a number, or a
            callable ``eps(t)`` of a scalar time returning a scalar.
        x0: starting points at ``t0`` (samples of $\rho_{t_0}$), shape
            `(B, *event)`.
        key: PRNG key for the Brownian increments (split once per step).
        t0: start time in $[0, 1]$.
        t1: end time in $[0, 1]$, $\ne$ ``t0``.
        n_steps: number of steps $n \ge 1$ (static).
        method: ``"euler"`` or ``"heun"`` (static).

    Returns:
        The samples at ``t1``, shape and dtype of ``x0``.

    Raises:
        TypeError: non-float ``x0``, non-int ``n_steps``, non-real ``eps``.
        ValueError: ``x0`` without a batch axis, ``t0``/``t1`` outside
            $[0, 1]$ or equal, ``n_steps < 1``, unknown ``method``, a
            negative or non-finite constant ``eps`` (a callable or traced
            ``eps`` is checked at run time through ``eqx.error_if``).

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.interpolants import sde_sample
        >>> # one-sided linear, target N(0, I): rho_t = N(0, ((1-t)^2 + t^2) I)
        >>> var = lambda t: (1 - t) ** 2 + t**2
        >>> b = lambda x, t: ((2 * t - 1) / var(t))[:, None] * x
        >>> s = lambda x, t: -x / var(t)[:, None]
        >>> x = sde_sample(b, s, 1.0, jr.normal(jr.key(0), (4096, 2)), jr.key(1),
        ...                n_steps=100)
        >>> round(float(x.var()), 1)
        1.0

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, theorem 2.8 and section 6.

        P. E. Kloeden, E. Platen, "Numerical Solution of Stochastic
        Differential Equations", Springer 1992, sections 9.1 and 15.1.
    """
    fn = "sde_sample"
    x0 = _check_x(fn, "x0", x0)
    n = check_size(fn, "n_steps", n_steps, minimum=1)
    method = check_choice(fn, "method", method, SDE_METHODS)
    t0_, t1_ = _check_time(fn, "t0", t0, x0.dtype), _check_time(fn, "t1", t1, x0.dtype)
    _check_span(fn, t0_, t1_)
    # b = v - sigma sigma_dot s from b_from_v_s with this very s_fn: one score
    # call per drift evaluation instead of two.
    fused = isinstance(b_fn, _BFromVS) and b_fn.s_fn is s_fn
    return _sde(
        fn, b_fn, s_fn, _check_eps(fn, eps), x0, key, t0_, t1_, n, method, fused
    )


@eqx.filter_jit
def _sde(fn, b_fn, s_fn, eps, x0, key, t0, t1, n, method, fused=False):
    """The SDE solve, compiled once per model, shape, ``n`` and ``method``."""
    dtype = x0.dtype
    batch = x0.shape[0]
    ts = t0 + (t1 - t0) * (jnp.arange(n + 1, dtype=dtype) / n)
    ts = ts.at[n].set(t1)
    e = _eps_grid(fn, eps, ts)
    e = e.at[0].set(0.0).at[n].set(0.0)
    h = (t1 - t0) / n
    sign = jnp.sign(h)
    t_mid = 0.5 * (t0 + t1)

    def drift(x, t, e_t):
        tb = jnp.broadcast_to(t, (batch,))
        if fused:
            # v + (e - sigma sigma_dot) s: b's own score term needs s at t.
            v = call_model(fn, "b_fn", b_fn.v_fn, x, tb)
            s = call_model(fn, "s_fn", s_fn, x, tb)
            ssd = b_fn.interp._latent(t)[2]
            return v + (sign * e_t - ssd) * s
        b = call_model(fn, "b_fn", b_fn, x, tb)
        # Where e_t = 0 the score is read at the midpoint time instead, so
        # that a non-finite value at an endpoint never meets the zero weight.
        t_s = jnp.broadcast_to(jnp.where(e_t > 0.0, t, t_mid), (batch,))
        s = call_model(fn, "s_fn", s_fn, x, t_s)
        return b + (sign * e_t) * s

    keys = jr.split(key, n)
    sqrt_h = jnp.sqrt(jnp.abs(h))

    def step(x, inp):
        k, t_a, t_b, e_a, e_b = inp
        dw = sqrt_h * jr.normal(k, x.shape, dtype)
        g_a = jnp.sqrt(2.0 * e_a)
        f_a = drift(x, t_a, e_a)
        if method == "euler":
            return x + f_a * h + g_a * dw, None
        g_b = jnp.sqrt(2.0 * e_b)
        x_pred = x + f_a * h + g_a * dw
        f_b = drift(x_pred, t_b, e_b)
        return x + 0.5 * (f_a + f_b) * h + 0.5 * (g_a + g_b) * dw, None

    x1, _ = jax.lax.scan(step, x0, (keys, ts[:-1], ts[1:], e[:-1], e[1:]))
    return x1

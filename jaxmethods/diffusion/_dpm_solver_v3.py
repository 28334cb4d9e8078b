r"""DPM-Solver-v3: diffusion ODE sampling with empirical model statistics (P13).

The probability-flow ODE of a VP diffusion, written in the half-log-SNR
$\lambda$ with ``d log(alpha)/d lambda = sigma^2``, is
$dx/d\lambda = \sigma^2 x - \sigma\varepsilon_\theta(x, \lambda)$. DPM-Solver-v3
rewrites it with three per-element, $\lambda$-dependent coefficients, the
*empirical model statistics* (EMS) $l_\lambda, s_\lambda, b_\lambda$:

$$\frac{dx}{d\lambda} = (\sigma^2 - l_\lambda)\,x - N_\theta(x,\lambda),\qquad
N_\theta = \sigma\varepsilon_\theta - l_\lambda x,\qquad
f_\theta = N_\theta/\alpha,$$

integrates the linear part and the affine part $s f + b$ of the prediction's
$\lambda$-derivative exactly, and Taylor-expands only the rest,
$g_\theta = e^{S_s - S_\lambda} f_\theta - e^{S_s}(B_\lambda - B_s)$. All the
integrals ($L = \int l$, $S = \int s$, $B = \int e^{-S} b$,
$I = \int e^{L+S}$, $C = \int e^{L+S} B$ and the high-order exponential
coefficients) are trapezoid sums on the EMS grid, uniform in $\lambda$, with a
max-shift for stability, exactly as the official code
(thu-ml/DPM-Solver-v3, ``samplers/dpm_solver_v3.py``).

Sampling times are snapped to EMS grid points. Tables that depend only on the
grid and the schedule (the gathered integrals and the exponential
coefficients of every interval) are built before the loop; the loop itself is
unrolled warm-up and tail steps around one ``lax.scan``, as in
:func:`jaxmethods.diffusion.dpm_solver_sample`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._internal.checks import check_size
from ._dpm_solver import (
    SKIP_TYPES,
    DPMSolverInfo,
    _check_choice,
    _check_order,
    _work_dtype,
)
from ._schedules import VPSchedule, check_schedule, time_steps


EpsFn = Callable[[Array, Array], Array]


def _cumsum0(y: Array) -> Array:
    """Cumulative sum along axis 0 as a sequential scan.

    ``jnp.cumsum`` along a long axis is several times slower on CPU (120 ms
    against 15 ms for a (1201, 3072) array), and the EMS integrals take five
    of them per sampler call.
    """

    def step(c, r):
        c = c + r
        return c, c

    return jax.lax.scan(step, jnp.zeros_like(y[0]), y)[1]


def _cumtrapz_exp(a: Array | None, x: Array, b: Array | None) -> Array:
    r"""$y_n = \int_{x_0}^{x_n} b\,e^{a}\,dx$ by the trapezoid rule, $y_0 = 0$.

    ``a`` and ``b`` have shape `(N + 1, *event)` (``None``: $a = 0$,
    $b = 1$), ``x`` shape `(N + 1,)`. The exponent is shifted by its maximum
    over the grid before exponentiating (the official
    ``weighted_cumsumexp_trapezoid``).
    """
    ref = b if a is None else a
    assert ref is not None
    x = x.reshape(x.shape + (1,) * (ref.ndim - 1))
    if a is None:
        assert b is not None
        tmp, scale = b, None
    else:
        a_max = jnp.max(a, axis=0, keepdims=True)
        tmp = jnp.exp(a - a_max)
        if b is not None:
            tmp = b * tmp
        scale = jnp.exp(a_max)
    seg = 0.5 * (x[1:] - x[:-1]) * (tmp[1:] + tmp[:-1])
    out = _cumsum0(seg)
    if scale is not None:
        out = out * scale
    return jnp.concatenate([jnp.zeros_like(out[:1]), out], axis=0)


class EMSIntegrals(eqx.Module):
    r"""The cumulative integrals of an :class:`EMS` on its grid.

    Every array has shape `(N + 1, *event)`, and entry ``n`` is the integral
    from the first grid point $\lambda_0$ (the noisy end) to $\lambda_n$, by
    the trapezoid rule on the grid:

    $$L = \int l,\quad S = \int s,\quad B = \int e^{-S} b,\quad
    I = \int e^{L+S},\quad C = \int e^{L+S} B.$$

    Attributes:
        L: $\int l\,d\lambda$.
        S: $\int s\,d\lambda$.
        B: $\int e^{-S} b\,d\lambda$.
        I: $\int e^{L+S}\,d\lambda$.
        C: $\int e^{L+S} B\,d\lambda$.

    References:
        K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3: Improved diffusion
        ODE solver with empirical model statistics", *NeurIPS* 2023.
        arXiv:2310.13268.
    """

    L: Float[Array, " n1 *event"]
    S: Float[Array, " n1 *event"]
    B: Float[Array, " n1 *event"]
    I: Float[Array, " n1 *event"]  # noqa: E741
    C: Float[Array, " n1 *event"]


def _concrete(x) -> np.ndarray | None:
    try:
        return np.asarray(x)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


class EMS(eqx.Module):
    r"""Empirical model statistics $l, s, b$ on a uniform $\lambda$ grid.

    The grid ``lambdas`` is uniform and increasing, from the noisy end
    $\lambda_T$ to the clean end $\lambda_0$, with $N + 1$ points; ``l``,
    ``s`` and ``b`` hold one value per grid point and per element of a sample
    (shape `(N + 1, *event)`; ``event`` may be ``()`` for statistics shared
    by every element, and must broadcast against the sampler's ``x_T``). They
    are the minimizers

    $$l^*_\lambda = \arg\min_l E\|\nabla_x N_\theta(x_\lambda,\lambda)\|_F^2,
    \qquad (s^*, b^*) = \arg\min_{s,b} E\|f^{(1)}_\theta - s f_\theta - b\|^2,$$

    (elementwise), estimated from a model by :func:`estimate_ems`, known in
    closed form for Gaussian data, or degenerate ($l = 1, s = b = 0$), which
    turns DPM-Solver-v3 into DPM-Solver++ (see :meth:`degenerate`).

    Args:
        lambdas: the uniform, increasing grid, shape `(N + 1,)`, $N \ge 1$.
        l: $l_\lambda$, shape `(N + 1, *event)`.
        s: $s_\lambda$, same shape as ``l``.
        b: $b_\lambda$, same shape as ``l``.

    Attributes:
        lambdas: shape `(N + 1,)`.
        l: shape `(N + 1, *event)`.
        s: shape `(N + 1, *event)`.
        b: shape `(N + 1, *event)`.

    Raises:
        ValueError: mismatched shapes, fewer than two grid points, or (for
            concrete values) a grid that is not uniform and increasing, or
            non-finite statistics.
        TypeError: non-floating arrays.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import EMS
        >>> ems = EMS.degenerate(jnp.linspace(-5.0, 4.5, 201), (2,))
        >>> ems.n_grid, ems.event_shape
        (200, (2,))
        >>> round(float(ems.integrals().L[-1, 0]), 4)  # int of l = 1 over the grid
        9.5

    References:
        K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3: Improved diffusion
        ODE solver with empirical model statistics", *NeurIPS* 2023.
        arXiv:2310.13268.
    """

    lambdas: Float[Array, " n1"]
    l: Float[Array, " n1 *event"]  # noqa: E741
    s: Float[Array, " n1 *event"]
    b: Float[Array, " n1 *event"]

    def __init__(
        self,
        lambdas: Float[ArrayLike, " n1"],
        l: Float[ArrayLike, "*l_dims"],  # noqa: E741
        s: Float[ArrayLike, "*s_dims"],
        b: Float[ArrayLike, "*b_dims"],
    ):
        fn = "EMS"
        arrays = [jnp.asarray(a) for a in (lambdas, l, s, b)]
        for name, a in zip(("lambdas", "l", "s", "b"), arrays, strict=True):
            if not jnp.issubdtype(a.dtype, jnp.floating):
                raise TypeError(f"{fn}: {name} must be floating, got {a.dtype}")
        dt = _work_dtype(*(a.dtype for a in arrays))
        lam, l_, s_, b_ = (a.astype(dt) for a in arrays)
        if lam.ndim != 1 or lam.shape[0] < 2:
            raise ValueError(
                f"{fn}: lambdas must have shape (N + 1,) with N >= 1, got {lam.shape}"
            )
        for name, a in (("l", l_), ("s", s_), ("b", b_)):
            if a.ndim < 1 or a.shape[0] != lam.shape[0]:
                raise ValueError(
                    f"{fn}: {name} must have shape (N + 1, *event) = "
                    f"({lam.shape[0]}, ...), got {a.shape}"
                )
        if not l_.shape == s_.shape == b_.shape:
            raise ValueError(
                f"{fn}: l, s and b must have one shape, got {l_.shape}, "
                f"{s_.shape} and {b_.shape}"
            )
        lam_np = _concrete(lam)
        if lam_np is not None:
            d = np.diff(lam_np)
            span = lam_np[-1] - lam_np[0]
            if not np.all(np.isfinite(lam_np)) or not span > 0:
                raise ValueError(f"{fn}: lambdas must be finite and increasing")
            if np.max(np.abs(d - span / d.size)) > 1e-6 * abs(span) + 1e-12:
                raise ValueError(
                    f"{fn}: lambdas must be a uniform grid (as from "
                    "EMS.lambda_grid); sampling times are snapped to it by "
                    "rounding"
                )
        for name, a in (("l", l_), ("s", s_), ("b", b_)):
            a_np = _concrete(a)
            if a_np is not None and not np.all(np.isfinite(a_np)):
                raise ValueError(f"{fn}: {name} has non-finite values")
        self.lambdas, self.l, self.s, self.b = lam, l_, s_, b_

    @property
    def n_grid(self) -> int:
        """Number of grid intervals $N$."""
        return self.lambdas.shape[0] - 1

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of the statistics at one grid point."""
        return tuple(self.l.shape[1:])

    @staticmethod
    def lambda_grid(
        schedule: VPSchedule,
        n_grid: int,
        t_start: float | Float[ArrayLike, ""] | None = None,
        t_end: float | Float[ArrayLike, ""] | None = None,
    ) -> Float[Array, " n1"]:
        r"""The uniform $\lambda$ grid from $t_\mathrm{start}$ to $t_\mathrm{end}$.

        Args:
            schedule: the noise schedule.
            n_grid: number of intervals $N \ge 1$ (static).
            t_start: noisy end (default ``schedule.T``).
            t_end: clean end (default ``schedule.t_eps``).

        Returns:
            The grid, shape `(n_grid + 1,)`, increasing.

        Raises:
            ValueError: ``n_grid < 1`` or ``t_end >= t_start``.

        Examples:
            >>> from jaxmethods.diffusion import EMS, VPSchedule
            >>> g = EMS.lambda_grid(VPSchedule.linear(), 4, t_end=1e-3)
            >>> [round(float(v), 3) for v in g]
            [-5.025, -2.629, -0.234, 2.162, 4.558]

        References:
            K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3", *NeurIPS*
            2023. arXiv:2310.13268.
        """
        check_size("EMS.lambda_grid", "n_grid", n_grid, minimum=1)
        ts = time_steps(schedule, 1, "time_uniform", t_start, t_end)
        lam0, lam1 = schedule.lambda_(ts[0]), schedule.lambda_(ts[1])
        u = jnp.arange(n_grid + 1, dtype=lam0.dtype) / n_grid
        return lam0 + u * (lam1 - lam0)

    @classmethod
    def degenerate(
        cls,
        lambdas: Float[ArrayLike, " n1"],
        event_shape: tuple[int, ...] = (),
        dtype: Any = None,
    ) -> EMS:
        r"""The degenerate statistics $l = 1$, $s = b = 0$ (``degenerated=True``).

        With them, $N_\theta = \sigma\varepsilon - x = -\alpha\hat x_0$, and
        DPM-Solver-v3 of order $k$ is DPM-Solver++ of order $k$ in its Taylor
        form (``solver_type="taylor"``), up to the quadrature error of the grid;
        order 1 is DDIM.

        Args:
            lambdas: the uniform increasing grid, shape `(N + 1,)`.
            event_shape: shape of the statistics per grid point.
            dtype: floating dtype (default: that of ``lambdas``).

        Returns:
            The :class:`EMS`.

        References:
            K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3", *NeurIPS*
            2023. arXiv:2310.13268.
        """
        lam = jnp.asarray(lambdas)
        if lam.ndim != 1:
            raise ValueError(
                f"EMS.degenerate: lambdas must have shape (N + 1,), got {lam.shape}"
            )
        if dtype is None:
            dtype = lam.dtype if jnp.issubdtype(lam.dtype, jnp.floating) else None
        if dtype is None:
            dtype = jnp.result_type(float)
        shape = (lam.shape[0], *tuple(event_shape))
        one = jnp.ones(shape, dtype)
        zero = jnp.zeros(shape, dtype)
        return cls(lam.astype(dtype), one, zero, zero)

    def integrals(self) -> EMSIntegrals:
        r"""$L, S, B, I, C$ on the grid (see :class:`EMSIntegrals`).

        Returns:
            The :class:`EMSIntegrals`, each of shape `(N + 1, *event)`.

        References:
            K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3", *NeurIPS*
            2023. arXiv:2310.13268.
        """
        L = _cumtrapz_exp(None, self.lambdas, self.l)
        S = _cumtrapz_exp(None, self.lambdas, self.s)
        I = _cumtrapz_exp(L + S, self.lambdas, None)  # noqa: E741
        B = _cumtrapz_exp(-S, self.lambdas, self.b)
        C = _cumtrapz_exp(L + S, self.lambdas, B)
        return EMSIntegrals(L=L, S=S, B=B, I=I, C=C)


# --------------------------------------------------------------------- estimation


def _gradient(y: Array, h: Array) -> Array:
    """Finite-difference derivative along axis 0 on a uniform grid.

    Fourth order (five-point stencils, one-sided near the ends) when the grid
    has at least 5 points, else second order.
    """
    n = y.shape[0]
    if n < 3:
        d = (y[1:] - y[:-1]) / h
        return jnp.concatenate([d, d], axis=0)
    if n < 5:
        mid = (y[2:] - y[:-2]) / (2.0 * h)
        first = (-3.0 * y[0] + 4.0 * y[1] - y[2]) / (2.0 * h)
        last = (3.0 * y[-1] - 4.0 * y[-2] + y[-3]) / (2.0 * h)
        return jnp.concatenate([first[None], mid, last[None]], axis=0)
    mid = (y[:-4] - 8.0 * y[1:-3] + 8.0 * y[3:-1] - y[4:]) / (12.0 * h)
    d0 = (-25.0 * y[0] + 48.0 * y[1] - 36.0 * y[2] + 16.0 * y[3] - 3.0 * y[4]) / (
        12.0 * h
    )
    d1 = (-3.0 * y[0] - 10.0 * y[1] + 18.0 * y[2] - 6.0 * y[3] + y[4]) / (12.0 * h)
    dm1 = (25.0 * y[-1] - 48.0 * y[-2] + 36.0 * y[-3] - 16.0 * y[-4] + 3.0 * y[-5]) / (
        12.0 * h
    )
    dm2 = (3.0 * y[-1] + 10.0 * y[-2] - 18.0 * y[-3] + 6.0 * y[-4] - y[-5]) / (12.0 * h)
    return jnp.concatenate([d0[None], d1[None], mid, dm2[None], dm1[None]], axis=0)


def estimate_ems(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    x0_samples: Float[ArrayLike, " K *event"],
    key: PRNGKeyArray,
    *,
    n_grid: int = 1200,
    t_start: float | None = None,
    t_end: float | None = None,
    n_probes: int = 1,
    exact_jacobian: bool = False,
    ridge: float = 1e-8,
    batch_size: int = 256,
) -> EMS:
    r"""Estimate the empirical model statistics of a noise-prediction model.

    On the uniform grid ``EMS.lambda_grid(schedule, n_grid, t_start, t_end)``,
    the data samples are noised, $x_\lambda = \alpha_\lambda x_0 +
    \sigma_\lambda z$, with **one** draw of $z$ (and of the probes) shared by
    every grid point, so the estimates are smooth in $\lambda$ (common random
    numbers). With $g = \sigma\varepsilon_\theta/\alpha$ and $u = x/\alpha$,
    at every grid point and for every element:

    - $l_\lambda = E[\operatorname{diag}\nabla_x(\sigma\varepsilon_\theta)]$,
      from ``n_probes`` Rademacher probes $v$ as $E[v \odot Jv]$ (one JVP
      each), or exactly from every basis direction (``exact_jacobian=True``,
      one JVP per element: for small events);
    - $f = g - l u$ and its total derivative along the ODE,
      $f^{(1)} = g^{(1)} + l g - l' u$, where $g^{(1)}$ is one JVP of
      $(x, \lambda) \mapsto g$ with tangent $(dx/d\lambda, 1)$ and $l'$ is the
      fourth-order finite-difference derivative of the estimated $l$ on
      the grid (the estimate of $l$ is itself smooth in $\lambda$ thanks to the
      shared randomness);
    - $s = \operatorname{Cov}(f^{(1)}, f)/(\operatorname{Var} f + \text{ridge})$
      and $b = E f^{(1)} - s\,E f$ (elementwise least squares; the ridge
      matters where $f$ does not vary, e.g. Gaussian data, where
      $\operatorname{Var} f = 0$ exactly).

    The model is linearized once per batch and grid point (``jax.linearize``),
    so the cost is ``(n_grid + 1) * K`` model evaluations plus
    ``1 + n_probes`` (or ``1 + prod(event)``) JVPs each. Grid points run
    sequentially and samples in batches of ``batch_size``, which bounds
    memory.

    Args:
        eps_fn: noise prediction ``eps_fn(x, t)`` with ``x`` of shape
            `(B, *event)` and a scalar time ``t``; it must treat rows
            independently (no batch statistics), since Jacobians are taken
            through it.
        schedule: the model's :class:`VPSchedule`.
        x0_samples: data samples, shape `(K, *event)`, $K \ge 2$.
        key: PRNG key for the noise and the probes.
        n_grid: number of grid intervals $N$ (static; the official
            statistics use 250 to 1200).
        t_start: noisy end of the grid (default ``schedule.T``); sampling with
            :func:`dpm_solver_v3_sample` must stay inside the grid.
        t_end: clean end of the grid (default ``schedule.t_eps``).
        n_probes: Rademacher probes per sample for $l$ (static, $\ge 1$).
        exact_jacobian: take the exact Jacobian diagonal instead of probes.
        ridge: added to $\operatorname{Var} f$ in the regression for $s$.
        batch_size: samples per model call (static).

    Returns:
        The :class:`EMS`, with the event shape of the samples, in float64
        when x64 is enabled.

    Raises:
        ValueError: fewer than 2 samples, non-positive sizes, negative
            ridge, or a model output of the wrong shape.
        TypeError: non-floating samples or a non-``VPSchedule`` schedule.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.diffusion import VPSchedule, estimate_ems
        >>> sch = VPSchedule.linear()
        >>> eps_fn = lambda x, t: sch.sigma(t) * x  # data ~ N(0, I): l = sigma^2
        >>> x0 = jr.normal(jr.key(0), (64, 2))
        >>> ems = estimate_ems(eps_fn, sch, x0, jr.key(1), n_grid=50,
        ...                    exact_jacobian=True)
        >>> lam = ems.lambdas[25]
        >>> bool(jnp.allclose(ems.l[25], jax.nn.sigmoid(-2 * lam), atol=1e-5))
        True

    References:
        K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3: Improved diffusion
        ODE solver with empirical model statistics", *NeurIPS* 2023.
        arXiv:2310.13268.
    """
    fn = "estimate_ems"
    check_schedule(fn, schedule)
    check_size(fn, "n_grid", n_grid, minimum=1)
    check_size(fn, "n_probes", n_probes, minimum=1)
    check_size(fn, "batch_size", batch_size, minimum=1)
    if not isinstance(exact_jacobian, bool):
        raise TypeError(f"{fn}: exact_jacobian must be a bool, got {exact_jacobian!r}")
    if isinstance(ridge, (int, float)) and not ridge >= 0:
        raise ValueError(f"{fn}: ridge must be >= 0, got {ridge}")
    x0 = jnp.asarray(x0_samples)
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        raise TypeError(f"{fn}: x0_samples must be floating, got {x0.dtype}")
    if x0.ndim < 1 or x0.shape[0] < 2:
        raise ValueError(
            f"{fn}: x0_samples must have shape (K, *event) with K >= 2, got {x0.shape}"
        )
    return _estimate_ems(
        eps_fn,
        schedule,
        x0,
        key,
        n_grid=n_grid,
        t_start=t_start,
        t_end=t_end,
        n_probes=n_probes,
        exact_jacobian=exact_jacobian,
        ridge=ridge,
        batch_size=batch_size,
    )


@eqx.filter_jit
def _estimate_ems(
    eps_fn,
    schedule,
    x0,
    key,
    *,
    n_grid,
    t_start,
    t_end,
    n_probes,
    exact_jacobian,
    ridge,
    batch_size,
) -> EMS:
    in_dtype = x0.dtype
    work = _work_dtype(in_dtype)
    x0 = x0.astype(work)
    k, event = x0.shape[0], x0.shape[1:]
    d = math.prod(event)
    lambdas = EMS.lambda_grid(schedule, n_grid, t_start, t_end).astype(work)
    kz, kv = jax.random.split(key)
    z = jax.random.normal(kz, x0.shape, work)
    probes = (
        jax.random.rademacher(kv, (n_probes, *x0.shape), work)
        if not exact_jacobian
        else None
    )
    bs = min(batch_size, k)
    nb = -(-k // bs)
    pad = nb * bs - k

    def padded(a):
        a = jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) if pad else a
        return a.reshape(nb, bs, *a.shape[1:])

    mask = padded(jnp.ones((k,), work))
    xb, zb = padded(x0), padded(z)
    vb = None if probes is None else jax.vmap(padded)(probes).swapaxes(0, 1)

    def g_fn(x, lam):
        t = schedule.inverse_lambda(lam)
        log_alpha = -0.5 * jnp.logaddexp(0.0, -2.0 * lam)
        sigma = jnp.sqrt(jax.nn.sigmoid(-2.0 * lam))
        eps = jnp.asarray(eps_fn(x.astype(in_dtype), t.astype(in_dtype)))
        if eps.shape != x.shape:
            raise ValueError(
                f"{'estimate_ems'}: eps_fn returned shape {eps.shape} for an "
                f"input of shape {x.shape}"
            )
        return sigma * eps.astype(work) * jnp.exp(-log_alpha)

    def per_batch(lam, batch):
        x0_b, z_b, v_b = batch
        log_alpha = -0.5 * jnp.logaddexp(0.0, -2.0 * lam)
        alpha = jnp.exp(log_alpha)
        sigma2 = jax.nn.sigmoid(-2.0 * lam)
        x = alpha * x0_b + jnp.sqrt(sigma2) * z_b
        g, lin = jax.linearize(g_fn, x, lam)
        # dx/dlambda = sigma^2 x - sigma eps = sigma^2 x - alpha g
        xdot = sigma2 * x - alpha * g
        g1 = lin(xdot, jnp.ones_like(lam))
        zero = jnp.zeros_like(lam)
        if v_b is None:
            basis = jnp.eye(d, dtype=work).reshape(d, 1, *event)

            def diag_part(e):
                return e * lin(jnp.broadcast_to(e, x.shape), zero)

            diag = jnp.sum(jax.lax.map(diag_part, basis), axis=0)
        else:
            diag = jnp.mean(jax.lax.map(lambda v: v * lin(v, zero), v_b), axis=0)
        # l = E diag grad_x (sigma eps) = alpha * E diag grad_x g
        return g, x / alpha, g1, alpha * diag

    def per_point(lam):
        g, u, g1, jd = jax.lax.map(lambda b: per_batch(lam, b), (xb, zb, vb))
        w = mask.reshape(nb, bs, *(1,) * len(event)) / k

        def mean(a, keepdims=False):
            return jnp.sum(w * a, axis=(0, 1), keepdims=keepdims)

        # l at this grid point is known here, so f = g - l u and the part of
        # f^(1) without l' are formed per sample before any moment is taken
        # (expanding Cov(f^(1), f) in moments of g and u cancels badly).
        l_i = mean(jd, keepdims=True)
        f = g - l_i * u
        f1 = g1 + l_i * g
        mf, mf1, mu = (mean(a, keepdims=True) for a in (f, f1, u))
        cf = f - mf
        return l_i[0, 0], (
            mf[0, 0],
            mf1[0, 0],
            mu[0, 0],
            mean(cf * cf),
            mean((f1 - mf1) * cf),
            mean((u - mu) * cf),
        )

    l, (mf, mf1, mu, var_f, cov_f1f, cov_uf) = jax.lax.map(per_point, lambdas)
    h = (lambdas[-1] - lambdas[0]) / n_grid
    dl = _gradient(l, h)
    # f^(1) = g^(1) + l g - l' u: the l' term enters through Cov(u, f), E u.
    s = (cov_f1f - dl * cov_uf) / (var_f + ridge)
    b = (mf1 - dl * mu) - s * mf
    return EMS(lambdas, l, s, b)


# --------------------------------------------------------------------- sampling


def _derivative_weights(lams: list[Array], pseudo: bool) -> Array:
    r"""Weights $W$ with $g^{(i)}(\lambda_0) \approx \sum_j W_{i-1,j}\,g_j$.

    ``lams`` are the $n + 1$ abscissae $\lambda_0, \dots, \lambda_n$ (scalars).
    Normal mode solves the Taylor system $\sum_i c_i (\lambda_j -
    \lambda_0)^i = g_j - g_0$ and returns $g^{(i)} = i!\,c_i$; pseudo mode is
    the Newton divided-difference table, $g^{(i)} \approx i!\,g[\lambda_0,
    \dots, \lambda_i]$ (the official ``compute_high_order_derivatives``),
    applied here to the unit vectors, since both are linear in the $g_j$.
    """
    n = len(lams) - 1
    eye = jnp.eye(n + 1, dtype=lams[0].dtype)
    if pseudo:
        table = [[eye[j] for j in range(n + 1)]]
        for i in range(1, n + 1):
            prev = table[i - 1]
            table.append(
                [
                    (prev[j] - prev[j + 1]) / (lams[j] - lams[i + j])
                    for j in range(n - i + 1)
                ]
            )
        return jnp.stack([table[i][0] * math.factorial(i) for i in range(1, n + 1)])
    dl = jnp.stack([lam - lams[0] for lam in lams[1:]])
    r = jnp.stack([dl**i for i in range(1, n + 1)], axis=1)  # r[j, i-1]
    rhs = jnp.concatenate([-jnp.ones((n, 1), eye.dtype), eye[1:, 1:]], axis=1)
    c = jnp.linalg.solve(r, rhs)
    fact = jnp.asarray([math.factorial(i) for i in range(1, n + 1)], eye.dtype)
    return fact[:, None] * c


class _Tables(eqx.Module):
    """Per-sampling-point values, gathered from the EMS (leading axis: point)."""

    lam: Array  # (K + 1,)
    t: Array
    alpha: Array
    sigma: Array
    l: Array  # (K + 1, *event)  # noqa: E741
    L: Array
    S: Array
    B: Array
    I: Array  # noqa: E741
    C: Array
    E: Array  # (K, n_max, *event): exponential coefficients of interval k


def _exp_coefficients(integ, lambdas, idx, n_max):
    r"""$E[k, n-1] = \int_{\lambda_{i_k}}^{\lambda_{i_{k+1}}} e^{A - A_{i_k}}
    (\lambda - \lambda_{i_k})^n / n!\,d\lambda$, $A = L + S$, trapezoid.

    One pass over the grid: every grid interval belongs to one sampling step
    (the steps' index ranges tile the grid between ``idx[0]`` and
    ``idx[-1]``), its trapezoid terms are summed per step with
    ``segment_sum``, and the exponent is shifted by its maximum over each
    step's points (``segment_max``), as the official per-slice computation
    does. Cost O(N * event * n_max), independent of the number of steps.
    """
    a_all = integ.L + integ.S
    nd = a_all.ndim - 1
    n_steps = idx.shape[0] - 1
    j = jnp.arange(lambdas.shape[0] - 1, dtype=idx.dtype)
    valid = (j >= idx[0]) & (j < idx[-1])
    seg = jnp.clip(jnp.searchsorted(idx, j, side="right") - 1, 0, n_steps - 1)
    start = idx[seg]

    def col(v):
        return v.reshape(-1, *(1,) * nd)

    a_s = a_all[start]
    a_lo, a_hi = a_all[:-1] - a_s, a_all[1:] - a_s
    top = jnp.where(col(valid), jnp.maximum(a_lo, a_hi), -jnp.inf)
    seg_max = jax.ops.segment_max(top, seg, num_segments=n_steps)
    shift = seg_max[seg]
    e_lo, e_hi = jnp.exp(a_lo - shift), jnp.exp(a_hi - shift)
    lam_s = lambdas[start]
    d_lo, d_hi = col(lambdas[:-1] - lam_s), col(lambdas[1:] - lam_s)
    half_dx = col(0.5 * (lambdas[1:] - lambdas[:-1]))
    out = []
    for n in range(1, n_max + 1):
        w = half_dx * (e_lo * d_lo**n + e_hi * d_hi**n) / math.factorial(n)
        w = jnp.where(col(valid), w, 0.0)
        out.append(jax.ops.segment_sum(w, seg, num_segments=n_steps))
    return jnp.stack(out, axis=1) * jnp.exp(seg_max)[:, None]


def _update(tab: _Tables, k, pts, x_s, xs, eps, derivs_w):
    """The official predictor formula from point ``k`` to ``k + 1``.

    ``pts`` are the point indices used (``pts[0] == k`` is the expansion
    point ``s``), ``xs``/``eps`` their states and noise predictions.
    """
    s_S, s_B, s_L, s_I = tab.S[k], tab.B[k], tab.L[k], tab.I[k]
    t_L, t_alpha, di = tab.L[k + 1], tab.alpha[k + 1], tab.I[k + 1] - s_I
    gs = []
    for p, x_p, e_p in zip(pts, xs, eps, strict=True):
        f = (tab.sigma[p] * e_p - tab.l[p] * x_p) / tab.alpha[p]
        gs.append(jnp.exp(s_S - tab.S[p]) * f - jnp.exp(s_S) * (tab.B[p] - s_B))
    x_t = (
        (t_alpha / tab.alpha[k]) * jnp.exp(s_L - t_L) * x_s
        - t_alpha * jnp.exp(-t_L - s_S) * di * gs[0]
        - t_alpha * jnp.exp(-t_L) * (tab.C[k + 1] - tab.C[k] - s_B * di)
    )
    if derivs_w is not None:
        scale = t_alpha * jnp.exp(s_L - t_L)
        for i in range(derivs_w.shape[0]):
            gd = sum(derivs_w[i, j] * gs[j] for j in range(len(gs)))
            x_t = x_t - scale * tab.E[k, i] * gd
    return x_t


def _plan(steps, order, use_corrector, c_pseudo, lower_order_final):
    """Static (predictor order, corrector order) of every step ``k = 0..steps-1``.

    Step ``k`` evaluates the model at point ``k``, corrects point ``k`` with
    the corrector order (0 = no correction), then predicts point ``k + 1``.
    """
    plan, p_prev = [], 0
    for step in range(1, steps + 1):
        q = p_prev + int(c_pseudo) if use_corrector else 0
        q = q if q > 1 else 0
        p = min(step, order)
        if lower_order_final:
            p = min(p, steps + 1 - step)
        plan.append((p, q))
        p_prev = p
    return plan


def _run_v3(model, x, tab, plan, order, p_pseudo, c_pseudo, half):
    h_len = order + 1
    hist_x = (x,) * h_len  # newest last
    hist_e = (jnp.zeros_like(x),) * h_len

    def step(carry, k, p, q):
        x, hist_x, hist_e = carry
        e = model(x, tab.t[k])
        hist_x = (*hist_x[1:], x)
        hist_e = (*hist_e[1:], e)
        if q:
            # Corrector: points (k-1, k, k-2, ...), expansion at k-1.
            pts_off = [1, 0, *range(2, q)]
            pts = [k - o for o in pts_off]
            xs = [hist_x[-1 - o] for o in pts_off]
            es = [hist_e[-1 - o] for o in pts_off]
            w = _derivative_weights([tab.lam[i] for i in pts], c_pseudo)
            x_new = _update(tab, k - 1, pts, xs[0], xs, es, w if q > 1 else None)
            n_old = tab.sigma[k] * e - tab.l[k] * x
            e_new = (n_old + tab.l[k] * x_new) / tab.sigma[k]
            if half:
                keep = tab.t[k] > 0.5
                x_new = jnp.where(keep, x_new, x)
                e_new = jnp.where(keep, e_new, e)
            hist_x = (*hist_x[:-1], x_new)
            hist_e = (*hist_e[:-1], e_new)
            x = x_new
        pts = [k - o for o in range(p)]
        xs = [hist_x[-1 - o] for o in range(p)]
        es = [hist_e[-1 - o] for o in range(p)]
        w = _derivative_weights([tab.lam[i] for i in pts], p_pseudo) if p > 1 else None
        x = _update(tab, k, pts, x, xs, es, w)
        return x, hist_x, hist_e

    carry = (x, hist_x, hist_e)
    k = 0
    for (p, q), group in itertools.groupby(plan):
        n = len(list(group))
        if n >= 3:

            def body(c, kk, p=p, q=q):
                return step(c, kk, p, q), None

            carry, _ = jax.lax.scan(body, carry, jnp.arange(k, k + n, dtype=jnp.int32))
        else:
            for kk in range(k, k + n):
                carry = step(carry, kk, p, q)
        k += n
    return carry[0]


def _check_bool(fn, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{fn}: {name} must be a bool, got {value!r}")


def dpm_solver_v3_sample(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    ems: EMS,
    x_T: Float[ArrayLike, "*shape"],
    *,
    steps: int = 10,
    order: int = 3,
    skip_type: str = "logSNR",
    t_start: float | None = None,
    t_end: float | None = None,
    p_pseudo: bool = False,
    use_corrector: bool = True,
    c_pseudo: bool = True,
    lower_order_final: bool = True,
    half: bool = False,
) -> tuple[Float[Array, "*shape"], DPMSolverInfo]:
    r"""Sample a diffusion model with DPM-Solver-v3 (multistep predictor-corrector).

    Every step $s \to t$ evaluates the model once and applies the predictor

    $$\begin{aligned} x_t = {}& \tfrac{\alpha_t}{\alpha_s} e^{L_s - L_t} x_s
    - \alpha_t e^{-L_t - S_s}(I_t - I_s)\, g_s
    - \alpha_t e^{-L_t}\bigl(C_t - C_s - B_s (I_t - I_s)\bigr) \\
    & - \sum_{j=1}^{k-1} \alpha_t e^{L_s - L_t}
    \Bigl[\int_{\lambda_s}^{\lambda_t} e^{(L+S)(\lambda) - (L+S)(\lambda_s)}
    \tfrac{(\lambda - \lambda_s)^j}{j!}\, d\lambda\Bigr]\, g_s^{(j)},
    \end{aligned}$$

    with the derivatives $g^{(j)}_s$ from the stored outputs of the previous
    steps (a Taylor system, or divided differences with ``p_pseudo``). With
    ``use_corrector``, after the model call at a new point the point is
    recomputed from the interval just taken with one order more
    (``c_pseudo``: pseudo order) and the cached model output is updated with
    $N$ held fixed, $\varepsilon \leftarrow (N + l_t x_{new})/\sigma_t$: no
    extra model call (UniPC-like). The predictor order is
    ``min(step, order)`` and, with ``lower_order_final``,
    ``min(., steps + 1 - step)``, as in the official code (for every
    ``steps``, unlike DPM-Solver's ``steps < 10`` rule).

    Sampling times come from :func:`time_steps` (``skip_type``) and are then
    snapped to the nearest EMS grid point, so the model is called at
    $t(\lambda_{i})$ of the grid. The tables of integrals are built before
    the loop; the loop is one compiled program (``eqx.filter_jit``),
    differentiable with respect to ``x_T`` and to arrays inside ``eps_fn``
    and ``ems``.

    Differences from the official code: the corrector with ``half=True``
    runs while $t > 0.5$ (the code's ``timesteps[step - 1] > 0.5``; the
    README says "t <= 0.5"); $\alpha, \sigma$ at grid points are computed from
    $\lambda$ ($\alpha^2 = \operatorname{sigmoid}(2\lambda)$) rather than
    through ``inverse_lambda``, which agrees to round-off.

    Args:
        eps_fn: noise-prediction model ``eps_fn(x, t) -> eps`` (whole batch,
            scalar continuous time ``t``).
        schedule: the model's :class:`VPSchedule`.
        ems: the statistics (from :func:`estimate_ems`, a closed form, or
            :meth:`EMS.degenerate`); its event shape must broadcast to
            ``x_T``'s shape.
        x_T: the starting noise.
        steps: number of model evaluations (static, $\ge$ ``order``).
        order: predictor order 1, 2 or 3 (official: 3 unconditional, 2
            guided).
        skip_type: ``"logSNR"`` (default), ``"time_uniform"``,
            ``"time_quadratic"`` or ``"karras"`` (the official ``edm``).
        t_start: start time (default: the EMS grid's noisy end,
            $t(\lambda_0)$); must lie inside the grid.
        t_end: end time (default: the grid's clean end).
        p_pseudo: pseudo-order predictor (official: True only for 5-step
            CIFAR-10).
        use_corrector: apply the corrector (official default; the official
            README advises turning it off for many steps).
        c_pseudo: pseudo-order corrector of order ``p + 1``.
        lower_order_final: lower the order of the last steps.
        half: correct only while $t > 0.5$ (the official Stable Diffusion
            codebase's option).

    Returns:
        ``(x_0, info)``: the sample and a :class:`DPMSolverInfo` with the NFE
        (``steps``), the snapped time grid and the predictor orders.

    Raises:
        ValueError: unknown ``skip_type``, ``order`` outside 1..3,
            ``steps < order``, ``t_end >= t_start``, an EMS event shape that
            does not broadcast to ``x_T``, or a model returning the wrong
            shape (trace time). Inside jit (``eqx.error_if``): sampling
            times outside the EMS grid, or two times snapping to the same
            grid point (use a finer grid).
        TypeError: a non-``VPSchedule`` schedule, a non-``EMS`` ``ems``,
            non-floating ``x_T`` or non-bool flags.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.diffusion import EMS, VPSchedule, dpm_solver_v3_sample
        >>> sch = VPSchedule.linear()
        >>> eps_fn = lambda x, t: sch.sigma(t) * x  # data ~ N(0, I) exactly
        >>> ems = EMS.degenerate(EMS.lambda_grid(sch, 500, t_end=1e-3), (2,))
        >>> x0, info = dpm_solver_v3_sample(eps_fn, sch, ems,
        ...                                 jr.normal(jr.key(0), (4, 2)), steps=8)
        >>> x0.shape, int(info.nfe), [int(o) for o in info.orders]
        ((4, 2), 8, [1, 2, 3, 3, 3, 3, 2, 1])

    References:
        K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3: Improved diffusion
        ODE solver with empirical model statistics", *NeurIPS* 2023.
        arXiv:2310.13268.
    """
    # Checked here first, under this function's name (the Module's
    # annotations would otherwise answer with a type-check error).
    fn = "dpm_solver_v3_sample"
    options: dict[str, Any] = dict(
        steps=steps,
        order=order,
        skip_type=skip_type,
        t_start=t_start,
        t_end=t_end,
        p_pseudo=p_pseudo,
        use_corrector=use_corrector,
        c_pseudo=c_pseudo,
        lower_order_final=lower_order_final,
        half=half,
    )
    _check_v3_args(fn, schedule, ems, **options)
    x_T = _check_x_T(fn, x_T, ems.event_shape)
    return DPMSolverV3(schedule, ems, **options, _caller=fn)(eps_fn, x_T)


def _check_v3_args(
    fn, schedule, ems, *, steps, order, skip_type, t_start, t_end, **flags
):
    check_schedule(fn, schedule)
    if not isinstance(ems, EMS):
        raise TypeError(f"{fn}: ems must be an EMS, got {type(ems).__name__}")
    _check_order(fn, order)
    check_size(fn, "steps", steps, minimum=1)
    if steps < order:
        raise ValueError(f"{fn}: steps must be >= order = {order}, got {steps}")
    _check_choice(fn, "skip_type", skip_type, SKIP_TYPES)
    for name, v in flags.items():
        _check_bool(fn, name, v)
    if (
        isinstance(t_start, (int, float))
        and isinstance(t_end, (int, float))
        and not t_end < t_start
    ):
        raise ValueError(
            f"{fn}: t_end must be < t_start, got t_start={t_start}, t_end={t_end}"
        )


def _check_x_T(fn: str, x_T: Any, event_shape: tuple[int, ...]) -> Array:
    x = jnp.asarray(x_T)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x_T must be floating, got {x.dtype}")
    try:
        ok = jnp.broadcast_shapes(event_shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: the EMS event shape {event_shape} does not broadcast to "
            f"x_T's shape {x.shape}"
        )
    return x


@eqx.filter_jit
def _build_tables(
    schedule,
    ems,
    t_start,
    t_end,
    *,
    fn,
    steps,
    skip_type,
    n_max,
) -> _Tables:
    """Snap the sampling times to the EMS grid and gather the tables there."""
    work = _work_dtype(ems.lambdas.dtype)
    ems = jax.tree.map(lambda a: a.astype(work), ems)
    lam_grid = ems.lambdas
    n_grid = ems.n_grid
    t_grid0 = schedule.inverse_lambda(lam_grid[0])
    t_grid1 = schedule.inverse_lambda(lam_grid[-1])
    ts = time_steps(
        schedule,
        steps,
        skip_type,
        t_grid0 if t_start is None else jnp.asarray(t_start, work),
        t_grid1 if t_end is None else jnp.asarray(t_end, work),
    )
    lam_steps = schedule.lambda_(ts)
    if t_start is None:
        lam_steps = lam_steps.at[0].set(lam_grid[0])
    if t_end is None:
        lam_steps = lam_steps.at[-1].set(lam_grid[-1])
    pos = n_grid * (lam_steps - lam_grid[0]) / (lam_grid[-1] - lam_grid[0])
    idx = jnp.round(pos).astype(jnp.int32)
    idx = eqx.error_if(
        idx,
        jnp.any((pos < -0.5) | (pos > n_grid + 0.5)),
        f"{fn}: the sampling times fall outside the EMS grid; estimate the EMS "
        "on a range that covers t_start..t_end",
    )
    idx = eqx.error_if(
        idx,
        jnp.any(jnp.diff(idx) <= 0),
        f"{fn}: two sampling times snap to the same EMS grid point; use a finer "
        "EMS grid or fewer steps",
    )
    idx = jnp.clip(idx, 0, n_grid)
    lam = lam_grid[idx]
    integ = ems.integrals()
    return _Tables(
        lam=lam,
        t=schedule.inverse_lambda(lam),
        alpha=jnp.exp(-0.5 * jnp.logaddexp(0.0, -2.0 * lam)),
        sigma=jnp.sqrt(jax.nn.sigmoid(-2.0 * lam)),
        l=ems.l[idx],
        L=integ.L[idx],
        S=integ.S[idx],
        B=integ.B[idx],
        I=integ.I[idx],
        C=integ.C[idx],
        E=_exp_coefficients(integ, lam_grid, idx, n_max),
    )


@eqx.filter_jit
def _sample_v3(eps_fn, tab, x, *, fn, steps, plan, order, p_pseudo, c_pseudo, half):
    in_dtype = x.dtype
    work = _work_dtype(in_dtype, tab.lam.dtype)
    x = x.astype(work)
    # Per-point statistics get unit axes for x's leading (batch) dimensions,
    # so they broadcast against x without rank promotion.
    lead = (1,) * (x.ndim - (tab.l.ndim - 1))

    def per_point(a, axes=1):
        return a.reshape(*a.shape[:axes], *lead, *a.shape[axes:])

    tab = jax.tree.map(lambda a: a.astype(work), tab)
    tab = dataclasses.replace(
        tab,
        **{f: per_point(getattr(tab, f)) for f in ("l", "L", "S", "B", "I", "C")},
        E=per_point(tab.E, 2),
    )

    def model(x, t):
        eps = jnp.asarray(eps_fn(x.astype(in_dtype), t.astype(in_dtype)))
        if eps.shape != x.shape:
            raise ValueError(
                f"{fn}: eps_fn returned shape {eps.shape} for an input of shape "
                f"{x.shape}; a noise-prediction model must return the shape of "
                "its input"
            )
        return eps.astype(work)

    x_out = _run_v3(model, x, tab, plan, order, p_pseudo, c_pseudo, half)
    info = DPMSolverInfo(
        jnp.asarray(steps, jnp.int32),
        tab.t,
        jnp.asarray(steps, jnp.int32),
        jnp.asarray([p for p, _ in plan], jnp.int32),
        jnp.asarray(True),
    )
    return x_out.astype(in_dtype), info


class DPMSolverV3(eqx.Module):
    r"""DPM-Solver-v3 with its tables built once, for repeated sampling.

    Building the sampler snaps the sampling times to the EMS grid and
    gathers every table the loop needs (the integrals at the sampling points
    and the exponential coefficients of every interval), which costs
    $O(N \cdot \text{event})$ on the EMS grid: about as much as a few model
    calls of a small network. Calling it runs only the loop, so sampling many
    batches with one EMS and one step plan pays for the tables once.
    ``dpm_solver_v3_sample(eps_fn, schedule, ems, x_T, **options)`` is
    ``DPMSolverV3(schedule, ems, **options)(eps_fn, x_T)``; see
    :func:`dpm_solver_v3_sample` for the algorithm and the options.

    The sampler is a pytree (an ``eqx.Module``): pass it into jitted
    functions as an argument; its arrays are the tables, and its options are
    static.

    Args:
        schedule: the model's :class:`VPSchedule`.
        ems: the statistics (:class:`EMS`).
        steps: number of model evaluations (static, $\ge$ ``order``).
        order: predictor order 1, 2 or 3.
        skip_type: ``"logSNR"``, ``"time_uniform"``, ``"time_quadratic"`` or
            ``"karras"``.
        t_start: start time (default: the EMS grid's noisy end).
        t_end: end time (default: the grid's clean end).
        p_pseudo: pseudo-order predictor.
        use_corrector: apply the corrector.
        c_pseudo: pseudo-order corrector.
        lower_order_final: lower the order of the last steps.
        half: correct only while $t > 0.5$.

    Attributes:
        tables: the gathered tables (arrays, leading axis: sampling point).
        steps: number of model evaluations.
        plan: ``(predictor order, corrector order)`` of every step.
        event_shape: the EMS event shape, which must broadcast to ``x_T``.

    Raises:
        ValueError: as :func:`dpm_solver_v3_sample`; sampling times outside
            the EMS grid, or two of them snapping to one grid point, raise
            when the tables are built (inside jit: ``eqx.error_if``).
        TypeError: as :func:`dpm_solver_v3_sample`.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.diffusion import EMS, VPSchedule, DPMSolverV3
        >>> sch = VPSchedule.linear()
        >>> eps_fn = lambda x, t: sch.sigma(t) * x  # data ~ N(0, I) exactly
        >>> ems = EMS.degenerate(EMS.lambda_grid(sch, 500, t_end=1e-3), (2,))
        >>> sampler = DPMSolverV3(sch, ems, steps=8)
        >>> for seed in range(2):  # the tables are reused
        ...     x0, info = sampler(eps_fn, jr.normal(jr.key(seed), (4, 2)))
        >>> x0.shape, int(info.nfe)
        ((4, 2), 8)

    References:
        K. Zheng, C. Lu, J. Chen and J. Zhu, "DPM-Solver-v3: Improved diffusion
        ODE solver with empirical model statistics", *NeurIPS* 2023.
        arXiv:2310.13268.
    """

    tables: _Tables
    steps: int = eqx.field(static=True)
    plan: tuple[tuple[int, int], ...] = eqx.field(static=True)
    event_shape: tuple[int, ...] = eqx.field(static=True)
    order: int = eqx.field(static=True)
    p_pseudo: bool = eqx.field(static=True)
    c_pseudo: bool = eqx.field(static=True)
    half: bool = eqx.field(static=True)
    caller: str = eqx.field(static=True)

    def __init__(
        self,
        schedule: VPSchedule,
        ems: EMS,
        *,
        steps: int = 10,
        order: int = 3,
        skip_type: str = "logSNR",
        t_start: float | None = None,
        t_end: float | None = None,
        p_pseudo: bool = False,
        use_corrector: bool = True,
        c_pseudo: bool = True,
        lower_order_final: bool = True,
        half: bool = False,
        _caller: str = "DPMSolverV3",
    ):
        fn = _caller
        _check_v3_args(
            fn, schedule, ems, steps=steps, order=order, skip_type=skip_type,
            t_start=t_start, t_end=t_end, p_pseudo=p_pseudo,
            use_corrector=use_corrector, c_pseudo=c_pseudo,
            lower_order_final=lower_order_final, half=half,
        )  # fmt: skip
        plan = tuple(_plan(steps, order, use_corrector, c_pseudo, lower_order_final))
        n_max = max(max(p - 1 for p, _ in plan), max(q - 1 for _, q in plan), 1)
        self.tables = _build_tables(
            schedule, ems, t_start, t_end, fn=fn, steps=steps, skip_type=skip_type,
            n_max=n_max,
        )  # fmt: skip
        self.steps, self.plan, self.order = steps, plan, order
        self.event_shape = ems.event_shape
        self.p_pseudo, self.c_pseudo, self.half = p_pseudo, c_pseudo, half
        self.caller = fn

    def __call__(
        self, eps_fn: EpsFn, x_T: Float[ArrayLike, "*shape"]
    ) -> tuple[Float[Array, "*shape"], DPMSolverInfo]:
        """Sample from ``x_T`` with the noise-prediction model ``eps_fn``.

        Args:
            eps_fn: ``eps_fn(x, t) -> eps`` (whole batch, scalar time).
            x_T: the starting noise; the EMS event shape must broadcast to it.

        Returns:
            ``(x_0, info)`` as :func:`dpm_solver_v3_sample`.

        Raises:
            TypeError: non-floating ``x_T``.
            ValueError: an EMS event shape that does not broadcast to
                ``x_T``, or a model returning the wrong shape.
        """
        fn = self.caller
        x = _check_x_T(fn, x_T, self.event_shape)
        return _sample_v3(
            eps_fn,
            self.tables,
            x,
            fn=fn,
            steps=self.steps,
            plan=self.plan,
            order=self.order,
            p_pseudo=self.p_pseudo,
            c_pseudo=self.c_pseudo,
            half=self.half,
        )

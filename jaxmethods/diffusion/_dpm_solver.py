"""DPM-Solver and DPM-Solver++: fast ODE samplers for diffusion models (P06).

Every update integrates the linear part of the probability-flow ODE exactly
in the half-log-SNR ``lambda`` and Taylor-expands the model output (noise
prediction for ``algorithm="dpmsolver"``, data prediction for
``"dpmsolver++"``). The formulas follow the official implementation
(LuChengTHU/dpm-solver, ``dpm_solver_pytorch.py``) term by term, always with
``expm1``.

Loops: fixed-step samplers run the warm-up and final low-order steps as
unrolled Python steps and the uniform middle as one ``lax.scan``, so a
sampler is one compiled program with no host synchronization and no
``lax.switch``; the adaptive sampler is one ``lax.while_loop`` with a
``max_steps`` guard.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ._schedules import VPSchedule, check_schedule, time_steps


ALGORITHMS = ("dpmsolver++", "dpmsolver")
METHODS = ("multistep", "singlestep", "singlestep_fixed", "adaptive")
SOLVER_TYPES = ("dpmsolver", "taylor")
SKIP_TYPES = ("logSNR", "time_uniform", "time_quadratic", "karras")

EpsFn = Callable[[Array, Array], Array]


# ----------------------------------------------------------------- checks


def _check_choice(fn: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"{fn}: unknown {name} {value!r}; expected one of "
            + ", ".join(repr(c) for c in choices)
        )


def _check_order(fn: str, order: Any, allowed=(1, 2, 3)) -> None:
    if not isinstance(order, int) or isinstance(order, bool) or order not in allowed:
        raise ValueError(f"{fn}: order must be one of {allowed}, got {order!r}")


def _work_dtype(*dtypes) -> jnp.dtype:
    """The solver's working dtype: the default float, or a wider input dtype."""
    work = jnp.dtype(jnp.result_type(float))
    for d in dtypes:
        if jnp.issubdtype(d, jnp.floating) and jnp.dtype(d).itemsize > work.itemsize:
            work = jnp.dtype(d)
    return work


# ----------------------------------------------------------------- coefficients


class _Coef(eqx.Module):
    """Schedule values at one or more times (arrays of equal shape)."""

    t: Array
    lam: Array
    log_alpha: Array
    alpha: Array
    sigma: Array

    def at(self, i) -> _Coef:
        return jax.tree.map(lambda a: a[i], self)


def _coef(schedule: VPSchedule, t) -> _Coef:
    t = jnp.asarray(t)
    log_alpha = schedule.log_alpha(t)
    return _Coef(
        t=t,
        lam=schedule.lambda_(t),
        log_alpha=log_alpha,
        alpha=jnp.exp(log_alpha),
        sigma=schedule.sigma(t),
    )


def _coef_from_lambda(schedule: VPSchedule, lam) -> _Coef:
    return _coef(schedule, schedule.inverse_lambda(lam))


# ----------------------------------------------------------------- model output


def _make_model(
    eps_fn: EpsFn,
    algorithm: str,
    correcting_x0_fn: Callable[[Array, Array], Array] | None,
    model_dtype=None,
) -> Callable[[Array, _Coef], Array]:
    """``m(x, c)``: the noise prediction, or the (corrected) data prediction.

    The model is called with ``x`` and ``t`` in ``model_dtype`` (the dtype of
    the user's ``x_T``); its output is cast to the solver's working dtype.
    """

    def model(x: Array, c: _Coef) -> Array:
        dt = x.dtype if model_dtype is None else model_dtype
        eps = eps_fn(x.astype(dt), c.t.astype(dt))
        if jnp.shape(eps) != jnp.shape(x):
            raise ValueError(
                f"eps_fn returned shape {jnp.shape(eps)} for an input of shape "
                f"{jnp.shape(x)}; a noise-prediction model must return the shape "
                "of its input"
            )
        eps = jnp.asarray(eps).astype(x.dtype)
        if algorithm == "dpmsolver":
            return eps
        x0 = (x - c.sigma * eps) / c.alpha
        if correcting_x0_fn is not None:
            x0 = correcting_x0_fn(x0, c.t)
        return x0

    return model


# ----------------------------------------------------------------- update formulas


def _first(x, cs: _Coef, ct: _Coef, m_s, algorithm):
    h = ct.lam - cs.lam
    if algorithm == "dpmsolver++":
        return (ct.sigma / cs.sigma) * x - (ct.alpha * jnp.expm1(-h)) * m_s
    return jnp.exp(ct.log_alpha - cs.log_alpha) * x - (ct.sigma * jnp.expm1(h)) * m_s


def _single2(model, x, cs, ct, m_s, r1, algorithm, solver_type, schedule):
    h = ct.lam - cs.lam
    c1 = _coef_from_lambda(schedule, cs.lam + r1 * h)
    if algorithm == "dpmsolver++":
        phi_11, phi_1 = jnp.expm1(-r1 * h), jnp.expm1(-h)
        x_s1 = (c1.sigma / cs.sigma) * x - (c1.alpha * phi_11) * m_s
        m_s1 = model(x_s1, c1)
        base = (ct.sigma / cs.sigma) * x - (ct.alpha * phi_1) * m_s
        if solver_type == "dpmsolver":
            return base - (0.5 / r1) * (ct.alpha * phi_1) * (m_s1 - m_s), m_s1
        return base + (1.0 / r1) * (ct.alpha * (phi_1 / h + 1.0)) * (m_s1 - m_s), m_s1
    phi_11, phi_1 = jnp.expm1(r1 * h), jnp.expm1(h)
    x_s1 = jnp.exp(c1.log_alpha - cs.log_alpha) * x - (c1.sigma * phi_11) * m_s
    m_s1 = model(x_s1, c1)
    base = jnp.exp(ct.log_alpha - cs.log_alpha) * x - (ct.sigma * phi_1) * m_s
    if solver_type == "dpmsolver":
        return base - (0.5 / r1) * (ct.sigma * phi_1) * (m_s1 - m_s), m_s1
    return base - (1.0 / r1) * (ct.sigma * (phi_1 / h - 1.0)) * (m_s1 - m_s), m_s1


def _single3(
    model, x, cs, ct, m_s, r1, r2, algorithm, solver_type, schedule, m_s1=None
):
    h = ct.lam - cs.lam
    c1 = _coef_from_lambda(schedule, cs.lam + r1 * h)
    c2 = _coef_from_lambda(schedule, cs.lam + r2 * h)
    pp = algorithm == "dpmsolver++"
    sgn = -1.0 if pp else 1.0
    phi_11 = jnp.expm1(sgn * r1 * h)
    phi_12 = jnp.expm1(sgn * r2 * h)
    phi_1 = jnp.expm1(sgn * h)
    phi_22 = jnp.expm1(sgn * r2 * h) / (r2 * h) - sgn
    phi_2 = phi_1 / h - sgn
    phi_3 = phi_2 / h - 0.5
    if pp:
        if m_s1 is None:
            m_s1 = model((c1.sigma / cs.sigma) * x - (c1.alpha * phi_11) * m_s, c1)
        x_s2 = (
            (c2.sigma / cs.sigma) * x
            - (c2.alpha * phi_12) * m_s
            + r2 / r1 * (c2.alpha * phi_22) * (m_s1 - m_s)
        )
        m_s2 = model(x_s2, c2)
        base = (ct.sigma / cs.sigma) * x - (ct.alpha * phi_1) * m_s
        if solver_type == "dpmsolver":
            return base + (1.0 / r2) * (ct.alpha * phi_2) * (m_s2 - m_s)
        d1_0, d1_1 = (m_s1 - m_s) / r1, (m_s2 - m_s) / r2
        d1 = (r2 * d1_0 - r1 * d1_1) / (r2 - r1)
        d2 = 2.0 * (d1_1 - d1_0) / (r2 - r1)
        return base + (ct.alpha * phi_2) * d1 - (ct.alpha * phi_3) * d2
    if m_s1 is None:
        m_s1 = model(
            jnp.exp(c1.log_alpha - cs.log_alpha) * x - (c1.sigma * phi_11) * m_s, c1
        )
    x_s2 = (
        jnp.exp(c2.log_alpha - cs.log_alpha) * x
        - (c2.sigma * phi_12) * m_s
        - r2 / r1 * (c2.sigma * phi_22) * (m_s1 - m_s)
    )
    m_s2 = model(x_s2, c2)
    base = jnp.exp(ct.log_alpha - cs.log_alpha) * x - (ct.sigma * phi_1) * m_s
    if solver_type == "dpmsolver":
        return base - (1.0 / r2) * (ct.sigma * phi_2) * (m_s2 - m_s)
    d1_0, d1_1 = (m_s1 - m_s) / r1, (m_s2 - m_s) / r2
    d1 = (r2 * d1_0 - r1 * d1_1) / (r2 - r1)
    d2 = 2.0 * (d1_1 - d1_0) / (r2 - r1)
    return base - (ct.sigma * phi_2) * d1 - (ct.sigma * phi_3) * d2


def _multi(x, ms, cps, ct, order, algorithm, solver_type):
    """Multistep update of ``order`` from the last outputs ``ms`` (oldest first)."""
    c0 = cps.at(-1)
    if order == 1:
        return _first(x, c0, ct, ms[-1], algorithm)
    pp = algorithm == "dpmsolver++"
    h = ct.lam - c0.lam
    lin = (ct.sigma / c0.sigma) * x if pp else jnp.exp(ct.log_alpha - c0.log_alpha) * x
    scale = ct.alpha if pp else ct.sigma
    phi_1 = jnp.expm1(-h) if pp else jnp.expm1(h)
    m0, m1 = ms[-1], ms[-2]
    h_0 = c0.lam - cps.lam[-2]
    r0 = h_0 / h
    d1_0 = (m0 - m1) / r0
    if order == 2:
        if solver_type == "dpmsolver":
            return lin - (scale * phi_1) * m0 - 0.5 * (scale * phi_1) * d1_0
        if pp:
            return lin - (scale * phi_1) * m0 + (scale * (phi_1 / h + 1.0)) * d1_0
        return lin - (scale * phi_1) * m0 - (scale * (phi_1 / h - 1.0)) * d1_0
    m2 = ms[-3]
    h_1 = cps.lam[-2] - cps.lam[-3]
    r1 = h_1 / h
    d1_1 = (m1 - m2) / r1
    d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
    # d2 estimates h^2 m''/2. The official 3M multiplies it by phi_3, whose
    # h^2 m'' coefficient is the Taylor one: half the second-derivative term,
    # so it converges at order 2. "taylor" uses the full term (order 3).
    d2 = (d1_0 - d1_1) / (r0 + r1)
    if solver_type == "taylor":  # not "heun" (diffusers_compat, see _run_diffusers)
        d2 = 2.0 * d2
    if pp:
        phi_2 = phi_1 / h + 1.0
        phi_3 = phi_2 / h - 0.5
        return lin - (scale * phi_1) * m0 + (scale * phi_2) * d1 - (scale * phi_3) * d2
    phi_2 = phi_1 / h - 1.0
    phi_3 = phi_2 / h - 0.5
    return lin - (scale * phi_1) * m0 - (scale * phi_2) * d1 - (scale * phi_3) * d2


# ----------------------------------------------------------------- public updates


def first_order_update(
    x: Float[ArrayLike, "*shape"],
    s: Float[ArrayLike, ""],
    t: Float[ArrayLike, ""],
    model_s: Float[ArrayLike, "*shape"],
    schedule: VPSchedule,
    *,
    algorithm: str = "dpmsolver++",
) -> Float[Array, "*shape"]:
    r"""DPM-Solver-1 / DPM-Solver++(1) step from time ``s`` to ``t`` (both are DDIM).

    With $h = \lambda_t - \lambda_s$: ``"dpmsolver"`` computes
    $x_t = \frac{\alpha_t}{\alpha_s} x_s - \sigma_t (e^h - 1)\,\hat\epsilon_s$
    and ``"dpmsolver++"`` computes
    $x_t = \frac{\sigma_t}{\sigma_s} x_s - \alpha_t (e^{-h} - 1)\,\hat x_{0,s}$.

    Args:
        x: the state at ``s``.
        s: start time (scalar).
        t: end time (scalar).
        model_s: the model output at ``(x, s)``: noise prediction for
            ``"dpmsolver"``, data prediction for ``"dpmsolver++"``.
        schedule: the :class:`VPSchedule`.
        algorithm: ``"dpmsolver++"`` or ``"dpmsolver"``.

    Returns:
        The state at ``t``, shaped like ``x``.

    Raises:
        ValueError: on an unknown algorithm.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule, first_order_update
        >>> sch = VPSchedule.linear()
        >>> x = jnp.ones(2)
        >>> s, t = jnp.asarray(0.5), jnp.asarray(0.4)
        >>> first_order_update(x, s, t, jnp.zeros(2), sch, algorithm="dpmsolver").shape
        (2,)

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver: A fast
        ODE solver for diffusion probabilistic model sampling in around 10
        steps", *NeurIPS* 2022. arXiv:2206.00927.
    """
    _check_choice("first_order_update", "algorithm", algorithm, ALGORITHMS)
    x = jnp.asarray(x)
    return _first(
        x, _coef(schedule, s), _coef(schedule, t), jnp.asarray(model_s), algorithm
    )


def singlestep_update(
    eps_fn: EpsFn,
    x: Float[ArrayLike, "*shape"],
    s: Float[ArrayLike, ""],
    t: Float[ArrayLike, ""],
    schedule: VPSchedule,
    *,
    order: int,
    algorithm: str = "dpmsolver++",
    r1: float | None = None,
    r2: float | None = None,
    solver_type: str = "dpmsolver",
    correcting_x0_fn: Callable[[Array, Array], Array] | None = None,
) -> Float[Array, "*shape"]:
    r"""One singlestep DPM-Solver-``order`` step from ``s`` to ``t``.

    Order 1 is DDIM (1 model call); order 2 evaluates the model once more at
    $\lambda_s + r_1 h$ (default $r_1 = 1/2$); order 3 at $\lambda_s + r_1 h$
    and $\lambda_s + r_2 h$ (defaults $1/3$, $2/3$). ``solver_type="taylor"``
    uses the plain Taylor coefficients instead of the paper's ones.

    Args:
        eps_fn: the noise-prediction model ``eps_fn(x, t) -> eps``.
        x: the state at ``s``.
        s: start time.
        t: end time.
        schedule: the :class:`VPSchedule`.
        order: 1, 2 or 3 (static).
        algorithm: ``"dpmsolver++"`` (data prediction) or ``"dpmsolver"``.
        r1: first intermediate fraction of the step in ``lambda``.
        r2: second intermediate fraction (order 3).
        solver_type: ``"dpmsolver"`` (official formulas) or ``"taylor"``.
            For multistep order 3 the official formula keeps half of the
            second-derivative term, so it converges at order 2 (measured
            slope 2.05); ``"taylor"`` uses the full term and converges at
            order 3.
        correcting_x0_fn: optional ``fn(x0, t) -> x0`` applied to data
            predictions (``"dpmsolver++"`` only), e.g.
            :func:`dynamic_thresholding`.

    Returns:
        The state at ``t``.

    Raises:
        ValueError: on an unknown algorithm or solver type, or an order
            outside 1..3.

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver: A fast
        ODE solver for diffusion probabilistic model sampling in around 10
        steps", *NeurIPS* 2022. arXiv:2206.00927.
    """
    fn = "singlestep_update"
    _check_choice(fn, "algorithm", algorithm, ALGORITHMS)
    _check_choice(fn, "solver_type", solver_type, SOLVER_TYPES)
    _check_order(fn, order)
    x = jnp.asarray(x)
    model = _make_model(eps_fn, algorithm, correcting_x0_fn)
    cs, ct = _coef(schedule, s), _coef(schedule, t)
    m_s = model(x, cs)
    return _singlestep(
        model, x, cs, ct, m_s, order, r1, r2, algorithm, solver_type, schedule
    )


def _singlestep(model, x, cs, ct, m_s, order, r1, r2, algorithm, solver_type, schedule):
    if order == 1:
        return _first(x, cs, ct, m_s, algorithm)
    if order == 2:
        return _single2(
            model,
            x,
            cs,
            ct,
            m_s,
            0.5 if r1 is None else r1,
            algorithm,
            solver_type,
            schedule,
        )[0]
    return _single3(
        model,
        x,
        cs,
        ct,
        m_s,
        1.0 / 3.0 if r1 is None else r1,
        2.0 / 3.0 if r2 is None else r2,
        algorithm,
        solver_type,
        schedule,
    )


def multistep_update(
    x: Float[ArrayLike, "*shape"],
    model_history: Float[ArrayLike, " k *shape"],
    t_history: Float[ArrayLike, " k"],
    t: Float[ArrayLike, ""],
    schedule: VPSchedule,
    *,
    order: int,
    algorithm: str = "dpmsolver++",
    solver_type: str = "dpmsolver",
) -> Float[Array, "*shape"]:
    r"""One multistep DPM-Solver(++) step of ``order`` from ``t_history[-1]`` to ``t``.

    Uses the last ``order`` model outputs (``model_history``, oldest first,
    at the times ``t_history``) and no new model call: 2M forms
    $D_1 = (m_0 - m_1)/r_0$, 3M adds the second difference.

    Args:
        x: the state at ``t_history[-1]``.
        model_history: ``(k, *x.shape)`` past model outputs, ``k >= order``.
        t_history: ``(k,)`` their times.
        t: the end time.
        schedule: the :class:`VPSchedule`.
        order: 1, 2 or 3 (static).
        algorithm: ``"dpmsolver++"`` or ``"dpmsolver"``.
        solver_type: ``"dpmsolver"`` or ``"taylor"``. At order 3 the
            official formula (``"dpmsolver"``) keeps half of the
            second-derivative term and converges at order 2; ``"taylor"``
            uses the full Taylor term (order 3).

    Returns:
        The state at ``t``.

    Raises:
        ValueError: on an unknown algorithm or solver type, an order outside
            1..3, or a history shorter than ``order``.

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: Fast
        solver for guided sampling of diffusion probabilistic models",
        arXiv:2211.01095, 2022.
    """
    fn = "multistep_update"
    _check_choice(fn, "algorithm", algorithm, ALGORITHMS)
    _check_choice(fn, "solver_type", solver_type, SOLVER_TYPES)
    _check_order(fn, order)
    ms = jnp.asarray(model_history)
    ts = jnp.asarray(t_history)
    x = jnp.asarray(x)
    if ts.ndim != 1 or ms.shape[0] != ts.shape[0] or ms.shape[1:] != x.shape:
        raise ValueError(
            f"{fn}: model_history must be (k, *x.shape) and t_history (k,), got "
            f"{ms.shape} and {ts.shape} for x of shape {x.shape}"
        )
    if ts.shape[0] < order:
        raise ValueError(
            f"{fn}: order {order} needs {order} past outputs, got {ts.shape[0]}"
        )
    return _multi(
        x, ms, _coef(schedule, ts), _coef(schedule, t), order, algorithm, solver_type
    )


# ----------------------------------------------------------------- order schedules


def singlestep_orders(steps: int, order: int) -> list[int]:
    """The per-step orders of singlestep "DPM-Solver-fast" with ``steps`` NFE.

    Order 3: ``K = steps // 3 + 1`` steps, ``[3]*(K-2) + [2, 1]``,
    ``[3]*(K-1) + [1]`` or ``[3]*(K-1) + [2]`` for ``steps % 3 = 0, 1, 2``;
    order 2: ``[2]*(steps//2)`` plus ``[1]`` when ``steps`` is odd; order 1:
    ``[1]*steps`` (the official schedules).

    Args:
        steps: the NFE budget.
        order: 1, 2 or 3.

    Returns:
        The list of orders; their sum is ``steps``.

    Raises:
        ValueError: on an order outside 1..3 or ``steps < 1``.

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver: A fast
        ODE solver for diffusion probabilistic model sampling in around 10
        steps", *NeurIPS* 2022. arXiv:2206.00927.
    """
    _check_order("singlestep_orders", order)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(
            f"singlestep_orders: steps must be a positive int, got {steps!r}"
        )
    if order == 3:
        k = steps // 3 + 1
        if steps % 3 == 0:
            return [3] * (k - 2) + [2, 1]
        if steps % 3 == 1:
            return [3] * (k - 1) + [1]
        return [3] * (k - 1) + [2]
    if order == 2:
        return [2] * (steps // 2) + ([1] if steps % 2 else [])
    return [1] * steps


def multistep_orders(steps: int, order: int, lower_order_final: bool) -> list[int]:
    """Per-step orders of the multistep sampler (warm-up, then ``order``).

    Step ``i`` (1-based) uses ``min(order, i)``; with ``lower_order_final``
    and ``steps < 10`` (the official rule) it also uses at most
    ``steps + 1 - i`` at the end.

    Args:
        steps: number of steps (= NFE).
        order: 1, 2 or 3.
        lower_order_final: apply the official final-step rule.

    Returns:
        The list of ``steps`` orders.

    Raises:
        ValueError: on an order outside 1..3 or ``steps < order``.

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: Fast
        solver for guided sampling of diffusion probabilistic models",
        arXiv:2211.01095, 2022.
    """
    _check_order("multistep_orders", order)
    if not isinstance(steps, int) or steps < order:
        raise ValueError(
            f"multistep_orders: steps must be an int >= order = {order}, got {steps!r}"
        )
    out = []
    for i in range(1, steps + 1):
        o = min(order, i)
        if lower_order_final and steps < 10:
            o = min(o, steps + 1 - i)
        out.append(o)
    return out


# ----------------------------------------------------------------- samplers


class DPMSolverInfo(eqx.Module):
    """What a sampler did.

    Attributes:
        nfe: number of model evaluations.
        timesteps: the time grid the sampler stepped through (for the
            adaptive method: the accepted times, padded with NaN to
            ``max_steps + 1``).
        num_steps: number of (accepted) steps.
        orders: the order of every step (fixed-step methods; empty for the
            adaptive one).
        success: False if the adaptive sampler stopped before reaching
            ``t_end``: ``max_steps`` tries used up, or a non-finite error
            estimate (e.g. the model returned NaN).

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver: A fast
        ODE solver for diffusion probabilistic model sampling in around 10
        steps", *NeurIPS* 2022. arXiv:2206.00927.
    """

    nfe: Int[Array, ""]
    timesteps: Float[Array, " n"]
    num_steps: Int[Array, ""]
    orders: Int[Array, " k"]
    success: Array


def _run_multistep(model, x, grid, orders, algorithm, solver_type):
    """Multistep loop: unrolled warm-up and tail, one scan for the middle."""
    order = max(orders)
    m0 = model(x, grid.at(0))
    # Model-output history, oldest first, as a tuple of arrays: shifting the
    # tuple costs nothing, where rebuilding a stacked buffer copied all of it
    # every step (3 ms per step at 1000 x 1024 float64).
    ms = (m0,) * order
    cps = jax.tree.map(lambda a: jnp.stack([a[0]] * order), grid)
    steps = len(orders)

    def push(buf, v):
        return jnp.concatenate([buf[1:], v[None]])

    def step(x, ms, cps, i, o, evaluate):
        ct = grid.at(i)
        x = _multi(x, ms, cps, ct, o, algorithm, solver_type)
        cps = jax.tree.map(push, cps, ct)
        if evaluate:
            ms = (*ms[1:], model(x, ct))
        return x, ms, cps

    # The middle: steps whose order equals `order` and that evaluate the model.
    first_full = next((i for i, o in enumerate(orders) if o == order), steps)
    last_full = max((i for i, o in enumerate(orders) if o == order), default=-1)
    last_full = min(last_full, steps - 2)  # the final step never evaluates
    i = 0
    while i < first_full:
        x, ms, cps = step(x, ms, cps, i + 1, orders[i], i < steps - 1)
        i += 1
    if last_full >= first_full:

        def body(carry, idx):
            x, ms, cps = carry
            return step(x, ms, cps, idx, order, True), None

        idxs = jnp.arange(first_full + 1, last_full + 2)
        (x, ms, cps), _ = jax.lax.scan(body, (x, ms, cps), idxs)
        i = last_full + 1
    while i < steps:
        x, ms, cps = step(x, ms, cps, i + 1, orders[i], i < steps - 1)
        i += 1
    return x


def diffusers_orders(steps: int, order: int) -> list[int]:
    """Orders of ``DPMSolverMultistepScheduler`` calls 0..steps-2 (the last is a jump).

    Call ``k`` uses ``min(order, k + 1)``, and at most 2 at ``k = steps - 2``
    when ``steps < 15`` (diffusers' ``lower_order_final``); the final call is
    a first-order jump to sigma = 0 (``final_sigmas_type="zero"``).
    """
    out = []
    for k in range(steps - 1):
        o = min(order, k + 1)
        if k == steps - 2 and steps < 15:
            o = min(o, 2)
        out.append(o)
    return out


def _run_diffusers(
    model, data_model, x, schedule, steps, order, algorithm, solver_type
):
    """diffusers' ``DPMSolverMultistepScheduler`` rules on a discrete schedule."""
    n = schedule.total_N
    ts = np.round(np.linspace(0, n - 1, steps + 1))[::-1][:-1].astype(np.int64)
    grid_t = jnp.asarray((ts + 1.0) / n)
    grid = _coef(schedule, grid_t)
    orders = diffusers_orders(steps, order)
    # diffusers' "heun" is the Taylor form at order 2 but keeps the official
    # (halved second-derivative) 3M formula: internal solver type "heun".
    stype = "heun" if solver_type == "taylor" else solver_type
    if orders:  # steps - 1 multistep steps, then the jump to sigma = 0
        x = _run_multistep(model, x, grid, orders, algorithm, stype)
    return data_model(x, grid.at(steps - 1)), grid_t, orders


def _run_singlestep(model, x, grid, orders, rs, algorithm, solver_type, schedule):
    """Singlestep loop over outer intervals: one scan over the max-order run."""
    order = max(orders)
    n = len(orders)
    run = next((i for i, o in enumerate(orders) if o != order), n)

    def step(x, i, o):
        cs, ct = grid.at(i), grid.at(i + 1)
        m_s = model(x, cs)
        return _singlestep(
            model,
            x,
            cs,
            ct,
            m_s,
            o,
            rs[0][i] if o > 1 else None,
            rs[1][i] if o > 2 else None,
            algorithm,
            solver_type,
            schedule,
        )

    if run > 0:

        def body(x, i):
            return step(x, i, order), None

        x, _ = jax.lax.scan(body, x, jnp.arange(run))
    for i in range(run, n):
        x = step(x, i, orders[i])
    return x


def _run_adaptive(
    model,
    x,
    t_start,
    t_end,
    order,
    algorithm,
    solver_type,
    schedule,
    atol,
    rtol,
    max_steps,
    h_init=0.05,
    theta=0.9,
    t_err=1e-5,
):
    """DPM-Solver-12 / -23 with the official step-size controller."""
    c_end = _coef(schedule, t_end)

    def cond(st):
        # Stop at t_end, after max_steps tries (accepted or not), or when the
        # step size stops being finite (a model that returned NaN).
        x, x_prev, cs, h, nfe, k, ts = st
        tries = nfe // order
        return (jnp.abs(cs.t - t_end) > t_err) & (tries < max_steps) & jnp.isfinite(h)

    def body(st):
        x, x_prev, cs, h, nfe, k, ts = st
        ct = _coef_from_lambda(schedule, cs.lam + h)
        m_s = model(x, cs)
        if order == 2:
            x_low = _first(x, cs, ct, m_s, algorithm)
            x_high, _ = _single2(
                model, x, cs, ct, m_s, 0.5, algorithm, solver_type, schedule
            )
        else:
            x_low, m_s1 = _single2(
                model, x, cs, ct, m_s, 1.0 / 3.0, algorithm, solver_type, schedule
            )
            x_high = _single3(
                model,
                x,
                cs,
                ct,
                m_s,
                1.0 / 3.0,
                2.0 / 3.0,
                algorithm,
                solver_type,
                schedule,
                m_s1=m_s1,
            )
        delta = jnp.maximum(atol, rtol * jnp.maximum(jnp.abs(x_low), jnp.abs(x_prev)))
        # RMS per sample (leading axis; a 1-D state is one sample).
        rows = x.shape[0] if x.ndim > 1 else 1
        err = ((x_high - x_low) / delta).reshape(rows, -1)
        e = jax.lax.stop_gradient(jnp.max(jnp.sqrt(jnp.mean(err**2, axis=-1))))
        accept = e <= 1.0
        x = jnp.where(accept, x_high, x)
        x_prev = jnp.where(accept, x_low, x_prev)
        cs = jax.tree.map(lambda a, b: jnp.where(accept, a, b), ct, cs)
        k = k + accept.astype(k.dtype)
        ts = jnp.where(accept, ts.at[k].set(ct.t), ts)
        h = jnp.minimum(theta * h * e ** (-1.0 / order), c_end.lam - cs.lam)
        h = jax.lax.stop_gradient(h)
        return x, x_prev, cs, h, nfe + order, k, ts

    c0 = _coef(schedule, t_start)
    ts = jnp.full((max_steps + 1,), jnp.nan, c0.t.dtype).at[0].set(c0.t)
    init = (
        x,
        x,
        c0,
        jnp.asarray(h_init, c0.lam.dtype),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), jnp.int32),
        ts,
    )
    x, _, cs, _, nfe, k, ts = jax.lax.while_loop(cond, body, init)
    return x, nfe, k, ts, jnp.abs(cs.t - t_end) <= t_err


def _check_sampler_args(fn, method, algorithm, skip_type, solver_type, order, steps):
    _check_choice(fn, "method", method, METHODS)
    _check_choice(fn, "algorithm", algorithm, ALGORITHMS)
    _check_choice(fn, "skip_type", skip_type, SKIP_TYPES)
    _check_choice(fn, "solver_type", solver_type, SOLVER_TYPES)
    if method == "adaptive":
        _check_order(fn, order, (2, 3))
        return
    _check_order(fn, order)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < order:
        raise ValueError(
            f"{fn}: steps must be an int >= order = {order}, got {steps!r}"
        )


def _sample(
    fn,
    eps_fn,
    schedule,
    x,
    t_start,
    t_end,
    *,
    steps,
    order,
    method,
    algorithm,
    skip_type,
    lower_order_final,
    denoise_to_zero,
    solver_type,
    correcting_x0_fn,
    atol,
    rtol,
    max_steps,
    reverse=False,
    diffusers_compat=False,
):
    def grid_times(n):
        # Inversion runs the same grid points backwards (as the official code).
        if reverse:
            return time_steps(
                schedule, n, kind=skip_type, t_start=t_end, t_end=t_start
            )[::-1]
        return time_steps(schedule, n, kind=skip_type, t_start=t_start, t_end=t_end)

    _check_sampler_args(fn, method, algorithm, skip_type, solver_type, order, steps)
    check_schedule(fn, schedule)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x must be a floating array, got {x.dtype}")
    # The solver combines states in the schedule's (default float) precision,
    # e.g. float64 under x64 even for float32 data; the model sees x's dtype.
    in_dtype = x.dtype
    work = _work_dtype(in_dtype)
    x = x.astype(work)
    model = _make_model(eps_fn, algorithm, correcting_x0_fn, in_dtype)
    if diffusers_compat:
        if method != "multistep" or schedule.kind != "discrete":
            raise ValueError(
                f"{fn}: diffusers_compat=True needs method='multistep' and a "
                f"discrete schedule, got method={method!r}, schedule kind "
                f"{schedule.kind!r}"
            )
        data_model = _make_model(eps_fn, "dpmsolver++", correcting_x0_fn, in_dtype)
        x_out, grid_t, orders = _run_diffusers(
            model, data_model, x, schedule, steps, order, algorithm, solver_type
        )
        info = DPMSolverInfo(
            jnp.asarray(steps, jnp.int32),
            jnp.concatenate([grid_t, jnp.zeros(1)]),
            jnp.asarray(steps, jnp.int32),
            jnp.asarray([*orders, 1], jnp.int32),
            jnp.asarray(True),
        )
        return x_out.astype(in_dtype), info
    if method == "adaptive":
        x_out, nfe, k, ts, ok = _run_adaptive(
            model,
            x,
            t_start,
            t_end,
            order,
            algorithm,
            solver_type,
            schedule,
            atol,
            rtol,
            max_steps,
        )
        info = DPMSolverInfo(nfe, ts, k, jnp.zeros((0,), jnp.int32), ok)
    elif method == "multistep":
        grid_t = grid_times(steps)
        orders = multistep_orders(steps, order, lower_order_final)
        x_out = _run_multistep(
            model, x, _coef(schedule, grid_t), orders, algorithm, solver_type
        )
        info = DPMSolverInfo(
            jnp.asarray(steps, jnp.int32),
            grid_t,
            jnp.asarray(steps, jnp.int32),
            jnp.asarray(orders, jnp.int32),
            jnp.asarray(True),
        )
    else:
        if method == "singlestep":
            orders = singlestep_orders(steps, order)
        else:
            orders = [order] * (steps // order)
        k = len(orders)
        if skip_type == "logSNR" or method == "singlestep_fixed":
            outer = grid_times(k)
        else:
            full = grid_times(steps)
            outer = full[jnp.asarray([0, *itertools.accumulate(orders)])]
        grid = _coef(schedule, outer)
        r1s, r2s = [], []
        for i, o in enumerate(orders):
            zero = jnp.zeros((), grid.lam.dtype)
            if o == 1:
                r1s.append(zero)
                r2s.append(zero)
                continue
            lam = _inner_lambdas(schedule, skip_type, outer[i], outer[i + 1], o)
            h = lam[-1] - lam[0]
            r1s.append((lam[1] - lam[0]) / h)
            r2s.append((lam[2] - lam[0]) / h if o > 2 else zero)
        rs = (jnp.stack(r1s), jnp.stack(r2s))
        x_out = _run_singlestep(
            model, x, grid, orders, rs, algorithm, solver_type, schedule
        )
        info = DPMSolverInfo(
            jnp.asarray(sum(orders), jnp.int32),
            outer,
            jnp.asarray(k, jnp.int32),
            jnp.asarray(orders, jnp.int32),
            jnp.asarray(True),
        )
    if denoise_to_zero:
        c_end = _coef(schedule, t_end)
        x_out = _make_model(eps_fn, "dpmsolver++", correcting_x0_fn, in_dtype)(
            x_out, c_end
        )
        info = eqx.tree_at(lambda i: i.nfe, info, info.nfe + 1)
    return x_out.astype(in_dtype), info


def _inner_lambdas(schedule, kind, s, t, n):
    """``lambda`` at the ``n + 1`` points of a ``kind`` grid from ``s`` to ``t``.

    The same spacings as :func:`time_steps`, for the inner points of one
    singlestep interval (traced endpoints, so no argument checks here).
    """
    k = jnp.arange(n + 1, dtype=jnp.result_type(s, t)) / n
    if kind == "logSNR":
        ls, lt = schedule.lambda_(s), schedule.lambda_(t)
        return ls + k * (lt - ls)
    if kind == "time_uniform":
        return schedule.lambda_(s + k * (t - s))
    if kind == "time_quadratic":
        rs, rt = jnp.sqrt(s), jnp.sqrt(t)
        return schedule.lambda_((rs + k * (rt - rs)) ** 2)
    # karras: rho = 7 spacing of the VE sigma = exp(-lambda)
    rho = 7.0
    smax = jnp.exp(-schedule.lambda_(s)) ** (1.0 / rho)
    smin = jnp.exp(-schedule.lambda_(t)) ** (1.0 / rho)
    return -rho * jnp.log(smax + k * (smin - smax))


@eqx.filter_jit
def dpm_solver_sample(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    x_T: Float[ArrayLike, "*shape"],
    *,
    steps: int = 20,
    order: int = 2,
    method: str = "multistep",
    algorithm: str = "dpmsolver++",
    skip_type: str = "time_uniform",
    t_start: float | None = None,
    t_end: float | None = None,
    lower_order_final: bool = True,
    denoise_to_zero: bool = False,
    solver_type: str = "dpmsolver",
    correcting_x0_fn: Callable[[Array, Array], Array] | None = None,
    atol: float = 0.0078,
    rtol: float = 0.05,
    max_steps: int = 1000,
    diffusers_compat: bool = False,
) -> tuple[Float[Array, "*shape"], DPMSolverInfo]:
    r"""Sample a diffusion model with DPM-Solver or DPM-Solver++.

    Solves the probability-flow ODE of a VP diffusion from ``t_start``
    (default ``schedule.T``) to ``t_end`` (default ``schedule.t_eps``)
    starting at ``x_T``, with the exact exponential integrator in the
    half-log-SNR $\lambda$ and a Taylor expansion of the model output:

    - ``method="multistep"`` (default): DPM-Solver(++) ``order``-M, one model
      call per step, warm-up with lower orders; with ``lower_order_final``
      and ``steps < 10`` the last steps lower their order (official rule).
    - ``"singlestep"``: DPM-Solver-fast, mixing orders to use exactly
      ``steps`` model calls (see :func:`singlestep_orders`).
    - ``"singlestep_fixed"``: ``steps // order`` steps of one order.
    - ``"adaptive"``: DPM-Solver-12 (``order=2``) or -23 (``order=3``) with
      the official error controller (``atol``, ``rtol``); ``steps`` is
      ignored and the NFE is reported. Reverse-mode differentiation through
      it is not supported (``lax.while_loop``).

    ``algorithm="dpmsolver++"`` expands the data prediction (recommended for
    guided sampling, order 2 multistep); ``"dpmsolver"`` the noise
    prediction. The sampler is one jitted program (``eqx.filter_jit``;
    ``steps``, ``order``, ``method`` and the other strings are static), and
    fixed-step methods are differentiable with respect to ``x_T`` and to any
    arrays inside ``eps_fn`` (an ``eqx.Module``).

    Args:
        eps_fn: noise-prediction model ``eps_fn(x, t) -> eps`` called with
            the whole batch ``x`` (shape of ``x_T``) and a scalar continuous
            time ``t``; wrap other parameterizations with
            :func:`as_noise_prediction`.
        schedule: the :class:`VPSchedule` the model was trained with.
        x_T: the starting state (usually standard normal noise).
        steps: number of model evaluations for fixed-step methods (static).
        order: 1, 2 or 3 (adaptive: 2 or 3).
        method: ``"multistep"``, ``"singlestep"``, ``"singlestep_fixed"`` or
            ``"adaptive"``.
        algorithm: ``"dpmsolver++"`` or ``"dpmsolver"``.
        skip_type: time grid, ``"time_uniform"`` (official default),
            ``"logSNR"``, ``"time_quadratic"`` or ``"karras"``.
        t_start: start time (default ``schedule.T``).
        t_end: end time (default ``schedule.t_eps``).
        lower_order_final: lower the order of the last multistep steps when
            ``steps < 10``.
        denoise_to_zero: finish with a data prediction at ``t_end`` (one
            more model call).
        solver_type: ``"dpmsolver"`` (official formulas) or ``"taylor"``.
            For multistep order 3 the official formula keeps half of the
            second-derivative term, so it converges at order 2 (measured
            slope 2.05); ``"taylor"`` uses the full term and converges at
            order 3.
        correcting_x0_fn: optional ``fn(x0, t) -> x0`` applied to data
            predictions (e.g. :func:`dynamic_thresholding`).
        atol: absolute tolerance of the adaptive method.
        rtol: relative tolerance of the adaptive method.
        max_steps: cap on the adaptive method's tries (accepted or rejected
            steps); when it is hit, ``info.success`` is False.
        diffusers_compat: follow ``diffusers.DPMSolverMultistepScheduler``
            (default config) instead of the official code: integer timesteps
            ``round(linspace(0, N - 1, steps + 1))[::-1][:-1]`` of a discrete
            schedule, the ``steps < 15`` lower-order rule, and a final
            first-order jump to sigma = 0 (the last step returns the data
            prediction; ``t_end`` is ignored). Multistep only.
            ``solver_type`` ``"dpmsolver"``/``"taylor"`` are diffusers'
            ``"midpoint"``/``"heun"`` (whose 3M keeps the official formula).

    Returns:
        ``(x_0, info)``: the sample at ``t_end`` and a :class:`DPMSolverInfo`.

    Raises:
        ValueError: on an unknown method, algorithm, skip type or solver type,
            an order outside 1..3, ``steps < order``, ``t_end >= t_start``,
            or a model returning the wrong shape (all at trace time).
        TypeError: if ``schedule`` is not a :class:`VPSchedule` or ``x_T`` is
            not floating.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.diffusion import VPSchedule, dpm_solver_sample
        >>> sch = VPSchedule.linear()
        >>> eps_fn = lambda x, t: sch.sigma(t) * x  # data ~ N(0, I) exactly
        >>> x0, info = dpm_solver_sample(eps_fn, sch, jr.normal(jr.key(0), (4, 2)),
        ...                              steps=10)
        >>> x0.shape, int(info.nfe)
        ((4, 2), 10)

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver: A fast
        ODE solver for diffusion probabilistic model sampling in around 10
        steps", *NeurIPS* 2022. arXiv:2206.00927.

        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: Fast
        solver for guided sampling of diffusion probabilistic models",
        arXiv:2211.01095, 2022.
    """
    fn = "dpm_solver_sample"
    check_schedule(fn, schedule)
    t0 = schedule.T if t_start is None else t_start
    t1 = schedule.t_eps if t_end is None else t_end
    if isinstance(t0, (int, float)) and isinstance(t1, (int, float)) and not t1 < t0:
        raise ValueError(f"{fn}: t_end must be < t_start, got t_start={t0}, t_end={t1}")
    return _sample(
        fn,
        eps_fn,
        schedule,
        x_T,
        t0,
        t1,
        steps=steps,
        order=order,
        method=method,
        algorithm=algorithm,
        skip_type=skip_type,
        lower_order_final=lower_order_final,
        denoise_to_zero=denoise_to_zero,
        solver_type=solver_type,
        correcting_x0_fn=correcting_x0_fn,
        atol=atol,
        rtol=rtol,
        max_steps=max_steps,
        diffusers_compat=diffusers_compat,
    )


@eqx.filter_jit
def dpm_solver_inverse(
    eps_fn: EpsFn,
    schedule: VPSchedule,
    x_0: Float[ArrayLike, "*shape"],
    *,
    steps: int = 20,
    order: int = 2,
    method: str = "multistep",
    algorithm: str = "dpmsolver++",
    skip_type: str = "time_uniform",
    t_start: float | None = None,
    t_end: float | None = None,
    lower_order_final: bool = True,
    solver_type: str = "dpmsolver",
) -> tuple[Float[Array, "*shape"], DPMSolverInfo]:
    r"""Deterministic encoding: run the probability-flow ODE forward, ``x_0 -> x_T``.

    The same solvers as :func:`dpm_solver_sample` on the same time grid
    traversed backwards, from ``t_start`` (default ``schedule.t_eps``) to
    ``t_end`` (default ``schedule.T``): the inverse used for image editing
    (official ``DPM_Solver.inverse``). Decoding the result with
    :func:`dpm_solver_sample` and the same settings returns ``x_0`` up to the
    solvers' discretization error.

    Args:
        eps_fn: noise-prediction model ``eps_fn(x, t)``.
        schedule: the :class:`VPSchedule`.
        x_0: the data to encode.
        steps: number of model evaluations (static).
        order: 1, 2 or 3.
        method: ``"multistep"``, ``"singlestep"`` or ``"singlestep_fixed"``.
        algorithm: ``"dpmsolver++"`` or ``"dpmsolver"``.
        skip_type: time grid (as in :func:`dpm_solver_sample`).
        t_start: start time (default ``schedule.t_eps``).
        t_end: end time (default ``schedule.T``).
        lower_order_final: as in :func:`dpm_solver_sample`.
        solver_type: ``"dpmsolver"`` or ``"taylor"``.

    Returns:
        ``(x_T, info)``.

    Raises:
        ValueError: as :func:`dpm_solver_sample`, for ``method="adaptive"``,
            or if ``t_end <= t_start``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule, dpm_solver_inverse
        >>> sch = VPSchedule.linear()
        >>> eps_fn = lambda x, t: sch.sigma(t) * x
        >>> xT, info = dpm_solver_inverse(eps_fn, sch, jnp.ones((2, 3)), steps=8)
        >>> xT.shape
        (2, 3)

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: Fast
        solver for guided sampling of diffusion probabilistic models",
        arXiv:2211.01095, 2022.
    """
    fn = "dpm_solver_inverse"
    check_schedule(fn, schedule)
    if method == "adaptive":
        raise ValueError(f"{fn}: method='adaptive' is not supported for inversion")
    t0 = schedule.t_eps if t_start is None else t_start
    t1 = schedule.T if t_end is None else t_end
    if isinstance(t0, (int, float)) and isinstance(t1, (int, float)) and not t0 < t1:
        raise ValueError(f"{fn}: t_end must be > t_start, got t_start={t0}, t_end={t1}")
    return _sample(
        fn,
        eps_fn,
        schedule,
        x_0,
        t0,
        t1,
        steps=steps,
        order=order,
        method=method,
        algorithm=algorithm,
        skip_type=skip_type,
        lower_order_final=lower_order_final,
        denoise_to_zero=False,
        solver_type=solver_type,
        correcting_x0_fn=None,
        atol=0.0,
        rtol=0.0,
        max_steps=1,
        reverse=True,
    )

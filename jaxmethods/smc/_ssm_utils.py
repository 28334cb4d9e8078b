"""Utilities that work for any :class:`StateSpaceModel`."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray, PyTree

from ._ssm import Params, StateSpaceModel


@eqx.filter_jit
def simulate(
    key: PRNGKeyArray, model: StateSpaceModel, params: Params, num_steps: int
) -> tuple[PyTree, PyTree]:
    r"""Simulate states and observations $(x_{0:T-1}, y_{0:T-1})$ from a model.

    Draws $x_0$ with ``model.sample_init``, then $x_t$ with
    ``model.sample_transition`` for $t = 1, \dots, T-1$, and each $y_t$ with
    ``model.sample_observation(key, x_t, t, params)``, which
    :class:`StateSpaceModel` does not require but this function does. The
    step for time $t$ uses keys folded in with $t$, so the first $T$ steps of a
    longer simulation with the same key are the same. One ``lax.scan``;
    jitted with ``eqx.filter_jit`` (``num_steps`` is static). The time index
    passed to the model is an ``int32`` scalar array.

    Args:
        key: PRNG key.
        model: a :class:`StateSpaceModel` with a ``sample_observation`` method.
        params: the model parameters (any pytree the model accepts).
        num_steps: the number of time steps $T \ge 1$ (static).

    Returns:
        ``(xs, ys)``: the states and observations stacked along a new leading
        axis of length ``num_steps`` (leaf-wise for pytree states).

    Raises:
        TypeError: ``model`` is not a :class:`StateSpaceModel` or has no
            ``sample_observation`` method.
        ValueError: ``num_steps`` is not a positive int.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr, jaxmethods as jm
        >>> p = jm.smc.LGSSMParams(m0=jnp.zeros(2), P0=jnp.eye(2), A=0.9 * jnp.eye(2),
        ...                        Q=jnp.eye(2), C=jnp.ones((1, 2)), R=jnp.eye(1))
        >>> xs, ys = jm.smc.simulate(jr.key(0), jm.smc.LinearGaussianSSM(), p, 10)
        >>> xs.shape, ys.shape
        ((10, 2), (10, 1))

    References:
        N. Chopin, O. Papaspiliopoulos, "An Introduction to Sequential Monte
        Carlo", Springer (2020), chapter 2.
    """
    fn = "simulate"
    if not isinstance(model, StateSpaceModel):
        raise TypeError(
            f"{fn}: model must be a StateSpaceModel, got {type(model).__name__}"
        )
    if not callable(getattr(model, "sample_observation", None)):
        raise TypeError(
            f"{fn}: {type(model).__name__} has no sample_observation(key, x, t, "
            "params) method, which simulate needs to draw observations"
        )
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"{fn}: num_steps must be a positive int, got {num_steps!r}")
    k_x, k_y = jr.split(key)
    t0 = jnp.zeros((), jnp.int32)
    any_model: Any = model  # sample_observation is not part of the base class
    sample_observation = any_model.sample_observation
    x0 = model.sample_init(jr.fold_in(k_x, 0), params)
    y0 = sample_observation(jr.fold_in(k_y, 0), x0, t0, params)

    def step(x_prev, t):
        x = model.sample_transition(jr.fold_in(k_x, t), x_prev, t, params)
        y = sample_observation(jr.fold_in(k_y, t), x, t, params)
        return x, (x, y)

    ts = jnp.arange(1, num_steps, dtype=jnp.int32)
    _, (xs, ys) = jax.lax.scan(step, x0, ts)

    def cat(first, rest):
        return jnp.concatenate([jnp.asarray(first)[None], rest], axis=0)

    return jax.tree.map(cat, x0, xs), jax.tree.map(cat, y0, ys)

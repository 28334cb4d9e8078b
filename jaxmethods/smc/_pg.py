"""Conditional SMC with backward sampling, and PaRIS particle Gibbs (PPG)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree, Scalar

from ._backward import backward_indices, log_m_bound_for
from ._filters import (
    check_model,
    check_num_particles,
    forward_step,
    init_particles,
    num_steps,
    take,
    tree_index,
)
from ._paris import check_paris_args, paris_update, weighted_mean
from ._resampling import normalized_weights
from ._ssm import Params, Proposal, StateSpaceModel, as_additive


def check_reference(fn: str, model, params, reference: PyTree, T: int) -> None:
    """``reference`` must be a path: the state's structure with a leading axis ``T``."""
    state = jax.eval_shape(model.sample_init, jr.key(0), params)
    s_leaves, s_def = jax.tree.flatten(state)
    r_leaves, r_def = jax.tree.flatten(reference)
    if s_def != r_def:
        raise ValueError(
            f"{fn}: reference must have the structure of a state with a leading time "
            f"axis; states are {s_def}, got {r_def}"
        )
    for s, r in zip(s_leaves, r_leaves, strict=True):
        if tuple(jnp.shape(r)) != (T, *s.shape):
            raise ValueError(
                f"{fn}: reference leaves must have shape (T, *state_shape) = "
                f"{(T, *s.shape)}, got {tuple(jnp.shape(r))}"
            )


def _conditional_forward(
    key, model, params, ys, reference, n, proposal, on_step, carry0_fn
):
    """Run the conditional particle system; ``on_step`` adds per-step work.

    ``carry0_fn(x0, lw0)`` builds the extra carry at ``t = 0``;
    ``on_step(key, extra, x_prev, lw_prev, x_new, y, t, ancestors)`` returns
    ``(extra_new, per_step_output)``.
    """
    T = num_steps("csmc", ys)
    k0, k_steps = jr.split(key)
    x0, lw0 = init_particles(
        k0, model, params, tree_index(ys, 0), n, proposal, tree_index(reference, 0)
    )

    def body(carry, t):
        x, lw, extra = carry
        k_fwd, k_extra = jr.split(jr.fold_in(k_steps, t))
        y = tree_index(ys, t)
        x_new, lw_new, info = forward_step(
            k_fwd,
            model,
            params,
            x,
            lw,
            y,
            t,
            proposal=proposal,
            reference_t=tree_index(reference, t),
        )
        extra, out = on_step(k_extra, extra, x, lw, x_new, y, t, info.ancestors)
        return (x_new, lw_new, extra), (x_new, lw_new, info.ancestors, out)

    (x_last, lw_last, extra), (xs, lws, ancs, outs) = jax.lax.scan(
        body, (x0, lw0, carry0_fn(x0, lw0)), jnp.arange(1, T, dtype=jnp.int32)
    )
    particles = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), x0, xs)
    log_weights = jnp.concatenate([lw0[None], lws])
    ancestors = jnp.concatenate([jnp.arange(n, dtype=jnp.int32)[None], ancs])
    return particles, log_weights, ancestors, extra, outs


class CSMCOutput(eqx.Module):
    """Output of :func:`csmc`.

    Attributes:
        path: the new reference path drawn by backward sampling (leaves with
            a leading axis ``T``).
        particles: all particles, leaves ``(T, N, ...)``; the last particle
            of every time step is the old reference.
        log_weights: filtering log-weights, ``(T, N)``, unnormalized.
        ancestors: ``(T, N)`` int32 (``ancestors[t, N-1] = N - 1``).
        log_evidence: the conditional SMC's log-evidence estimate.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    path: PyTree[Array]
    particles: PyTree[Array]
    log_weights: Float[Array, "T N"]
    ancestors: Int[Array, "T N"]
    log_evidence: Scalar


def backward_path(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    particles: PyTree,
    log_weights: Array,
    ancestors: Array,
    *,
    backward: str = "exact",
    mcmc_steps: int = 2,
) -> PyTree:
    """Draw one path by backward sampling through a stored particle system."""
    T = log_weights.shape[0]
    k_last, k_steps = jr.split(key)
    fn = "backward sampling"
    w_last = normalized_weights(fn, log_weights[-1])
    u = jr.uniform(k_last, (), w_last.dtype)
    b_last = jnp.minimum(
        jnp.searchsorted(jnp.cumsum(w_last), u, side="right"), w_last.shape[0] - 1
    ).astype(jnp.int32)

    def body(b_next, t):
        # Draw b_t given b_{t+1}; `t` runs T-2, ..., 0.
        x_t = tree_index(particles, t)
        x_next = take(tree_index(particles, t + 1), b_next[None])

        def log_m(xp, xn):
            return model.log_transition(xp, xn, t + 1, params)

        b = backward_indices(
            jr.fold_in(k_steps, t),
            x_t,
            log_weights[t],
            x_next,
            log_m,
            1,
            method=backward,
            ancestors=ancestors[t + 1][b_next][None],
            mcmc_steps=mcmc_steps,
            log_m_bound=log_m_bound_for(model, t + 1, params, backward),
        )[0, 0]
        return b, b

    _, bs = jax.lax.scan(body, b_last, jnp.arange(T - 2, -1, -1, dtype=jnp.int32))
    idx = jnp.concatenate([bs[::-1], b_last[None]])
    return jax.tree.map(lambda a: a[jnp.arange(T), idx], particles)


@eqx.filter_jit
def csmc(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    ys: PyTree,
    reference: PyTree,
    num_particles: int,
    *,
    backward: str = "exact",
    proposal: Proposal | None = None,
    mcmc_steps: int = 2,
) -> CSMCOutput:
    r"""Conditional SMC with backward sampling: one particle Gibbs move.

    Particles ``0 .. N-2`` are generated as in :func:`particle_filter`
    (conditional multinomial resampling at every step); particle ``N-1`` is
    frozen to ``reference``. A new path is then drawn by backward sampling,
    $b_{T-1} \sim \mathrm{Cat}(W_{T-1})$, $b_t \sim \Lambda_t(b_{t+1}, \cdot)$.
    The map ``reference -> path`` is a Markov kernel that leaves the
    smoothing distribution $p(x_{0:T-1} \mid y_{0:T-1})$ invariant for any
    $N \ge 2$.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters.
        ys: observations, leading axis ``T``.
        reference: the current path, a state pytree with leading axis ``T``.
        num_particles: ``N >= 2`` (static).
        backward: backward sampler for the path, ``"exact"`` (default),
            ``"mcmc"`` (started at the ancestor) or ``"rejection"``.
        proposal: optional :class:`Proposal`.
        mcmc_steps: steps per draw for ``backward="mcmc"``.

    Returns:
        A :class:`CSMCOutput` whose ``path`` is the new reference.

    Raises:
        ValueError: if ``num_particles < 2``, the reference's shape does not
            match ``(T, *state_shape)``, or other arguments are bad.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import csmc, LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.9 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> ys = jnp.ones((10, 1))
        >>> out = csmc(jr.key(0), LinearGaussianSSM(), p, ys, jnp.zeros((10, 1)), 32)
        >>> out.path.shape
        (10, 1)

    References:
        C. Andrieu, A. Doucet and R. Holenstein, "Particle Markov chain Monte
        Carlo methods", *Journal of the Royal Statistical Society B* 72(3),
        269-342, 2010.

        N. Whiteley, "Discussion on Particle Markov chain Monte Carlo
        methods", *JRSS B* 72(3), 306-307, 2010.
    """
    fn = "csmc"
    check_paris_args(fn, model, num_particles, 1, backward, mcmc_steps, None, minimum=2)
    T = num_steps(fn, ys)
    check_reference(fn, model, params, reference, T)
    k_fwd, k_bwd = jr.split(key)
    particles, log_weights, ancestors, _, _ = _conditional_forward(
        k_fwd,
        model,
        params,
        ys,
        reference,
        num_particles,
        proposal,
        lambda k, extra, *a: (extra, None),
        lambda x0, lw0: None,
    )
    path = backward_path(
        k_bwd,
        model,
        params,
        particles,
        log_weights,
        ancestors,
        backward=backward,
        mcmc_steps=mcmc_steps,
    )
    return CSMCOutput(
        path=path,
        particles=particles,
        log_weights=log_weights,
        ancestors=ancestors,
        log_evidence=jnp.sum(jax.nn.logsumexp(log_weights, axis=-1)),
    )


def ppg_step(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    ys: PyTree,
    reference: PyTree,
    num_particles: int,
    additive_fn: Any,
    *,
    num_backward: int = 2,
    backward: str = "exact",
    proposal: Proposal | None = None,
    mcmc_steps: int = 2,
    max_trials: int | None = None,
) -> tuple[PyTree[Array], PyTree[Array]]:
    r"""One PaRIS particle Gibbs iteration (P01, Algorithm 2).

    Runs the conditional particle system of :func:`csmc` with ``reference``
    frozen in the last slot and, at every step, the PaRIS update of all
    ``N`` statistics (the frozen particle's too) with ``K`` backward draws.
    Returns $\Pi(h) = \sum_i W_{T-1}^i \tau_{T-1}^i$ and a new reference,
    drawn by backward sampling that reuses the PaRIS draws
    ($b_{T-1} \sim \mathrm{Cat}(W_{T-1})$, then $b_{t-1} = J_t^{b_t, k}$ with
    $k$ uniform), which has the law of exact backward sampling when
    ``backward`` is exact. From a reference drawn from the smoothing law the
    estimate is unbiased.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters.
        ys: observations, leading axis ``T``.
        reference: the current reference path, leaves ``(T, *state_shape)``.
        num_particles: ``N >= 2`` (static).
        additive_fn: an :class:`AdditiveFunctional` or a function
            ``fn(x_prev, x, y, t, params)``.
        num_backward: ``K >= 1`` (static, default 2).
        backward: ``"exact"``, ``"mcmc"`` or ``"rejection"``.
        proposal: optional :class:`Proposal`.
        mcmc_steps: steps per draw for ``backward="mcmc"``.
        max_trials: proposal rounds for ``backward="rejection"``.

    Returns:
        ``(estimate, new_reference)``.

    Raises:
        ValueError: if ``num_particles < 2``, ``num_backward < 1``, the
            reference does not match ``(T, *state_shape)``, or the backward
            method is unknown.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """
    fn = "ppg_step"
    check_paris_args(
        fn,
        model,
        num_particles,
        num_backward,
        backward,
        mcmc_steps,
        max_trials,
        minimum=2,
    )
    T = num_steps(fn, ys)
    check_reference(fn, model, params, reference, T)
    functional = as_additive(additive_fn)
    k_fwd, k_last, k_pick = jr.split(key, 3)
    y0 = tree_index(ys, 0)

    def carry0(x0, lw0):
        return jax.vmap(lambda x: functional.init(x, y0, params))(x0)

    def on_step(k, tau, x_prev, lw_prev, x_new, y, t, ancestors):
        tau_new, j = paris_update(
            k,
            model,
            params,
            functional,
            x_prev,
            lw_prev,
            tau,
            x_new,
            y,
            t,
            num_backward=num_backward,
            backward=backward,
            ancestors=ancestors,
            mcmc_steps=mcmc_steps,
            max_trials=max_trials,
        )
        return tau_new, j

    particles, log_weights, _, tau, js = _conditional_forward(
        k_fwd, model, params, ys, reference, num_particles, proposal, on_step, carry0
    )
    estimate = weighted_mean(log_weights[-1], tau)
    # New reference: b_{T-1} ~ Cat(W_{T-1}), then b_{t-1} = J_t[b_t, k].
    w_last = normalized_weights(fn, log_weights[-1])
    u = jr.uniform(k_last, (), w_last.dtype)
    b_last = jnp.minimum(
        jnp.searchsorted(jnp.cumsum(w_last), u, side="right"), num_particles - 1
    ).astype(jnp.int32)
    ks = jr.randint(k_pick, (T - 1,), 0, num_backward)

    def back(b, inp):
        j_t, k_t = inp
        prev = j_t[b, k_t]
        return prev, prev

    _, bs = jax.lax.scan(back, b_last, (js, ks), reverse=True)
    idx = jnp.concatenate([bs, b_last[None]])
    new_reference = jax.tree.map(lambda a: a[jnp.arange(T), idx], particles)
    return estimate, new_reference


class PPGOutput(eqx.Module):
    """Output of :func:`ppg`.

    Attributes:
        estimate: the roll-out estimate, the mean of the per-iteration
            estimates after ``burn_in``.
        estimates: the estimate of every iteration (leading axis
            ``num_iters``).
        reference: the last reference path (to continue the chain).

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    estimate: PyTree[Array]
    estimates: PyTree[Array]
    reference: PyTree[Array]


@eqx.filter_jit
def ppg(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    ys: PyTree,
    init_reference: PyTree,
    num_particles: int,
    additive_fn: Any,
    *,
    num_iters: int,
    burn_in: int = 0,
    num_backward: int = 2,
    backward: str = "exact",
    proposal: Proposal | None = None,
    mcmc_steps: int = 2,
    max_trials: int | None = None,
) -> PPGOutput:
    r"""PaRIS particle Gibbs: the bias-reduced roll-out estimator of P01.

    Iterates :func:`ppg_step` ``num_iters`` times from ``init_reference``
    and averages the estimates of iterations ``burn_in + 1 .. num_iters``:
    $\hat\Pi = (k - k_0)^{-1} \sum_{\ell = k_0 + 1}^{k} \Pi_\ell(h)$. The
    bias decays geometrically in ``burn_in`` (the chain forgets its start)
    and the variance is $O(1 / ((k - k_0) N))$, so at a fixed budget a small
    ``N`` with several iterations beats one large PaRIS run in bias.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters.
        ys: observations, leading axis ``T``.
        init_reference: the starting path, leaves ``(T, *state_shape)`` (any
            path; a draw from a particle filter is a good start).
        num_particles: ``N >= 2`` (static).
        additive_fn: an :class:`AdditiveFunctional` or a function
            ``fn(x_prev, x, y, t, params)``.
        num_iters: ``k``, total iterations (static, >= 1).
        burn_in: ``k_0``, iterations left out of the average (static,
            ``0 <= burn_in < num_iters``).
        num_backward: ``K`` (static, default 2).
        backward: ``"exact"``, ``"mcmc"`` or ``"rejection"``.
        proposal: optional :class:`Proposal`.
        mcmc_steps: steps per draw for ``backward="mcmc"``.
        max_trials: proposal rounds for ``backward="rejection"``.

    Returns:
        A :class:`PPGOutput`.

    Raises:
        ValueError: on ``num_iters < 1``, ``burn_in`` outside
            ``[0, num_iters)``, or the errors of :func:`ppg_step`.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import ppg, LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.9 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> ys = jnp.ones((20, 1))
        >>> lag1 = lambda xp, x, y, t, params: xp[0] * x[0]
        >>> out = ppg(jr.key(0), LinearGaussianSSM(), p, ys, jnp.zeros((20, 1)),
        ...           16, lag1, num_iters=10, burn_in=2)
        >>> out.estimates.shape
        (10,)

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """
    fn = "ppg"
    if not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"{fn}: num_iters must be an int >= 1, got {num_iters!r}")
    if not isinstance(burn_in, int) or not 0 <= burn_in < num_iters:
        raise ValueError(
            f"{fn}: burn_in must be an int in [0, num_iters) = [0, {num_iters}), "
            f"got {burn_in!r}"
        )
    check_model(fn, model)
    check_num_particles(fn, num_particles, 2)
    functional = as_additive(additive_fn)

    def body(reference, i):
        est, new_ref = ppg_step(
            jr.fold_in(key, i),
            model,
            params,
            ys,
            reference,
            num_particles,
            functional,
            num_backward=num_backward,
            backward=backward,
            proposal=proposal,
            mcmc_steps=mcmc_steps,
            max_trials=max_trials,
        )
        return new_ref, est

    reference, ests = jax.lax.scan(body, init_reference, jnp.arange(num_iters))
    estimate = jax.tree.map(lambda a: jnp.mean(a[burn_in:], axis=0), ests)
    return PPGOutput(estimate=estimate, estimates=ests, reference=reference)

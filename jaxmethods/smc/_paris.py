"""PaRIS: particle-based, rapid incremental smoother (online additive smoothing)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree, Scalar

from ._backward import backward_indices, check_backward, log_m_bound_for
from ._filters import (
    Resampler,
    check_ess_threshold,
    check_model,
    check_num_particles,
    check_resampling,
    forward_step,
    init_particles,
    num_steps,
    take,
    tree_index,
)
from ._resampling import multinomial
from ._ssm import AdditiveFunctional, Params, Proposal, StateSpaceModel, as_additive


class ParisState(eqx.Module):
    """The online state of PaRIS after the observation at time ``t``.

    Attributes:
        particles: particles at ``t``, leaves with leading axis ``N``.
        log_weights: their filtering log-weights (unnormalized), ``(N,)``.
        tau: the PaRIS statistics, a pytree shaped like the functional's
            value with a leading axis ``N``.
        t: the time index of the last observation processed.
        log_evidence: running estimate of ``log p(y_{0:t})``.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    particles: PyTree[Array]
    log_weights: Float[Array, " N"]
    tau: PyTree[Array]
    t: Int[Array, ""]
    log_evidence: Scalar


class ParisOutput(eqx.Module):
    """Output of :func:`paris`.

    Attributes:
        estimate: the smoothed expectation of the additive functional given
            all the observations (a pytree shaped like the functional).
        online_estimates: the estimates at every ``t`` (leading axis ``T``).
        log_evidence: the particle filter's log-evidence estimate.
        state: the final :class:`ParisState` (to continue online).

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    estimate: PyTree[Array]
    online_estimates: PyTree[Array]
    log_evidence: Scalar
    state: ParisState


def weighted_mean(log_weights: Array, tau: PyTree) -> PyTree:
    """``sum_i W_i tau_i`` with ``W = softmax(log_weights)``, leaf by leaf."""
    w = jax.nn.softmax(log_weights)
    return jax.tree.map(lambda a: jnp.tensordot(w.astype(a.dtype), a, axes=1), tau)


def paris_update(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    functional: AdditiveFunctional,
    x_prev: PyTree,
    lw_prev: Array,
    tau_prev: PyTree,
    x_new: PyTree,
    y: PyTree,
    t: Array,
    *,
    num_backward: int,
    backward: str,
    ancestors: Array | None,
    mcmc_steps: int,
    max_trials: int | None,
) -> tuple[PyTree, Int[Array, "N K"]]:
    """One PaRIS statistics update; returns ``(tau_new, J)`` with ``J`` the draws."""
    m = jax.tree.leaves(x_new)[0].shape[0]
    k = num_backward

    def log_m(xp, xn):
        return model.log_transition(xp, xn, t, params)

    j = backward_indices(
        key,
        x_prev,
        lw_prev,
        x_new,
        log_m,
        k,
        method=backward,
        ancestors=ancestors,
        mcmc_steps=mcmc_steps,
        max_trials=max_trials,
        log_m_bound=log_m_bound_for(model, t, params, backward),
    )
    xp = take(x_prev, j.reshape(-1))
    xn = take(x_new, jnp.repeat(jnp.arange(m), k))
    h = jax.vmap(lambda a, b: functional.step(a, b, y, t, params))(xp, xn)

    def upd(tp, hh):
        prev = tp[j]  # (M, K, ...)
        return jnp.mean(prev + hh.reshape(prev.shape).astype(prev.dtype), axis=1)

    return jax.tree.map(upd, tau_prev, h), j


def check_paris_args(
    fn: str,
    model,
    num_particles,
    num_backward,
    backward,
    mcmc_steps,
    max_trials,
    minimum=1,
):
    check_model(fn, model)
    check_num_particles(fn, num_particles, minimum)
    check_backward(fn, backward, num_backward, mcmc_steps, max_trials)


def paris_init(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    y0: PyTree,
    num_particles: int,
    additive_fn: Any,
    *,
    proposal: Proposal | None = None,
) -> ParisState:
    """Start PaRIS at ``t = 0``: draw and weight ``x_0``, set ``tau_0 = h_0(x_0, y_0)``.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters.
        y0: the first observation.
        num_particles: ``N`` (static).
        additive_fn: an :class:`AdditiveFunctional` or a function
            ``fn(x_prev, x, y, t, params)`` (then ``h_0 = 0``).
        proposal: optional :class:`Proposal` (as in :func:`particle_filter`).

    Returns:
        The :class:`ParisState` at ``t = 0``.

    Raises:
        TypeError, ValueError: on a bad model, functional or ``num_particles``.

    References:
        J. Olsson and J. Westerborn, "Efficient particle-based online
        smoothing in general hidden Markov models: the PaRIS algorithm",
        *Bernoulli* 23(3), 1951-1996, 2017.
    """
    fn = "paris_init"
    check_model(fn, model)
    check_num_particles(fn, num_particles)
    functional = as_additive(additive_fn)
    x0, lw0 = init_particles(key, model, params, y0, num_particles, proposal)
    tau0 = jax.vmap(lambda x: functional.init(x, y0, params))(x0)
    return ParisState(x0, lw0, tau0, jnp.zeros((), jnp.int32), jax.nn.logsumexp(lw0))


def paris_step(
    key: PRNGKeyArray,
    state: ParisState,
    model: StateSpaceModel,
    params: Params,
    y: PyTree,
    additive_fn: Any,
    *,
    num_backward: int = 2,
    backward: str = "exact",
    resampling: Resampler = multinomial,
    ess_threshold: float = 1.0,
    proposal: Proposal | None = None,
    mcmc_steps: int = 2,
    max_trials: int | None = None,
) -> tuple[ParisState, PyTree[Array]]:
    r"""One online PaRIS step: filter to ``t + 1`` and update the statistics.

    $\tau_{t+1}^i = K^{-1} \sum_{k=1}^K [\tau_t^{J^{i,k}} +
    h_{t+1}(\xi_t^{J^{i,k}}, \xi_{t+1}^i, y_{t+1})]$ with $J^{i,k}$ drawn
    from the backward kernel (:func:`backward_indices`). Use it inside your
    own ``lax.scan`` for streaming data.

    Args:
        key: PRNG key for this step.
        state: the :class:`ParisState` at ``t``.
        model: the state-space model.
        params: model parameters.
        y: the observation at ``t + 1``.
        additive_fn: the same functional as given to :func:`paris_init`.
        num_backward: ``K``, backward draws per particle (static; 2 is the
            standard choice, 1 degenerates).
        backward: backward sampler, ``"exact"``, ``"mcmc"`` or
            ``"rejection"`` (see :func:`backward_indices`).
        resampling: resampling function for the filter.
        ess_threshold: resample when ESS <= ``ess_threshold * N``.
        proposal: optional :class:`Proposal`.
        mcmc_steps: steps per draw for ``backward="mcmc"``.
        max_trials: proposal rounds for ``backward="rejection"``.

    Returns:
        ``(new_state, estimate)`` with ``estimate`` $= \sum_i W_{t+1}^i
        \tau_{t+1}^i$, the smoothed expectation of the functional given
        $y_{0:t+1}$.

    Raises:
        TypeError, ValueError: on bad arguments (see :func:`paris`).

    References:
        J. Olsson and J. Westerborn, "Efficient particle-based online
        smoothing in general hidden Markov models: the PaRIS algorithm",
        *Bernoulli* 23(3), 1951-1996, 2017.
    """
    fn = "paris_step"
    n = state.log_weights.shape[0]
    check_paris_args(fn, model, n, num_backward, backward, mcmc_steps, max_trials)
    check_resampling(fn, resampling)
    thr = check_ess_threshold(fn, ess_threshold)
    functional = as_additive(additive_fn)
    k_fwd, k_bwd = jr.split(key)
    t = state.t + 1
    x_new, lw_new, info = forward_step(
        k_fwd,
        model,
        params,
        state.particles,
        state.log_weights,
        y,
        t,
        resampling=resampling,
        ess_threshold=thr,
        proposal=proposal,
    )
    tau, _ = paris_update(
        k_bwd,
        model,
        params,
        functional,
        state.particles,
        state.log_weights,
        state.tau,
        x_new,
        y,
        t,
        num_backward=num_backward,
        backward=backward,
        ancestors=info.ancestors,
        mcmc_steps=mcmc_steps,
        max_trials=max_trials,
    )
    new = ParisState(
        x_new, lw_new, tau, t, state.log_evidence + jax.nn.logsumexp(lw_new)
    )
    return new, weighted_mean(lw_new, tau)


@eqx.filter_jit
def paris(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    ys: PyTree,
    num_particles: int,
    additive_fn: Any,
    *,
    num_backward: int = 2,
    backward: str = "exact",
    resampling: Resampler = multinomial,
    ess_threshold: float = 1.0,
    proposal: Proposal | None = None,
    mcmc_steps: int = 2,
    max_trials: int | None = None,
) -> ParisOutput:
    r"""PaRIS smoothing of an additive functional over a whole series.

    Estimates $\mathbb{E}[h(X_{0:T-1}) \mid y_{0:T-1}]$ for an additive
    $h = h_0(x_0, y_0) + \sum_{t \ge 1} h_t(x_{t-1}, x_t, y_t)$ with
    $O(NK)$ work per step (``"mcmc"``/``"rejection"`` backward draws) or
    $O(N^2)$ (``"exact"``) and $O(N)$ memory, independent of ``T``. The
    estimate is consistent as $N \to \infty$ but biased at fixed $N$ (bias
    $O(1/N)$); :func:`ppg` removes most of that bias at the same cost.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters (any pytree).
        ys: observations, every leaf with leading axis ``T``.
        num_particles: ``N`` (static).
        additive_fn: an :class:`AdditiveFunctional` or a function
            ``fn(x_prev, x, y, t, params) -> pytree`` (values may be pytrees).
        num_backward: ``K`` (static, default 2; ``K = 1`` degenerates).
        backward: ``"exact"``, ``"mcmc"`` or ``"rejection"``.
        resampling: resampling function for the filter (default multinomial).
        ess_threshold: resample when ESS <= ``ess_threshold * N``.
        proposal: optional :class:`Proposal`.
        mcmc_steps: steps per draw for ``backward="mcmc"``.
        max_trials: proposal rounds for ``backward="rejection"``.

    Returns:
        A :class:`ParisOutput` (final estimate, online estimates for every
        ``t``, log-evidence and final state).

    Raises:
        TypeError: on a model that is not a ``StateSpaceModel`` or a
            functional that is not callable.
        ValueError: on ``num_particles < 1``, ``num_backward < 1``, an unknown
            backward method or mismatched ``ys``; at run time if the weights
            become NaN.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import paris, LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.9 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> ys = jnp.zeros((20, 1))
        >>> lag1 = lambda xp, x, y, t, params: xp[0] * x[0]
        >>> out = paris(jr.key(0), LinearGaussianSSM(), p, ys, 64, lag1)
        >>> out.online_estimates.shape
        (20,)

    References:
        J. Olsson and J. Westerborn, "Efficient particle-based online
        smoothing in general hidden Markov models: the PaRIS algorithm",
        *Bernoulli* 23(3), 1951-1996, 2017.
    """
    fn = "paris"
    check_paris_args(
        fn, model, num_particles, num_backward, backward, mcmc_steps, max_trials
    )
    check_resampling(fn, resampling)
    check_ess_threshold(fn, ess_threshold)
    T = num_steps(fn, ys)
    functional = as_additive(additive_fn)
    k0, k_steps = jr.split(key)
    state0 = paris_init(
        k0,
        model,
        params,
        tree_index(ys, 0),
        num_particles,
        functional,
        proposal=proposal,
    )
    est0 = weighted_mean(state0.log_weights, state0.tau)

    def body(state, t):
        return paris_step(
            jr.fold_in(k_steps, t),
            state,
            model,
            params,
            tree_index(ys, t),
            functional,
            num_backward=num_backward,
            backward=backward,
            resampling=resampling,
            ess_threshold=ess_threshold,
            proposal=proposal,
            mcmc_steps=mcmc_steps,
            max_trials=max_trials,
        )

    state, ests = jax.lax.scan(body, state0, jnp.arange(1, T, dtype=jnp.int32))
    online = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), est0, ests)
    state = eqx.error_if(
        state,
        ~jnp.isfinite(state.log_evidence),
        f"{fn}: the log-weights became NaN or all -inf (check the model's "
        "log-densities and the observations)",
    )
    return ParisOutput(
        estimate=jax.tree.map(lambda a: a[-1], online),
        online_estimates=online,
        log_evidence=state.log_evidence,
        state=state,
    )

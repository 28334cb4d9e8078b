"""Bootstrap, guided and auxiliary particle filters (and their conditional form).

The forward machinery here is shared by :func:`particle_filter`, PaRIS,
conditional SMC and PPG: :func:`init_particles` draws ``x_0`` and
:func:`forward_step` moves the particle system one step, optionally with a
frozen reference particle in the last slot.

Log-weight convention: ``log_weights[t]`` are the filtering log-weights at
time ``t``, unnormalized, scaled so that ``logsumexp(log_weights[t])`` is the
log-evidence increment ``log p^(y_t | y_{0:t-1})``; the log-evidence is the
sum of those increments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree, Scalar

from ._resampling import conditional_multinomial, multinomial
from ._ssm import Params, Proposal, StateSpaceModel, proposes_init


Resampler = Callable[[PRNGKeyArray, Array, int], Array]


def take(tree: PyTree, idx: Array) -> PyTree:
    """Index the leading (particle) axis of every leaf of ``tree``."""
    return jax.tree.map(lambda a: a[idx], tree)


def set_last(tree: PyTree, value: PyTree) -> PyTree:
    """Overwrite the last particle of every leaf with ``value`` (the frozen one)."""
    return jax.tree.map(lambda a, v: a.at[-1].set(v), tree, value)


def tree_index(tree: PyTree, t) -> PyTree:
    """Slice ``t`` of the leading (time) axis of every leaf."""
    return jax.tree.map(lambda a: a[t], tree)


def num_steps(fn: str, ys: PyTree) -> int:
    """Length ``T`` of the leading axis shared by every leaf of ``ys``."""
    leaves = jax.tree.leaves(ys)
    if not leaves:
        raise ValueError(f"{fn}: ys is empty")
    lengths = {jnp.shape(a)[0] if jnp.ndim(a) else -1 for a in leaves}
    if -1 in lengths or len(lengths) != 1:
        raise ValueError(
            f"{fn}: every leaf of ys needs the same leading (time) axis, got "
            f"shapes {[jnp.shape(a) for a in leaves]}"
        )
    (T,) = lengths
    if T < 1:
        raise ValueError(f"{fn}: ys has no time steps")
    return T


def check_model(fn: str, model: Any) -> None:
    if not isinstance(model, StateSpaceModel):
        raise TypeError(
            f"{fn}: model must be a jaxmethods.smc.StateSpaceModel, got "
            f"{type(model).__name__}"
        )


def check_num_particles(fn: str, num_particles: Any, minimum: int = 1) -> None:
    if not isinstance(num_particles, int) or num_particles < minimum:
        raise ValueError(
            f"{fn}: num_particles must be an int >= {minimum}, got {num_particles!r}"
        )


def check_ess_threshold(fn: str, ess_threshold: Any) -> float:
    try:
        thr = float(ess_threshold)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: ess_threshold must be a float in [0, 1]") from None
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"{fn}: ess_threshold must be in [0, 1], got {ess_threshold}")
    return thr


def _normalize(lw: Array) -> Array:
    return lw - jax.nn.logsumexp(lw)


def ess_of(lw: Array) -> Scalar:
    """Effective sample size ``1 / sum(W^2)`` of unnormalized log-weights."""
    lwn = _normalize(lw)
    return jnp.exp(-jax.nn.logsumexp(2 * lwn))


def init_particles(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    y0: PyTree,
    num_particles: int,
    proposal: Proposal | None = None,
    reference0: PyTree | None = None,
) -> tuple[PyTree, Float[Array, " N"]]:
    """Draw ``x_0`` for every particle and weight it; freeze the last if asked.

    Returns:
        ``(x0, lw0)`` with ``logsumexp(lw0) = log p^(y_0)``.
    """
    keys = jr.split(key, num_particles)
    t0 = jnp.zeros((), jnp.int32)
    # Optional methods of a Proposal: typed as Any since the base lacks them.
    q0: Any = proposal if proposes_init(proposal) else None
    if q0 is not None:
        x0 = jax.vmap(lambda k: q0.sample_init(k, y0, params))(keys)
    else:
        x0 = jax.vmap(lambda k: model.sample_init(k, params))(keys)
    if reference0 is not None:
        x0 = set_last(x0, reference0)

    def logw(x):
        lw = model.log_observation(x, y0, t0, params)
        if q0 is not None:
            lw = lw + model.log_init(x, params) - q0.log_prob_init(x, y0, params)
        return lw

    lw0 = jax.vmap(logw)(x0) - math.log(num_particles)
    return x0, lw0


class StepInfo(eqx.Module):
    """What one forward step did: ancestors, ESS before it, whether it resampled."""

    ancestors: Int[Array, " N"]
    ess: Scalar
    resampled: Bool[Array, ""]


def forward_step(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    x: PyTree,
    lw: Float[Array, " N"],
    y: PyTree,
    t: Int[Array, ""],
    *,
    resampling: Resampler = multinomial,
    ess_threshold: float = 1.0,
    proposal: Proposal | None = None,
    reference_t: PyTree | None = None,
) -> tuple[PyTree, Float[Array, " N"], StepInfo]:
    """Move the particle system from ``t - 1`` to ``t``.

    With ``reference_t`` given (conditional SMC), resampling is conditional
    multinomial with the last slot frozen: its ancestor is the last particle
    and its new state is ``reference_t``.
    """
    n = lw.shape[0]
    k_res, k_move = jr.split(key)
    lwn = _normalize(lw)
    if proposal is not None:
        log_theta = jax.vmap(lambda xp: proposal.log_adjustment(xp, y, t, params))(x)
        log_theta = log_theta.astype(lw.dtype)
    else:
        log_theta = jnp.zeros_like(lw)
    r = lwn + log_theta
    ess = jnp.exp(-jax.nn.logsumexp(2 * lwn))
    if reference_t is not None:
        anc_res = conditional_multinomial(k_res, r, n)
        do_res = jnp.ones((), bool)
    else:
        anc_res = resampling(k_res, r, n).astype(jnp.int32)
        do_res = (
            jnp.ones((), bool) if ess_threshold >= 1.0 else ess <= ess_threshold * n
        )
    c_res = jax.nn.logsumexp(r) - math.log(n) - log_theta[anc_res]
    anc = jnp.where(do_res, anc_res, jnp.arange(n, dtype=jnp.int32))
    c = jnp.where(do_res, c_res, lwn)
    x_prev = take(x, anc)
    keys = jr.split(k_move, n)
    if proposal is None:
        x_new = jax.vmap(lambda k, xp: model.sample_transition(k, xp, t, params))(
            keys, x_prev
        )
    else:
        x_new = jax.vmap(lambda k, xp: proposal.sample(k, xp, y, t, params))(
            keys, x_prev
        )
    if reference_t is not None:
        x_new = set_last(x_new, reference_t)

    def logw(xp, xn):
        lg = model.log_observation(xn, y, t, params)
        if proposal is None:
            return lg
        return (
            lg
            + model.log_transition(xp, xn, t, params)
            - proposal.log_prob(xp, xn, y, t, params)
        )

    lw_new = c + jax.vmap(logw)(x_prev, x_new)
    return x_new, lw_new, StepInfo(anc, ess, do_res)


class ParticleFilterOutput(eqx.Module):
    """Output of :func:`particle_filter` (all arrays have a leading time axis ``T``).

    Attributes:
        particles: the particles ``x_t^i``, leaves of shape ``(T, N, ...)``.
        log_weights: filtering log-weights, ``(T, N)``, unnormalized, with
            ``logsumexp(log_weights[t]) = log p^(y_t | y_{0:t-1})``.
        ancestors: ``ancestors[t, i]`` is the index at ``t - 1`` of particle
            ``i``'s parent, ``(T, N)`` int32 (``ancestors[0] = arange(N)``).
        log_evidence: the estimate of ``log p(y_{0:T-1})`` (unbiased on the
            natural scale).
        log_evidence_increments: ``(T,)``.
        ess: effective sample size ``1 / sum(W_t^2)`` of ``log_weights[t]``,
            ``(T,)``.
        resampled: whether step ``t`` resampled, ``(T,)`` bool.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    particles: PyTree[Array]
    log_weights: Float[Array, "T N"]
    ancestors: Int[Array, "T N"]
    log_evidence: Scalar
    log_evidence_increments: Float[Array, " T"]
    ess: Float[Array, " T"]
    resampled: Bool[Array, " T"]


def check_resampling(fn: str, resampling: Any) -> None:
    if not callable(resampling):
        raise TypeError(
            f"{fn}: resampling must be a function (key, log_weights, num_samples) -> "
            f"indices, e.g. jaxmethods.smc.systematic; got {resampling!r}"
        )


@eqx.filter_jit
def particle_filter(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    ys: PyTree,
    num_particles: int,
    *,
    resampling: Resampler = multinomial,
    ess_threshold: float = 1.0,
    proposal: Proposal | None = None,
) -> ParticleFilterOutput:
    r"""Particle filter: bootstrap, guided, or auxiliary (with ``proposal``).

    Step $t-1 \to t$: if $\mathrm{ESS}_{t-1} \le$ ``ess_threshold``$\cdot N$,
    draw ancestors $A^i$ from $\mathrm{Cat}(W_{t-1} \vartheta_{t-1})$ with
    ``resampling``; move $\xi_t^i \sim q_t(\xi_{t-1}^{A^i}, \cdot)$ (the
    model's transition $m$ for the bootstrap filter); weight
    $\ell_t^i = \log g(\xi_t^i, y_t) + \log m - \log q - \log\vartheta$.
    Log-weights are kept unnormalized (never normalized weights) so long
    series neither under- nor overflow, and the log-evidence is the sum of
    $\log \sum_i e^{\ell_t^i}$ (with the auxiliary correction). Its
    exponential is an unbiased estimate of $p(y_{0:T-1})$.

    Args:
        key: PRNG key.
        model: the state-space model.
        params: model parameters (any pytree; passed to every model method).
        ys: observations, every leaf with leading axis ``T``.
        num_particles: ``N`` (static).
        resampling: a resampling function ``(key, log_weights, num) ->
            indices`` (default :func:`multinomial`).
        ess_threshold: resample when ESS <= ``ess_threshold * N``: 1.0
            resamples at every step, 0.0 never.
        proposal: a :class:`Proposal` for a guided or auxiliary filter;
            ``None`` for the bootstrap filter.

    Returns:
        A :class:`ParticleFilterOutput`.

    Raises:
        TypeError: if ``model`` is not a ``StateSpaceModel`` or ``resampling``
            is not callable.
        ValueError: if ``num_particles < 1``, ``ess_threshold`` is outside
            ``[0, 1]`` or ``ys`` has no common time axis; at run time
            (``eqx.error_if``) if all weights vanish or become NaN.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import particle_filter
        >>> from jaxmethods.smc import LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.9 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> ys = jnp.zeros((10, 1))
        >>> out = particle_filter(jr.key(0), LinearGaussianSSM(), p, ys, 256)
        >>> out.log_weights.shape
        (10, 256)

    References:
        N. J. Gordon, D. J. Salmond and A. F. M. Smith, "Novel approach to
        nonlinear/non-Gaussian Bayesian state estimation", *IEE Proceedings F*
        140(2), 107-113, 1993.

        M. K. Pitt and N. Shephard, "Filtering via simulation: auxiliary
        particle filters", *JASA* 94(446), 590-599, 1999.
    """
    fn = "particle_filter"
    check_model(fn, model)
    check_num_particles(fn, num_particles)
    check_resampling(fn, resampling)
    thr = check_ess_threshold(fn, ess_threshold)
    T = num_steps(fn, ys)
    k0, k_steps = jr.split(key)
    x0, lw0 = init_particles(
        k0, model, params, tree_index(ys, 0), num_particles, proposal
    )

    def body(carry, t):
        x, lw = carry
        x_new, lw_new, info = forward_step(
            jr.fold_in(k_steps, t),
            model,
            params,
            x,
            lw,
            tree_index(ys, t),
            t,
            resampling=resampling,
            ess_threshold=thr,
            proposal=proposal,
        )
        return (x_new, lw_new), (x_new, lw_new, info)

    ts = jnp.arange(1, T, dtype=jnp.int32)
    _, (xs, lws, infos) = jax.lax.scan(body, (x0, lw0), ts)
    particles = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), x0, xs)
    log_weights = jnp.concatenate([lw0[None], lws])
    ancestors = jnp.concatenate(
        [jnp.arange(num_particles, dtype=jnp.int32)[None], infos.ancestors]
    )
    incs = jax.nn.logsumexp(log_weights, axis=-1)
    incs = eqx.error_if(
        incs,
        ~jnp.all(jnp.isfinite(incs)),
        f"{fn}: the log-weights became NaN or all -inf at some time step "
        "(check the model's log-densities and the observations)",
    )
    return ParticleFilterOutput(
        particles=particles,
        log_weights=log_weights,
        ancestors=ancestors,
        log_evidence=jnp.sum(incs),
        log_evidence_increments=incs,
        ess=jax.vmap(ess_of)(log_weights),
        resampled=jnp.concatenate([jnp.zeros((1,), bool), infos.resampled]),
    )

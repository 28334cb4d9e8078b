"""Learning with PPG: Fisher-identity score ascent and Markov score climbing."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from ._filters import (
    check_model,
    check_num_particles,
    num_steps as time_steps,
    particle_filter,
)
from ._pg import backward_path, check_reference, ppg
from ._ssm import AdditiveFunctional, Params, StateSpaceModel


class FisherScore(AdditiveFunctional):
    r"""The Fisher-identity score functional (see :func:`fisher_score_fn`)."""

    model: StateSpaceModel

    def init(self, x0, y0, params):
        x0 = jax.lax.stop_gradient(x0)
        t0 = jnp.zeros((), jnp.int32)

        def f(p):
            return self.model.log_init(x0, p) + self.model.log_observation(
                x0, y0, t0, p
            )

        return jax.grad(f)(params)

    def step(self, x_prev, x, y, t, params):
        x_prev, x = jax.lax.stop_gradient((x_prev, x))

        def f(p):
            return self.model.log_transition(
                x_prev, x, t, p
            ) + self.model.log_observation(x, y, t, p)

        return jax.grad(f)(params)


def fisher_score_fn(model: StateSpaceModel) -> AdditiveFunctional:
    r"""The additive functional whose smoothed expectation is the score.

    By Fisher's identity,
    $\nabla_\theta \log p_\theta(y_{0:T-1}) = \mathbb{E}_\theta[\nabla_\theta
    \log \chi_\theta(X_0) g_\theta(X_0, y_0) + \sum_{t \ge 1} \nabla_\theta
    \log m_\theta(X_{t-1}, X_t) g_\theta(X_t, y_t) \mid y_{0:T-1}]$. The terms
    are `jax.grad` of the model's log-densities with respect to ``params``,
    with the states held fixed (never differentiated through resampling).
    Values have the structure of ``params``.

    Args:
        model: the state-space model (its ``params`` must be a pytree of
            floating arrays).

    Returns:
        An :class:`AdditiveFunctional` for :func:`paris`, :func:`ppg` and
        :func:`ppg_score_ascent`.

    Raises:
        TypeError: if ``model`` is not a ``StateSpaceModel``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import fisher_score_fn, paris
        >>> from jaxmethods.smc import LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.9 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> model = LinearGaussianSSM()
        >>> ys = jnp.ones((10, 1))
        >>> out = paris(jr.key(0), model, p, ys, 64, fisher_score_fn(model))
        >>> out.estimate.A.shape
        (1, 1)

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """
    check_model("fisher_score_fn", model)
    return FisherScore(model)


class ScoreAscentOutput(eqx.Module):
    """Output of :func:`ppg_score_ascent` and :func:`markov_score_climbing`.

    Attributes:
        params: the final parameters.
        params_path: the parameters before every update and after the last
            (leading axis ``num_steps + 1``).
        scores: the PPG score estimate of every step (leading axis
            ``num_steps``).
        reference: the last PPG reference path.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    params: PyTree[Array]
    params_path: PyTree[Array]
    scores: PyTree[Array]
    reference: PyTree[Array]


def _check_progress(fn, progress):
    if isinstance(progress, bool) or not isinstance(progress, int) or progress < 0:
        raise ValueError(f"{fn}: progress must be an int >= 0, got {progress!r}")


def _check_learning(fn, num_steps_, ppg_iters, burn_in):
    if not isinstance(num_steps_, int) or num_steps_ < 1:
        raise ValueError(f"{fn}: num_steps must be an int >= 1, got {num_steps_!r}")
    if not isinstance(ppg_iters, int) or ppg_iters < 1:
        raise ValueError(f"{fn}: ppg_iters must be an int >= 1, got {ppg_iters!r}")
    if not isinstance(burn_in, int) or not 0 <= burn_in < ppg_iters:
        raise ValueError(
            f"{fn}: burn_in must be an int in [0, ppg_iters) = [0, {ppg_iters}), "
            f"got {burn_in!r}"
        )


def _check_optimizer(fn, optimizer):
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"{fn}: optimizer must be an optax.GradientTransformation, e.g. "
            f"optax.adam(1e-2); got {type(optimizer).__name__}"
        )


def _prologue(
    fn,
    key,
    model,
    params,
    ys,
    optimizer,
    num_steps_,
    num_particles,
    ppg_iters,
    burn_in,
    init_reference,
):
    """Shared checks of the learners; returns ``(run_key, initial_reference)``."""
    check_model(fn, model)
    check_num_particles(fn, num_particles, 2)
    _check_learning(fn, num_steps_, ppg_iters, burn_in)
    _check_optimizer(fn, optimizer)
    T = time_steps(fn, ys)
    k_ref, k_run = jr.split(key)
    if init_reference is None:
        init_reference = _initial_reference(k_ref, model, params, ys, num_particles)
    check_reference(fn, model, params, init_reference, T)
    return k_run, init_reference


def _initial_reference(key, model, params, ys, num_particles):
    k_pf, k_path = jr.split(key)
    pf = particle_filter(k_pf, model, params, ys, num_particles)
    return backward_path(
        k_path, model, params, pf.particles, pf.log_weights, pf.ancestors
    )


def _ascent(
    key,
    model,
    params,
    ys,
    theta0,
    optimizer,
    functional_at,
    n,
    K,
    steps,
    iters,
    burn,
    reference,
    backward,
    progress=0,
    name="",
):
    """Optax ascent on ``theta`` with PPG estimates; the reference is carried.

    With ``progress > 0``, every ``progress`` steps (and at the last one) the
    step number and the norm of the score estimate are printed from inside
    the compiled loop (``jax.debug.print``).
    """

    def body(carry, i):
        theta, opt_state, ref = carry
        out = ppg(
            jr.fold_in(key, i),
            model,
            params(theta),
            ys,
            ref,
            n,
            functional_at(theta),
            num_iters=iters,
            burn_in=burn,
            num_backward=K,
            backward=backward,
        )
        score = out.estimate
        # optax mixes Python floats and int32 step counts, which fails
        # under jax_numpy_dtype_promotion="strict"; run it under "standard".
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(
                jax.tree.map(jnp.negative, score), opt_state, theta
            )
        theta_new = optax.apply_updates(theta, updates)
        if progress:
            leaves = jax.tree.leaves(score)
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(v)) for v in leaves))
            jax.lax.cond(
                ((i + 1) % progress == 0) | (i + 1 == steps),
                lambda: jax.debug.print(
                    name + ": step {}/" + str(steps) + ", |score| = {:.4e}",
                    i + 1,
                    norm,
                    ordered=True,
                ),
                lambda: None,
            )
        return (theta_new, opt_state, out.reference), (theta, score)

    with jax.numpy_dtype_promotion("standard"):
        opt_state0 = optimizer.init(theta0)
    carry0 = (theta0, opt_state0, reference)
    (theta, _, ref), (path, scores) = jax.lax.scan(body, carry0, jnp.arange(steps))
    path = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), path, theta)
    return ScoreAscentOutput(
        params=theta, params_path=path, scores=scores, reference=ref
    )


@eqx.filter_jit
def ppg_score_ascent(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params0: Params,
    ys: PyTree,
    optimizer: optax.GradientTransformation,
    *,
    num_steps: int,
    num_particles: int,
    num_backward: int = 2,
    ppg_iters: int = 1,
    burn_in: int = 0,
    init_reference: PyTree | None = None,
    backward: str = "exact",
    progress: int = 0,
) -> ScoreAscentOutput:
    r"""Maximum likelihood by stochastic score ascent driven by PPG (P01, §4).

    Step $\ell$: estimate the score $\hat H_\ell$ at $\theta_\ell$ with
    ``ppg_iters`` PPG iterations (roll-out after ``burn_in``) of the
    :func:`fisher_score_fn` functional, then update $\theta$ with the optax
    ``optimizer`` applied to $-\hat H_\ell$. The PPG reference path is
    carried across parameter updates (a Markovian stochastic approximation:
    the chain is never restarted), which is what makes one PPG iteration per
    step enough.

    Args:
        key: PRNG key.
        model: the state-space model.
        params0: initial parameters (a pytree of floating arrays).
        ys: observations, leading axis ``T``.
        optimizer: an optax transformation, e.g. ``optax.adam(1e-2)``; the
            score is a sum over ``T`` terms, so scale learning rates with
            ``1 / T``.
        num_steps: parameter updates (static).
        num_particles: ``N >= 2`` (static).
        num_backward: ``K`` (static, default 2).
        ppg_iters: PPG iterations per update (static, default 1).
        burn_in: of those, how many are left out of the average.
        init_reference: the starting path; default one drawn by backward
            sampling from a bootstrap particle filter at ``params0``.
        backward: backward sampler, ``"exact"``, ``"mcmc"`` or ``"rejection"``.
        progress: if positive, print the step number and the norm of the
            score estimate every ``progress`` steps and at the last one, from
            inside the compiled loop (static; default 0, silent).

    Returns:
        A :class:`ScoreAscentOutput` with the final and all intermediate
        parameters and the score estimates.

    Raises:
        TypeError: if ``optimizer`` is not an optax transformation.
        ValueError: on ``num_steps < 1``, ``ppg_iters < 1``, ``burn_in``
            outside ``[0, ppg_iters)``, a negative ``progress``, or the errors
            of :func:`ppg_step`.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr, optax
        >>> from jaxmethods.smc import ppg_score_ascent, LinearGaussianSSM, LGSSMParams
        >>> p = LGSSMParams(m0=jnp.zeros(1), P0=jnp.eye(1), A=0.5 * jnp.eye(1),
        ...                 Q=jnp.eye(1), C=jnp.eye(1), R=0.25 * jnp.eye(1))
        >>> ys = jnp.ones((20, 1))
        >>> out = ppg_score_ascent(jr.key(0), LinearGaussianSSM(), p, ys,
        ...                        optax.sgd(1e-3), num_steps=5, num_particles=16)
        >>> out.params_path.A.shape
        (6, 1, 1)

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """
    _check_progress("ppg_score_ascent", progress)
    k_run, init_reference = _prologue(
        "ppg_score_ascent",
        key,
        model,
        params0,
        ys,
        optimizer,
        num_steps,
        num_particles,
        ppg_iters,
        burn_in,
        init_reference,
    )
    score = fisher_score_fn(model)
    return _ascent(
        k_run,
        model,
        lambda th: th,
        ys,
        params0,
        optimizer,
        lambda th: score,
        num_particles,
        num_backward,
        num_steps,
        ppg_iters,
        burn_in,
        init_reference,
        backward,
        progress,
        "ppg_score_ascent",
    )


class _QScore(AdditiveFunctional):
    """``grad_lambda log q_lambda`` of a Markov variational family, as a functional."""

    q_family: Any
    lam: PyTree

    def init(self, x0, y0, params):
        x0 = jax.lax.stop_gradient(x0)
        return jax.grad(lambda lam: self.q_family.log_init(x0, lam))(self.lam)

    def step(self, x_prev, x, y, t, params):
        x_prev, x = jax.lax.stop_gradient((x_prev, x))
        return jax.grad(lambda lam: self.q_family.log_transition(x_prev, x, t, lam))(
            self.lam
        )


@eqx.filter_jit
def markov_score_climbing(
    key: PRNGKeyArray,
    model: StateSpaceModel,
    params: Params,
    q_family: Any,
    lambda0: PyTree,
    ys: PyTree,
    optimizer: optax.GradientTransformation,
    *,
    num_steps: int,
    num_particles: int,
    num_backward: int = 2,
    ppg_iters: int = 1,
    burn_in: int = 0,
    init_reference: PyTree | None = None,
    backward: str = "exact",
    progress: int = 0,
) -> ScoreAscentOutput:
    r"""Markov score climbing (inclusive-KL variational inference) driven by PPG.

    Fits a Markov-structured variational family
    $q_\lambda(x_{0:T-1}) = q_{\lambda,0}(x_0) \prod_{t \ge 1}
    q_{\lambda,t}(x_t \mid x_{t-1})$ to the smoothing distribution by
    minimizing $\mathrm{KL}(p(\cdot \mid y) \,\|\, q_\lambda)$, i.e. ascending
    $\mathbb{E}_{p(x \mid y)}[\nabla_\lambda \log q_\lambda(X)]$. That
    gradient is an additive functional, estimated by PPG at the fixed model
    ``params``; the PPG reference is carried across updates, as in
    Naesseth, Lindsten and Blei (2020) with PPG as the Markov kernel.

    Args:
        key: PRNG key.
        model: the state-space model (defines the target $p(x \mid y)$).
        params: its parameters (fixed).
        q_family: any object with ``log_init(x0, lam)`` and
            ``log_transition(x_prev, x, t, lam)`` (for example a
            :class:`StateSpaceModel`, whose ``params`` play the role of
            ``lam``).
        lambda0: initial variational parameters (pytree of floating arrays).
        ys: observations, leading axis ``T``.
        optimizer: an optax transformation (applied to the negated gradient).
        num_steps: updates (static).
        num_particles: ``N >= 2`` (static).
        num_backward: ``K`` (static).
        ppg_iters: PPG iterations per update (static).
        burn_in: of those, how many are left out of the average.
        init_reference: starting path (default: backward sampling through a
            bootstrap particle filter).
        backward: backward sampler.
        progress: if positive, print progress every ``progress`` steps (as
            :func:`ppg_score_ascent`; static, default 0).

    Returns:
        A :class:`ScoreAscentOutput` (``params`` holds the variational
        parameters).

    Raises:
        TypeError: if ``q_family`` lacks ``log_init``/``log_transition`` or
            ``optimizer`` is not an optax transformation.
        ValueError: as :func:`ppg_score_ascent`.

    References:
        C. A. Naesseth, F. Lindsten and D. Blei, "Markovian score climbing:
        variational inference with KL(p||q)", *NeurIPS* 2020.

        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """
    _check_progress("markov_score_climbing", progress)
    k_run, init_reference = _prologue(
        "markov_score_climbing",
        key,
        model,
        params,
        ys,
        optimizer,
        num_steps,
        num_particles,
        ppg_iters,
        burn_in,
        init_reference,
    )
    for name in ("log_init", "log_transition"):
        if not callable(getattr(q_family, name, None)):
            raise TypeError(
                f"markov_score_climbing: q_family must have a method {name}"
            )
    return _ascent(
        k_run,
        model,
        lambda lam: params,
        ys,
        lambda0,
        optimizer,
        lambda lam: _QScore(q_family, lam),
        num_particles,
        num_backward,
        num_steps,
        ppg_iters,
        burn_in,
        init_reference,
        backward,
        progress,
        "markov_score_climbing",
    )

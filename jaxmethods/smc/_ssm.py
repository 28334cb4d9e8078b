"""State-space model, proposal and additive-functional interfaces.

A model is an :class:`equinox.Module` whose methods describe **one** state:
the library `vmap`s them over particles. States may be arrays or pytrees of
arrays; observations are the leading-axis slices of ``ys``; parameters are a
pytree passed separately to every method (so they can be differentiated and
`vmap`ped without rebuilding the model).

Time convention: the states are ``x_0, ..., x_{T-1}`` and ``ys[t]`` is
observed with ``x_t``. A transition method called with ``t`` moves
``x_{t-1} -> x_t`` (``t = 1, ..., T-1``).
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray, PyTree, Scalar


State = PyTree[Array]
Params = PyTree[Any]


class StateSpaceModel(eqx.Module):
    r"""A general hidden Markov model with tractable log-densities.

    $X_0 \sim \chi_\theta$, $X_t \mid X_{t-1} \sim m_\theta(X_{t-1}, \cdot)$,
    $Y_t \mid X_t \sim g_\theta(X_t, \cdot)$. Subclass it and implement the
    five abstract methods for a single state; ``params`` ($\theta$) is any
    pytree. An optional sixth method, ``log_transition_bound(t, params)``
    (an upper bound of ``log_transition`` over both states), is needed only
    by the ``"rejection"``
    backward sampler.

    Example:
        ```python
        class AR1(StateSpaceModel):
            def sample_init(self, key, params):
                return jr.normal(key, ())

            def log_init(self, x0, params):
                return jax.scipy.stats.norm.logpdf(x0)

            def sample_transition(self, key, x_prev, t, params):
                return params["rho"] * x_prev + jr.normal(key, ())

            def log_transition(self, x_prev, x, t, params):
                return jax.scipy.stats.norm.logpdf(x, params["rho"] * x_prev)

            def log_observation(self, x, y, t, params):
                return jax.scipy.stats.norm.logpdf(y, x, 0.5)
        ```

    Attributes:
        (subclass fields): whatever structure the model needs (static sizes,
            fixed arrays); parameters to learn go in ``params`` instead.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    @abc.abstractmethod
    def sample_init(self, key: PRNGKeyArray, params: Params) -> State:
        """Draw ``x_0`` from the initial law."""

    @abc.abstractmethod
    def log_init(self, x0: State, params: Params) -> Scalar:
        """Log-density of the initial law at ``x0``."""

    @abc.abstractmethod
    def sample_transition(
        self, key: PRNGKeyArray, x_prev: State, t: ArrayLike, params: Params
    ) -> State:
        """Draw ``x_t`` given ``x_{t-1} = x_prev``."""

    @abc.abstractmethod
    def log_transition(
        self, x_prev: State, x: State, t: ArrayLike, params: Params
    ) -> Scalar:
        """Log transition density ``log m(x_{t-1} = x_prev, x_t = x)``."""

    @abc.abstractmethod
    def log_observation(
        self, x: State, y: PyTree, t: ArrayLike, params: Params
    ) -> Scalar:
        """Log observation density ``log g(x_t = x, y_t = y)``."""


class Proposal(eqx.Module):
    r"""A proposal for guided / auxiliary particle filters.

    ``sample`` and ``log_prob`` draw and score $x_t \sim q_t(x_{t-1}, y_t, \cdot)$;
    ``log_adjustment`` is the auxiliary particle filter's first-stage weight
    $\log \vartheta_{t-1}(x_{t-1})$ (it may look at $y_t$; default 0, i.e. a
    guided filter). A subclass may also define ``sample_init(key, y, params)``
    and ``log_prob_init(x0, y, params)`` to propose $x_0$ given $y_0$
    (both or neither); without them the model's initial law is used.

    Attributes:
        (subclass fields): whatever the proposal needs.

    References:
        M. K. Pitt and N. Shephard, "Filtering via simulation: auxiliary
        particle filters", *JASA* 94(446), 590-599, 1999.
    """

    @abc.abstractmethod
    def sample(
        self, key: PRNGKeyArray, x_prev: State, y: PyTree, t: ArrayLike, params: Params
    ) -> State:
        """Draw ``x_t`` given ``x_{t-1} = x_prev`` and ``y_t = y``."""

    @abc.abstractmethod
    def log_prob(
        self, x_prev: State, x: State, y: PyTree, t: ArrayLike, params: Params
    ) -> Scalar:
        """Log proposal density of ``x_t = x``."""

    def log_adjustment(
        self, x_prev: State, y: PyTree, t: ArrayLike, params: Params
    ) -> Scalar:
        """Auxiliary first-stage log-weight of ``x_{t-1} = x_prev`` (default 0)."""
        del x_prev, y, t, params
        return jnp.zeros(())


def proposes_init(proposal: Proposal | None) -> bool:
    """Whether ``proposal`` defines ``sample_init`` (else the model's law is used)."""
    if proposal is None:
        return False
    has_sample = callable(getattr(proposal, "sample_init", None))
    has_log = callable(getattr(proposal, "log_prob_init", None))
    if has_sample != has_log:
        raise TypeError(
            f"{type(proposal).__name__} must override both sample_init and "
            "log_prob_init, or neither"
        )
    return has_sample


class AdditiveFunctional(eqx.Module):
    r"""An additive functional of a state path.

    $h(x_{0:T-1}) = h_0(x_0, y_0) + \sum_{t \ge 1} h_t(x_{t-1}, x_t, y_t)$.
    Subclass it and implement ``step`` (and ``init`` when the functional has
    an initial term; the default is zeros shaped like ``step``'s output).
    Values may be pytrees (for example a score with one leaf per parameter).
    A plain function ``fn(x_prev, x, y, t, params)`` can be passed wherever
    an ``AdditiveFunctional`` is expected; it is wrapped by
    :func:`as_additive`.

    Attributes:
        (subclass fields): whatever the functional needs.

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines and
        J. Olsson, "State and parameter learning with PaRIS particle Gibbs",
        *ICML* 2023. arXiv:2301.00900.
    """

    @abc.abstractmethod
    def step(
        self, x_prev: State, x: State, y: PyTree, t: ArrayLike, params: Params
    ) -> PyTree[Array]:
        """The term ``h_t(x_{t-1}, x_t, y_t)`` for ``t >= 1``."""

    def init(self, x0: State, y0: PyTree, params: Params) -> PyTree[Array]:
        """The initial term ``h_0(x_0, y_0)`` (default zeros)."""
        out = jax.eval_shape(self.step, x0, x0, y0, jnp.ones((), jnp.int32), params)
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out)


class _FunctionAdditive(AdditiveFunctional):
    fn: Any = eqx.field(static=True)

    def step(self, x_prev, x, y, t, params):
        return self.fn(x_prev, x, y, t, params)


def as_additive(additive_fn: Any) -> AdditiveFunctional:
    """Return ``additive_fn`` as an :class:`AdditiveFunctional` (wrap a callable)."""
    if isinstance(additive_fn, AdditiveFunctional):
        return additive_fn
    if not callable(additive_fn):
        raise TypeError(
            "additive_fn must be an AdditiveFunctional or a callable "
            f"fn(x_prev, x, y, t, params), got {type(additive_fn).__name__}"
        )
    return _FunctionAdditive(additive_fn)

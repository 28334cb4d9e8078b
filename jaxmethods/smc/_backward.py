"""Draws from the backward kernel of a particle filter.

The backward kernel at time ``t`` is
``Lambda_t(i, j) ∝ exp(lw_t[j]) m(x_t[j], x_{t+1}[i])``: the law of the
index of particle ``i``'s predecessor given the filter at ``t``. PaRIS, PPG
and backward sampling all draw from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree, Scalar

from .._internal.sampling import two_level_inverse_cdf
from ._filters import take
from ._resampling import normalized_weights


BackwardMethod = Literal["exact", "mcmc", "rejection"]
BACKWARD_METHODS: tuple[str, ...] = get_args(BackwardMethod)
# Proposal rounds of the rejection sampler before its exact fallback (see
# backward_indices for the measurement behind the choice).
DEFAULT_MAX_TRIALS = 8


def check_backward(
    fn: str, method: str, num_samples: int, mcmc_steps: int, max_trials: int | None
) -> None:
    if method not in BACKWARD_METHODS:
        raise ValueError(
            f"{fn}: unknown backward method {method!r}; expected one of "
            + ", ".join(repr(m) for m in BACKWARD_METHODS)
        )
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(
            f"{fn}: the number of backward draws K must be an int >= 1, got "
            f"{num_samples!r}"
        )
    if not isinstance(mcmc_steps, int) or mcmc_steps < 1:
        raise ValueError(f"{fn}: mcmc_steps must be an int >= 1, got {mcmc_steps!r}")
    if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 0):
        raise ValueError(
            f"{fn}: max_trials must be None or an int >= 0, got {max_trials!r}"
        )


def _pair_log_m(log_m, x_prev, x_next, i_next, j_prev):
    """``log_m(x_prev[j], x_next[i])`` for index arrays of one shape."""
    xp = take(x_prev, j_prev.reshape(-1))
    xn = take(x_next, i_next.reshape(-1))
    return jax.vmap(log_m)(xp, xn).reshape(j_prev.shape)


def _draw(key, cdf_rows, shape):
    """Inverse-CDF draws: one row of ``cdf_rows`` per leading index."""
    u = jr.uniform(key, shape, cdf_rows.dtype) * cdf_rows[..., -1:]
    idx = jax.vmap(lambda c, v: jnp.searchsorted(c, v, side="right"))(cdf_rows, u)
    return jnp.minimum(idx, cdf_rows.shape[-1] - 1).astype(jnp.int32)


def exact_logits(log_m, x_prev, log_w_prev, x_next) -> Array:
    """The ``(N_next, N_prev)`` unnormalized backward-kernel log-probabilities."""
    lm = jax.vmap(lambda xn: jax.vmap(lambda xp: log_m(xp, xn))(x_prev))(x_next)
    return log_w_prev[None, :] + lm


# Rows at least this long are sampled by a two-level inverse CDF (blocks of
# _BLOCK values, `two_level_inverse_cdf`) instead of a cumulative sum over the
# whole (M, N) matrix.
_TWO_LEVEL_MIN = 256
_BLOCK = 32


def _exact(key, x_prev, log_w_prev, x_next, log_m, num_samples):
    logits = exact_logits(log_m, x_prev, log_w_prev, x_next)
    w = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    if w.shape[-1] >= _TWO_LEVEL_MIN:
        u = jr.uniform(key, (w.shape[0], num_samples), w.dtype)
        return jax.vmap(lambda wr, ur: two_level_inverse_cdf(wr, ur, _BLOCK))(w, u)
    cdf = jnp.cumsum(w, axis=-1)
    return _draw(key, cdf, (w.shape[0], num_samples))


def _mcmc(key, x_prev, w_prev, x_next, log_m, num_samples, start, steps):
    n_next = start.shape[0]
    cdf = jnp.cumsum(w_prev)
    rows = jnp.broadcast_to(
        jnp.arange(n_next, dtype=jnp.int32)[:, None], (n_next, num_samples)
    )
    j = jnp.broadcast_to(start[:, None], (n_next, num_samples))
    cur = _pair_log_m(log_m, x_prev, x_next, rows, j)
    for s in range(steps):
        k_prop, k_acc = jr.split(jr.fold_in(key, s))
        u = jr.uniform(k_prop, (n_next, num_samples), w_prev.dtype) * cdf[-1]
        prop = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1)
        prop = prop.astype(jnp.int32)
        new = _pair_log_m(log_m, x_prev, x_next, rows, prop)
        log_u = jnp.log(jr.uniform(k_acc, (n_next, num_samples), w_prev.dtype))
        accept = log_u < new - cur
        j = jnp.where(accept, prop, j)
        cur = jnp.where(accept, new, cur)
    return j


def _rejection(
    key, x_prev, log_w_prev, w_prev, x_next, log_m, num_samples, bound, max_trials
):
    n_next = jax.tree.leaves(x_next)[0].shape[0]
    shape = (n_next, num_samples)
    cdf = jnp.cumsum(w_prev)
    rows = jnp.broadcast_to(jnp.arange(n_next, dtype=jnp.int32)[:, None], shape)
    k_loop, k_fallback = jr.split(key)

    def cond(state):
        r, _, done = state
        return (r < max_trials) & ~jnp.all(done)

    def body(state):
        r, j, done = state
        k_prop, k_acc = jr.split(jr.fold_in(k_loop, r))
        u = jr.uniform(k_prop, shape, w_prev.dtype) * cdf[-1]
        prop = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1)
        prop = prop.astype(jnp.int32)
        lm = _pair_log_m(log_m, x_prev, x_next, rows, prop)
        log_u = jnp.log(jr.uniform(k_acc, shape, w_prev.dtype))
        accept = ~done & (log_u < lm - bound)
        return r + 1, jnp.where(accept, prop, j), done | accept

    init = (
        jnp.zeros((), jnp.int32),
        jnp.zeros(shape, jnp.int32),
        jnp.zeros(shape, bool),
    )
    _, j, done = jax.lax.while_loop(cond, body, init)

    # Hybrid fallback (Dau and Chopin, 2023): rows with draws left undone get
    # exact draws, one row at a time, O(N_prev) each.
    def fb_cond(state):
        _, done, _ = state
        return ~jnp.all(done)

    def fb_body(state):
        j, done, c = state
        i = jnp.argmax(~jnp.all(done, axis=1))
        xn = take(x_next, i)
        row = log_w_prev + jax.vmap(lambda xp: log_m(xp, xn))(x_prev)
        w = jnp.exp(row - jnp.max(row))
        draws = _draw(jr.fold_in(k_fallback, c), jnp.cumsum(w)[None], (1, num_samples))[
            0
        ]
        j = j.at[i].set(jnp.where(done[i], j[i], draws))
        return j, done.at[i].set(True), c + 1

    j, _, _ = jax.lax.while_loop(fb_cond, fb_body, (j, done, jnp.zeros((), jnp.int32)))
    return j


def backward_indices(
    key: PRNGKeyArray,
    x_prev: PyTree,
    log_w_prev: Float[ArrayLike, " N"],
    x_next: PyTree,
    log_m: Callable[[PyTree, PyTree], Scalar],
    num_samples: int,
    *,
    method: str = "exact",
    ancestors: Int[ArrayLike, " M"] | None = None,
    mcmc_steps: int = 2,
    max_trials: int | None = None,
    log_m_bound: Float[ArrayLike, ""] | None = None,
) -> Int[Array, "M K"]:
    r"""Draw ``K`` predecessor indices per particle from the backward kernel.

    For each of the ``M`` particles $\xi_{t+1}^i$ of ``x_next``, draws
    $J^{i,1..K}$ from
    $\Lambda_t(i, j) \propto \exp(\ell_t^j)\, m(\xi_t^j, \xi_{t+1}^i)$,
    $j = 1..N$, where $\ell_t$ = ``log_w_prev`` are the filtering log-weights
    at $t$ (before any resampling at $t$) and $m$ is the model's transition
    density (not the proposal's).

    - ``"exact"``: builds the ``(M, N)`` log-probabilities and draws by
      inverse CDF. $O(MN)$ time and memory per step; exact draws, the right
      choice for unbiasedness and for $N$ up to a few thousand.
    - ``"mcmc"`` (Dau and Chopin, 2023): ``mcmc_steps`` independent
      Metropolis–Hastings steps per draw with proposal $\mathrm{Cat}(W_t)$,
      started from ``ancestors`` (each particle's parent, a draw from
      $\Lambda_t$ in a bootstrap filter). $O(MKS)$; consistent but not exact.
    - ``"rejection"`` (Douc et al., 2011; hybrid as in Dau and Chopin,
      2023): propose $J \sim \mathrm{Cat}(W_t)$ and accept with probability
      $m(\xi_t^J, \xi_{t+1}^i) / \bar\varepsilon$ where
      $\log\bar\varepsilon$ = ``log_m_bound``; after ``max_trials`` rounds
      (default 8) the draws still missing are made exactly, row by row,
      at $O(N)$ each. Exact draws; its run time is random
      (``lax.while_loop``; under ``vmap`` all lanes wait for the slowest).
      The rounds are synchronous (every round proposes for every draw still
      missing), so a long cap makes all draws wait for the few particles in
      the tails whose acceptance rate is tiny, the heavy-tailed cost that
      Dau and Chopin describe; a short cap plus the exact fallback was the
      fastest here (N = 256: 0.41 ms with 8 rounds, 1.5 ms with 32, 8 ms
      with 256, 0.68 ms for ``"exact"``).

    Args:
        key: PRNG key.
        x_prev: particles at ``t``, leaves with leading axis ``N``.
        log_w_prev: their filtering log-weights, unnormalized, ``(N,)``.
        x_next: particles at ``t + 1``, leaves with leading axis ``M``.
        log_m: ``log_m(x_prev_one, x_next_one) -> scalar`` transition
            log-density (closing over ``t`` and the parameters).
        num_samples: ``K``, draws per particle (static).
        method: ``"exact"``, ``"mcmc"`` or ``"rejection"`` (static).
        ancestors: starting indices for ``"mcmc"``, ``(M,)``; without them
            the chains start from a draw from $\mathrm{Cat}(W_t)$.
        mcmc_steps: Metropolis–Hastings steps per draw for ``"mcmc"``.
        max_trials: proposal rounds before the exact fallback for
            ``"rejection"`` (default 8; 0 means always exact).
        log_m_bound: an upper bound of ``log_m`` (required by
            ``"rejection"``).

    Returns:
        int32 indices into ``x_prev``, shape ``(M, K)``.

    Raises:
        ValueError: on an unknown method, ``K < 1``, ``mcmc_steps < 1``,
            mismatched shapes, or ``"rejection"`` without ``log_m_bound``;
            at run time if all weights vanish or are NaN.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import backward_indices
        >>> x_prev = jnp.array([-5.0, 0.0, 5.0])
        >>> x_next = jnp.array([4.9, -5.1])
        >>> log_m = lambda xp, xn: -0.5 * (xn - xp) ** 2
        >>> backward_indices(jr.key(0), x_prev, jnp.zeros(3), x_next, log_m, 2)
        Array([[2, 2],
               [0, 0]], dtype=int32)

    References:
        J. Olsson and J. Westerborn, "Efficient particle-based online
        smoothing in general hidden Markov models: the PaRIS algorithm",
        *Bernoulli* 23(3), 1951-1996, 2017.

        H.-D. Dau and N. Chopin, "On backward smoothing algorithms", *Annals
        of Statistics* 51(5), 2145-2168, 2023.

        R. Douc, A. Garivier, E. Moulines and J. Olsson, "Sequential Monte
        Carlo smoothing for general state space hidden Markov models", *Annals
        of Applied Probability* 21(6), 2109-2145, 2011.
    """
    fn = "backward_indices"
    check_backward(fn, method, num_samples, mcmc_steps, max_trials)
    log_w_prev = jnp.asarray(log_w_prev)
    if log_w_prev.ndim != 1:
        raise ValueError(f"{fn}: log_w_prev must be 1-D, got shape {log_w_prev.shape}")
    n = log_w_prev.shape[0]
    n_prev = {jnp.shape(a)[0] for a in jax.tree.leaves(x_prev)}
    if n_prev != {n}:
        raise ValueError(
            f"{fn}: x_prev must have leading axis {n} (the length of log_w_prev), "
            f"got {sorted(n_prev)}"
        )
    m_set = {jnp.shape(a)[0] for a in jax.tree.leaves(x_next)}
    if len(m_set) != 1:
        raise ValueError(f"{fn}: the leaves of x_next disagree on the leading axis")
    (m,) = m_set
    w = normalized_weights(fn, log_w_prev)
    if method == "exact":
        return _exact(key, x_prev, log_w_prev, x_next, log_m, num_samples)
    if method == "mcmc":
        if ancestors is None:
            k0, key = jr.split(key)
            u = jr.uniform(k0, (m,), w.dtype)
            start = jnp.minimum(jnp.searchsorted(jnp.cumsum(w), u, side="right"), n - 1)
        else:
            start = jnp.asarray(ancestors)
            if start.shape != (m,):
                raise ValueError(
                    f"{fn}: ancestors must have shape ({m},), got {start.shape}"
                )
        return _mcmc(
            key,
            x_prev,
            w,
            x_next,
            log_m,
            num_samples,
            start.astype(jnp.int32),
            mcmc_steps,
        )
    if log_m_bound is None:
        raise ValueError(
            f"{fn}: method='rejection' needs log_m_bound, an upper bound of log_m "
            "(StateSpaceModel.log_transition_bound)"
        )
    trials = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
    bound = jnp.asarray(log_m_bound, w.dtype)
    return _rejection(
        key, x_prev, log_w_prev, w, x_next, log_m, num_samples, bound, trials
    )


def log_m_bound_for(model, t, params, method: str) -> Array | None:
    """``model.log_transition_bound(t, params)`` when ``method == "rejection"``."""
    if method != "rejection":
        return None
    bound = getattr(model, "log_transition_bound", None)
    if not callable(bound):
        raise ValueError(
            f"{type(model).__name__} does not define log_transition_bound(t, params), "
            "which backward='rejection' needs; use backward='exact' or 'mcmc'"
        )
    return jnp.asarray(bound(t, params))

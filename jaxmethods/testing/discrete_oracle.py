r"""Exact table oracles for discrete (masked) diffusion and any-order models.

With a small vocabulary $V$ and a short length $L$ a joint distribution over
$\{0, \dots, V-1\}^L$ fits in an explicit table, so every conditional
$p(x_i = v \mid \text{visible tokens})$ is exact, every sampler's *output law*
can be computed exactly by dynamic programming over the $(V+1)^L$ partially
masked states, and every ELBO can be evaluated by enumerating all masks. This
turns "does the sampler work?" into a deterministic check.

Conventions (shared with [`jaxmethods.discrete`][]): the vocabulary is
$\{0, \dots, V-1\}$ and the mask token is $V$; a *denoiser* is any callable
``denoise_fn(z: int[L]) -> float[L, V]`` returning the log-probabilities of
the clean token at each position given the partially masked sequence ``z``;
at visible positions it returns the one-hot *carry-over* row ($0$ at the
visible token, $-\infty$ elsewhere). Tables are indexed row-major, like
[`all_sequences`][jaxmethods.testing.discrete_oracle.all_sequences].

- Joints: [`dirichlet_joint`][jaxmethods.testing.discrete_oracle.dirichlet_joint],
  [`markov_joint`][jaxmethods.testing.discrete_oracle.markov_joint].
- Denoisers: [`TableOracle`][jaxmethods.testing.discrete_oracle.TableOracle]
  (exact conditionals of a table, learnable through
  ``TableOracle.from_logits``) and
  [`MixtureModel`][jaxmethods.testing.discrete_oracle.MixtureModel] (a
  deliberately inconsistent conditional model).
- Exact laws:
  [`ancestral_output_law`][jaxmethods.testing.discrete_oracle.ancestral_output_law]
  (MD4/MDLM/RADD ancestral sampler),
  [`one_step_policy_law`][jaxmethods.testing.discrete_oracle.one_step_policy_law]
  (LLaDA/Dream confidence decoders),
  [`fixed_order_joint`][jaxmethods.testing.discrete_oracle.fixed_order_joint]
  (the joint of one autoregressive order).
- Exact ELBOs:
  [`ao_arm_nelbo_enumerated`][jaxmethods.testing.discrete_oracle.ao_arm_nelbo_enumerated],
  [`average_order_nll`][jaxmethods.testing.discrete_oracle.average_order_nll],
  [`masked_nelbo_exact`][jaxmethods.testing.discrete_oracle.masked_nelbo_exact].
- Distances: [`tv_distance`][jaxmethods.testing.discrete_oracle.tv_distance],
  [`kl_divergence`][jaxmethods.testing.discrete_oracle.kl_divergence], and
  [`empirical_law`][jaxmethods.testing.discrete_oracle.empirical_law] for
  samples.

Everything is plain ``jax.numpy`` in the dtype of the table (float64 when
``jax_enable_x64`` is on), so the exact laws and ELBOs are differentiable with
respect to a learnable table. Costs grow like $V^L$, $(V+1)^{2L}$ and $2^L$:
keep $V^L$ to a few thousand entries.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.core import Tracer
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype, default_float
from ..discrete import (
    LinearSchedule,
    MaskingSchedule,
    time_grid,
    unmask_probabilities,
)


__all__ = [
    "dirichlet_joint",
    "markov_joint",
    "all_sequences",
    "all_partial_sequences",
    "TableOracle",
    "MixtureModel",
    "ancestral_output_law",
    "one_step_policy_law",
    "fixed_order_joint",
    "ao_arm_nelbo_enumerated",
    "average_order_nll",
    "masked_nelbo_exact",
    "tv_distance",
    "kl_divergence",
    "empirical_law",
]

DenoiseFn = Callable[[Int[Array, " L"]], Float[Array, "L V"]]
Policy = Literal["random", "entropy", "margin", "confidence"]
GridKind = Literal["uniform", "cosine"]
_POLICIES = ("random", "entropy", "margin", "confidence")

# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _check_size(fn: str, name: str, n, lo: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < lo:
        raise ValueError(f"{fn}: {name} must be an int >= {lo}, got {n!r}")
    return int(n)


def _is_traced(x) -> bool:
    return isinstance(x, Tracer)


def _check_tokens(fn: str, z, vocab_size: int, length: int, *, allow_mask: bool):
    """``z`` as an integer array of shape ``(length,)`` with values in range.

    Values are checked eagerly (``ValueError``) when ``z`` is concrete and with
    ``eqx.error_if`` (a runtime error) under ``jit``/``vmap``.
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.integer):
        raise ValueError(f"{fn}: tokens must have an integer dtype, got {z.dtype}")
    if z.shape != (length,):
        raise ValueError(
            f"{fn}: tokens must have shape ({length},) (vmap over batches), got "
            f"{z.shape}"
        )
    hi = vocab_size if allow_mask else vocab_size - 1
    what = (
        f"[0, {vocab_size}] (mask id {vocab_size})"
        if allow_mask
        else f"[0, {vocab_size - 1}] (clean tokens, no mask)"
    )
    msg = f"{fn}: tokens must lie in {what}"
    if _is_traced(z):
        z = eqx.error_if(z, jnp.any((z < 0) | (z > hi)), msg)
    else:
        zn = np.asarray(z)
        if np.any((zn < 0) | (zn > hi)):
            raise ValueError(f"{msg}, got {zn.tolist()}")
    return z


def _digits(num: int, base: int, length: int) -> np.ndarray:
    """Row-major digits of ``0..num-1`` in ``base``, shape ``(num, length)``."""
    idx = np.arange(num)
    pw = base ** np.arange(length - 1, -1, -1)
    return (idx[:, None] // pw[None, :]) % base


def all_sequences(vocab_size: int, length: int) -> Int[Array, "n L"]:
    r"""All $V^L$ sequences, in the row-major order of the probability tables.

    Row ``k`` is the multi-index of entry ``k`` of a table of shape
    ``(V,) * L`` flattened in C order, so ``table.reshape(-1)[k]`` is the
    probability of ``all_sequences(V, L)[k]``.

    Args:
        vocab_size: $V \ge 1$.
        length: $L \ge 1$.

    Returns:
        ``int32`` array of shape ``(V**L, L)``.

    Raises:
        ValueError: ``vocab_size`` or ``length`` is not a positive int.

    Examples:
        >>> from jaxmethods.testing.discrete_oracle import all_sequences
        >>> print(all_sequences(2, 2).tolist())
        [[0, 0], [0, 1], [1, 0], [1, 1]]

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    V = _check_size("all_sequences", "vocab_size", vocab_size)
    L = _check_size("all_sequences", "length", length)
    return jnp.asarray(_digits(V**L, V, L), dtype=jnp.int32)


def all_partial_sequences(vocab_size: int, length: int) -> Int[Array, "n L"]:
    r"""All $(V+1)^L$ partially masked sequences (mask id $V$), row-major.

    The last row is the fully masked sequence and the rows without any mask
    appear in the order of
    [`all_sequences`][jaxmethods.testing.discrete_oracle.all_sequences].

    Args:
        vocab_size: $V \ge 1$.
        length: $L \ge 1$.

    Returns:
        ``int32`` array of shape ``((V + 1)**L, L)``, values in $[0, V]$.

    Raises:
        ValueError: ``vocab_size`` or ``length`` is not a positive int.

    Examples:
        >>> from jaxmethods.testing.discrete_oracle import all_partial_sequences
        >>> print(all_partial_sequences(1, 2).tolist())
        [[0, 0], [0, 1], [1, 0], [1, 1]]

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    V = _check_size("all_partial_sequences", "vocab_size", vocab_size)
    L = _check_size("all_partial_sequences", "length", length)
    return jnp.asarray(_digits((V + 1) ** L, V + 1, L), dtype=jnp.int32)


def _state_index(z: Array, base: int) -> Array:
    """Row-major index of partial sequences ``z[..., L]`` in ``base`` digits."""
    L = z.shape[-1]
    pw = jnp.asarray(base ** np.arange(L - 1, -1, -1), dtype=z.dtype)
    return jnp.sum(z * pw.reshape((1,) * (z.ndim - 1) + (L,)), axis=-1)


def _subsets(length: int) -> np.ndarray:
    """All ``2**length`` subsets as booleans, row-major (last row: all)."""
    return _digits(2**length, 2, length).astype(bool)


@eqx.filter_jit
def _vmapped(denoise_fn, zs):
    # jitted so that repeated calls with the same model reuse one compilation
    return jax.vmap(denoise_fn)(zs)


def _evaluate(fn: str, denoise_fn, zs: Array, vocab_size: int) -> Array:
    """``vmap(denoise_fn)(zs)`` (jitted) with a shape check."""
    out = _vmapped(denoise_fn, zs)
    shape = tuple(getattr(out, "shape", ()))
    if shape != (zs.shape[0], zs.shape[1], vocab_size):
        raise ValueError(
            f"{fn}: denoise_fn must return log-probs of shape "
            f"({zs.shape[1]}, {vocab_size}), got {shape[1:]}"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"{fn}: denoise_fn must return floats, got {out.dtype}")
    return out


def _infer_vocab(fn: str, denoise_fn, x: Array, vocab_size) -> int:
    """``V`` from the output shape of ``denoise_fn`` on the clean ``x``."""
    if vocab_size is not None:
        return _check_size(fn, "vocab_size", vocab_size)
    shape = jax.eval_shape(denoise_fn, x).shape
    if len(shape) != 2 or shape[0] != x.shape[0]:
        raise ValueError(
            f"{fn}: denoise_fn must return log-probs of shape (L, V) with "
            f"L = {x.shape[0]}, got {tuple(shape)}"
        )
    return int(shape[1])


def _prepare_clean(fn: str, denoise_fn, x, vocab_size):
    x = jnp.asarray(x)
    if x.ndim != 1 or x.shape[0] < 1:
        raise ValueError(f"{fn}: x must have shape (L,) with L >= 1, got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise ValueError(f"{fn}: x must have an integer dtype, got {x.dtype}")
    V = _infer_vocab(fn, denoise_fn, x, vocab_size)
    x = _check_tokens(fn, x, V, x.shape[0], allow_mask=False)
    return x.astype(jnp.int32), V


def _masked_nlls(fn: str, denoise_fn, x: Array, V: int, masks: np.ndarray) -> Array:
    """``sum_{i in S} -log c(x_i | x with S masked)`` for every mask row ``S``."""
    m = jnp.asarray(masks)
    zs = jnp.where(m, jnp.asarray(V, x.dtype), x[None, :])
    return _picked_nll(_evaluate(fn, denoise_fn, zs, V), x, m)


@jax.jit
def _picked_nll(logc: Array, x: Array, m: Array) -> Array:
    picked = jnp.take_along_axis(logc, jnp.broadcast_to(x, m.shape)[..., None], -1)
    picked = picked[..., 0]
    return -jnp.sum(jnp.where(m, picked, jnp.zeros_like(picked)), axis=-1)


def _law_from_states(dist: Array, vocab_size: int, length: int) -> Array:
    """The fully unmasked entries of a distribution over partial states."""
    seqs = _digits(vocab_size**length, vocab_size, length)
    full = seqs @ (vocab_size + 1) ** np.arange(length - 1, -1, -1)
    return dist[full].reshape((vocab_size,) * length)


# --------------------------------------------------------------------------
# joints
# --------------------------------------------------------------------------


def dirichlet_joint(
    vocab_size: int, length: int, *, seed: int, alpha: float = 1.0
) -> np.ndarray:
    r"""A random joint over $V^L$ sequences, drawn from a flat Dirichlet.

    Exactly ``np.random.default_rng(seed).dirichlet(np.full(V**L, alpha))``
    reshaped to ``(V,) * L``; small ``alpha`` gives peaked joints. The
    reference joint of the discrete tests is
    ``dirichlet_joint(3, 4, seed=0, alpha=0.5)``.

    Args:
        vocab_size: $V \ge 1$.
        length: $L \ge 1$.
        seed: NumPy seed.
        alpha: Dirichlet concentration $> 0$.

    Returns:
        float64 NumPy array of shape ``(V,) * L`` summing to one.

    Raises:
        ValueError: bad sizes or ``alpha <= 0``.

    Examples:
        >>> from jaxmethods.testing.discrete_oracle import dirichlet_joint
        >>> p = dirichlet_joint(3, 4, seed=0, alpha=0.5)
        >>> print(p.shape, f"{p[0, 1, 2, 0]:.6e}")
        (3, 3, 3, 3) 3.739468e-04

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    V = _check_size("dirichlet_joint", "vocab_size", vocab_size)
    L = _check_size("dirichlet_joint", "length", length)
    if not float(alpha) > 0:
        raise ValueError(f"dirichlet_joint: alpha must be positive, got {alpha}")
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(V**L, float(alpha))).reshape((V,) * L)


def markov_joint(
    vocab_size: int, length: int, *, seed: int, alpha: float = 1.0, order: int = 1
) -> np.ndarray:
    r"""The explicit joint table of a random Markov chain of a given order.

    With $m$ = ``order``, the first $m$ tokens have a joint
    $\pi(x_{1:m})$ and every later token follows one transition table,
    $p(x) = \pi(x_{1:m}) \prod_{t > m} T(x_t \mid x_{t-m:t-1})$. Both are drawn
    from ``rng = np.random.default_rng(seed)`` in this order:
    ``pi = rng.dirichlet(np.full(V**m, alpha))`` and
    ``T = rng.dirichlet(np.full(V, alpha), size=V**m)`` (one row per context,
    contexts row-major). Small ``alpha`` gives nearly deterministic chains;
    ``order=0`` gives i.i.d. tokens.

    Args:
        vocab_size: $V \ge 1$.
        length: $L \ge 1$.
        seed: NumPy seed.
        alpha: Dirichlet concentration $> 0$.
        order: Markov order $m$, $0 \le m < L$.

    Returns:
        float64 NumPy array of shape ``(V,) * L`` summing to one.

    Raises:
        ValueError: bad sizes, order or ``alpha``.

    Examples:
        >>> from jaxmethods.testing.discrete_oracle import markov_joint
        >>> p = markov_joint(2, 3, seed=0, order=1)
        >>> print(p.shape, round(float(p.sum()), 12))
        (2, 2, 2) 1.0

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    fn = "markov_joint"
    V = _check_size(fn, "vocab_size", vocab_size)
    L = _check_size(fn, "length", length)
    m = _check_size(fn, "order", order, lo=0)
    if m >= L:
        raise ValueError(f"{fn}: order must be < length = {L}, got {m}")
    if not float(alpha) > 0:
        raise ValueError(f"{fn}: alpha must be positive, got {alpha}")
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(V**m, float(alpha))).reshape((V,) * m)
    trans = rng.dirichlet(np.full(V, float(alpha)), size=V**m).reshape((V,) * (m + 1))
    for t in range(m, L):
        p = p[..., None] * trans.reshape((1,) * (t - m) + trans.shape)
    return p


# --------------------------------------------------------------------------
# denoisers
# --------------------------------------------------------------------------


def _table_dtype(a: Array) -> Array:
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(default_float())
    return a


@jax.jit
def _table_raw(lp: Array, z: Array) -> tuple[Array, Array, Array]:
    """Normalised log conditionals at masked rows, ``-log V`` at visible rows.

    The table is restricted to the visible tokens (log-space ``-inf``
    outside), shifted by the restricted maximum and exponentiated, and each
    axis is summed out. Visible rows are replaced by ones *before* the log, so
    every returned row is finite for a positive table and gradients stay finite
    where the carry-over row is selected. Also returns the ``masked`` flags and
    the carry-over rows.
    """
    V, L = lp.shape[0], lp.ndim
    masked = z == V
    vocab = jnp.arange(V, dtype=z.dtype)
    onehot = vocab[None, :] == z[:, None]  # (L, V); all False at masks
    allowed = masked[:, None] | onehot
    zero = jnp.zeros((), lp.dtype)
    neg_inf = jnp.asarray(-jnp.inf, lp.dtype)
    t = lp
    for j in range(L):
        shape = tuple(V if a == j else 1 for a in range(L))
        t = t + jnp.where(allowed[j], zero, neg_inf).reshape(shape)
    t = jnp.exp(t - jax.lax.stop_gradient(jnp.max(t)))
    rows = [
        jnp.sum(t, axis=tuple(a for a in range(L) if a != i)) if L > 1 else t
        for i in range(L)
    ]
    m = jnp.where(masked[:, None], jnp.stack(rows), jnp.ones((), lp.dtype))
    m = jnp.log(m) - jnp.log(jnp.sum(m, axis=-1, keepdims=True))
    carry = jnp.where(onehot, zero, neg_inf)
    return m, masked, carry


@jax.jit
def _table_call(lp: Array, z: Array) -> Array:
    m, masked, carry = _table_raw(lp, z)
    return jnp.where(masked[:, None], m, carry)


@jax.jit
def _mixture_call(lp: Array, lq: Array, w: Array, z: Array) -> Array:
    a, masked, carry = _table_raw(lp, z)
    b, _, _ = _table_raw(lq, z)
    mix = jnp.logaddexp(jnp.log(w) + a, jnp.log1p(-w) + b)
    return jnp.where(masked[:, None], mix, carry)


@jax.jit
def _table_entropy(lp: Array) -> Array:
    fin = jnp.isfinite(lp)
    safe = jnp.where(fin, lp, jnp.zeros_like(lp))
    return -jnp.sum(jnp.where(fin, jnp.exp(safe) * safe, jnp.zeros_like(lp)))


@jax.jit
def _table_marginals(lp: Array) -> Array:
    L = lp.ndim
    if L == 1:
        return jnp.exp(lp)[None, :]
    rows = [
        jax.nn.logsumexp(lp, axis=tuple(a for a in range(L) if a != i))
        for i in range(L)
    ]
    return jnp.exp(jnp.stack(rows))


class TableOracle(eqx.Module):
    r"""Exact conditionals of a joint held as an explicit table.

    Called on a partially masked sequence $z$ (mask id $V$) it returns, at
    every masked position $i$, the exact

    $$\log p(x_i = v \mid x_j = z_j \text{ for all visible } j),$$

    computed by masked marginalisation: the table is restricted to the
    visible tokens, rescaled by its largest restricted entry (so the
    context's own probability may be tiny) and summed over the other axes.
    Visible positions get the carry-over row ($0$ at $z_i$, $-\infty$
    elsewhere). One call costs $O(L \cdot V^L)$. The call is
    ``jit``/``vmap``-able over $z$ and differentiable with respect to
    ``log_p`` (no log of an all-zero slice is taken for a positive table, so
    gradients are finite). Contexts of probability zero give NaN rows, and
    conditional probabilities below the dtype's smallest normal number
    (relative to the most likely completion) come out as $-\infty$.

    Build it with
    [`from_probs`][jaxmethods.testing.discrete_oracle.TableOracle.from_probs]
    (a fixed table, e.g. from
    [`dirichlet_joint`][jaxmethods.testing.discrete_oracle.dirichlet_joint])
    or [`from_logits`][jaxmethods.testing.discrete_oracle.TableOracle.from_logits]
    (a learnable table model: ``jax.grad`` with respect to the logits flows
    through every method).

    Args:
        log_p: normalised log-probabilities, shape ``(V,) * L`` (float; not
            renormalised).

    Attributes:
        log_p: the log-probability table, shape ``(V,) * L``.

    Raises:
        ValueError: ``log_p`` is not a float array with ``L >= 1`` equal axes.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from jaxmethods.testing.discrete_oracle import TableOracle
        >>> oracle = TableOracle.from_probs(jnp.array([[0.1, 0.2], [0.3, 0.4]]))
        >>> c = jnp.exp(oracle(jnp.array([0, 2])))   # x_0 = 0 visible, x_1 masked
        >>> print(np.round(np.asarray(c, np.float64), 4).tolist())
        [[1.0, 0.0], [0.3333, 0.6667]]

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.

        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """

    log_p: Float[Array, "*table"]

    def __init__(self, log_p: Float[ArrayLike, "*table"]):
        lp = _table_dtype(jnp.asarray(log_p))
        if lp.ndim < 1 or len(set(lp.shape)) != 1 or lp.shape[0] < 1:
            raise ValueError(
                "TableOracle: log_p must have shape (V,) * L with L >= 1, got "
                f"{lp.shape}"
            )
        self.log_p = lp

    @classmethod
    def from_probs(cls, probs: Float[ArrayLike, "*table"]) -> TableOracle:
        r"""An oracle for the joint ``probs`` (renormalised to sum to one).

        Args:
            probs: non-negative table of shape ``(V,) * L``.

        Returns:
            The oracle, in the float dtype of ``probs``.

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        p = _table_dtype(jnp.asarray(probs))
        return cls(jnp.log(p) - jnp.log(jnp.sum(p)))

    @classmethod
    def from_logits(cls, logits: Float[ArrayLike, "*table"]) -> TableOracle:
        r"""A learnable table model $p \propto e^{\text{logits}}$.

        The table is ``logits - logsumexp(logits)`` over all entries, so
        ``jax.grad`` of any quantity of the oracle with respect to
        ``logits`` flows.

        Args:
            logits: unnormalised log-probabilities, shape ``(V,) * L``.

        Returns:
            The oracle, in the float dtype of ``logits``.

        Examples:
            >>> import jax, jax.numpy as jnp
            >>> from jaxmethods.testing.discrete_oracle import TableOracle
            >>> nll = lambda l: -TableOracle.from_logits(l).log_prob(jnp.array([1]))
            >>> print(jax.grad(nll)(jnp.zeros(2)).tolist())
            [0.5, -0.5]

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        lg = _table_dtype(jnp.asarray(logits))
        return cls(lg - jax.nn.logsumexp(lg))

    @property
    def vocab_size(self) -> int:
        """Vocabulary size $V$ (the mask id)."""
        return int(self.log_p.shape[0])

    @property
    def length(self) -> int:
        """Sequence length $L$."""
        return int(self.log_p.ndim)

    def __call__(self, z: Int[ArrayLike, " L"]) -> Float[Array, "L V"]:
        r"""Exact log conditionals at every position of a partially masked ``z``.

        Args:
            z: tokens in $[0, V]$ (mask id $V$), shape ``(L,)``.

        Returns:
            Log-probabilities of shape ``(L, V)`` in the table's dtype: exact
            conditionals at masked positions, carry-over rows at visible ones.

        Raises:
            ValueError: ``z`` has the wrong shape or dtype, or (when concrete)
                values outside $[0, V]$; under ``jit``/``vmap`` out-of-range
                values raise a runtime error (``eqx.error_if``).

        References:
            Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
            Conditional Distributions of Clean Data", ICLR 2025.
            arXiv:2406.03736.
        """
        z = _check_tokens(
            "TableOracle", z, self.vocab_size, self.length, allow_mask=True
        )
        return _table_call(self.log_p, z)

    def log_prob(self, x: Int[ArrayLike, " L"]) -> Float[Array, ""]:
        r"""$\log p(x)$ of a clean sequence.

        Args:
            x: tokens in $[0, V-1]$, shape ``(L,)``.

        Returns:
            Scalar log-probability in the table's dtype.

        Raises:
            ValueError: wrong shape/dtype or (when concrete) out-of-range tokens.

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        x = _check_tokens(
            "TableOracle.log_prob", x, self.vocab_size, self.length, allow_mask=False
        )
        return self.log_p.reshape(-1)[
            _state_index(x.astype(jnp.int32), self.vocab_size)
        ]

    def entropy(self) -> Float[Array, ""]:
        r"""Shannon entropy $H(p) = -\sum_x p(x)\log p(x)$ in nats.

        Returns:
            Scalar in the table's dtype (zero-probability entries count 0).

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        return _table_entropy(self.log_p)

    def marginals(self) -> Float[Array, "L V"]:
        r"""Single-site marginals $p(x_i = v)$ (probabilities, not logs).

        Returns:
            Array of shape ``(L, V)`` whose rows sum to one.

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        return _table_marginals(self.log_p)

    def sample(self, key: PRNGKeyArray, num_samples: int) -> Int[Array, "n L"]:
        r"""Exact i.i.d. draws from the table.

        Args:
            key: PRNG key.
            num_samples: number of sequences (static).

        Returns:
            ``int32`` array of shape ``(num_samples, L)``.

        References:
            Yu et al., "Discrete Diffusion in Large Language and Multimodal Models:
            A Survey", 2025. arXiv:2506.13759.
        """
        n = _check_size("TableOracle.sample", "num_samples", num_samples)
        flat = jr.categorical(key, self.log_p.reshape(-1), shape=(n,))
        seqs = all_sequences(self.vocab_size, self.length)
        return seqs[flat]


class MixtureModel(eqx.Module):
    r"""A deliberately inconsistent conditional model $w P(\cdot|z) + (1-w) Q(\cdot|z)$.

    At every masked position the conditional is the mixture of the two
    oracles' exact conditionals,
    $c(x_i = v \mid z) = w\,P(x_i = v \mid z) + (1 - w)\,Q(x_i = v \mid z)$,
    and visible positions get the carry-over row. For $0 < w < 1$ and
    $P \ne Q$ these conditionals are in general not those of any joint (their
    autoregressive joints depend on the order), so identities that must hold
    "for any model", e.g. $\text{E}[\lambda\text{-DCE}] = $ the mean over
    orders, are tested non-trivially on it.

    Args:
        p: the first oracle $P$.
        q: the second oracle $Q$, of the same shape.
        weight: mixture weight $w \in [0, 1]$ (an array leaf).

    Attributes:
        p: $P$.
        q: $Q$.
        weight: $w$, a scalar array in the tables' dtype.

    Raises:
        ValueError: the oracles have different shapes or dtypes.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from jaxmethods.testing.discrete_oracle import MixtureModel, TableOracle
        >>> P = TableOracle.from_probs(jnp.array([[0.5, 0.0], [0.0, 0.5]]))
        >>> Q = TableOracle.from_probs(jnp.full((2, 2), 0.25))
        >>> model = MixtureModel(P, Q, 0.5)
        >>> c = jnp.exp(model(jnp.array([0, 2])))
        >>> print(np.round(np.asarray(c[1], np.float64), 4).tolist())
        [0.75, 0.25]

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """

    p: TableOracle
    q: TableOracle
    weight: Float[Array, ""]

    def __init__(self, p: TableOracle, q: TableOracle, weight: Float[ArrayLike, ""]):
        if p.log_p.shape != q.log_p.shape:
            raise ValueError(
                f"MixtureModel: p and q must have the same shape, got "
                f"{p.log_p.shape} and {q.log_p.shape}"
            )
        if p.log_p.dtype != q.log_p.dtype:
            raise ValueError(
                f"MixtureModel: p and q must have the same dtype, got "
                f"{p.log_p.dtype} and {q.log_p.dtype}"
            )
        w = jnp.asarray(weight)
        if w.shape != ():
            raise ValueError(f"MixtureModel: weight must be a scalar, got {w.shape}")
        self.p, self.q = p, q
        self.weight = w.astype(p.log_p.dtype)

    @property
    def vocab_size(self) -> int:
        """Vocabulary size $V$ (the mask id)."""
        return self.p.vocab_size

    @property
    def length(self) -> int:
        """Sequence length $L$."""
        return self.p.length

    def __call__(self, z: Int[ArrayLike, " L"]) -> Float[Array, "L V"]:
        r"""Log of the mixed conditionals at every position of ``z``.

        Args:
            z: tokens in $[0, V]$ (mask id $V$), shape ``(L,)``.

        Returns:
            Log-probabilities of shape ``(L, V)``: mixed conditionals at masked
            positions, carry-over rows at visible ones.

        Raises:
            ValueError: as for
                [`TableOracle`][jaxmethods.testing.discrete_oracle.TableOracle].

        References:
            Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
            Conditional Distributions of Clean Data", ICLR 2025.
            arXiv:2406.03736.
        """
        z = _check_tokens(
            "MixtureModel", z, self.vocab_size, self.length, allow_mask=True
        )
        return _mixture_call(self.p.log_p, self.q.log_p, self.weight, z)


# --------------------------------------------------------------------------
# exact laws
# --------------------------------------------------------------------------


def ancestral_output_law(
    denoise_fn: DenoiseFn,
    vocab_size: int,
    length: int,
    num_steps: int,
    *,
    schedule: MaskingSchedule | None = None,
    grid: GridKind = "uniform",
    t_start: float = 1.0,
    t_end: float = 0.0,
) -> Float[Array, "*table"]:
    r"""Exact output law of the ancestral (MD4/MDLM/RADD) masked-diffusion sampler.

    The sampler starts all-masked; at step $k = 0, \dots, N-1$ it calls
    ``denoise_fn(z)`` once and reveals each masked position independently
    with probability $p_k$ (from
    [`unmask_probabilities`][jaxmethods.discrete.unmask_probabilities] on
    [`time_grid`][jaxmethods.discrete.time_grid], $p_{N-1} = 1$), drawing the
    value from the returned conditional. The law of the final sequence is
    propagated exactly over the $(V+1)^L$ partially masked states: the
    transition matrix of step $k$ is
    $T_k[z, z'] = \prod_i r_i(z, z'_i)$ with
    $r_i = (1-p_k)$ (stays masked) or $p_k\,c_i(z'_i \mid z)$ at masked $i$ and
    $1\{z'_i = z_i\}$ at visible $i$. Cost: $(V+1)^L$ denoiser calls (one
    ``vmap``) plus $O(N (V+1)^{2L})$. The RADD cached sampler has the same law.
    With an exact oracle and $N = 1$ the law is the product of the marginals.

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        vocab_size: $V$ (the mask id).
        length: $L$.
        num_steps: number of steps $N \ge 1$ (static).
        schedule: the masking schedule; default ``LinearSchedule()``.
        grid: ``"uniform"`` or ``"cosine"`` time grid.
        t_start: first grid time.
        t_end: last grid time.

    Returns:
        The law as a table of shape ``(V,) * L`` in the denoiser's dtype.

    Raises:
        ValueError: bad sizes, or ``denoise_fn`` returns the wrong shape.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, ancestral_output_law, tv_distance)
        >>> P = jnp.array([[0.4, 0.1], [0.1, 0.4]])
        >>> law = ancestral_output_law(TableOracle.from_probs(P), 2, 2, num_steps=1)
        >>> print(np.round(np.asarray(law, np.float64), 4).tolist())
        [[0.25, 0.25], [0.25, 0.25]]
        >>> print(round(float(tv_distance(law, P)), 4))
        0.3

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.

        Shi et al., "Simplified and Generalized Masked Diffusion for Discrete
        Data", NeurIPS 2024. arXiv:2406.04329.
    """
    fn = "ancestral_output_law"
    V = _check_size(fn, "vocab_size", vocab_size)
    L = _check_size(fn, "length", length)
    N = _check_size(fn, "num_steps", num_steps)
    schedule = LinearSchedule() if schedule is None else schedule
    states = all_partial_sequences(V, L)
    S = states.shape[0]
    logc = _evaluate(fn, denoise_fn, states, V)
    dt = logc.dtype
    probs = _reveal_probs(schedule, N, grid, float(t_start), float(t_end), dt)
    dist = jnp.zeros((S,), dt).at[S - 1].set(1)
    for k in range(N):
        dist = _ancestral_step(dist, probs, jnp.asarray(k), logc, V)
    return _law_from_states(dist, V, L)


@eqx.filter_jit
def _reveal_probs(schedule, N: int, grid: GridKind, t_start: float, t_end: float, dt):
    """The sampler's reveal probabilities ``p_k`` (one compilation per grid)."""
    times = time_grid(N, kind=grid, t_start=t_start, t_end=t_end)
    return unmask_probabilities(schedule, times).astype(dt)


@eqx.filter_jit
def _ancestral_step(dist: Array, probs: Array, k: Array, logc: Array, V: int):
    """One step of the ancestral chain over all partial states (jitted once)."""
    S, L = logc.shape[0], logc.shape[1]
    dt = dist.dtype
    states = all_partial_sequences(V, L)
    q = probs[k]
    masked = (states == V)[:, :, None]
    vis = jax.nn.one_hot(states, V + 1, dtype=dt)
    stay = jnp.broadcast_to(1 - q, (S, L, 1))
    r = jnp.where(masked, jnp.concatenate([q * jnp.exp(logc), stay], axis=-1), vis)
    # T[z, z'] = prod_i r[z, i, digit_i(z')]
    trans = r[:, 0, :][:, states[:, 0]]
    for i in range(1, L):
        trans = trans * r[:, i, :][:, states[:, i]]
    return dist @ trans


def _policy_scores(policy: str, logc: Array, ys: Array) -> Array:
    """Selection scores (higher is chosen first), shape ``(S, Y or 1, L)``."""
    if policy == "confidence":
        idx = jnp.broadcast_to(ys[None, :, :, None], (logc.shape[0],) + ys.shape + (1,))
        lc = jnp.broadcast_to(
            logc[:, None], (logc.shape[0], ys.shape[0]) + logc.shape[1:]
        )
        return jnp.take_along_axis(lc, idx, -1)[..., 0]
    p = jnp.exp(logc)
    if policy == "entropy":
        fin = p > 0
        safe = jnp.where(fin, logc, jnp.zeros_like(logc))
        h = -jnp.sum(jnp.where(fin, p * safe, jnp.zeros_like(p)), axis=-1)
        return -h[:, None, :]
    # margin: top-1 minus top-2 probability
    top = jnp.sort(p, axis=-1)
    if p.shape[-1] == 1:
        return top[..., -1][:, None, :]
    return (top[..., -1] - top[..., -2])[:, None, :]


def _top_k_select(scores: Array, masked: Array, k: int) -> Array:
    """Boolean selection of the ``k`` best masked positions (ties: lower index).

    ``scores``: (..., L); ``masked``: broadcastable (..., L).
    """
    L = scores.shape[-1]
    si = scores[..., :, None]
    sj = scores[..., None, :]
    pos = np.arange(L)
    earlier = jnp.asarray(pos[None, :] < pos[:, None])  # [i, j]: j < i
    earlier = earlier.reshape((1,) * (scores.ndim - 1) + (L, L))
    beats = (sj > si) | ((sj == si) & earlier)
    beats = beats & masked[..., None, :]
    rank = jnp.sum(beats, axis=-1)
    return masked & (rank < k)


def one_step_policy_law(
    denoise_fn: DenoiseFn,
    vocab_size: int,
    length: int,
    *,
    policy: Policy = "random",
    tokens_per_step: int = 1,
) -> tuple[Float[Array, "*table"], Float[Array, ""]]:
    r"""Exact output law and $E[\text{NFE}]$ of LLaDA/Dream-style decoders.

    Each step calls ``denoise_fn(z)`` once, draws a value $y_i$ for every
    masked position from its conditional (temperature 1), and commits
    $k = \min(\text{tokens\_per\_step}, \#\text{masked})$ positions chosen by
    ``policy``; the others stay masked:

    - ``"random"``: a uniformly random $k$-subset of the masked positions
      (LLaDA ``random``, Dream ``origin``);
    - ``"entropy"``: the $k$ positions of lowest conditional entropy
      (Dream ``entropy``);
    - ``"margin"``: the $k$ largest top-1 minus top-2 probability margins
      (Dream ``topk_margin``);
    - ``"confidence"``: the $k$ largest probabilities of the *sampled*
      tokens $c_i(y_i)$ (LLaDA ``low_confidence`` at temperature 1, Dream
      ``maskgit_plus``): the choice depends on the sampled values.

    Ties are broken by position (lower index first). The chain over the
    $(V+1)^L$ partial states is propagated exactly, enumerating the $V^L$
    draws (and, for ``"random"``, the $2^L$ subsets). With exact conditionals
    one token per step is exact (total variation 0) iff the choice does not
    depend on the sampled value: true for random, entropy and margin, false
    for confidence.

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        vocab_size: $V$ (the mask id).
        length: $L$.
        policy: ``"random"``, ``"entropy"``, ``"margin"`` or ``"confidence"``.
        tokens_per_step: positions committed per step, $\ge 1$ (static).

    Returns:
        ``(law, expected_nfe)``: the law of the decoded sequence, shape
        ``(V,) * L``, and the expected number of denoiser calls (steps that
        start with at least one mask), both in the denoiser's dtype.

    Raises:
        ValueError: bad sizes or an unknown ``policy``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, one_step_policy_law, tv_distance)
        >>> P = jnp.array([[0.4, 0.1], [0.1, 0.4]])
        >>> law, nfe = one_step_policy_law(TableOracle.from_probs(P), 2, 2)
        >>> print(round(float(tv_distance(law, P)), 6), round(float(nfe), 6))
        0.0 2.0

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.

        Nie et al., "Large Language Diffusion Models", 2025. arXiv:2502.09992.
    """
    fn = "one_step_policy_law"
    V = _check_size(fn, "vocab_size", vocab_size)
    L = _check_size(fn, "length", length)
    k = _check_size(fn, "tokens_per_step", tokens_per_step)
    if policy not in _POLICIES:
        raise ValueError(f"{fn}: policy must be one of {_POLICIES}, got {policy!r}")
    states = all_partial_sequences(V, L)
    S = states.shape[0]
    logc = _evaluate(fn, denoise_fn, states, V)
    dt = logc.dtype
    trans = _policy_transition(logc, V, policy, k)
    active = jnp.any(states == V, axis=-1).astype(dt)
    dist = jnp.zeros((S,), dt).at[S - 1].set(1)
    nfe = jnp.zeros((), dt)
    for _ in range(L):  # every step reveals at least one position
        nfe = nfe + jnp.sum(dist * active)
        dist = dist @ trans
    return _law_from_states(dist, V, L), nfe


@eqx.filter_jit
def _policy_transition(logc: Array, V: int, policy: str, k: int) -> Array:
    """Transition matrix of one decoding step over all partial states."""
    S, L = logc.shape[0], logc.shape[1]
    dt = logc.dtype
    states = all_partial_sequences(V, L)
    ys = all_sequences(V, L)
    Y = ys.shape[0]
    # probability of drawing y at state z (carry-over rows pin visible tokens)
    logw = logc[:, 0, :][:, ys[:, 0]]
    for i in range(1, L):
        logw = logw + logc[:, i, :][:, ys[:, i]]
    w = jnp.exp(logw)  # (S, Y)
    masked = states == V  # (S, L)
    src = jnp.broadcast_to(jnp.arange(S)[:, None], (S, Y))
    if policy == "random":
        subsets = _subsets(L)  # (A, L)
        masked_np = _digits(S, V + 1, L) == V
        nm = masked_np.sum(-1)  # (S,)
        kk = np.minimum(k, nm)
        ok = np.all(~subsets[None] | masked_np[:, None], axis=-1)
        ok &= subsets.sum(-1)[None, :] == kk[:, None]
        ways = [math.comb(int(a), int(b)) for a, b in zip(nm, kk, strict=True)]
        pi = ok / np.asarray(ways)[:, None]  # (S, A): uniform over k-subsets
        sel = jnp.asarray(subsets)[None, None]  # (1, 1, A, L)
        nxt = jnp.where(sel, ys[None, :, None, :], states[:, None, None, :])
        dst = _state_index(nxt, V + 1)  # (S, Y, A)
        mass = w[:, :, None] * jnp.asarray(pi, dt)[:, None, :]
        src3 = jnp.broadcast_to(src[:, :, None], dst.shape)
        return jnp.zeros((S, S), dt).at[src3, dst].add(mass)
    scores = _policy_scores(policy, logc, ys)
    sel = _top_k_select(scores, masked[:, None, :], k)  # (S, Y, L)
    nxt = jnp.where(sel, ys[None], states[:, None])
    dst = _state_index(nxt, V + 1)
    return jnp.zeros((S, S), dt).at[src, dst].add(w)


def fixed_order_joint(
    denoise_fn: DenoiseFn,
    vocab_size: int,
    length: int,
    order: Sequence[int],
) -> Float[Array, "*table"]:
    r"""The joint $\prod_j c(x_{\sigma_j} \mid x_{\sigma_{<j}})$ of one decoding order.

    For a permutation $\sigma$ of the positions, decoding one token at a time
    in that order with the conditionals of ``denoise_fn`` produces this joint
    (the law that any-subset speculative decoding must reproduce). For the
    conditionals of a joint $p$ it is $p$ for every order; for an
    inconsistent model it depends on the order. Cost: $L \cdot V^L$ denoiser
    calls (one ``vmap``).

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        vocab_size: $V$ (the mask id).
        length: $L$.
        order: a permutation of ``range(L)`` (static).

    Returns:
        The joint, shape ``(V,) * L``, in the denoiser's dtype.

    Raises:
        ValueError: ``order`` is not a permutation of ``range(L)``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, fixed_order_joint)
        >>> P = jnp.array([[0.4, 0.1], [0.2, 0.3]])
        >>> q = fixed_order_joint(TableOracle.from_probs(P), 2, 2, order=(1, 0))
        >>> print(np.round(np.asarray(q, np.float64), 4).tolist())
        [[0.4, 0.1], [0.2, 0.3]]

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.

        Guo and Ermon, "Reviving Any-Subset Autoregressive Models with Principled
        Parallel Sampling and Speculative Decoding", 2025. arXiv:2504.20456.
    """
    fn = "fixed_order_joint"
    V = _check_size(fn, "vocab_size", vocab_size)
    L = _check_size(fn, "length", length)
    o = [int(i) for i in order]
    if sorted(o) != list(range(L)):
        raise ValueError(
            f"{fn}: order must be a permutation of range({L}), got {order}"
        )
    xs = all_sequences(V, L)  # (Y, L)
    rank = np.empty(L, dtype=np.int64)
    rank[np.asarray(o)] = np.arange(L)
    # step j masks the positions decoded at steps >= j
    masks = jnp.asarray(rank[None, :] >= np.arange(L)[:, None])  # (L, L)
    zs = jnp.where(masks[None], jnp.asarray(V, xs.dtype), xs[:, None, :])
    logc = _evaluate(fn, denoise_fn, zs.reshape(-1, L), V)
    logc = logc.reshape(xs.shape[0], L, L, V)
    pos = jnp.asarray(o, dtype=jnp.int32)  # position decoded at step j
    return _ordered_terms(logc, xs, pos).reshape((V,) * L)


@jax.jit
def _ordered_terms(logc: Array, xs: Array, pos: Array) -> Array:
    """``prod_j c(x[pos_j] | step j)`` for every sequence, from (Y, L, L, V)."""
    L = xs.shape[1]
    tok = xs[:, pos]  # (Y, L): token decoded at step j
    lc = logc[:, jnp.arange(L), pos, :]  # (Y, L, V)
    terms = jnp.take_along_axis(lc, tok[..., None], -1)[..., 0]
    return jnp.exp(jnp.sum(terms, axis=-1))


# --------------------------------------------------------------------------
# exact ELBOs
# --------------------------------------------------------------------------


def ao_arm_nelbo_enumerated(
    denoise_fn: DenoiseFn, x: Int[ArrayLike, " L"], *, vocab_size: int | None = None
) -> Float[Array, ""]:
    r"""Exact any-order NELBO by enumerating all $2^L - 1$ masks.

    $$\sum_{\emptyset \ne S \subseteq [L]} \frac{1}{|S|\binom{L}{|S|}}
    \sum_{i \in S} -\log c(x_i \mid x \text{ with } S \text{ masked}),$$

    the exact expectation of RADD's $\lambda$-DCE and $k$-DCE losses (and of
    the continuous masked-diffusion NELBO for any schedule with
    $\alpha(0) = 1$, $\alpha(1) = 0$): the weight of a set of size $k$ is
    $\int_0^1 \lambda^{k-1}(1-\lambda)^{L-k}\,d\lambda$. It equals the mean
    over all orders of the ordered NLL
    ([`average_order_nll`][jaxmethods.testing.discrete_oracle.average_order_nll])
    for *any* conditional model, and $-\log p(x)$ for exact conditionals.
    Cost: $2^L - 1$ denoiser calls in one ``vmap``.

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        x: a clean sequence, tokens in $[0, V-1]$, shape ``(L,)``.
        vocab_size: $V$; default read from the output shape of ``denoise_fn``.

    Returns:
        The NELBO in nats, a scalar in the denoiser's dtype.

    Raises:
        ValueError: bad ``x`` or a wrong denoiser output shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, ao_arm_nelbo_enumerated)
        >>> oracle = TableOracle.from_probs(jnp.array([[0.4, 0.1], [0.2, 0.3]]))
        >>> print(round(float(ao_arm_nelbo_enumerated(oracle, jnp.array([1, 0]))), 5))
        1.60944

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "ao_arm_nelbo_enumerated"
    x, V = _prepare_clean(fn, denoise_fn, x, vocab_size)
    L = x.shape[0]
    masks = _subsets(L)  # the empty set (row 0) gets weight 0
    sizes = masks.sum(-1)
    weights = np.asarray([1.0 / (k * math.comb(L, k)) if k else 0.0 for k in sizes])
    nll = _masked_nlls(fn, denoise_fn, x, V, masks)
    return jnp.sum(jnp.asarray(weights, nll.dtype) * nll)


def average_order_nll(
    denoise_fn: DenoiseFn, x: Int[ArrayLike, " L"], *, vocab_size: int | None = None
) -> Float[Array, ""]:
    r"""Mean over all $L!$ orders of the ordered (autoregressive) NLL.

    $$\frac{1}{L!}\sum_\sigma \sum_{j=1}^{L}
    -\log c(x_{\sigma_j} \mid x_{\sigma_{<j}}),$$

    computed literally, order by order ($L \cdot L!$ denoiser calls in one
    ``vmap``), as an independent check of
    [`ao_arm_nelbo_enumerated`][jaxmethods.testing.discrete_oracle.ao_arm_nelbo_enumerated].
    Keep $L \le 7$.

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        x: a clean sequence, tokens in $[0, V-1]$, shape ``(L,)``.
        vocab_size: $V$; default read from the output shape of ``denoise_fn``.

    Returns:
        The mean NLL in nats, a scalar in the denoiser's dtype.

    Raises:
        ValueError: bad ``x`` or a wrong denoiser output shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, average_order_nll)
        >>> oracle = TableOracle.from_probs(jnp.array([[0.4, 0.1], [0.2, 0.3]]))
        >>> print(round(float(average_order_nll(oracle, jnp.array([1, 0]))), 5))
        1.60944

    References:
        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "average_order_nll"
    x, V = _prepare_clean(fn, denoise_fn, x, vocab_size)
    L = x.shape[0]
    perms = np.asarray(list(itertools.permutations(range(L))))  # (P, L)
    rank = np.argsort(perms, axis=-1)  # rank[p, i] = step at which i is decoded
    steps = np.arange(L)
    masks = rank[:, None, :] >= steps[None, :, None]  # (P, L steps, L)
    zs = jnp.where(jnp.asarray(masks), jnp.asarray(V, x.dtype), x[None, None, :])
    logc = _evaluate(fn, denoise_fn, zs.reshape(-1, L), V)
    return _average_order_terms(logc.reshape(perms.shape[0], L, L, V), x, perms)


@jax.jit
def _average_order_terms(logc: Array, x: Array, perms: Array) -> Array:
    lc = jnp.take_along_axis(logc, perms[:, :, None, None], axis=2)[:, :, 0, :]
    terms = jnp.take_along_axis(lc, x[perms][..., None], -1)[..., 0]
    return -jnp.mean(jnp.sum(terms, axis=-1))


def masked_nelbo_exact(
    denoise_fn: DenoiseFn,
    x: Int[ArrayLike, " L"],
    schedule: MaskingSchedule,
    *,
    num_steps: int | None = None,
    quad_points: int = 128,
    variable: Literal["t", "lambda"] = "t",
    vocab_size: int | None = None,
) -> Float[Array, ""]:
    r"""Exact expectation of the masked-diffusion NELBO (diffusion term).

    With each token masked independently with probability
    $\lambda(t) = 1 - \alpha(t)$, the expectation over $z_t$ of
    $\sum_{\text{masked } i} -\log c(x_i \mid z_t)$ is the polynomial
    $g(\lambda) = \sum_S \lambda^{|S|}(1-\lambda)^{L-|S|} f(S)$ with
    $f(S) = \sum_{i \in S} -\log c(x_i \mid x \text{ with } S \text{ masked})$,
    evaluated by enumerating all $2^L$ masks ($2^L$ denoiser calls, one
    ``vmap``).

    Continuous time (``num_steps=None``):
    $\int_0^1 w(t)\, g(\lambda(t))\,dt$ with $w = -\alpha'/(1-\alpha)$ the
    schedule's ``weight``. ``variable="t"`` (default) integrates in $t$ with
    ``quad_points``-point Gauss–Legendre on $[0, 1]$, using the schedule's
    ``weight``, ``mask_prob`` and ``alpha`` exactly as a loss does; the
    integrand $-\alpha'(t)\,g(\lambda)/\lambda$ has no singularity at $t = 0$
    (the nodes avoid the endpoints), so the rule converges fast for smooth
    schedules, and schedule invariance is a real numerical check.
    ``variable="lambda"`` substitutes $w\,dt = d\lambda/\lambda$ and integrates
    the polynomial $g(\lambda)/\lambda$ over $[\lambda(0), \lambda(1)]$ exactly
    (schedule invariance then holds by construction). With $\alpha(0) = 1$,
    $\alpha(1) = 0$ both equal
    [`ao_arm_nelbo_enumerated`][jaxmethods.testing.discrete_oracle.ao_arm_nelbo_enumerated].

    Discrete time (``num_steps=T``), MD4's $T$-step loss with $t_k = k/T$:
    $\sum_{k=1}^T \frac{\alpha(t_{k-1}) - \alpha(t_k)}{1 - \alpha(t_k)}\,
    g(\lambda(t_k))$.

    Reconstruction and prior terms (non-zero only when $\alpha(0) < 1$ or
    $\alpha(1) > 0$) are not included.

    Args:
        denoise_fn: the denoiser ``z[L] -> log-probs[L, V]`` (vmappable).
        x: a clean sequence, tokens in $[0, V-1]$, shape ``(L,)``.
        schedule: the masking schedule.
        num_steps: ``None`` for continuous time, else the number $T \ge 1$ of
            discrete steps.
        quad_points: Gauss–Legendre nodes for ``variable="t"``.
        variable: ``"t"`` or ``"lambda"`` (continuous time only).
        vocab_size: $V$; default read from the output shape of ``denoise_fn``.

    Returns:
        The NELBO in nats, a scalar in the denoiser's dtype.

    Raises:
        ValueError: bad ``x``, ``num_steps``, ``quad_points`` or ``variable``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.discrete import CosineSchedule
        >>> from jaxmethods.testing.discrete_oracle import (
        ...     TableOracle, masked_nelbo_exact)
        >>> oracle = TableOracle.from_probs(jnp.array([[0.4, 0.1], [0.2, 0.3]]))
        >>> x = jnp.array([1, 0])
        >>> nelbo = masked_nelbo_exact(oracle, x, CosineSchedule(eps=0.0))
        >>> print(round(float(nelbo), 5))
        1.60944

    References:
        Shi et al., "Simplified and Generalized Masked Diffusion for Discrete
        Data", NeurIPS 2024. arXiv:2406.04329.

        Ou et al., "Your Absorbing Discrete Diffusion Secretly Models the
        Conditional Distributions of Clean Data", ICLR 2025. arXiv:2406.03736.
    """
    fn = "masked_nelbo_exact"
    if variable not in ("t", "lambda"):
        raise ValueError(f"{fn}: variable must be 't' or 'lambda', got {variable!r}")
    if num_steps is not None:
        num_steps = _check_size(fn, "num_steps", num_steps)
    quad_points = _check_size(fn, "quad_points", quad_points)
    x, V = _prepare_clean(fn, denoise_fn, x, vocab_size)
    L = x.shape[0]
    masks = _subsets(L)
    nll = _masked_nlls(fn, denoise_fn, x, V, masks)  # (2^L,)
    sizes = jnp.asarray(masks.sum(-1), dtype=nll.dtype)
    if num_steps is not None:
        return _nelbo_discrete(nll, sizes, schedule, num_steps)
    if variable == "t":
        nodes, wts = _gauss_legendre01(quad_points)
        return _nelbo_t(nll, sizes, schedule, jnp.asarray(nodes), jnp.asarray(wts))
    nodes, wts = _gauss_legendre01(max(L, 2))
    return _nelbo_lambda(nll, sizes, schedule, jnp.asarray(nodes), jnp.asarray(wts))


@functools.cache
def _gauss_legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (float64 NumPy)."""
    nodes, wts = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, wts / 2


def _expected_nll(nll: Array, sizes: Array, lam: Array, alp: Array) -> Array:
    """``E_z[sum of masked NLL]`` at mask probabilities ``lam`` (1-D)."""
    L = jnp.max(sizes)
    pw = lam[:, None] ** sizes[None, :] * alp[:, None] ** (L - sizes[None, :])
    return pw @ nll


@eqx.filter_jit
def _nelbo_discrete(nll: Array, sizes: Array, schedule, num_steps: int) -> Array:
    dt = nll.dtype
    tk = jnp.arange(num_steps + 1, dtype=dt) / num_steps
    m = schedule.mask_prob(tk)
    coef = (m[1:] - m[:-1]) / m[1:]
    return jnp.sum(coef * _expected_nll(nll, sizes, m[1:], schedule.alpha(tk[1:])))


@eqx.filter_jit
def _nelbo_t(nll: Array, sizes: Array, schedule, nodes: Array, wts: Array) -> Array:
    dt = nll.dtype
    t, w = nodes.astype(dt), wts.astype(dt)
    g = _expected_nll(nll, sizes, schedule.mask_prob(t), schedule.alpha(t))
    return jnp.sum(w * schedule.weight(t) * g)


@eqx.filter_jit
def _nelbo_lambda(nll: Array, sizes: Array, schedule, nodes: Array, wts: Array):
    # integrate h(lam) = g(lam)/lam, a polynomial of degree L - 1, exactly
    dt = nll.dtype
    L = jnp.max(sizes)
    ends = schedule.mask_prob(jnp.asarray([0.0, 1.0], dt))
    lo, hi = ends[0], ends[1]
    lam = (lo + (hi - lo) * nodes.astype(dt))[:, None]
    k = sizes[None, :]
    pw = lam ** jnp.maximum(k - 1, jnp.zeros_like(k)) * (1 - lam) ** (L - k)
    h = pw @ jnp.where(sizes > 0, nll, jnp.zeros_like(nll))
    return (hi - lo) * jnp.sum(wts.astype(dt) * h)


# --------------------------------------------------------------------------
# distances
# --------------------------------------------------------------------------


def _pair(fn: str, p, q) -> tuple[Array, Array]:
    p, q = jnp.asarray(p), jnp.asarray(q)
    if p.shape != q.shape:
        raise ValueError(
            f"{fn}: tables must have the same shape, got {p.shape}, {q.shape}"
        )
    dts = [a.dtype for a in (p, q) if jnp.issubdtype(a.dtype, jnp.floating)]
    dt = jnp.dtype(np.result_type(*dts)) if dts else default_float()
    return p.astype(dt), q.astype(dt)


def tv_distance(
    p: Float[ArrayLike, "*table"], q: Float[ArrayLike, "*table"]
) -> Float[Array, ""]:
    r"""Total variation distance $\tfrac12 \sum_x |p(x) - q(x)|$ between two tables.

    Args:
        p: probability table.
        q: probability table of the same shape.

    Returns:
        Scalar in the wider float dtype of the two.

    Raises:
        ValueError: different shapes.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import tv_distance
        >>> print(float(tv_distance(jnp.array([0.5, 0.5]), jnp.array([1.0, 0.0]))))
        0.5

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    p, q = _pair("tv_distance", p, q)
    return _tv(p, q)


@jax.jit
def _tv(p: Array, q: Array) -> Array:
    return jnp.sum(jnp.abs(p - q)) / 2


def kl_divergence(
    p: Float[ArrayLike, "*table"], q: Float[ArrayLike, "*table"]
) -> Float[Array, ""]:
    r"""Kullback–Leibler divergence $\mathrm{KL}(p \,\|\, q) = \sum_x p \log(p/q)$.

    Terms with $p(x) = 0$ count 0; $p(x) > 0 = q(x)$ gives $+\infty$.

    Args:
        p: probability table.
        q: probability table of the same shape.

    Returns:
        Scalar in nats, in the wider float dtype of the two.

    Raises:
        ValueError: different shapes.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import kl_divergence
        >>> p, q = jnp.array([0.5, 0.5]), jnp.array([0.25, 0.75])
        >>> print(round(float(kl_divergence(p, q)), 6))
        0.143841

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    p, q = _pair("kl_divergence", p, q)
    return _kl(p, q)


@jax.jit
def _kl(p: Array, q: Array) -> Array:
    pos = p > 0
    one = jnp.ones_like(p)
    ratio = jnp.log(jnp.where(pos, p, one)) - jnp.log(jnp.where(pos, q, one))
    return jnp.sum(jnp.where(pos, p * ratio, jnp.zeros_like(p)))


def empirical_law(
    tokens: Int[ArrayLike, "n L"], vocab_size: int, *, dtype: DTypeLike | None = None
) -> Float[Array, "*table"]:
    r"""Empirical law (frequency table) of sampled sequences.

    Args:
        tokens: ``n`` clean sequences, tokens in $[0, V-1]$, shape ``(n, L)``.
        vocab_size: $V$.
        dtype: float dtype of the table; default the default float.

    Returns:
        Frequencies, shape ``(V,) * L``, summing to one.

    Raises:
        ValueError: ``tokens`` is not 2-D integer, or (when concrete) holds
            out-of-range values.
        TypeError: ``dtype`` is not a float dtype (or float64 without x64).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.discrete_oracle import empirical_law
        >>> samples = jnp.array([[0, 1], [0, 1], [1, 1], [0, 0]])
        >>> print(empirical_law(samples, 2).tolist())
        [[0.25, 0.5], [0.0, 0.25]]

    References:
        Yu et al., "Discrete Diffusion in Large Language and Multimodal Models: A
        Survey", 2025. arXiv:2506.13759.
    """
    fn = "empirical_law"
    V = _check_size(fn, "vocab_size", vocab_size)
    t = jnp.asarray(tokens)
    if t.ndim != 2 or not jnp.issubdtype(t.dtype, jnp.integer) or t.shape[0] < 1:
        raise ValueError(
            f"{fn}: tokens must be a non-empty integer array of shape (n, L), got "
            f"{t.dtype}{t.shape}"
        )
    if not _is_traced(t):
        tn = np.asarray(t)
        if np.any((tn < 0) | (tn >= V)):
            raise ValueError(f"{fn}: tokens must lie in [0, {V - 1}]")
    dt = check_float_dtype(fn, dtype)
    L = t.shape[1]
    idx = _state_index(t, V)
    counts = jnp.zeros((V**L,), dt).at[idx].add(jnp.ones(idx.shape, dt))
    return (counts / t.shape[0]).reshape((V,) * L)

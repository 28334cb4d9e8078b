"""Resampling schemes in log space: ``(key, log_weights, num_samples) -> indices``.

Every scheme takes unnormalized log-weights (normalized internally with
``logsumexp``), so long series never under- or overflow, and returns int32
ancestor indices of shape ``(num_samples,)``. All are unbiased: each index
``i`` appears ``num_samples * W_i`` times in expectation.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray


def _check(fn: str, log_weights: ArrayLike, num_samples: int) -> Array:
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1 or log_weights.shape[0] < 1:
        raise ValueError(
            f"{fn}: log_weights must be a non-empty 1-D array, got shape "
            f"{log_weights.shape}"
        )
    if not jnp.issubdtype(log_weights.dtype, jnp.floating):
        raise TypeError(f"{fn}: log_weights must be floating, got {log_weights.dtype}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(
            f"{fn}: num_samples must be a positive int, got {num_samples!r}"
        )
    return log_weights


def normalized_weights(fn: str, log_weights: Array) -> Array:
    """``softmax(log_weights)``, with an ``error_if`` on NaN or all ``-inf``."""
    lw = eqx.error_if(
        log_weights,
        jnp.any(jnp.isnan(log_weights)) | jnp.all(log_weights == -jnp.inf),
        f"{fn}: log_weights contain NaN or are all -inf",
    )
    return jax.nn.softmax(lw)


def _inverse_cdf(w: Array, u: Array) -> Array:
    """Indices ``i`` with ``cumsum(w)[i-1] <= u < cumsum(w)[i]`` (any ``u`` order)."""
    cdf = jnp.cumsum(w)
    idx = jnp.searchsorted(cdf, u * cdf[-1], side="right")
    return jnp.minimum(idx, w.shape[0] - 1).astype(jnp.int32)


def multinomial(
    key: PRNGKeyArray, log_weights: Float[ArrayLike, " n"], num_samples: int
) -> Int[Array, " num_samples"]:
    r"""Multinomial resampling: ``num_samples`` i.i.d. draws from $\mathrm{Cat}(W)$.

    Inverse-CDF lookups (``searchsorted``), so the cost is
    $O((n + M) \log n)$ rather than the $O(nM)$ of Gumbel-max sampling.

    Args:
        key: PRNG key.
        log_weights: unnormalized log-weights, shape ``(n,)``.
        num_samples: number of indices to draw (static).

    Returns:
        int32 indices in ``[0, n)``, shape ``(num_samples,)``.

    Raises:
        ValueError: if ``log_weights`` is not a non-empty 1-D array or
            ``num_samples`` is not a positive int; at run time
            (``eqx.error_if``) if the weights contain NaN or are all ``-inf``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import multinomial
        >>> lw = jnp.log(jnp.array([0.0, 0.75, 0.25]))
        >>> multinomial(jr.key(0), lw, 4)
        Array([2, 2, 1, 1], dtype=int32)

    References:
        R. Douc, O. Cappé and E. Moulines, "Comparison of resampling schemes
        for particle filtering", in *Proc. 4th International Symposium on
        Image and Signal Processing and Analysis*, 2005, pp. 64-69.
    """
    lw = _check("multinomial", log_weights, num_samples)
    w = normalized_weights("multinomial", lw)
    return _inverse_cdf(w, jr.uniform(key, (num_samples,), w.dtype))


def systematic(
    key: PRNGKeyArray, log_weights: Float[ArrayLike, " n"], num_samples: int
) -> Int[Array, " num_samples"]:
    r"""Systematic resampling: one uniform $U$, points $(U + i) / M$.

    Lowest variance of the four in practice, but not a valid conditional
    scheme (conditional SMC needs :func:`conditional_multinomial`).

    Args:
        key: PRNG key.
        log_weights: unnormalized log-weights, shape ``(n,)``.
        num_samples: number of indices to draw (static).

    Returns:
        int32 indices in ``[0, n)``, shape ``(num_samples,)``.

    Raises:
        ValueError: if ``log_weights`` is not a non-empty 1-D array or
            ``num_samples`` is not a positive int; at run time
            (``eqx.error_if``) if the weights contain NaN or are all ``-inf``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import systematic
        >>> lw = jnp.log(jnp.array([0.0, 0.75, 0.25]))
        >>> systematic(jr.key(0), lw, 4)
        Array([1, 1, 1, 2], dtype=int32)

    References:
        R. Douc, O. Cappé and E. Moulines, "Comparison of resampling schemes
        for particle filtering", in *Proc. 4th International Symposium on
        Image and Signal Processing and Analysis*, 2005, pp. 64-69.
    """
    lw = _check("systematic", log_weights, num_samples)
    w = normalized_weights("systematic", lw)
    u = jr.uniform(key, (), w.dtype) + jnp.arange(num_samples, dtype=w.dtype)
    return _inverse_cdf(w, u / num_samples)


def stratified(
    key: PRNGKeyArray, log_weights: Float[ArrayLike, " n"], num_samples: int
) -> Int[Array, " num_samples"]:
    r"""Stratified resampling: one uniform per stratum, points $(U_i + i) / M$.

    Args:
        key: PRNG key.
        log_weights: unnormalized log-weights, shape ``(n,)``.
        num_samples: number of indices to draw (static).

    Returns:
        int32 indices in ``[0, n)``, shape ``(num_samples,)``.

    Raises:
        ValueError: if ``log_weights`` is not a non-empty 1-D array or
            ``num_samples`` is not a positive int; at run time
            (``eqx.error_if``) if the weights contain NaN or are all ``-inf``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import stratified
        >>> lw = jnp.log(jnp.array([0.0, 0.75, 0.25]))
        >>> stratified(jr.key(0), lw, 4)
        Array([1, 1, 1, 2], dtype=int32)

    References:
        R. Douc, O. Cappé and E. Moulines, "Comparison of resampling schemes
        for particle filtering", in *Proc. 4th International Symposium on
        Image and Signal Processing and Analysis*, 2005, pp. 64-69.
    """
    lw = _check("stratified", log_weights, num_samples)
    w = normalized_weights("stratified", lw)
    u = jr.uniform(key, (num_samples,), w.dtype) + jnp.arange(
        num_samples, dtype=w.dtype
    )
    return _inverse_cdf(w, u / num_samples)


def residual(
    key: PRNGKeyArray, log_weights: Float[ArrayLike, " n"], num_samples: int
) -> Int[Array, " num_samples"]:
    r"""Residual resampling.

    $\lfloor M W_i \rfloor$ deterministic copies of each index, then
    multinomial draws from the normalized residual weights for the rest.

    Args:
        key: PRNG key.
        log_weights: unnormalized log-weights, shape ``(n,)``.
        num_samples: number of indices to draw (static).

    Returns:
        int32 indices in ``[0, n)``, shape ``(num_samples,)``.

    Raises:
        ValueError: if ``log_weights`` is not a non-empty 1-D array or
            ``num_samples`` is not a positive int; at run time
            (``eqx.error_if``) if the weights contain NaN or are all ``-inf``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import residual
        >>> lw = jnp.log(jnp.array([0.0, 0.75, 0.25]))
        >>> residual(jr.key(0), lw, 4)
        Array([1, 1, 1, 2], dtype=int32)

    References:
        R. Douc, O. Cappé and E. Moulines, "Comparison of resampling schemes
        for particle filtering", in *Proc. 4th International Symposium on
        Image and Signal Processing and Analysis*, 2005, pp. 64-69.
    """
    lw = _check("residual", log_weights, num_samples)
    w = normalized_weights("residual", lw)
    scaled = num_samples * w
    counts = jnp.floor(scaled).astype(jnp.int32)
    slots = jnp.arange(num_samples, dtype=jnp.int32)
    # Slots below sum(counts) take the deterministic copies, in index order.
    csum = jnp.cumsum(counts, dtype=jnp.int32)
    det = jnp.searchsorted(csum, slots, side="right").astype(jnp.int32)
    det = jnp.minimum(det, w.shape[0] - 1)
    # The remaining slots draw i.i.d. from the normalized residual weights.
    res_w = jnp.maximum(scaled - counts.astype(w.dtype), 0)
    res_w = jnp.where(jnp.sum(res_w) > 0, res_w, w)  # all-integer case: unused
    res = _inverse_cdf(res_w, jr.uniform(key, (num_samples,), w.dtype))
    return jnp.where(slots < csum[-1], det, res)


def conditional_multinomial(
    key: PRNGKeyArray,
    log_weights: Float[ArrayLike, " n"],
    num_samples: int,
    *,
    reference_index: int | Int[ArrayLike, ""] = -1,
) -> Int[Array, " num_samples"]:
    r"""Multinomial resampling with the last slot frozen (conditional SMC).

    Slots ``0 .. num_samples - 2`` are i.i.d. draws from $\mathrm{Cat}(W)$;
    the last slot, the frozen particle's, gets ancestor ``reference_index``
    (by default ``n - 1``, the frozen particle's own previous index). This is
    the resampling step of conditional SMC (Andrieu, Doucet and Holenstein,
    2010), which leaves the extended target invariant; plain systematic or
    residual resampling with a frozen particle would not.

    Args:
        key: PRNG key.
        log_weights: unnormalized log-weights, shape ``(n,)``.
        num_samples: number of indices (static), at least 2.
        reference_index: ancestor of the frozen (last) slot; negative values
            count from the end.

    Returns:
        int32 indices in ``[0, n)``, shape ``(num_samples,)``.

    Raises:
        ValueError: as :func:`multinomial`, or if ``num_samples < 2``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.smc import conditional_multinomial
        >>> lw = jnp.log(jnp.array([1.0, 0.0, 0.0]))
        >>> conditional_multinomial(jr.key(0), lw, 3)
        Array([0, 0, 2], dtype=int32)

    References:
        C. Andrieu, A. Doucet and R. Holenstein, "Particle Markov chain Monte
        Carlo methods", *Journal of the Royal Statistical Society B* 72(3),
        269-342, 2010.
    """
    lw = _check("conditional_multinomial", log_weights, num_samples)
    if num_samples < 2:
        raise ValueError(
            "conditional_multinomial: num_samples must be at least 2, got "
            f"{num_samples}"
        )
    idx = multinomial(key, lw, num_samples)
    ref = jnp.asarray(reference_index, jnp.int32) % lw.shape[0]
    return idx.at[-1].set(ref)

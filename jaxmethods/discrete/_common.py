"""Private helpers shared by the discrete-diffusion losses and samplers.

- denoiser shape inference (the vocabulary size ``V`` comes from the denoiser's
  output, and the mask id is ``V``),
- token validation (trace-time dtype/rank checks, ``eqx.error_if`` on values),
- batch flattening (losses and samplers accept ``(L,)`` or ``(*batch, L)``),
- categorical sampling in a chosen precision with temperature/top-k/top-p.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import default_float


Denoiser = Callable[[Int[Array, " L"]], Float[Array, "L V"]]


def denoiser_output(
    fn: str, denoise_fn: Denoiser, length: int
) -> tuple[int, jnp.dtype]:
    """``(V, dtype)`` of ``denoise_fn``'s output; a clear error if it is wrong."""
    try:
        out = jax.eval_shape(denoise_fn, jax.ShapeDtypeStruct((length,), jnp.int32))
    except Exception as e:  # the user's function failed on a (L,) int input
        raise ValueError(
            f"{fn}: denoise_fn must map int tokens of shape ({length},) to "
            f"log-probabilities of shape ({length}, V); calling it failed: {e}"
        ) from e
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != length or shape[1] < 1:
        raise ValueError(
            f"{fn}: denoise_fn must return log-probabilities of shape "
            f"({length}, V) for tokens of shape ({length},), got {shape}"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"{fn}: denoise_fn must return floats, got {out.dtype}")
    return int(shape[1]), jnp.dtype(out.dtype)


def check_tokens(
    fn: str, x: ArrayLike, vocab: int, *, allow_mask: bool, name: str = "x"
) -> Array:
    """Integer tokens in ``[0, V)`` (or ``[0, V]`` with the mask allowed)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{fn}: {name} must hold integer tokens, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{fn}: {name} must have shape (..., L), got {x.shape}")
    hi = vocab + 1 if allow_mask else vocab
    what = (
        f"[0, {vocab}] (mask id {vocab})"
        if allow_mask
        else (f"[0, {vocab - 1}]; the mask id {vocab} may not appear in clean data")
    )
    return eqx.error_if(
        x, jnp.any((x < 0) | (x >= hi)), f"{fn}: {name} has tokens outside {what}"
    )


def flatten(x: Array) -> tuple[Array, Callable[[Array], Array]]:
    """``x`` as ``(B, L)``, and a function restoring the batch shape of a result."""
    batch = x.shape[:-1]
    flat = x.reshape((-1, x.shape[-1]))

    def unflatten(y: Array) -> Array:
        return y.reshape(batch + y.shape[1:])

    return flat, unflatten


def gather_nll(logp: Float[Array, "L V"], x: Int[Array, " L"]) -> Float[Array, " L"]:
    """``-logp[i, x_i]`` per position."""
    return -jnp.take_along_axis(logp, x[:, None], axis=-1)[:, 0]


def stratified_uniform(key: PRNGKeyArray, n: int, dtype, mode: str) -> Array:
    """``n`` uniforms in ``(0, 1]``, one per batch element.

    ``mode="antithetic"``: ``1 - ((u + i/n) mod 1)`` with one shared ``u``
    (VDM/MDLM/RADD "antithetic" times); ``"stratified"``: ``1 - (u_i + i)/n``
    with independent ``u_i`` (RADD's "decoupled" stratification);
    ``"iid"``: ``1 - u_i``. The ``1 - u`` keeps zero out of the range so that
    weights like ``1/t`` and ``1/lambda`` stay finite.
    """
    i = jnp.arange(n, dtype=dtype)
    if mode == "antithetic":
        v = 1 - jnp.mod(jr.uniform(key, (), dtype) + i / n, 1.0)
    elif mode == "stratified":
        # (n - i - u) / n rather than 1 - (u + i) / n: in float32, u + (n - 1)
        # can round to n and give exactly 0
        v = ((n - i) - jr.uniform(key, (n,), dtype)) / n
    else:
        v = 1 - jr.uniform(key, (n,), dtype)
    return jnp.maximum(v, jnp.finfo(dtype).tiny)


def loss_dtype(*arrays) -> jnp.dtype:
    """The widest float dtype among ``arrays``, else the default float."""
    floats = [a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating)]
    if not floats:
        return default_float()
    return max(floats, key=lambda d: jnp.dtype(d).itemsize)


def check_sampling_args(
    fn: str, temperature: float, top_k: int | None, top_p: float | None
) -> None:
    if not float(temperature) >= 0:
        raise ValueError(f"{fn}: temperature must be >= 0, got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"{fn}: top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not (0.0 < float(top_p) <= 1.0):
        raise ValueError(f"{fn}: top_p must lie in (0, 1] or be None, got {top_p}")


def sample_tokens(
    key: PRNGKeyArray,
    logp: Float[Array, "*batch V"],
    *,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    dtype: jnp.dtype,
) -> Int[Array, "*batch"]:
    """One categorical draw per row, by Gumbel-max in ``dtype``.

    ``temperature=0`` takes the argmax. ``top_k`` keeps the ``k`` most likely
    tokens, ``top_p`` the smallest set whose probability reaches ``p``
    (nucleus; the most likely token is always kept). Rows that are one-hot
    (carry-over rows of visible positions) return their token.
    """
    logits = logp.astype(dtype)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits >= kth, logits, -jnp.inf)
    if top_p is not None and top_p < 1.0:
        probs = jax.nn.softmax(logits, axis=-1)
        srt = -jnp.sort(-probs, axis=-1)
        before = jnp.cumsum(srt, axis=-1) - srt  # mass of strictly more likely tokens
        keep_sorted = before < top_p
        smallest_kept = jnp.min(
            jnp.where(keep_sorted, srt, jnp.inf), axis=-1, keepdims=True
        )
        logits = jnp.where(probs >= smallest_kept, logits, -jnp.inf)
    if temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    if temperature != 1:
        logits = logits / jnp.asarray(temperature, dtype)
    return jr.categorical(key, logits, axis=-1).astype(jnp.int32)

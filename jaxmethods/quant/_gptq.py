r"""GPTQ (Frantar et al. 2022): Hessian-aware 4-bit quantization in MARLIN format.

Layout: ``w`` is ``(K, N)`` = (input features, output features), so the
*rows* of ``w`` are what the GPTQ papers call columns, and the Hessian is
``K x K``. The algorithm (research perf.md §2.1; IST-DASLab/gptq and
IST-DASLab/marlin ``gptq/gptq.py``):

1. Dead inputs (``H_kk == 0``) get ``H_kk = 1`` and a zero weight row.
2. Damping ``H += percdamp * mean(diag H) * I``.
3. ``U`` = the upper Cholesky factor of ``H^{-1}`` (``H^{-1} = U^T U``).
4. Rows are quantized in order, in blocks of ``blocksize``. For row ``i``:
   ``q_i = quant(w_i)``, ``e_i = (w_i - q_i) / U_ii``, and every later row
   ``j`` of the block is corrected by ``w_j -= U_ij e_i``; after a block the
   later blocks get the same corrections in one matrix product ("lazy batch
   update").
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import lax
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Int

from ._format import (
    _SCALE_DTYPES,
    ZERO_POINT,
    Int4Weight,
    check_block_k,
    check_group_size,
)
from ._rtn import check_weight, marlin_scale, quantize_codes


_HIGHEST = lax.Precision.HIGHEST

# Clipping grid of the official ``Quantizer.configure(grid=100, maxshrink=.75)``:
# shrink factors p = 1 - i / 100 for i = 0 .. 75, i.e. 1, 0.99, ..., 0.25.
_CLIP_GRID = 1.0 - np.arange(int(0.75 * 100) + 1) / 100


def _wide(*dtypes) -> type:
    """float64 if any input is float64, else float32 (also for bf16/f16)."""
    return jnp.float64 if any(d == jnp.float64 for d in dtypes) else jnp.float32


class GPTQHessian(eqx.Module):
    r"""The GPTQ Hessian $H = \tfrac{2}{n} X^\top X$ with its sample count.

    A running mean over calibration batches, built and updated by
    [`hessian_from_activations`][jaxmethods.quant.hessian_from_activations]
    and accepted by [`gptq`][jaxmethods.quant.gptq]. It is a pytree of two
    arrays, so it can be a ``lax.scan`` carry or a ``jax.jit`` argument;
    start a scan from [`GPTQHessian.zeros`][jaxmethods.quant.GPTQHessian.zeros].

    Attributes:
        matrix: $H$, shape ``(K, K)``, float32 or float64.
        count: number of activation rows $n$ averaged so far (``int32``
            scalar; it must stay below $2^{31}$).

    References:
        Frantar, Ashkboos, Hoefler and Alistarh, "GPTQ: Accurate Post-Training
        Quantization for Generative Pre-trained Transformers", ICLR 2023.
        arXiv:2210.17323.
    """

    matrix: Float[Array, "K K"]
    count: Int[Array, ""]

    @classmethod
    def zeros(cls, k: int, dtype: DTypeLike = jnp.float32) -> GPTQHessian:
        """An empty accumulator: $H = 0$, ``count = 0``.

        Args:
            k: number of input features ``K``.
            dtype: ``float32`` or ``float64``.

        Returns:
            The empty ``GPTQHessian``.
        """
        return cls(jnp.zeros((k, k), dtype), jnp.zeros((), jnp.int32))


def hessian_from_activations(
    x: Float[ArrayLike, "*batch K"], previous: GPTQHessian | None = None
) -> GPTQHessian:
    r"""The GPTQ Hessian $H = \tfrac{2}{n} X^\top X$ of a layer's input activations.

    ``x`` holds the inputs of the layer ``x @ w``, shape ``(..., K)``; all
    leading axes are flattened into $n$ rows. With ``previous`` (holding
    $H_0$ over $n_0$ rows) it returns the running mean over all
    $n_0 + n$ rows, exactly as GPTQ's ``add_batch``:

    $$H = \frac{n_0}{n_0 + n} H_0 + \frac{2}{n_0 + n} X^\top X ,$$

    so feeding batches one at a time gives the one-shot value over their
    concatenation. Computed in float32 for float32, bfloat16 or float16
    activations, and in float64 if ``x`` or ``previous`` is float64
    (matmuls at ``Precision.HIGHEST``, i.e. no TF32).

    The official code counts *sequences* (a 2-D batch counts as one sample,
    ``(B, T, K)`` as ``B``); this counts rows, so its $H$ is the official
    one divided by the sequence length. GPTQ's result does not depend on the
    scale of $H$ (damping is relative to $\mathrm{mean}(\mathrm{diag}\,H)$).

    Args:
        x: activations, shape ``(..., K)``. With no rows (e.g. ``(0, K)``)
            ``previous`` comes back unchanged, or an empty accumulator
            ($H = 0$, count 0) if it is ``None``.
        previous: the accumulator so far, or ``None`` to start a new one.

    Returns:
        The updated [`GPTQHessian`][jaxmethods.quant.GPTQHessian].

    Raises:
        TypeError: non-float ``x``, or ``previous`` not a ``GPTQHessian``.
        ValueError: ``x`` 0-d, or ``previous`` not ``(K, K)``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.quant import hessian_from_activations
        >>> x = jr.normal(jr.key(0), (64, 8))
        >>> h = hessian_from_activations(x[:40])
        >>> h = hessian_from_activations(x[40:], h)
        >>> int(h.count), h.matrix.shape
        (64, (8, 8))
        >>> print(bool(jnp.allclose(h.matrix, 2 * x.T @ x / 64, atol=1e-5)))
        True

    References:
        Frantar, Ashkboos, Hoefler and Alistarh, "GPTQ: Accurate Post-Training
        Quantization for Generative Pre-trained Transformers", ICLR 2023.
        arXiv:2210.17323.
    """
    fn = "hessian_from_activations"
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x must be a float array, got {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have shape (..., K), got {x.shape}")
    k = x.shape[-1]
    xf = x.reshape(-1, k)
    n = xf.shape[0]
    if previous is not None:
        if not isinstance(previous, GPTQHessian):
            raise TypeError(
                f"{fn}: previous must be a GPTQHessian or None, got {type(previous)}"
            )
        if previous.matrix.shape != (k, k):
            raise ValueError(
                f"{fn}: previous.matrix must have shape {(k, k)} for K={k}, got "
                f"{previous.matrix.shape}"
            )
    wide = _wide(x.dtype, *(() if previous is None else (previous.matrix.dtype,)))
    if n == 0:  # nothing to add
        if previous is None:
            return GPTQHessian.zeros(k, wide)
        return GPTQHessian(previous.matrix.astype(wide), previous.count)
    xf = xf.astype(wide)
    gram = jnp.matmul(xf.T, xf, precision=_HIGHEST)
    if previous is None:
        return GPTQHessian(gram * jnp.asarray(2.0 / n, wide), jnp.asarray(n, jnp.int32))
    total = previous.count + jnp.asarray(n, jnp.int32)
    tw = total.astype(wide)
    matrix = previous.matrix.astype(wide) * (previous.count.astype(wide) / tw)
    return GPTQHessian(matrix + gram * (2.0 / tw), total)


def _inverse_cholesky(h: Array, percdamp: Array) -> Array:
    """Upper ``U`` with ``U^T U = (H + damp I)^{-1}``, after the dead-input fix."""
    k = h.shape[0]
    eye = jnp.eye(k, dtype=h.dtype)
    h = h + jnp.diag((jnp.diagonal(h) == 0).astype(h.dtype))
    h = h + (percdamp * jnp.mean(jnp.diagonal(h))) * eye
    # As the official code: cholesky, cholesky_inverse, cholesky(upper=True).
    lower = jnp.linalg.cholesky(h)
    hinv = jsl.cho_solve((lower, True), eye)
    u = jnp.triu(jnp.linalg.cholesky(hinv).T)
    return eqx.error_if(
        u,
        ~jnp.all(jnp.isfinite(u)),
        "gptq: the damped Hessian is not positive definite (Cholesky failed); "
        "check H for NaN or negative eigenvalues, or raise percdamp",
    )


def _group_scale(wg: Array, ug: Array, *, clip: bool, scale_dtype) -> Array:
    """Stored scales ``(N,)`` for a group ``wg`` of shape ``(g, N)``.

    Without ``clip``: MARLIN's ``2/15 max|w|``. With ``clip``: the shrink
    factor ``p`` of the official grid minimising, per column, the error
    weighted by ``ug`` (the group's block of ``U``):
    ``|| ug^{-T} (w_hat(p) - w) ||^2``, first minimum kept (as ``err < best``).
    """
    wide = wg.dtype
    absmax = jnp.max(jnp.abs(wg), axis=0)
    s_max = marlin_scale(absmax).astype(scale_dtype)
    if not clip:
        return s_max
    g = wg.shape[0]
    ginv_t = jsl.solve_triangular(ug, jnp.eye(g, dtype=wide), lower=False).T

    def candidate(carry, p):
        best_err, best_s = carry
        s = marlin_scale(p * absmax).astype(scale_dtype)
        sw = s.astype(wide)[None, :]
        wq = (quantize_codes(wg, sw).astype(wide) - ZERO_POINT) * sw
        delta = jnp.matmul(ginv_t, wq - wg, precision=_HIGHEST)
        err = jnp.sum(delta * delta, axis=0)
        better = err < best_err
        return (jnp.where(better, err, best_err), jnp.where(better, s, best_s)), None

    init = (jnp.full(absmax.shape, jnp.inf, wide), s_max)
    (_, s), _ = lax.scan(candidate, init, jnp.asarray(_CLIP_GRID, wide))
    return s


def _row_step(i, s, w1, err1, q1, u1):
    """Quantize row ``i`` of the block with scales ``s`` and feed its error forward."""
    wide = w1.dtype
    w = w1[i]
    q = quantize_codes(w, s)
    err = (w - (q.astype(wide) - ZERO_POINT) * s) / u1[i, i]
    # u1 is upper triangular: rows < i get exactly zero corrections.
    w1 = w1 - u1[i][:, None] * err[None, :]
    return w1, err1.at[i].set(err), q1.at[i].set(q)


@eqx.filter_jit
def _gptq_core(
    w: Array,
    h: Array,
    percdamp: Array,
    *,
    group_size: int,
    blocksize: int,
    static_groups: bool,
    clip: bool,
    scale_dtype,
) -> tuple[Array, Array]:
    """Codes ``(K, N)`` int32 and stored scales ``(G, N)``; ``w``, ``h`` wide."""
    k, n = w.shape
    wide = w.dtype
    dead = jnp.diagonal(h) == 0
    w = jnp.where(dead[:, None], jnp.zeros((), wide), w)
    u = _inverse_cholesky(h, percdamp)
    g = k if group_size == -1 else group_size
    upfront = static_groups or group_size == -1

    scales = row_scales = None
    if upfront:
        # Scales of every group from the original (dead-zeroed) weights.
        wg = w.reshape(k // g, g, n)
        if clip:
            ug = jnp.stack([u[j : j + g, j : j + g] for j in range(0, k, g)])
            scales = lax.map(
                lambda a: _group_scale(*a, clip=True, scale_dtype=scale_dtype),
                (wg, ug),
            )
        else:
            scales = marlin_scale(jnp.max(jnp.abs(wg), axis=1)).astype(scale_dtype)
        row_scales = jnp.repeat(scales.astype(wide), g, axis=0, total_repeat_length=k)

    # Pad to whole blocks: zero weights, decoupled unit Hessian (U = I there).
    b = blocksize
    kp = math.ceil(k / b) * b
    if kp > k:
        w = jnp.concatenate([w, jnp.zeros((kp - k, n), wide)])
        u = jnp.zeros((kp, kp), wide).at[:k, :k].set(u)
        u = u.at[k:, k:].set(jnp.eye(kp - k, dtype=wide))
        if row_scales is not None:
            row_scales = jnp.concatenate([row_scales, jnp.ones((kp - k, n), wide)])

    def block(w_all, start):
        w1 = lax.dynamic_slice_in_dim(w_all, start, b, 0)
        u_rows = lax.dynamic_slice_in_dim(u, start, b, 0)
        u1 = lax.dynamic_slice_in_dim(u_rows, start, b, 1)
        err1 = jnp.zeros_like(w1)
        q1 = jnp.zeros((b, n), jnp.int32)
        if row_scales is not None:
            s1 = lax.dynamic_slice_in_dim(row_scales, start, b, 0)

            def row(i, c):
                return _row_step(i, s1[i], c[0], c[1], c[2], u1)

            w1, err1, q1 = lax.fori_loop(0, b, row, (w1, err1, q1))
            sg = jnp.zeros((0, n), scale_dtype)
        else:
            # Each group's scale from its rows as they are when the group's
            # first row comes up: error-updated by all earlier rows.
            def group(j, c):
                w1, err1, q1, sg = c
                r0 = j * g
                s = _group_scale(
                    lax.dynamic_slice_in_dim(w1, r0, g, 0),
                    lax.dynamic_slice(u1, (r0, r0), (g, g)),
                    clip=clip,
                    scale_dtype=scale_dtype,
                )
                sw = s.astype(wide)

                def row(r, c):
                    return _row_step(r0 + r, sw, c[0], c[1], c[2], u1)

                w1, err1, q1 = lax.fori_loop(0, g, row, (w1, err1, q1))
                return w1, err1, q1, sg.at[j].set(s)

            sg = jnp.zeros((b // g, n), scale_dtype)
            w1, err1, q1, sg = lax.fori_loop(0, b // g, group, (w1, err1, q1, sg))
        # Lazy batch update of the later rows. u_rows is zero left of the block,
        # so earlier rows are untouched; rows of this block are done already.
        w_all = w_all - jnp.matmul(u_rows.T, err1, precision=_HIGHEST)
        return w_all, (q1, sg)

    _, (q, sg) = lax.scan(block, w, jnp.arange(0, kp, b))
    codes = q.reshape(kp, n)[:k]
    if scales is None:
        scales = sg.reshape(kp // g, n)[: k // g]
    return codes, scales


def gptq(
    w: Float[ArrayLike, "K N"],
    hessian: GPTQHessian | Float[ArrayLike, "K K"],
    *,
    group_size: int = 128,
    blocksize: int = 128,
    percdamp: float | Float[ArrayLike, ""] = 0.01,
    static_groups: bool = False,
    clip: bool = False,
    block_k: int = 128,
    scale_dtype: DTypeLike = jnp.float16,
) -> Int4Weight:
    r"""GPTQ 4-bit quantization of ``w`` (in x out) in MARLIN's symmetric format.

    GPTQ quantizes the input rows of ``w`` one at a time and spreads each
    row's rounding error over the rows not yet quantized, so as to minimise
    the layer-output error $\lVert X (W - \hat W) \rVert_F^2 =
    \tfrac{n}{2}\,\mathrm{tr}\,(W - \hat W)^\top H (W - \hat W)$. With
    $U$ the upper Cholesky factor of the damped $H^{-1}$, row $i$ is
    quantized to $\hat w_i = (q_i - 8) s$ with
    $q_i = \mathrm{clip}(\mathrm{round}(w_i / s) + 8, 0, 15)$, and every
    later row $j$ is updated by
    $w_j \leftarrow w_j - U_{ij} (w_i - \hat w_i) / U_{ii}$ (exactly within
    a block of ``blocksize`` rows, as one matrix product for later blocks).
    Dead inputs ($H_{kk} = 0$) get $H_{kk} = 1$ and a zero weight row;
    $H$ is damped by ``percdamp`` times its mean diagonal.

    **Group scales** are MARLIN's $s = \tfrac{2}{15}\max|w|$ over the
    group's rows (an all-zero group gets 1), stored in ``scale_dtype``. The
    codes are computed with the *stored* scale, so
    [`dequantize`][jaxmethods.quant.dequantize] gives exactly the $\hat w$
    that the error feedback used. When the scale is computed:

    - ``static_groups=False`` (the official GPTQ and MARLIN default): when
      the group's first row comes up, from the group's rows *as updated by
      the errors of all earlier rows*. With ``group_size == blocksize`` (128,
      MARLIN's ``gptq/gptq.py``, which calls ``find_params`` on each
      error-updated block) this is the official computation. For smaller
      groups the official IST-DASLab/gptq code reads the group from the
      lazily updated full matrix, which misses the corrections from earlier
      rows of the same block; here the group sees every correction, so the
      result does not depend on ``blocksize`` (up to rounding). Needs
      ``blocksize`` to be a multiple of ``group_size``.
    - ``static_groups=True`` (AutoGPTQ's and IST-DASLab/gptq's option of the
      same name): every group's scale is computed upfront from the original
      weights (after zeroing dead inputs).
    - ``group_size=-1``: one scale per column, always computed upfront from
      the original weights (as both official codes do).

    ``clip=True`` (MARLIN's Hessian-aware clipping, on by default in its
    ``llama2.py``) chooses, per group and column, a shrink factor
    $p \in \{1, 0.99, \dots, 0.25\}$ for the scale
    $\tfrac{2}{15}\,p \max|w|$ minimising
    $\lVert U_g^{-\top} (\hat w(p) - w) \rVert^2$, with $U_g$ the group's
    diagonal block of $U$ and $w$ the group as above (rounded only, no error
    feedback); ties keep the larger $p$. MARLIN clips only with groups; here
    ``group_size=-1`` clips too, at a cost of $76 K^2 N$ flops.

    Computed in float32 (float64 if ``w`` or the Hessian is float64), with
    ``Precision.HIGHEST`` matmuls (no TF32, as the official code). Works under
    ``jax.jit`` / ``eqx.filter_jit`` (everything but ``w``, ``hessian`` and
    ``percdamp`` static).

    Args:
        w: weights, shape ``(K, N)`` = (input features, output features).
        hessian: a [`GPTQHessian`][jaxmethods.quant.GPTQHessian] or the
            ``(K, K)`` matrix $H = 2 X^\top X / n$ (any positive multiple
            gives the same result).
        group_size: rows per scale: ``-1`` (per column) or a positive
            multiple of ``block_k / 8`` dividing ``K``.
        blocksize: rows per lazy-update block (clamped to ``K``; ``K`` is
            padded internally to a multiple). Only speed depends on it.
        percdamp: relative damping (the official GPTQ and qwix use 0.01,
            MARLIN's script 0.1). Must be non-negative.
        static_groups: see above.
        clip: Hessian-weighted grid search of the clipping range per group.
        block_k: packing tile of the returned weight.
        scale_dtype: dtype of the stored scales (float16 as MARLIN; bfloat16,
            float32 or float64 also accepted).

    Returns:
        The [`Int4Weight`][jaxmethods.quant.Int4Weight].

    Raises:
        TypeError: non-float ``w`` or ``hessian``, or a bad ``scale_dtype``.
        ValueError: ``w`` not 2-D, ``hessian`` not ``(K, K)``, a bad
            ``group_size``, ``block_k`` or ``blocksize``, ``blocksize`` not a
            multiple of ``group_size`` with ``static_groups=False``, or a
            negative ``percdamp``.
        RuntimeError: (or ``ValueError`` under ``jax.jit``, from
            ``eqx.error_if``) the damped Hessian is not positive definite.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.quant import (
        ...     dequantize, gptq, hessian_from_activations, quantize_rtn)
        >>> kx, ka, kw = jr.split(jr.key(0), 3)
        >>> a = jr.normal(ka, (128, 128)) / 128**0.5
        >>> x = jr.normal(kx, (1024, 128)) @ (jnp.eye(128) + 2 * a)
        >>> w = jr.normal(kw, (128, 32))
        >>> h = hessian_from_activations(x)
        >>> err = lambda qw: jnp.sum((x @ (dequantize(qw, jnp.float32) - w)) ** 2)
        >>> print(bool(err(gptq(w, h)) < 0.7 * err(quantize_rtn(w))))
        True

    References:
        Frantar, Ashkboos, Hoefler and Alistarh, "GPTQ: Accurate Post-Training
        Quantization for Generative Pre-trained Transformers", ICLR 2023.
        arXiv:2210.17323. Code: IST-DASLab/gptq ``gptq.py``.

        Frantar, Castro, Chen, Hoefler and Alistarh, "MARLIN: Mixed-Precision
        Auto-Regressive Parallel Inference on Large Language Models", PPoPP
        2025. arXiv:2408.11743. Code: IST-DASLab/marlin ``gptq/gptq.py``.
    """
    fn = "gptq"
    w = check_weight(fn, w)
    k, _ = w.shape
    h = hessian.matrix if isinstance(hessian, GPTQHessian) else jnp.asarray(hessian)
    if not jnp.issubdtype(h.dtype, jnp.floating):
        raise TypeError(f"{fn}: hessian must be a float array, got {h.dtype}")
    if h.shape != (k, k):
        raise ValueError(
            f"{fn}: hessian must have shape {(k, k)} for w of shape {w.shape}, got "
            f"{h.shape}"
        )
    check_block_k(fn, k, block_k)
    check_group_size(fn, k, group_size, block_k)
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1:
        raise ValueError(f"{fn}: blocksize must be a positive int, got {blocksize!r}")
    blocksize = min(blocksize, k)
    if not static_groups and group_size != -1 and blocksize % group_size:
        raise ValueError(
            f"{fn}: blocksize={blocksize} must be a multiple of group_size="
            f"{group_size} (each group must lie in one block), or pass "
            "static_groups=True"
        )
    scale_dtype = jnp.dtype(scale_dtype)
    if scale_dtype not in [jnp.dtype(d) for d in _SCALE_DTYPES]:
        raise TypeError(
            f"{fn}: scale_dtype must be float16, bfloat16, float32 or float64, got "
            f"{scale_dtype}"
        )
    if isinstance(percdamp, int | float) and not percdamp >= 0:
        raise ValueError(f"{fn}: percdamp must be >= 0, got {percdamp!r}")
    wide = _wide(w.dtype, h.dtype)
    codes, scales = _gptq_core(
        w.astype(wide),
        h.astype(wide),
        jnp.asarray(percdamp, wide),
        group_size=group_size,
        blocksize=blocksize,
        static_groups=bool(static_groups),
        clip=bool(clip),
        scale_dtype=scale_dtype,
    )
    return Int4Weight.from_codes(codes, scales, group_size=group_size, block_k=block_k)

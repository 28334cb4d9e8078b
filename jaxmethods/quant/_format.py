r"""The int4 weight format: K-blocked nibble packing, scales, dequantization.

MARLIN's format (P26): symmetric 4-bit codes with a fixed zero point 8,
$q \in \{0, \dots, 15\}$ and $\hat w = (q - 8)\,s$, one scale per group of
``group_size`` consecutive input rows (``-1``: one per column).

The packing is ours, designed for a Pallas kernel rather than for
``mma.sync`` register fragments (MARLIN's own tile shuffle): within each tile
of ``block_k`` rows, 32-bit word ``r`` of a column holds rows
``r + j * block_k / 8`` in nibble ``j`` (bits ``4j .. 4j+3``). Shifting a tile
of words right by ``4j`` and masking gives rows ``j * block_k / 8 ..`` in
order, so the kernel unpacks with shifts only and multiplies each nibble
plane by the matching slice of the activations.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Integer, UInt32


ZERO_POINT = 8
_SCALE_DTYPES = (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)


def check_block_k(fn: str, k: int, block_k: int) -> None:
    """``block_k`` must be a positive multiple of 8 that divides ``K``."""
    if not isinstance(block_k, int) or block_k < 8 or block_k % 8:
        raise ValueError(f"{fn}: block_k must be a multiple of 8, got {block_k!r}")
    if k % block_k:
        raise ValueError(
            f"{fn}: K={k} must be a multiple of block_k={block_k} (pad the input "
            "features, or pass a smaller block_k)"
        )


def check_group_size(fn: str, k: int, group_size: int, block_k: int) -> int:
    """Return the number of scale rows; raise for a group size the format can't hold.

    Allowed: ``-1`` (one scale per column) or a positive multiple of
    ``block_k / 8`` that divides ``K`` (so each nibble plane of a tile lies in
    one group).
    """
    if group_size == -1:
        return 1
    plane = block_k // 8
    if not isinstance(group_size, int) or group_size < 1 or group_size % plane:
        raise ValueError(
            f"{fn}: group_size must be -1 or a positive multiple of block_k/8 = "
            f"{plane}, got {group_size!r}"
        )
    if k % group_size:
        raise ValueError(f"{fn}: K={k} must be a multiple of group_size={group_size}")
    return k // group_size


def pack_int4(
    q: Integer[ArrayLike, "K N"], *, block_k: int = 128
) -> UInt32[Array, "K//8 N"]:
    r"""Pack 4-bit codes into ``uint32`` words, K-blocked (8 codes per word).

    Within each tile of ``block_k`` rows, word ``r`` holds rows
    ``r + j * block_k / 8`` in bits ``4j .. 4j + 3`` for ``j = 0 .. 7``.
    The packed array takes exactly ``K N / 2`` bytes.

    Args:
        q: integer codes in ``[0, 15]``, shape ``(K, N)``.
        block_k: rows per tile (a multiple of 8 dividing ``K``; static). The
            matmul kernel reads tiles of this size, so pack and multiply with
            the same value.

    Returns:
        ``uint32`` array of shape ``(K // 8, N)``.

    Raises:
        TypeError: non-integer ``q``.
        ValueError: ``q`` not 2-D, ``K`` not a multiple of ``block_k``, a bad
            ``block_k``, or (for concrete input) codes outside ``[0, 15]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.quant import pack_int4, unpack_int4
        >>> q = jnp.arange(16, dtype=jnp.int32).reshape(16, 1) % 16
        >>> p = pack_int4(q, block_k=16)
        >>> p.shape, p.dtype
        ((2, 1), dtype('uint32'))
        >>> bool((unpack_int4(p, block_k=16) == q).all())
        True

    References:
        Frantar, Castro, Chen, Hoefler and Alistarh, "MARLIN: Mixed-Precision
        Auto-Regressive Parallel Inference on Large Language Models", PPoPP
        2025. arXiv:2408.11743.
    """
    q = jnp.asarray(q)
    if not jnp.issubdtype(q.dtype, jnp.integer):
        raise TypeError(f"pack_int4: q must be an integer array, got {q.dtype}")
    if q.ndim != 2:
        raise ValueError(f"pack_int4: q must have shape (K, N), got {q.shape}")
    k, n = q.shape
    check_block_k("pack_int4", k, block_k)
    try:
        lo, hi = int(jnp.min(q)), int(jnp.max(q))
    except Exception:  # traced: checked by the caller's construction
        lo, hi = 0, 15
    if q.size and (lo < 0 or hi > 15):
        raise ValueError(f"pack_int4: codes must lie in [0, 15], got [{lo}, {hi}]")
    planes = q.astype(jnp.uint32).reshape(k // block_k, 8, block_k // 8, n)
    shifts = jnp.asarray(4 * np.arange(8), jnp.uint32).reshape(1, 8, 1, 1)
    words = jnp.sum(planes << shifts, axis=1, dtype=jnp.uint32)
    return words.reshape(k // 8, n)


def unpack_int4(
    packed: UInt32[ArrayLike, "K8 N"], *, block_k: int = 128
) -> Integer[Array, "K N"]:
    """Inverse of [`pack_int4`][jaxmethods.quant.pack_int4]: codes as ``uint8``.

    Args:
        packed: ``uint32`` words, shape ``(K // 8, N)``.
        block_k: the tile size used to pack (static).

    Returns:
        ``uint8`` codes in ``[0, 15]``, shape ``(K, N)``.

    Raises:
        TypeError: ``packed`` not ``uint32``.
        ValueError: ``packed`` not 2-D, or its row count not a multiple of
            ``block_k / 8``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.quant import unpack_int4
        >>> word = jnp.array([[0x76543210], [0xFEDCBA98]], jnp.uint32)
        >>> print(unpack_int4(word, block_k=16)[:, 0].tolist())
        [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]

    References:
        Frantar et al., "MARLIN: Mixed-Precision Auto-Regressive Parallel
        Inference on Large Language Models", PPoPP 2025. arXiv:2408.11743.
    """
    packed = jnp.asarray(packed)
    if packed.dtype != jnp.uint32:
        raise TypeError(f"unpack_int4: packed must be uint32, got {packed.dtype}")
    if packed.ndim != 2:
        raise ValueError(f"unpack_int4: packed must be 2-D, got {packed.shape}")
    k8, n = packed.shape
    check_block_k("unpack_int4", 8 * k8, block_k)
    tiles = packed.reshape(k8 * 8 // block_k, 1, block_k // 8, n)
    shifts = jnp.asarray(4 * np.arange(8), jnp.uint32).reshape(1, 8, 1, 1)
    codes = (tiles >> shifts) & jnp.uint32(0xF)
    return codes.reshape(8 * k8, n).astype(jnp.uint8)


class Int4Weight(eqx.Module):
    r"""A ``(K, N)`` weight matrix in 4-bit MARLIN format, packed for Pallas.

    $\hat W_{kn} = (q_{kn} - 8)\, s_{g(k), n}$ with codes $q \in [0, 15]$
    packed eight per ``uint32`` word
    ([`pack_int4`][jaxmethods.quant.pack_int4], K-blocked layout) and one
    scale per group of ``group_size`` consecutive rows of a column. ``K`` is
    the input dimension and ``N`` the output dimension (``x @ W``). Storage:
    exactly $KN/2$ bytes of codes plus the scales, about 3.9 times less than
    float16 at group size 128.

    Build one with [`quantize_rtn`][jaxmethods.quant.quantize_rtn] or
    [`gptq`][jaxmethods.quant.gptq], or from codes with
    [`Int4Weight.from_codes`][jaxmethods.quant.Int4Weight.from_codes].
    Multiply with [`jaxmethods.ops.w4a16_matmul`][]; expand with
    [`dequantize`][jaxmethods.quant.dequantize]. It is a pytree, so it passes
    through ``jit``, ``vmap`` (over stacked weights) and ``eqx`` filters.

    Attributes:
        packed: ``uint32`` codes, shape ``(K // 8, N)``.
        scales: shape ``(K // group_size, N)`` (``(1, N)`` for
            ``group_size=-1``), float16, bfloat16, float32 or float64.
        shape: ``(K, N)`` (static).
        group_size: rows per scale, or ``-1`` for one scale per column
            (static).
        block_k: the packing tile (static).

    References:
        Frantar et al., "MARLIN: Mixed-Precision Auto-Regressive Parallel
        Inference on Large Language Models", PPoPP 2025. arXiv:2408.11743.
    """

    packed: UInt32[Array, "K8 N"]
    scales: Float[Array, "G N"]
    shape: tuple[int, int] = eqx.field(static=True)
    group_size: int = eqx.field(static=True)
    block_k: int = eqx.field(static=True)

    def __init__(
        self,
        packed: UInt32[ArrayLike, "K8 N"],
        scales: Float[ArrayLike, "G N"],
        *,
        group_size: int = 128,
        block_k: int = 128,
    ):
        """Wrap packed codes and scales, checking their shapes and dtypes.

        Args:
            packed: ``uint32`` words from ``pack_int4``, ``(K // 8, N)``.
            scales: ``(K // group_size, N)`` or ``(1, N)`` for
                ``group_size=-1``.
            group_size: rows per scale, or ``-1``.
            block_k: the tile ``packed`` was packed with.

        Raises:
            TypeError: wrong dtypes.
            ValueError: inconsistent shapes or a group size the format can't
                hold.
        """
        packed = jnp.asarray(packed)
        scales = jnp.asarray(scales)
        if packed.dtype != jnp.uint32 or packed.ndim != 2:
            raise TypeError(
                f"Int4Weight: packed must be a 2-D uint32 array, got {packed.dtype} "
                f"of shape {packed.shape}"
            )
        if scales.dtype not in [jnp.dtype(d) for d in _SCALE_DTYPES]:
            raise TypeError(
                "Int4Weight: scales must be float16, bfloat16, float32 or float64, "
                f"got {scales.dtype}"
            )
        k, n = 8 * packed.shape[0], packed.shape[1]
        check_block_k("Int4Weight", k, block_k)
        rows = check_group_size("Int4Weight", k, group_size, block_k)
        if scales.shape != (rows, n):
            raise ValueError(
                f"Int4Weight: scales must have shape {(rows, n)} for K={k}, N={n}, "
                f"group_size={group_size}, got {scales.shape}"
            )
        self.packed = packed
        self.scales = scales
        self.shape = (k, n)
        self.group_size = group_size
        self.block_k = block_k

    @classmethod
    def from_codes(
        cls,
        q: Integer[ArrayLike, "K N"],
        scales: Float[ArrayLike, "G N"],
        *,
        group_size: int = 128,
        block_k: int = 128,
    ) -> Int4Weight:
        """Pack codes ``q`` in ``[0, 15]`` and wrap them with their scales.

        Args:
            q: integer codes, shape ``(K, N)``.
            scales: ``(K // group_size, N)`` or ``(1, N)``.
            group_size: rows per scale, or ``-1``.
            block_k: packing tile.

        Returns:
            The ``Int4Weight``.
        """
        return cls(
            pack_int4(q, block_k=block_k),
            scales,
            group_size=group_size,
            block_k=block_k,
        )

    @property
    def nbytes(self) -> int:
        """Bytes held: packed codes plus scales."""
        return int(self.packed.nbytes + self.scales.nbytes)

    def codes(self) -> Integer[Array, "K N"]:
        """The ``uint8`` codes, shape ``(K, N)``."""
        return unpack_int4(self.packed, block_k=self.block_k)


def expand_scales(scales: Array, k: int, group_size: int) -> Array:
    """Repeat ``(G, N)`` scales to one row per input row, ``(K, N)``."""
    if group_size == -1:
        return jnp.broadcast_to(scales, (k, scales.shape[1]))
    return jnp.repeat(scales, group_size, axis=0, total_repeat_length=k)


def dequantize(qw: Int4Weight, dtype: DTypeLike = jnp.bfloat16) -> Float[Array, "K N"]:
    r"""Expand an ``Int4Weight`` to a dense matrix, $\hat W = (q - 8)\,s$.

    The product is formed in float32 (float64 for float64 scales or
    ``dtype``) and rounded once to ``dtype``.

    Args:
        qw: the quantized weight.
        dtype: output dtype (default bfloat16).

    Returns:
        ``(K, N)`` array of ``dtype``.

    Raises:
        TypeError: ``qw`` not an ``Int4Weight`` or a non-float ``dtype``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.quant import Int4Weight, dequantize
        >>> q = jnp.full((16, 2), 10, jnp.int32)
        >>> qw = Int4Weight.from_codes(q, jnp.ones((1, 2)), group_size=-1, block_k=16)
        >>> print(dequantize(qw, jnp.float32)[0].tolist())
        [2.0, 2.0]

    References:
        Frantar et al., "MARLIN: Mixed-Precision Auto-Regressive Parallel
        Inference on Large Language Models", PPoPP 2025. arXiv:2408.11743.
    """
    if not isinstance(qw, Int4Weight):
        raise TypeError(f"dequantize: qw must be an Int4Weight, got {type(qw)}")
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dequantize: dtype must be a float dtype, got {dtype}")
    wide = jnp.float64 if jnp.float64 in (dtype, qw.scales.dtype) else jnp.float32
    k, _ = qw.shape
    q = qw.codes().astype(wide) - jnp.asarray(ZERO_POINT, wide)
    s = expand_scales(qw.scales.astype(wide), k, qw.group_size)
    return (q * s).astype(dtype)

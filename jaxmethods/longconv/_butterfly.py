r"""Learned Butterfly: a causal FFT convolution whose DFT blocks are parameters.

The FFT of size $N = r_1 r_2 \cdots r_p$ is computed as in
``jaxmethods.ops.monarch_fft_permuted`` (Cooley–Tukey without the final
transposes): reshape the last axis to $(r_1, N/r_1)$, apply an $r_1 \times
r_1$ block along the first of the two axes, multiply by the twiddles
$e^{-2\pi i k_1 n_2/N}$, and recurse on the second. Here the blocks are
learnable, one complex $(H, r_j, r_j)$ matrix per stage $j$ (one per channel
$h$), stored as real and imaginary float arrays and initialised at the DFT
matrix $F_{r_j}$ (the safari ``BlockFFT(learn_dft_matrices=True)`` idea).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Complex, Float, Inexact, PRNGKeyArray

from ._layers import _promote, check_sequence


def butterfly_factors(n: int, max_block: int) -> tuple[int, ...]:
    """Split a power of two ``n`` into blocks of ``max_block``, then the rest.

    The safari ``block_fft`` order: ``(m, m, ..., r)`` with ``m = max_block``
    and ``r = n / m^k <= m``.
    """
    factors: list[int] = []
    rest = n
    while rest > max_block:
        factors.append(max_block)
        rest //= max_block
    factors.append(rest)
    return tuple(factors)


def _dft(n: int) -> np.ndarray:
    k = np.arange(n)
    return np.exp(-2j * np.pi * np.outer(k, k) / n)


def _twiddle(n1: int, n2: int, dtype, ndim: int) -> Array:
    k1 = np.arange(n1)[:, None]
    m2 = np.arange(n2)[None, :]
    t = np.exp(-2j * np.pi * k1 * m2 / (n1 * n2))
    return jnp.asarray(t.reshape((1,) * (ndim - 2) + (n1, n2)), dtype)


_HI = lax.Precision.HIGHEST


def _forward(x: Array, blocks: tuple[Array, ...]) -> Array:
    """Permuted block FFT; ``x`` has shape ``(..., H, M, n)``, blocks ``(H, r, r)``."""
    b = blocks[0]
    n = x.shape[-1]
    if len(blocks) == 1:
        return jnp.einsum("hkn,...hmn->...hmk", b, x, precision=_HI)
    r = b.shape[-1]
    n2 = n // r
    xr = x.reshape(x.shape[:-1] + (r, n2))
    a = jnp.einsum("hkn,...hmnj->...hmkj", b, xr, precision=_HI)
    a = a * _twiddle(r, n2, a.dtype, a.ndim)
    a = a.reshape(x.shape[:-2] + (x.shape[-2] * r, n2))
    return _forward(a, blocks[1:]).reshape(x.shape)


def _adjoint(x: Array, blocks: tuple[Array, ...]) -> Array:
    """Conjugate transpose of :func:`_forward`: its stages backwards, adjoint blocks."""
    b = jnp.conj(blocks[0])
    n = x.shape[-1]
    if len(blocks) == 1:
        return jnp.einsum("hnk,...hmn->...hmk", b, x, precision=_HI)
    r = b.shape[-1]
    n2 = n // r
    d = x.reshape(x.shape[:-2] + (x.shape[-2] * r, n2))
    d = _adjoint(d, blocks[1:])
    d = d.reshape(x.shape[:-1] + (r, n2)) * jnp.conj(
        _twiddle(r, n2, x.dtype, x.ndim + 1)
    )
    e = jnp.einsum("hnk,...hmnj->...hmkj", b, d, precision=_HI)
    return e.reshape(x.shape)


class LearnedButterflyConv(eqx.Module):
    r"""Causal long convolution through a learnable block FFT (Learned Butterfly).

    For one sequence $u$ of shape ``(H, L_in)``, $L_{in} \le L$, with the
    kernel $k$ truncated to its first $L_{in}$ lags and both zero-padded to
    the FFT size $N$ (the smallest power of two $\ge 2L$):

    $$y = \operatorname{Re}\Bigl[\tfrac1N\, G^{H}\bigl(G u \odot G k\bigr)
    \Bigr]_{:L_{in}} + D \odot u,$$

    where $G$ is the block FFT in the permuted (digit-reversed) layout with
    the learned blocks: per channel $h$ and stage $j$ a dense complex $r_j
    \times r_j$ matrix, with the fixed twiddles in between. $G^H$ (conjugate
    transpose) runs the stages backwards with the adjoint blocks and
    conjugate twiddles; no permutation is ever applied. At initialisation
    every block is the DFT matrix, $G$ is the DFT up to the permutation $P$
    ($G = PF$, so $G^H G = N I$) and the layer is exactly
    ``fft_causal_conv(u, k) + D u``; once the blocks move it is a learned
    linear operator in $u$ (no longer a convolution, nor necessarily causal),
    at the same matmul cost.

    The stages are ``(m, ..., m, r)`` with ``m = max_block`` (official
    ``max_m=16``) and $r = N/m^p \le m$. The blocks ``blocks_re[j] + 1j *
    blocks_im[j]`` have shape ``(H, r_j, r_j)``; keeping them as real arrays
    lets any optax optimiser train them.

    Differences from the official safari code (``block_fft.py``,
    ``LongConv(block_fft_conv=True)``): one block per *stage* rather than one
    per block *size* (the official shares ``mat_16`` across all 16-point
    stages); one set of blocks for $u$, for $k$ and for the inverse (the
    official uses two ``BlockFFT`` modules, for $u$ and $k$, and a fixed
    ``torch.fft.ifft``); and the inverse is the adjoint $G^H/N$, which in
    natural order is $\overline{F_B}^{\,T}/N$ where ``BlockFFT(forward=False)``
    computes $\overline{F_B}/N$ — the two agree whenever the learned $F_B$ is
    symmetric, in particular at initialisation (the transpose is what makes
    the inverse consistent with the permuted layout, whose inverse must run
    the stages backwards). No ``learn_additive`` or block dropout.

    Args:
        H: number of channels.
        L: maximum sequence length (kernel length).
        max_block: largest block size, a power of two ``>= 2`` (official 16).
        dtype: real parameter dtype; default ``float32``, or ``float64`` with
            ``jax_enable_x64``.
        key: PRNG key for the kernel (``0.002 N(0, 1)``, as LongConv) and
            ``D`` (``N(0, 1)``).

    Attributes:
        kernel: ``(H, L)`` kernels.
        D: ``(H,)`` skip weights.
        blocks_re: per stage, ``(H, r_j, r_j)`` real parts of the blocks.
        blocks_im: per stage, ``(H, r_j, r_j)`` imaginary parts.
        fft_size: $N$.
        factors: the block sizes $(r_1, \dots, r_p)$.

    Raises:
        ValueError: non-positive ``H`` or ``L``, or a ``max_block`` that is
            not a power of two ``>= 2``.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.longconv import LearnedButterflyConv
        >>> from jaxmethods.ops import fft_causal_conv
        >>> conv = LearnedButterflyConv(3, 100, key=jr.key(0))
        >>> conv.fft_size, conv.factors
        (256, (16, 16))
        >>> u = jr.normal(jr.key(1), (3, 100))
        >>> ref = fft_causal_conv(u, conv.kernel) + conv.D[:, None] * u
        >>> print(bool(jnp.allclose(conv(u), ref, atol=1e-5)))
        True

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646. Official code: HazyResearch/safari,
        ``src/models/sequence/block_fft.py``.
    """

    kernel: Float[Array, "H L"]
    D: Float[Array, " H"]
    blocks_re: tuple[Float[Array, "H _ _"], ...]
    blocks_im: tuple[Float[Array, "H _ _"], ...]
    H: int = eqx.field(static=True)
    L: int = eqx.field(static=True)
    fft_size: int = eqx.field(static=True)
    factors: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        H: int,
        L: int,
        *,
        max_block: int = 16,
        dtype: DTypeLike | None = None,
        key: PRNGKeyArray,
    ):
        for name, v in (("H", H), ("L", L)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(
                    f"LearnedButterflyConv: {name} must be an int >= 1, got {v!r}"
                )
        if (
            not isinstance(max_block, int)
            or max_block < 2
            or max_block & (max_block - 1)
        ):
            raise ValueError(
                "LearnedButterflyConv: max_block must be a power of two >= 2, "
                f"got {max_block!r}"
            )
        dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
        n = 1 << max(2 * L - 1, 1).bit_length()
        self.H, self.L, self.fft_size = H, L, n
        self.factors = butterfly_factors(n, max_block)
        kk, kd = jr.split(key)
        self.kernel = jr.normal(kk, (H, L), dtype) * jnp.asarray(0.002, dtype)
        self.D = jr.normal(kd, (H,), dtype)
        mats = [np.broadcast_to(_dft(r), (H, r, r)) for r in self.factors]
        self.blocks_re = tuple(jnp.asarray(np.real(m), dtype) for m in mats)
        self.blocks_im = tuple(jnp.asarray(np.imag(m), dtype) for m in mats)

    def _blocks(self, cdtype) -> tuple[Array, ...]:
        rdtype = jnp.finfo(cdtype).dtype
        return tuple(
            lax.complex(re.astype(rdtype), im.astype(rdtype))
            for re, im in zip(self.blocks_re, self.blocks_im, strict=True)
        )

    def _cdtype(self, dtype) -> jnp.dtype:
        dtype = _promote(dtype, self.kernel.dtype)
        return jnp.dtype(jnp.complex128 if dtype == jnp.float64 else jnp.complex64)

    def transform(
        self, x: Inexact[ArrayLike, "*batch H N"]
    ) -> Complex[Array, "*batch H N"]:
        r"""The learned block FFT $G x$ along the last axis, in permuted order.

        At initialisation ``transform(x)[..., i] == fft(x)[..., perm[i]]``
        with ``perm =``
        [`monarch_permutation`][jaxmethods.ops.monarch_permutation]``(factors)``
        (digit reversal).

        Args:
            x: real or complex input of shape ``(..., H, N)``, ``N =
                fft_size``.

        Returns:
            Complex ``(..., H, N)`` (complex128 for float64 data, else
            complex64).

        Raises:
            ValueError: a shape other than ``(..., H, N)``.
        """
        x = self._check_spectral("transform", x)
        cdtype = self._cdtype(jnp.finfo(x.dtype).dtype)
        x = x.astype(cdtype)[..., None, :]
        return _forward(x, self._blocks(cdtype))[..., 0, :]

    def inverse_transform(
        self, x: Inexact[ArrayLike, "*batch H N"]
    ) -> Complex[Array, "*batch H N"]:
        r"""The inverse used by the layer, $G^H x / N$ (exact inverse at init).

        Args:
            x: complex spectrum in permuted order, shape ``(..., H, N)``.

        Returns:
            Complex ``(..., H, N)`` in natural time order.

        Raises:
            ValueError: a shape other than ``(..., H, N)``.
        """
        x = self._check_spectral("inverse_transform", x)
        cdtype = self._cdtype(jnp.finfo(x.dtype).dtype)
        x = x.astype(cdtype)[..., None, :]
        y = _adjoint(x, self._blocks(cdtype))[..., 0, :]
        return y * jnp.asarray(1 / self.fft_size, cdtype)

    def _check_spectral(self, fn: str, x) -> Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            raise TypeError(f"LearnedButterflyConv.{fn}: x must be float or complex")
        if x.ndim < 2 or x.shape[-2:] != (self.H, self.fft_size):
            raise ValueError(
                f"LearnedButterflyConv.{fn}: x must have shape (..., {self.H}, "
                f"{self.fft_size}), got {x.shape}"
            )
        return x

    def __call__(
        self, u: Float[ArrayLike, "H L_in"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "H L_in"]:
        """Apply the convolution to one sequence.

        Args:
            u: input, shape ``(H, L_in)`` with ``L_in <= L``.
            key: ignored (deterministic layer; accepted for ``equinox.nn``
                compatibility).

        Returns:
            ``(H, L_in)`` in the promotion of ``u``'s and the parameters'
            dtypes; bfloat16/float16 are computed in float32 and cast back.

        Raises:
            TypeError: non-float ``u``.
            ValueError: ``u`` not 2-D, the wrong ``H`` or ``L_in > L``.
        """
        del key
        u = check_sequence("LearnedButterflyConv", u, self.H, self.L)
        length = u.shape[1]
        dtype = _promote(u.dtype, self.kernel.dtype)
        work = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
        n = self.fft_size
        uw = u.astype(work)
        kw = self.kernel[:, :length].astype(work)
        pad = ((0, 0), (0, n - length))
        uf = self.transform(jnp.pad(uw, pad))
        kf = self.transform(jnp.pad(kw, pad))
        y = self.inverse_transform(uf * kf).real[:, :length]
        y = y + self.D.astype(work)[:, None] * uw
        return y.astype(dtype)

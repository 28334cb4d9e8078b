r"""The LongConv layer: a learned full-length kernel per channel, FFT convolution.

Follows the official ``LongConv`` and ``LongConvKernel`` (HazyResearch/safari,
``src/models/sequence/long_conv.py`` and ``long_conv_kernel.py``): kernel
regularisation (smoothing, Squash, kernel dropout), an FFT convolution with a
per-channel skip ``D``, GELU, dropout, and a position-wise ``Linear(C H -> 2H)``
followed by a GLU.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..ops import fft_bidirectional_conv, fft_causal_conv
from ._regularizers import SMOOTH_MODES, smooth_kernel, squash


def _promote(a, b) -> jnp.dtype:
    """``jnp.promote_types`` by the standard lattice (``a`` and ``b`` are dtypes).

    The choice is explicit here, so it holds under
    ``jax_numpy_dtype_promotion="strict"`` too.
    """
    with jax.numpy_dtype_promotion("standard"):
        return jnp.promote_types(a, b)


def _dropout(key: PRNGKeyArray, x: Array, p: float) -> Array:
    """Inverted dropout: zero with probability ``p``, scale the rest by ``1/(1-p)``."""
    keep = jr.bernoulli(key, 1.0 - p, x.shape)
    return jnp.where(keep, x / jnp.asarray(1.0 - p, x.dtype), jnp.zeros((), x.dtype))


def _smooth_mode(smooth) -> str | None:
    if smooth is False or smooth is None:
        return None
    if smooth is True:
        return "avgpool"
    if smooth in SMOOTH_MODES:
        return smooth
    raise ValueError(
        f"LongConv: smooth must be None, False, True or one of {SMOOTH_MODES}, "
        f"got {smooth!r}"
    )


def check_sequence(name: str, u, h: int, max_len: int) -> Array:
    """One input sequence ``(H, L_in)`` with ``1 <= L_in <= L``, as an array.

    Raises ``TypeError`` for non-float input and ``ValueError`` for a wrong
    rank, channel count or length (shared by the long-convolution layers).
    """
    u = jnp.asarray(u)
    if not jnp.issubdtype(u.dtype, jnp.floating):
        raise TypeError(f"{name}: u must be a real float array, got {u.dtype}")
    if u.ndim != 2:
        raise ValueError(
            f"{name}: u must have shape (H, L_in), got {u.shape}; "
            "use jax.vmap for a batch"
        )
    if u.shape[0] != h:
        raise ValueError(f"{name}: u has H={u.shape[0]} channels, the layer has H={h}")
    if not 1 <= u.shape[1] <= max_len:
        raise ValueError(
            f"{name}: the input length must be between 1 and L={max_len}, "
            f"got {u.shape[1]}"
        )
    return u


class LongConv(eqx.Module):
    r"""Long convolution layer (LongConv): learned kernels as long as the sequence.

    For an input $u$ of shape ``(H, L_in)`` with $L_{in} \le L$:

    1. the kernel $K$ of shape ``(C, H, L)`` is smoothed (if ``smooth``),
       squashed, $K \leftarrow \operatorname{sign}(K)\max(|K| - \lambda, 0)$,
       truncated to its first $L_{in}$ lags and (in training) put through
       kernel dropout, in the official order;
    2. $y_{c,h,t} = \sum_{s \le t} K_{c,h,s}\, u_{h,t-s} + D_{c,h}\, u_{h,t}$
       by [`fft_causal_conv`][jaxmethods.ops.fft_causal_conv] (zero-padded, so
       causal), or with ``bidirectional=True`` the two-sided
       [`fft_bidirectional_conv`][jaxmethods.ops.fft_bidirectional_conv];
    3. exact (erf) GELU, dropout, then the ``C H`` features are flattened
       channel-major (``(c h)``, as the official ``rearrange``) and mixed at
       each position by ``out_proj`` (``Linear(C H -> 2H)``) and a GLU,
       $a \odot \sigma(b)$ for the two halves $(a, b)$ of the ``2H`` outputs.

    The output has the input's shape ``(H, L_in)``. One sequence per call, as
    in ``equinox.nn``: batch with ``jax.vmap``. Closing over one ``key``
    (``jax.vmap(lambda x: layer(x, key=key))(u)``) draws one kernel-dropout
    mask for the whole batch, as the official code does (it builds one kernel
    per forward pass), but then also shares the ``dropout`` masks; for
    independent masks pass a key per sequence, ``jax.vmap(lambda x, k:
    layer(x, key=k))(u, jr.split(key, B))``.

    Parameters (the official initialisation): ``kernel`` ~ $0.002\,N(0, 1)$,
    ``D`` ~ $N(0, 1)$, ``out_proj`` as ``equinox.nn.Linear``. The official
    training setup gives the kernel its own learning rate and no weight decay;
    see [`longconv_param_labels`][jaxmethods.longconv.longconv_param_labels].

    Bidirectional layers hold ``2C`` kernels in ``kernel`` (shape
    ``(2C, H, L)``, the official ``(s c)`` layout): ``kernel[:C]`` acts on
    the present and the past (lags $0, 1, \dots$), ``kernel[C:]`` on the
    future (lags $-1, -2, \dots$); ``D`` stays ``(C, H)``.

    Differences from the official code: the kernel is truncated to the input
    length before the FFT (the official ``LongConv`` zero-pads to
    ``L_kernel + L_in`` without truncating, which lets a kernel longer than
    the input reach future samples; the standalone ``standalone_long_convs.py``
    has the same problem with its ``2L`` kernel); ``freq_gauss`` smoothing keeps
    odd kernel lengths (see
    [`smooth_kernel`][jaxmethods.longconv.smooth_kernel]).

    Args:
        H: number of input/output channels (``d_model``).
        L: maximum sequence length (kernel length).
        channels: kernel channels ``C`` per input channel (official 2).
        lam: Squash threshold $\lambda \ge 0$ (official 0.003; 0 turns Squash
            off).
        kernel_dropout: dropout rate on the kernel entries (official 0.2).
        bidirectional: two-sided (non-causal) convolution.
        smooth: kernel smoothing before Squash: ``None``/``False`` (none, the
            official default), ``"avgpool"`` (or ``True``) or ``"freq_gauss"``.
        smooth_window: odd smoothing window (official 7).
        dropout: dropout rate after the GELU (official 0.0).
        dtype: parameter dtype; default ``float32``, or ``float64`` with
            ``jax_enable_x64`` (as ``equinox.nn``).
        key: PRNG key for the initialisation.

    Attributes:
        kernel: ``(C, H, L)`` (``(2C, H, L)`` if bidirectional) raw kernels.
        D: ``(C, H)`` skip weights.
        out_proj: the position-wise ``Linear(C H -> 2H)`` before the GLU.
        inference: default for ``__call__``'s ``inference`` (settable with
            ``equinox.nn.inference_mode``).

    Raises:
        ValueError: non-positive sizes, ``lam < 0``, dropout rates outside
            ``[0, 1)``, or an unknown ``smooth``.

    Examples:
        >>> import jax, jax.random as jr
        >>> from jaxmethods.longconv import LongConv
        >>> layer = LongConv(4, 16, key=jr.key(0))
        >>> u = jr.normal(jr.key(1), (4, 16))
        >>> layer(u, key=jr.key(2)).shape
        (4, 16)
        >>> layer(u[:, :10], inference=True).shape  # shorter inputs are fine
        (4, 10)
        >>> jax.vmap(lambda x: layer(x, inference=True))(u[None]).shape
        (1, 4, 16)

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646. Official code: HazyResearch/safari.
    """

    kernel: Float[Array, "C2 H L"]
    D: Float[Array, "C H"]
    out_proj: eqx.nn.Linear
    inference: bool
    H: int = eqx.field(static=True)
    L: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    lam: float = eqx.field(static=True)
    kernel_dropout: float = eqx.field(static=True)
    bidirectional: bool = eqx.field(static=True)
    smooth: str | None = eqx.field(static=True)
    smooth_window: int = eqx.field(static=True)
    dropout: float = eqx.field(static=True)

    def __init__(
        self,
        H: int,
        L: int,
        *,
        channels: int = 2,
        lam: float = 0.003,
        kernel_dropout: float = 0.2,
        bidirectional: bool = False,
        smooth: str | bool | None = None,
        smooth_window: int = 7,
        dropout: float = 0.0,
        dtype: DTypeLike | None = None,
        key: PRNGKeyArray,
    ):
        for name, v in (("H", H), ("L", L), ("channels", channels)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"LongConv: {name} must be an int >= 1, got {v!r}")
        if not lam >= 0:
            raise ValueError(f"LongConv: lam must be >= 0, got {lam!r}")
        for name, p in (("kernel_dropout", kernel_dropout), ("dropout", dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"LongConv: {name} must be in [0, 1), got {p!r}")
        mode = _smooth_mode(smooth)
        if (
            not isinstance(smooth_window, int)
            or smooth_window < 1
            or smooth_window % 2 == 0
        ):
            raise ValueError(
                "LongConv: smooth_window must be an odd int >= 1, "
                f"got {smooth_window!r}"
            )
        dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
        kk, kd, kp = jr.split(key, 3)
        n_kernels = 2 * channels if bidirectional else channels
        self.kernel = jr.normal(kk, (n_kernels, H, L), dtype) * jnp.asarray(
            0.002, dtype
        )
        self.D = jr.normal(kd, (channels, H), dtype)
        self.out_proj = eqx.nn.Linear(channels * H, 2 * H, dtype=dtype, key=kp)
        self.inference = False
        self.H, self.L, self.channels = H, L, channels
        self.lam = float(lam)
        self.kernel_dropout = float(kernel_dropout)
        self.bidirectional = bool(bidirectional)
        self.smooth = mode
        self.smooth_window = smooth_window
        self.dropout = float(dropout)

    def effective_kernel(self) -> Float[Array, "C2 H L"]:
        """The regularised kernel: smoothing (if any) then Squash, no dropout.

        This is what the layer convolves with in inference mode (truncated to
        the input length); use it to plot the learned kernels.

        Returns:
            ``(C, H, L)`` (``(2C, H, L)`` if bidirectional), the dtype of
            ``kernel``.
        """
        k = self.kernel
        if self.smooth is not None:
            k = smooth_kernel(k, window=self.smooth_window, mode=self.smooth)  # type: ignore[arg-type]
        if self.lam > 0:
            k = squash(k, self.lam)
        return k

    def __call__(
        self,
        u: Float[ArrayLike, "H L_in"],
        *,
        key: PRNGKeyArray | None = None,
        inference: bool | None = None,
    ) -> Float[Array, "H L_in"]:
        """Apply the layer to one sequence.

        Args:
            u: input, shape ``(H, L_in)`` with ``L_in <= L``.
            key: PRNG key for kernel dropout and dropout; needed in training
                mode when either rate is positive.
            inference: if true, no dropout of either kind; ``None`` uses the
                ``inference`` field.

        Returns:
            ``(H, L_in)`` in the promotion of ``u``'s and the parameters'
            dtypes (``jnp.promote_types``).

        Raises:
            TypeError: non-float ``u``.
            ValueError: ``u`` not 2-D, the wrong ``H``, ``L_in > L``, or no
                ``key`` in training mode with positive dropout rates.
        """
        inference = self.inference if inference is None else inference
        u = check_sequence("LongConv", u, self.H, self.L)
        length = u.shape[1]
        training = not inference and (self.kernel_dropout > 0 or self.dropout > 0)
        if training and key is None:
            raise ValueError(
                "LongConv: a key is needed in training mode (kernel_dropout="
                f"{self.kernel_dropout}, dropout={self.dropout}); pass key=... "
                "or inference=True"
            )
        dtype = _promote(u.dtype, self.kernel.dtype)
        k = self.effective_kernel()[..., :length].astype(dtype)
        kkey, dkey = jr.split(key) if training and key is not None else (None, None)
        if kkey is not None and self.kernel_dropout > 0:
            k = _dropout(kkey, k, self.kernel_dropout)
        u = u.astype(dtype)
        c = self.channels
        if self.bidirectional:
            y = fft_bidirectional_conv(u, k[:c], k[c:])
        else:
            y = fft_causal_conv(u, k)
        y = y + self.D.astype(dtype)[:, :, None] * u[None]
        y = jax.nn.gelu(y, approximate=False)
        if dkey is not None and self.dropout > 0:
            y = _dropout(dkey, y, self.dropout)
        y = y.reshape(c * self.H, length)  # channel-major (c h)
        w = self.out_proj.weight.astype(dtype)
        z = jnp.matmul(w, y)
        if self.out_proj.bias is not None:
            z = z + self.out_proj.bias.astype(dtype)[:, None]
        return z[: self.H] * jax.nn.sigmoid(z[self.H :])

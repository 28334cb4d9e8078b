"""Public FWHT: argument checks, ``impl`` dispatch and autodiff rules.

The helpers :func:`resolve_impl` and :func:`check_transform_axis` are shared
with :mod:`jaxmethods.ops.fftbr.api`.
"""

from __future__ import annotations

import functools
from typing import Literal, get_args

import jax
import jax.numpy as jnp
from jax.custom_derivatives import linear_call
from jaxtyping import Array, ArrayLike, Float

from ..._internal.bits import is_pow2
from .pallas_gpu import fwht_pallas
from .reference import fwht_platform


Impl = Literal["auto", "xla", "pallas", "pallas_interpret"]
IMPLS: tuple[str, ...] = get_args(Impl)
# Largest row that "auto" sends to the one-pass Pallas kernel. On an H200
# (benchmarks/RESULTS.md) the kernel beat the XLA matmul path up to 2^13 and
# lost to it at 2^15.
AUTO_PALLAS_MAX_N = 1 << 13


def pallas_gpu_available() -> bool:
    """Whether the default device is a CUDA GPU of compute capability 8.0 or more."""
    try:
        dev = jax.devices()[0]
    except RuntimeError:
        return False
    if dev.platform != "gpu":
        return False
    cc = getattr(dev, "compute_capability", None)
    try:
        return cc is not None and float(cc) >= 8.0
    except (TypeError, ValueError):  # e.g. a ROCm "gfx90a" string
        return False


def resolve_impl(fn: str, impl: str, dtype, n: int, max_n: int) -> str:
    """Turn ``impl`` into ``"xla"``, ``"pallas"`` or ``"pallas_interpret"``.

    ``"auto"`` picks ``"pallas"`` only for float32 (or complex64) data with
    ``n <= max_n`` on a CUDA GPU of compute capability >= 8.0 (Colab's T4 is
    7.5), and ``"xla"`` otherwise; in particular it never sends float64 data
    to the float32 kernel.
    """
    if not isinstance(impl, str) or impl not in IMPLS:
        raise ValueError(
            f"{fn}: unknown impl {impl!r}; expected one of "
            + ", ".join(repr(i) for i in IMPLS)
        )
    if impl == "auto":
        small = jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.complex64))
        if small and 2 <= n <= max_n and pallas_gpu_available():
            return "pallas"
        return "xla"
    if impl == "pallas" and jax.default_backend() != "gpu":
        raise ValueError(
            f"{fn}: impl='pallas' needs a CUDA GPU, but the default JAX backend is "
            f"{jax.default_backend()!r}; use impl='pallas_interpret' to run the "
            "same kernel in Pallas interpret mode, or impl='xla'"
        )
    return impl


def check_transform_axis(fn: str, x: Array, axis: int) -> tuple[int, int]:
    """Normalize ``axis`` and check that its length is a power of two.

    Returns:
        ``(axis, n)`` with ``0 <= axis < x.ndim``.
    """
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one axis, got a scalar")
    if not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis={axis!r} is out of range for x.shape={x.shape}")
    axis %= x.ndim
    n = x.shape[axis]
    if not is_pow2(n):
        raise ValueError(
            f"{fn}: the length of axis {axis} must be a power of two, got {n} "
            f"(x.shape={x.shape}); pad or truncate to a power of two first"
        )
    return axis, n


def _apply(x: Array, impl: str) -> Array:
    """FWHT along the last axis with the chosen implementation (no AD rules)."""
    if impl == "xla" or x.size == 0:
        return fwht_platform(x)
    n = x.shape[-1]
    flat = x.reshape(-1, n).astype(jnp.float32)
    y = fwht_pallas(flat, interpret=impl == "pallas_interpret")
    return y.reshape(x.shape).astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _fwht(x: Array, impl: str) -> Array:
    return _apply(x, impl)


@_fwht.defjvp
def _fwht_jvp(impl, primals, tangents):
    (x,), (t,) = primals, tangents

    # The orthonormal Sylvester H_n / sqrt(n) is symmetric: its own transpose.
    def op(_, v):
        return _fwht(v, impl)

    return _fwht(x, impl), linear_call(op, op, None, t)


def fwht(
    x: Float[ArrayLike, "*batch n"], *, axis: int = -1, impl: str = "auto"
) -> Float[Array, "*batch n"]:
    r"""Fast Walsh–Hadamard transform, orthonormal, natural (Sylvester) order.

    Computes $y = H_n x / \sqrt{n}$ along one axis, where $H_n$ is the
    Sylvester Hadamard matrix, $H_{2n} = \begin{pmatrix} H_n & H_n \\ H_n & -H_n
    \end{pmatrix}$, so $(H_n)_{jk} = (-1)^{\mathrm{popcount}(j \,\&\, k)}$
    (`scipy.linalg.hadamard(n)`). This is QMCPy's `qmcpy.fwht`: the transform
    is symmetric and orthogonal, so `fwht(fwht(x)) == x`. It diagonalizes
    digitally-shift-invariant kernel matrices on base-2 digital nets, which
    is what QMCPy's fast Bayesian cubature uses it for. Cost $O(n \log n)$ per
    row.

    It is linear and differentiable in both modes (`jax.jvp`, `jax.grad`,
    any order): the JVP is `fwht` of the tangent, and the transpose is `fwht`
    again. It works under `jax.jit` and `jax.vmap`; it does not jit itself.

    Args:
        x: real floating array (float16, bfloat16, float32 or float64) of any
            shape; the length of `axis` must be a power of two.
        axis: the axis to transform (static).
        impl: implementation (static). `"xla"`: pure jnp, any float dtype;
            cache-blocked butterflies on CPU, small Kronecker-factor matmuls
            at `precision=HIGHEST` on GPU. `"pallas"`: one-pass Pallas kernel
            on a CUDA GPU (compute float32; other dtypes are cast to float32
            and back).
            `"pallas_interpret"`: the same kernel in Pallas interpret mode,
            for tests on CPU. `"auto"`: `"pallas"` for float32 rows of length
            2 to 2^13 on a CUDA GPU of compute capability >= 8.0, else
            `"xla"`.

    Returns:
        Array of the same shape and dtype as `x`.

    Raises:
        TypeError: if `x` is not a real floating array (integers must be
            converted first; for complex data transform `x.real` and `x.imag`).
        ValueError: if the length of `axis` is not a power of two, `axis` is
            out of range, `impl` is unknown, or `impl="pallas"` is asked for
            without a GPU.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import fwht
        >>> fwht(jnp.arange(4.0))
        Array([ 3., -1., -2.,  0.], dtype=float32)
        >>> x = jnp.ones((3, 8))
        >>> bool(jnp.allclose(fwht(fwht(x)), x))
        True

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", in *Monte Carlo and
        Quasi-Monte Carlo Methods (MCQMC 2020)*, Springer, 2022.
        arXiv:2102.07833.

        B. J. Fino and V. R. Algazi, "Unified matrix treatment of the fast
        Walsh–Hadamard transform", *IEEE Transactions on Computers* C-25(11),
        1142–1146, 1976.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        hint = (
            "transform x.real and x.imag separately"
            if jnp.issubdtype(x.dtype, jnp.complexfloating)
            else "convert it first, e.g. x.astype(jnp.float32)"
        )
        raise TypeError(f"fwht: x must be a real floating array, got {x.dtype}; {hint}")
    axis, n = check_transform_axis("fwht", x, axis)
    impl = resolve_impl("fwht", impl, x.dtype, n, AUTO_PALLAS_MAX_N)
    if n == 1:
        return x
    last = axis == x.ndim - 1
    xm = x if last else jnp.moveaxis(x, axis, -1)
    y = _fwht(xm, impl)
    return y if last else jnp.moveaxis(y, -1, axis)

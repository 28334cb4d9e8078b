r"""Shift-invariant (SI) and digitally-shift-invariant (DSI) product kernels.

These are QMCPy's ``KernelShiftInvar`` / ``KernelShiftInvarCombined`` and
``KernelDigShiftInvar`` / ``KernelDigShiftInvarCombined`` /
``KernelDigShiftInvarAdaptiveAlpha``. Their Gram matrices on a shifted rank-1
lattice (SI) or a linearly scrambled, digitally shifted base-2 net (DSI) in
natural order are diagonalised by the bit-reversed FFT or the Walsh–Hadamard
transform, which [`FastGram`][jaxmethods.qmc.FastGram] uses.

Call convention: ``kernel(x, z)`` evaluates $K(x, z)$ pairwise over the
(broadcast) leading axes of ``x`` and ``z``, both of shape `(..., d)`, so
``kernel(x, x[0:1])`` is the first Gram column and
``kernel(x[:, None], x[None, :])`` the dense Gram matrix (also
``kernel.gram(x)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Shaped

from .._internal.bits import check_float_dtype, max_bits, uint_dtype


# A hyperparameter as given: array, scalar or (nested) list.
_Hyper = ArrayLike | Sequence[Any]

# Bernoulli polynomials B_{2a}, a = 1..5, coefficients highest power first.
_BERNOULLI_EVEN = {
    1: (1.0, -1.0, 1 / 6),
    2: (1.0, -2.0, 1.0, 0.0, -1 / 30),
    3: (1.0, -3.0, 5 / 2, 0.0, -1 / 2, 0.0, 1 / 42),
    4: (1.0, -4.0, 14 / 3, 0.0, -7 / 3, 0.0, 2 / 3, 0.0, -1 / 30),
    5: (1.0, -5.0, 15 / 2, 0.0, -7.0, 0.0, 5.0, 0.0, -3 / 2, 0.0, 5 / 66),
}
_SI_ALPHAS = tuple(_BERNOULLI_EVEN)
_DSI_ALPHAS = (1, 2, 3, 4)
# QMCPy's k4sumterm stops once 2^{-3a} < 1e-8, i.e. after 9 bits.
_K4_TERMS = 9


def _si_coeff(a: int) -> float:
    """$(-1)^{a+1} (2\\pi)^{2a} / (2a)!$, as QMCPy computes it."""
    return (-1.0) ** (a + 1) * math.exp(
        2 * a * math.log(2 * math.pi) - math.lgamma(2 * a + 1)
    )


def _horner(coeffs: Sequence[float], x: Array) -> Array:
    y = jnp.full_like(x, coeffs[0])
    for c in coeffs[1:]:
        y = y * x + c
    return y


def _si_part(a: int, delta: Array) -> Array:
    r"""$\tilde K_a(\delta) = (-1)^{a+1}(2\pi)^{2a}/(2a)!\, B_{2a}(\delta)$."""
    return _si_coeff(a) * _horner(_BERNOULLI_EVEN[a], delta)


def _last_axis(v: Array, ndim: int) -> Array:
    """Reshape a `(d,)` (or `(k, d)`) array to broadcast against rank ``ndim``."""
    return v.reshape(v.shape[:-1] + (1,) * (ndim - 1) + v.shape[-1:])


def _check_d(cls: str, d: Any) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise TypeError(f"{cls}: d must be a Python int, got {d!r}")
    if d < 1:
        raise ValueError(f"{cls}: d must be >= 1, got {d}")
    return d


def _check_alpha(cls: str, alpha: Any, d: int, allowed: tuple[int, ...]):
    vals = (alpha,) * d if isinstance(alpha, (int, np.integer)) else tuple(alpha)
    if len(vals) != d:
        raise ValueError(f"{cls}: alpha has {len(vals)} entries, expected d={d}")
    out = []
    for a in vals:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{cls}: alpha entries must be Python ints, got {a!r}")
        if int(a) not in allowed:
            raise ValueError(f"{cls}: alpha entries must be in {allowed}, got {int(a)}")
        out.append(int(a))
    return tuple(out)


def _param(
    cls: str,
    name: str,
    value: Any,
    shape: tuple[int, ...],
    dtype,
    *,
    allow_zero: bool = False,
) -> Array:
    """A float hyperparameter broadcast to ``shape``, checked when concrete.

    It must be positive (non-negative with ``allow_zero``).
    """
    v = jnp.asarray(value)
    if jnp.issubdtype(v.dtype, jnp.complexfloating) or v.dtype == jnp.bool_:
        raise TypeError(f"{cls}: {name} must be real, got dtype {v.dtype}")
    v = v.astype(dtype)
    try:
        v = jnp.broadcast_to(v, shape)
    except ValueError:
        raise ValueError(
            f"{cls}: {name} has shape {v.shape}, not broadcastable to {shape}"
        ) from None
    try:
        concrete = np.asarray(v)
    except jax.errors.TracerArrayConversionError:
        return v
    ok = concrete >= 0 if allow_zero else concrete > 0
    if not np.all(ok):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{cls}: {name} must be {kind}, got {concrete}")
    return v


def _float_dtype(*dts) -> jnp.dtype:
    """The widest of some float dtypes (explicit, so strict promotion is moot)."""
    return max((jnp.dtype(dt) for dt in dts), key=lambda dt: jnp.finfo(dt).bits)


def _prepare(cls: str, x: Any, z: Any, d: int) -> tuple[Array, Array]:
    x = jnp.asarray(x)
    z = jnp.asarray(z)
    for name, v in (("x", x), ("z", z)):
        if v.ndim < 1 or v.shape[-1] != d:
            raise ValueError(
                f"{cls}: {name} must have shape (..., d) with d={d}, got {v.shape}"
            )
        if v.dtype == jnp.bool_ or jnp.issubdtype(v.dtype, jnp.complexfloating):
            raise TypeError(f"{cls}: {name} must be real, got dtype {v.dtype}")
    try:
        batch = jnp.broadcast_shapes(x.shape[:-1], z.shape[:-1])
    except ValueError:
        raise ValueError(
            f"{cls}: leading shapes of x {x.shape} and z {z.shape} do not broadcast"
        ) from None
    return jnp.broadcast_to(x, batch + (d,)), jnp.broadcast_to(z, batch + (d,))


def _product(scale: Array, lengthscales: Array, kt: Array) -> Array:
    r"""$S \prod_j (1 + \gamma_j \tilde K_j)$ over the last axis."""
    gam = _last_axis(lengthscales, kt.ndim)
    return scale * jnp.prod(1.0 + gam * kt, axis=-1)


class ShiftInvariantKernel(eqx.Module):
    r"""Shift-invariant product kernel of Bernoulli-polynomial type (QMCPy).

    $$K(x, z) = S \prod_{j=1}^d \bigl(1 + \gamma_j \tilde K_{\alpha_j}(\delta_j)
    \bigr), \qquad \delta = (x - z) \bmod 1, \qquad
    \tilde K_\alpha(\delta) = (-1)^{\alpha+1} \frac{(2\pi)^{2\alpha}}{(2\alpha)!}
    B_{2\alpha}(\delta),$$

    with $B_n$ the Bernoulli polynomials; $\tilde K_\alpha$ is the reproducing
    kernel of the periodic Korobov space of smoothness $\alpha$, so $K$ is
    positive definite for $S, \gamma_j > 0$. This is QMCPy's
    ``KernelShiftInvar(d, alpha, scale, lengthscales)``. The *combined* form
    (QMCPy's ``KernelShiftInvarCombined``, built with
    [`ShiftInvariantKernel.combined`][jaxmethods.qmc.ShiftInvariantKernel.combined])
    replaces $\tilde K_{\alpha_j}$ by $\sum_{p=1}^4 w_{pj} \tilde K_p$ with
    positive weights $w$ of shape `(4, d)`.

    ``scale``, ``lengthscales`` and ``weights`` are array leaves,
    differentiable with ``jax.grad``; ``alpha`` is static. The kernel is
    evaluated in the float dtype of its inputs (the hyperparameters are cast).

    Args:
        d: dimension (static).
        alpha: smoothness, an int in 1..5 or one per dimension (static;
            QMCPy's default 2). Must be ``None`` when ``weights`` is given.
        scale: $S > 0$ (QMCPy's default 1).
        lengthscales: product weights $\gamma_j \ge 0$, a scalar or shape `(d,)`;
            default $2^{1/d} - 1$ (QMCPy's default).
        weights: combination weights $w \ge 0$ broadcastable to `(4, d)` for the
            combined kernel, or ``None``.
        dtype: float dtype of the hyperparameters (default float64 with x64,
            else float32).

    Attributes:
        scale: $S$, shape `()`.
        lengthscales: $\gamma$, shape `(d,)`.
        weights: combination weights `(4, d)`, or ``None``.
        alpha: per-dimension smoothness (static), or ``None`` when combined.

    Raises:
        TypeError: non-integer ``d`` or ``alpha``, complex hyperparameters.
        ValueError: ``alpha`` outside 1..5 or of the wrong length, shapes that
            do not match ``d``, negative concrete hyperparameters (or
            non-positive ``scale``/``adaptive_alpha``), or both
            ``alpha`` and ``weights`` given.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmethods as jm
        >>> x = jm.qmc.lattice(jax.random.key(0), 8, 2)
        >>> k = jm.qmc.ShiftInvariantKernel(2, alpha=(1, 2), scale=10.0)
        >>> K = k.gram(x)
        >>> K.shape, bool(jnp.allclose(K, K.T))
        ((8, 8), True)
        >>> bool(jnp.allclose(k(x, x[0:1]), K[:, 0]))
        True

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        V. Kaarnioja, F. Y. Kuo, I. H. Sloan, "Lattice-based kernel
        approximation and serendipitous weights for parametric PDEs in very
        high dimensions", MCQMC 2022 (Springer 2024).
    """

    scale: Float[Array, ""]
    lengthscales: Float[Array, " d"]
    weights: Float[Array, "4 d"] | None
    alpha: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(
        self,
        d: int,
        alpha: int | Sequence[int] | None = 2,
        *,
        scale: _Hyper = 1.0,
        lengthscales: _Hyper | None = None,
        weights: _Hyper | None = None,
        dtype: DTypeLike | None = None,
    ):
        cls = "ShiftInvariantKernel"
        d = _check_d(cls, d)
        dt = check_float_dtype(cls, dtype)
        if weights is None:
            if alpha is None:
                raise ValueError(f"{cls}: give alpha, or weights for the combined form")
            self.alpha = _check_alpha(cls, alpha, d, _SI_ALPHAS)
            self.weights = None
        else:
            if alpha is not None:
                raise ValueError(
                    f"{cls}: alpha must be None when weights is given "
                    "(use ShiftInvariantKernel.combined)"
                )
            self.alpha = None
            self.weights = _param(cls, "weights", weights, (4, d), dt, allow_zero=True)
        if lengthscales is None:
            lengthscales = 2.0 ** (1.0 / d) - 1.0
        self.scale = _param(cls, "scale", scale, (), dt)
        self.lengthscales = _param(
            cls, "lengthscales", lengthscales, (d,), dt, allow_zero=True
        )

    @classmethod
    def combined(
        cls,
        d: int,
        weights: _Hyper = 1.0,
        *,
        scale: _Hyper = 1.0,
        lengthscales: _Hyper | None = None,
        dtype: DTypeLike | None = None,
    ) -> ShiftInvariantKernel:
        r"""The combined SI kernel $S\prod_j(1 + \gamma_j \sum_p w_{pj}\tilde K_p)$.

        QMCPy's ``KernelShiftInvarCombined(d, scale, lengthscales, alpha=weights)``
        with the documented $\tilde K_p \propto B_{2p}$ (see the module notes).

        Args:
            d: dimension (static).
            weights: $w \ge 0$ broadcastable to `(4, d)`; row $p-1$ weights
                $\tilde K_p$ (QMCPy's default: all ones).
            scale: $S > 0$.
            lengthscales: $\gamma \ge 0$, scalar or `(d,)` (default $2^{1/d}-1$).
            dtype: float dtype of the hyperparameters.

        Returns:
            A ``ShiftInvariantKernel`` with ``alpha=None``.

        Raises:
            ValueError: shapes that do not match ``d``, non-positive values.

        Examples:
            >>> import jaxmethods as jm
            >>> k = jm.qmc.ShiftInvariantKernel.combined(3)
            >>> k.weights.shape, k.alpha
            ((4, 3), None)

        References:
            A. G. Sorokin (2025), arXiv:2502.14256.
        """
        return cls(
            d,
            None,
            scale=scale,
            lengthscales=lengthscales,
            weights=weights,
            dtype=dtype,
        )

    @property
    def d(self) -> int:
        """The dimension."""
        return self.lengthscales.shape[0]

    def __call__(
        self, x: Float[ArrayLike, "*bx d"], z: Float[ArrayLike, "*bz d"]
    ) -> Float[Array, "*batch"]:
        r"""$K(x, z)$ pairwise over the broadcast leading axes.

        Args:
            x: points of shape `(..., d)`.
            z: points of shape `(..., d)`, leading shape broadcastable with
                ``x``'s.

        Returns:
            Kernel values of the broadcast leading shape, in the float dtype
            of ``x`` and ``z`` (the wider of the two).

        Raises:
            ValueError: last axis not ``d``, leading shapes not broadcastable.
            TypeError: non-float inputs.
        """
        cls = "ShiftInvariantKernel"
        x, z = _prepare(cls, x, z, self.d)
        for name, v in (("x", x), ("z", z)):
            if not jnp.issubdtype(v.dtype, jnp.floating):
                raise TypeError(f"{cls}: {name} must be floats, got dtype {v.dtype}")
        dt = _float_dtype(x.dtype, z.dtype)
        delta = jnp.mod(x.astype(dt) - z.astype(dt), 1.0)
        if self.weights is None:
            assert self.alpha is not None
            kt = None
            for a in sorted(set(self.alpha)):
                part = _si_part(a, delta)
                mask = np.array([aj == a for aj in self.alpha])
                kt = (
                    part
                    if kt is None
                    else jnp.where(_last_axis(jnp.asarray(mask), delta.ndim), part, kt)
                )
            assert kt is not None
        else:
            w = self.weights.astype(dt)
            kt = sum(
                _last_axis(w[p - 1], delta.ndim) * _si_part(p, delta)
                for p in range(1, 5)
            )
            assert isinstance(kt, jax.Array)
        return _product(self.scale.astype(dt), self.lengthscales.astype(dt), kt)

    def gram(
        self, x: Float[ArrayLike, "n d"], z: Float[ArrayLike, "m d"] | None = None
    ) -> Float[Array, "n m"]:
        r"""The dense Gram matrix $K_{ij} = K(x_i, z_j)$ ($z = x$ by default).

        Args:
            x: points of shape `(n, d)`.
            z: points of shape `(m, d)`, or ``None`` for ``x``.

        Returns:
            The `(n, m)` matrix.

        Raises:
            ValueError: inputs that are not `(n, d)` arrays.
        """
        return _gram(self, x, z)


def _gram(kernel, x, z):
    x = jnp.asarray(x)
    z = x if z is None else jnp.asarray(z)
    if x.ndim != 2 or z.ndim != 2:
        raise ValueError(
            f"{type(kernel).__name__}.gram: x and z must be (n, d) arrays, got "
            f"{x.shape} and {z.shape}"
        )
    return kernel(x[:, None, :], z[None, :, :])


# ----------------------------------------------------------------------
# Digitally-shift-invariant kernels.
# ----------------------------------------------------------------------


def _to_bin(v: Array, t: int, udt) -> Array:
    """``floor((v mod 1) 2^t)`` as unsigned integers; integers pass through."""
    if jnp.issubdtype(v.dtype, jnp.integer):
        return v.astype(udt)
    u = jnp.mod(v, 1.0)
    u = jnp.where(u >= 1.0, jnp.zeros_like(u), u)  # mod can round up to 1
    return jnp.floor(u * float(np.ldexp(1.0, t))).astype(udt)


class _Bits(NamedTuple):
    """Per-entry quantities of $\\delta = x \\oplus z$ shared by the DSI parts."""

    delta: Array  # unsigned integers
    pos: Array  # delta > 0
    e: Array  # floor(log2(delta)) - t (int32; masked where delta == 0)
    xf: Array  # delta 2^{-t} as a float


def _bits(delta: Array, t: int, dt) -> _Bits:
    nbits = jnp.iinfo(delta.dtype).bits
    pos = delta > 0
    fl = (nbits - 1) - jax.lax.clz(delta).astype(jnp.int32)
    e = jnp.where(pos, fl - t, -1)
    xf = delta.astype(dt) * jnp.asarray(np.ldexp(1.0, -t), dt)
    return _Bits(delta, pos, e, xf)


def _dsi_part(a: int, b: _Bits, t: int, dt) -> Array:
    r"""QMCPy's $\tilde K_a(\delta)$ for integer smoothness ``a`` in 1..4."""
    one = jnp.ones(b.delta.shape, dt)
    if a == 1:
        p = jnp.where(b.pos, jnp.ldexp(one, b.e - 1), jnp.zeros_like(one))
        return 6.0 * (1 / 6 - p)
    beta_i = -b.e  # = -floor(log2(xf)) >= 1
    beta = beta_i.astype(dt)
    xf = b.xf
    p1 = jnp.ldexp(one, -beta_i)
    p2 = jnp.ldexp(one, -2 * beta_i)
    if a == 2:
        w = -beta * xf + 5 / 2 * (1 - p1)
        zero_val = 5 / 2
    elif a == 3:
        w = beta * xf**2 - 5 * (1 - p1) * xf + 43 / 18 * (1 - p2)
        zero_val = 43 / 18
    else:
        p3 = jnp.ldexp(one, -3 * beta_i)
        k4 = jnp.zeros_like(one)
        for i in range(min(t, _K4_TERMS)):
            bit = ((b.delta >> (t - i - 1)) & 1).astype(dt)
            k4 = k4 + (1.0 - 2.0 * bit) * (1 / float(2.0 ** (3 * i)))
        w = (
            -2 / 3 * beta * xf**3
            + 5 * (1 - p1) * xf**2
            - 43 / 9 * (1 - p2) * xf
            + 701 / 294 * (1 - p3)
            + beta * (1 / 48 * k4 - 1 / 42)
        )
        zero_val = 701 / 294
    return jnp.where(b.pos, w, zero_val * one) - 1.0


class DigitalShiftInvariantKernel(eqx.Module):
    r"""Digitally-shift-invariant base-2 product kernel (Walsh type, QMCPy).

    $$K(x, z) = S \prod_{j=1}^d \bigl(1 + \gamma_j \tilde K_{\alpha_j}(x_j
    \oplus z_j)\bigr),$$

    where $\oplus$ is bitwise XOR of the $t$-bit binary expansions and, with
    $\beta(u) = -\lfloor\log_2 u\rfloor$, $t_\nu(u) = 2^{-\nu\beta(u)}$
    ($\beta(0) = t_\nu(0) = 0$):

    - $\tilde K_1(u) = 6\bigl(\tfrac16 - 2^{\lfloor\log_2 u\rfloor - 1}\bigr)$;
    - $\tilde K_2(u) = -\beta u + \tfrac52[1 - t_1] - 1$;
    - $\tilde K_3(u) = \beta u^2 - 5[1 - t_1]u + \tfrac{43}{18}[1 - t_2] - 1$;
    - $\tilde K_4(u) = -\tfrac23\beta u^3 + 5[1 - t_1]u^2
      - \tfrac{43}{9}[1 - t_2]u + \tfrac{701}{294}[1 - t_3]
      + \beta\bigl[\tfrac1{48}\sum_{a\ge0} \mathrm{wal}_{2^a}(u) 2^{-3a}
      - \tfrac1{42}\bigr] - 1$ (the sum over the first 9 bits, as QMCPy).

    These are Dick's weighted Walsh series of order $\alpha$ (QMCPy's
    ``KernelDigShiftInvar``). Two further forms:
    [`DigitalShiftInvariantKernel.combined`][jaxmethods.qmc.DigitalShiftInvariantKernel.combined]
    (QMCPy's ``KernelDigShiftInvarCombined``, $\sum_p w_{pj}\tilde K_p$) and
    [`DigitalShiftInvariantKernel.adaptive`][jaxmethods.qmc.DigitalShiftInvariantKernel.adaptive]
    (QMCPy's ``KernelDigShiftInvarAdaptiveAlpha``) with a real, differentiable
    $\alpha_j > 0$:
    $\tilde K_\alpha(u) = c - (c + 1) 2^{\alpha(\lfloor\log_2 u\rfloor + 1)}$,
    $c = 2^{\alpha+1}/(2^{\alpha+1} - 2)$ ($\tilde K_\alpha(0) = c$).

    Inputs are $t$-bit integers (``return_binary=True`` point sets, any
    integer dtype) or floats in $[0, 1)$, converted as
    $\lfloor (x \bmod 1) 2^t\rfloor$. Values are computed in the float dtype
    of float inputs, or of the hyperparameters for integer inputs.

    Args:
        d: dimension (static).
        t: bits of the binary expansions (static), at most 64 with x64 and 32
            without; use the ``t`` of the point set.
        alpha: smoothness, an int in 1..4 or one per dimension (static;
            QMCPy's default 2). ``None`` for the combined and adaptive forms.
        scale: $S > 0$.
        lengthscales: $\gamma_j \ge 0$, scalar or `(d,)`; default $2^{1/d} - 1$.
        weights: combined form only: $w \ge 0$ broadcastable to `(4, d)`.
        adaptive_alpha: adaptive form only: real $\alpha_j > 0$, scalar or
            `(d,)`.
        dtype: float dtype of the hyperparameters (default float64 with x64,
            else float32).

    Attributes:
        scale: $S$, shape `()`.
        lengthscales: $\gamma$, shape `(d,)`.
        weights: `(4, d)` combination weights, or ``None``.
        adaptive_alpha: `(d,)` real smoothness, or ``None``.
        alpha: per-dimension integer smoothness (static), or ``None``.
        t: bits (static).

    Raises:
        TypeError: non-integer ``d``, ``t`` or ``alpha``.
        ValueError: ``alpha`` outside 1..4, ``t`` out of range, shapes that do
            not match ``d``, negative concrete hyperparameters (or
            non-positive ``scale``/``adaptive_alpha``), or more
            than one of ``alpha``/``weights``/``adaptive_alpha``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmethods as jm
        >>> key = jax.random.key(0)
        >>> xb = jm.qmc.digital_net_b2(key, 8, 2, t=32, return_binary=True)
        >>> k = jm.qmc.DigitalShiftInvariantKernel(2, 32, alpha=(1, 4))
        >>> K = k.gram(xb)
        >>> K.shape, bool(jnp.allclose(K, K.T))
        ((8, 8), True)

        Floats in $[0, 1)$ are truncated to ``t`` bits:

        >>> xf = jm.qmc.digital_net_b2(key, 8, 2, randomize="none")
        >>> xi = jm.qmc.digital_net_b2(key, 8, 2, randomize="none",
        ...                            return_binary=True)
        >>> bool(jnp.allclose(k.gram(xf), k.gram(xi)))
        True

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        J. Dick, "Walsh spaces containing smooth functions and quasi-Monte
        Carlo rules of arbitrary high order", SIAM J. Numer. Anal. 46 (2008).

        J. Dick, F. Pillichshammer, "Multivariate integration in weighted
        Hilbert spaces based on Walsh functions and weighted Sobolev spaces",
        J. Complexity 21 (2005).

        R. Jagadeeswaran, F. J. Hickernell, "Fast automatic Bayesian cubature
        using Sobol' sampling", Advances in Modeling and Simulation (2022).
    """

    scale: Float[Array, ""]
    lengthscales: Float[Array, " d"]
    weights: Float[Array, "4 d"] | None
    adaptive_alpha: Float[Array, " d"] | None
    alpha: tuple[int, ...] | None = eqx.field(static=True)
    t: int = eqx.field(static=True)

    def __init__(
        self,
        d: int,
        t: int,
        alpha: int | Sequence[int] | None = 2,
        *,
        scale: _Hyper = 1.0,
        lengthscales: _Hyper | None = None,
        weights: _Hyper | None = None,
        adaptive_alpha: _Hyper | None = None,
        dtype: DTypeLike | None = None,
    ):
        cls = "DigitalShiftInvariantKernel"
        d = _check_d(cls, d)
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"{cls}: t must be a Python int, got {t!r}")
        if not 0 <= t <= max_bits():
            raise ValueError(
                f"{cls}: t must be in [0, {max_bits()}], got {t}"
                + ("" if max_bits() == 64 else " (enable jax_enable_x64 for t > 32)")
            )
        self.t = t
        dt = check_float_dtype(cls, dtype)
        given = [
            n
            for n, v in (("weights", weights), ("adaptive_alpha", adaptive_alpha))
            if v is not None
        ]
        if len(given) == 2 or (given and alpha is not None):
            raise ValueError(
                f"{cls}: give exactly one of alpha, weights, adaptive_alpha (pass "
                "alpha=None, or use DigitalShiftInvariantKernel.combined/.adaptive)"
            )
        if not given and alpha is None:
            raise ValueError(f"{cls}: give one of alpha, weights, adaptive_alpha")
        self.alpha = None if alpha is None else _check_alpha(cls, alpha, d, _DSI_ALPHAS)
        self.weights = (
            None
            if weights is None
            else _param(cls, "weights", weights, (4, d), dt, allow_zero=True)
        )
        self.adaptive_alpha = (
            None
            if adaptive_alpha is None
            else _param(cls, "adaptive_alpha", adaptive_alpha, (d,), dt)
        )
        if lengthscales is None:
            lengthscales = 2.0 ** (1.0 / d) - 1.0
        self.scale = _param(cls, "scale", scale, (), dt)
        self.lengthscales = _param(
            cls, "lengthscales", lengthscales, (d,), dt, allow_zero=True
        )

    @classmethod
    def combined(
        cls,
        d: int,
        t: int,
        weights: _Hyper = 1.0,
        *,
        scale: _Hyper = 1.0,
        lengthscales: _Hyper | None = None,
        dtype: DTypeLike | None = None,
    ) -> DigitalShiftInvariantKernel:
        r"""The combined DSI kernel $S\prod_j(1 + \gamma_j\sum_p w_{pj}\tilde K_p)$.

        QMCPy's ``KernelDigShiftInvarCombined(d, t, scale, lengthscales,
        alpha=weights)``.

        Args:
            d: dimension (static).
            t: bits (static).
            weights: $w \ge 0$ broadcastable to `(4, d)` (default all ones).
            scale: $S > 0$.
            lengthscales: $\gamma \ge 0$, scalar or `(d,)`.
            dtype: float dtype of the hyperparameters.

        Returns:
            A ``DigitalShiftInvariantKernel`` in combined form.

        Raises:
            ValueError: bad ``t``, shapes or values.

        Examples:
            >>> import jaxmethods as jm
            >>> jm.qmc.DigitalShiftInvariantKernel.combined(3, 32).weights.shape
            (4, 3)

        References:
            A. G. Sorokin (2025), arXiv:2502.14256.
        """
        return cls(
            d,
            t,
            None,
            scale=scale,
            lengthscales=lengthscales,
            weights=weights,
            dtype=dtype,
        )

    @classmethod
    def adaptive(
        cls,
        d: int,
        t: int,
        alpha: _Hyper = 1.0,
        *,
        scale: _Hyper = 1.0,
        lengthscales: _Hyper | None = None,
        dtype: DTypeLike | None = None,
    ) -> DigitalShiftInvariantKernel:
        r"""The DSI kernel with real, differentiable smoothness $\alpha_j > 0$.

        $\tilde K_\alpha(u) = c - (c+1)2^{\alpha(\lfloor\log_2 u\rfloor + 1)}$,
        $c = 2^{\alpha+1}/(2^{\alpha+1}-2)$: QMCPy's
        ``KernelDigShiftInvarAdaptiveAlpha(d, t, scale, lengthscales, alpha)``.

        Args:
            d: dimension (static).
            t: bits (static).
            alpha: $\alpha > 0$, scalar or `(d,)` (QMCPy's default 1).
            scale: $S > 0$.
            lengthscales: $\gamma \ge 0$, scalar or `(d,)`.
            dtype: float dtype of the hyperparameters.

        Returns:
            A ``DigitalShiftInvariantKernel`` with ``adaptive_alpha`` set.

        Raises:
            ValueError: bad ``t``, shapes or values.

        Examples:
            >>> import jaxmethods as jm
            >>> k = jm.qmc.DigitalShiftInvariantKernel.adaptive(2, 32, 1.5)
            >>> k.adaptive_alpha.tolist()
            [1.5, 1.5]

        References:
            J. Dick, F. Pillichshammer, J. Complexity 21 (2005).
        """
        return cls(
            d,
            t,
            None,
            scale=scale,
            lengthscales=lengthscales,
            adaptive_alpha=alpha,
            dtype=dtype,
        )

    @property
    def d(self) -> int:
        """The dimension."""
        return self.lengthscales.shape[0]

    def __call__(
        self, x: Shaped[ArrayLike, "*bx d"], z: Shaped[ArrayLike, "*bz d"]
    ) -> Float[Array, "*batch"]:
        r"""$K(x, z)$ pairwise over the broadcast leading axes.

        Args:
            x: $t$-bit integers or floats in $[0, 1)$, shape `(..., d)`.
            z: the same, leading shape broadcastable with ``x``'s.

        Returns:
            Kernel values of the broadcast leading shape; float dtype of the
            float inputs (the wider), or of the hyperparameters if both inputs
            are integers.

        Raises:
            ValueError: last axis not ``d``, leading shapes not broadcastable,
                or ``t`` larger than the available integer bits.
            TypeError: boolean or complex inputs.
        """
        cls = "DigitalShiftInvariantKernel"
        t = self.t
        if t > max_bits():
            raise ValueError(
                f"{cls}: t={t} needs 64-bit integers; enable jax_enable_x64"
            )
        x, z = _prepare(cls, x, z, self.d)
        floats = [v.dtype for v in (x, z) if jnp.issubdtype(v.dtype, jnp.floating)]
        dt = _float_dtype(*floats) if floats else self.scale.dtype
        udt = uint_dtype()
        delta = _to_bin(x, t, udt) ^ _to_bin(z, t, udt)
        b = _bits(delta, t, dt)
        nd = delta.ndim
        if self.adaptive_alpha is not None:
            a = _last_axis(self.adaptive_alpha.astype(dt), nd)
            p2 = jnp.exp2(a + 1.0)
            c = p2 / (p2 - 2.0)
            s = (c + 1.0) * jnp.exp2(a * (b.e + 1).astype(dt))
            kt = jnp.where(b.pos, c - s, c)
        elif self.weights is not None:
            w = self.weights.astype(dt)
            kt = sum(
                _last_axis(w[p - 1], nd) * _dsi_part(p, b, t, dt) for p in range(1, 5)
            )
            assert isinstance(kt, jax.Array)
        else:
            assert self.alpha is not None
            kt = None
            for a in sorted(set(self.alpha)):
                part = _dsi_part(a, b, t, dt)
                mask = jnp.asarray(np.array([aj == a for aj in self.alpha]))
                kt = part if kt is None else jnp.where(_last_axis(mask, nd), part, kt)
            assert kt is not None
        return _product(self.scale.astype(dt), self.lengthscales.astype(dt), kt)

    def gram(
        self, x: Shaped[ArrayLike, "n d"], z: Shaped[ArrayLike, "m d"] | None = None
    ) -> Float[Array, "n m"]:
        r"""The dense Gram matrix $K_{ij} = K(x_i, z_j)$ ($z = x$ by default).

        Args:
            x: points (integers or floats) of shape `(n, d)`.
            z: points of shape `(m, d)`, or ``None`` for ``x``.

        Returns:
            The `(n, m)` matrix.

        Raises:
            ValueError: inputs that are not `(n, d)` arrays.
        """
        return _gram(self, x, z)

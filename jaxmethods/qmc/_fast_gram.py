r"""Gram-matrix algebra in $O(n \log n)$ on lattices and digital nets (QMCPy, P02).

For $n = 2^m$ points of a rank-1 lattice in natural (radical-inverse) order and
a shift-invariant kernel, or of a base-2 digital net in natural order and a
digitally-shift-invariant kernel, the Gram matrix $K_{ij} = k(x_i, x_j)$ is
diagonalised by a fast transform: FFT in bit-reversed order for lattices,
the Walsh–Hadamard transform for nets. With ``ft`` that orthonormal transform
and ``ift`` its inverse,

$$\lambda = \sqrt n\, \mathrm{ft}(K_{:,0}),\qquad
K y = \mathrm{ift}(\lambda \odot \mathrm{ft}(y)),\qquad
K^{-1} y = \mathrm{ift}(\mathrm{ft}(y) / \lambda),$$

$\log\det K = \sum_k \log\lambda_k$ and $y^\top K^{-1} y =
\sum_k |\mathrm{ft}(y)_k|^2 / \lambda_k$, from one kernel column and
transforms of cost $O(n \log n)$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Shaped

from ..ops import fftbr, fwht, ifftbr


Kind = Literal["lattice", "net"]


def _ft(kind: str, y: Array) -> Array:
    return fftbr(y, axis=0) if kind == "lattice" else fwht(y, axis=0)


def _ift(kind: str, y: Array) -> Array:
    if kind == "lattice":
        return jnp.real(ifftbr(y, axis=0))
    return fwht(y, axis=0)


def _expand(v: Array, like: Array) -> Array:
    """Eigenvalues ``(n,)`` reshaped and cast to act on ``like (n, ...)``."""
    return v.reshape(v.shape + (1,) * (like.ndim - 1)).astype(like.dtype)


class FastGram(eqx.Module):
    r"""The Gram matrix of a (digitally) shift-invariant kernel, diagonalised.

    Holds the eigenvalues $\lambda + \eta$ of $K + \eta I$ for the ``n``
    points ``x`` (``n`` a power of two) and gives matrix-vector products,
    solves, the log-determinant and quadratic forms in $O(n \log n)$ (see the
    module notes). ``kind="lattice"`` needs a shift-invariant kernel
    ([`ShiftInvariantKernel`][jaxmethods.qmc.ShiftInvariantKernel]) and
    lattice points in natural order, shifted or not; ``kind="net"`` needs a
    digitally-shift-invariant kernel
    ([`DigitalShiftInvariantKernel`][jaxmethods.qmc.DigitalShiftInvariantKernel])
    and a base-2 digital net in natural order, possibly linearly scrambled
    and digitally shifted. Gray order, nested uniform scrambling or a
    non-power-of-two ``n`` break the structure.

    The structure is checked: ``n`` at trace time, and the point set itself
    when ``check=True`` by comparing two columns of $K$ computed directly
    with the same columns from the eigenvalues (cost $O(n \log n)$); a
    mismatch raises through ``eqx.error_if`` (inside ``jit`` too) instead of
    returning a silently wrong solve. Differentiable with respect to the
    kernel's hyperparameters; works under ``jit`` and ``vmap``.

    Attributes:
        eigs: $\lambda + \eta$, shape ``(n,)``, real.
        kind: ``"lattice"`` or ``"net"`` (static).

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized
        Low-Discrepancy Sequences, Quasi-Monte Carlo, and Fast Kernel
        Methods" (2025), arXiv:2502.14256. R. Jagadeeswaran and F. J.
        Hickernell, "Fast automatic Bayesian cubature using lattice
        sampling", Statistics and Computing 29 (2019).
    """

    eigs: Float[Array, " n"]
    kind: str = eqx.field(static=True)

    def __init__(
        self,
        kernel: Callable[[Array, Array], Array],
        x: Shaped[ArrayLike, "n d"],
        *,
        kind: Kind,
        nugget: Float[ArrayLike, ""] = 0.0,
        check: bool = True,
        rtol: float | None = None,
    ):
        """Diagonalise the Gram matrix of ``kernel`` on ``x``.

        Args:
            kernel: a kernel called as ``kernel(x, z)`` on ``(..., d)``
                arrays, e.g. a ``ShiftInvariantKernel``.
            x: ``(n, d)`` points (floats for lattices; floats or the binary
                integers of ``return_binary=True`` for nets), natural order.
            kind: ``"lattice"`` or ``"net"``.
            nugget: $\\eta \\ge 0$ added to the diagonal.
            check: verify the structure on two columns (default on).
            rtol: tolerance of that check relative to $\\max|K_{:,0}|$;
                default ``1e-8`` in float64 and ``1e-3`` in float32.

        Raises:
            ValueError: ``x`` not 2-D, ``n`` not a power of two (or below 2),
                an unknown ``kind``.
        """
        if kind not in ("lattice", "net"):
            raise ValueError(f"FastGram: kind must be 'lattice' or 'net', got {kind!r}")
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"FastGram: x must have shape (n, d), got {x.shape}")
        n = x.shape[0]
        if n < 2 or n & (n - 1):
            raise ValueError(
                f"FastGram: the number of points must be a power of two >= 2, got "
                f"{n}; use n = 2^m points from the start of the sequence"
            )
        col = jnp.asarray(kernel(x, x[0:1]))
        if col.shape != (n,):
            raise ValueError(
                f"FastGram: kernel(x, x[0:1]) must have shape ({n},), got {col.shape}"
            )
        eta = jnp.asarray(nugget, col.dtype)
        lam = math.sqrt(n) * _ft(kind, col)
        lam = jnp.real(lam).astype(col.dtype)
        self.kind = kind
        self.eigs = lam + eta
        if check:
            tol = (
                rtol
                if rtol is not None
                else (1e-8 if col.dtype == jnp.float64 else 1e-3)
            )
            scale = jnp.max(jnp.abs(col))
            worst = jnp.zeros((), col.dtype)
            for j in (1, n - 1):
                direct = jnp.asarray(kernel(x, x[j : j + 1]))
                unit = jnp.zeros((n,), col.dtype).at[j].set(1)
                fast = self.matvec(unit) - eta * unit
                worst = jnp.maximum(worst, jnp.max(jnp.abs(direct - fast)))
            self.eigs = eqx.error_if(
                self.eigs,
                worst > tol * scale,
                "FastGram: the Gram matrix is not diagonalised by the transform: "
                "the points are not a lattice (kind='lattice') or digital net "
                "(kind='net') in natural order with a matching (digitally) "
                "shift-invariant kernel (Gray order and nested uniform "
                "scrambling break the structure)",
            )

    @property
    def n(self) -> int:
        """Number of points."""
        return self.eigs.shape[0]

    def matvec(self, y: Float[ArrayLike, "n ..."]) -> Float[Array, "n ..."]:
        """$(K + \\eta I) y$ for ``y`` of shape ``(n,)`` or ``(n, k)``."""
        y = jnp.asarray(y)
        coef = _ft(self.kind, y)
        return _ift(self.kind, _expand(self.eigs, coef) * coef).astype(y.dtype)

    def solve(self, y: Float[ArrayLike, "n ..."]) -> Float[Array, "n ..."]:
        """$(K + \\eta I)^{-1} y$ for ``y`` of shape ``(n,)`` or ``(n, k)``."""
        y = jnp.asarray(y)
        coef = _ft(self.kind, y)
        return _ift(self.kind, coef / _expand(self.eigs, coef)).astype(y.dtype)

    def logdet(self) -> Float[Array, ""]:
        """$\\log\\det(K + \\eta I) = \\sum_k \\log \\lambda_k$."""
        return jnp.sum(jnp.log(self.eigs))

    def quad(self, y: Float[ArrayLike, " n"]) -> Float[Array, ""]:
        """$y^\\top (K + \\eta I)^{-1} y = \\sum_k |\\hat y_k|^2 / \\lambda_k$."""
        y = jnp.asarray(y)
        coef = _ft(self.kind, y)
        return jnp.sum(jnp.abs(coef) ** 2 / self.eigs).astype(self.eigs.dtype)


def fast_gp_nll(
    kernel: Callable[[Array, Array], Array],
    x: Shaped[ArrayLike, "n d"],
    y: Float[ArrayLike, " n"],
    *,
    kind: Kind,
    nugget: Float[ArrayLike, ""] = 1e-8,
    mean: Float[ArrayLike, ""] = 0.0,
    check: bool = True,
) -> Float[Array, ""]:
    r"""Gaussian-process negative log marginal likelihood in $O(n \log n)$.

    $$\mathrm{NLL} = \tfrac12 (y - \mu)^\top (K + \eta I)^{-1} (y - \mu)
    + \tfrac12 \log\det(K + \eta I) + \tfrac n2 \log 2\pi$$

    with $K$ the Gram matrix of ``kernel`` on ``x``, diagonalised by
    [`FastGram`][jaxmethods.qmc.FastGram]. Differentiable end to end, so
    the kernel's hyperparameters (its array leaves) can be fitted with
    ``eqx.filter_grad`` and optax.

    Args:
        kernel: a (digitally) shift-invariant kernel module.
        x: ``(n, d)`` lattice or net points in natural order, ``n = 2^m``.
        y: ``(n,)`` observations.
        kind: ``"lattice"`` or ``"net"``.
        nugget: $\eta$ (may be a traced, learnable value).
        mean: constant prior mean $\mu$.
        check: verify the point-set structure (see ``FastGram``).

    Returns:
        The scalar NLL.

    Raises:
        ValueError: as ``FastGram``, or ``y`` not of shape ``(n,)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.qmc import FastGram, fast_gp_nll, lattice
        >>> def k(x, z):  # a Bernoulli-polynomial kernel, alpha = 1
        ...     d = (x - z) % 1.0
        ...     return jnp.prod(1 + 2 * jnp.pi**2 * (d**2 - d + 1 / 6), axis=-1)
        >>> x = lattice(jax.random.key(0), 64, 2)
        >>> y = jnp.sin(2 * jnp.pi * x[:, 0])
        >>> nll = fast_gp_nll(k, x, y, kind="lattice", nugget=1e-6)
        >>> print(bool(jnp.isfinite(nll)))
        True

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized
        Low-Discrepancy Sequences, Quasi-Monte Carlo, and Fast Kernel
        Methods" (2025), arXiv:2502.14256.
    """
    gram = FastGram(kernel, x, kind=kind, nugget=nugget, check=check)
    y = jnp.asarray(y)
    if y.shape != (gram.n,):
        raise ValueError(f"fast_gp_nll: y must have shape ({gram.n},), got {y.shape}")
    r = y - jnp.asarray(mean, y.dtype)
    n = gram.n
    return 0.5 * gram.quad(r) + 0.5 * gram.logdet() + 0.5 * n * math.log(2 * math.pi)

r"""Gaussian-process regression on lattices and digital nets in $O(n \log n)$."""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Shaped

from ._fast_gram import FastGram, fast_gp_nll


Kind = Literal["lattice", "net"]
# Positive kernel hyperparameters that FastGP.fit optimises in log space.
_POSITIVE = ("scale", "lengthscales", "weights", "adaptive_alpha")


def _positive_leaves(kernel) -> list[str]:
    return [
        name for name in _POSITIVE if isinstance(getattr(kernel, name, None), jax.Array)
    ]


class FastGP(eqx.Module):
    r"""A Gaussian process fitted on QMC points with $O(n \log n)$ algebra.

    Prior $f \sim \mathcal{GP}(\mu, K)$ with a (digitally) shift-invariant
    kernel $K$ and observation noise (nugget) $\eta$, on $n = 2^m$ lattice
    or digital-net points in natural order, so that every solve and
    log-determinant goes through [`FastGram`][jaxmethods.qmc.FastGram]. The
    posterior at new points $x_*$ is

    $$m(x_*) = \mu + k_*^\top (K + \eta I)^{-1}(y - \mu),\qquad
    v(x_*) = K(x_*, x_*) - k_*^\top (K + \eta I)^{-1} k_*,$$

    with $k_* = K(X, x_*)$ (cost $O(n)$ kernel evaluations per new point
    plus one fast solve per point for the variance).
    [`FastGP.fit`][jaxmethods.qmc.FastGP.fit] learns the kernel's positive
    hyperparameters, the nugget and the mean by optax on the marginal
    likelihood ([`fast_gp_nll`][jaxmethods.qmc.fast_gp_nll]).

    Attributes:
        kernel: the kernel module (its array leaves are the hyperparameters).
        log_nugget: $\log\eta$.
        mean: the constant prior mean $\mu$.
        x: ``(n, d)`` training points.
        y: ``(n,)`` observations.
        kind: ``"lattice"`` or ``"net"`` (static).

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized
        Low-Discrepancy Sequences, Quasi-Monte Carlo, and Fast Kernel
        Methods" (2025), arXiv:2502.14256.
    """

    kernel: Any
    log_nugget: Float[Array, ""]
    mean: Float[Array, ""]
    x: Shaped[Array, "n d"]
    y: Float[Array, " n"]
    kind: str = eqx.field(static=True)

    def __init__(
        self,
        kernel: Any,
        x: Shaped[ArrayLike, "n d"],
        y: Float[ArrayLike, " n"],
        *,
        kind: Kind,
        nugget: float = 1e-6,
        mean: float | None = None,
    ):
        """Set up the GP on training data (no fitting yet).

        Args:
            kernel: a ``ShiftInvariantKernel`` (lattices) or
                ``DigitalShiftInvariantKernel`` (nets).
            x: ``(n, d)`` points in natural order, ``n = 2^m``.
            y: ``(n,)`` observations.
            kind: ``"lattice"`` or ``"net"``.
            nugget: initial $\\eta > 0$.
            mean: initial $\\mu$; default the sample mean of ``y``.

        Raises:
            ValueError: mismatched shapes, a non-positive nugget or an unknown
                ``kind``.
        """
        if kind not in ("lattice", "net"):
            raise ValueError(f"FastGP: kind must be 'lattice' or 'net', got {kind!r}")
        x = jnp.asarray(x)
        y = jnp.asarray(y)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(
                f"FastGP: need x of shape (n, d) and y of shape (n,), got {x.shape} "
                f"and {y.shape}"
            )
        if not jnp.issubdtype(y.dtype, jnp.floating):
            raise ValueError(f"FastGP: y must be a float array, got {y.dtype}")
        if not nugget > 0:
            raise ValueError(f"FastGP: nugget must be > 0, got {nugget}")
        self.kernel = kernel
        self.x, self.y, self.kind = x, y, kind
        self.log_nugget = jnp.log(jnp.asarray(nugget, y.dtype))
        self.mean = jnp.mean(y) if mean is None else jnp.asarray(mean, y.dtype)

    @property
    def nugget(self) -> Array:
        """$\\eta = e^{\\texttt{log\\_nugget}}$."""
        return jnp.exp(self.log_nugget)

    def gram(self) -> FastGram:
        """The diagonalised $K + \\eta I$ on the training points."""
        kind: Any = self.kind
        return FastGram(self.kernel, self.x, kind=kind, nugget=self.nugget)

    def nll(self) -> Float[Array, ""]:
        """Negative log marginal likelihood of ``y`` (see ``fast_gp_nll``)."""
        return fast_gp_nll(
            self.kernel,
            self.x,
            self.y,
            kind=self.kind,  # type: ignore[arg-type]
            nugget=self.nugget,
            mean=self.mean,
        )

    def predict(
        self, x_new: Shaped[ArrayLike, "m d"]
    ) -> tuple[Float[Array, " m"], Float[Array, " m"]]:
        """Posterior mean and variance of $f$ at new points.

        Args:
            x_new: ``(m, d)`` points (any points, not only QMC ones).

        Returns:
            ``(mean, variance)``, each of shape ``(m,)``; the variance is of
            the noise-free $f(x_*)$ and clipped at 0.
        """
        x_new = jnp.asarray(x_new)
        gram = self.gram()
        alpha = gram.solve(self.y - self.mean)
        cross = self.kernel(x_new[:, None, :], self.x[None, :, :])  # (m, n)
        mean = self.mean + cross @ alpha
        v = gram.solve(cross.T)  # (n, m)
        prior = self.kernel(x_new, x_new)
        var = prior - jnp.sum(cross.T * v, axis=0)
        return mean, jnp.maximum(var, jnp.zeros((), var.dtype))

    def fit(
        self,
        *,
        steps: int = 200,
        optimizer: optax.GradientTransformation | None = None,
        progress: bool = False,
    ) -> tuple[FastGP, Float[Array, " steps"]]:
        """Fit the hyperparameters, the nugget and the mean by optax.

        The positive hyperparameters (scale, lengthscales, combination
        weights, adaptive smoothness, nugget) are optimised in log space.
        Each block of steps runs as one jitted ``lax.scan``; with
        ``progress=True`` a line is printed after each tenth of the steps.

        Args:
            steps: optimiser steps.
            optimizer: an optax transformation; default ``optax.adam(0.05)``.
            progress: print the NLL as the fit goes.

        Returns:
            ``(fitted FastGP, nll history of shape (steps,))``.

        Raises:
            ValueError: ``steps < 1``.
        """
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"FastGP.fit: steps must be an int >= 1, got {steps!r}")
        opt = optax.adam(0.05) if optimizer is None else optimizer
        names = _positive_leaves(self.kernel)
        params = {
            "log": {n: jnp.log(getattr(self.kernel, n)) for n in names},
            "log_nugget": self.log_nugget,
            "mean": self.mean,
        }

        def build(p) -> FastGP:
            kern = self.kernel
            for n in names:
                value = jnp.exp(p["log"][n])
                kern = eqx.tree_at(lambda k, n=n: getattr(k, n), kern, value)
            gp = eqx.tree_at(lambda g: g.kernel, self, kern)
            gp = eqx.tree_at(lambda g: g.log_nugget, gp, p["log_nugget"])
            return eqx.tree_at(lambda g: g.mean, gp, p["mean"])

        def loss(p):
            return build(p).nll()

        @jax.jit
        def chunk(p, state, n_steps_dummy):
            def one(carry, _):
                p, state = carry
                value, grad = jax.value_and_grad(loss)(p)
                # optax mixes Python scalars with its int32 step count, which
                # strict dtype promotion would reject
                with jax.numpy_dtype_promotion("standard"):
                    updates, state = opt.update(grad, state, p)
                    p = optax.apply_updates(p, updates)
                return (p, state), value

            (p, state), values = jax.lax.scan(one, (p, state), n_steps_dummy)
            return p, state, values

        with jax.numpy_dtype_promotion("standard"):
            state = opt.init(params)
        block = max(1, steps // 10)
        history = []
        done = 0
        while done < steps:
            size = min(block, steps - done)
            params, state, values = chunk(params, state, jnp.zeros(size))
            history.append(values)
            done += size
            if progress:
                print(f"FastGP.fit: step {done}/{steps}, nll {float(values[-1]):.6g}")
        return build(params), jnp.concatenate(history)

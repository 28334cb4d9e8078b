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
        self,
        x_new: Shaped[ArrayLike, "m d"],
        *,
        variance: bool = True,
        batch_size: int = 512,
    ) -> tuple[Float[Array, " m"], Float[Array, " m"]] | Float[Array, " m"]:
        """Posterior mean and variance of $f$ at new points.

        Jitted, in batches of ``batch_size`` new points (the cross-kernel
        block is ``(batch_size, n)``); the mean costs one fast solve in all,
        the variance one fast solve per new point.

        Args:
            x_new: ``(m, d)`` points (any points, not only QMC ones).
            variance: also return the posterior variance (default).
            batch_size: new points per block (static), >= 1.

        Returns:
            ``(mean, variance)``, each of shape ``(m,)``, or the mean alone
            with ``variance=False``; the variance is of the noise-free
            $f(x_*)$ and clipped at 0.

        Raises:
            ValueError: ``x_new`` of the wrong shape, or ``batch_size < 1``.
        """
        x_new = jnp.asarray(x_new)
        if x_new.ndim != 2 or x_new.shape[1] != self.x.shape[1]:
            raise ValueError(
                f"FastGP.predict: x_new must have shape (m, {self.x.shape[1]}), "
                f"got {x_new.shape}"
            )
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                f"FastGP.predict: batch_size must be an int >= 1, got {batch_size!r}"
            )
        return _predict(self, x_new, variance, batch_size)

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
                Transformations that need the loss (``optax.lbfgs`` with its
                line search) get ``value``, ``grad`` and ``value_fn``. Reuse
                the same object across calls to reuse the compiled steps.
            progress: print the NLL as the fit goes.

        Returns:
            ``(fitted FastGP, nll history of shape (steps,))``.

        Raises:
            ValueError: ``steps < 1``.
        """
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"FastGP.fit: steps must be an int >= 1, got {steps!r}")
        opt = _DEFAULT_OPTIMIZER if optimizer is None else optimizer
        params = _fit_params(self)
        with jax.numpy_dtype_promotion("standard"):
            state = opt.init(params)
        block = max(1, steps // 10)
        history = []
        done = 0
        while done < steps:
            size = min(block, steps - done)
            params, state, values = _fit_chunk(self, params, state, opt, size)
            history.append(values)
            done += size
            if progress:
                print(f"FastGP.fit: step {done}/{steps}, nll {float(values[-1]):.6g}")
        return _fit_build(self, params), jnp.concatenate(history)


_DEFAULT_OPTIMIZER = optax.adam(0.05)


def _fit_params(gp: FastGP) -> dict:
    names = _positive_leaves(gp.kernel)
    return {
        "log": {n: jnp.log(getattr(gp.kernel, n)) for n in names},
        "log_nugget": gp.log_nugget,
        "mean": gp.mean,
    }


def _fit_build(gp: FastGP, p: Any) -> FastGP:
    kern = gp.kernel
    for n, v in p["log"].items():
        kern = eqx.tree_at(lambda k, n=n: getattr(k, n), kern, jnp.exp(v))
    gp = eqx.tree_at(lambda g: g.kernel, gp, kern)
    gp = eqx.tree_at(lambda g: g.log_nugget, gp, p["log_nugget"])
    return eqx.tree_at(lambda g: g.mean, gp, p["mean"])


@eqx.filter_jit
def _fit_chunk(gp: FastGP, p: Any, state: Any, opt: Any, size: int):
    """``size`` optimiser steps as one ``lax.scan`` (compiled once per size)."""
    opt = optax.with_extra_args_support(opt)

    def loss(q: Any):
        return _fit_build(gp, q).nll()

    def one(carry, _):
        q, st = carry
        value, grad = jax.value_and_grad(loss)(q)
        # optax mixes Python scalars with its int32 step count, which strict
        # dtype promotion would reject
        with jax.numpy_dtype_promotion("standard"):
            updates, st = opt.update(grad, st, q, value=value, grad=grad, value_fn=loss)
            q = optax.apply_updates(q, updates)
        return (q, st), value

    (p, state), values = jax.lax.scan(one, (p, state), None, length=size)
    return p, state, values


@eqx.filter_jit
def _predict(gp: FastGP, x_new: Array, variance: bool, batch_size: int):
    gram = gp.gram()
    alpha = gram.solve(gp.y - gp.mean)
    m = x_new.shape[0]
    nb = -(-m // batch_size)
    pad = nb * batch_size - m
    xb = jnp.concatenate([x_new, jnp.broadcast_to(x_new[:1], (pad, x_new.shape[1]))])
    xb = xb.reshape(nb, batch_size, x_new.shape[1])

    def block(z):
        cross = gp.kernel(z[:, None, :], gp.x[None, :, :])  # (b, n)
        mean = gp.mean + cross @ alpha
        if not variance:
            return mean, mean
        v = gram.solve(cross.T)  # (n, b)
        var = gp.kernel(z, z) - jnp.sum(cross.T * v, axis=0)
        return mean, jnp.maximum(var, jnp.zeros((), var.dtype))

    mean, var = jax.lax.map(block, xb)
    mean, var = mean.reshape(-1)[:m], var.reshape(-1)[:m]
    return (mean, var) if variance else mean

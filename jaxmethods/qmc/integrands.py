r"""Classic test integrands on $[0, 1)^d$ with known exact integrals.

Each integrand is a small `eqx.Module` whose `__call__` maps points of shape
`(..., d)` in the unit cube to values of shape `(...)`, and whose `exact`
property is $\int_{[0,1)^d} f(x)\,dx$ in float64, computed on the host from a
closed form. They are meant as benchmarks and oracles for the cubature rules
in `jaxmethods.qmc`, e.g.
[`cub_qmc_net_g`][jaxmethods.qmc.cub_qmc_net_g]:

- [`Keister`][jaxmethods.qmc.integrands.Keister]: $\pi^{d/2}\cos\lVert t\rVert$
  under $t \sim \mathcal N(0, I/2)$ (QMCPy's ``Keister``);
- [`GenzOscillatory`][jaxmethods.qmc.integrands.GenzOscillatory] and
  [`GenzCornerPeak`][jaxmethods.qmc.integrands.GenzCornerPeak];
- [`Ishigami`][jaxmethods.qmc.integrands.Ishigami] (with its variance);
- [`EuropeanCall`][jaxmethods.qmc.integrands.EuropeanCall] and
  [`AsianGeometricCall`][jaxmethods.qmc.integrands.AsianGeometricCall]:
  discounted call payoffs under geometric Brownian motion, priced by
  Black–Scholes-type formulas.

Points on the boundary of the cube are allowed where the formula is finite;
the Gaussian integrands map $u$ through $\Phi^{-1}$, so $u = 0$ gives
non-finite values (randomized point sets in this package never produce it).
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jaxtyping import Array, ArrayLike, Float


__all__ = [
    "Keister",
    "keister_exact",
    "GenzOscillatory",
    "GenzCornerPeak",
    "Ishigami",
    "EuropeanCall",
    "AsianGeometricCall",
]


def _check_d(name: str, d: object) -> int:
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"{name}: d must be a positive Python int, got {d!r}")
    return d


def _points(name: str, x: ArrayLike, d: int) -> Array:
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] != d:
        raise ValueError(f"{name}: x must have shape (..., {d}), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: x must be a floating array, got dtype {x.dtype}")
    return x


def _coefficients(name: str, arg: str, a: ArrayLike) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name}: {arg} must be a non-empty 1-D array, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: {arg} must be finite")
    return v


def _dawson_half() -> float:
    """Dawson's integral at 1/2, ``int_0^inf exp(-r^2) sin(r) dr``, by its series."""
    # F(x) = sum_k (-1)^k 2^k x^(2k+1) / (2k+1)!!, alternating and fast at x=1/2.
    total, term, k = 0.0, 0.5, 0
    while abs(term) > 1e-18:
        total += term
        k += 1
        term *= -2.0 * 0.25 / (2 * k + 1)
    return total


def keister_exact(d: int) -> float:
    r"""Exact value of the Keister integral in dimension ``d``.

    $\int_{\mathbb R^d} \cos\lVert t\rVert\, e^{-\lVert t\rVert^2} dt =
    \frac{2\pi^{d/2}}{\Gamma(d/2)} \int_0^\infty r^{d-1}\cos(r)\, e^{-r^2} dr$,
    with the radial moments $C_j = \int_0^\infty r^j \cos r\, e^{-r^2} dr$,
    $S_j = \int_0^\infty r^j \sin r\, e^{-r^2} dr$ from the recursion
    $C_j = ((j-1)C_{j-2} - S_{j-1})/2$, $S_j = ((j-1)S_{j-2} + C_{j-1})/2$
    (integration by parts), as in QMCPy's ``Keister.get_exact_value``.

    Args:
        d: dimension, a positive int.

    Returns:
        The exact integral as a Python float.

    Raises:
        ValueError: if ``d`` is not a positive int.

    Examples:
        >>> from jaxmethods.qmc.integrands import keister_exact
        >>> round(keister_exact(3), 12)
        2.168309102165

    References:
        B. D. Keister, "Multidimensional quadrature algorithms", *Computers in
        Physics* 10 (1996), 119–122.
    """
    d = _check_d("keister_exact", d)
    cos = [0.0] * d
    sin = [0.0] * d
    cos[0] = math.sqrt(math.pi) / (2 * math.exp(0.25))
    sin[0] = _dawson_half()
    if d > 1:
        cos[1] = (1 - sin[0]) / 2
        sin[1] = cos[0] / 2
    for j in range(2, d):
        cos[j] = ((j - 1) * cos[j - 2] - sin[j - 1]) / 2
        sin[j] = ((j - 1) * sin[j - 2] + cos[j - 1]) / 2
    return 2 * math.pi ** (d / 2) / math.gamma(d / 2) * cos[d - 1]


class Keister(eqx.Module):
    r"""The Keister integrand (QMCPy's ``Keister``) on $[0, 1)^d$.

    $f(x) = \pi^{d/2} \cos\lVert t \rVert_2$ with $t = \Phi^{-1}(x)/\sqrt 2$,
    i.e. $t \sim \mathcal N(0, I/2)$ when $x \sim U[0,1)^d$, so that
    $\int_{[0,1)^d} f = \int_{\mathbb R^d} \cos\lVert t\rVert e^{-\lVert t
    \rVert^2} dt$. Smooth but not periodic; a standard test for QMC cubature.

    Args:
        d: dimension (static).

    Note:
        Calling the module on `x` of shape `(..., d)` returns `f(x)`, shape
        `(...)`. `exact` is the integral (float).

    Raises:
        ValueError: if ``d`` is not a positive int, or `x` has the wrong last
            axis.
        TypeError: if `x` is not floating.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.qmc.integrands import Keister
        >>> f = Keister(3)
        >>> round(f.exact, 10)
        2.1683091022
        >>> f(jnp.full((2, 3), 0.5))
        Array([5.568328, 5.568328], dtype=float32)

    References:
        B. D. Keister, "Multidimensional quadrature algorithms", *Computers in
        Physics* 10 (1996), 119–122.

        S.-C. T. Choi et al., "Quasi-Monte Carlo software", MCQMC 2020
        (Springer 2022), arXiv:2102.07833.
    """

    d: int = eqx.field(static=True)

    def __init__(self, d: int):
        self.d = _check_d("Keister", d)

    def __call__(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch"]:
        x = _points("Keister", x, self.d)
        t = ndtri(x) / jnp.sqrt(jnp.asarray(2.0, x.dtype))
        norm = jnp.sqrt(jnp.sum(t * t, axis=-1))
        return jnp.asarray(math.pi ** (self.d / 2), x.dtype) * jnp.cos(norm)

    @property
    def exact(self) -> float:
        """The exact integral (see `keister_exact`)."""
        return keister_exact(self.d)


class GenzOscillatory(eqx.Module):
    r"""Genz's oscillatory integrand $\cos(2\pi u_1 + \sum_j a_j x_j)$.

    The exact integral is
    $\cos\bigl(2\pi u_1 + \tfrac12\sum_j a_j\bigr)\prod_j
    \frac{\sin(a_j/2)}{a_j/2}$ (the real part of
    $e^{2\pi i u_1}\prod_j (e^{i a_j} - 1)/(i a_j)$). QMCPy's
    ``Genz(kind_func="OSCILLATORY")`` is the case $u_1 = 0$ with its
    coefficients $c$ as ``a``.

    Args:
        a: coefficients $a_j$ (difficulty), shape `(d,)`.
        u: shift parameters, shape `(d,)`; only $u_1$ enters. Defaults to 0.

    Note:
        Calling the module on `x` of shape `(..., d)` returns `f(x)`, shape
        `(...)`. `exact` is the integral (float).

    Raises:
        ValueError: bad shapes or non-finite parameters.
        TypeError: if `x` is not floating.

    Examples:
        >>> import numpy as np
        >>> from jaxmethods.qmc.integrands import GenzOscillatory
        >>> f = GenzOscillatory(np.array([1.0, 2.0]))
        >>> round(f.exact, 10)
        0.057073983

    References:
        A. Genz, "Testing multidimensional integration routines", in *Tools,
        Methods and Languages for Scientific and Engineering Computation*,
        North-Holland (1984), 81–94.
    """

    a: tuple[float, ...] = eqx.field(static=True)
    u: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self, a: Float[ArrayLike, " d"], u: Float[ArrayLike, " du"] | None = None
    ):
        av = _coefficients("GenzOscillatory", "a", a)
        uv = (
            np.zeros_like(av) if u is None else _coefficients("GenzOscillatory", "u", u)
        )
        if uv.shape != av.shape:
            raise ValueError(
                f"GenzOscillatory: u must have shape {av.shape}, got {uv.shape}"
            )
        self.a = tuple(float(v) for v in av)
        self.u = tuple(float(v) for v in uv)

    @property
    def d(self) -> int:
        """The dimension."""
        return len(self.a)

    def __call__(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch"]:
        x = _points("GenzOscillatory", x, self.d)
        a = jnp.asarray(self.a, x.dtype)
        phase = jnp.asarray(2 * math.pi * self.u[0], x.dtype)
        return jnp.cos(phase + x @ a)

    @property
    def exact(self) -> float:
        """The exact integral."""
        a = np.asarray(self.a)
        return float(
            math.cos(2 * math.pi * self.u[0] + a.sum() / 2)
            * np.prod(np.sinc(a / (2 * math.pi)))
        )


class GenzCornerPeak(eqx.Module):
    r"""Genz's corner-peak integrand $(1 + \sum_j a_j x_j)^{-(d+1)}$, $a_j > 0$.

    Integrating one coordinate at a time lowers the power by one each time,
    so the exact integral is
    $\frac{1}{d!\,\prod_j a_j}\sum_{v\in\{0,1\}^d}
    \frac{(-1)^{|v|}}{1 + a\cdot v}$ (inclusion–exclusion over the $2^d$
    corners; fine in float64 for moderate $d$ and $\sum a_j$ of order 1).
    QMCPy's ``Genz(kind_func="CORNER PEAK")`` uses the same form.

    Args:
        a: positive coefficients, shape `(d,)`, $d \le 20$ (the exact value
            sums $2^d$ terms).

    Note:
        Calling the module on `x` of shape `(..., d)` returns `f(x)`, shape
        `(...)`. `exact` is the integral (float).

    Raises:
        ValueError: bad shapes, non-positive coefficients or $d > 20$.
        TypeError: if `x` is not floating.

    Examples:
        >>> import numpy as np
        >>> from jaxmethods.qmc.integrands import GenzCornerPeak
        >>> round(GenzCornerPeak(np.array([1.0])).exact, 12)  # int (1+x)^-2
        0.5

    References:
        A. Genz, "Testing multidimensional integration routines", in *Tools,
        Methods and Languages for Scientific and Engineering Computation*,
        North-Holland (1984), 81–94.
    """

    a: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, a: Float[ArrayLike, " d"]):
        a = _coefficients("GenzCornerPeak", "a", a)
        if np.any(a <= 0):
            raise ValueError("GenzCornerPeak: a must be positive")
        if a.size > 20:
            raise ValueError(f"GenzCornerPeak: d must be <= 20, got {a.size}")
        self.a = tuple(float(v) for v in a)

    @property
    def d(self) -> int:
        """The dimension."""
        return len(self.a)

    def __call__(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch"]:
        x = _points("GenzCornerPeak", x, self.d)
        a = jnp.asarray(self.a, x.dtype)
        base = jnp.asarray(1, x.dtype) + x @ a
        return base ** jnp.asarray(-(self.d + 1), x.dtype)

    @property
    def exact(self) -> float:
        """The exact integral."""
        d = self.d
        corners = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
        signs = (-1.0) ** corners.sum(axis=1)
        a = np.asarray(self.a)
        total = float(np.sum(signs / (1.0 + corners @ a)))
        return total / (math.factorial(d) * float(np.prod(a)))


class Ishigami(eqx.Module):
    r"""The Ishigami function, a standard sensitivity-analysis test in $d = 3$.

    $f(x) = \sin z_1 + a\sin^2 z_2 + b z_3^4 \sin z_1$ with $z = \pi(2x - 1)
    \in [-\pi, \pi)^3$. Its mean is $a/2$ and its variance
    $\frac{a^2}{8} + \frac{b\pi^4}{5} + \frac{b^2\pi^8}{18} + \frac12$.

    Attributes:
        a: parameter (default 7).
        b: parameter (default 0.1).

    Note:
        Calling the module on `x` of shape `(..., 3)` returns `f(x)`, shape
        `(...)`. `exact` is the mean and `variance` the variance (floats).

    Raises:
        ValueError: if `x` does not have 3 coordinates.
        TypeError: if `x` is not floating.

    Examples:
        >>> from jaxmethods.qmc.integrands import Ishigami
        >>> f = Ishigami()
        >>> f.exact, round(f.variance, 10)
        (3.5, 13.8445879407)

    References:
        T. Ishigami and T. Homma, "An importance quantification technique in
        uncertainty analysis for computer models", *Proc. ISUMA '90* (1990),
        398–403.
    """

    a: float = eqx.field(static=True, default=7.0)
    b: float = eqx.field(static=True, default=0.1)

    d: int = eqx.field(static=True, default=3, init=False)

    def __call__(self, x: Float[ArrayLike, "*batch 3"]) -> Float[Array, "*batch"]:
        x = _points("Ishigami", x, 3)
        z = jnp.asarray(math.pi, x.dtype) * (jnp.asarray(2, x.dtype) * x - 1)
        s1 = jnp.sin(z[..., 0])
        a = jnp.asarray(self.a, x.dtype)
        b = jnp.asarray(self.b, x.dtype)
        return s1 + a * jnp.sin(z[..., 1]) ** 2 + b * z[..., 2] ** 4 * s1

    @property
    def exact(self) -> float:
        """The mean, $a/2$."""
        return float(self.a) / 2

    @property
    def variance(self) -> float:
        """The variance of $f(x)$ for $x \\sim U[0,1)^3$."""
        a, b, p = float(self.a), float(self.b), math.pi
        return a**2 / 8 + b * p**4 / 5 + b**2 * p**8 / 18 + 0.5


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _log_prices(x: Array, d: int, s0: float, r: float, sigma: float, t: float) -> Array:
    """Log prices at the ``d`` monitoring times ``jT/d`` (standard construction)."""
    dt = t / d
    z = ndtri(x)
    w = jnp.cumsum(z, axis=-1) * jnp.asarray(math.sqrt(dt), x.dtype)
    times = jnp.asarray(dt * np.arange(1, d + 1), x.dtype)
    drift = jnp.asarray(r - sigma**2 / 2, x.dtype) * times
    drift = drift.reshape((1,) * (x.ndim - 1) + (d,))
    return jnp.asarray(math.log(s0), x.dtype) + drift + jnp.asarray(sigma, x.dtype) * w


def _check_option(name: str, s0, k, r, sigma, t) -> None:
    for arg, v in (("s0", s0), ("strike", k), ("sigma", sigma), ("t", t)):
        if not v > 0:
            raise ValueError(f"{name}: {arg} must be positive, got {v}")
    if not math.isfinite(r):
        raise ValueError(f"{name}: r must be finite, got {r}")


class _GBMCall(eqx.Module):
    """A discounted call payoff on a GBM path driven by the uniforms ``x``.

    Subclasses choose the underlying (``_underlying``) and the closed form.
    """

    d: int = eqx.field(static=True)
    s0: float = eqx.field(static=True)
    strike: float = eqx.field(static=True)
    r: float = eqx.field(static=True)
    sigma: float = eqx.field(static=True)
    t: float = eqx.field(static=True)

    def __init__(
        self,
        d: int,
        *,
        s0: float = 100.0,
        strike: float = 100.0,
        r: float = 0.05,
        sigma: float = 0.2,
        t: float = 1.0,
    ):
        name = type(self).__name__
        self.d = _check_d(name, d)
        _check_option(name, s0, strike, r, sigma, t)
        self.s0, self.strike, self.r = float(s0), float(strike), float(r)
        self.sigma, self.t = float(sigma), float(t)

    @abc.abstractmethod
    def _underlying(self, logs: Array) -> Array:
        """The option's underlying from the log-prices of the path."""

    def __call__(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch"]:
        x = _points(type(self).__name__, x, self.d)
        logs = _log_prices(x, self.d, self.s0, self.r, self.sigma, self.t)
        payoff = jnp.maximum(self._underlying(logs) - self.strike, 0)
        return jnp.asarray(math.exp(-self.r * self.t), x.dtype) * payoff


class EuropeanCall(_GBMCall):
    r"""Discounted European call payoff under geometric Brownian motion.

    $S_t = S_0\exp((r - \sigma^2/2)t + \sigma W_t)$; the Brownian path at
    times $jT/d$ is built from $z = \Phi^{-1}(x)$ by the standard (cumulative
    sum) construction, and $f(x) = e^{-rT}\max(S_T - K, 0)$. Only $S_T$
    matters, so the exact value is the Black–Scholes price
    $S_0\Phi(d_1) - K e^{-rT}\Phi(d_2)$ for every $d$ (larger $d$ makes the
    integrand harder, not different).

    Args:
        d: number of time steps (dimension, static).
        s0: initial price. strike: strike $K$. r: interest rate.
        sigma: volatility. t: maturity $T$.

    Note:
        Calling the module on `x` of shape `(..., d)` returns the discounted
        payoff, shape `(...)`. `exact` is the Black–Scholes price.

    Raises:
        ValueError: non-positive prices, volatility or maturity, bad `d`.
        TypeError: if `x` is not floating.

    Examples:
        >>> from jaxmethods.qmc.integrands import EuropeanCall
        >>> round(EuropeanCall(4, s0=100.0, strike=100.0, r=0.05, sigma=0.2).exact, 6)
        10.450584

    References:
        F. Black and M. Scholes, "The pricing of options and corporate
        liabilities", *J. Political Economy* 81 (1973), 637–654.

        P. Glasserman, *Monte Carlo Methods in Financial Engineering*,
        Springer (2003), §3.1.
    """

    def _underlying(self, logs: Array) -> Array:
        return jnp.exp(logs[..., -1])  # the price at maturity

    @property
    def exact(self) -> float:
        """The Black–Scholes price."""
        vol = self.sigma * math.sqrt(self.t)
        d1 = (
            math.log(self.s0 / self.strike) + (self.r + self.sigma**2 / 2) * self.t
        ) / vol
        d2 = d1 - vol
        disc = math.exp(-self.r * self.t)
        return self.s0 * _phi(d1) - self.strike * disc * _phi(d2)


class AsianGeometricCall(_GBMCall):
    r"""Discounted geometric-average Asian call under geometric Brownian motion.

    With prices $S_j$ at times $t_j = jT/d$ (same path construction as
    [`EuropeanCall`][jaxmethods.qmc.integrands.EuropeanCall]),
    $f(x) = e^{-rT}\max(G - K, 0)$, $G = (\prod_j S_j)^{1/d}$. $\log G$ is
    normal with mean $\mu = \log S_0 + (r - \sigma^2/2)\bar t$,
    $\bar t = \frac1d\sum_j t_j$, and variance
    $v = \frac{\sigma^2}{d^2}\sum_{i,j}\min(t_i, t_j)$, so the exact value is
    $e^{-rT}\bigl(e^{\mu + v/2}\Phi(d_1) - K\Phi(d_2)\bigr)$ with
    $d_2 = (\mu - \log K)/\sqrt v$, $d_1 = d_2 + \sqrt v$.

    Args:
        d: number of monitoring times (dimension, static).
        s0: initial price. strike: strike $K$. r: interest rate.
        sigma: volatility. t: maturity $T$.

    Note:
        Calling the module on `x` of shape `(..., d)` returns the discounted
        payoff, shape `(...)`. `exact` is the closed-form price.

    Raises:
        ValueError: non-positive prices, volatility or maturity, bad `d`.
        TypeError: if `x` is not floating.

    Examples:
        >>> from jaxmethods.qmc.integrands import AsianGeometricCall, EuropeanCall
        >>> f = AsianGeometricCall(1)  # one date: the European call
        >>> abs(f.exact - EuropeanCall(1).exact) < 1e-12
        True

    References:
        A. G. Z. Kemna and A. C. F. Vorst, "A pricing method for options based
        on average asset values", *J. Banking & Finance* 14 (1990), 113–129.

        P. Glasserman, *Monte Carlo Methods in Financial Engineering*,
        Springer (2003), §4.1.2.
    """

    def _underlying(self, logs: Array) -> Array:
        return jnp.exp(jnp.mean(logs, axis=-1))  # geometric average

    @property
    def exact(self) -> float:
        """The closed-form price."""
        d = self.d
        times = self.t * np.arange(1, d + 1) / d
        mu = math.log(self.s0) + (self.r - self.sigma**2 / 2) * float(times.mean())
        v = self.sigma**2 * float(np.minimum.outer(times, times).sum()) / d**2
        sd = math.sqrt(v)
        d2 = (mu - math.log(self.strike)) / sd
        d1 = d2 + sd
        disc = math.exp(-self.r * self.t)
        return disc * (math.exp(mu + v / 2) * _phi(d1) - self.strike * _phi(d2))

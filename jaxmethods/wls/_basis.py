r"""Tensor-product orthonormal polynomial bases and their index sets.

A basis $\varphi = (\varphi_1, \dots, \varphi_m)$ of $V_m$ is orthonormal in
$L^2(\mu)$ for a product probability measure $\mu$ on $\mathbb R^d$:

- [`LegendreBasis`][jaxmethods.wls.LegendreBasis]: $\mu$ uniform on a box
  $\prod_j [a_j, b_j]$, $\varphi_\alpha(x) = \prod_j \sqrt{2\alpha_j + 1}\,
  P_{\alpha_j}(t_j)$ with $t_j = 2 (x_j - a_j)/(b_j - a_j) - 1$;
- [`HermiteBasis`][jaxmethods.wls.HermiteBasis]: $\mu = \mathcal N(c, \mathrm{diag}
  \,s^2)$, $\varphi_\alpha(x) = \prod_j \mathrm{He}_{\alpha_j}(t_j) /
  \sqrt{\alpha_j!}$ with $t_j = (x_j - c_j)/s_j$.

Both carry a fixed list of multi-indices (``total_degree_indices``,
``hyperbolic_cross_indices``) and sample the measures $\varphi_\alpha^2\,d\mu$
that the optimal sampling density $\rho_m = k_m / m$ mixes, with
$k_m(x) = \lVert\varphi(x)\rVert^2$ the inverse Christoffel function.
"""

from __future__ import annotations

import abc
import itertools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jax.scipy.special import ndtr
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype


def _check_dim_degree(fn: str, d: Any, degree: Any) -> tuple[int, int]:
    for name, v, lo in (("d", d, 1), ("degree", degree, 0)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{fn}: {name} must be a Python int, got {v!r}")
        if v < lo:
            raise ValueError(f"{fn}: {name} must be >= {lo}, got {v}")
    return d, degree


def _sort_indices(idx: list[tuple[int, ...]]) -> np.ndarray:
    # total degree first, then lexicographic with the last coordinate fastest
    idx = sorted(set(idx), key=lambda a: (sum(a), tuple(-v for v in a)))
    return np.asarray(idx, dtype=np.int32).reshape(len(idx), -1)


def total_degree_indices(d: int, degree: int) -> np.ndarray:
    r"""Multi-indices $\alpha \in \mathbb N^d$ with $\sum_j \alpha_j \le$ ``degree``.

    Args:
        d: dimension, >= 1.
        degree: the largest total degree, >= 0.

    Returns:
        An `(m, d)` int32 NumPy array, $m = \binom{d + p}{d}$, sorted by total
        degree (then lexicographically, the first coordinate slowest to
        decrease), starting with the zero index.

    Raises:
        TypeError: non-int arguments.
        ValueError: ``d < 1`` or ``degree < 0``.

    Examples:
        >>> from jaxmethods.wls import total_degree_indices
        >>> total_degree_indices(2, 2).tolist()
        [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    d, degree = _check_dim_degree("total_degree_indices", d, degree)
    idx = [
        a for a in itertools.product(range(degree + 1), repeat=d) if sum(a) <= degree
    ]
    return _sort_indices(idx)


def hyperbolic_cross_indices(d: int, degree: int) -> np.ndarray:
    r"""Multi-indices with $\prod_j (\alpha_j + 1) \le$ ``degree`` $+ 1$.

    Args:
        d: dimension, >= 1.
        degree: the hyperbolic-cross level $p$ (the largest degree in one
            coordinate), >= 0.

    Returns:
        An `(m, d)` int32 NumPy array sorted as in
        [`total_degree_indices`][jaxmethods.wls.total_degree_indices].

    Raises:
        TypeError: non-int arguments.
        ValueError: ``d < 1`` or ``degree < 0``.

    Examples:
        >>> from jaxmethods.wls import hyperbolic_cross_indices
        >>> hyperbolic_cross_indices(2, 3).tolist()
        [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2], [3, 0], [0, 3]]

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    d, degree = _check_dim_degree("hyperbolic_cross_indices", d, degree)
    idx = [
        a
        for a in itertools.product(range(degree + 1), repeat=d)
        if math.prod(v + 1 for v in a) <= degree + 1
    ]
    return _sort_indices(idx)


def _check_indices(fn: str, multi_indices: Any) -> np.ndarray:
    try:
        a = np.asarray(multi_indices)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(
            f"{fn}: multi_indices must be concrete (a NumPy array), not traced"
        ) from None
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{fn}: multi_indices must have shape (m, d), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer) or (a < 0).any():
        raise ValueError(f"{fn}: multi_indices must be non-negative integers")
    if len({tuple(r) for r in a.tolist()}) != a.shape[0]:
        raise ValueError(f"{fn}: multi_indices has repeated rows")
    return a.astype(np.int32)


def _measure_param(fn: str, name: str, v: Any, d: int) -> np.ndarray:
    a = np.broadcast_to(np.asarray(v, dtype=np.float64), (d,)).copy()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{fn}: {name} must be finite, got {v!r}")
    return a


class _TensorBasis(eqx.Module):
    """Shared machinery: 1-D tables, products over coordinates, sampling."""

    # static fields must be hashable: tuples, exposed as NumPy arrays below
    _indices: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    @property
    def multi_indices(self) -> np.ndarray:
        """The `(m, d)` int32 multi-indices, one row per basis function."""
        return np.asarray(self._indices, dtype=np.int32)

    @property
    def m(self) -> int:
        """Number of basis functions."""
        return int(self.multi_indices.shape[0])

    @property
    def d(self) -> int:
        """Dimension."""
        return int(self.multi_indices.shape[1])

    @property
    def max_degree(self) -> int:
        """Largest 1-D degree used."""
        return int(self.multi_indices.max())

    @abc.abstractmethod
    def _to_ref(self, x: Array) -> Array:
        """Map points to the reference domain, coordinate by coordinate."""

    @abc.abstractmethod
    def _from_ref(self, t: Array) -> Array:
        """Inverse of ``_to_ref``."""

    @abc.abstractmethod
    def _table(self, t: Array, p: int) -> Array:
        """Orthonormal 1-D values of degrees 0..p, shape ``t.shape + (p+1,)``."""

    @abc.abstractmethod
    def _sample_ref(self, key: PRNGKeyArray, k: Array, dtype) -> Array:
        """Samples of phi_k^2 dmu_1 (reference coordinates), shape ``k.shape``."""

    def _check_x(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.d:
            raise ValueError(
                f"{type(self).__name__}: x must have shape (..., {self.d}), got "
                f"{x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(
                f"{type(self).__name__}: x must be a float array, got {x.dtype}"
            )
        return x

    def __call__(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch m"]:
        r"""Evaluate $\varphi(x) = (\varphi_1(x), \dots, \varphi_m(x))$.

        Args:
            x: points of shape `(..., d)`.

        Returns:
            Values of shape `(..., m)`, one column per multi-index.

        Raises:
            ValueError: wrong last dimension.
            TypeError: a non-float ``x``.
        """
        x = self._check_x(x)
        tab = self._table(self._to_ref(x), self.max_degree)  # (..., d, p+1)
        idx = jnp.asarray(self.multi_indices)  # (m, d)
        vals = jnp.take_along_axis(
            tab[..., None, :, :],
            idx.reshape((1,) * (x.ndim - 1) + (self.m, self.d, 1)),
            axis=-1,
        )[..., 0]  # (..., m, d)
        return jnp.prod(vals, axis=-1)

    def inverse_christoffel(
        self, x: Float[ArrayLike, "*batch d"]
    ) -> Float[Array, "*batch"]:
        r"""$k_m(x) = \sum_i \varphi_i(x)^2$ (so $\rho_m = k_m / m$ has mean 1).

        Args:
            x: points of shape `(..., d)`.

        Returns:
            Values of shape `(...)`.
        """
        return jnp.sum(self(x) ** 2, axis=-1)

    def sample_component(
        self,
        key: PRNGKeyArray,
        index: Int[ArrayLike, "*batch"],
        *,
        dtype: Any = None,
    ) -> Float[Array, "*batch d"]:
        r"""Draw $x \sim \varphi_j^2\,d\mu$ for each given basis index $j$.

        $\varphi_j^2\,d\mu$ is a product measure, so each coordinate is drawn
        independently from $\varphi_{\alpha_{j,i}}^2\,d\mu_i$ (exact
        samplers: rejection from the arcsine law for Legendre, bisection of
        the closed-form CDF for Hermite).

        Args:
            key: PRNG key.
            index: integer array of basis indices in ``[0, m)``.
            dtype: float dtype of the points (default float64 under x64).

        Returns:
            Points of shape `index.shape + (d,)`.
        """
        dt = check_float_dtype(type(self).__name__, dtype)
        index = jnp.asarray(index)
        k = jnp.asarray(self.multi_indices)[index]  # (..., d)
        return self._from_ref(self._sample_ref(key, k, dt))


_TRIES = 4  # rejection proposals per coordinate and round (acceptance 1/2)


def _row(v: tuple[float, ...], like: Array) -> Array:
    """A per-coordinate parameter shaped to broadcast against ``(..., d)``."""
    return jnp.asarray(v, like.dtype).reshape((1,) * (like.ndim - 1) + (-1,))


def _legendre_table(t: Array, p: int) -> Array:
    """Orthonormal Legendre values sqrt(2k+1) P_k(t), k = 0..p: shape (..., p+1)."""
    one = jnp.ones_like(t)
    P = [one, t]
    for k in range(1, p):
        P.append(((2 * k + 1) * t * P[k] - k * P[k - 1]) / (k + 1))
    P = P[: p + 1]
    scale = jnp.sqrt(jnp.arange(p + 1, dtype=t.dtype) * 2 + 1)
    return jnp.stack(P, axis=-1) * scale.reshape((1,) * t.ndim + (-1,))


def _legendre_value(t: Array, k: Array, p: int) -> Array:
    """sqrt(2k+1) P_k(t) for per-element degrees k <= p, without a table."""
    prev, cur = jnp.zeros_like(t), jnp.ones_like(t)
    out = jnp.where(k == 0, cur, jnp.zeros_like(t))
    for j in range(p):
        prev, cur = cur, ((2 * j + 1) * t * cur - j * prev) / (j + 1)
        out = jnp.where(k == j + 1, cur, out)
    return out * jnp.sqrt(2 * k.astype(t.dtype) + 1)


def _hermite_table(t: Array, p: int) -> Array:
    """Orthonormal Hermite values He_k(t)/sqrt(k!), k = 0..p: shape (..., p+1)."""
    h = [jnp.ones_like(t), t]
    for k in range(1, p):
        h.append((t * h[k] - math.sqrt(k) * h[k - 1]) / math.sqrt(k + 1))
    return jnp.stack(h[: p + 1], axis=-1)


class LegendreBasis(_TensorBasis):
    r"""Tensor Legendre polynomials, orthonormal for the uniform law on a box.

    $\varphi_\alpha(x) = \prod_{j=1}^d \sqrt{2\alpha_j + 1}\,P_{\alpha_j}(t_j)$,
    $t_j = 2 (x_j - a_j)/(b_j - a_j) - 1$, orthonormal in $L^2(\mu)$ for
    $\mu$ the uniform probability measure on $\prod_j [a_j, b_j]$. Build it
    from an index set: ``LegendreBasis(total_degree_indices(d, p))``.

    Attributes:
        multi_indices: `(m, d)` NumPy int array of degrees (a property over a
            static, hashable field).
        lower: `(d,)` lower corner $a$.
        upper: `(d,)` upper corner $b$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.wls import LegendreBasis, total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(1, 4))
        >>> round(float(basis.inverse_christoffel(jnp.array([[0.3]]))[0] / 5), 5)
        0.60163

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """

    _lower: tuple[float, ...] = eqx.field(static=True)
    _upper: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        multi_indices: Any,
        *,
        lower: Any = -1.0,
        upper: Any = 1.0,
    ):
        """Args:
        multi_indices: `(m, d)` non-negative integer degrees, distinct rows.
        lower: lower corner, a scalar or `(d,)`.
        upper: upper corner, a scalar or `(d,)`, > ``lower``.

        Raises:
            ValueError: bad indices, non-finite corners or ``upper <= lower``.
        """
        fn = "LegendreBasis"
        idx = _check_indices(fn, multi_indices)
        self._indices = tuple(map(tuple, idx.tolist()))
        d = idx.shape[1]
        lo = _measure_param(fn, "lower", lower, d)
        hi = _measure_param(fn, "upper", upper, d)
        if not np.all(hi > lo):
            raise ValueError(
                f"{fn}: need upper > lower in every coordinate (a degenerate box "
                f"has no uniform measure), got lower={lower!r}, upper={upper!r}"
            )
        self._lower, self._upper = tuple(lo.tolist()), tuple(hi.tolist())

    @property
    def lower(self) -> np.ndarray:
        """The `(d,)` lower corner $a$."""
        return np.asarray(self._lower)

    @property
    def upper(self) -> np.ndarray:
        """The `(d,)` upper corner $b$."""
        return np.asarray(self._upper)

    def _to_ref(self, x: Array) -> Array:
        lo, hi = _row(self._lower, x), _row(self._upper, x)
        return 2 * (x - lo) / (hi - lo) - 1

    def _from_ref(self, t: Array) -> Array:
        lo, hi = _row(self._lower, t), _row(self._upper, t)
        return lo + (t + 1) * (hi - lo) / 2

    def _table(self, t: Array, p: int) -> Array:
        return _legendre_table(t, p)

    def _sample_ref(self, key: PRNGKeyArray, k: Array, dtype) -> Array:
        # Rejection from the arcsine law: sqrt(1 - t^2) phi_k(t)^2 <= 4/pi
        # (the sharp Bernstein inequality for Legendre polynomials), so
        # accepting with probability (pi/4) sqrt(1 - t^2) phi_k(t)^2 is exact;
        # the acceptance rate is exactly 1/2 (int phi_k^2 dt = 2).
        p = self.max_degree
        kf = k.reshape(-1)
        N = kf.shape[0]

        def attempt(key, kk):
            # _TRIES proposals per coordinate; the first accepted one wins
            k1, k2 = jr.split(key)
            shape = kk.shape + (_TRIES,)
            theta = jr.uniform(k1, shape, dtype) * jnp.asarray(math.pi, dtype)
            prop = jnp.cos(theta)
            phi = _legendre_value(prop, jnp.broadcast_to(kk[:, None], shape), p)
            acc = jnp.sin(theta) * phi**2 * jnp.asarray(math.pi / 4, dtype)
            ok = jr.uniform(k2, shape, dtype) < acc
            # one reduction gives both the first accepted try and whether
            # there is one (a second one would recompute the proposals)
            rank = jnp.where(ok, jnp.arange(_TRIES, 0, -1, dtype=jnp.int32), 0)
            best = jnp.max(rank, axis=-1)
            first = jnp.clip(_TRIES - best, 0, _TRIES - 1)
            theta1 = jnp.take_along_axis(theta, first[:, None], axis=-1)[:, 0]
            return jnp.cos(theta1), best > 0

        def redraw(state, B):
            # redraw the first B coordinates still without an acceptance
            t, got, key = state
            key, sub = jr.split(key)
            (idx,) = jnp.nonzero(~got, size=B, fill_value=N)
            tb, gb = attempt(sub, kf[jnp.minimum(idx, N - 1)])
            t = t.at[idx].set(
                jnp.where(gb, tb, t[jnp.minimum(idx, N - 1)]), mode="drop"
            )
            got = got.at[idx].set(gb, mode="drop")
            return t, got, key

        k0, key = jr.split(key)
        t, got = attempt(k0, kf)
        # The coordinates with no acceptance (1/16 of them on average) are
        # redrawn in fixed-size buffers, so that no round redoes every
        # coordinate: one round sized for the first misses (N/16 on average:
        # twice that and then some), then rounds sized for the few left (N/256
        # on average).
        state = redraw((t, got, key), max(1, min(N, N // 8 + 32)))
        B = max(1, min(N, N // 128 + 16))
        t, _, _ = lax.while_loop(
            lambda s: ~jnp.all(s[1]), lambda s: redraw(s, B), state
        )
        return t.reshape(k.shape)


def _hermite_cdf_coefficients(p: int) -> np.ndarray:
    """c[k, r] for F_k(t) = Phi(t) - phi(t) sum_r c[k, r] h_{2k-2r-1}(t)."""
    c = np.zeros((p + 1, max(p, 1)))
    for k in range(1, p + 1):
        for r in range(k):
            j = 2 * k - 2 * r - 1
            logc = (
                2 * (math.lgamma(k + 1) - math.lgamma(r + 1) - math.lgamma(k - r + 1))
                + math.lgamma(r + 1)
                - math.lgamma(k + 1)
                + 0.5 * math.lgamma(j + 1)
            )
            c[k, r] = math.exp(logc)
    return c


class HermiteBasis(_TensorBasis):
    r"""Tensor Hermite polynomials, orthonormal for a Gaussian law.

    $\varphi_\alpha(x) = \prod_{j=1}^d \mathrm{He}_{\alpha_j}(t_j) /
    \sqrt{\alpha_j!}$ with probabilists' Hermite polynomials and
    $t_j = (x_j - c_j)/s_j$, orthonormal in $L^2(\mu)$ for
    $\mu = \mathcal N(c, \mathrm{diag}\, s^2)$.

    Attributes:
        multi_indices: `(m, d)` NumPy int array of degrees (a property over a
            static, hashable field).
        mean: `(d,)` mean $c$.
        std: `(d,)` standard deviations $s > 0$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.wls import HermiteBasis, total_degree_indices
        >>> basis = HermiteBasis(total_degree_indices(1, 2))
        >>> [round(float(v), 5) for v in basis(jnp.array([[2.0]]))[0]]
        [1.0, 2.0, 2.12132]

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """

    _mean: tuple[float, ...] = eqx.field(static=True)
    _std: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        multi_indices: Any,
        *,
        mean: Any = 0.0,
        std: Any = 1.0,
    ):
        """Args:
        multi_indices: `(m, d)` non-negative integer degrees, distinct rows.
        mean: Gaussian mean, a scalar or `(d,)`.
        std: Gaussian standard deviation, a scalar or `(d,)`, > 0.

        Raises:
            ValueError: bad indices, non-finite parameters or ``std <= 0``.
        """
        fn = "HermiteBasis"
        idx = _check_indices(fn, multi_indices)
        self._indices = tuple(map(tuple, idx.tolist()))
        d = idx.shape[1]
        mu = _measure_param(fn, "mean", mean, d)
        s = _measure_param(fn, "std", std, d)
        if not np.all(s > 0):
            raise ValueError(
                f"{fn}: std must be > 0 (a degenerate Gaussian), got {std!r}"
            )
        self._mean, self._std = tuple(mu.tolist()), tuple(s.tolist())

    @property
    def mean(self) -> np.ndarray:
        """The `(d,)` mean $c$."""
        return np.asarray(self._mean)

    @property
    def std(self) -> np.ndarray:
        """The `(d,)` standard deviations $s$."""
        return np.asarray(self._std)

    def _to_ref(self, x: Array) -> Array:
        return (x - _row(self._mean, x)) / _row(self._std, x)

    def _from_ref(self, t: Array) -> Array:
        return _row(self._mean, t) + t * _row(self._std, t)

    def _table(self, t: Array, p: int) -> Array:
        return _hermite_table(t, p)

    def _sample_ref(self, key: PRNGKeyArray, k: Array, dtype) -> Array:
        # Inverse CDF by bisection. By the linearization formula
        # He_k^2 = sum_r C(k,r)^2 r! He_{2k-2r} and
        # int_{-inf}^t He_j phi = -phi(t) He_{j-1}(t) (j >= 1):
        # F_k(t) = Phi(t) - phi(t) sum_{r<k} C(k,r)^2 r!/k! He_{2k-2r-1}(t).
        p = self.max_degree
        coef = jnp.asarray(_hermite_cdf_coefficients(p), dtype)  # (p+1, p)
        ck = coef[k]  # (..., p)
        half = jnp.asarray(math.sqrt(4 * p + 2) + 10.0, dtype)
        iters = 64 if dtype == jnp.float64 else 32

        def cdf(t):
            h = _hermite_table(t, max(2 * p - 1, 1))  # (..., 2p)
            r = jnp.arange(max(p, 1), dtype=k.dtype).reshape((1,) * k.ndim + (-1,))
            j = jnp.clip(2 * k[..., None] - 2 * r - 1, 0, None)
            hj = jnp.take_along_axis(h, j, axis=-1)
            dens = jnp.exp(-t * t / 2) / jnp.asarray(math.sqrt(2 * math.pi), dtype)
            return ndtr(t) - dens * jnp.sum(ck * hj, axis=-1)

        u = jr.uniform(key, k.shape, dtype)

        def body(_, lohi):
            lo, hi = lohi
            mid = (lo + hi) / 2
            below = cdf(mid) < u
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = lax.fori_loop(
            0, iters, body, (jnp.full(k.shape, -half), jnp.full(k.shape, half))
        )
        return (lo + hi) / 2

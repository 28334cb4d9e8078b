r"""Masking schedules for absorbing (masked) discrete diffusion.

A masking schedule gives $\alpha(t)$, the probability that a token is still
clean at time $t \in [0, 1]$, decreasing from $\alpha(0) \approx 1$ to
$\alpha(1) \approx 0$. Everything the losses and samplers need derives from
it: the masking probability $1 - \alpha(t)$, the total noise
$\sigma(t) = -\log\alpha(t)$ of the CTMC view (SEDD, RADD), and the ELBO
weight $w(t) = -\alpha'(t) / (1 - \alpha(t)) = \sigma'(t) / \operatorname{expm1}
\sigma(t)$. Each schedule computes $1 - \alpha(t)$ in a form that keeps full
relative accuracy as $t \to 0$ (no ``1 - alpha`` cancellation), so the weight
is accurate where it is largest.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._internal.bits import as_float_array as _as_float


def _check_eps(cls: str, eps: float, upper: float) -> float:
    eps = float(eps)
    if not (0.0 <= eps < upper):
        raise ValueError(f"{cls}: eps must lie in [0, {upper}), got {eps}")
    return eps


class MaskingSchedule(eqx.Module):
    r"""Abstract masking schedule $\alpha(t) = P(\text{token still clean at } t)$.

    Subclasses implement [`mask_prob`][jaxmethods.discrete.MaskingSchedule.mask_prob]
    ($1-\alpha$, accurately) and [`dalpha`][jaxmethods.discrete.MaskingSchedule.dalpha];
    everything else derives from them. All methods are elementwise over ``t``
    of any shape and return the dtype of ``t`` (integers are promoted to the
    default float). Schedule parameters are static floats, so a schedule is a
    valid ``jax.jit`` argument and is hashed by value.

    Attributes:
        eps: clipping or truncation parameter, where the subclass has one
            (static); other parameters are listed by each subclass.

    References:
        Survey: Yu et al., "Discrete Diffusion in Large Language and Multimodal
        Models: A Survey", 2025. arXiv:2506.13759. Schedules as in MD4 and
        SEDD: Shi et al., NeurIPS 2024 (arXiv:2406.04329); Lou, Meng and
        Ermon, ICML 2024 (arXiv:2310.16834).
    """

    @abc.abstractmethod
    def mask_prob(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""$1 - \alpha(t)$, the probability that a token is masked at time $t$.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """

    @abc.abstractmethod
    def dalpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""$\alpha'(t)$ (non-positive).

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """

    def alpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""$\alpha(t)$, the probability that a token is still clean at time $t$.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """
        return 1 - self.mask_prob(t)

    def weight(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""The ELBO weight $w(t) = -\alpha'(t) / (1 - \alpha(t))$.

        This is the weight of the cross-entropy of masked tokens in the
        continuous-time masked-diffusion NELBO (MD4's ``dgamma_times_alpha``,
        MDLM's $\sigma'/\operatorname{expm1}\sigma$). It is computed as a ratio
        of the accurately computed $-\alpha'$ and $1-\alpha$ and is $+\infty$
        at $t = 0$ when $\alpha(0) = 1$.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """
        return -self.dalpha(t) / self.mask_prob(t)

    def sigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""Total noise $\sigma(t) = -\log\alpha(t)$ (the CTMC time change).

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """
        return -jnp.log1p(-self.mask_prob(t))

    def dsigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""$\sigma'(t) = -\alpha'(t)/\alpha(t)$, the CTMC rate multiplier.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """
        return -self.dalpha(t) / self.alpha(t)

    def expm1_sigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        r"""$e^{\sigma(t)} - 1 = (1 - \alpha)/\alpha$, accurate as $t \to 0$.

        RADD's concrete score is $c_\theta / (e^{\sigma} - 1)$; the official
        code switches between ``expm1`` and ``exp - 1`` at $\sigma = 0.5$.
        Here it is the ratio of the accurate $1-\alpha$ and $\alpha$.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Array of the shape and float dtype of ``t``.
        """
        m = self.mask_prob(t)
        return m / (1 - m)


class _Clipped(MaskingSchedule):
    """MD4's epsilon clipping ``alpha <- (1 - 2 eps) alpha_raw + eps``.

    Subclasses declare the static field ``eps`` (after their own fields, so
    that positional arguments follow the subclass's order).
    """

    @abc.abstractmethod
    def _raw(self, t: Array) -> tuple[Array, Array]:
        """``(1 - alpha_raw(t), alpha_raw'(t))`` of the unclipped schedule."""

    def mask_prob(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _as_float(t)
        m, _ = self._raw(t)
        eps = self.eps  # pyright: ignore[reportAttributeAccessIssue]
        return (1 - 2 * eps) * m + eps

    def dalpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _as_float(t)
        _, d = self._raw(t)
        return (1 - 2 * self.eps) * d  # pyright: ignore[reportAttributeAccessIssue]


class LinearSchedule(_Clipped):
    r"""Linear schedule $\alpha(t) = 1 - t$ (MD4 ``linear``, D3PM absorbing).

    With $\varepsilon > 0$, MD4's clipping
    $\alpha \leftarrow (1 - 2\varepsilon)\alpha + \varepsilon$ is applied. The
    weight is exactly $1/t$ for $\varepsilon = 0$.

    Attributes:
        eps: clipping $\varepsilon \in [0, 1/2)$ (static), default 0.

    Examples:
        >>> from jaxmethods.discrete import LinearSchedule
        >>> s = LinearSchedule()
        >>> print(float(s.alpha(0.25)), float(s.weight(0.25)))
        0.75 4.0

    References:
        Shi, Han, Wang, Doucet and Titsias, "Simplified and Generalized Masked
        Diffusion for Discrete Data", NeurIPS 2024. arXiv:2406.04329.
    """

    eps: float = eqx.field(static=True, default=0.0)

    def __post_init__(self):
        _check_eps("LinearSchedule", self.eps, 0.5)

    def _raw(self, t):
        return t, -jnp.ones_like(t)


class CosineSchedule(_Clipped):
    r"""Cosine schedule $\alpha(t) = 1 - \cos(\tfrac{\pi}{2}(1 - t))$ (MD4 ``cosine``).

    $1 - \alpha = \sin(\pi t / 2)$ is computed directly, so the weight
    $\tfrac{\pi}{2}\cos(\pi t/2)/\sin(\pi t/2)$ is accurate near $t = 0$.
    MD4's clipping with $\varepsilon$ (default ``1e-4``) is applied.

    Attributes:
        eps: clipping $\varepsilon \in [0, 1/2)$ (static), default ``1e-4``.

    Examples:
        >>> from jaxmethods.discrete import CosineSchedule
        >>> s = CosineSchedule(eps=0.0)
        >>> print(round(float(s.alpha(0.5)), 6))
        0.292893

    References:
        Shi, Han, Wang, Doucet and Titsias, "Simplified and Generalized Masked
        Diffusion for Discrete Data", NeurIPS 2024. arXiv:2406.04329.
    """

    eps: float = eqx.field(static=True, default=1e-4)

    def __post_init__(self):
        _check_eps("CosineSchedule", self.eps, 0.5)

    def _raw(self, t):
        half_pi = math.pi / 2
        return jnp.sin(half_pi * t), -half_pi * jnp.cos(half_pi * t)


class PolynomialSchedule(_Clipped):
    r"""Polynomial schedule $\alpha(t) = 1 - t^k$ (MD4 ``polyK``).

    MD4's clipping with $\varepsilon$ (default ``1e-4``) is applied. The weight
    is $k/t$ for $\varepsilon = 0$.

    Attributes:
        power: the exponent $k > 0$ (static), default 2.
        eps: clipping $\varepsilon \in [0, 1/2)$ (static), default ``1e-4``.

    Examples:
        >>> from jaxmethods.discrete import PolynomialSchedule
        >>> s = PolynomialSchedule(power=2.0, eps=0.0)
        >>> print(float(s.alpha(0.5)), float(s.weight(0.5)))
        0.75 4.0

    References:
        Shi, Han, Wang, Doucet and Titsias, "Simplified and Generalized Masked
        Diffusion for Discrete Data", NeurIPS 2024. arXiv:2406.04329.
    """

    power: float = eqx.field(static=True, default=2.0)
    eps: float = eqx.field(static=True, default=1e-4)

    def __post_init__(self):
        if not float(self.power) > 0:
            raise ValueError(
                f"PolynomialSchedule: power must be positive, got {self.power}"
            )
        _check_eps("PolynomialSchedule", self.eps, 0.5)

    def _raw(self, t):
        k = self.power
        return t**k, -k * t ** (k - 1)


class LogLinearSchedule(MaskingSchedule):
    r"""Log-linear schedule $\sigma(t) = -\log(1 - (1-\varepsilon)t)$ (SEDD, RADD).

    Equivalently $\alpha(t) = 1 - (1 - \varepsilon)t$, so $\alpha(1) =
    \varepsilon$ and the ELBO weight $\sigma'/\operatorname{expm1}\sigma$ is
    exactly $1/t$ for every $\varepsilon$.

    Attributes:
        eps: $\varepsilon \in [0, 1)$ (static), default ``1e-3``.

    Examples:
        >>> from jaxmethods.discrete import LogLinearSchedule
        >>> s = LogLinearSchedule()
        >>> print(float(s.weight(0.5)))
        2.0

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
    """

    eps: float = eqx.field(static=True, default=1e-3)

    def __post_init__(self):
        _check_eps("LogLinearSchedule", self.eps, 1.0)

    def mask_prob(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _as_float(t)
        return (1 - self.eps) * t

    def dalpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _as_float(t)
        return jnp.full_like(t, -(1 - self.eps))


class GeometricSchedule(MaskingSchedule):
    r"""Geometric noise $\sigma(t) = \sigma_{\min}^{1-t}\sigma_{\max}^{t}$ (SEDD).

    $\alpha(t) = e^{-\sigma(t)}$, $1 - \alpha = -\operatorname{expm1}(-\sigma)$
    and $w(t) = \sigma'(t)/\operatorname{expm1}\sigma(t)$ with
    $\sigma'(t) = \sigma(t)\log(\sigma_{\max}/\sigma_{\min})$. SEDD uses it with
    the uniform transition graph.

    Attributes:
        sigma_min: $\sigma(0) > 0$ (static), default ``1e-4``.
        sigma_max: $\sigma(1) > \sigma(0)$ (static), default ``20``.

    Examples:
        >>> from jaxmethods.discrete import GeometricSchedule
        >>> s = GeometricSchedule()
        >>> print(f"{float(s.sigma(0.0)):.4g} {float(s.sigma(1.0)):.4g}")
        0.0001 20

    References:
        Lou, Meng and Ermon, "Discrete Diffusion Modeling by Estimating the
        Ratios of the Data Distribution", ICML 2024. arXiv:2310.16834.
    """

    sigma_min: float = eqx.field(static=True, default=1e-4)
    sigma_max: float = eqx.field(static=True, default=20.0)

    def __post_init__(self):
        if not (0 < float(self.sigma_min) < float(self.sigma_max)):
            raise ValueError(
                "GeometricSchedule: need 0 < sigma_min < sigma_max, got "
                f"{self.sigma_min}, {self.sigma_max}"
            )

    def sigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _as_float(t)
        lo, hi = math.log(self.sigma_min), math.log(self.sigma_max)
        return jnp.exp((1 - t) * lo + t * hi)

    def dsigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return self.sigma(t) * math.log(self.sigma_max / self.sigma_min)

    def mask_prob(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return -jnp.expm1(-self.sigma(t))

    def alpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return jnp.exp(-self.sigma(t))

    def dalpha(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return -self.dsigma(t) * self.alpha(t)

    def weight(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return self.dsigma(t) / jnp.expm1(self.sigma(t))

    def expm1_sigma(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return jnp.expm1(self.sigma(t))

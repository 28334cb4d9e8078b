r"""Stochastic interpolants: the path, its coefficients and field conversions (P18).

An interpolant is $x_t = \alpha(t) x_0 + \beta(t) x_1 + \gamma(t) z$ with
$z \sim \mathcal N(0, I)$ independent of $(x_0, x_1)$. Everything a sampler or
a loss needs is a function of the six scalars returned by
:meth:`Interpolant.coeffs`, and of the *Gaussian latent* of the path: $z$ with
coefficient $\gamma$ for a two-sided path, $x_0 \sim \mathcal N(0, I)$ with
coefficient $\alpha$ for a one-sided one (:meth:`Interpolant.latent_coeffs`).
Products such as $\gamma\dot\gamma$ are computed analytically, so they stay
finite where $\dot\gamma$ is not ($t \in \{0, 1\}$ for the Brownian $\gamma$).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from .._internal.bits import as_float_array
from ..diffusion._schedules import VPSchedule


PATHS = (
    "linear",
    "trig",
    "encoding-decoding",
    "one-sided-linear",
    "one-sided-trig",
    "mirror",
    "vp",
)
ONE_SIDED = ("one-sided-linear", "one-sided-trig", "vp")
GAMMAS = ("brownian", "a-brownian", "bsquared", "sinesquared", "sigmoid", "zero")

# Steepness of the "sigmoid" gamma, as in the official interflow/fabrics.py.
_SIGMOID_F = 10.0

Model = Callable[[Array, Array], Array]

REFERENCE = (
    'M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic Interpolants: '
    'A Unifying Framework for Flows and Diffusions", arXiv:2303.08797, 2023.'
)


# ----------------------------------------------------------------- helpers


def concrete(x) -> np.ndarray | None:
    """The NumPy value of ``x`` if it is concrete, ``None`` if it is traced."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def check_unit_interval(fn: str, name: str, t: Array) -> Array:
    """``t`` in $[0, 1]$: a ``ValueError`` if concrete, else ``eqx.error_if``."""
    v = concrete(t)
    msg = f"{fn}: {name} must lie in [0, 1]"
    if v is not None:
        if not np.all((v >= 0.0) & (v <= 1.0)):
            bad = v[~((v >= 0.0) & (v <= 1.0))] if v.ndim else v
            raise ValueError(f"{msg}, got {bad.ravel()[:4].tolist()}")
        return t
    return eqx.error_if(t, jnp.any((t < 0.0) | (t > 1.0)), msg)


def check_float_array(fn: str, name: str, x) -> Array:
    """``x`` as a floating JAX array (``TypeError`` otherwise)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must be a floating array, got dtype {x.dtype}")
    return x


def bcast(c: Array, x: Array) -> Array:
    """Reshape ``c`` (its shape a prefix of ``x.shape``) to broadcast against ``x``."""
    return jnp.reshape(c, c.shape + (1,) * (x.ndim - c.ndim))


def call_model(fn: str, what: str, model: Model, x: Array, t: Array) -> Array:
    """``model(x, t)``, checked to have the shape of ``x``, cast to its dtype."""
    out = jnp.asarray(model(x, t))
    if out.shape != x.shape:
        raise ValueError(
            f"{fn}: {what}(x, t) returned shape {out.shape} for x of shape "
            f"{x.shape}; a field must return the shape of its input"
        )
    return out.astype(x.dtype)


# ----------------------------------------------------------------- gamma


def _gamma(kind: str, a, t: Array) -> tuple[Array, Array, Array]:
    r"""$(\gamma, \dot\gamma, \gamma\dot\gamma)$ of one gamma kind, elementwise."""
    if kind == "zero":
        z = jnp.zeros_like(t)
        return z, z, z
    if kind in ("brownian", "a-brownian"):
        scale = 1.0 if kind == "brownian" else jnp.asarray(a).astype(t.dtype)
        g = jnp.sqrt(scale * t * (1.0 - t))
        gg = 0.5 * scale * (1.0 - 2.0 * t)
        return g, gg / g, gg
    if kind == "bsquared":
        g = t * (1.0 - t)
        gd = 1.0 - 2.0 * t
        return g, gd, g * gd
    if kind == "sinesquared":
        g = jnp.sin(math.pi * t) ** 2
        gd = math.pi * jnp.sin(2.0 * math.pi * t)
        return g, gd, g * gd
    # sigmoid: gamma(t) = S(u + 1) - S(u - 1) - S(1 - f/2) + S(-1 - f/2),
    # u = f (t - 1/2), S the logistic function; zero at t = 0 and t = 1.
    f = _SIGMOID_F
    u = f * (t - 0.5)
    sp, sm = jax.nn.sigmoid(u + 1.0), jax.nn.sigmoid(u - 1.0)
    c = jax.nn.sigmoid(jnp.asarray(1.0 - f / 2, t.dtype)) - jax.nn.sigmoid(
        jnp.asarray(-1.0 - f / 2, t.dtype)
    )
    g = sp - sm - c
    gd = f * (sp * (1.0 - sp) - sm * (1.0 - sm))
    return g, gd, g * gd


def _gamma_max(kind: str, a) -> float | None:
    """$\\max_t \\gamma(t)$ for a concrete kind and ``a`` (``None`` if traced)."""
    if kind == "zero":
        return 0.0
    if kind == "brownian":
        return 0.5
    if kind == "a-brownian":
        av = concrete(a)
        return None if av is None else float(np.sqrt(np.max(av) / 4.0))
    if kind == "bsquared":
        return 0.25
    if kind == "sinesquared":
        return 1.0
    s = lambda v: 1.0 / (1.0 + math.exp(-v))
    f = _SIGMOID_F
    return s(1.0) - s(-1.0) - s(1.0 - f / 2) + s(-1.0 - f / 2)


# ----------------------------------------------------------------- Interpolant


class Interpolant(eqx.Module):
    r"""A stochastic interpolant $x_t = \alpha(t) x_0 + \beta(t) x_1 + \gamma(t) z$.

    $z \sim \mathcal N(0, I)$ is independent of $(x_0, x_1) \sim \nu$, any
    coupling of the base $\rho_0$ and the target $\rho_1$, and $t \in [0, 1]$
    with $\alpha(0) = \beta(1) = 1$, $\alpha(1) = \beta(0) = 0$ and
    $\gamma(0) = \gamma(1) = 0$. Build one with a constructor:

    - ``linear``: $\alpha = 1 - t$, $\beta = t$;
    - ``trig``: $\alpha = \sqrt{1-\gamma^2}\cos\frac{\pi t}{2}$,
      $\beta = \sqrt{1-\gamma^2}\sin\frac{\pi t}{2}$ (needs $\max\gamma < 1$);
    - ``encoding_decoding``: $\alpha = \cos^2(\pi t)\,1_{t \le 1/2}$,
      $\beta = \cos^2(\pi t)\,1_{t > 1/2}$ (default gamma ``sinesquared``);
    - ``mirror``: $\alpha = 0$, $\beta = 1$ (any gamma but ``zero``);
    - ``one_sided_linear``: $\alpha = 1 - t$, $\beta = t$, $\gamma = 0$;
    - ``one_sided_trig``: $\alpha = \cos\frac{\pi t}{2}$,
      $\beta = \sin\frac{\pi t}{2}$, $\gamma = 0$;
    - ``from_vp_schedule``: $\alpha = \sigma_{T(1-t)}$,
      $\beta = \alpha_{T(1-t)}$, $\gamma = 0$;

    and $\gamma$ one of ``"brownian"`` $\sqrt{t(1-t)}$, ``"a-brownian"``
    $\sqrt{a\,t(1-t)}$, ``"bsquared"`` $t(1-t)$, ``"sinesquared"``
    $\sin^2(\pi t)$, ``"sigmoid"`` $S(u+1) - S(u-1) - S(1-\frac f2) +
    S(-1-\frac f2)$ with $u = f(t - \frac12)$, $f = 10$ and $S$ the logistic
    function (as in the official ``interflow/fabrics.py``), or ``"zero"``.

    **One-sided** paths (``one_sided_*`` and ``from_vp_schedule``) have no
    $z$: the base $x_0 \sim \mathcal N(0, I)$, independent of $x_1$, is the
    Gaussian latent, with coefficient $\alpha$. **Two-sided** paths use $z$,
    with coefficient $\gamma$. The *mirror* path has $\rho_0 = \rho_1$ (take
    $x_0 = x_1$; its coefficient is 0). :meth:`latent_coeffs` returns the
    latent's coefficient; the losses, :func:`b_from_v_s` and
    :func:`s_from_eta` are written in terms of it.

    The kinds are static (hashable) strings, so ``jax.jit`` specialises on
    them and an ``Interpolant`` can be a jit argument; ``a`` and the
    schedule's parameters are leaves, so ``vmap`` and ``grad`` over them
    work. All methods are elementwise in
    ``t`` and return its dtype (integers become the default float).

    Attributes:
        path: ``"linear"``, ``"trig"``, ``"encoding-decoding"``,
            ``"one-sided-linear"``, ``"one-sided-trig"``, ``"mirror"`` or
            ``"vp"`` (static).
        gamma_type: one of ``"brownian"``, ``"a-brownian"``, ``"bsquared"``,
            ``"sinesquared"``, ``"sigmoid"``, ``"zero"`` (static).
        a: the scale $a > 0$ of ``"a-brownian"`` (1 otherwise).
        schedule: the :class:`jaxmethods.diffusion.VPSchedule` of a ``"vp"``
            path, else ``None``.

    Raises:
        ValueError: unknown path or gamma; a one-sided path with a non-zero
            gamma; ``trig`` with $\max_t\gamma \ge 1$ (``sinesquared``, or
            ``a-brownian`` with $a \ge 4$); $a \le 0$; ``a`` given for a gamma
            other than ``a-brownian``; a ``mirror`` with ``gamma="zero"``;
            a schedule missing for ``"vp"`` or given for another path.

    Examples:
        >>> from jaxmethods.interpolants import Interpolant
        >>> interp = Interpolant.linear("brownian")
        >>> [round(float(c), 4) for c in interp.coeffs(0.25)]
        [0.75, -1.0, 0.25, 1.0, 0.433, 0.25]

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants: A Unifying Framework for Flows and Diffusions",
        arXiv:2303.08797, 2023.
    """

    path: str = eqx.field(static=True)
    gamma_type: str = eqx.field(static=True)
    a: float | Array = 1.0
    schedule: VPSchedule | None = None

    def __check_init__(self):
        fn = "Interpolant"
        if self.path not in PATHS:
            raise ValueError(
                f"{fn}: unknown path {self.path!r}; expected one of {', '.join(PATHS)}"
            )
        if self.gamma_type not in GAMMAS:
            raise ValueError(
                f"{fn}: unknown gamma {self.gamma_type!r}; expected one of "
                f"{', '.join(GAMMAS)}"
            )
        if self.path in ONE_SIDED and self.gamma_type != "zero":
            raise ValueError(
                f"{fn}: the one-sided path {self.path!r} has no z; its gamma must "
                f"be 'zero', got {self.gamma_type!r}"
            )
        if self.path == "mirror" and self.gamma_type == "zero":
            raise ValueError(f"{fn}: a mirror path needs a non-zero gamma")
        if self.path == "vp" and not isinstance(self.schedule, VPSchedule):
            raise ValueError(
                f"{fn}: the 'vp' path needs a VPSchedule, got "
                f"{type(self.schedule).__name__}"
            )
        if self.path != "vp" and self.schedule is not None:
            raise ValueError(f"{fn}: a schedule is only used by the 'vp' path")
        av = concrete(self.a)
        if av is not None:
            if self.gamma_type == "a-brownian":
                if not np.all(np.isfinite(av) & (av > 0.0)):
                    raise ValueError(
                        f"{fn}: 'a-brownian' needs a finite a > 0, got {av.tolist()}"
                    )
            elif not np.all(av == 1.0):
                raise ValueError(
                    f"{fn}: a is only used by gamma='a-brownian'; got a={av.tolist()} "
                    f"with gamma={self.gamma_type!r}"
                )
        if self.path == "trig":
            gmax = _gamma_max(self.gamma_type, self.a)
            if gmax is not None and gmax >= 1.0:
                raise ValueError(
                    f"{fn}: the trig path needs max gamma < 1 (it divides by "
                    f"sqrt(1 - gamma^2)); gamma={self.gamma_type!r} reaches {gmax:g}"
                )

    # ------------------------------------------------------------ constructors

    @classmethod
    def linear(cls, gamma: str = "brownian", a: float | Array = 1.0) -> Interpolant:
        r"""The linear two-sided path $x_t = (1-t)x_0 + t x_1 + \gamma(t) z$.

        Args:
            gamma: the gamma kind (see :class:`Interpolant`).
            a: the scale of ``"a-brownian"``.

        Returns:
            An ``Interpolant`` with ``path="linear"``.

        Raises:
            ValueError: see :class:`Interpolant`.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> Interpolant.linear("a-brownian", a=2.0).gamma_type
            'a-brownian'

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 4.
        """
        return cls(path="linear", gamma_type=gamma, a=a)

    @classmethod
    def trig(cls, gamma: str = "brownian", a: float | Array = 1.0) -> Interpolant:
        r"""The trigonometric path with $\alpha^2 + \beta^2 + \gamma^2 = 1$.

        $\alpha = \sqrt{1-\gamma^2}\cos\frac{\pi t}2$, $\beta =
        \sqrt{1-\gamma^2}\sin\frac{\pi t}2$, so for Gaussian $x_0$, $x_1$, $z$
        the interpolant keeps unit variance. Needs $\max_t \gamma < 1$.

        Args:
            gamma: the gamma kind (not ``"sinesquared"``).
            a: the scale of ``"a-brownian"`` ($a < 4$).

        Returns:
            An ``Interpolant`` with ``path="trig"``.

        Raises:
            ValueError: $\max_t\gamma \ge 1$, or see :class:`Interpolant`.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> al, _, be, _, ga, _ = Interpolant.trig().coeffs(0.3)
            >>> round(float(al**2 + be**2 + ga**2), 6)
            1.0

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 4.
        """
        return cls(path="trig", gamma_type=gamma, a=a)

    @classmethod
    def encoding_decoding(
        cls, gamma: str = "sinesquared", a: float | Array = 1.0
    ) -> Interpolant:
        r"""The encoding-decoding path through pure noise at $t = 1/2$.

        $\alpha = \cos^2(\pi t)$ for $t \le \frac12$ (else 0), $\beta =
        \cos^2(\pi t)$ for $t > \frac12$ (else 0): $x_0$ is encoded into
        $\gamma(\frac12) z$ and decoded into $x_1$. Both are $C^1$ in $t$.

        Args:
            gamma: the gamma kind (must be positive at $t = 1/2$).
            a: the scale of ``"a-brownian"``.

        Returns:
            An ``Interpolant`` with ``path="encoding-decoding"``.

        Raises:
            ValueError: see :class:`Interpolant`.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> al, _, be, _, ga, _ = Interpolant.encoding_decoding().coeffs(0.5)
            >>> round(float(al), 6), float(be), float(ga)   # pure noise at t = 1/2
            (0.0, 0.0, 1.0)

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 4.
        """
        return cls(path="encoding-decoding", gamma_type=gamma, a=a)

    @classmethod
    def mirror(cls, gamma: str = "brownian", a: float | Array = 1.0) -> Interpolant:
        r"""The mirror path $x_t = x_1 + \gamma(t) z$, from $\rho_1$ to itself.

        $\alpha = 0$, $\beta = 1$: pass $x_0 = x_1$ (its coefficient is zero).
        The velocity is $b = \dot\gamma\,\mathbb E[z \mid x_t] =
        -\gamma\dot\gamma\, s$, and $v = 0$. The official code writes the
        same path as $x_1 + \gamma x_0$ with a Gaussian $x_0$.

        Args:
            gamma: the gamma kind (not ``"zero"``).
            a: the scale of ``"a-brownian"``.

        Returns:
            An ``Interpolant`` with ``path="mirror"``.

        Raises:
            ValueError: ``gamma="zero"``, or see :class:`Interpolant`.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> [float(c) for c in Interpolant.mirror().coeffs(0.5)[:4]]
            [0.0, 0.0, 1.0, 0.0]

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 3.4.
        """
        return cls(path="mirror", gamma_type=gamma, a=a)

    @classmethod
    def one_sided_linear(cls) -> Interpolant:
        r"""The one-sided linear path $x_t = (1-t) x_0 + t x_1$, $x_0 \sim N(0, I)$.

        The Gaussian base is the latent (coefficient $\alpha = 1 - t$); there
        is no $z$. This is the path of rectified flow / flow matching.

        Returns:
            An ``Interpolant`` with ``path="one-sided-linear"``.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> Interpolant.one_sided_linear().is_one_sided
            True

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 3.3.
        """
        return cls(path="one-sided-linear", gamma_type="zero")

    @classmethod
    def one_sided_trig(cls) -> Interpolant:
        r"""The one-sided path $x_t = \cos(\frac{\pi t}2)x_0 + \sin(\frac{\pi t}2)x_1$.

        A variance-preserving path with a Gaussian base $x_0 \sim N(0, I)$ as
        the latent (coefficient $\alpha$).

        Returns:
            An ``Interpolant`` with ``path="one-sided-trig"``.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> al, _, be, _, _, _ = Interpolant.one_sided_trig().coeffs(0.5)
            >>> round(float(al**2 + be**2), 6)
            1.0

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 3.3.
        """
        return cls(path="one-sided-trig", gamma_type="zero")

    @classmethod
    def from_vp_schedule(cls, schedule: VPSchedule) -> Interpolant:
        r"""A VP diffusion as a one-sided interpolant, with time reversed.

        With diffusion time $\tau(t) = T(1 - t)$ ($T$ = ``schedule.T``),
        $x_t = \sigma_{\tau} x_0 + \alpha_{\tau} x_1$: $x_1$ is the data and
        $x_0 \sim N(0, I)$ the noise. Interpolant time $t$ runs from noise
        ($t = 0$, $\tau = T$) to data ($t = 1$, $\tau = 0$), so the PF-ODE of
        this interpolant from $t = 0$ to $1 - t_\varepsilon/T$ is the
        diffusion ODE that :func:`jaxmethods.diffusion.dpm_solver_sample`
        solves from $T$ to $t_\varepsilon$, and the interpolant score is the
        diffusion score, $s(x, t) = -\varepsilon(x, \tau)/\sigma_\tau$. The
        endpoint conditions hold only approximately at $t = 0$:
        $\alpha(0) = \sigma_T$, $\beta(0) = \alpha_T$ (0.99998 and 0.0066 for
        the linear schedule). $\alpha\dot\alpha = T\alpha_\tau^2\,
        \frac{d\log\alpha_\tau}{d\tau}$ is finite everywhere;
        $\dot\alpha$ is infinite at $t = 1$ (where $\sigma_0 = 0$).

        Args:
            schedule: a :class:`jaxmethods.diffusion.VPSchedule`.

        Returns:
            An ``Interpolant`` with ``path="vp"``.

        Raises:
            ValueError: ``schedule`` is not a ``VPSchedule``.

        Examples:
            >>> from jaxmethods.diffusion import VPSchedule
            >>> from jaxmethods.interpolants import Interpolant
            >>> interp = Interpolant.from_vp_schedule(VPSchedule.linear())
            >>> al, _, be, _, _, _ = interp.coeffs(0.0)
            >>> round(float(al), 5), round(float(be), 5)
            (0.99998, 0.00657)

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 5.

            Y. Song et al., "Score-Based Generative Modeling through Stochastic
            Differential Equations", ICLR 2021. arXiv:2011.13456.
        """
        return cls(path="vp", gamma_type="zero", schedule=schedule)

    # ------------------------------------------------------------ coefficients

    @property
    def is_one_sided(self) -> bool:
        """Whether the Gaussian latent is $x_0$ (one-sided) rather than $z$."""
        return self.path in ONE_SIDED

    def _vp(self, t: Array) -> tuple[Array, Array, Array, Array, Array]:
        """``(alpha, alpha_dot, beta, beta_dot, alpha * alpha_dot)`` of a VP path."""
        sch = self.schedule
        assert sch is not None
        big_t = jnp.asarray(sch.T).astype(t.dtype)
        tau = big_t * (1.0 - t)
        la, dla = jax.jvp(sch.log_alpha, (tau,), (jnp.ones_like(tau),))
        beta = jnp.exp(la)
        alpha = jnp.sqrt(-jnp.expm1(2.0 * la))
        beta_dot = -big_t * beta * dla
        aad = big_t * beta**2 * dla
        return alpha, aad / alpha, beta, beta_dot, aad

    def coeffs(
        self, t: Real[ArrayLike, "*shape"]
    ) -> tuple[
        Float[Array, "*shape"],
        Float[Array, "*shape"],
        Float[Array, "*shape"],
        Float[Array, "*shape"],
        Float[Array, "*shape"],
        Float[Array, "*shape"],
    ]:
        r"""The six path coefficients at ``t``.

        Returns $(\alpha, \dot\alpha, \beta, \dot\beta, \gamma,
        \gamma\dot\gamma)$. $\gamma\dot\gamma$ is computed analytically
        (e.g. $\frac12(1-2t)$ for the Brownian $\gamma$), so it is finite
        at $t \in \{0, 1\}$ where $\dot\gamma$ is not. One-sided paths
        return $\gamma = \gamma\dot\gamma = 0$. Differentiable in ``t``
        inside $(0, 1)$ and in ``a``.

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Six arrays of the shape and dtype of ``t``.

        Raises:
            ValueError: a concrete ``t`` outside $[0, 1]$.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> _, _, _, _, g, gg = Interpolant.linear().coeffs(0.0)
            >>> float(g), float(gg)
            (0.0, 0.5)

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 4.
        """
        t = as_float_array(t)
        v = concrete(t)
        if v is not None and not np.all((v >= 0.0) & (v <= 1.0)):
            raise ValueError(f"Interpolant.coeffs: t must lie in [0, 1], got {v}")
        return self._coeffs(t)

    def _coeffs(self, t: Array):
        g, _, gg = _gamma(self.gamma_type, self.a, t)
        one, zero = jnp.ones_like(t), jnp.zeros_like(t)
        p = self.path
        if p in ("linear", "one-sided-linear"):
            return 1.0 - t, -one, t, one, g, gg
        if p == "one-sided-trig":
            c, s = jnp.cos(0.5 * math.pi * t), jnp.sin(0.5 * math.pi * t)
            return c, -0.5 * math.pi * s, s, 0.5 * math.pi * c, g, gg
        if p == "trig":
            r = jnp.sqrt(1.0 - g**2)
            r_dot = -gg / r
            c, s = jnp.cos(0.5 * math.pi * t), jnp.sin(0.5 * math.pi * t)
            return (
                r * c,
                r_dot * c - 0.5 * math.pi * r * s,
                r * s,
                r_dot * s + 0.5 * math.pi * r * c,
                g,
                gg,
            )
        if p == "encoding-decoding":
            c2 = jnp.cos(math.pi * t) ** 2
            dc2 = -math.pi * jnp.sin(2.0 * math.pi * t)
            first = t <= 0.5
            return (
                jnp.where(first, c2, zero),
                jnp.where(first, dc2, zero),
                jnp.where(first, zero, c2),
                jnp.where(first, zero, dc2),
                g,
                gg,
            )
        if p == "mirror":
            return zero, zero, one, zero, g, gg
        alpha, alpha_dot, beta, beta_dot, _ = self._vp(t)
        return alpha, alpha_dot, beta, beta_dot, zero, zero

    def gamma_dot(self, t: Real[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""$\dot\gamma(t)$ (infinite at $t \in \{0, 1\}$ for the Brownian kinds).

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            $\dot\gamma$, same shape and dtype as ``t``.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> round(float(Interpolant.linear("bsquared").gamma_dot(0.25)), 4)
            0.5

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, section 4.
        """
        t = as_float_array(t)
        return _gamma(self.gamma_type, self.a, t)[1]

    def latent_coeffs(
        self, t: Real[ArrayLike, "*shape"]
    ) -> tuple[Float[Array, "*shape"], Float[Array, "*shape"], Float[Array, "*shape"]]:
        r"""$(\sigma, \dot\sigma, \sigma\dot\sigma)$ of the Gaussian latent.

        Every interpolant is $x_t = m_t + \sigma(t)\,\zeta$ with a standard
        Gaussian $\zeta$ independent of $m_t$: $\zeta = z$, $\sigma = \gamma$,
        $m_t = \alpha x_0 + \beta x_1$ for two-sided paths, and $\zeta = x_0$,
        $\sigma = \alpha$, $m_t = \beta x_1$ for one-sided ones. Then the score
        is $s = -\eta/\sigma$ with $\eta = \mathbb E[\zeta \mid x_t]$, and
        $b = v - \sigma\dot\sigma\, s$ with $v = \mathbb E[\dot m_t \mid x_t]$.
        $\sigma\dot\sigma$ is analytic (finite at the endpoints).

        Args:
            t: times in $[0, 1]$, any shape.

        Returns:
            Three arrays of the shape and dtype of ``t``.

        Examples:
            >>> from jaxmethods.interpolants import Interpolant
            >>> s, sd, ssd = Interpolant.one_sided_linear().latent_coeffs(0.25)
            >>> float(s), float(sd), float(ssd)
            (0.75, -1.0, -0.75)

        References:
            M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
            Interpolants", arXiv:2303.08797, 2023, sections 2.2 and 3.3.
        """
        t = as_float_array(t)
        return self._latent(t)

    def _latent(self, t: Array) -> tuple[Array, Array, Array]:
        if not self.is_one_sided:
            g, gd, gg = _gamma(self.gamma_type, self.a, t)
            return g, gd, gg
        if self.path == "vp":
            alpha, alpha_dot, _, _, aad = self._vp(t)
            return alpha, alpha_dot, aad
        alpha, alpha_dot = self._coeffs(t)[:2]
        return alpha, alpha_dot, alpha * alpha_dot


# ----------------------------------------------------------------- interpolate


def _time(fn: str, t, x: Array) -> Array:
    """``t`` checked to be in [0, 1] and a prefix of ``x.shape``, in ``x``'s dtype."""
    t = jnp.asarray(t)
    if not (
        jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: t must be real, got dtype {t.dtype}")
    t = t.astype(x.dtype)
    if t.ndim > x.ndim or t.shape != x.shape[: t.ndim]:
        raise ValueError(
            f"{fn}: t must be a scalar or have a leading part of the shape of x "
            f"{x.shape}, got {t.shape}"
        )
    return check_unit_interval(fn, "t", t)


def check_points(fn: str, interp, x0, x1, z) -> tuple[Array, Array, Array | None]:
    """``x0``, ``x1`` (and ``z`` if the path needs it) as float arrays of one shape."""
    if not isinstance(interp, Interpolant):
        raise TypeError(
            f"{fn}: interp must be an Interpolant, got {type(interp).__name__}"
        )
    x0 = check_float_array(fn, "x0", x0)
    x1 = check_float_array(fn, "x1", x1)
    if x0.shape != x1.shape:
        raise ValueError(
            f"{fn}: x0 and x1 must have the same shape, got {x0.shape} and {x1.shape}"
        )
    if x0.dtype != x1.dtype:
        raise TypeError(
            f"{fn}: x0 and x1 must have the same dtype, got {x0.dtype} and {x1.dtype}"
        )
    needs_z = not interp.is_one_sided and interp.gamma_type != "zero"
    if z is None:
        if needs_z:
            raise ValueError(
                f"{fn}: the two-sided path {interp.path!r} with gamma "
                f"{interp.gamma_type!r} needs z"
            )
        return x0, x1, None
    z = check_float_array(fn, "z", z)
    if z.shape != x0.shape or z.dtype != x0.dtype:
        raise ValueError(
            f"{fn}: z must have the shape and dtype of x0 {x0.shape} {x0.dtype}, "
            f"got {z.shape} {z.dtype}"
        )
    return x0, x1, z if needs_z else None


def interpolate(
    interp: Interpolant,
    t: Real[ArrayLike, "*tb"],
    x0: Float[ArrayLike, "*shape"],
    x1: Float[ArrayLike, "*shape"],
    z: Float[ArrayLike, "*shape"] | None = None,
) -> tuple[Float[Array, "*shape"], Float[Array, "*shape"]]:
    r"""The interpolant $x_t$ and its time derivative $\dot x_t$.

    $x_t = \alpha(t) x_0 + \beta(t) x_1 + \gamma(t) z$ and $\dot x_t =
    \dot\alpha x_0 + \dot\beta x_1 + \dot\gamma z$, the regression target of
    :func:`loss_b`. $\dot\gamma$ is infinite at $t \in \{0, 1\}$ for the
    Brownian gammas, so $\dot x_t$ is only finite inside $(0, 1)$ there.
    Differentiable in every argument; jit- and vmap-compatible.

    Args:
        interp: the interpolant.
        t: times in $[0, 1]$: a scalar, or an array whose shape is a leading
            part of the shape of ``x0`` (e.g. `(B,)` for `(B, D)` points).
        x0: base points, any shape.
        x1: target points, the shape and dtype of ``x0``.
        z: standard normal noise, the shape of ``x0``; ignored (may be
            ``None``) for one-sided paths and ``gamma="zero"``.

    Returns:
        ``(x_t, dx_t)``, each of the shape and dtype of ``x0``.

    Raises:
        TypeError: non-float points, different dtypes, or ``interp`` not an
            ``Interpolant``.
        ValueError: ``x0`` and ``x1`` (or ``z``) of different shapes, a
            missing ``z``, a ``t`` shape that does not lead ``x0``'s, or a
            concrete ``t`` outside $[0, 1]$ (a traced one raises at run time
            through ``eqx.error_if``).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, interpolate
        >>> xt, dxt = interpolate(Interpolant.one_sided_linear(), 0.25,
        ...                       jnp.array([1.0, -1.0]), jnp.array([2.0, 4.0]))
        >>> xt, dxt
        (Array([1.25, 0.25], dtype=float32), Array([1., 5.], dtype=float32))

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, definition 2.1.
    """
    fn = "interpolate"
    x0, x1, z = check_points(fn, interp, x0, x1, z)
    t = _time(fn, t, x0)
    alpha, alpha_dot, beta, beta_dot, gamma, _ = (
        bcast(c, x0) for c in interp._coeffs(t)
    )
    xt = alpha * x0 + beta * x1
    dxt = alpha_dot * x0 + beta_dot * x1
    if z is not None:
        gamma_dot = bcast(interp.gamma_dot(t), x0)
        xt = xt + gamma * z
        dxt = dxt + gamma_dot * z
    return xt, dxt


# ----------------------------------------------------------------- conversions


class _BFromVS(eqx.Module):
    """``b(x, t) = v(x, t) - sigma(t) sigma_dot(t) s(x, t)``."""

    v_fn: Model
    s_fn: Model
    interp: Interpolant

    def __call__(self, x: Array, t: Array) -> Array:
        x = jnp.asarray(x)
        t = jnp.asarray(t).astype(x.dtype)
        v = call_model("b_from_v_s", "v_fn", self.v_fn, x, t)
        s = call_model("b_from_v_s", "s_fn", self.s_fn, x, t)
        ssd = self.interp._latent(t)[2]
        return v - bcast(ssd, x) * s


class _SFromEta(eqx.Module):
    """``s(x, t) = -eta(x, t) / sigma(t)``."""

    eta_fn: Model
    interp: Interpolant

    def __call__(self, x: Array, t: Array) -> Array:
        x = jnp.asarray(x)
        t = jnp.asarray(t).astype(x.dtype)
        eta = call_model("s_from_eta", "eta_fn", self.eta_fn, x, t)
        sigma = self.interp._latent(t)[0]
        return -eta / bcast(sigma, x)


def b_from_v_s(v_fn: Model, s_fn: Model, interp: Interpolant) -> Model:
    r"""The velocity $b = v - \sigma\dot\sigma\, s$ from a $v$ and a score model.

    $\sigma\dot\sigma = \gamma\dot\gamma$ for two-sided paths and
    $\alpha\dot\alpha$ for one-sided ones (:meth:`Interpolant.latent_coeffs`),
    which follows from $b = v + \dot\sigma\,\mathbb E[\zeta \mid x_t]$ and
    $\mathbb E[\zeta \mid x_t] = -\sigma s$. The official code trains $v$ and
    $s$ and forms $b$ this way (its ``BFromVS``). For a one-sided path $v$ is
    the velocity of $\beta x_1$ alone (see :func:`loss_v`).

    Args:
        v_fn: ``v_fn(x, t)``, ``x`` of shape `(B, *event)` and ``t`` of shape
            `(B,)` (a scalar works too), returning the shape of ``x``.
        s_fn: the score model, same convention.
        interp: the interpolant both were trained on.

    Returns:
        An ``eqx.Module`` callable ``b(x, t)`` with the same convention; its
        arrays (those of ``v_fn`` and ``s_fn`` if they are modules) stay
        differentiable.

    Raises:
        TypeError: ``interp`` is not an ``Interpolant``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, b_from_v_s
        >>> b = b_from_v_s(lambda x, t: jnp.zeros_like(x), lambda x, t: -x,
        ...                Interpolant.linear())
        >>> b(jnp.ones((1, 2)), jnp.zeros(1))   # gamma gamma_dot (0) = 1/2
        Array([[0.5, 0.5]], dtype=float32)

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, theorem 2.6.
    """
    if not isinstance(interp, Interpolant):
        raise TypeError(
            f"b_from_v_s: interp must be an Interpolant, got {type(interp).__name__}"
        )
    return _BFromVS(v_fn, s_fn, interp)


def s_from_eta(eta_fn: Model, interp: Interpolant) -> Model:
    r"""The score $s = -\eta/\sigma$ from a denoiser $\eta = \mathbb E[\zeta \mid x_t]$.

    $\sigma = \gamma$ for two-sided paths and $\alpha$ for one-sided ones.
    Sign convention: the paper's, $\eta = +\mathbb E[z \mid x_t]$ (the
    minimiser of :func:`loss_eta`). The official code trains $-\eta$ (its
    loss is $\frac12|\hat\eta|^2 + z\cdot\hat\eta$) and uses $s =
    \hat\eta/\gamma$; negate such a model before passing it here. The result
    is infinite where $\sigma = 0$ ($t \in \{0, 1\}$ for two-sided paths).

    Args:
        eta_fn: ``eta_fn(x, t)``, ``x`` of shape `(B, *event)`, ``t`` of
            shape `(B,)`.
        interp: the interpolant it was trained on (not ``gamma="zero"``).

    Returns:
        An ``eqx.Module`` callable ``s(x, t)`` with the same convention.

    Raises:
        TypeError: ``interp`` is not an ``Interpolant``.
        ValueError: a two-sided path with ``gamma="zero"`` (no latent).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant, s_from_eta
        >>> s = s_from_eta(lambda x, t: x, Interpolant.one_sided_linear())
        >>> s(jnp.ones((1, 2)), jnp.array([0.5]))
        Array([[-2., -2.]], dtype=float32)

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023, section 2.2.
    """
    if not isinstance(interp, Interpolant):
        raise TypeError(
            f"s_from_eta: interp must be an Interpolant, got {type(interp).__name__}"
        )
    if not interp.is_one_sided and interp.gamma_type == "zero":
        raise ValueError(
            "s_from_eta: a two-sided path with gamma='zero' has no Gaussian latent"
        )
    return _SFromEta(eta_fn, interp)

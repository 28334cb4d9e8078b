r"""Analytic diffusion models: exact scores, noise predictions and ODE flows.

For data $x_0 \sim \sum_k w_k \mathcal N(\mu_k, s_k^2 I)$ and the VP forward
process $x_t = \alpha_t x_0 + \sigma_t z$, the noised marginal is again a
Gaussian mixture, $p_t(x) = \sum_k w_k \mathcal N(x; \alpha_t\mu_k,
(\alpha_t^2 s_k^2 + \sigma_t^2) I)$, so its score, the ideal noise prediction
$\varepsilon(x, t) = -\sigma_t \nabla_x \log p_t(x)$ and the posterior mean
$E[x_0 \mid x_t]$ are all exact. These stand in for a trained network when
testing diffusion samplers:

- [`GaussianMixture`][jaxmethods.testing.analytic.GaussianMixture]: the exact
  model, with ``noise_prediction(schedule)`` giving the ``eps_fn(x, t)`` the
  samplers consume;
- [`gaussian_flow_map`][jaxmethods.testing.analytic.gaussian_flow_map]: the
  closed-form probability-flow ODE flow for Gaussian data;
- [`pf_ode_reference`][jaxmethods.testing.analytic.pf_ode_reference]: the
  probability-flow ODE of any ``eps_fn`` solved with diffrax's Dopri8 at
  tight tolerances in float64;
- [`GaussianMixtureInterpolant`][jaxmethods.testing.analytic.GaussianMixtureInterpolant]
  and [`interpolant_flow_map`][jaxmethods.testing.analytic.interpolant_flow_map]:
  the exact density, velocity, score and denoiser of a Gaussian-mixture target
  under any stochastic interpolant (P18), and the exact flow for a Gaussian
  target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._internal.bits import default_float, x64_enabled
from ..diffusion._schedules import VPSchedule
from ..interpolants._core import Interpolant


__all__ = ["GaussianMixture", "pf_ode_reference", "gaussian_flow_map"]

_LOG_2PI = math.log(2.0 * math.pi)


def _floats(fn: str, *arrays) -> list[Array]:
    """Arrays in one floating dtype: theirs if they agree, else the default."""
    xs = [jnp.asarray(a) for a in arrays]
    dts = {x.dtype for x in xs if jnp.issubdtype(x.dtype, jnp.floating)}
    dt = dts.pop() if len(dts) == 1 else default_float()
    return [x.astype(dt) for x in xs]


class GaussianMixture(eqx.Module):
    r"""An isotropic Gaussian mixture with exact noised densities and scores.

    Data $x_0 \sim \sum_{k=1}^K w_k \mathcal N(\mu_k, s_k^2 I_D)$. For the
    VP forward process $x = \alpha x_0 + \sigma z$ the methods evaluate, at a
    single point $x \in \mathbb R^D$ (``vmap`` for batches),

    $$p(x) = \sum_k w_k \mathcal N\bigl(x; \alpha\mu_k, v_k I\bigr), \qquad
    v_k = \alpha^2 s_k^2 + \sigma^2,$$

    its score $\nabla_x \log p = -\sum_k r_k (x - \alpha\mu_k)/v_k$ with
    responsibilities $r_k \propto w_k \mathcal N(x; \alpha\mu_k, v_k I)$
    (computed with a log-sum-exp, so it is stable far from every component),
    the noise prediction $\varepsilon = -\sigma \nabla_x \log p$ and the
    posterior mean $E[x_0 \mid x] = \sum_k r_k \bigl(\mu_k + \alpha s_k^2
    (x - \alpha\mu_k)/v_k\bigr)$. With $\alpha = 1, \sigma = 0$ they describe the
    data distribution itself. All are differentiable in $x$ and in the
    mixture's parameters; each costs $O(KD)$.

    Args:
        weights: mixture weights $w_k > 0$ summing to one, shape `(K,)`.
        means: component means $\mu_k$, shape `(K, D)`.
        stds: component standard deviations $s_k > 0$, shape `(K,)`.

    Attributes:
        weights: shape `(K,)`.
        means: shape `(K, D)`.
        stds: shape `(K,)`.

    Raises:
        ValueError: inconsistent shapes.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.testing.analytic import GaussianMixture
        >>> gmm = GaussianMixture(jnp.array([1.0]), jnp.array([[1.0, -0.5]]),
        ...                       jnp.array([0.3]))
        >>> x = jnp.array([0.7, -1.3])
        >>> gmm.eps(x, jnp.array(0.6), jnp.array(0.8)).round(6)
        Array([ 0.118977, -1.189768], dtype=float32)

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li, J. Zhu, "DPM-Solver: A Fast ODE
        Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps",
        NeurIPS 2022. arXiv:2206.00927.
    """

    weights: Float[Array, " K"]
    means: Float[Array, "K D"]
    stds: Float[Array, " K"]

    def __init__(
        self,
        weights: Float[ArrayLike, " K"],
        means: Float[ArrayLike, "K D"],
        stds: Float[ArrayLike, " K"],
    ):
        fn = "GaussianMixture"
        w, m, s = _floats(fn, weights, means, stds)
        if m.ndim != 2:
            raise ValueError(f"{fn}: means must have shape (K, D), got {m.shape}")
        k = m.shape[0]
        if w.shape != (k,) or s.shape != (k,):
            raise ValueError(
                f"{fn}: weights and stds must have shape ({k},), got "
                f"{w.shape} and {s.shape}"
            )
        self.weights, self.means, self.stds = w, m, s

    def _parts(self, x, alpha, sigma):
        """Per-component log-terms, residuals and variances at one point."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.means.dtype)
        dt = x.dtype
        if x.shape != self.means.shape[1:]:
            raise ValueError(
                f"GaussianMixture: x must have shape {self.means.shape[1:]}, got "
                f"{x.shape} (vmap over batches)"
            )
        alpha = jnp.asarray(alpha).astype(dt)
        sigma = jnp.asarray(sigma).astype(dt)
        means, stds = self.means.astype(dt), self.stds.astype(dt)
        var = alpha**2 * stds**2 + sigma**2
        diff = x[None, :] - alpha * means
        sq = jnp.sum(diff**2, axis=-1)
        d = x.shape[0]
        logn = -0.5 * sq / var - 0.5 * d * (_LOG_2PI + jnp.log(var))
        logits = jnp.log(self.weights.astype(dt)) + logn
        return logits, diff, var, alpha, stds, means

    def logpdf(
        self, x: Float[ArrayLike, " D"], alpha: ArrayLike, sigma: ArrayLike
    ) -> Float[Array, ""]:
        r"""$\log p(x)$ of the noised marginal $x = \alpha x_0 + \sigma z$.

        Args:
            x: one point, shape `(D,)`.
            alpha: signal scale $\alpha \ge 0$ (scalar).
            sigma: noise scale $\sigma \ge 0$ (scalar); $\alpha = 1, \sigma = 0$
                gives the data density.

        Returns:
            The log-density, a scalar in the dtype of ``x``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        logits = self._parts(x, alpha, sigma)[0]
        return jax.nn.logsumexp(logits)

    def score(
        self, x: Float[ArrayLike, " D"], alpha: ArrayLike, sigma: ArrayLike
    ) -> Float[Array, " D"]:
        r"""Exact score $\nabla_x \log p(x)$ of the noised marginal.

        Args:
            x: one point, shape `(D,)`.
            alpha: signal scale (scalar).
            sigma: noise scale (scalar).

        Returns:
            The score, shape `(D,)`.

        References:
            Y. Song et al., "Score-Based Generative Modeling through Stochastic
            Differential Equations", ICLR 2021. arXiv:2011.13456.
        """
        logits, diff, var = self._parts(x, alpha, sigma)[:3]
        r = jax.nn.softmax(logits)
        return -jnp.sum((r / var)[:, None] * diff, axis=0)

    def eps(
        self, x: Float[ArrayLike, " D"], alpha: ArrayLike, sigma: ArrayLike
    ) -> Float[Array, " D"]:
        r"""Ideal noise prediction $\varepsilon(x) = -\sigma \nabla_x \log p(x)$.

        This is $E[z \mid x]$ for $x = \alpha x_0 + \sigma z$, the minimiser
        of the denoising loss a noise-prediction network is trained on.

        Args:
            x: one point, shape `(D,)`.
            alpha: signal scale (scalar).
            sigma: noise scale (scalar).

        Returns:
            The noise prediction, shape `(D,)`.

        References:
            J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic
            Models", NeurIPS 2020. arXiv:2006.11239.
        """
        sigma_ = jnp.asarray(sigma)
        s = self.score(x, alpha, sigma)
        return -sigma_.astype(s.dtype) * s

    def x0_mean(
        self, x: Float[ArrayLike, " D"], alpha: ArrayLike, sigma: ArrayLike
    ) -> Float[Array, " D"]:
        r"""Posterior mean $E[x_0 \mid x]$, the ideal data prediction.

        Equal to $(x + \sigma^2 \nabla_x \log p(x))/\alpha$ (Tweedie) for
        $\alpha > 0$, but computed per component, so it is also defined at
        $\alpha = 0$ (where it is the data mean).

        Args:
            x: one point, shape `(D,)`.
            alpha: signal scale (scalar).
            sigma: noise scale (scalar).

        Returns:
            The posterior mean, shape `(D,)`.

        References:
            C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li, J. Zhu, "DPM-Solver++: Fast
            Solver for Guided Sampling of Diffusion Probabilistic Models",
            arXiv:2211.01095, 2022.
        """
        logits, diff, var, alpha_, stds, means = self._parts(x, alpha, sigma)
        r = jax.nn.softmax(logits)
        comp = means + (alpha_ * stds**2 / var)[:, None] * diff
        return jnp.sum(r[:, None] * comp, axis=0)

    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "n D"]:
        r"""Draw ``n`` samples from the data distribution.

        Args:
            key: PRNG key.
            n: number of samples (static).

        Returns:
            Samples, shape `(n, D)`, in the mixture's dtype.

        Raises:
            ValueError: ``n`` is not a positive int.

        References:
            C. M. Bishop, "Pattern Recognition and Machine Learning",
            Springer 2006, section 9.2.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(
                f"GaussianMixture.sample: n must be an int >= 1, got {n!r}"
            )
        k_comp, k_noise = jr.split(key)
        dt = self.means.dtype
        comp = jr.categorical(k_comp, jnp.log(self.weights), shape=(n,))
        z = jr.normal(k_noise, (n, self.means.shape[1]), dt)
        return self.means[comp] + self.stds[comp][:, None] * z

    def noise_prediction(self, schedule: VPSchedule) -> GaussianMixtureEps:
        r"""The exact noise-prediction model ``eps_fn(x, t)`` under ``schedule``.

        Args:
            schedule: the VP schedule giving $\alpha_t$ and $\sigma_t$.

        Returns:
            A callable module ``eps_fn(x, t)`` for a batch ``x`` of shape
            `(B, D)` and a time ``t`` (scalar, or shape `(B,)`), returning
            $\varepsilon(x_b, t)$ for every row, shape `(B, D)`. It is an
            ``eqx.Module``, so it can be passed through ``jax.jit`` and
            ``eqx.filter_jit`` without retracing for new mixture values.

        Examples:
            >>> import jax.numpy as jnp
            >>> from jaxmethods.diffusion import VPSchedule
            >>> from jaxmethods.testing.analytic import GaussianMixture
            >>> gmm = GaussianMixture(jnp.array([0.5, 0.5]),
            ...                       jnp.array([[-2.0, 0.0], [2.0, 1.0]]),
            ...                       jnp.array([0.3, 0.5]))
            >>> eps_fn = gmm.noise_prediction(VPSchedule.linear())
            >>> eps_fn(jnp.zeros((4, 2)), jnp.array(0.5)).shape
            (4, 2)

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        return GaussianMixtureEps(self, schedule)


class GaussianMixtureEps(eqx.Module):
    r"""The exact noise prediction of a ``GaussianMixture`` under a VP schedule.

    Made by ``GaussianMixture.noise_prediction``. Calling it with ``(x, t)``,
    ``x`` of shape `(B, D)` and ``t`` a scalar or of shape `(B,)`, returns
    ``mixture.eps(x_b, alpha_t, sigma_t)`` for every row ``b``.

    Attributes:
        mixture: the data distribution.
        schedule: the noise schedule.

    References:
        C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
    """

    mixture: GaussianMixture
    schedule: VPSchedule

    def __call__(
        self, x: Float[ArrayLike, "B D"], t: Float[ArrayLike, "*B"]
    ) -> Float[Array, "B D"]:
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                f"GaussianMixtureEps: x must have shape (B, D), got {x.shape}"
            )
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(x.dtype)
        alpha, sigma = self.schedule.alpha(t), self.schedule.sigma(t)
        eps = self.mixture.eps
        if t.ndim == 0:
            return jax.vmap(eps, in_axes=(0, None, None))(x, alpha, sigma)
        if t.shape != x.shape[:1]:
            raise ValueError(
                f"GaussianMixtureEps: t must be a scalar or have shape "
                f"({x.shape[0]},), got {t.shape}"
            )
        return jax.vmap(eps)(x, alpha, sigma)


def gaussian_flow_map(
    mean: Float[ArrayLike, " D"],
    std: ArrayLike,
    schedule: VPSchedule,
    x_s: Float[ArrayLike, "*batch D"],
    s: ArrayLike,
    t: ArrayLike,
) -> Float[Array, "*batch D"]:
    r"""Exact probability-flow ODE flow map from time ``s`` to ``t``, Gaussian data.

    For data $\mathcal N(\mu, c^2 I)$ the noised marginal is
    $\mathcal N(\alpha_t\mu, (\alpha_t^2 c^2 + \sigma_t^2) I)$, the noise
    prediction is $\varepsilon(x, t) = \sigma_t (x - \alpha_t\mu)/(\alpha_t^2 c^2
    + \sigma_t^2)$, and the probability-flow ODE moves every point along

    $$x_t = \alpha_t\mu + \sqrt{\frac{\alpha_t^2 c^2 + \sigma_t^2}
    {\alpha_s^2 c^2 + \sigma_s^2}}\,(x_s - \alpha_s\mu),$$

    in either time direction. Differentiable in every argument.

    Args:
        mean: data mean $\mu$, shape `(D,)`.
        std: data standard deviation $c \ge 0$ (scalar).
        schedule: the VP schedule.
        x_s: points at time ``s``, shape `(*batch, D)`.
        s: start time (scalar).
        t: end time (scalar).

    Returns:
        The points at time ``t``, shape `(*batch, D)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule
        >>> from jaxmethods.testing.analytic import gaussian_flow_map
        >>> x0 = gaussian_flow_map(jnp.array([1.0, -0.5]), jnp.array(0.3),
        ...                        VPSchedule.linear(), jnp.array([0.7, -1.3]),
        ...                        jnp.array(1.0), jnp.array(1e-3))
        >>> x0.round(4)
        Array([ 1.2081, -0.8892], dtype=float32)

    References:
        C. Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic
        Model Sampling in Around 10 Steps", NeurIPS 2022. arXiv:2206.00927.
    """
    x_s = jnp.asarray(x_s)
    if not jnp.issubdtype(x_s.dtype, jnp.floating):
        x_s = x_s.astype(default_float())
    dt = x_s.dtype
    mean = jnp.asarray(mean).astype(dt)
    if x_s.ndim < 1 or mean.shape != x_s.shape[-1:]:
        raise ValueError(
            f"gaussian_flow_map: mean must have shape (D,) matching x_s {x_s.shape}, "
            f"got {mean.shape}"
        )
    c2 = jnp.asarray(std).astype(dt) ** 2
    s, t = jnp.asarray(s).astype(dt), jnp.asarray(t).astype(dt)
    a_s, a_t = schedule.alpha(s), schedule.alpha(t)
    v_s = a_s**2 * c2 + schedule.sigma(s) ** 2
    v_t = a_t**2 * c2 + schedule.sigma(t) ** 2
    mu = jnp.broadcast_to(mean, x_s.shape)
    return a_t * mu + jnp.sqrt(v_t / v_s) * (x_s - a_s * mu)


class _PFODELambdaField(eqx.Module):
    """The PF-ODE in lambda; the model and schedule come in ``args``.

    A module without fields, so diffrax's compiled solve is reused across
    calls with the same model and schedule structure (a fresh closure per
    call made every call recompile).
    """

    def __call__(self, lam, x, args):
        eps_fn, schedule = args
        t = schedule.inverse_lambda(lam)
        sigma2 = jax.nn.sigmoid(-2.0 * lam)
        eps = jnp.asarray(eps_fn(x, t)).astype(x.dtype)
        return sigma2 * x - jnp.sqrt(sigma2) * eps


def pf_ode_reference(
    eps_fn: Callable[[Array, Array], Array],
    schedule: VPSchedule,
    x_T: Float[ArrayLike, "B D"],
    t_start: float | ArrayLike | None = None,
    t_end: float | ArrayLike | None = None,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 1_000_000,
) -> Float[Array, "B D"]:
    r"""Reference solution of the probability-flow ODE (Dopri8, float64).

    Solves the diffusion ODE of a noise-prediction model in the half-log-SNR
    $\lambda$, the variable DPM-Solver works in,

    $$\frac{dx}{d\lambda} = \frac{d\log\alpha}{d\lambda}\, x - \sigma_\lambda\,
    \varepsilon\bigl(x, t(\lambda)\bigr), \qquad \frac{d\log\alpha}{d\lambda}
    = \sigma_\lambda^2 = \operatorname{sigmoid}(-2\lambda),$$

    from $\lambda_{t_\mathrm{start}}$ to $\lambda_{t_\mathrm{end}}$ with
    diffrax's 8th-order Dormand-Prince solver and a PID step-size controller
    at ``rtol``/``atol``. The whole batch is one ODE state, so every row
    shares the step sequence (the controller's error norm is an RMS over the
    batch). With the default tolerances this is exact to about 1e-13 on the
    analytic models of this module; it is meant as an oracle, not a sampler.
    It runs in float64 (``x_T`` is cast), and is differentiable (diffrax's
    default adjoint).

    Args:
        eps_fn: noise prediction ``eps_fn(x, t)``, ``x`` of shape `(B, D)` and
            ``t`` a scalar, returning shape `(B, D)`.
        schedule: the VP schedule.
        x_T: starting points at ``t_start``, shape `(B, D)`.
        t_start: start time (default ``schedule.T``).
        t_end: end time (default ``schedule.t_eps``); either direction works.
        rtol: relative tolerance of the step-size controller.
        atol: absolute tolerance of the step-size controller.
        max_steps: step budget; exceeding it raises.

    Returns:
        The solution at ``t_end``, shape `(B, D)`, float64.

    Raises:
        ValueError: ``x_T`` is not 2-D, or float64 is not enabled.

    Examples:
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule
        >>> from jaxmethods.testing.analytic import GaussianMixture, pf_ode_reference
        >>> sch = VPSchedule.linear()
        >>> gmm = GaussianMixture(jnp.array([1.0]), jnp.array([[1.0, -0.5]]),
        ...                       jnp.array([0.3]))
        >>> x0 = pf_ode_reference(gmm.noise_prediction(sch), sch,
        ...                       jnp.array([[0.7, -1.3]]), rtol=1e-8, atol=1e-8)
        >>> x0.round(6)
        Array([[ 1.208093, -0.889211]], dtype=float64)
        >>> jax.config.update("jax_enable_x64", False)

    References:
        C. Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic
        Model Sampling in Around 10 Steps", NeurIPS 2022. arXiv:2206.00927.

        P. Kidger, "On Neural Differential Equations", PhD thesis, University of
        Oxford, 2021. arXiv:2202.02435.
    """
    fn = "pf_ode_reference"
    if not x64_enabled():
        raise ValueError(
            f"{fn}: the reference solver runs in float64; enable it with "
            "jax.config.update('jax_enable_x64', True)"
        )
    x_T = jnp.asarray(x_T).astype(jnp.float64)
    if x_T.ndim != 2:
        raise ValueError(f"{fn}: x_T must have shape (B, D), got {x_T.shape}")
    t0 = schedule.T if t_start is None else t_start
    t1 = schedule.t_eps if t_end is None else t_end
    lam0 = schedule.lambda_(jnp.asarray(t0, dtype=jnp.float64))
    lam1 = schedule.lambda_(jnp.asarray(t1, dtype=jnp.float64))

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_PFODELambdaField()),
        diffrax.Dopri8(),
        t0=lam0,
        t1=lam1,
        dt0=None,
        y0=x_T,
        args=(eps_fn, schedule),
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return cast(Array, sol.ys)[-1]


# ---------------------------------------------------------------------------
# Stochastic interpolants (P18): exact fields of a Gaussian-mixture target.
# ---------------------------------------------------------------------------


__all__ += ["GaussianMixtureInterpolant", "interpolant_flow_map"]


class GaussianMixtureInterpolant(eqx.Module):
    r"""Exact interpolant fields for a Gaussian-mixture target and a Gaussian base.

    Target $x_1 \sim \sum_k w_k \mathcal N(\mu_k, c_k^2 I_D)$ (``mixture``),
    base $x_0 \sim \mathcal N(0, I_D)$ independent of $x_1$ (for a
    ``mirror`` path $\alpha = 0$, so the base is the mixture itself), and
    $z \sim \mathcal N(0, I_D)$. Given component $k$, the interpolant
    $x_t = \alpha x_0 + \beta x_1 + \gamma z$ is $\mathcal N(\beta\mu_k, V_k
    I)$ with $V_k = \alpha^2 + \beta^2 c_k^2 + \gamma^2$, so with the
    responsibilities $r_k \propto w_k\mathcal N(x; \beta\mu_k, V_k I)$
    (log-sum-exp stable):

    $$\rho_t(x) = \sum_k w_k \mathcal N(x; \beta\mu_k, V_k I), \qquad
    s = -\sum_k r_k \frac{x - \beta\mu_k}{V_k}, \qquad
    b = \sum_k r_k\Bigl[\dot\beta\mu_k + \frac{\dot V_k}{2V_k}(x - \beta\mu_k)
    \Bigr],$$

    with $\frac12\dot V_k = \alpha\dot\alpha + \beta\dot\beta c_k^2 +
    \gamma\dot\gamma$ (analytic: finite at $t \in \{0, 1\}$), and, with the
    latent coefficient $\sigma$ of
    :meth:`jaxmethods.interpolants.Interpolant.latent_coeffs`,
    $v = b + \sigma\dot\sigma\, s$ and $\eta = -\sigma s$. These are the
    exact minimisers of the losses of :mod:`jaxmethods.interpolants`.

    Every method takes ``x`` of shape `(*batch, D)` and ``t`` a scalar or of
    shape `(*batch)`, so ``field.b`` is a model ``b_fn(x, t)`` for
    :func:`jaxmethods.interpolants.pf_ode_sample` as it is. All are
    differentiable in ``x``, ``t`` (inside $(0, 1)$) and the mixture's
    parameters; each costs $O(KD)$ per point.

    Attributes:
        mixture: the target :class:`GaussianMixture`.
        interpolant: the :class:`jaxmethods.interpolants.Interpolant`.

    Raises:
        TypeError: ``interpolant`` is not an ``Interpolant`` or ``mixture``
            not a ``GaussianMixture``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant
        >>> from jaxmethods.testing.analytic import (GaussianMixture,
        ...     GaussianMixtureInterpolant)
        >>> gmm = GaussianMixture(jnp.array([0.2, 0.5, 0.3]),
        ...     jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
        ...     jnp.array([0.3, 0.5, 0.2]))
        >>> field = GaussianMixtureInterpolant(gmm, Interpolant.linear())
        >>> b = field.b(jnp.array([0.3, -0.2]), 0.0)   # E[x1] - x / 2
        >>> [round(float(v), 4) for v in b]
        [0.45, -0.15]

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants: A Unifying Framework for Flows and Diffusions",
        arXiv:2303.08797, 2023.
    """

    mixture: GaussianMixture
    interpolant: Interpolant

    def __check_init__(self):
        fn = "GaussianMixtureInterpolant"
        if not isinstance(self.mixture, GaussianMixture):
            raise TypeError(
                f"{fn}: mixture must be a GaussianMixture, got "
                f"{type(self.mixture).__name__}"
            )
        if not isinstance(self.interpolant, Interpolant):
            raise TypeError(
                f"{fn}: interpolant must be an Interpolant, got "
                f"{type(self.interpolant).__name__}"
            )

    def _point(self, x: Array, t: Array) -> dict[str, Array]:
        """Every field at one point ``x`` of shape `(D,)` and a scalar ``t``."""
        interp = self.interpolant
        alpha, alpha_dot, beta, beta_dot, gamma, gg = interp.coeffs(t)
        sig, _, ssd = interp.latent_coeffs(t)
        aad = ssd if interp.is_one_sided else alpha * alpha_dot
        dt = x.dtype
        means = self.mixture.means.astype(dt)
        c2 = self.mixture.stds.astype(dt) ** 2
        var = alpha**2 + beta**2 * c2 + gamma**2
        half_vdot = aad + beta * beta_dot * c2 + gg
        diff = x[None, :] - beta * means
        sq = jnp.sum(diff**2, axis=-1)
        d = x.shape[0]
        logn = -0.5 * sq / var - 0.5 * d * (_LOG_2PI + jnp.log(var))
        logits = jnp.log(self.mixture.weights.astype(dt)) + logn
        r = jax.nn.softmax(logits)
        s = -jnp.sum((r / var)[:, None] * diff, axis=0)
        b = jnp.sum(
            r[:, None] * (beta_dot * means + (half_vdot / var)[:, None] * diff), axis=0
        )
        return {
            "logpdf": jax.nn.logsumexp(logits),
            "s": s,
            "b": b,
            "v": b + ssd * s,
            "eta": -sig * s,
        }

    def _apply(self, name: str, x, t) -> Array:
        fn = f"GaussianMixtureInterpolant.{name}"
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.mixture.means.dtype)
        d = self.mixture.means.shape[1]
        if x.ndim < 1 or x.shape[-1] != d:
            raise ValueError(f"{fn}: x must have shape (*batch, {d}), got {x.shape}")
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(x.dtype)
        t = t.astype(x.dtype)
        batch = x.shape[:-1]
        if t.ndim and t.shape != batch:
            raise ValueError(
                f"{fn}: t must be a scalar or have the batch shape {batch}, got "
                f"{t.shape}"
            )
        return _interpolant_field(self, name, x, t)

    def logpdf(
        self, x: Float[ArrayLike, "*batch D"], t: Float[ArrayLike, "*tb"] | float
    ) -> Float[Array, "*batch"]:
        r"""$\log\rho_t(x)$, the exact log-density of the interpolant.

        Args:
            x: points, shape `(*batch, D)`.
            t: time in $[0, 1]$, a scalar or of shape `(*batch)`.

        Returns:
            Log-densities, shape `(*batch)`.

        References:
            M. S. Albergo et al., "Stochastic Interpolants", arXiv:2303.08797.
        """
        return self._apply("logpdf", x, t)

    def b(
        self, x: Float[ArrayLike, "*batch D"], t: Float[ArrayLike, "*tb"] | float
    ) -> Float[Array, "*batch D"]:
        r"""The velocity $b(t, x) = \mathbb E[\dot x_t \mid x_t = x]$.

        Args:
            x: points, shape `(*batch, D)`.
            t: time in $[0, 1]$, a scalar or of shape `(*batch)`.

        Returns:
            $b$, shape `(*batch, D)`.

        References:
            M. S. Albergo et al., "Stochastic Interpolants", arXiv:2303.08797.
        """
        return self._apply("b", x, t)

    def v(
        self, x: Float[ArrayLike, "*batch D"], t: Float[ArrayLike, "*tb"] | float
    ) -> Float[Array, "*batch D"]:
        r"""$v = b + \sigma\dot\sigma\,s$, the minimiser of ``loss_v``.

        Args:
            x: points, shape `(*batch, D)`.
            t: time in $[0, 1]$, a scalar or of shape `(*batch)`.

        Returns:
            $v$, shape `(*batch, D)`.

        References:
            M. S. Albergo et al., "Stochastic Interpolants", arXiv:2303.08797.
        """
        return self._apply("v", x, t)

    def s(
        self, x: Float[ArrayLike, "*batch D"], t: Float[ArrayLike, "*tb"] | float
    ) -> Float[Array, "*batch D"]:
        r"""The score $s(t, x) = \nabla_x\log\rho_t(x)$.

        Args:
            x: points, shape `(*batch, D)`.
            t: time in $[0, 1]$, a scalar or of shape `(*batch)`.

        Returns:
            $s$, shape `(*batch, D)`.

        References:
            M. S. Albergo et al., "Stochastic Interpolants", arXiv:2303.08797.
        """
        return self._apply("s", x, t)

    def eta(
        self, x: Float[ArrayLike, "*batch D"], t: Float[ArrayLike, "*tb"] | float
    ) -> Float[Array, "*batch D"]:
        r"""The denoiser $\eta = \mathbb E[\zeta \mid x_t = x] = -\sigma s$.

        Paper sign: $\zeta$ is $z$ (two-sided) or $x_0$ (one-sided).

        Args:
            x: points, shape `(*batch, D)`.
            t: time in $[0, 1]$, a scalar or of shape `(*batch)`.

        Returns:
            $\eta$, shape `(*batch, D)`.

        References:
            M. S. Albergo et al., "Stochastic Interpolants", arXiv:2303.08797.
        """
        return self._apply("eta", x, t)


@eqx.filter_jit
def _interpolant_field(
    field: GaussianMixtureInterpolant, name: str, x: Array, t: Array
) -> Array:
    """One field of ``field`` on a batch, as one compiled program (fast eagerly)."""
    d = x.shape[-1]
    batch = x.shape[:-1]
    tb = jnp.broadcast_to(t, batch).reshape(-1)
    out = jax.vmap(lambda xi, ti: field._point(xi, ti)[name])(x.reshape(-1, d), tb)
    return out.reshape(batch + out.shape[1:])


def interpolant_flow_map(
    mean: Float[ArrayLike, " D"],
    std: ArrayLike,
    interpolant: Interpolant,
    x_s: Float[ArrayLike, "*batch D"],
    s: ArrayLike,
    t: ArrayLike,
) -> Float[Array, "*batch D"]:
    r"""Exact PF-ODE flow map of an interpolant from ``s`` to ``t``, Gaussian target.

    For the target $\mathcal N(m, c^2 I)$ and the base $\mathcal N(0, I)$
    (independent), $\rho_t = \mathcal N(\beta_t m, V_t I)$ with $V_t =
    \alpha_t^2 + \beta_t^2 c^2 + \gamma_t^2$, the velocity $b = \dot\beta m +
    \frac{\dot V}{2V}(x - \beta m)$ is affine, and the ODE moves every point
    along

    $$X_t = \beta_t m + \sqrt{V_t / V_s}\,(X_s - \beta_s m)$$

    in either time direction. Differentiable in every argument.

    Args:
        mean: target mean $m$, shape `(D,)`.
        std: target standard deviation $c \ge 0$ (scalar).
        interpolant: the :class:`jaxmethods.interpolants.Interpolant`.
        x_s: points at time ``s``, shape `(*batch, D)`.
        s: start time in $[0, 1]$ (scalar).
        t: end time in $[0, 1]$ (scalar).

    Returns:
        The points at time ``t``, shape `(*batch, D)`.

    Raises:
        ValueError: ``mean`` does not match the last axis of ``x_s``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.interpolants import Interpolant
        >>> from jaxmethods.testing.analytic import interpolant_flow_map
        >>> x1 = interpolant_flow_map(jnp.array([1.0, -0.5]), 0.3,
        ...                           Interpolant.linear(), jnp.array([0.7, -1.3]),
        ...                           0.0, 1.0)
        >>> [round(float(v), 4) for v in x1]   # m + 0.3 x
        [1.21, -0.89]

    References:
        M. S. Albergo, N. M. Boffi, E. Vanden-Eijnden, "Stochastic
        Interpolants", arXiv:2303.08797, 2023.
    """
    x_s = jnp.asarray(x_s)
    if not jnp.issubdtype(x_s.dtype, jnp.floating):
        x_s = x_s.astype(default_float())
    dt = x_s.dtype
    mean = jnp.asarray(mean).astype(dt)
    if x_s.ndim < 1 or mean.shape != x_s.shape[-1:]:
        raise ValueError(
            f"interpolant_flow_map: mean must have shape (D,) matching x_s "
            f"{x_s.shape}, got {mean.shape}"
        )
    c2 = jnp.asarray(std).astype(dt) ** 2

    def beta_var(u):
        alpha, _, beta, _, gamma, _ = interpolant.coeffs(jnp.asarray(u).astype(dt))
        return beta, alpha**2 + beta**2 * c2 + gamma**2

    b_s, v_s = beta_var(s)
    b_t, v_t = beta_var(t)
    mu = jnp.broadcast_to(mean, x_s.shape)
    return b_t * mu + jnp.sqrt(v_t / v_s) * (x_s - b_s * mu)

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
  tight tolerances in float64.
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

    def vector_field(lam, x, args):
        t = schedule.inverse_lambda(lam)
        sigma2 = jax.nn.sigmoid(-2.0 * lam)
        eps = jnp.asarray(eps_fn(x, t)).astype(x.dtype)
        return sigma2 * x - jnp.sqrt(sigma2) * eps

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        diffrax.Dopri8(),
        t0=lam0,
        t1=lam1,
        dt0=None,
        y0=x_T,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return cast(Array, sol.ys)[-1]

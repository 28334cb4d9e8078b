"""Model wrappers: any parameterization to noise prediction, guidance, thresholding."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._schedules import VPSchedule


PARAMETERIZATIONS = ("noise", "x_start", "v", "score")


def as_noise_prediction(
    model: Callable[[Array, Array], Array],
    schedule: VPSchedule,
    parameterization: str = "noise",
    *,
    time_input: str = "model",
) -> Callable[[Array, Array], Array]:
    r"""Turn a diffusion model of any parameterization into ``eps_fn(x, t)``.

    With $x_t = \alpha_t x_0 + \sigma_t \epsilon$: ``"noise"`` returns the
    model output; ``"x_start"`` maps $\hat x_0 \mapsto (x - \alpha_t \hat x_0)
    / \sigma_t$; ``"v"`` maps $\hat v \mapsto \alpha_t \hat v + \sigma_t x$;
    ``"score"`` maps $\hat s \mapsto -\sigma_t \hat s$. The model is called as
    ``model(x, schedule.model_time(t))`` (``time_input="model"``: e.g.
    ``1000 (t - 1/N)`` for discrete-time DDPM networks) or with the
    continuous ``t`` (``time_input="continuous"``).

    Args:
        model: ``model(x, time) -> output`` on a batch ``x``.
        schedule: the :class:`VPSchedule`.
        parameterization: ``"noise"``, ``"x_start"``, ``"v"`` or ``"score"``.
        time_input: ``"model"`` or ``"continuous"``.

    Returns:
        ``eps_fn(x, t)`` for :func:`dpm_solver_sample`.

    Raises:
        ValueError: on an unknown parameterization or time input.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule, as_noise_prediction
        >>> sch = VPSchedule.linear()
        >>> x0_model = lambda x, t: jnp.zeros_like(x)  # predicts x_0 = 0
        >>> eps_fn = as_noise_prediction(x0_model, sch, "x_start")
        >>> t = jnp.asarray(0.5)
        >>> bool(jnp.allclose(eps_fn(jnp.ones(2), t), 1.0 / sch.sigma(t)))
        True

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li and J. Zhu, "DPM-Solver++: Fast
        solver for guided sampling of diffusion probabilistic models",
        arXiv:2211.01095, 2022.
    """
    fn = "as_noise_prediction"
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"{fn}: unknown parameterization {parameterization!r}; expected one of "
            + ", ".join(repr(p) for p in PARAMETERIZATIONS)
        )
    if time_input not in ("model", "continuous"):
        raise ValueError(
            f"{fn}: time_input must be 'model' or 'continuous', got {time_input!r}"
        )

    def eps_fn(x, t):
        t_in = schedule.model_time(t) if time_input == "model" else t
        out = model(x, t_in)
        alpha, sigma = schedule.alpha(t), schedule.sigma(t)
        if parameterization == "noise":
            return out
        if parameterization == "x_start":
            return (x - alpha * out) / sigma
        if parameterization == "v":
            return alpha * out + sigma * x
        return -sigma * out

    return eps_fn


def classifier_free_guidance(
    eps_cond: Callable[[Array, Array], Array],
    eps_uncond: Callable[[Array, Array], Array],
    scale: float | Array,
) -> Callable[[Array, Array], Array]:
    r"""Classifier-free guidance.

    $\tilde\epsilon = \epsilon_u + w(\epsilon_c - \epsilon_u)$.

    Args:
        eps_cond: conditional noise prediction ``eps_cond(x, t)``.
        eps_uncond: unconditional noise prediction ``eps_uncond(x, t)``.
        scale: guidance scale $w$ (1 gives the conditional model; it may be
            a traced array, so it can be differentiated or vmapped).

    Returns:
        The guided ``eps_fn(x, t)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import classifier_free_guidance
        >>> f = classifier_free_guidance(lambda x, t: x, lambda x, t: 0 * x, 3.0)
        >>> f(jnp.ones(2), jnp.asarray(0.5))
        Array([3., 3.], dtype=float32)

    References:
        J. Ho and T. Salimans, "Classifier-free diffusion guidance",
        arXiv:2207.12598, 2022.
    """

    def eps_fn(x, t):
        u = eps_uncond(x, t)
        return u + scale * (eps_cond(x, t) - u)

    return eps_fn


def classifier_guidance(
    eps_fn: Callable[[Array, Array], Array],
    log_prob_fn: Callable[[Array, Array], Array],
    schedule: VPSchedule,
    scale: float | Array,
) -> Callable[[Array, Array], Array]:
    r"""Classifier guidance.

    $\tilde\epsilon = \epsilon - w \sigma_t \nabla_x \log p(c \mid x_t)$.

    Args:
        eps_fn: the noise prediction ``eps_fn(x, t)``.
        log_prob_fn: ``log_prob_fn(x, t)`` returning the classifier's
            log-probability of the target class for each sample of the batch
            (shape ``(B,)``) or a scalar; its gradient with respect to ``x``
            is taken with ``jax.grad`` of the sum.
        schedule: the :class:`VPSchedule`.
        scale: guidance scale $w$.

    Returns:
        The guided ``eps_fn(x, t)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import VPSchedule, classifier_guidance
        >>> sch = VPSchedule.linear()
        >>> lp = lambda x, t: -0.5 * jnp.sum(x**2, axis=-1)  # grad = -x
        >>> f = classifier_guidance(lambda x, t: 0 * x, lp, sch, 1.0)
        >>> t = jnp.asarray(0.5)
        >>> bool(jnp.allclose(f(jnp.ones((1, 2)), t), sch.sigma(t)))
        True

    References:
        P. Dhariwal and A. Nichol, "Diffusion models beat GANs on image
        synthesis", *NeurIPS* 2021.
    """

    def eps_guided(x, t):
        g = jax.grad(lambda z: jnp.sum(log_prob_fn(z, t)))(x)
        return eps_fn(x, t) - scale * schedule.sigma(t) * g

    return eps_guided


def dynamic_thresholding(
    ratio: float = 0.995, max_val: float = 1.0
) -> Callable[[Array, Array], Array]:
    r"""Imagen's dynamic thresholding of data predictions (``correcting_x0_fn``).

    Per sample: $s = \max(\mathrm{quantile}_{p}(|\hat x_0|), m)$, then
    $\hat x_0 \leftarrow \mathrm{clip}(\hat x_0, -s, s) / s$, with $p$ =
    ``ratio`` and $m$ = ``max_val``. The leading axis of ``x0`` is the batch.

    Args:
        ratio: the quantile $p$ in (0, 1].
        max_val: the floor $m > 0$ of the threshold.

    Returns:
        ``correcting_x0_fn(x0, t) -> x0`` for :func:`dpm_solver_sample`.

    Raises:
        ValueError: if ``ratio`` is not in (0, 1] or ``max_val <= 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.diffusion import dynamic_thresholding
        >>> f = dynamic_thresholding(ratio=1.0, max_val=1.0)
        >>> f(jnp.array([[4.0, -2.0]]), jnp.asarray(0.1))
        Array([[ 1. , -0.5]], dtype=float32)

    References:
        C. Saharia et al., "Photorealistic text-to-image diffusion models with
        deep language understanding", *NeurIPS* 2022. arXiv:2205.11487.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"dynamic_thresholding: ratio must be in (0, 1], got {ratio}")
    if not max_val > 0.0:
        raise ValueError(f"dynamic_thresholding: max_val must be > 0, got {max_val}")

    def correct(x0, t):
        flat = jnp.abs(x0).reshape(x0.shape[0], -1)
        s = jnp.quantile(flat, ratio, axis=1)
        s = jnp.maximum(s, max_val).reshape((-1,) + (1,) * (x0.ndim - 1))
        return jnp.clip(x0, -s, s) / s

    return correct

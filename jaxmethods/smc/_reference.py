"""The seed-free reference linear-Gaussian model (research notes, smc §1.3)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._lgssm import LGSSMParams, LinearGaussianSSM


_T = 100
_RHO = 0.9
_SIGMA_X = 1.0
_SIGMA_Y = 0.5


def _weyl(c: float, k: np.ndarray) -> np.ndarray:
    """``frac(0.5 + k c)`` in float64."""
    return np.mod(0.5 + k * c, 1.0)


def _box_muller(c_radius: float, c_angle: float, k: np.ndarray) -> np.ndarray:
    """``sqrt(-2 log u) cos(2 pi v)``, ``u`` and ``v`` the Weyl sequences of the two."""
    u = _weyl(c_radius, k)
    v = _weyl(c_angle, k)
    return np.sqrt(-2.0 * np.log(u)) * np.cos(2.0 * np.pi * v)


def reference_noises(num_steps: int = _T) -> tuple[np.ndarray, np.ndarray]:
    r"""The deterministic standard-normal noises of the reference model (float64).

    For $k = 0, 1, \dots$ let $w_c(k) = \operatorname{frac}(0.5 + k c)$. The
    state noise is $U_k = \sqrt{-2 \log w_{c_1}(k)} \cos(2\pi w_{c_2}(k))$ with
    $c_1 = \operatorname{frac}(\varphi)$ (golden ratio) and
    $c_2 = \operatorname{frac}(\sqrt 2)$; the observation noise $V_k$ is the
    same with $c_1 = \operatorname{frac}(\sqrt 3)$ and
    $c_2 = \operatorname{frac}(\sqrt 5)$.

    Args:
        num_steps: how many of each (default 100).

    Returns:
        ``(u, v)``: float64 NumPy arrays of shape `(num_steps,)`.
    """
    k = np.arange(num_steps, dtype=np.float64)
    golden = (1.0 + math.sqrt(5.0)) / 2.0
    u = _box_muller(golden % 1.0, math.sqrt(2.0) % 1.0, k)
    v = _box_muller(math.sqrt(3.0) % 1.0, math.sqrt(5.0) % 1.0, k)
    return u, v


def reference_parametrization(params: dict) -> LGSSMParams:
    r"""Map ``{"rho", "log_sigma_x", "log_sigma_y"}`` to the scalar-state LGSSM.

    $X_0 \sim \mathcal N(0, 1)$, $X_t = \rho X_{t-1} + \sigma_x U_t$,
    $Y_t = X_t + \sigma_y V_t$ with $\sigma_x = e^{\text{log\_sigma\_x}}$ and
    $\sigma_y = e^{\text{log\_sigma\_y}}$.

    Args:
        params: a dict with scalar entries ``rho``, ``log_sigma_x``, ``log_sigma_y``.

    Returns:
        The :class:`LGSSMParams` (all matrices `(1, 1)`).
    """
    rho = jnp.asarray(params["rho"])
    lsx = jnp.asarray(params["log_sigma_x"])
    lsy = jnp.asarray(params["log_sigma_y"])
    one = jnp.ones((1, 1), jnp.result_type(rho, lsx, lsy))
    return LGSSMParams(
        m0=jnp.zeros((1,), one.dtype),
        P0=one,
        A=rho * one,
        Q=jnp.exp(2.0 * lsx) * one,
        C=one,
        R=jnp.exp(2.0 * lsy) * one,
    )


def reference_lgssm() -> tuple[LinearGaussianSSM, dict, Float[Array, "100 1"]]:
    r"""The seed-free reference model and data of the SMC oracles.

    $T = 100$, $X_0 = U_0$, $X_t = 0.9 X_{t-1} + U_t$ and $Y_t = X_t + 0.5 V_t$,
    with the deterministic noises of :func:`reference_noises` ($U_k$, $V_k$ at
    $k = t$). The data are computed in float64 NumPy, so any implementation
    regenerates them bit for bit, and then converted to a JAX array (float32
    without ``jax_enable_x64``). Parameters are
    ``{"rho": 0.9, "log_sigma_x": 0.0, "log_sigma_y": log 0.5}``, mapped by
    :func:`reference_parametrization` ($\sigma_0 = 1$ fixed), so scores with
    respect to $(\rho, \log\sigma_x, \log\sigma_y)$ are ``jax.grad`` of
    ``model.log_likelihood``.

    Returns:
        ``(model, params, ys)`` with ``ys`` of shape `(100, 1)`.

    Examples:
        >>> from jaxmethods.smc import reference_lgssm
        >>> model, params, ys = reference_lgssm()
        >>> print(f"{float(ys[0, 0]):.4f}")
        -1.7661

    References:
        G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines, J. Olsson,
        "State and parameter learning with PaRIS particle Gibbs", ICML 2023,
        arXiv:2301.00900 (the linear-Gaussian experiment).
    """
    u, v = reference_noises(_T)
    x = np.empty(_T, dtype=np.float64)
    x[0] = u[0]
    for t in range(1, _T):
        x[t] = _RHO * x[t - 1] + _SIGMA_X * u[t]
    y = x + _SIGMA_Y * v
    model = LinearGaussianSSM(parametrization=reference_parametrization)
    params = {
        "rho": jnp.asarray(np.float64(_RHO)),
        "log_sigma_x": jnp.asarray(np.float64(math.log(_SIGMA_X))),
        "log_sigma_y": jnp.asarray(np.float64(math.log(_SIGMA_Y))),
    }
    return model, params, jnp.asarray(y[:, None])

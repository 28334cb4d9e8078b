r"""Sampling time grids and per-step unmasking probabilities.

The reverse (unmasking) process of absorbing diffusion runs on a decreasing
grid $1 \ge t_0 > t_1 > \dots > t_N \ge 0$. From $t_k$ to $t_{k+1}$ every
still-masked token is revealed independently with probability

$$p_k = \frac{\alpha(t_{k+1}) - \alpha(t_k)}{1 - \alpha(t_k)},$$

the Tweedie/ancestral rate of MD4, MDLM and RADD. The last step reveals every
remaining token ($p_{N-1} = 1$), as RADD and MD4 force it. Because these
probabilities do not depend on token values, every token's reveal step can be
drawn in advance, which is what makes the RADD caching sampler exact.
"""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
from jax.typing import DTypeLike
from jaxtyping import Array, Float

from .._internal.bits import check_float_dtype
from ._schedules import MaskingSchedule


GridKind = Literal["uniform", "cosine"]
_GRIDS = ("uniform", "cosine")


def time_grid(
    num_steps: int,
    *,
    kind: GridKind = "uniform",
    t_start: float = 1.0,
    t_end: float = 0.0,
    dtype: DTypeLike | None = None,
) -> Float[Array, " n"]:
    r"""A decreasing sampling grid $t_0 = t_\text{start} > \dots > t_N = t_\text{end}$.

    ``"uniform"`` spaces the times evenly (``linspace(t_start, t_end, N+1)``,
    the grid of MD4, MDLM and RADD). ``"cosine"`` uses
    $t_k = t_\text{end} + (t_\text{start} - t_\text{end})\cos(\tfrac{\pi}{2}\,k/N)$:
    with the linear schedule the expected fraction still masked after step $k$
    is then MaskGIT's $\cos(\tfrac{\pi}{2} k/N)$, so few tokens are revealed
    early and many late. The official code ends at $t = 10^{-5}$; here the
    default is $0$, which changes nothing when the last step is forced, and
    makes the grid exactly $k/N$.

    Args:
        num_steps: number of steps $N \ge 1$ (static).
        kind: ``"uniform"`` or ``"cosine"``.
        t_start: first time, in $(0, 1]$.
        t_end: last time, in $[0, t_\text{start})$.
        dtype: float dtype of the grid; default the default float.

    Returns:
        The $N + 1$ grid times, decreasing.

    Raises:
        ValueError: ``num_steps < 1``, an unknown ``kind`` or bad end points.

    Examples:
        >>> from jaxmethods.discrete import time_grid
        >>> print(time_grid(4).tolist())
        [1.0, 0.75, 0.5, 0.25, 0.0]

    References:
        Shi et al., "Simplified and Generalized Masked Diffusion for Discrete
        Data", NeurIPS 2024 (arXiv:2406.04329); Chang et al., "MaskGIT:
        Masked Generative Image Transformer", CVPR 2022 (arXiv:2202.04200).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"time_grid: num_steps must be an int >= 1, got {num_steps!r}")
    if kind not in _GRIDS:
        raise ValueError(f"time_grid: kind must be one of {_GRIDS}, got {kind!r}")
    t_start, t_end = float(t_start), float(t_end)
    if not (0.0 <= t_end < t_start <= 1.0):
        raise ValueError(
            f"time_grid: need 0 <= t_end < t_start <= 1, got t_start={t_start}, "
            f"t_end={t_end}"
        )
    dtype = check_float_dtype("time_grid", dtype)
    k = jnp.arange(num_steps + 1, dtype=dtype) / num_steps
    if kind == "uniform":
        frac = 1 - k
    else:
        frac = jnp.cos((math.pi / 2) * k)
        frac = frac.at[-1].set(0.0)
    return t_end + (t_start - t_end) * frac


def unmask_probabilities(
    schedule: MaskingSchedule,
    times: Float[Array, " n"],
    *,
    method: Literal["tweedie", "euler"] = "tweedie",
) -> Float[Array, " n-1"]:
    r"""Per-step reveal probabilities $p_k$ on a decreasing grid, last one forced to 1.

    ``"tweedie"`` (exact, the default): $p_k = (\alpha(t_{k+1}) -
    \alpha(t_k)) / (1 - \alpha(t_k))$, with the numerator computed as
    $(1-\alpha(t_k)) - (1-\alpha(t_{k+1}))$ from the accurate masking
    probabilities. ``"euler"`` (RADD's first-order rate):
    $p_k = \min(1, (t_k - t_{k+1})\,\sigma'(t_k)/(e^{\sigma(t_k)} - 1))$.
    Both agree for the linear schedule on a uniform grid. In both,
    $p_{N-1} = 1$.

    Args:
        schedule: the masking schedule.
        times: a decreasing grid of $N + 1 \ge 2$ times, e.g. from
            [`time_grid`][jaxmethods.discrete.time_grid].
        method: ``"tweedie"`` or ``"euler"``.

    Returns:
        The $N$ reveal probabilities, in ``times``' dtype.

    Raises:
        ValueError: ``times`` is not 1-D with at least two entries.

    Examples:
        >>> from jaxmethods.discrete import LinearSchedule, time_grid
        >>> from jaxmethods.discrete import unmask_probabilities
        >>> p = unmask_probabilities(LinearSchedule(), time_grid(4))
        >>> print([round(float(v), 4) for v in p])
        [0.25, 0.3333, 0.5, 1.0]

    References:
        Shi et al., "Simplified and Generalized Masked Diffusion for Discrete
        Data", NeurIPS 2024. arXiv:2406.04329.
    """
    times = jnp.asarray(times)
    if times.ndim != 1 or times.shape[0] < 2:
        raise ValueError(
            "unmask_probabilities: times must be 1-D with >= 2 entries, got "
            f"{times.shape}"
        )
    if method == "tweedie":
        m = schedule.mask_prob(times)
        p = (m[:-1] - m[1:]) / m[:-1]
    elif method == "euler":
        t = times[:-1]
        p = jnp.minimum((t - times[1:]) * schedule.weight(t), 1.0)
    else:
        raise ValueError(
            f"unmask_probabilities: method must be 'tweedie' or 'euler', got {method!r}"
        )
    return p.at[-1].set(1.0)

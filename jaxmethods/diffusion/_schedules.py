r"""Variance-preserving noise schedules and sampling time grids (DPM-Solver, P06).

A VP schedule gives $q(x_t \mid x_0) = \mathcal N(\alpha_t x_0, \sigma_t^2 I)$
with $\alpha_t^2 + \sigma_t^2 = 1$, and the half-log-SNR
$\lambda_t = \log\alpha_t - \log\sigma_t$, strictly decreasing in $t$. The
three kinds are those of the official ``NoiseScheduleVP`` (LuChengTHU/dpm-solver):
``linear`` (ScoreSDE's continuous VP), ``cosine`` (improved DDPM, continuous)
and ``discrete`` (DDPM betas or ``alphas_cumprod``, interpolated piecewise
linearly in $t$). Every quantity is computed from $\log\alpha_t$ with
``expm1``/``log1p``/``logaddexp`` so that it stays accurate as $t \to 0$.
"""

from __future__ import annotations

import math
from typing import cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._internal.bits import as_float_array as _as_float, default_float


_KINDS = ("linear", "cosine", "discrete")
_STEP_KINDS = ("logSNR", "time_uniform", "time_quadratic", "karras")


def _interp(x: Array, xp: Array, yp: Array) -> Array:
    """Piecewise-linear interpolation with linear extrapolation at both ends.

    ``xp`` must be increasing with at least two points. Outside ``[xp[0],
    xp[-1]]`` the first or last segment is extended, as the official
    ``interpolate_fn`` does (``jnp.interp`` would clamp instead).
    """
    k = xp.shape[0]
    idx = jnp.clip(jnp.searchsorted(xp, x, side="right") - 1, 0, k - 2)
    x0, x1 = xp[idx], xp[idx + 1]
    y0, y1 = yp[idx], yp[idx + 1]
    return y0 + (x - x0) * ((y1 - y0) / (x1 - x0))


def _static_float(x) -> float | None:
    """``float(x)`` for a concrete scalar, ``None`` for a traced one."""
    try:
        return float(x)
    except jax.errors.ConcretizationTypeError:
        return None


class VPSchedule(eqx.Module):
    r"""A variance-preserving noise schedule $(\alpha_t, \sigma_t, \lambda_t)$.

    Build one with [`VPSchedule.linear`][jaxmethods.diffusion.VPSchedule.linear],
    [`VPSchedule.cosine`][jaxmethods.diffusion.VPSchedule.cosine] or
    [`VPSchedule.discrete`][jaxmethods.diffusion.VPSchedule.discrete]. All
    methods are pure and elementwise: they broadcast over ``t`` of any shape and
    return the dtype of ``t`` (integers are promoted to the default float).
    They are derived from $\log\alpha_t$ as

    $$\sigma_t = \sqrt{-\operatorname{expm1}(2\log\alpha_t)}, \qquad
    \lambda_t = \log\alpha_t
    - \tfrac12 \log\bigl(-\operatorname{expm1}(2\log\alpha_t)\bigr),$$

    which keeps full relative accuracy as $t \to 0$ (the naive
    $\sqrt{1 - \alpha_t^2}$ cancels there). The inverse $t(\lambda)$ is in closed
    form for the continuous kinds and interpolated for ``discrete``.

    Attributes:
        kind: ``"linear"``, ``"cosine"`` or ``"discrete"`` (static).
        T: end time of the forward process, the default start of sampling
            (1 for ``linear``; 0.9946 by default for ``cosine``; for
            ``discrete``, $N'/N$ where $N'$ points survive ``clip_lambda``).
        t_eps: default end of sampling, $1/N$ (1e-3 for the continuous kinds).
        total_N: number of discrete training steps $N$ (static; 1000 for the
            continuous kinds). Discrete model times use it (see ``model_time``).
        beta_0: $\beta_{\min}$ of ``linear`` (else ``None``).
        beta_1: $\beta_{\max}$ of ``linear`` (else ``None``).
        s: offset $s$ of ``cosine`` (else ``None``).
        t_array: ``discrete`` only: knot times $t_n = (n+1)/N$, shape `(N',)`.
        log_alpha_array: ``discrete`` only: $\log\alpha_{t_n}$, shape `(N',)`.

    Examples:
        >>> import jax.numpy as jnp, jaxmethods as jm
        >>> sch = jm.diffusion.VPSchedule.linear()
        >>> t = jnp.array([1e-3, 0.5, 1.0])
        >>> lam = sch.lambda_(t)
        >>> bool(jnp.allclose(sch.inverse_lambda(lam), t, rtol=1e-5))
        True

    References:
        C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li, J. Zhu, "DPM-Solver: A Fast ODE
        Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps",
        NeurIPS 2022. arXiv:2206.00927.

        Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole,
        "Score-Based Generative Modeling through Stochastic Differential
        Equations", ICLR 2021. arXiv:2011.13456.

        A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic
        Models", ICML 2021. arXiv:2102.09672.
    """

    kind: str = eqx.field(static=True)
    T: float
    t_eps: float
    total_N: int = eqx.field(static=True)
    beta_0: float | None = None
    beta_1: float | None = None
    s: float | None = None
    t_array: Float[Array, " N"] | None = None
    log_alpha_array: Float[Array, " N"] | None = None

    def __check_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(
                f"VPSchedule: unknown kind {self.kind!r}; expected one of "
                f"{', '.join(_KINDS)}"
            )

    # ------------------------------------------------------------------
    # Constructors.
    # ------------------------------------------------------------------

    @classmethod
    def linear(cls, beta_0: float = 0.1, beta_1: float = 20.0) -> VPSchedule:
        r"""The continuous linear VP schedule of ScoreSDE.

        $\log\alpha_t = -\tfrac14 t^2 (\beta_1 - \beta_0) - \tfrac12 t \beta_0$
        on $t \in (0, 1]$, with $T = 1$ and ``t_eps`` = 1e-3.

        Args:
            beta_0: $\beta_{\min} > 0$.
            beta_1: $\beta_{\max} > \beta_{\min}$.

        Returns:
            A ``VPSchedule`` of kind ``"linear"``.

        Raises:
            ValueError: $\beta_0 \le 0$ or $\beta_1 \le \beta_0$.

        Examples:
            >>> import jaxmethods as jm
            >>> sch = jm.diffusion.VPSchedule.linear()
            >>> print(f"{float(sch.lambda_(1.0)):.4f}")
            -5.0250

        References:
            Y. Song et al., "Score-Based Generative Modeling through Stochastic
            Differential Equations", ICLR 2021. arXiv:2011.13456.
        """
        beta_0, beta_1 = float(beta_0), float(beta_1)
        if not (beta_0 > 0.0 and beta_1 > beta_0):
            raise ValueError(
                "VPSchedule.linear: need 0 < beta_0 < beta_1, got "
                f"beta_0={beta_0}, beta_1={beta_1}"
            )
        return cls(
            kind="linear",
            T=1.0,
            t_eps=1e-3,
            total_N=1000,
            beta_0=beta_0,
            beta_1=beta_1,
        )

    @classmethod
    def cosine(cls, s: float = 0.008, T: float = 0.9946) -> VPSchedule:
        r"""The continuous cosine VP schedule of improved DDPM.

        $\log\alpha_t = \log\cos\bigl(\tfrac{t+s}{1+s}\tfrac\pi2\bigr) -
        \log\cos\bigl(\tfrac{s}{1+s}\tfrac\pi2\bigr)$, as in the official
        ``dpm_solver_jax.py``. It is evaluated in the cancellation-free form
        $\log\alpha_t = \operatorname{log1p}(-2\sin^2(d/2) - \tan(a_0)\sin d)$
        with $d = \tfrac{t}{1+s}\tfrac\pi2$, $a_0 = \tfrac{s}{1+s}\tfrac\pi2$.
        $\alpha_t \to 0$ as $t \to 1$, so the schedule ends at $T = 0.9946$
        (the official value; $\lambda_T \approx -4.78$).

        Args:
            s: offset $s > 0$.
            T: end time, in $(0, 1)$.

        Returns:
            A ``VPSchedule`` of kind ``"cosine"``.

        Raises:
            ValueError: $s \le 0$ or $T \notin (10^{-3}, 1)$.

        Examples:
            >>> import jaxmethods as jm
            >>> sch = jm.diffusion.VPSchedule.cosine()
            >>> sch.T
            0.9946

        References:
            A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic
            Models", ICML 2021. arXiv:2102.09672.
        """
        s, T = float(s), float(T)
        if not s > 0.0:
            raise ValueError(f"VPSchedule.cosine: need s > 0, got s={s}")
        if not 1e-3 < T < 1.0:
            raise ValueError(f"VPSchedule.cosine: need 1e-3 < T < 1, got T={T}")
        return cls(kind="cosine", T=T, t_eps=1e-3, total_N=1000, s=s)

    @classmethod
    def discrete(
        cls,
        betas: Float[ArrayLike, " N"] | None = None,
        alphas_cumprod: Float[ArrayLike, " N"] | None = None,
        clip_lambda: float | None = -5.1,
    ) -> VPSchedule:
        r"""A discrete-time (DDPM) schedule, interpolated in continuous time.

        Step $n = 0, \dots, N-1$ sits at time $t_n = (n+1)/N$ with
        $\log\alpha_{t_n} = \tfrac12 \sum_{k \le n} \log(1 - \beta_k)$ (or
        $\tfrac12 \log\bar\alpha_n$). $\log\alpha_t$ is the piecewise-linear
        interpolant of these points, extended linearly beyond both ends, as the
        official ``NoiseScheduleVP('discrete')`` does.

        ``clip_lambda`` reproduces the official ``numerical_clip_alpha``: the
        tail of steps whose $\lambda_{t_n}$ is below ``clip_lambda`` is dropped
        (cosine/"squaredcos" schedules end near $\lambda = -10$, which makes the
        first solver step huge; $-5.1$ sits just below the $\lambda_T = -5.02$
        of the DDPM linear schedule, which is therefore not clipped). If $N'$
        steps survive, the knots keep their times $(n+1)/N$, so $T = N'/N$ and
        ``model_time`` keeps mapping $t_n$ to the training label $1000\,n/N$.
        The official torch code instead re-spaces the $N'$ knots over $(0, 1]$
        ($T = 1$, knots at $(n+1)/N'$). The two are the same schedule up to the
        linear time change $t \mapsto t N'/N$, which maps every time grid of
        ``time_steps`` (and the default end $1/N$) onto the other's, so solvers
        take identical steps; only the official model time label differs (it is
        $1000\,n/N'$ there, i.e. stretched by $N/N'$).

        The inputs are read on the host (NumPy, float64), since ``clip_lambda``
        changes the array length; they must not be traced.

        Args:
            betas: DDPM $\beta_n \in (0, 1)$, shape `(N,)`.
            alphas_cumprod: $\bar\alpha_n = \prod_{k \le n}(1 - \beta_k)$, in
                $(0, 1)$ and strictly decreasing, shape `(N,)`. Give exactly one
                of ``betas`` and ``alphas_cumprod``.
            clip_lambda: drop the tail where $\lambda < $ ``clip_lambda``;
                ``None`` keeps every step.

        Returns:
            A ``VPSchedule`` of kind ``"discrete"`` with ``total_N`` $= N$,
            ``T`` $= N'/N$ and ``t_eps`` $= 1/N$.

        Raises:
            ValueError: both or neither of ``betas``/``alphas_cumprod``; not
                1-D; fewer than 2 steps (before or after clipping); values out of
                range or $\bar\alpha$ not strictly decreasing.

        Examples:
            >>> import numpy as np, jaxmethods as jm
            >>> betas = np.linspace(1e-4, 0.02, 1000)
            >>> sch = jm.diffusion.VPSchedule.discrete(betas=betas)
            >>> sch.total_N, sch.T, sch.t_eps
            (1000, 1.0, 0.001)

        References:
            J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic
            Models", NeurIPS 2020. arXiv:2006.11239.

            C. Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion
            Probabilistic Model Sampling in Around 10 Steps", NeurIPS 2022.
            arXiv:2206.00927.
        """
        fn = "VPSchedule.discrete"
        if (betas is None) == (alphas_cumprod is None):
            raise ValueError(f"{fn}: give exactly one of betas and alphas_cumprod")
        if betas is not None:
            b = np.asarray(betas, dtype=np.float64)
            if b.ndim != 1:
                raise ValueError(f"{fn}: betas must be 1-D, got shape {b.shape}")
            if not np.all((b > 0.0) & (b < 1.0)):
                raise ValueError(f"{fn}: betas must lie in (0, 1)")
            log_alpha = 0.5 * np.cumsum(np.log1p(-b))
        else:
            a = np.asarray(alphas_cumprod, dtype=np.float64)
            if a.ndim != 1:
                raise ValueError(
                    f"{fn}: alphas_cumprod must be 1-D, got shape {a.shape}"
                )
            if not np.all((a > 0.0) & (a < 1.0)):
                raise ValueError(f"{fn}: alphas_cumprod must lie in (0, 1)")
            log_alpha = 0.5 * np.log(a)
        n_total = log_alpha.shape[0]
        if n_total < 2:
            raise ValueError(f"{fn}: need at least 2 steps, got {n_total}")
        if not np.all(np.diff(log_alpha) < 0.0):
            raise ValueError(f"{fn}: alphas_cumprod must be strictly decreasing")
        if clip_lambda is not None:
            lam = log_alpha - 0.5 * np.log(-np.expm1(2.0 * log_alpha))
            n_drop = int(np.searchsorted(lam[::-1], float(clip_lambda)))
            log_alpha = log_alpha[: n_total - n_drop]
            if log_alpha.shape[0] < 2:
                raise ValueError(
                    f"{fn}: clip_lambda={clip_lambda} leaves {log_alpha.shape[0]} "
                    "step(s); need at least 2"
                )
        n_kept = log_alpha.shape[0]
        t_array = (np.arange(n_kept, dtype=np.float64) + 1.0) / n_total
        dt = default_float()
        return cls(
            kind="discrete",
            T=n_kept / n_total,
            t_eps=1.0 / n_total,
            total_N=n_total,
            t_array=jnp.asarray(t_array, dtype=dt),
            log_alpha_array=jnp.asarray(log_alpha, dtype=dt),
        )

    # ------------------------------------------------------------------
    # Marginals.
    # ------------------------------------------------------------------

    def log_alpha(self, t: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""$\log\alpha_t$, elementwise.

        Args:
            t: times, any shape.

        Returns:
            $\log\alpha_t$, same shape and dtype as ``t``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        t = _as_float(t)
        if self.kind == "linear":
            b0, b1 = cast(float, self.beta_0), cast(float, self.beta_1)
            return -0.25 * t**2 * (b1 - b0) - 0.5 * t * b0
        if self.kind == "cosine":
            s = cast(float, self.s)
            d = t * (0.5 * math.pi / (1.0 + s))
            tan_a0 = jnp.tan(0.5 * math.pi * s / (1.0 + s))
            return jnp.log1p(-2.0 * jnp.sin(0.5 * d) ** 2 - tan_a0 * jnp.sin(d))
        xp = cast(Array, self.t_array).astype(t.dtype)
        yp = cast(Array, self.log_alpha_array).astype(t.dtype)
        return _interp(t, xp, yp)

    def alpha(self, t: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""$\alpha_t = \exp(\log\alpha_t)$, elementwise.

        Args:
            t: times, any shape.

        Returns:
            $\alpha_t$, same shape and dtype as ``t``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        return jnp.exp(self.log_alpha(t))

    def sigma(self, t: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""$\sigma_t = \sqrt{-\operatorname{expm1}(2\log\alpha_t)}$, elementwise.

        Args:
            t: times, any shape.

        Returns:
            $\sigma_t$, same shape and dtype as ``t``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        return jnp.sqrt(-jnp.expm1(2.0 * self.log_alpha(t)))

    def lambda_(self, t: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""Half-log-SNR $\lambda_t = \log\alpha_t - \log\sigma_t$, elementwise.

        Args:
            t: times, any shape.

        Returns:
            $\lambda_t$, same shape and dtype as ``t``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        la = self.log_alpha(t)
        return la - 0.5 * jnp.log(-jnp.expm1(2.0 * la))

    def inverse_lambda(self, lam: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""The time $t(\lambda)$ with $\lambda_{t} = \lambda$, elementwise.

        With $\log\alpha = -\tfrac12\operatorname{logaddexp}(0, -2\lambda)$ and
        $\sigma^2 = \operatorname{sigmoid}(-2\lambda)$:

        - ``linear``: $t = \tau / (\sqrt{\beta_0^2 + \tau} + \beta_0) /
          (\beta_1 - \beta_0)$ with $\tau = 2(\beta_1 - \beta_0)
          \operatorname{logaddexp}(-2\lambda, 0)$;
        - ``cosine``: $t = \tfrac{2(1+s)}{\pi}\,\delta$ where $\delta =
          \arccos(\alpha\cos a_0) - a_0$ is evaluated as an ``atan2`` of its
          sine and cosine, both free of cancellation;
        - ``discrete``: piecewise-linear interpolation of the knots
          $(\log\alpha_{t_n}, t_n)$, extended linearly beyond the ends.

        Args:
            lam: half-log-SNR values, any shape.

        Returns:
            Times, same shape and dtype as ``lam``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        lam = _as_float(lam)
        if self.kind == "linear":
            b0, b1 = cast(float, self.beta_0), cast(float, self.beta_1)
            tmp = 2.0 * (b1 - b0) * jnp.logaddexp(-2.0 * lam, 0.0)
            return tmp / (jnp.sqrt(b0**2 + tmp) + b0) / (b1 - b0)
        if self.kind == "cosine":
            s = cast(float, self.s)
            a0 = 0.5 * math.pi * s / (1.0 + s)
            sin0, cos0 = jnp.sin(a0), jnp.cos(a0)
            alpha = jnp.exp(-0.5 * jnp.logaddexp(0.0, -2.0 * lam))
            sigma2 = jax.nn.sigmoid(-2.0 * lam)
            sin_a = jnp.sqrt(sin0**2 + cos0**2 * sigma2)
            sin_d = cos0 * sigma2 / (sin_a + alpha * sin0)
            cos_d = alpha * cos0**2 + sin_a * sin0
            return jnp.arctan2(sin_d, cos_d) * (2.0 * (1.0 + s) / math.pi)
        log_alpha = -0.5 * jnp.logaddexp(0.0, -2.0 * lam)
        xp = jnp.flip(cast(Array, self.log_alpha_array)).astype(lam.dtype)
        yp = jnp.flip(cast(Array, self.t_array)).astype(lam.dtype)
        return _interp(log_alpha, xp, yp)

    def model_time(self, t: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""The time label a trained model expects, elementwise.

        ``t`` itself for the continuous kinds; $1000\,(t - 1/N)$ for
        ``discrete``, which maps $t_n = (n+1)/N$ to $1000\,n/N$ ($= n$ for the
        usual $N = 1000$), as the official ``model_wrapper`` does.

        Args:
            t: continuous times, any shape.

        Returns:
            Model time labels, same shape and dtype as ``t``.

        References:
            C. Lu et al., "DPM-Solver", NeurIPS 2022. arXiv:2206.00927.
        """
        t = _as_float(t)
        if self.kind == "discrete":
            return 1000.0 * (t - 1.0 / self.total_N)
        return t


def time_steps(
    schedule: VPSchedule,
    n: int,
    kind: str = "logSNR",
    t_start: float | Float[ArrayLike, ""] | None = None,
    t_end: float | Float[ArrayLike, ""] | None = None,
    *,
    rho: float = 7.0,
) -> Float[Array, " n_plus_1"]:
    r"""A decreasing grid of $n+1$ sampling times from ``t_start`` to ``t_end``.

    The spacings are those of the official ``DPM_Solver.get_time_steps`` plus
    Karras et al.'s:

    - ``"logSNR"``: uniform in $\lambda$, $t_i = t(\lambda_{t_s} + \tfrac in
      (\lambda_{t_e} - \lambda_{t_s}))$ (recommended for low-dimensional data);
    - ``"time_uniform"``: $t_i$ uniform in $t$ (the official default, for
      high-resolution images);
    - ``"time_quadratic"``: $t_i = \bigl(\sqrt{t_s} + \tfrac in (\sqrt{t_e} -
      \sqrt{t_s})\bigr)^2$ (the official ``t_order = 2``, used by DDIM);
    - ``"karras"``: the VE noise level $\tilde\sigma_t = \sigma_t/\alpha_t =
      e^{-\lambda_t}$ follows $\tilde\sigma_i = \bigl(\tilde\sigma_{\max}^{1/\rho}
      + \tfrac in (\tilde\sigma_{\min}^{1/\rho} - \tilde\sigma_{\max}^{1/\rho})
      \bigr)^\rho$ between its values at ``t_start`` and ``t_end``, and
      $t_i = t(-\log\tilde\sigma_i)$.

    The endpoints are set exactly to ``t_start`` and ``t_end`` (the mapped
    interior points carry the round-off of ``inverse_lambda``). Differentiable
    in ``t_start`` and ``t_end``; jit-compatible with ``n`` and ``kind`` static.

    Args:
        schedule: the noise schedule.
        n: number of steps, $n \ge 1$ (static).
        kind: ``"logSNR"``, ``"time_uniform"``, ``"time_quadratic"`` or
            ``"karras"`` (static).
        t_start: first (largest) time, in $(0, T]$; default ``schedule.T``.
        t_end: last (smallest) time, in $(0,$ ``t_start``$)$; default
            ``schedule.t_eps``.
        rho: Karras exponent $\rho$ (only for ``"karras"``).

    Returns:
        Times $t_0 = $ ``t_start`` $> t_1 > \dots > t_n = $ ``t_end``, shape
        `(n + 1,)`, in the dtype of the endpoints (the default float for
        Python floats).

    Raises:
        ValueError: unknown ``kind``; ``n`` not an int $\ge 1$; concrete
            endpoints with ``t_end >= t_start`` or outside $(0, T]$.

    Examples:
        >>> import jaxmethods as jm
        >>> sch = jm.diffusion.VPSchedule.linear()
        >>> ts = jm.diffusion.time_steps(sch, 4, "time_uniform", t_end=0.2)
        >>> [round(float(v), 6) for v in ts]
        [1.0, 0.8, 0.6, 0.4, 0.2]

    References:
        C. Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic
        Model Sampling in Around 10 Steps", NeurIPS 2022. arXiv:2206.00927.

        T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the Design Space
        of Diffusion-Based Generative Models", NeurIPS 2022. arXiv:2206.00364.
    """
    fn = "time_steps"
    if kind not in _STEP_KINDS:
        raise ValueError(
            f"{fn}: unknown kind {kind!r}; expected one of {', '.join(_STEP_KINDS)}"
        )
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{fn}: n must be a Python int, got {n!r}")
    if n < 1:
        raise ValueError(f"{fn}: n must be >= 1, got {n}")
    if t_start is None:
        t_start = schedule.T
    if t_end is None:
        t_end = schedule.t_eps
    if np.ndim(t_start) != 0 or np.ndim(t_end) != 0:
        raise ValueError(
            f"{fn}: t_start and t_end must be scalars, got shapes "
            f"{np.shape(t_start)} and {np.shape(t_end)}"
        )
    ts, te, big_t = (
        _static_float(t_start),
        _static_float(t_end),
        _static_float(schedule.T),
    )
    if ts is not None and te is not None and not te < ts:
        raise ValueError(f"{fn}: need t_end < t_start, got t_end={te}, t_start={ts}")
    for name, v in (("t_start", ts), ("t_end", te)):
        if v is not None and big_t is not None and not 0.0 < v <= big_t:
            raise ValueError(f"{fn}: {name}={v} is outside (0, T] = (0, {big_t}]")
    t_start, t_end = _as_float(t_start), _as_float(t_end)
    dtype = jnp.result_type(t_start, t_end)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = default_float()
    t_start, t_end = t_start.astype(dtype), t_end.astype(dtype)
    u = jnp.arange(n + 1, dtype=dtype) / n
    if kind == "time_uniform":
        t = t_start + u * (t_end - t_start)
    elif kind == "time_quadratic":
        r0, r1 = jnp.sqrt(t_start), jnp.sqrt(t_end)
        t = (r0 + u * (r1 - r0)) ** 2
    elif kind == "logSNR":
        l0, l1 = schedule.lambda_(t_start), schedule.lambda_(t_end)
        t = schedule.inverse_lambda(l0 + u * (l1 - l0))
    else:
        # sigma_VE^(1/rho) = exp(-lambda / rho), interpolated linearly.
        l0, l1 = schedule.lambda_(t_start), schedule.lambda_(t_end)
        r0, r1 = jnp.exp(-l0 / rho), jnp.exp(-l1 / rho)
        t = schedule.inverse_lambda(-rho * jnp.log(r0 + u * (r1 - r0)))
    return t.at[0].set(t_start).at[n].set(t_end)


def check_schedule(fn: str, schedule: object) -> None:
    """Raise a ``TypeError`` naming ``fn`` unless ``schedule`` is a VPSchedule."""
    if not isinstance(schedule, VPSchedule):
        raise TypeError(
            f"{fn}: schedule must be a VPSchedule, got {type(schedule).__name__}"
        )

"""VP schedules and time grids: official formulas, stability near t = 0, grids."""

import math
from decimal import Decimal, localcontext

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmethods.diffusion import VPSchedule, time_steps
from tests.helpers import (
    assert_close,
    assert_traced_once,
    check_transforms,
    unchecked,
)


N = 1000
DDPM_BETAS = np.linspace(1e-4, 0.02, N)


def squaredcos_betas(n=N, max_beta=0.999):
    """improved-DDPM / diffusers ``squaredcos_cap_v2`` betas."""

    def abar(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array(
        [min(1 - abar((i + 1) / n) / abar(i / n), max_beta) for i in range(n)]
    )


SCHEDULES = {
    "linear": VPSchedule.linear(),
    "cosine": VPSchedule.cosine(),
    "discrete": VPSchedule.discrete(betas=DDPM_BETAS),
    "discrete_cos": VPSchedule.discrete(betas=squaredcos_betas()),
}


# --------------------------------------------------------------------------
# float64 NumPy transcriptions of the official NoiseScheduleVP.
# --------------------------------------------------------------------------


def official_interp(x, xp, yp):
    """The official ``interpolate_fn``: linear inside, end segments outside."""
    x = np.asarray(x, dtype=np.float64)
    y = np.interp(x, xp, yp)
    lo = (yp[1] - yp[0]) / (xp[1] - xp[0])
    hi = (yp[-1] - yp[-2]) / (xp[-1] - xp[-2])
    y = np.where(x < xp[0], yp[0] + (x - xp[0]) * lo, y)
    return np.where(x > xp[-1], yp[-1] + (x - xp[-1]) * hi, y)


class OfficialVP:
    """NumPy transcription of ``NoiseScheduleVP`` (torch file + jax cosine)."""

    def __init__(self, kind, betas=None, clip=None):
        self.kind = kind
        self.beta_0, self.beta_1, self.s = 0.1, 20.0, 0.008
        self.log_alpha_0 = math.log(math.cos(self.s / (1 + self.s) * math.pi / 2))
        if kind == "discrete":
            la = 0.5 * np.cumsum(np.log(1 - betas))
            if clip is not None:  # numerical_clip_alpha
                lam = la - 0.5 * np.log(1 - np.exp(2 * la))
                idx = np.searchsorted(lam[::-1], clip)
                if idx > 0:
                    la = la[:-idx]
            self.log_alpha_array = la
            self.total_N = la.shape[0]
            self.t_array = np.linspace(0.0, 1.0, self.total_N + 1)[1:]

    def log_alpha(self, t):
        t = np.asarray(t, dtype=np.float64)
        if self.kind == "linear":
            return -0.25 * t**2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0
        if self.kind == "cosine":
            a = np.cos((t + self.s) / (1 + self.s) * math.pi / 2)
            return np.log(a) - self.log_alpha_0
        return official_interp(t, self.t_array, self.log_alpha_array)

    def sigma(self, t):
        return np.sqrt(1.0 - np.exp(2.0 * self.log_alpha(t)))

    def lambda_(self, t):
        la = self.log_alpha(t)
        return la - 0.5 * np.log(1.0 - np.exp(2.0 * la))

    def inverse_lambda(self, lam):
        lam = np.asarray(lam, dtype=np.float64)
        if self.kind == "linear":
            tmp = 2.0 * (self.beta_1 - self.beta_0) * np.logaddexp(-2.0 * lam, 0.0)
            delta = self.beta_0**2 + tmp
            return tmp / (np.sqrt(delta) + self.beta_0) / (self.beta_1 - self.beta_0)
        log_alpha = -0.5 * np.logaddexp(0.0, -2.0 * lam)
        if self.kind == "cosine":
            return (
                np.arccos(np.exp(log_alpha + self.log_alpha_0))
                * 2
                * (1 + self.s)
                / math.pi
                - self.s
            )
        return official_interp(
            log_alpha, self.log_alpha_array[::-1], self.t_array[::-1]
        )


# Times away from t -> 0, where the official (naive) formulas are accurate.
T_GRID = np.linspace(0.02, 0.99, 37)


@pytest.mark.parametrize("kind", ["linear", "cosine", "discrete"])
def test_matches_official_formulas(kind):
    sch = SCHEDULES[kind]
    ref = OfficialVP(kind, betas=DDPM_BETAS)
    t = T_GRID * sch.T
    assert_close(sch.log_alpha(t), ref.log_alpha(t), rtol=1e-12, atol=1e-14)
    assert_close(sch.alpha(t), np.exp(ref.log_alpha(t)), rtol=1e-12, atol=1e-14)
    assert_close(sch.sigma(t), ref.sigma(t), rtol=1e-12)
    assert_close(sch.lambda_(t), ref.lambda_(t), rtol=1e-11, atol=1e-12)
    lam = np.linspace(-4.5, 3.5, 29)
    assert_close(sch.inverse_lambda(lam), ref.inverse_lambda(lam), rtol=1e-10)


def test_linear_values():
    sch = SCHEDULES["linear"]
    assert (sch.T, sch.t_eps, sch.total_N) == (1.0, 1e-3, 1000)
    # lambda range quoted in the research report (linear VP, t: 1 -> 1e-3).
    assert_close(sch.lambda_(1.0), -5.024978, atol=1e-6)
    assert_close(sch.lambda_(1e-3), 4.557715, atol=1e-6)


def test_discrete_matches_official_with_extrapolation():
    sch = SCHEDULES["discrete"]
    ref = OfficialVP("discrete", betas=DDPM_BETAS)
    assert (sch.T, sch.t_eps, sch.total_N) == (1.0, 1e-3, 1000)
    assert_close(sch.t_array, ref.t_array, rtol=1e-15)
    assert_close(sch.log_alpha_array, ref.log_alpha_array, rtol=1e-13)
    # Knots, mid-segments and linear extrapolation beyond both ends.
    t = np.concatenate([ref.t_array[::97], ref.t_array[:50] + 2.5e-4, [5e-4, 1.02]])
    assert_close(sch.log_alpha(t), ref.log_alpha(t), rtol=1e-12, atol=1e-16)
    # alphas_cumprod gives the same schedule as betas.
    acp = np.cumprod(1 - DDPM_BETAS)
    sch2 = VPSchedule.discrete(alphas_cumprod=acp)
    assert_close(sch2.log_alpha(t), sch.log_alpha(t), rtol=1e-12, atol=1e-16)


def test_discrete_clip_lambda():
    betas = squaredcos_betas()
    full = VPSchedule.discrete(betas=betas, clip_lambda=None)
    lam_full = np.asarray(full.lambda_(full.t_array))
    # The report's numbers: the last two lambdas of squaredcos are -6.5, -9.9.
    assert_close(lam_full[-2:], np.array([-6.5, -9.9]), atol=0.1)
    n_keep = int(np.sum(lam_full >= -5.1))
    sch = SCHEDULES["discrete_cos"]
    ref = OfficialVP("discrete", betas=betas, clip=-5.1)
    assert sch.log_alpha_array.shape == (n_keep,) == (ref.total_N,)
    assert n_keep < N
    # Knots keep their times (n+1)/N: T = N'/N, total_N and t_eps stay N, 1/N.
    assert (sch.total_N, sch.t_eps) == (N, 1.0 / N)
    assert sch.T == n_keep / N
    assert_close(sch.t_array, (np.arange(n_keep) + 1.0) / N, rtol=1e-15)
    assert float(sch.lambda_(sch.T)) >= -5.1
    # Same schedule as the official one up to the time change t -> t N'/N.
    t_off = np.linspace(1.0 / n_keep, 1.0, 53)
    t_ours = t_off * n_keep / N
    assert_close(sch.log_alpha(t_ours), ref.log_alpha(t_off), rtol=1e-11, atol=1e-15)
    lam = np.linspace(-5.0, 5.0, 21)
    assert_close(sch.inverse_lambda(lam), ref.inverse_lambda(lam) * n_keep / N)
    # The DDPM linear schedule (lambda_T = -5.02) is not clipped.
    assert SCHEDULES["discrete"].log_alpha_array.shape == (N,)


def test_model_time():
    sch = SCHEDULES["discrete"]
    t = np.array([1e-3, 0.5, 1.0])
    assert_close(sch.model_time(t), np.array([0.0, 499.0, 999.0]), atol=1e-9)
    clipped = SCHEDULES["discrete_cos"]
    assert_close(clipped.model_time(clipped.T), 1000.0 * (clipped.T - 1e-3))
    for kind in ("linear", "cosine"):
        assert_close(SCHEDULES[kind].model_time(t), t, rtol=0, atol=0)


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_inverse_lambda_round_trip(kind):
    sch = SCHEDULES[kind]
    t = np.concatenate([np.geomspace(sch.t_eps, sch.T, 40), [sch.T]])
    assert_close(sch.inverse_lambda(sch.lambda_(t)), t, rtol=1e-10, atol=0)
    lam = np.linspace(float(sch.lambda_(sch.T)), float(sch.lambda_(sch.t_eps)), 31)
    assert_close(sch.lambda_(sch.inverse_lambda(lam)), lam, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_continuous_round_trip_near_zero(kind):
    sch = SCHEDULES[kind]
    t = np.geomspace(1e-8, 1e-3, 11)
    assert_close(sch.inverse_lambda(sch.lambda_(t)), t, rtol=1e-10, atol=0)


# --------------------------------------------------------------------------
# Accuracy of sigma and lambda as t -> 0 against 50-digit Decimal arithmetic.
# --------------------------------------------------------------------------

PI_50 = Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def _dec_cos(x):
    term, total, k = Decimal(1), Decimal(1), 0
    while abs(term) > Decimal(10) ** -60:
        k += 2
        term *= -x * x / (k * (k - 1))
        total += term
    return total


def decimal_log_alpha(kind, t):
    t = Decimal(float(t))
    if kind == "linear":
        b0, b1 = Decimal(0.1), Decimal(20.0)
        return -Decimal("0.25") * t * t * (b1 - b0) - Decimal("0.5") * t * b0
    s = Decimal(0.008)
    a = (t + s) / (1 + s) * PI_50 / 2
    a0 = s / (1 + s) * PI_50 / 2
    return _dec_cos(a).ln() - _dec_cos(a0).ln()


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_sigma_and_lambda_near_zero(kind):
    sch = SCHEDULES[kind]
    ts = [1e-7, 1e-5, 1e-3, 1e-2, 0.5]
    with localcontext() as ctx:
        ctx.prec = 50
        la = [decimal_log_alpha(kind, t) for t in ts]
        sig = [float((1 - (2 * v).exp()).sqrt()) for v in la]
        lam = [float(v - (1 - (2 * v).exp()).ln() / 2) for v in la]
    t = np.array(ts)
    assert_close(sch.log_alpha(t), np.array([float(v) for v in la]), rtol=2e-13)
    assert_close(sch.sigma(t), np.array(sig), rtol=1e-13)
    assert_close(sch.lambda_(t), np.array(lam), rtol=1e-13)
    # The naive sqrt(1 - alpha^2) loses digits there (why the library avoids it).
    naive = np.sqrt(1.0 - np.asarray(sch.alpha(t)) ** 2)
    assert np.abs(naive[0] / sig[0] - 1) > 1e-10


def test_discrete_sigma_at_first_step():
    # sigma^2 at t_0 = 1/N is exactly beta_0 = 1e-4.
    sch = SCHEDULES["discrete"]
    assert_close(sch.sigma(1e-3), math.sqrt(1e-4), rtol=1e-13)
    assert_close(sch.lambda_(1e-3), 0.5 * math.log((1 - 1e-4) / 1e-4), rtol=1e-13)


# --------------------------------------------------------------------------
# Derivatives, transforms and dtypes.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_dlogalpha_dlambda_is_sigma_squared(kind):
    sch = SCHEDULES[kind]
    t = np.linspace(0.013, 0.97, 9) * sch.T
    dla = jax.vmap(jax.grad(sch.log_alpha))(t)
    dlam = jax.vmap(jax.grad(sch.lambda_))(t)
    assert np.all(np.asarray(dlam) < 0)
    assert_close(dla / dlam, sch.sigma(t) ** 2, rtol=1e-9)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_grads(kind):
    sch = SCHEDULES[kind]
    t = jnp.array([0.1, 0.3, 0.9])
    check_grads(sch.lambda_, (t,), order=1, modes=("fwd", "rev"))
    check_grads(sch.inverse_lambda, (jnp.array([-3.0, 0.1, 4.0]),), order=1)


@pytest.mark.parametrize("kind", ["linear", "cosine", "discrete"])
def test_transforms(kind):
    sch = SCHEDULES[kind]
    t = jnp.linspace(0.01, 0.9, 6).reshape(2, 3)
    f = lambda sch, t: (sch.sigma(t), sch.lambda_(t), sch.inverse_lambda(t))
    g = lambda t: f(sch, t)
    check_transforms(g, (t,))
    # The schedule is a pytree argument; new time values do not retrace.
    assert_traced_once(f, [(sch, t), (sch, t + 0.01), (sch, t * 0.5)])


@pytest.mark.parametrize("kind", ["linear", "cosine", "discrete"])
def test_float32_in_float32_out(kind):
    sch = SCHEDULES[kind]
    t = jnp.array([1e-3, 0.5, 0.9], dtype=jnp.float32)
    for f in (sch.log_alpha, sch.alpha, sch.sigma, sch.lambda_, sch.model_time):
        assert f(t).dtype == jnp.float32
    assert sch.inverse_lambda(sch.lambda_(t)).dtype == jnp.float32
    assert_close(sch.sigma(t), sch.sigma(t.astype(jnp.float64)).astype(np.float32))
    ts = time_steps(sch, 5, t_start=jnp.float32(0.8), t_end=jnp.float32(0.01))
    assert ts.dtype == jnp.float32


def test_shapes_broadcast():
    sch = SCHEDULES["discrete"]
    assert sch.sigma(0.5).shape == ()
    assert sch.lambda_(jnp.ones((2, 3, 4)) * 0.5).shape == (2, 3, 4)
    assert sch.inverse_lambda(jnp.zeros((5, 1))).shape == (5, 1)


# --------------------------------------------------------------------------
# Time grids.
# --------------------------------------------------------------------------

STEP_KINDS = ["logSNR", "time_uniform", "time_quadratic", "karras"]


@pytest.mark.parametrize("kind", STEP_KINDS)
@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_time_steps_endpoints_and_monotone(sched, kind):
    sch = SCHEDULES[sched]
    for n, ends in ((1, {}), (7, {"t_start": 0.8, "t_end": 0.02})):
        ts = np.asarray(time_steps(sch, n, kind, **ends))
        assert ts.shape == (n + 1,)
        assert ts[0] == ends.get("t_start", sch.T)
        assert ts[-1] == ends.get("t_end", sch.t_eps)
        assert np.all(np.diff(ts) < 0)


@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_time_steps_formulas(sched):
    sch = SCHEDULES[sched]
    n, t0, t1 = 12, sch.T, sch.t_eps
    # logSNR: uniform in lambda (the official get_time_steps).
    lam = np.asarray(sch.lambda_(time_steps(sch, n, "logSNR")))
    assert_close(lam, np.linspace(lam[0], lam[-1], n + 1), rtol=1e-10, atol=1e-10)
    assert_close(lam[[0, -1]], np.asarray(sch.lambda_(np.array([t0, t1]))))
    # time_uniform and time_quadratic (official t_order = 2).
    assert_close(time_steps(sch, n, "time_uniform"), np.linspace(t0, t1, n + 1))
    quad = np.linspace(t0**0.5, t1**0.5, n + 1) ** 2
    assert_close(time_steps(sch, n, "time_quadratic"), quad, rtol=1e-13)
    # karras: rho = 7 spacing of the VE sigma = sigma/alpha = exp(-lambda).
    smax, smin = np.exp(-lam[0]), np.exp(-lam[-1])
    ramp = np.linspace(0, 1, n + 1)
    ref = (smax ** (1 / 7) + ramp * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7
    ts = time_steps(sch, n, "karras")
    assert_close(np.exp(-np.asarray(sch.lambda_(ts))), ref, rtol=1e-10)
    ts3 = time_steps(sch, n, "karras", rho=3.0)
    ref3 = (smax ** (1 / 3) + ramp * (smin ** (1 / 3) - smax ** (1 / 3))) ** 3
    assert_close(np.exp(-np.asarray(sch.lambda_(ts3))), ref3, rtol=1e-10)


def test_time_steps_jit_and_grad():
    sch = SCHEDULES["linear"]
    f = jax.jit(time_steps, static_argnums=(1, 2))
    for kind in STEP_KINDS:
        assert_close(f(sch, 8, kind), time_steps(sch, 8, kind))
    g = jax.grad(lambda te: time_steps(sch, 6, "logSNR", t_end=te)[3])(0.01)
    eps = 1e-6
    fd = (
        time_steps(sch, 6, "logSNR", t_end=0.01 + eps)[3]
        - time_steps(sch, 6, "logSNR", t_end=0.01 - eps)[3]
    ) / (2 * eps)
    assert_close(g, fd, rtol=1e-6)


def test_time_steps_errors():
    sch = SCHEDULES["linear"]
    with pytest.raises(ValueError, match="time_steps: unknown kind"):
        time_steps(sch, 5, "uniform")
    with pytest.raises(ValueError, match="time_steps: n must be >= 1"):
        time_steps(sch, 0)
    with pytest.raises(TypeError, match="time_steps: n must be a Python int"):
        unchecked(time_steps)(sch, 5.0)
    with pytest.raises(ValueError, match="time_steps: need t_end < t_start"):
        time_steps(sch, 5, t_start=0.5, t_end=0.5)
    with pytest.raises(
        ValueError, match=r"time_steps: t_start=1.5 is outside \(0, T\]"
    ):
        time_steps(sch, 5, t_start=1.5)
    with pytest.raises(ValueError, match=r"time_steps: t_end=0.0 is outside"):
        time_steps(sch, 5, t_end=0.0)
    with pytest.raises(ValueError, match=r"outside \(0, T\] = \(0, 0.9946\]"):
        time_steps(SCHEDULES["cosine"], 5, t_start=0.999)
    with pytest.raises(
        ValueError, match="time_steps: t_start and t_end must be scalars"
    ):
        unchecked(time_steps)(sch, 5, t_start=np.array([0.9, 0.8]))


def test_constructor_errors():
    with pytest.raises(ValueError, match="VPSchedule: unknown kind"):
        VPSchedule(kind="sigmoid", T=1.0, t_eps=1e-3, total_N=1000)
    with pytest.raises(ValueError, match="VPSchedule.linear: need 0 < beta_0 < beta_1"):
        VPSchedule.linear(beta_0=1.0, beta_1=0.5)
    with pytest.raises(ValueError, match="VPSchedule.cosine: need s > 0"):
        VPSchedule.cosine(s=0.0)
    with pytest.raises(ValueError, match="VPSchedule.cosine: need 1e-3 < T < 1"):
        VPSchedule.cosine(T=1.0)
    fn = "VPSchedule.discrete"
    with pytest.raises(ValueError, match=f"{fn}: give exactly one"):
        VPSchedule.discrete()
    with pytest.raises(ValueError, match=f"{fn}: give exactly one"):
        VPSchedule.discrete(betas=DDPM_BETAS, alphas_cumprod=np.cumprod(1 - DDPM_BETAS))
    with pytest.raises(ValueError, match=f"{fn}: betas must be 1-D"):
        unchecked(VPSchedule.discrete)(VPSchedule, betas=DDPM_BETAS.reshape(10, 100))
    with pytest.raises(ValueError, match=rf"{fn}: betas must lie in \(0, 1\)"):
        VPSchedule.discrete(betas=np.array([0.1, 1.0]))
    with pytest.raises(ValueError, match=f"{fn}: alphas_cumprod must be strictly"):
        VPSchedule.discrete(alphas_cumprod=np.array([0.9, 0.9, 0.5]))
    with pytest.raises(ValueError, match=f"{fn}: need at least 2 steps"):
        VPSchedule.discrete(betas=np.array([0.1]))
    with pytest.raises(ValueError, match=f"{fn}: clip_lambda=4.6 leaves"):
        VPSchedule.discrete(betas=DDPM_BETAS, clip_lambda=4.6)

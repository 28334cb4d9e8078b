"""Peer helper: PaRIS smoother of ``particles`` on a reference linear-Gaussian SSM.

Test-only / benchmark peer. ``particles`` (nchopin/particles 0.4) declares
``numpy<2``, so it is installed without its dependency pins::

    pip install --no-deps particles==0.4
    pip install numba joblib   # imported by `import particles`; no numpy/jax change

(scikit-learn is only used by ``particles.binary_smc`` and is not needed here.)

Model (univariate, linear Gaussian)::

    X_0 ~ N(0, sigma0^2),  X_t = rho X_{t-1} + sigma_x U_t,  Y_t = X_t + sigma_y V_t

Target: the smoothed additive functional E[sum_{t=1}^{T-1} X_{t-1} X_t | y_{0:T-1}].

Seed-free reference data (``reference_data``), T = 100, rho = 0.9, sigma_x = 1,
sigma_y = 0.5, sigma0 = 1, k = 0..T-1::

    w(c, k)  = frac(0.5 + k * c)                       (Weyl sequence)
    z_k      = sqrt(-2 log w(c_phi, k)) * cos(2 pi w(c_sqrt2, k))
    v_k      = sqrt(-2 log w(c_sqrt3, k)) * cos(2 pi w(c_sqrt5, k))
    X_0      = sigma0 * z_0,   X_t = rho X_{t-1} + sigma_x z_t   (t >= 1)
    Y_t      = X_t + sigma_y v_t

with c_phi = frac((1 + sqrt 5) / 2), c_sqrt2 = frac(sqrt 2), c_sqrt3 = frac(sqrt 3),
c_sqrt5 = frac(sqrt 5). Checks: y_0 = -1.7661150338, y_1 = 0.6397702565,
y_99 = -0.1681378449, log p(y_{0:99}) = -152.3958434849,
E[sum X_{t-1} X_t | y] = 121.6776535458.

numpy-2 quirk: ``particles.collectors.Paris.update`` does ``As[m] = a`` with
``a = MultinomialQueue.dequeue(1)`` (a size-1 array), which numpy >= 2 rejects
(``ValueError: setting an array element with a sequence``). ``PatchedParis``
runs the unmodified ``Paris.update`` with a queue whose ``dequeue(1)`` returns a
Python int (same draws, same random-number consumption).
"""

import math
import time

import numpy as np
import particles
from particles import (
    collectors,
    distributions as dists,
    kalman,
    resampling as rs,
    state_space_models as ssms,
)


T_REF = 100
RHO, SIGMA_X, SIGMA_Y, SIGMA0 = 0.9, 1.0, 0.5, 1.0

# reference values for reference_data(100) with the default parameters
REF_Y = {0: -1.7661150338, 1: 0.6397702565, 99: -0.1681378449}
REF_LOGLIK = -152.3958434849
REF_EXACT = 121.6776535458


# --------------------------------------------------------------------------
# seed-free reference data
# --------------------------------------------------------------------------


def _weyl(c, n):
    return np.mod(0.5 + np.arange(n, dtype=np.float64) * c, 1.0)


def _box_muller_cos(c1, c2, n):
    u1, u2 = _weyl(c1, n), _weyl(c2, n)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def reference_data(T=T_REF, rho=RHO, sigma_x=SIGMA_X, sigma_y=SIGMA_Y, sigma0=SIGMA0):
    """Seed-free observations y_{0:T-1}, float64 array of shape (T,)."""
    c_phi = (1.0 + math.sqrt(5.0)) / 2.0 - 1.0
    c_sqrt2 = math.sqrt(2.0) - 1.0
    c_sqrt3 = math.sqrt(3.0) - 1.0
    c_sqrt5 = math.sqrt(5.0) - 2.0
    z = _box_muller_cos(c_phi, c_sqrt2, T)  # state noise
    v = _box_muller_cos(c_sqrt3, c_sqrt5, T)  # observation noise
    x = np.empty(T, dtype=np.float64)
    x[0] = sigma0 * z[0]
    for t in range(1, T):
        x[t] = rho * x[t - 1] + sigma_x * z[t]
    return x + sigma_y * v


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------


class LinearGaussPeer(ssms.StateSpaceModel):
    """Univariate linear-Gaussian SSM with the hooks the Paris collector needs."""

    default_params = {
        "rho": RHO,
        "sigma_x": SIGMA_X,
        "sigma_y": SIGMA_Y,
        "sigma0": SIGMA0,
    }

    def PX0(self):
        return dists.Normal(loc=0.0, scale=self.sigma0)

    def PX(self, t, xp):
        return dists.Normal(loc=self.rho * xp, scale=self.sigma_x)

    def PY(self, t, xp, x):
        return dists.Normal(loc=x, scale=self.sigma_y)

    def add_func(self, t, xp, x):
        # particles calls add_func(0, None, X) at t = 0 to initialise Phi
        if xp is None:
            return np.zeros_like(x)
        return xp * x

    def upper_bound_log_pt(self, t):
        # log max_x' p(x' | x) = log of the N(., sigma_x^2) density at its mode
        return -0.5 * math.log(2.0 * math.pi * self.sigma_x**2)


def make_ssm(rho=RHO, sigma_x=SIGMA_X, sigma_y=SIGMA_Y, sigma0=SIGMA0):
    return LinearGaussPeer(rho=rho, sigma_x=sigma_x, sigma_y=sigma_y, sigma0=sigma0)


# --------------------------------------------------------------------------
# PaRIS (numpy-2 workaround)
# --------------------------------------------------------------------------


class _ScalarDequeueQueue(rs.MultinomialQueue):
    def dequeue(self, k):
        out = super().dequeue(k)
        return int(out[0]) if k == 1 else out


class PatchedParis(collectors.Paris):
    """``collectors.Paris`` whose single-index dequeues are scalars (numpy >= 2).

    The summary stays under ``pf.summaries.paris``. The swap of
    ``particles.resampling.MultinomialQueue`` lasts only for the duration of
    ``update`` (not thread-safe; fine for tests and benchmarks).
    """

    summary_name = "paris"

    def update(self, smc):
        orig = rs.MultinomialQueue
        rs.MultinomialQueue = _ScalarDequeueQueue
        try:
            super().update(smc)
        finally:
            rs.MultinomialQueue = orig


def run_paris(data, N, seed, Nparis=2, online_on2=False, ssm=None):
    """Run a bootstrap PF (multinomial resampling at every step) with PaRIS.

    Returns a dict with ``paris`` (final estimate of
    E[sum_{t>=1} X_{t-1} X_t | y]), ``on2`` (O(N^2) online smoother estimate, only
    if ``online_on2``), ``logLt`` (PF log-likelihood estimate), ``n_proposals``
    (total PaRIS rejection-sampling proposals) and ``wall_time`` (seconds of
    ``pf.run()``; includes numba JIT on the first call in a process, see
    ``warmup``).
    """
    data = np.asarray(data, dtype=np.float64)
    ssm = make_ssm() if ssm is None else ssm
    collect = [PatchedParis(Nparis=Nparis)]
    if online_on2:
        collect.append(collectors.Online_smooth_ON2())
    fk = ssms.Bootstrap(ssm=ssm, data=data)
    np.random.seed(seed)  # particles draws from numpy's global RNG
    pf = particles.SMC(
        fk=fk, N=N, resampling="multinomial", ESSrmin=1.0, collect=collect
    )
    t0 = time.perf_counter()
    pf.run()
    wall = time.perf_counter() - t0
    paris_col = next(
        c for c in pf.summaries._collectors if isinstance(c, collectors.Paris)
    )
    out = {
        "paris": float(pf.summaries.paris[-1]),
        "logLt": float(pf.logLt),
        "n_proposals": int(sum(paris_col.nprop)),
        "wall_time": wall,
        "N": int(N),
        "T": int(data.shape[0]),
        "seed": seed,
    }
    if online_on2:
        out["on2"] = float(pf.summaries.online_smooth_ON2[-1])
    return out


def warmup():
    """Trigger particles' numba JIT compilation (resampling) once per process."""
    run_paris(reference_data(5), N=8, seed=0, online_on2=True)


# --------------------------------------------------------------------------
# exact values (Kalman filter / RTS smoother from particles.kalman)
# --------------------------------------------------------------------------


def _kalman(data, rho, sigma_x, sigma_y, sigma0):
    ssm = kalman.LinearGauss(rho=rho, sigmaX=sigma_x, sigmaY=sigma_y, sigma0=sigma0)
    kf = kalman.Kalman(ssm=ssm, data=np.asarray(data, dtype=np.float64))
    kf.smoother()
    return kf


def exact_value(data=None, rho=RHO, sigma_x=SIGMA_X, sigma_y=SIGMA_Y, sigma0=SIGMA0):
    """Exact E[sum_{t=1}^{T-1} X_{t-1} X_t | y_{0:T-1}] (default: reference data).

    particles.kalman only gives marginal smoothing laws; the lag-one smoothed
    covariance is J_{t-1} P^s_t with gain J_{t-1} = P^f_{t-1} rho / P^p_t.
    """
    data = reference_data() if data is None else data
    kf = _kalman(data, rho, sigma_x, sigma_y, sigma0)
    total = 0.0
    for t in range(1, len(kf.filt)):
        gain = float(kf.filt[t - 1].cov.item()) * rho / float(kf.pred[t].cov.item())
        m_prev = float(kf.smth[t - 1].mean.item())
        m_cur = float(kf.smth[t].mean.item())
        total += m_prev * m_cur + gain * float(kf.smth[t].cov.item())
    return total


def exact_loglik(data=None, rho=RHO, sigma_x=SIGMA_X, sigma_y=SIGMA_Y, sigma0=SIGMA0):
    """Exact log p(y_{0:T-1}) (default: reference data)."""
    data = reference_data() if data is None else data
    kf = _kalman(data, rho, sigma_x, sigma_y, sigma0)
    return float(sum(np.sum(lp) for lp in kf.logpyt))

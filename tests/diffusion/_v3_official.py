"""A float64 NumPy transcription of the official DPM-Solver-v3 sampler.

Transcribed from thu-ml/DPM-Solver-v3 (``codebases/score_sde/samplers/
dpm_solver_v3.py`` and the Stable Diffusion codebase's ``half`` option) with
the official linear ``NoiseScheduleVP``: the same trapezoid integrals, index
snapping, derivative estimates, predictor and corrector, written with plain
Python lists and NumPy so the library's JAX version can be checked against
it. Test support only; nothing here is a test.
"""

from __future__ import annotations

import math

import numpy as np


class LinearVP:
    """The official continuous linear VP schedule (beta 0.1 -> 20)."""

    def __init__(self, beta_0=0.1, beta_1=20.0):
        self.beta_0, self.beta_1, self.T = beta_0, beta_1, 1.0

    def marginal_log_mean_coeff(self, t):
        return -0.25 * t**2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def marginal_alpha(self, t):
        return np.exp(self.marginal_log_mean_coeff(t))

    def marginal_std(self, t):
        return np.sqrt(1.0 - np.exp(2.0 * self.marginal_log_mean_coeff(t)))

    def marginal_lambda(self, t):
        log_mean = self.marginal_log_mean_coeff(t)
        log_std = 0.5 * np.log(1.0 - np.exp(2.0 * log_mean))
        return log_mean - log_std

    def inverse_lambda(self, lamb):
        tmp = 2.0 * (self.beta_1 - self.beta_0) * np.logaddexp(-2.0 * lamb, 0.0)
        delta = self.beta_0**2 + tmp
        return tmp / (np.sqrt(delta) + self.beta_0) / (self.beta_1 - self.beta_0)


def weighted_cumsumexp_trapezoid(a, x, b, cumsum=True):
    a_max = np.amax(a, axis=0, keepdims=True)
    tmp = np.exp(a - a_max) if b is None else b * np.exp(a - a_max)
    out = 0.5 * (x[1:] - x[:-1]) * (tmp[1:] + tmp[:-1])
    if not cumsum:
        return np.sum(out, axis=0) * np.exp(a_max)
    out = np.cumsum(out, axis=0) * np.exp(a_max)
    return np.concatenate([np.zeros_like(out[[0]]), out], axis=0)


class OfficialV3:
    """``DPM_Solver_v3`` with the EMS passed as arrays instead of files."""

    def __init__(self, l, s, b, model_fn, ns, steps, t_start, t_end, skip_type):
        self.model = model_fn
        self.ns = ns
        self.steps = steps
        self.statistics_steps = l.shape[0] - 1
        extra = (1,) * (l.ndim - 1)
        ts = ns.marginal_lambda(
            self.get_time_steps("logSNR", t_start, t_end, self.statistics_steps)
        ).reshape(-1, *extra)
        self.ts = ts
        self.lambda_T, self.lambda_0 = float(ts[0].ravel()[0]), float(ts[-1].ravel()[0])
        z, o = np.zeros_like(l), np.ones_like(l)
        self.l, self.s, self.b = l, s, b
        self.L = weighted_cumsumexp_trapezoid(z, ts, l)
        self.S = weighted_cumsumexp_trapezoid(z, ts, s)
        self.I = weighted_cumsumexp_trapezoid(self.L + self.S, ts, o)
        self.B = weighted_cumsumexp_trapezoid(-self.S, ts, b)
        self.C = weighted_cumsumexp_trapezoid(self.L + self.S, ts, self.B)
        timesteps = self.get_time_steps(skip_type, t_start, t_end, steps)
        self.indexes = self.convert_to_indexes(timesteps)
        self.timesteps = self.convert_to_timesteps(self.indexes)

    def convert_to_indexes(self, timesteps):
        lam = self.ns.marginal_lambda(timesteps)
        pos = (
            self.statistics_steps
            * (lam - self.lambda_T)
            / (self.lambda_0 - self.lambda_T)
        )
        return list(np.round(pos).astype(np.int64))

    def convert_to_timesteps(self, indexes):
        lam = (
            self.lambda_T
            + (self.lambda_0 - self.lambda_T)
            * np.asarray(indexes, np.float64)
            / self.statistics_steps
        )
        return self.ns.inverse_lambda(lam)

    def get_time_steps(self, skip_type, t_T, t_0, n):
        if skip_type == "logSNR":
            lam_T, lam_0 = self.ns.marginal_lambda(t_T), self.ns.marginal_lambda(t_0)
            return self.ns.inverse_lambda(np.linspace(lam_T, lam_0, n + 1))
        if skip_type == "time_uniform":
            return np.linspace(t_T, t_0, n + 1)
        if skip_type == "time_quadratic":
            return np.linspace(t_T**0.5, t_0**0.5, n + 1) ** 2
        raise ValueError(skip_type)

    def get_g(self, f_t, i_s, i_t):
        return np.exp(self.S[i_s] - self.S[i_t]) * f_t - np.exp(self.S[i_s]) * (
            self.B[i_t] - self.B[i_s]
        )

    def exp_coeff(self, i_s, i_t, order):
        n = order - 1
        a = self.L[i_s : i_t + 1] + self.S[i_s : i_t + 1] - self.L[i_s] - self.S[i_s]
        x = self.ts[i_s : i_t + 1]
        b = (self.ts[i_s : i_t + 1] - self.ts[i_s]) ** n / math.factorial(n)
        return weighted_cumsumexp_trapezoid(a, x, b, cumsum=False)

    @staticmethod
    def derivatives(n, lambda_0n, g_0n, pseudo):
        if pseudo:
            D = [[] for _ in range(n + 1)]
            D[0] = g_0n
            for i in range(1, n + 1):
                for j in range(n - i + 1):
                    D[i].append(
                        (D[i - 1][j] - D[i - 1][j + 1])
                        / (lambda_0n[j] - lambda_0n[i + j])
                    )
            return [D[i][0] * math.factorial(i) for i in range(1, n + 1)]
        R = np.stack([(lambda_0n[1:] - lambda_0n[0]) ** i for i in range(1, n + 1)]).T
        B = (np.stack(g_0n[1:]) - g_0n[0]).reshape(n, -1)
        sol = (np.linalg.inv(R) @ B).reshape([n, *g_0n[0].shape])
        return [sol[i - 1] * math.factorial(i) for i in range(1, n + 1)]

    def _update(self, x_0n, eps_0n, time_0n, index_0n, alpha_t, i_t, order, pseudo):
        ns = self.ns
        n = order - 1
        lambda_0n = ns.marginal_lambda(np.asarray(time_0n))
        alpha_0n = ns.marginal_alpha(np.asarray(time_0n))
        sigma_0n = ns.marginal_std(np.asarray(time_0n))
        alpha_s, i_s, x_s = alpha_0n[0], index_0n[0], x_0n[0]
        g_0n = []
        for i in range(n + 1):
            f_i = (sigma_0n[i] * eps_0n[i] - self.l[index_0n[i]] * x_0n[i]) / alpha_0n[
                i
            ]
            g_0n.append(self.get_g(f_i, index_0n[0], index_0n[i]))
        g_0 = g_0n[0]
        x_t = (
            alpha_t / alpha_s * np.exp(self.L[i_s] - self.L[i_t]) * x_s
            - alpha_t
            * np.exp(-self.L[i_t] - self.S[i_s])
            * (self.I[i_t] - self.I[i_s])
            * g_0
            - alpha_t
            * np.exp(-self.L[i_t])
            * (self.C[i_t] - self.C[i_s] - self.B[i_s] * (self.I[i_t] - self.I[i_s]))
        )
        if order > 1:
            g_d = self.derivatives(n, lambda_0n, g_0n, pseudo)
            for i in range(order - 1):
                x_t = (
                    x_t
                    - alpha_t
                    * np.exp(self.L[i_s] - self.L[i_t])
                    * self.exp_coeff(i_s, i_t, i + 2)
                    * g_d[i]
                )
        return x_t

    def predictor(self, xs, es, times, idxs, t, i_t, order, pseudo):
        sel = [-i - 1 for i in range(order)]
        pick = lambda lst: [lst[i] for i in sel]  # noqa: E731
        alpha_t = self.ns.marginal_alpha(t)
        return self._update(
            pick(xs), pick(es), pick(times), pick(idxs), alpha_t, i_t, order, pseudo
        )

    def corrector(self, xs, es, times, idxs, order, pseudo):
        sel = [-i - 1 for i in range(order)]
        sel[0], sel[1] = -2, -1
        pick = lambda lst: [lst[i] for i in sel]  # noqa: E731
        alpha_t = self.ns.marginal_alpha(pick(times)[1])
        return self._update(
            pick(xs),
            pick(es),
            pick(times),
            pick(idxs),
            alpha_t,
            pick(idxs)[1],
            order,
            pseudo,
        )

    def sample(
        self, x, order, p_pseudo, use_corrector, c_pseudo, lower_order_final, half=False
    ):
        steps = self.steps
        xs, es, times, idxs = [], [], [], []
        p_order = 0
        for step in range(1, steps + 1):
            xs.append(x)
            es.append(self.model(x, self.timesteps[step - 1]))
            times.append(self.timesteps[step - 1])
            idxs.append(self.indexes[step - 1])
            if use_corrector and (self.timesteps[step - 1] > 0.5 or not half):
                c_order = p_order + c_pseudo
                if c_order > 1:
                    x_new = self.corrector(xs, es, times, idxs, c_order, c_pseudo)
                    sigma_t = self.ns.marginal_std(times[-1])
                    l_t = self.l[idxs[-1]]
                    n_old = sigma_t * es[-1] - l_t * xs[-1]
                    xs[-1] = x_new
                    es[-1] = (n_old + l_t * xs[-1]) / sigma_t
            p_order = step if step < order else order
            if lower_order_final:
                p_order = min(p_order, steps + 1 - step)
            x = self.predictor(
                xs,
                es,
                times,
                idxs,
                self.timesteps[step],
                self.indexes[step],
                p_order,
                p_pseudo,
            )
        return x

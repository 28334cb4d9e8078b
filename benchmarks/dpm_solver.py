"""Benchmark: DPM-Solver / DPM-Solver++ (P06) against the exact probability-flow ODE.

Everything runs in one process on the CPU (``research/diffusion.md`` §1.3-1.4):

(a) Analytic Gaussian mixtures, whose noise prediction is exact
    (``jaxmethods.testing.analytic.GaussianMixture``): the 2-D mixture of §1.3
    and a 64-D mixture of 8 components (random means of norm 3, stds
    0.3-0.6, fixed seed). Linear VP schedule, t: 1 -> 1e-3, logSNR time
    steps, x_T = ``np.random.default_rng(0).standard_normal((n, D))``.
    Samplers: DDIM (order 1), DPM-Solver-2 and -3 (singlestep "fast", noise
    prediction), DPM-Solver++ 2M and 3M (multistep, data prediction) at
    NFE 5/10/15/20/50, and the adaptive DPM-Solver-23 at a few tolerances.
    Error: per-sample L2 distance to ``pf_ode_reference`` (diffrax Dopri8,
    float64, rtol = atol = 1e-12), median and RMS over the samples. Time:
    one jitted call on the whole batch, compile excluded, minimum over
    repeats, scaled to 1,000 samples; float64 (x64 on) and float32 (the same
    program traced under ``jax.enable_x64(False)``, so the solver state is
    float32 too).
(b) diffrax ``Tsit5`` + ``PIDController`` on the same probability-flow ODE in
    lambda (vector field written here from the exact eps), the batch as one
    state (diffrax's default RMS norm), ``dt0=None``, at several
    rtol = atol. Its NFE is ``6 * stats["num_steps"] + 1`` (FSAL: 6 new
    stages per attempted step, accepted or rejected, plus the first stage).
    diffrax 0.7.2's initial step-size selection makes no model call here: in
    ``diffeqsolve`` the term is wrapped, so ``_select_initial_step`` falls back
    to dt0 = 0.01. The script checks the formula against a call counter once.
    Then, per target median error, the fewest NFE with which each method
    reached it (with extra NFE 25-200 for DDIM, DPM-Solver-3, ++2M, ++3M).
(c) Solver overhead: a random-weight MLP eps-network (equinox, [x, t] in
    R^3 -> 128 -> 128 -> 2, SiLU), batch 1,000: ``dpm_solver_sample`` at 20
    steps against a jitted ``lax.scan`` of 20 bare model calls, timed round
    robin; overhead = (sampler - calls) / calls, i.e. the solver's extra work
    per step as a fraction of one model call, from the minimum times and as
    the median [IQR] of the per-round paired ratios. The same with a near-free
    elementwise model (eps = t * x) isolates the solver's own cost per step,
    also for states of 1000 x 64 and 1000 x 1024 (full run only).

Run:  python benchmarks/dpm_solver.py [--quick] [--repeats R]
"""

import argparse
import json
import os
import platform
import subprocess
import time
from functools import partial

import jax


jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

from jaxmethods.diffusion import VPSchedule, dpm_solver_sample, time_steps  # noqa: E402
from jaxmethods.testing.analytic import GaussianMixture, pf_ode_reference  # noqa: E402


SCHED = VPSchedule.linear()
T_START, T_END = 1.0, 1e-3
NFES = (5, 10, 15, 20, 50)
FIXED = (
    ("DDIM (order 1)", dict(order=1, method="multistep", algorithm="dpmsolver")),
    (
        "DPM-Solver-2 (single)",
        dict(order=2, method="singlestep", algorithm="dpmsolver"),
    ),
    ("DPM-Solver-3 (fast)", dict(order=3, method="singlestep", algorithm="dpmsolver")),
    ("DPM-Solver++ 2M", dict(order=2, method="multistep", algorithm="dpmsolver++")),
    ("DPM-Solver++ 3M", dict(order=3, method="multistep", algorithm="dpmsolver++")),
)
# (rtol, atol) of the adaptive DPM-Solver-23; the first is the official default.
ADAPTIVE = ((0.05, 0.0078), (0.01, 1e-3), (1e-3, 1e-4), (1e-4, 1e-5))
TSIT5_TOLS = (1e-2, 5e-3, 3e-3, 2e-3, 1e-3, 1e-4, 1e-5, 1e-6)
# Extra NFE (float64 error and time only) for the matched-error table.
EXTRA_NFES = (25, 30, 40, 75, 100, 150, 200)
EXTRA_METHODS = (
    "DDIM (order 1)",
    "DPM-Solver-3 (fast)",
    "DPM-Solver++ 2M",
    "DPM-Solver++ 3M",
)
TARGETS = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 1e-4, 1e-5)


# ----------------------------------------------------------------- helpers


def best_of(f, repeats):
    """Minimum wall time of ``f()`` over ``repeats`` calls after one warm-up."""
    jax.block_until_ready(f())
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t0)
    return min(ts)


def round_robin(fs, rounds, per_round=3):
    """Per-call times of each ``f`` in ``fs``, timed round robin.

    Returns ``{name: array of per-round mean per-call times}``.
    """
    for f in fs.values():
        jax.block_until_ready(f())
    times = {k: [] for k in fs}
    for _ in range(rounds):
        for k, f in fs.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                out = f()
            jax.block_until_ready(out)
            times[k].append((time.perf_counter() - t0) / per_round)
    return {k: np.asarray(v) for k, v in times.items()}


def errors(x, ref):
    e = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(ref), axis=1)
    return float(np.median(e)), float(np.sqrt(np.mean(e**2)))


def gmm_2d(dtype):
    return GaussianMixture(
        np.array([0.2, 0.5, 0.3], dtype),
        np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype),
        np.array([0.3, 0.5, 0.2], dtype),
    )


def gmm_64d(dtype, k=8, d=64, seed=1):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((k, d))
    means *= 3.0 / np.linalg.norm(means, axis=1, keepdims=True)
    stds = rng.uniform(0.3, 0.6, k)
    w = rng.uniform(0.5, 1.5, k)
    return GaussianMixture(
        (w / w.sum()).astype(dtype), means.astype(dtype), stds.astype(dtype)
    )


@eqx.filter_jit
def _fixed(eps_fn, x, steps, kw):
    kw = dict(kw)
    return dpm_solver_sample(
        eps_fn,
        SCHED,
        x,
        steps=steps,
        skip_type="logSNR",
        t_start=T_START,
        t_end=T_END,
        **kw,
    )


@eqx.filter_jit
def _adaptive(eps_fn, x, rtol, atol):
    return dpm_solver_sample(
        eps_fn,
        SCHED,
        x,
        order=3,
        method="adaptive",
        algorithm="dpmsolver++",
        t_start=T_START,
        t_end=T_END,
        rtol=rtol,
        atol=atol,
        max_steps=10_000,
    )


def _pf_ode_vf(eps_fn, counter=None):
    def vf(lam, x, args):
        t = SCHED.inverse_lambda(lam)
        s2 = jax.nn.sigmoid(-2.0 * lam)  # sigma^2 = d log alpha / d lambda
        if counter is not None:
            jax.debug.callback(counter)
        return s2 * x - jnp.sqrt(s2) * eps_fn(x, t).astype(x.dtype)

    return vf


def _tsit5_solve(eps_fn, x, tol, counter=None):
    lam0 = SCHED.lambda_(jnp.asarray(T_START, x.dtype))
    lam1 = SCHED.lambda_(jnp.asarray(T_END, x.dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_pf_ode_vf(eps_fn, counter)),
        diffrax.Tsit5(),
        t0=lam0,
        t1=lam1,
        dt0=None,
        y0=x,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
        max_steps=100_000,
    )
    return sol.ys[-1], sol.stats["num_steps"], sol.stats["num_rejected_steps"]


_tsit5 = eqx.filter_jit(_tsit5_solve)


def tsit5_nfe(num_steps):
    return 6 * int(num_steps) + 1


def check_tsit5_nfe(eps_fn, x):
    """Count vector-field calls of one Tsit5 solve; compare with the formula."""
    calls = [0]

    def counter():
        calls[0] += 1

    _, n, _ = _tsit5_solve(eps_fn, x, 1e-3, counter)
    jax.effects_barrier()
    return calls[0], tsit5_nfe(n)


# ----------------------------------------------------------------- (a), (b)


def bench_gmm(name, make_gmm, d, n, reps, nfes, extra, adaptive, tsit5_tols, rows):
    x_np = np.random.default_rng(0).standard_normal((n, d))
    gmm64 = make_gmm(np.float64)
    eps64 = gmm64.noise_prediction(SCHED)
    x64 = jnp.asarray(x_np)
    t0 = time.perf_counter()
    ref = np.asarray(pf_ode_reference(eps64, SCHED, x64, T_START, T_END))
    t_ref = time.perf_counter() - t0
    ref_loose = np.asarray(
        pf_ode_reference(eps64, SCHED, x64, T_START, T_END, rtol=1e-10, atol=1e-10)
    )
    ref_check = float(np.max(np.linalg.norm(ref - ref_loose, axis=1)))
    print(
        json.dumps(
            {"case": name, "reference_s": t_ref, "ref_1e-10_vs_1e-12_max": ref_check}
        ),
        flush=True,
    )
    scale = 1000.0 / n
    with jax.enable_x64(False):
        gmm32 = make_gmm(np.float32)
        eps32 = gmm32.noise_prediction(SCHED)
        x32 = jnp.asarray(x_np, jnp.float32)

    def run32(f):
        with jax.enable_x64(False):
            out = f()
            jax.block_until_ready(out)
            return out

    def time32(f):
        with jax.enable_x64(False):
            return best_of(f, reps)

    for label, kw in FIXED:
        kw_t = tuple(sorted(kw.items()))
        for steps in nfes:
            x, info = _fixed(eps64, x64, steps, kw_t)
            med, rms = errors(x, ref)
            t64 = best_of(partial(_fixed, eps64, x64, steps, kw_t), reps)
            x_f, info_f = run32(partial(_fixed, eps32, x32, steps, kw_t))
            med32, _ = errors(x_f, ref)
            t32 = time32(partial(_fixed, eps32, x32, steps, kw_t))
            row = {
                "case": name,
                "method": label,
                "nfe": int(info.nfe),
                "median": med,
                "rms": rms,
                "median_f32": med32,
                "dtype_f32": str(x_f.dtype),
                "ms_per_1k_f64": t64 * scale * 1e3,
                "ms_per_1k_f32": t32 * scale * 1e3,
            }
            assert row["nfe"] == steps == int(info_f.nfe), row
            rows.append(row)
            print(json.dumps(row), flush=True)
        if label not in EXTRA_METHODS:
            continue
        for steps in extra:
            x, info = _fixed(eps64, x64, steps, kw_t)
            med, rms = errors(x, ref)
            t64 = best_of(partial(_fixed, eps64, x64, steps, kw_t), reps)
            row = {
                "case": name,
                "method": label,
                "extra": True,
                "nfe": int(info.nfe),
                "median": med,
                "rms": rms,
                "ms_per_1k_f64": t64 * scale * 1e3,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    for rtol, atol in adaptive:
        x, info = _adaptive(eps64, x64, rtol, atol)
        med, rms = errors(x, ref)
        t64 = best_of(partial(_adaptive, eps64, x64, rtol, atol), reps)
        x_f, info_f = run32(partial(_adaptive, eps32, x32, rtol, atol))
        med32, _ = errors(x_f, ref)
        t32 = time32(partial(_adaptive, eps32, x32, rtol, atol))
        row = {
            "case": name,
            "method": "adaptive DPM-Solver++ 23",
            "rtol": rtol,
            "atol": atol,
            "nfe": int(info.nfe),
            "nfe_f32": int(info_f.nfe),
            "success": bool(info.success),
            "median": med,
            "rms": rms,
            "median_f32": med32,
            "ms_per_1k_f64": t64 * scale * 1e3,
            "ms_per_1k_f32": t32 * scale * 1e3,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    counted, formula = check_tsit5_nfe(eps64, x64[:8])
    assert counted == formula, (counted, formula)
    for tol in tsit5_tols:
        x, ns, nrej = _tsit5(eps64, x64, tol)
        med, rms = errors(x, ref)
        t64 = best_of(partial(_tsit5, eps64, x64, tol), reps)
        row = {
            "case": name,
            "method": "diffrax Tsit5 + PID",
            "rtol": tol,
            "atol": tol,
            "num_steps": int(ns),
            "num_rejected": int(nrej),
            "nfe": tsit5_nfe(ns),
            "nfe_counted_check": [counted, formula],
            "median": med,
            "rms": rms,
            "ms_per_1k_f64": t64 * scale * 1e3,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)


# ----------------------------------------------------------------- (c)


class MLPEps(eqx.Module):
    mlp: eqx.nn.MLP

    def __call__(self, x, t):
        tt = jnp.broadcast_to(jnp.asarray(t, x.dtype), (x.shape[0], 1))
        return jax.vmap(self.mlp)(jnp.concatenate([x, tt], axis=-1))


def make_mlp(dtype):
    mlp = eqx.nn.MLP(3, 2, 128, 2, activation=jax.nn.silu, key=jr.key(0))
    mlp = jax.tree.map(lambda a: a.astype(dtype) if eqx.is_array(a) else a, mlp)
    return MLPEps(mlp)


@eqx.filter_jit
def _bare_calls(eps_fn, x, ts):
    def body(x, t):
        return eps_fn(x, t), None

    return jax.lax.scan(body, x, ts)[0]


SAMPLERS_C = (
    ("DPM-Solver++ 2M", dict(order=2, method="multistep", algorithm="dpmsolver++")),
    ("DPM-Solver++ 3M", dict(order=3, method="multistep", algorithm="dpmsolver++")),
    ("DPM-Solver-3 (fast)", dict(order=3, method="singlestep", algorithm="dpmsolver")),
    ("DDIM (order 1)", dict(order=1, method="multistep", algorithm="dpmsolver")),
)


class TrivialEps(eqx.Module):
    """A near-free elementwise "model", to expose the solver's own cost."""

    def __call__(self, x, t):
        return jnp.asarray(t, x.dtype) * x


def bench_overhead(n, rounds, rows, quick=False, steps=20):
    """Sampler vs bare model calls, for the MLP and for a near-free model."""
    samplers = SAMPLERS_C[:2] if quick else SAMPLERS_C
    dtypes = (("float32", False), ("float64", True))
    for dtype, x64 in dtypes[:1] if quick else dtypes:
        with jax.enable_x64(x64):
            npdt = np.float32 if dtype == "float32" else np.float64
            x = jnp.asarray(np.random.default_rng(0).standard_normal((n, 2)), npdt)
            ts = time_steps(SCHED, steps, "logSNR", T_START, T_END)[:-1].astype(npdt)
            for model_name, eps in (("MLP", make_mlp(npdt)), ("trivial", TrivialEps())):
                fs = {"calls": partial(_bare_calls, eps, x, ts)}
                for label, kw in samplers:
                    kw_t = tuple(sorted(kw.items()))
                    fs[label] = partial(_fixed, eps, x, steps, kw_t)
                times = round_robin(fs, rounds)
                best = {k: float(v.min()) for k, v in times.items()}
                for label, _ in samplers:
                    over = best[label] - best["calls"]
                    paired = times[label] / times["calls"] - 1.0
                    row = {
                        "case": "overhead",
                        "model": model_name,
                        "dtype": dtype,
                        "method": label,
                        "batch": n,
                        "steps": steps,
                        "sampler_ms": best[label] * 1e3,
                        "calls_ms": best["calls"] * 1e3,
                        "one_call_us": best["calls"] / steps * 1e6,
                        "overhead_per_step_us": over / steps * 1e6,
                        "overhead_pct": 100.0 * over / best["calls"],
                        "paired_pct_median": 100.0 * float(np.median(paired)),
                        "paired_pct_q25_q75": [
                            100.0 * float(np.quantile(paired, q)) for q in (0.25, 0.75)
                        ],
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)


def bench_state_size(rounds, rows, n=1000, dims=(2, 64, 1024), steps=20):
    """Solver cost per step with the near-free model, as the state grows."""
    for dtype, x64 in (("float32", False), ("float64", True)):
        with jax.enable_x64(x64):
            npdt = np.float32 if dtype == "float32" else np.float64
            ts = time_steps(SCHED, steps, "logSNR", T_START, T_END)[:-1].astype(npdt)
            eps = TrivialEps()
            for d in dims:
                x = jnp.asarray(np.random.default_rng(0).standard_normal((n, d)), npdt)
                fs = {"calls": partial(_bare_calls, eps, x, ts)}
                for label, kw in SAMPLERS_C:
                    kw_t = tuple(sorted(kw.items()))
                    fs[label] = partial(_fixed, eps, x, steps, kw_t)
                best = {k: float(v.min()) for k, v in round_robin(fs, rounds).items()}
                row = {
                    "case": "state_size",
                    "dtype": dtype,
                    "shape": [n, d],
                    "state_MB": x.nbytes / 2**20,
                    "bare_call_us": best["calls"] / steps * 1e6,
                }
                for label, _ in SAMPLERS_C:
                    row[label] = (best[label] - best["calls"]) / steps * 1e6
                rows.append(row)
                print(json.dumps(row), flush=True)


# ----------------------------------------------------------------- report


def fmt(v):
    return f"{v:.2e}" if v < 0.995 else f"{v:.2f}"


def _cell(rs, label, k, f):
    for r in rs:
        if r["method"] == label and r["nfe"] == k and not r.get("extra"):
            return f(r)
    return "-"


def report(rows, cases, nfes):
    fixed = [lbl for lbl, _ in FIXED]
    for name in cases:
        rs = [r for r in rows if r["case"] == name]
        print(
            f"\n#### {name}: error vs the exact PF-ODE "
            "(median / RMS of per-sample L2)\n"
        )
        print("| method | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
        print("|---|" + "---|" * len(nfes))
        for label in fixed:
            cells = [
                _cell(rs, label, k, lambda r: f"{fmt(r['median'])} / {fmt(r['rms'])}")
                for k in nfes
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
        mid = [k for k in nfes if 10 <= k <= 20]
        print(f"\n#### {name}: DDIM median error / method median error\n")
        print("| method | " + " | ".join(f"NFE {k}" for k in mid) + " |")
        print("|---|" + "---:|" * len(mid))
        for label in fixed[1:]:
            cells = []
            for k in mid:
                ddim = _cell(rs, fixed[0], k, lambda r: r["median"])
                m = _cell(rs, label, k, lambda r: r["median"])
                cells.append(f"{ddim / m:.1f}x")
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\n#### {name}: ms per 1,000 samples, float64 / float32\n")
        print("| method | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
        print("|---|" + "---:|" * len(nfes))
        for label in fixed:
            cells = [
                _cell(
                    rs,
                    label,
                    k,
                    lambda r: f"{r['ms_per_1k_f64']:.2f} / {r['ms_per_1k_f32']:.2f}",
                )
                for k in nfes
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
        f32 = [
            r["median_f32"] / r["median"]
            for r in rs
            if "median_f32" in r and not r["method"].startswith("adaptive")
        ]
        print(
            f"\nfloat32 / float64 median error, fixed-step rows above: "
            f"{min(f32):.4f}-{max(f32):.4f}"
        )
        print(f"\n#### {name}: adaptive DPM-Solver++ 23 and diffrax Tsit5 + PID\n")
        print(
            "| solver | rtol / atol | NFE (f32) | attempted steps (rejected) "
            "| median err (f32) | RMS err | ms per 1k f64 | ms per 1k f32 |"
        )
        print("|---|---|---:|---|---:|---:|---:|---:|")
        for r in rs:
            if r["method"].startswith("adaptive"):
                print(
                    f"| adaptive ++23 | {r['rtol']:g} / {r['atol']:g} | {r['nfe']} "
                    f"({r['nfe_f32']}) | {r['nfe'] // 3} | {fmt(r['median'])} "
                    f"({fmt(r['median_f32'])}) | {fmt(r['rms'])} | "
                    f"{r['ms_per_1k_f64']:.2f} | {r['ms_per_1k_f32']:.2f} |"
                )
        for r in rs:
            if r["method"].startswith("diffrax"):
                print(
                    f"| Tsit5 + PID | {r['rtol']:g} / {r['atol']:g} | {r['nfe']} | "
                    f"{r['num_steps']} ({r['num_rejected']}) | {fmt(r['median'])} | "
                    f"{fmt(r['rms'])} | {r['ms_per_1k_f64']:.2f} | - |"
                )
        print(
            f"\n#### {name}: fewest NFE that reached a median error "
            "(of the runs above and the extra NFE)\n"
        )
        methods = [
            *fixed,
            "adaptive DPM-Solver++ 23",
            "diffrax Tsit5 + PID",
        ]
        print("| median error <= | " + " | ".join(methods) + " |")
        print("|---|" + "---:|" * len(methods))
        for tgt in TARGETS:
            cells = []
            for m in methods:
                ok = [r["nfe"] for r in rs if r["method"] == m and r["median"] <= tgt]
                cells.append(str(min(ok)) if ok else "-")
            print(f"| {tgt:g} | " + " | ".join(cells) + " |")
    rs = [r for r in rows if r["case"] == "state_size"]
    if rs:
        labels = [lbl for lbl, _ in SAMPLERS_C]
        print(
            "\n#### solver cost per step vs state size (near-free model "
            "eps = t * x, 20 steps; µs per step above the bare calls)\n"
        )
        print("| dtype | state | MiB | bare call (µs) | " + " | ".join(labels) + " |")
        print("|---|---|---:|---:|" + "---:|" * len(labels))
        for r in rs:
            print(
                f"| {r['dtype']} | {r['shape'][0]} x {r['shape'][1]} | "
                f"{r['state_MB']:.3g} | {r['bare_call_us']:.1f} | "
                + " | ".join(f"{r[lbl]:.1f}" for lbl in labels)
                + " |"
            )
    rs = [r for r in rows if r["case"] == "overhead"]
    if rs:
        print(
            f"\n#### solver overhead: batch {rs[0]['batch']}, {rs[0]['steps']} NFE "
            "(sampler vs the same number of bare model calls in a jitted scan)\n"
        )
        print(
            "| model | dtype | sampler | sampler (ms) | bare calls (ms) "
            "| one call (µs) | overhead / step (µs) | overhead / MLP call "
            "| paired per round: median [IQR] |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---|")
        mlp_call = {r["dtype"]: r["one_call_us"] for r in rs if r["model"] == "MLP"}
        for r in rs:
            pct = 100.0 * r["overhead_per_step_us"] / mlp_call[r["dtype"]]
            q25, q75 = r["paired_pct_q25_q75"]
            paired = (
                f"{r['paired_pct_median']:+.1f}% [{q25:+.1f}, {q75:+.1f}]"
                if r["model"] == "MLP"
                else "-"
            )
            print(
                f"| {r['model']} | {r['dtype']} | {r['method']} | "
                f"{r['sampler_ms']:.3f} | {r['calls_ms']:.3f} | {r['one_call_us']:.1f} "
                f"| {r['overhead_per_step_us']:.2f} | {pct:.1f}% | {paired} |"
            )


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in out.splitlines()
                if ln.startswith("Model name")
            ),
            "?",
        )
    except OSError:
        model = "?"
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPU(s) ({model}), "
        f"{jax.device_count()} XLA device(s) ({jax.default_backend()}), "
        f"jax {jax.__version__}, diffrax {diffrax.__version__}, "
        f"equinox {eqx.__version__}, numpy {np.__version__}, "
        f"python {platform.python_version()}, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    t_all = time.perf_counter()
    print(machine(), flush=True)
    rows = []
    if args.quick:
        n, reps, nfes, extra = 256, 1, (10, 20), ()
        adaptive, tols, rounds = ADAPTIVE[:1], TSIT5_TOLS[4:5], 5
        cases = (("GMM D=2", gmm_2d, 2),)
    else:
        n, reps, nfes, extra = 1000, args.repeats, NFES, EXTRA_NFES
        adaptive, tols, rounds = ADAPTIVE, TSIT5_TOLS, 60
        cases = (("GMM D=2", gmm_2d, 2), ("GMM D=64", gmm_64d, 64))
    for name, make, d in cases:
        bench_gmm(name, make, d, n, reps, nfes, extra, adaptive, tols, rows)
    bench_overhead(1000, rounds, rows, args.quick)
    if not args.quick:
        bench_state_size(15, rows)
    print()
    print(machine())
    print(f"total wall time {time.perf_counter() - t_all:.0f} s, {n} samples per case")
    report(rows, [c[0] for c in cases], nfes)


if __name__ == "__main__":
    main()

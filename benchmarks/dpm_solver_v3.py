"""Benchmark: DPM-Solver-v3 (P13) against DPM-Solver++ and a UniPC-style corrector.

Everything runs in one process on the CPU, in float64 (x64 on), following
``research/diffusion.md`` §2.3-2.4 and the conventions of
``benchmarks/dpm_solver.py``:

(a) The analytic 2-D Gaussian mixture of §1.3 (weights 0.2/0.5/0.3, means
    (-2, 0), (2, 1), (0, -2.5), stds 0.3/0.5/0.2), whose noise prediction is
    exact (``GaussianMixture.noise_prediction``). Linear VP, t: 1 -> 1e-3,
    x_T = ``np.random.default_rng(0).standard_normal((n, 2))`` (n = 1000; its
    first 256 rows are the §1.3 x_T, and the medians over those are printed
    too). Error: per-sample L2 distance to ``pf_ode_reference`` (Dopri8,
    rtol = atol = 1e-12), median and RMS over the samples.
    EMS: ``estimate_ems`` on the grid of 1200 intervals from t = 1 to 1e-3,
    from K = 1024 mixture samples (component draw ``jr.key(5)``, noise
    ``jr.key(6)``, EMS key ``jr.key(7)``, as in the unit tests), one
    Rademacher probe. Samplers at NFE 5/6/8/10/12/15/20:
    - v3: ``dpm_solver_v3_sample`` with its defaults (order 3, logSNR,
      corrector with ``c_pseudo``, ``lower_order_final``), then with
      ``c_pseudo=False``, with ``use_corrector=False`` and with
      ``lower_order_final=False``, and with the EMS estimated with the exact
      Jacobian diagonal;
    - UniPC-style: v3 with ``EMS.degenerate`` (l = 1, s = b = 0) on the same
      grid and the corrector on, i.e. a DPM-Solver++ predictor with a
      UniPC-like corrector; and the same without the corrector, which is
      ++3M in its Taylor form up to the grid's quadrature and snapping;
    - DPM-Solver++ 3M (the official formula), 3M with ``solver_type="taylor"``
      (true third order) and 2M: ``dpm_solver_sample(method="multistep",
      algorithm="dpmsolver++", skip_type="logSNR")``.
    The v3 times are snapped to the EMS grid; the ++ solvers use the exact
    logSNR grid. Time: one jitted call on the batch (``eqx.filter_jit``),
    compile excluded, best of ``--repeats``, per 1,000 samples, at NFE 10,
    next to a jitted ``lax.scan`` of 10 bare model calls. EMS estimation:
    K = 1024, n_grid = 1200, probes vs exact Jacobian; compile time (ahead of
    time, ``jax.jit(...).lower(...).compile()``) and run time of the compiled
    call (best of repeats when a call takes under 5 s, else one call).
    Spread: v3 (defaults) with EMS from other seeds (fresh samples, noise
    and probes) and from K = 16,384 samples.
(b) The 64-D mixture of ``benchmarks/dpm_solver.py`` (8 components, means of
    norm 3 in random directions, stds U(0.3, 0.6), weights U(0.5, 1.5),
    ``default_rng(1)``), the same samplers at NFE 5/6/8/10, EMS from 1024
    samples (probes, and exact Jacobian), and the seed spread.
(c) A noise-prediction MLP trained here on scikit-learn's ``load_digits``
    (1,797 images of 8 x 8, scaled to [-1, 1], D = 64): input x and a
    sinusoidal embedding of t (8 frequencies), 3 hidden layers of 128 SiLU
    units, Adam with cosine decay (2e-3), 40,000 batches of 256, float32
    training (about a minute on 2 cores), then cast to float64. EMS from the 1,797
    training images (probes); error against ``pf_ode_reference`` of the same
    model at rtol = atol = 1e-10 (checked against 1e-8) at NFE 5/6/8/10/15/20,
    for x_T = ``np.random.default_rng(0).standard_normal((256, 64))``, and
    the time at NFE 10 as in (a).

``--quick``: D=2 with 256 samples at NFE 5/6/8/10 and one extra EMS seed,
and the digits MLP trained for 300 steps, EMS from 256 images, 64 samples,
NFE 5 and 10 (about 2 minutes).

Run:  python benchmarks/dpm_solver_v3.py [--quick] [--repeats R]
"""

import argparse
import json
import os
import platform
import time

import jax


jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import sklearn  # noqa: E402
from _timing import best_of, cpu_model  # noqa: E402  (benchmarks/_timing.py)
from sklearn.datasets import load_digits  # noqa: E402

from jaxmethods.diffusion import (  # noqa: E402
    EMS,
    DPMSolverV3,
    VPSchedule,
    dpm_solver_sample,
    dpm_solver_v3_sample,
    estimate_ems,
    time_steps,
)
from jaxmethods.testing.analytic import GaussianMixture, pf_ode_reference  # noqa: E402


SCHED = VPSchedule.linear()
T_START, T_END = 1.0, 1e-3
N_GRID = 1200
K_EMS = 1024
MAIN_NFES = (5, 6, 8, 10)

V3 = "v3 (defaults)"
V3_EXACT = "v3, EMS with exact Jacobian"
V3_NOCP = "v3, c_pseudo=False"
V3_NOC = "v3, no corrector"
V3_NOLOF = "v3, lower_order_final=False"
UNIPC = "UniPC-style (degenerate EMS + corrector)"
DEG_NOC = "v3, degenerate EMS, no corrector"
V3_SDE = "v3, paper settings (ScoreSDE CIFAR-10 script)"
V3_EDM = "v3, paper settings (EDM CIFAR-10 script)"
PP3 = "DPM-Solver++ 3M (official)"
PP3T = "DPM-Solver++ 3M (taylor)"
PP2 = "DPM-Solver++ 2M"
# (label, sampler, EMS to use, keyword arguments)
METHODS = (
    (V3, "v3", "probes", ()),
    (V3_EXACT, "v3", "exact", ()),
    (V3_NOCP, "v3", "probes", (("c_pseudo", False),)),
    (V3_NOC, "v3", "probes", (("use_corrector", False),)),
    (V3_NOLOF, "v3", "probes", (("lower_order_final", False),)),
    (V3_SDE, "v3", "probes", "score_sde"),
    (V3_EDM, "v3", "probes", "edm"),
    (UNIPC, "v3", "degenerate", ()),
    (DEG_NOC, "v3", "degenerate", (("use_corrector", False),)),
    (PP3, "pp", None, (("order", 3),)),
    (PP3T, "pp", None, (("order", 3), ("solver_type", "taylor"))),
    (PP2, "pp", None, (("order", 2),)),
)
DIGITS_METHODS = (V3, V3_NOCP, V3_NOC, V3_SDE, V3_EDM, UNIPC, PP3, PP3T, PP2)


def paper_settings(script, steps):
    """The flags the official experiment scripts pass for ``steps`` NFE.

    ``codebases/score_sde/sample.sh``: pseudo predictor and no
    ``lower_order_final`` at 5 steps, corrector up to 8 steps; ``codebases/
    edm/sample.py``: pseudo predictor up to 5 steps, corrector up to 6. Both
    always pass ``c_pseudo=False`` (the function's default is True).
    """
    if script == "score_sde":
        return (
            ("p_pseudo", steps <= 5),
            ("lower_order_final", steps > 5),
            ("use_corrector", steps <= 8),
            ("c_pseudo", False),
        )
    return (
        ("p_pseudo", steps <= 5),
        ("use_corrector", steps <= 6),
        ("c_pseudo", False),
    )


TIMED = (V3, V3_NOC, UNIPC, PP3, PP3T, PP2)


# ----------------------------------------------------------------- helpers


def errors(x, ref):
    e = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(ref), axis=1)
    return float(np.median(e)), float(np.sqrt(np.mean(e**2)))


@eqx.filter_jit
def _v3(eps_fn, ems, x, steps, kw):
    return dpm_solver_v3_sample(eps_fn, SCHED, ems, x, steps=steps, **dict(kw))


@eqx.filter_jit
def _pp(eps_fn, x, steps, kw):
    return dpm_solver_sample(
        eps_fn,
        SCHED,
        x,
        steps=steps,
        method="multistep",
        algorithm="dpmsolver++",
        skip_type="logSNR",
        t_start=T_START,
        t_end=T_END,
        **dict(kw),
    )


@eqx.filter_jit
def _bare_calls(eps_fn, x, ts):
    def body(x, t):
        return eps_fn(x, t), None

    return jax.lax.scan(body, x, ts)[0]


def sampler(label, eps_fn, ems_by_kind):
    """``f(x, steps) -> (x0, info)`` for a row of ``METHODS``."""
    _, kind, ems_kind, kw = next(m for m in METHODS if m[0] == label)
    if kind == "pp":
        return lambda x, steps: _pp(eps_fn, x, steps, kw)
    ems = ems_by_kind[ems_kind]
    if isinstance(kw, str):  # per-NFE flags of an official script
        return lambda x, steps: _v3(eps_fn, ems, x, steps, paper_settings(kw, steps))
    return lambda x, steps: _v3(eps_fn, ems, x, steps, kw)


def gmm_2d():
    return GaussianMixture(
        np.array([0.2, 0.5, 0.3]),
        np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
        np.array([0.3, 0.5, 0.2]),
    )


def gmm_64d(k=8, d=64, seed=1):
    """The D=64 mixture of ``benchmarks/dpm_solver.py`` (same construction)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((k, d))
    means *= 3.0 / np.linalg.norm(means, axis=1, keepdims=True)
    stds = rng.uniform(0.3, 0.6, k)
    w = rng.uniform(0.5, 1.5, k)
    return GaussianMixture(w / w.sum(), means, stds)


def gmm_samples(gmm, k, seed):
    """K mixture samples and the EMS key; seed 0 uses the unit tests' keys."""
    kc, kn, ke = (jr.key(5 + 3 * seed + i) for i in range(3))
    w, means, stds = (jnp.asarray(a) for a in (gmm.weights, gmm.means, gmm.stds))
    comp = jr.choice(kc, w.shape[0], (k,), p=w)
    x0 = means[comp] + stds[comp][:, None] * jr.normal(kn, (k, means.shape[1]))
    return x0, ke


def timed_ems(eps_fn, x0, key, reps, **kw):
    """EMS, compile time and run time of ``estimate_ems`` (ahead of time).

    The call is lowered and compiled alone (``jax.jit(...).lower().compile()``),
    then the compiled program runs once, and ``reps - 1`` more times when that
    took under 5 s; the run time is the best of those.
    """

    def f(x0, key):
        return estimate_ems(
            eps_fn, SCHED, x0, key, n_grid=N_GRID, t_start=T_START, t_end=T_END, **kw
        )

    t0 = time.perf_counter()
    compiled = jax.jit(f).lower(x0, key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ems = jax.block_until_ready(compiled(x0, key))
    run_s = time.perf_counter() - t0
    if run_s < 5.0 and reps > 1:
        run_s = min(run_s, best_of(compiled, (x0, key), reps - 1))
    return ems, compile_s, run_s


def ems_summary(ems):
    lam = np.asarray(ems.lambdas)
    l, s, b = (np.asarray(a) for a in (ems.l, ems.s, ems.b))
    mid = lam.size // 2
    return {
        "l_range": [float(l.min()), float(l.max())],
        "s_range": [float(s.min()), float(s.max())],
        "b_absmax": float(np.abs(b).max()),
        "lambda_mid": float(lam[mid]),
        "l_mid_mean": float(l[mid].mean()),
        "l_end_mean": float(l[-1].mean()),
    }


def emit(rows, row):
    rows.append(row)
    print(json.dumps(row), flush=True)


# ----------------------------------------------------------------- (a), (b)


def bench_gmm(case, gmm, n, reps, nfes, n_seeds, big_k, rows, exact_jac=True):
    d = np.asarray(gmm.means).shape[1]
    eps_fn = gmm.noise_prediction(SCHED)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((n, d)))
    t0 = time.perf_counter()
    ref = np.asarray(pf_ode_reference(eps_fn, SCHED, x, T_START, T_END))
    t_ref = time.perf_counter() - t0
    emit(rows, {"case": case, "what": "reference", "seconds": t_ref, "n": n})

    x0, key = gmm_samples(gmm, K_EMS, 0)
    ems_by_kind = {}
    variants = (("probes", {}), ("exact", {"exact_jacobian": True}))
    for kind, kw in variants if exact_jac else variants[:1]:
        ems, compile_s, steady = timed_ems(eps_fn, x0, key, reps, **kw)
        ems_by_kind[kind] = ems
        emit(
            rows,
            {
                "case": case,
                "what": "ems",
                "kind": kind,
                "K": K_EMS,
                "n_grid": N_GRID,
                "steady_s": steady,
                "compile_s": compile_s,
                **ems_summary(ems),
            },
        )
    ems_by_kind["degenerate"] = EMS.degenerate(ems_by_kind["probes"].lambdas, (d,))

    for label, _, ems_kind, _ in METHODS:
        if ems_kind is not None and ems_kind not in ems_by_kind:
            continue
        f = sampler(label, eps_fn, ems_by_kind)
        for steps in nfes:
            xs, info = f(x, steps)
            assert int(info.nfe) == steps, (label, steps, info.nfe)
            med, rms = errors(xs, ref)
            row = {
                "case": case,
                "what": "error",
                "method": label,
                "nfe": steps,
                "median": med,
                "rms": rms,
            }
            if d == 2 and n > 256:  # the x_T of research/diffusion.md §1.3
                row["median_first256"] = errors(xs[:256], ref[:256])[0]
            emit(rows, row)

    time_rows(case, eps_fn, ems_by_kind, x, reps, TIMED, rows)

    # Spread over EMS draws, and an EMS from many more samples.
    f_nfes = [k for k in nfes if k in MAIN_NFES]
    draws = [(s, K_EMS) for s in range(1, n_seeds)] + [(0, k) for k in big_k]
    for seed, k in draws:
        x0_s, key_s = gmm_samples(gmm, k, seed)
        ems = estimate_ems(
            eps_fn, SCHED, x0_s, key_s, n_grid=N_GRID, t_start=T_START, t_end=T_END
        )
        for steps in f_nfes:
            xs, _ = _v3(eps_fn, ems, x, steps, ())
            emit(
                rows,
                {
                    "case": case,
                    "what": "spread",
                    "seed": seed,
                    "K": k,
                    "nfe": steps,
                    "median": errors(xs, ref)[0],
                },
            )


# ----------------------------------------------------------------- (c)


class EpsMLP(eqx.Module):
    """eps(x, t): [x, sin/cos(t * freqs)] -> width x depth (SiLU) -> D."""

    layers: list
    freqs: jax.Array

    def __init__(self, key, d=64, width=128, depth=3, n_freq=8):
        sizes = [d + 2 * n_freq] + [width] * depth + [d]
        keys = jr.split(key, len(sizes) - 1)
        self.layers = [
            eqx.nn.Linear(i, o, key=k, dtype=jnp.float32)
            for i, o, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]
        self.freqs = jnp.geomspace(1.0, 200.0, n_freq, dtype=jnp.float32)

    def __call__(self, x, t):
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        phase = t[:, None] * self.freqs.astype(x.dtype)
        h = jnp.concatenate([x, jnp.sin(phase), jnp.cos(phase)], axis=-1)
        for layer in self.layers[:-1]:
            h = jax.nn.silu(h @ layer.weight.T + layer.bias)
        return h @ self.layers[-1].weight.T + self.layers[-1].bias


def train_digits(data, num_steps, batch=256):
    data = jnp.asarray(data, jnp.float32)
    optimizer = optax.adam(optax.cosine_decay_schedule(2e-3, num_steps, alpha=0.05))

    def loss_fn(model, key):
        ki, kt, ke = jr.split(key, 3)
        x0 = data[jr.randint(ki, (batch,), 0, data.shape[0])]
        t = jr.uniform(kt, (batch,), minval=1e-3, maxval=1.0)
        e = jr.normal(ke, x0.shape)
        a = SCHED.alpha(t)[:, None]
        s = SCHED.sigma(t)[:, None]
        pred = model(a * x0 + s * e, t)
        return jnp.mean(jnp.sum((pred - e) ** 2, axis=-1))

    @eqx.filter_jit
    def train(model, key):
        params, static = eqx.partition(model, eqx.is_inexact_array)
        opt_state = optimizer.init(params)

        def step(carry, key):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(
                lambda p: loss_fn(eqx.combine(p, static), key)
            )(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(
            step, (params, opt_state), jr.split(key, num_steps)
        )
        return eqx.combine(params, static), losses

    with jax.enable_x64(False):
        model, losses = train(EpsMLP(jr.key(1)), jr.key(2))
        losses = np.asarray(losses)
    model = jax.tree.map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model
    )
    return model, losses


def bench_digits(n, reps, nfes, num_steps, k_ems, rows):
    case = "digits MLP"
    data = (load_digits().data / 8.0 - 1.0).astype(np.float64)
    t0 = time.perf_counter()
    model, losses = train_digits(data, num_steps)
    emit(
        rows,
        {
            "case": case,
            "what": "train",
            "steps": num_steps,
            "seconds": time.perf_counter() - t0,
            "loss_first200": float(losses[:200].mean()),
            "loss_last500": float(losses[-500:].mean()),
        },
    )
    x = jnp.asarray(np.random.default_rng(0).standard_normal((n, 64)))
    t0 = time.perf_counter()
    ref = np.asarray(
        pf_ode_reference(model, SCHED, x, T_START, T_END, rtol=1e-10, atol=1e-10)
    )
    t_ref = time.perf_counter() - t0
    ref8 = np.asarray(
        pf_ode_reference(model, SCHED, x, T_START, T_END, rtol=1e-8, atol=1e-8)
    )
    emit(
        rows,
        {
            "case": case,
            "what": "reference",
            "seconds": t_ref,
            "n": n,
            "ref_1e-8_vs_1e-10_max": float(np.max(np.linalg.norm(ref - ref8, axis=1))),
            "ref_norm_median": float(np.median(np.linalg.norm(ref, axis=1))),
        },
    )
    x0 = jnp.asarray(data[:k_ems])
    ems, compile_s, steady = timed_ems(model, x0, jr.key(7), 1)
    emit(
        rows,
        {
            "case": case,
            "what": "ems",
            "kind": "probes",
            "K": int(x0.shape[0]),
            "n_grid": N_GRID,
            "steady_s": steady,
            "compile_s": compile_s,
            **ems_summary(ems),
        },
    )
    ems_by_kind = {"probes": ems, "degenerate": EMS.degenerate(ems.lambdas, (64,))}
    for label in DIGITS_METHODS:
        f = sampler(label, model, ems_by_kind)
        for steps in nfes:
            xs, _ = f(x, steps)
            med, rms = errors(xs, ref)
            emit(
                rows,
                {
                    "case": case,
                    "what": "error",
                    "method": label,
                    "nfe": steps,
                    "median": med,
                    "rms": rms,
                },
            )
    time_rows(case, model, ems_by_kind, x, reps, (V3, UNIPC, PP3), rows)


@eqx.filter_jit
def _prebuilt(smp, eps_fn, x):
    return smp(eps_fn, x)


def time_rows(case, eps_fn, ems_by_kind, x, reps, labels, rows):
    """Time at NFE 10 (per 1,000 samples and at batch 1): 10 bare model
    calls, each sampler of ``labels``, and v3 (defaults) with its tables built
    once (``DPMSolverV3``)."""
    scale = 1000.0 / x.shape[0]
    ts = time_steps(SCHED, 10, "logSNR", T_START, T_END)[:-1]
    smp = DPMSolverV3(SCHED, ems_by_kind["probes"], steps=10)
    timed = [("10 bare model calls", _bare_calls, lambda x: (eps_fn, x, ts))]
    for label in labels:
        timed.append((label, sampler(label, eps_fn, ems_by_kind), lambda x: (x, 10)))
    timed.append((V3 + ", prebuilt DPMSolverV3", _prebuilt, lambda x: (smp, eps_fn, x)))
    for label, f, args in timed:
        emit(
            rows,
            {
                "case": case,
                "what": "time",
                "method": label,
                "ms_per_1k": best_of(f, args(x), reps) * scale * 1e3,
                "ms_batch1": best_of(f, args(x[:1]), reps) * 1e3,
            },
        )


# ----------------------------------------------------------------- report


def fmt(v):
    return f"{v:.2e}" if v < 0.995 else f"{v:.2f}"


def _get(rs, what, **match):
    for r in rs:
        if r["what"] == what and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def report(rows, cases):
    for case, nfes in cases:
        rs = [r for r in rows if r["case"] == case]
        labels = [m[0] for m in METHODS if _get(rs, "error", method=m[0])]
        print(
            f"\n#### {case}: error vs the exact PF-ODE "
            "(median / RMS of per-sample L2)\n"
        )
        print("| method | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
        print("|---|" + "---|" * len(nfes))
        for label in labels:
            cells = []
            for k in nfes:
                r = _get(rs, "error", method=label, nfe=k)
                cells.append(f"{fmt(r['median'])} / {fmt(r['rms'])}" if r else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")
        main = [k for k in nfes if k in MAIN_NFES]
        print(f"\n#### {case}: median error relative to DPM-Solver++ 3M (official)\n")
        print("| method | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
        print("|---|" + "---:|" * len(nfes))
        for label in labels:
            cells = []
            for k in nfes:
                r = _get(rs, "error", method=label, nfe=k)
                p = _get(rs, "error", method=PP3, nfe=k)
                cells.append(f"{r['median'] / p['median']:.2f}" if r and p else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")
        if _get(rs, "error", method=V3, nfe=main[0]).get("median_first256"):
            print(f"\n#### {case}: median over the first 256 samples (the §1.3 x_T)\n")
            print("| method | " + " | ".join(f"NFE {k}" for k in main) + " |")
            print("|---|" + "---:|" * len(main))
            for label in labels:
                cells = [
                    fmt(_get(rs, "error", method=label, nfe=k)["median_first256"])
                    for k in main
                ]
                print(f"| {label} | " + " | ".join(cells) + " |")
        spread = [r for r in rs if r["what"] == "spread"]
        if spread:
            print(
                f"\n#### {case}: v3 (defaults) median error over EMS draws "
                "(K = 1024: min / median / max over seeds; large K)\n"
            )
            ks = sorted({r["K"] for r in spread if r["K"] != K_EMS})
            n_seeds = len({r["seed"] for r in spread if r["K"] == K_EMS}) + 1
            print(
                "| NFE | ++3M | v3, seed 0 | "
                f"v3, {n_seeds} seeds min / median / max |"
                + "".join(f" v3, K = {k} |" for k in ks)
            )
            print("|---:|---:|---:|---|" + "---:|" * len(ks))
            for k in main:
                v = [_get(rs, "error", method=V3, nfe=k)["median"]] + [
                    r["median"]
                    for r in spread
                    if r["nfe"] == k and r["K"] == K_EMS and r["seed"] > 0
                ]
                big = [fmt(_get(spread, "spread", nfe=k, K=kk)["median"]) for kk in ks]
                print(
                    f"| {k} | {fmt(_get(rs, 'error', method=PP3, nfe=k)['median'])} | "
                    f"{fmt(v[0])} | {fmt(min(v))} / {fmt(float(np.median(v)))} / "
                    f"{fmt(max(v))} |" + "".join(f" {c} |" for c in big)
                )
        n = _get(rs, "reference")["n"]
        print(f"\n#### {case}: time at NFE 10 (float64, compile excluded)\n")
        print(f"| method | ms per 1,000 samples (batch {n}) | ms per call, batch 1 |")
        print("|---|---:|---:|")
        for r in rs:
            if r["what"] == "time":
                print(
                    f"| {r['method']} | {r['ms_per_1k']:.2f} | {r['ms_batch1']:.2f} |"
                )
        print(f"\n#### {case}: EMS estimation (n_grid = {N_GRID})\n")
        print(
            "| Jacobian diagonal | K | run (s) | compile (s) | l range "
            "| s range | max abs b |"
        )
        print("|---|---:|---:|---:|---|---|---:|")
        for r in rs:
            if r["what"] == "ems":
                print(
                    f"| {r['kind']} | {r['K']} | {r['steady_s']:.3f} | "
                    f"{r['compile_s']:.2f} | {r['l_range'][0]:.3f} .. "
                    f"{r['l_range'][1]:.3f} | {r['s_range'][0]:.3g} .. "
                    f"{r['s_range'][1]:.3g} | {r['b_absmax']:.3g} |"
                )
        print(f"\n#### {case}: v3 (defaults) against the 15% target\n")
        print("| NFE | v3 median | ++3M median | 1 - v3/++3M |")
        print("|---:|---:|---:|---:|")
        for k in main:
            v = _get(rs, "error", method=V3, nfe=k)["median"]
            p = _get(rs, "error", method=PP3, nfe=k)["median"]
            print(f"| {k} | {fmt(v)} | {fmt(p)} | {100 * (1 - v / p):+.0f}% |")


def machine():
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPU(s) ({cpu_model()}), "
        f"{jax.device_count()} XLA device(s) ({jax.default_backend()}), "
        f"jax {jax.__version__}, equinox {eqx.__version__}, optax {optax.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
        f"python {platform.python_version()}, load average {load}"
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
        reps = 2
        nfes_2d = MAIN_NFES
        bench_gmm("GMM D=2", gmm_2d(), 256, reps, nfes_2d, 2, (), rows)
        bench_digits(64, reps, MAIN_NFES[::3], 300, 256, rows)
        cases = [("GMM D=2", nfes_2d), ("digits MLP", MAIN_NFES[::3])]
    else:
        reps = args.repeats
        nfes_2d = (*MAIN_NFES, 12, 15, 20)
        bench_gmm("GMM D=2", gmm_2d(), 1000, reps, nfes_2d, 8, (16384,), rows)
        bench_gmm("GMM D=64", gmm_64d(), 1000, reps, MAIN_NFES, 4, (), rows)
        nfes_c = (*MAIN_NFES, 15, 20)
        bench_digits(256, reps, nfes_c, 40_000, 1797, rows)
        cases = [("GMM D=2", nfes_2d), ("GMM D=64", MAIN_NFES), ("digits MLP", nfes_c)]
    print()
    print(machine())
    print(f"total wall time {time.perf_counter() - t_all:.0f} s")
    report(rows, cases)


if __name__ == "__main__":
    main()

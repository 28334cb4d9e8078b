"""Benchmark: PaRIS and PaRIS particle Gibbs (jaxmethods.smc) against ``particles``.

Run from the repository root (a script, not a test)::

    python benchmarks/smc_paris.py            # full run, about 8-10 minutes
    python benchmarks/smc_paris.py --quick    # small sizes, under a minute
    python benchmarks/smc_paris.py --model scalar --sections a   # see below

``--sections`` picks any of (a)-(e) below; ``--model scalar`` swaps the
library's ``LinearGaussianSSM`` for a subclass with closed-form 1-D
log-densities (same model and numbers), to show how much of the time is the
library model's LAPACK-based log-density.

Everything runs in one process, float64, on the CPU. The model is the
seed-free reference LGSSM of ``jaxmethods.smc._reference`` (``X_0 = U_0``,
``X_t = 0.9 X_{t-1} + U_t``, ``Y_t = X_t + 0.5 V_t``, Weyl/Box-Muller noises)
with ``T = 100`` and, from the same noise sequences, ``T = 1000``; the target
is the lag-one functional ``E[sum_{t>=1} X_{t-1} X_t | y]``, whose exact value
comes from the RTS smoother.

Sections:

(a) Wall time of one jitted sweep of ``paris`` and of ``ppg_step`` (one PPG
    iteration) with ``backward="exact"`` and ``"mcmc"`` (2 MH steps), ``K = 2``,
    for ``T`` in {100, 1000} and ``N`` in {64, 256, 1024}. Compile time is
    excluded (ahead-of-time ``lower().compile()``, reported separately); the
    time is the minimum over repeats (up to 5, fewer when one call is slow).
(b) ``particles`` 0.4 (pure Python/NumPy): a bootstrap filter with the PaRIS
    collector (``Nparis=2``, rejection sampling, via
    ``benchmarks/_particles_peer.py``), and with ``Online_smooth_ON2``, at the
    same ``N`` and ``T``, each run once where its estimated time is under
    ``--peer-limit`` seconds (estimated from the runs already done), and the
    speed-up over ``paris``; also ``paris(backward="rejection")``, the same
    algorithm as the peer's collector.
(c) RMSE against the exact value at about equal wall time, ``T = 100``:
    PaRIS at ``N`` = 16..256 against the PPG roll-out with ``N = 16``,
    ``k`` iterations, burn-in ``k0 = 2``, started from the path ``x = 0``
    (the burn-in's cost is included). ``R`` replicates from ``vmap`` over
    keys. Time per estimate is a single (un-vmapped) jitted call; PPG times
    for intermediate ``k`` are interpolated linearly between the measured
    ``k = 4`` and ``k = k_max`` (``ppg`` is a ``scan`` of identical
    iterations). The roll-outs for all ``k`` are prefixes of one chain per
    replicate (``ppg`` keys iteration ``i`` by ``fold_in(key, i)``, so a
    prefix is exactly ``ppg(num_iters=k)``). Also printed: RMSE² x time,
    the mean squared error scaled to a common budget, and equal-time pairs
    (the PaRIS ``N`` whose time is nearest each PPG configuration's).
(d) RMSE of ``particles``' PaRIS at ``N = 16`` from a few seeds.
(e) Same ``N``, equal time (``T = 100``, ``backward="exact"``, ``N`` = 16 and
    32): the PPG roll-out after ``k`` iterations against the mean of ``m``
    independent PaRIS runs with the same ``N``, ``m`` being the number of
    PaRIS runs that fit in the PPG run's single-call time. Repeating PaRIS
    lowers its variance but not its O(1/N) bias; this is the comparison for a
    user whose ``N`` is fixed (memory, or a model too costly per particle).

OpenBLAS threads: the reference LGSSM's log-densities call LAPACK
(``solve_triangular``, i.e. ``dtrsm`` from SciPy's OpenBLAS) inside the jitted
loop. With OpenBLAS's default thread pool those calls fight XLA's threads for
the cores, and on a loaded 2-core machine a sweep with ``backward="exact"``
became 3-100x slower and erratic (N = 64, T = 100: 0.02-1.6 s instead of about
0.01 s). The script therefore sets ``OPENBLAS_NUM_THREADS=1`` unless it is
already set (the ``particles`` peer does not use BLAS in its loops). Export
the variable yourself to measure another setting; the value used is printed.
"""

from __future__ import annotations

import os


os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see the module docstring

import argparse
import datetime
import importlib.metadata
import math
import platform
import subprocess
import time

import jax


jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

from jaxmethods.smc import LinearGaussianSSM, paris, ppg, ppg_step  # noqa: E402
from jaxmethods.smc._reference import reference_lgssm, reference_noises  # noqa: E402


try:  # the peer (run as `python benchmarks/smc_paris.py`: this folder is on sys.path)
    import _particles_peer as peer
except ImportError:  # pragma: no cover - particles not installed
    peer = None


def lag1(xp, x, y, t, params):
    return xp[0] * x[0]


# --------------------------------------------------------------------------
# machine and data
# --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    extra = ""
    if peer is not None:
        extra = f", particles {importlib.metadata.version('particles')}"
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"jax {jax.__version__}, numpy {np.__version__}{extra}, "
        f"python {platform.python_version()}, date {datetime.date.today()}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


class ScalarLGSSM(LinearGaussianSSM):
    """The same model with closed-form scalar log-densities (``--model scalar``).

    The library's :class:`LinearGaussianSSM` evaluates every Gaussian
    log-density through a Cholesky factor and ``solve_triangular`` (a LAPACK
    call XLA cannot fuse); this subclass writes the 1-D densities as plain
    arithmetic, so the ``N x N`` backward logits are one fused loop. Used only
    to measure how much of the time is the model's log-density.
    """

    def log_transition(self, x_prev, x, t, params):
        p = self.lgssm(params)
        q = p.Q[0, 0]
        return -0.5 * (x[0] - p.A[0, 0] * x_prev[0]) ** 2 / q - 0.5 * jnp.log(
            2 * jnp.pi * q
        )

    def log_observation(self, x, y, t, params):
        p = self.lgssm(params)
        r = p.R[0, 0]
        return -0.5 * (y[0] - p.C[0, 0] * x[0]) ** 2 / r - 0.5 * jnp.log(2 * jnp.pi * r)


def lgssm_data(T: int, scalar: bool = False):
    """``(model, params, ys)``: the reference model with ``T`` observations."""
    model, params, ys100 = reference_lgssm()
    if scalar:
        model = ScalarLGSSM(parametrization=model.parametrization)
    if T == 100:
        return model, params, ys100
    u, v = reference_noises(T)
    x = np.empty(T, dtype=np.float64)
    x[0] = u[0]
    for t in range(1, T):
        x[t] = 0.9 * x[t - 1] + u[t]
    y = x + 0.5 * v
    assert np.array_equal(y[:100], np.asarray(ys100[:, 0]))
    return model, params, jnp.asarray(y[:, None])


def exact_lag1(model, params, ys) -> float:
    rts = model.rts_smoother(params, ys)
    m = rts.smoothed_means[:, 0]
    return float(jnp.sum(rts.smoothed_cross_covs[:, 0, 0] + m[:-1] * m[1:]))


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------


def compile_fn(fn, *args):
    """Ahead-of-time compile of ``jax.jit(fn)`` for ``args``; returns (compiled, s)."""
    t0 = time.perf_counter()
    c = jax.jit(fn).lower(*args).compile()
    return c, time.perf_counter() - t0


def best_of(compiled, make_args, max_reps: int, budget: float):
    """Min wall time over up to ``max_reps`` calls (stop once ``budget`` s is spent)."""
    ts: list[float] = []
    while len(ts) < max_reps and (not ts or sum(ts) < budget):
        args = make_args(len(ts))
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        ts.append(time.perf_counter() - t0)
    return min(ts), len(ts), out


def fmt_x(r: float) -> str:
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"


def fmt_s(s: float) -> str:
    if s < 1e-2:
        return f"{s * 1e3:.2f} ms"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


# --------------------------------------------------------------------------
# (a) one sweep
# --------------------------------------------------------------------------


def paris_fn(model, params, ys, n, backward):
    def f(key):
        return paris(key, model, params, ys, n, lag1, backward=backward).estimate

    return f


def ppg_step_fn(model, params, ys, n, backward):
    def f(key, ref):
        return ppg_step(key, model, params, ys, ref, n, lag1, backward=backward)[0]

    return f


def ppg_fn(model, params, ys, n, k, backward):
    """``key -> (k,)`` per-iteration estimates of ``k`` PPG iterations from x = 0."""
    ref0 = jnp.zeros_like(ys)

    def f(key):
        return ppg(
            key, model, params, ys, ref0, n, lag1,
            num_iters=k, burn_in=0, backward=backward,
        ).estimates  # fmt: skip

    return f


def ppg_times(model, params, ys, n, backward, k_lo, k_hi, reps):
    """Single-call times of ``ppg`` at ``k_lo`` and ``k_hi`` iterations.

    Returns the measured ``{k: seconds}`` and ``t(k)``, their linear
    interpolation (``ppg`` is a ``scan`` of identical iterations).
    """
    t_at = {}
    for k in sorted({k_lo, k_hi}):
        c, _ = compile_fn(ppg_fn(model, params, ys, n, k, backward), jr.key(0))
        t_at[k], _, _ = best_of(c, lambda i: (jr.key(i),), reps, 1.0)
    slope = (t_at[k_hi] - t_at[k_lo]) / max(k_hi - k_lo, 1)

    def t(k):
        return t_at.get(k, t_at[k_lo] + slope * (k - k_lo))

    return t_at, t


def section_a(data, sizes, reps, budget, log):
    rows = {}
    for T, Ns in sizes:
        model, params, ys = data[T]
        ref = jnp.zeros((T, 1))
        for n in Ns:
            for backward in ("exact", "mcmc"):
                c, tc = compile_fn(paris_fn(model, params, ys, n, backward), jr.key(0))
                tp, rp, _ = best_of(c, lambda i: (jr.key(i),), reps, budget)
                c2, tc2 = compile_fn(
                    ppg_step_fn(model, params, ys, n, backward), jr.key(0), ref
                )
                tg, rg, _ = best_of(c2, lambda i, r=ref: (jr.key(i), r), reps, budget)
                rows[(T, n, backward)] = dict(
                    paris=tp,
                    paris_reps=rp,
                    paris_compile=tc,
                    ppg=tg,
                    ppg_reps=rg,
                    ppg_compile=tc2,
                )
                log(
                    f"(a) T={T} N={n} {backward}: paris {fmt_s(tp)} ({rp} reps, "
                    f"compile {tc:.1f} s), ppg_step {fmt_s(tg)} ({rg} reps, "
                    f"compile {tc2:.1f} s)"
                )
    return rows


# --------------------------------------------------------------------------
# (b) particles
# --------------------------------------------------------------------------


def particles_on2(data, n, seed):
    """Bootstrap PF with only the ``Online_smooth_ON2`` collector; (estimate, s)."""
    import particles
    from particles import collectors, state_space_models as ssms

    fk = ssms.Bootstrap(ssm=peer.make_ssm(), data=np.asarray(data, np.float64))
    np.random.seed(seed)
    pf = particles.SMC(
        fk=fk,
        N=n,
        resampling="multinomial",
        ESSrmin=1.0,
        collect=[collectors.Online_smooth_ON2()],
    )
    t0 = time.perf_counter()
    pf.run()
    return float(pf.summaries.online_smooth_ON2[-1]), time.perf_counter() - t0


def particles_pf(data, n, seed):
    """Bootstrap PF without collectors (the filter's own cost); seconds."""
    import particles
    from particles import state_space_models as ssms

    fk = ssms.Bootstrap(ssm=peer.make_ssm(), data=np.asarray(data, np.float64))
    np.random.seed(seed)
    pf = particles.SMC(fk=fk, N=n, resampling="multinomial", ESSrmin=1.0)
    t0 = time.perf_counter()
    pf.run()
    return time.perf_counter() - t0


def section_b(data, sizes, limit, reps, budget, log):
    peer.warmup()
    done_paris: list[tuple[int, int, float]] = []  # (T, N, s)
    done_on2: list[tuple[int, int, float]] = []
    rows = {}

    def est_paris(T, n):
        # PaRIS cost is linear in N*T: use the per-particle-step cost of the
        # largest run done.
        Tr, nr, s = max(done_paris, key=lambda r: r[0] * r[1])
        return s * (T * n) / (Tr * nr)

    def est_on2(T, n):
        # per step a + b N^2, fitted to the runs done (pure N^2 from one run,
        # which over-estimates when the per-step overhead a dominates).
        pts = sorted({(r[1], r[2] / r[0]) for r in done_on2})
        if len(pts) == 1 or pts[-1][0] == pts[0][0]:
            nr, per = pts[-1]
            return T * per * (n / nr) ** 2
        (n1, p1), (n2, p2) = pts[-2], pts[-1]
        b = max((p2 - p1) / (n2**2 - n1**2), 0.0)
        a = max(p2 - b * n2**2, 0.0)
        return T * (a + b * n**2)

    for T, Ns in sizes:
        ys = data[T][2]
        y_np = np.asarray(ys[:, 0])
        assert np.allclose(y_np, peer.reference_data(T), rtol=0, atol=1e-12)
        for n in Ns:
            row = {"pf": particles_pf(y_np, n, 0)}
            e = est_paris(T, n) if done_paris else 0.0
            if e < limit:
                r = peer.run_paris(y_np, n, seed=1)
                row["paris"] = r["wall_time"]
                done_paris.append((T, n, r["wall_time"]))
            else:
                row["paris_est"] = e
            e2 = est_on2(T, n) if done_on2 else 0.0
            if e2 < limit:
                _, s = particles_on2(y_np, n, seed=1)
                row["on2"] = s
                done_on2.append((T, n, s))
            else:
                row["on2_est"] = e2
            # ours, same algorithm as the peer's collector (hybrid rejection,
            # default cap of 8 proposal rounds), timed only where the peer ran
            if "paris" in row:
                model, params, _ = data[T]
                f = paris_fn(model, params, ys, n, "rejection")
                c, _ = compile_fn(f, jr.key(0))
                row["rejection"], _, _ = best_of(
                    c, lambda i: (jr.key(i),), reps, budget
                )
            rows[(T, n)] = row
            log(
                f"(b) T={T} N={n}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items())
            )
    return rows


# --------------------------------------------------------------------------
# (c) RMSE at equal time
# --------------------------------------------------------------------------


def err_stats(est, exact):
    err = np.asarray(est, np.float64) - exact
    R = err.size
    rmse = float(np.sqrt(np.mean(err**2)))
    sd = float(np.std(err, ddof=1))
    bias = float(np.mean(err))
    rmse_se = float(np.std(err**2, ddof=1) / (2 * rmse * math.sqrt(R)))
    return dict(rmse=rmse, rmse_se=rmse_se, bias=bias, bias_se=sd / math.sqrt(R), sd=sd)


def section_c(data, a_rows, cfg, log):
    T = 100
    model, params, ys = data[T]
    exact = exact_lag1(model, params, ys)
    R = cfg["R"]
    keys = jr.split(jr.key(2026), R)
    n_ppg, k0, kmax, ks = cfg["ppg_N"], cfg["burn_in"], cfg["k_max"], cfg["ks"]
    out = {}
    for backward in cfg["backwards"]:
        paris_rows = []
        for n in cfg["paris_N"]:
            if (T, n, backward) in a_rows:
                t1 = a_rows[(T, n, backward)]["paris"]
            else:
                c, _ = compile_fn(paris_fn(model, params, ys, n, backward), jr.key(0))
                t1, _, _ = best_of(c, lambda i: (jr.key(i),), cfg["reps"], 1.0)
            vf = jax.vmap(paris_fn(model, params, ys, n, backward))
            cv, _ = compile_fn(vf, keys)
            tv, _, est = best_of(cv, lambda i: (keys,), 2, 0.5)
            st = err_stats(est, exact)
            paris_rows.append(dict(N=n, t=t1, t_batch=tv / R, **st))
            log(f"(c) {backward} PaRIS N={n}: {fmt_s(t1)}, RMSE {st['rmse']:.3f}")

        t_at, t_ppg = ppg_times(
            model, params, ys, n_ppg, backward, ks[0], kmax, cfg["reps"]
        )
        fk = ppg_fn(model, params, ys, n_ppg, kmax, backward)
        cv, _ = compile_fn(jax.vmap(fk), keys)
        tv, _, ests = best_of(cv, lambda i: (keys,), 2, 0.5)
        ests = np.asarray(ests)  # (R, kmax)
        ppg_rows = []
        for k in ks:
            roll = ests[:, k0:k].mean(axis=1)
            t1 = t_ppg(k)
            ppg_rows.append(
                dict(
                    N=n_ppg,
                    k=k,
                    k0=k0,
                    t=t1,
                    measured=k in t_at,
                    t_batch=tv / R * k / kmax,
                    **err_stats(roll, exact),
                )
            )
            log(
                f"(c) {backward} PPG k={k}: {fmt_s(t1)}, "
                f"RMSE {ppg_rows[-1]['rmse']:.3f}"
            )
        iters = [err_stats(ests[:, i], exact) for i in range(min(kmax, 4))]
        out[backward] = dict(paris=paris_rows, ppg=ppg_rows, iters=iters)
    return exact, out


# --------------------------------------------------------------------------
# (e) same N, equal time: PPG roll-out vs the average of repeated PaRIS runs
# --------------------------------------------------------------------------


def section_e(data, cfg, log):
    """PPG roll-out against the mean of ``m`` independent PaRIS runs, same ``N``.

    ``m`` is the number of PaRIS runs that fit in the PPG run's single-call
    time (rounded, at least 1). Averaging PaRIS runs reduces their variance
    but not their O(1/N) bias; PPG's roll-out reduces both.
    """
    T = 100
    model, params, ys = data[T]
    exact = exact_lag1(model, params, ys)
    R, k0, ks = cfg["R"], cfg["burn_in"], cfg["e_ks"]
    kmax, backward = ks[-1], "exact"
    rows, singles = [], []
    for n in cfg["e_N"]:
        c, _ = compile_fn(paris_fn(model, params, ys, n, backward), jr.key(0))
        t_paris, _, _ = best_of(c, lambda i: (jr.key(i),), cfg["reps"], 1.0)

        t_at, t_ppg = ppg_times(
            model, params, ys, n, backward, ks[0], kmax, cfg["reps"]
        )
        ppg_keys = jr.split(jr.key(2027), R)
        fk = ppg_fn(model, params, ys, n, kmax, backward)
        ests = np.asarray(jax.jit(jax.vmap(fk))(ppg_keys))  # (R, kmax)

        def runs_in(t, t_paris=t_paris):
            return max(1, round(t / t_paris))  # PaRIS runs that fit in time t

        m_max = runs_in(t_ppg(kmax))
        run = jax.jit(jax.vmap(paris_fn(model, params, ys, n, backward)))
        chunk = max(1, 4096 // R)
        paris_keys = jr.split(jr.key(2028), m_max * R).reshape(m_max, R)
        parts = [
            np.asarray(run(paris_keys[i : i + chunk].reshape(-1))).reshape(-1, R)
            for i in range(0, m_max, chunk)
        ]
        paris_est = np.concatenate(parts)  # (m_max, R)
        for k in ks:
            t = t_ppg(k)
            m = runs_in(t)
            row = dict(
                N=n,
                k=k,
                t=t,
                measured=k in t_at,
                m=m,
                t_paris=m * t_paris,
                ppg=err_stats(ests[:, k0:k].mean(axis=1), exact),
                paris=err_stats(paris_est[:m].mean(axis=0), exact),
            )
            rows.append(row)
            log(
                f"(e) N={n} k={k}: PPG {fmt_s(t)} RMSE {row['ppg']['rmse']:.3f}; "
                f"{m} x PaRIS {fmt_s(row['t_paris'])} RMSE {row['paris']['rmse']:.3f}"
            )
        single = err_stats(paris_est.reshape(-1), exact)
        log(
            f"(e) N={n}: PaRIS bias over {paris_est.size} runs "
            f"{single['bias']:+.3f} +- {single['bias_se']:.3f}, sd {single['sd']:.3f}"
        )
        singles.append(dict(N=n, runs=paris_est.size, t=t_paris, **single))
    return rows, singles


def print_e(rows, singles, R):
    print(
        "\n### (e) Same N, equal time: PPG roll-out vs the mean of m PaRIS runs "
        f"(T = 100, backward = 'exact', R = {R})\n"
    )
    print(
        "| N | PPG k (k0 = 2) | PPG time | PPG RMSE | m | m PaRIS runs' time | "
        "mean of m PaRIS RMSE | its bias (± s.e.) | PaRIS / PPG RMSE |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        star = "" if r["measured"] else "*"
        pp, pa = r["ppg"], r["paris"]
        print(
            f"| {r['N']} | {r['k']} | {fmt_s(r['t'])}{star} | "
            f"{pp['rmse']:.3f} ± {pp['rmse_se']:.3f} | {r['m']} | "
            f"{fmt_s(r['t_paris'])} | {pa['rmse']:.3f} ± {pa['rmse_se']:.3f} | "
            f"{pa['bias']:+.3f} ± {pa['bias_se']:.3f} | "
            f"{pa['rmse'] / pp['rmse']:.2f} |"
        )
    print()
    for r in singles:
        print(
            f"PaRIS N={r['N']}, one run: {fmt_s(r['t'])}, bias "
            f"{r['bias']:+.3f} ± {r['bias_se']:.3f}, sd {r['sd']:.3f} "
            f"(over {r['runs']} runs)."
        )
    print("\n\\* interpolated linearly between the measured k values.")


# --------------------------------------------------------------------------
# (d) particles' PaRIS RMSE
# --------------------------------------------------------------------------


def section_d(data, n, seeds, log):
    ys = data[100][2]
    exact = exact_lag1(*data[100])
    y_np = np.asarray(ys[:, 0])
    ests, ts = [], []
    for s in range(seeds):
        r = peer.run_paris(y_np, n, seed=1000 + s)
        ests.append(r["paris"])
        ts.append(r["wall_time"])
    st = err_stats(ests, exact)
    log(f"(d) particles PaRIS N={n}: RMSE {st['rmse']:.3f} from {seeds} seeds")
    return dict(N=n, seeds=seeds, t=float(np.median(ts)), **st)


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def print_tables(a_rows, b_rows, c_out, exact100, d_row, sizes, limit):
    if a_rows:
        print_a(a_rows, sizes)
    print_rest(a_rows, b_rows, c_out, exact100, d_row, limit)


def print_a(a_rows, sizes):
    print("\n### (a) One jitted sweep, K = 2 (min over repeats, compile excluded)\n")
    print(
        "| T | N | paris exact | paris mcmc | ppg_step exact | ppg_step mcmc | "
        "paris exact / mcmc | compile (paris exact) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for T, Ns in sizes:
        for n in Ns:
            e, m = a_rows[(T, n, "exact")], a_rows[(T, n, "mcmc")]
            print(
                f"| {T} | {n} | {fmt_s(e['paris'])} | {fmt_s(m['paris'])} | "
                f"{fmt_s(e['ppg'])} | {fmt_s(m['ppg'])} | "
                f"{e['paris'] / m['paris']:.1f}x | {e['paris_compile']:.1f} s |"
            )
    reps = sorted({r["paris_reps"] for r in a_rows.values()})
    print(f"\n(repeats per entry: {reps[0]}-{reps[-1]}; 1 where a call takes > 2 s)")


def print_rest(a_rows, b_rows, c_out, exact100, d_row, limit):
    if b_rows:
        print(
            f"\n### (b) particles 0.4 at equal N and T (one run each; "
            f"'not run' where the estimate exceeds {limit:.0f} s)\n"
        )
        print(
            "| T | N | particles PF only | particles PF + PaRIS | particles PF + ON2 "
            "| ours paris rejection | ours paris exact | ours paris mcmc | "
            "PaRIS speed-up vs rejection / exact / mcmc | ON2 / ours exact |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (T, n), r in b_rows.items():
            e, m = a_rows[(T, n, "exact")]["paris"], a_rows[(T, n, "mcmc")]["paris"]
            if "paris" in r:
                rj = fmt_s(r["rejection"])
                p = fmt_s(r["paris"])
                sp = " / ".join(fmt_x(r["paris"] / d) for d in (r["rejection"], e, m))
            else:
                rj = "-"
                p = f"not run (est. {r['paris_est']:.0f} s)"
                pe = r["paris_est"]
                sp = "(est. - / " + " / ".join(fmt_x(pe / d) for d in (e, m)) + ")"
            if "on2" in r:
                o, so = fmt_s(r["on2"]), fmt_x(r["on2"] / e)
            else:
                o = f"not run (est. {r['on2_est']:.0f} s)"
                so = f"(est. {fmt_x(r['on2_est'] / e)})"
            print(
                f"| {T} | {n} | {fmt_s(r['pf'])} | {p} | {o} | {rj} | "
                f"{fmt_s(e)} | {fmt_s(m)} | {sp} | {so} |"
            )

    for backward, res in c_out.items():
        print(
            f"\n### (c) RMSE vs exact at T = 100, backward = {backward!r} "
            f"(exact value {exact100:.6f})\n"
        )
        print(
            "| estimator | time per estimate (single call) | per replicate in a "
            "vmapped batch | RMSE | bias (± s.e.) | sd | "
            "RMSE² x time, single / batch (ms) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")

        def eff(r):
            return (
                f"{r['rmse'] ** 2 * r['t'] * 1e3:.0f} / "
                f"{r['rmse'] ** 2 * r['t_batch'] * 1e3:.0f}"
            )

        for r in res["paris"]:
            print(
                f"| PaRIS N={r['N']} | {fmt_s(r['t'])} | {fmt_s(r['t_batch'])} | "
                f"{r['rmse']:.3f} ± {r['rmse_se']:.3f} | "
                f"{r['bias']:+.3f} ± {r['bias_se']:.3f} | {r['sd']:.3f} | "
                f"{eff(r)} |"
            )
        for r in res["ppg"]:
            star = "" if r["measured"] else "*"
            print(
                f"| PPG N={r['N']}, k={r['k']}, k0={r['k0']} | {fmt_s(r['t'])}{star} | "
                f"{fmt_s(r['t_batch'])} | {r['rmse']:.3f} ± {r['rmse_se']:.3f} | "
                f"{r['bias']:+.3f} ± {r['bias_se']:.3f} | {r['sd']:.3f} | "
                f"{eff(r)} |"
            )
        print(
            "\nRMSE² x time is the mean squared error scaled to 1 ms of run time "
            "(lower is better; it assumes the variance falls like 1/time, e.g. by "
            "averaging independent runs, and ignores that the bias does not)."
        )
        if not all(r["measured"] for r in res["ppg"]):
            print("\n\\* interpolated linearly between the measured k values.")
        for key, what in (("t", "single-call"), ("t_batch", "batched per-replicate")):
            print(f"\nEqual-time pairs (PaRIS N with the nearest {what} time):\n")
            print(
                "| PPG | time | PaRIS | time | PPG RMSE | PaRIS RMSE | "
                "PaRIS / PPG RMSE |"
            )
            print("|---|---:|---|---:|---:|---:|---:|")
            for g in res["ppg"]:
                p = min(res["paris"], key=lambda r: abs(math.log(r[key] / g[key])))
                print(
                    f"| N={g['N']}, k={g['k']} | {fmt_s(g[key])} | N={p['N']} | "
                    f"{fmt_s(p[key])} | {g['rmse']:.3f} | {p['rmse']:.3f} | "
                    f"{p['rmse'] / g['rmse']:.2f} |"
                )
        it = ", ".join(
            f"{i + 1}: {s['bias']:+.2f} ± {s['bias_se']:.2f}"
            for i, s in enumerate(res["iters"])
        )
        print(f"\nPPG single-iteration bias by iteration (from x = 0): {it}")

    if d_row:
        print(
            f"\n### (d) particles PaRIS (Nparis=2), N = {d_row['N']}, T = 100, "
            f"{d_row['seeds']} seeds\n"
        )
        print("| RMSE | bias (± s.e.) | sd | median time per run |")
        print("|---:|---:|---:|---:|")
        print(
            f"| {d_row['rmse']:.3f} ± {d_row['rmse_se']:.3f} | "
            f"{d_row['bias']:+.3f} ± {d_row['bias_se']:.3f} | {d_row['sd']:.3f} | "
            f"{fmt_s(d_row['t'])} |"
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, < 1 minute")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peer-limit", type=float, default=None, help="seconds")
    p.add_argument("--replicates", type=int, default=None, help="R for (c)")
    p.add_argument(
        "--sections", default="abcde", help="subset of abcde to run (b needs a)"
    )
    p.add_argument(
        "--model",
        choices=["library", "scalar"],
        default="library",
        help="library LinearGaussianSSM, or closed-form scalar log-densities",
    )
    args = p.parse_args()
    secs = set(args.sections)
    if "b" in secs:
        secs.add("a")
    t_start = time.perf_counter()
    print(machine_line(), flush=True)
    print(f"model: {args.model}, sections: {''.join(sorted(secs))}", flush=True)

    if args.quick:
        sizes = [(100, [64])]
        reps, budget = 2, 0.5
        limit = 5.0 if args.peer_limit is None else args.peer_limit
        cfg = dict(
            R=args.replicates or 20,
            paris_N=[64],
            ppg_N=16,
            burn_in=2,
            k_max=8,
            ks=[8],
            backwards=["exact"],
            reps=2,
            e_N=[16],
            e_ks=[4, 8],
        )
        d_seeds = 0
    else:
        sizes = [(100, [64, 256, 1024]), (1000, [64, 256, 1024])]
        reps, budget = args.repeats, 2.0
        limit = 60.0 if args.peer_limit is None else args.peer_limit
        cfg = dict(
            R=args.replicates or 200,
            paris_N=[16, 32, 64, 128, 256],
            ppg_N=16,
            burn_in=2,
            k_max=32,
            ks=[4, 8, 16, 32],
            backwards=["exact", "mcmc"],
            reps=3,
            e_N=[16, 32],
            e_ks=[8, 16, 32, 64, 128],
        )
        d_seeds = 20

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)

    scalar = args.model == "scalar"
    data = {T: lgssm_data(T, scalar) for T in {100} | {T for T, _ in sizes}}
    for T in data:
        log(f"T={T}: exact E[sum X_(t-1) X_t | y] = {exact_lag1(*data[T]):.10f}")

    a_rows = section_a(data, sizes, reps, budget, log) if "a" in secs else {}
    b_rows = {}
    if "b" in secs and peer is not None:
        b_rows = section_b(data, sizes, limit, reps, budget, log)
    elif "b" in secs:
        log("(b) particles not installed: skipped")
    exact100, c_out = None, {}
    if "c" in secs:
        exact100, c_out = section_c(data, a_rows, cfg, log)
    d_row = None
    if "d" in secs and peer is not None and d_seeds:
        d_row = section_d(data, 16, d_seeds, log)

    e_rows, e_singles = section_e(data, cfg, log) if "e" in secs else ([], [])

    print_tables(a_rows, b_rows, c_out, exact100, d_row, sizes, limit)
    if e_rows:
        print_e(e_rows, e_singles, cfg["R"])
    print()
    print(machine_line())
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()

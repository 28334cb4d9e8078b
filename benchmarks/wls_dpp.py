"""Benchmark: the DPP samplers of ``jaxmethods.wls`` (P14) vs DPPy 0.3.3, CPU.

One process, float64, the same DPPs on both sides:

- continuous: the projection DPP of the first m tensor Legendre polynomials
  on [-1, 1]^2 (m in {20, 50, 100}). DPPy:
  ``MultivariateJacobiOPE(m, zeros((2, 2))).sample(random_state=...)``, one
  sample per call (HKPV chain rule, rejection from K(x, x)/m), sequential.
  Ours: ``projection_dpp(key, LegendreBasis(ope.ordering))``, i.e. the same
  multi-indices in DPPy's order (DPPy's reference measure is Lebesgue on the
  square, ours the uniform probability: the kernels differ by the factor 4,
  the DPP is the same);
- finite: a projection DPP of rank m = 50 on N = 10^4 items, K = Q Q^T with
  Q the Q factor of a Gaussian (N, m) matrix. DPPy ``sample_exact(mode='GS')``
  from ``FiniteDPP('correlation', projection=True, K_eig_dec=(1, Q))``
  (``proj_dpp_sampler_eig_GS``, O(N m^2)) and from ``K=K``
  (``proj_dpp_sampler_kernel_GS``); ours ``finite_projection_dpp(key, Q,
  method=...)`` (features path, default ``check=True``) and
  ``finite_projection_dpp(key, K, size=m, check=False, method=...)`` (kernel
  path; its check reads the 800 MB K twice), each with the default
  ``method="rejection"`` and with ``method="gs"`` (Gram-Schmidt, DPPy's
  algorithm). Each DPPy sampler runs once and is compared with both.

For each case (S samples, default 100):

- ``compile``: lowering + XLA compilation of the vmapped call (AOT, alone);
- ``vmap``: one jitted ``vmap`` call over S fresh keys, the best of
  ``--reps`` calls with fresh keys each (compile excluded);
- ``loop``: S sequential calls of the jitted unbatched sampler (compiled
  before), total time; per sample = total / S;
- ``dppy``: S sequential DPPy samples (seeds 0..S-1), the better of
  ``--dppy-passes`` passes over the same seeds; a pass that exceeds
  ``--dppy-cap`` seconds stops (after at least 10 samples) and its time is
  extrapolated to S samples, marked "(from n)" in the table.

samples/s = S / time; the ratios are DPPy's time over ours (higher is better
for us; the issue's target is 20x). Every sampler's output is checked: the
m x m matrix [phi_j(x_i)] (continuous) or Q_S (finite) must be non-singular;
mean log|det| with its standard error is printed for both libraries, and an
exact expectation is compared with the sample mean (z = (mean - exact) /
stderr): E[(1/m) sum_i |x_i|^2] = int |x|^2 k_m(x)/m dmu (Gauss-Legendre
quadrature) and E[sum_{i in S} K_ii] = sum_i K_ii^2.

``--profile`` adds a breakdown of our samplers: for the continuous one the
pool draw (``christoffel_iid`` of the default pool size P), the basis on the
pool, the whole sampler at pool sizes P/2, P, 2P and the rest (vmapped
sampler at P minus pool draw and basis: the chain loop); for the finite
features path, replicas of its m O(N m) steps and of its m
``jr.categorical`` draws over the N items.

Run:  JAX_PLATFORMS=cpu python benchmarks/wls_dpp.py [--ms 20,50,100]
      [--samples 100] [--reps 3] [--dppy-passes 2] [--dppy-cap 20]
      [--N 10000] [--m-finite 50] [--no-finite] [--profile]

The default run took 95-175 s on a shared 2-core VM (load average 1.5-5);
``--profile`` adds about 120-200 s.
"""

import argparse
import datetime
import hashlib
import importlib.metadata
import math
import os
import platform
import subprocess
import time
import warnings

import jax


jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from _timing import best_of, cpu_model  # noqa: E402  (benchmarks/_timing.py)
from jax import lax  # noqa: E402

from jaxmethods.wls import (  # noqa: E402
    LegendreBasis,
    christoffel_iid,
    finite_projection_dpp,
    projection_dpp,
)


def _load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _source_state():
    """Where ``jaxmethods`` was imported from, and the sha1 of its wls sources."""
    import jaxmethods

    pkg = os.path.dirname(os.path.abspath(jaxmethods.__file__))
    h = hashlib.sha1()
    for name in sorted(os.listdir(os.path.join(pkg, "wls"))):
        if name.endswith(".py"):
            with open(os.path.join(pkg, "wls", name), "rb") as fh:
                h.update(fh.read())
    out = f"jaxmethods from {pkg}, wls/*.py sha1 {h.hexdigest()[:10]}"
    try:
        git = subprocess.run(
            ["git", "-C", pkg, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        )
        dirty = subprocess.run(
            ["git", "-C", pkg, "status", "--porcelain", "--", "wls"],
            capture_output=True,
            text=True,
        )
    except OSError:
        return out
    if git.returncode != 0:
        return out + " (not a git checkout)"
    state = "wls/ clean" if not dirty.stdout.strip() else "wls/ has uncommitted changes"
    return out + f" (git {git.stdout.strip()}, {state})"


def _header():
    print(
        f"# wls_dpp {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"# machine: {platform.machine()}, {os.cpu_count()} CPU(s) ({cpu_model()}), "
        f"{jax.device_count()} XLA device(s) ({jax.default_backend()})\n"
        f"# jax {jax.__version__}, numpy {np.__version__}, "
        f"dppy {importlib.metadata.version('dppy')}, "
        f"python {platform.python_version()}\n"
        f"# source: {_source_state()}\n"
        f"# load average {_load()}",
        flush=True,
    )


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def _fmt_t(t):
    return f"{t:.3g}"


def _bench_ours(fn_batch, fn_single, args, S, reps, seed0):
    """Compile, warm vmapped and sequential unbatched times of one sampler.

    ``fn_batch(keys, *args)`` and ``fn_single(key, *args)`` are not jitted yet.
    Returns the times and the samples of the first warm vmapped call.
    """
    jb = jax.jit(fn_batch)
    keys0 = jr.split(jr.key(seed0), S)
    compiled, t_compile = _timed(lambda: jb.lower(keys0, *args).compile())
    jax.block_until_ready(compiled(keys0, *args))
    warm, samples = math.inf, np.zeros(0)
    for r in range(reps):
        keys = jr.split(jr.key(seed0 + 1 + r), S)
        out, t = _timed(lambda k=keys: jax.block_until_ready(compiled(k, *args)))
        print(f"#   ours vmap rep {r}: {t:.4f} s", flush=True)
        warm = min(warm, t)
        if r == 0:
            samples = np.asarray(out)
    js = jax.jit(fn_single)
    ks = jr.split(jr.key(seed0 + 1000), S)
    jax.block_until_ready(js(ks[0], *args))  # compile
    t0 = time.perf_counter()
    for i in range(S):
        jax.block_until_ready(js(ks[i], *args))
    t_loop = time.perf_counter() - t0
    return {"compile": t_compile, "vmap": warm, "loop": t_loop}, samples


def _bench_dppy(sample_one, S, passes, cap):
    """Time of S sequential DPPy samples (seeds 0..S-1), best of ``passes``.

    A pass stops early once it has taken ``cap`` seconds (after at least 10
    samples); its time is then extrapolated to S samples. No further pass
    starts once ``cap`` seconds have been spent in all.
    Returns ``(time for S, samples of the first pass, samples timed)``.
    """
    best, first, spent, n_timed = math.inf, [], 0.0, S
    for p in range(passes):
        out = []
        t0 = time.perf_counter()
        for s in range(S):
            out.append(sample_one(s))
            if time.perf_counter() - t0 > cap and s + 1 >= 10 and s + 1 < S:
                break
        t = time.perf_counter() - t0
        spent += t
        n = len(out)
        print(f"#   dppy pass {p}: {n} samples, {t:.4f} s", flush=True)
        if p == 0:
            first, n_timed = out, n
        best = min(best, t * S / n)
        if n < S or spent > cap:
            break
    return best, first, n_timed


# ----------------------------------------------------------------------------
# continuous


def _exact_mean_sq_norm(basis):
    """E_{rho_m}[|x|^2] = int |x|^2 k_m(x)/m dmu, mu uniform on [-1, 1]^2."""
    nq = basis.max_degree + 2
    t, w = np.polynomial.legendre.leggauss(nq)
    X = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    W = np.outer(w, w).reshape(-1) / 4.0
    k = np.asarray(basis.inverse_christoffel(jnp.asarray(X)))
    return float(np.sum(W * k * np.sum(X * X, -1)) / basis.m)


def _check_continuous(basis, samples):
    """log|det Phi| per sample (must be finite), and (1/m) sum_i |x_i|^2."""
    xs = jnp.asarray(np.stack([np.asarray(x) for x in samples]))
    _, logdet = jnp.linalg.slogdet(basis(xs))
    logdet = np.asarray(logdet)
    stat = np.mean(np.sum(np.asarray(xs) ** 2, -1), -1)
    inside = bool(np.all(np.abs(np.asarray(xs)) <= 1))
    return logdet, stat, inside


def _continuous_case(args, dppy_ope, m):
    ope = dppy_ope.MultivariateJacobiOPE(m, np.zeros((2, 2)))
    basis = LegendreBasis(np.asarray(ope.ordering))
    print(
        f"# continuous m={m}: max degree {basis.max_degree}, load {_load()}",
        flush=True,
    )
    times, ours = _bench_ours(
        lambda keys: jax.vmap(lambda k: projection_dpp(k, basis))(keys),
        lambda k: projection_dpp(k, basis),
        (),
        args.samples,
        args.reps,
        seed0=100 * m,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_dppy, theirs, n_dppy = _bench_dppy(
            lambda s: ope.sample(random_state=np.random.RandomState(s)),
            args.samples,
            args.dppy_passes,
            args.dppy_cap,
        )
    ld_o, st_o, in_o = _check_continuous(basis, list(ours))
    ld_d, st_d, in_d = _check_continuous(basis, theirs)
    exact = _exact_mean_sq_norm(basis)
    row = {
        "case": f"continuous d=2, m={m}",
        **times,
        "dppy": t_dppy,
        "dppy_n": n_dppy,
        "check": {
            "ours_logdet": _mean_se(ld_o),
            "dppy_logdet": _mean_se(ld_d),
            "ours_finite": bool(np.all(np.isfinite(ld_o))) and in_o,
            "dppy_finite": bool(np.all(np.isfinite(ld_d))) and in_d,
            "stat_name": "mean of x_i . x_i",
            "exact": exact,
            "ours_stat": _mean_se(st_o),
            "dppy_stat": _mean_se(st_d),
        },
    }
    print(f"#   done m={m}, load {_load()}", flush=True)
    return row


def continuous(args, dppy_ope):
    return [_continuous_case(args, dppy_ope, m) for m in args.ms]


# ----------------------------------------------------------------------------
# finite


def _check_finite(Q, kdiag, samples):
    logdets, stats, distinct = [], [], True
    for s in samples:
        s = np.asarray(s, dtype=np.int64)
        distinct &= len(set(s.tolist())) == len(s)
        logdets.append(np.linalg.slogdet(Q[s])[1])
        stats.append(float(kdiag[s].sum()))
    logdets = np.asarray(logdets)
    return logdets, np.asarray(stats), distinct and bool(np.all(np.isfinite(logdets)))


def finite(args, dppy_finite):
    N, m, S = args.N, args.m_finite, args.samples
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((N, m)))[0]
    K = Q @ Q.T
    kdiag = np.einsum("ij,ij->i", Q, Q)
    exact = float(np.sum(kdiag**2))
    Qj, Kj = jnp.asarray(Q), jnp.asarray(K)
    print(f"# finite N={N} m={m}: K {K.nbytes / 1e6:.0f} MB, load {_load()}")
    rows = []
    dppys = {
        "features Q": (
            dppy_finite.FiniteDPP(
                "correlation", projection=True, K_eig_dec=(np.ones(m), Q)
            ),
            "K_eig_dec=(1, Q): proj_dpp_sampler_eig_GS",
        ),
        "kernel K": (
            dppy_finite.FiniteDPP("correlation", projection=True, K=K),
            "K=K: proj_dpp_sampler_kernel_GS",
        ),
    }
    dppy_runs = {}  # each DPPy sampler runs once, for both of our methods
    for name, A in (("features Q", Qj), ("kernel K", Kj)):
        # the kernel path skips its check, which reads the 800 MB K twice
        opts = {} if name == "features Q" else {"size": m, "check": False}
        dpp, dppy_path = dppys[name]
        for method in ("rejection", "gs"):

            def fs(k, A, method=method, opts=opts):
                return finite_projection_dpp(k, A, method=method, **opts)

            def fb(keys, A, fs=fs):
                return jax.vmap(lambda k: fs(k, A))(keys)

            print(f"# finite {name}, method={method}, load {_load()}", flush=True)
            times, ours = _bench_ours(fb, fs, (A,), S, args.reps, seed0=7)
            if name not in dppy_runs:

                def one(s, dpp=dpp):
                    out = dpp.sample_exact(
                        mode="GS", random_state=np.random.RandomState(s)
                    )
                    dpp.flush_samples()
                    return out

                dppy_runs[name] = _bench_dppy(one, S, args.dppy_passes, args.dppy_cap)
            t_dppy, theirs, n_dppy = dppy_runs[name]
            ld_o, st_o, ok_o = _check_finite(Q, kdiag, list(ours))
            ld_d, st_d, ok_d = _check_finite(Q, kdiag, theirs)
            rows.append(
                {
                    "case": f"finite N={N}, m={m}, {name}, method={method} "
                    f"(DPPy {dppy_path})",
                    **times,
                    "dppy": t_dppy,
                    "dppy_n": n_dppy,
                    "check": {
                        "ours_logdet": _mean_se(ld_o),
                        "dppy_logdet": _mean_se(ld_d),
                        "ours_finite": ok_o,
                        "dppy_finite": ok_d,
                        "stat_name": "sum of K_ii, i in S",
                        "exact": exact,
                        "ours_stat": _mean_se(st_o),
                        "dppy_stat": _mean_se(st_d),
                    },
                }
            )
    return rows


# ----------------------------------------------------------------------------
# profile


def _gs_steps(Q, C, js):
    """The finite features path's O(N m) work alone: ``Q @ Q[j] - C @ C[j]``."""

    def body(t, acc):
        return acc + (Q @ Q[js[t]] - C @ C[js[t]])

    return lax.fori_loop(0, js.shape[0], body, jnp.zeros(Q.shape[0], Q.dtype))


def profile(args, dppy_ope):
    S, reps = args.samples, args.reps
    print(f"\n# profile (S={S}; best of {reps}), load {_load()}")
    print(
        "| m | pool P | proposals mean (max) | pool draw, 1 sample ms "
        "| pool draw, vmap S s | basis(pool), vmap S s | projection_dpp, 1 sample ms "
        "| projection_dpp vmap S s: P/2 | P | 2P | rest of vmap S at P s |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in args.ms:
        cells = _profile_row(dppy_ope, m, S, reps)
        print("| " + " | ".join(cells) + " |", flush=True)
    _profile_finite(args, S, reps)


def _profile_row(dppy_ope, m, S, reps):
    from jaxmethods.wls._samplers import _default_pool  # the default pool size

    ope = dppy_ope.MultivariateJacobiOPE(m, np.zeros((2, 2)))
    basis = LegendreBasis(np.asarray(ope.ordering))
    P = _default_pool(m)
    keys = jr.split(jr.key(1), S)
    used = jax.jit(
        jax.vmap(lambda k: projection_dpp(k, basis, return_proposals=True)[1])
    )(keys)
    used = np.asarray(used)
    iid1 = jax.jit(lambda k: christoffel_iid(k, basis, P))
    iidS = jax.jit(jax.vmap(lambda k: christoffel_iid(k, basis, P)))
    xs = iidS(keys)
    single = jax.jit(lambda k: projection_dpp(k, basis))
    t_iid, t_basis = best_of(iidS, (keys,), reps), best_of(jax.jit(basis), (xs,), reps)
    cells = [
        str(m),
        str(P),
        f"{used.mean():.0f} ({used.max()})",
        f"{1e3 * best_of(iid1, (keys[0],), reps):.2f}",
        _fmt_t(t_iid),
        _fmt_t(t_basis),
        f"{1e3 * best_of(single, (keys[0],), reps):.2f}",
    ]
    t_full = {}
    for ps in (max(1, P // 2), P, 2 * P):
        f = jax.jit(jax.vmap(lambda k, ps=ps: projection_dpp(k, basis, pool_size=ps)))
        t_full[ps] = best_of(f, (keys,), reps)
        cells.append(_fmt_t(t_full[ps]))
    cells.append(_fmt_t(t_full[P] - t_iid - t_basis))
    return cells


def _categorical_draws(key, p, m):
    """The finite path's index draws alone: m ``jr.categorical`` over N items."""

    def body(t, acc):
        return acc + jr.categorical(jr.fold_in(key, t), jnp.log(p)).astype(acc.dtype)

    return lax.fori_loop(0, m, body, jnp.zeros((), jnp.int32))


def _profile_finite(args, S, reps):
    if args.no_finite:
        return
    N, m = args.N, args.m_finite
    Q = jnp.asarray(np.linalg.qr(np.random.default_rng(0).standard_normal((N, m)))[0])
    Cs = jr.normal(jr.key(4), (S, N, m))
    js = jr.randint(jr.key(5), (S, m), 0, N)
    keys = jr.split(jr.key(6), S)
    pr = jnp.sum(Q * Q, -1)
    full1 = jax.jit(lambda k, A: finite_projection_dpp(k, A, method="gs"))
    fullS = jax.jit(
        jax.vmap(lambda k, A: finite_projection_dpp(k, A, method="gs"), (0, None))
    )
    gs1 = jax.jit(_gs_steps)
    gsS = jax.jit(jax.vmap(_gs_steps, in_axes=(None, 0, 0)))
    cat1 = jax.jit(lambda k, p: _categorical_draws(k, p, m))
    catS = jax.jit(jax.vmap(lambda k, p: _categorical_draws(k, p, m), (0, None)))
    parts = [
        (
            "finite_projection_dpp(key, Q, method='gs')",
            full1,
            (keys[0], Q),
            fullS,
            (keys, Q),
        ),
        (
            "its m steps Q @ Q[j] - C @ C[j] alone",
            gs1,
            (Q, Cs[0], js[0]),
            gsS,
            (Q, Cs, js),
        ),
        (
            "its m draws jr.categorical(key, log p) over N alone",
            cat1,
            (keys[0], pr),
            catS,
            (keys, pr),
        ),
    ]
    print(
        f"\n# finite features path, method='gs', N={N}, m={m} (C is "
        f"{Cs[0].nbytes / 1e6:.0f} MB "
        "per sample); 1 sample ms / vmap S s:"
    )
    for name, f1, a1, fS, aS in parts:
        t1, tS = best_of(f1, a1, reps), best_of(fS, aS, reps)
        print(f"#   {name}: {1e3 * t1:.2f} / {tS:.3g}", flush=True)


# ----------------------------------------------------------------------------


def _print_table(rows, S):
    print(
        f"\n| case | ours compile s | ours vmap {S} s | ours loop {S} s "
        f"| DPPy {S} s | ours vmap samples/s | ours loop samples/s "
        "| DPPy samples/s | DPPy / vmap | DPPy / loop |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [
            r["case"],
            f"{r['compile']:.2f}",
            _fmt_t(r["vmap"]),
            _fmt_t(r["loop"]),
            _fmt_t(r["dppy"]) + ("" if r["dppy_n"] == S else f" (from {r['dppy_n']})"),
            f"{S / r['vmap']:.4g}",
            f"{S / r['loop']:.4g}",
            f"{S / r['dppy']:.4g}",
            f"{r['dppy'] / r['vmap']:.1f}x",
            f"{r['dppy'] / r['loop']:.1f}x",
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        "\n| case | valid ours / DPPy | mean log-det ours | mean log-det DPPy "
        "| statistic | exact | ours (z) | DPPy (z) |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for r in rows:
        c = r["check"]

        def ms(v):
            return f"{v[0]:.3f} ± {v[1]:.3f}"

        def z(v, c=c):
            return f"{v[0]:.4f} ({(v[0] - c['exact']) / v[1]:+.1f})"

        cells = [
            r["case"].split(" (")[0],
            f"{'yes' if c['ours_finite'] else 'NO'} / "
            f"{'yes' if c['dppy_finite'] else 'NO'}",
            ms(c["ours_logdet"]),
            ms(c["dppy_logdet"]),
            c["stat_name"],
            f"{c['exact']:.4f}",
            z(c["ours_stat"]),
            z(c["dppy_stat"]),
        ]
        print("| " + " | ".join(cells) + " |")


def main():
    p = argparse.ArgumentParser(
        description="DPP samplers of jaxmethods.wls vs DPPy 0.3.3 (CPU)."
    )
    p.add_argument("--ms", default="20,50,100", help="continuous m, comma-separated")
    p.add_argument("--samples", type=int, default=100, help="samples per case (S)")
    p.add_argument("--reps", type=int, default=3, help="warm vmapped calls per case")
    p.add_argument("--dppy-passes", type=int, default=2, help="DPPy passes per case")
    p.add_argument("--dppy-cap", type=float, default=20.0, help="DPPy seconds per case")
    p.add_argument("--N", type=int, default=10_000, help="finite ground set size")
    p.add_argument("--m-finite", type=int, default=50, help="finite DPP rank")
    p.add_argument("--no-finite", action="store_true", help="skip the finite case")
    p.add_argument("--profile", action="store_true", help="add our breakdown")
    args = p.parse_args()
    args.ms = [int(s) for s in args.ms.split(",")]
    import dppy.finite_dpps as dppy_finite
    import dppy.multivariate_jacobi_ope as dppy_ope

    _header()
    t_start = time.perf_counter()
    rows = continuous(args, dppy_ope)
    if not args.no_finite:
        rows += finite(args, dppy_finite)
    _print_table(rows, args.samples)
    if args.profile:
        profile(args, dppy_ope)
    print(f"\n# total {time.perf_counter() - t_start:.0f} s; load average {_load()}")


if __name__ == "__main__":
    main()

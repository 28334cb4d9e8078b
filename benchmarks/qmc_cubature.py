"""Benchmark: adaptive QMC cubature (P02), wall time to tolerance vs QMCPy.

CPU, one process, float64. The Keister integrand in d = 3, ..., 8
(``jaxmethods.qmc.integrands.Keister`` / ``qmcpy.Keister``), the same
absolute tolerance (``rel_tol=0``), each integrator with its defaults:

- ``cub_qmc_net_g`` vs ``qmcpy.CubQMCNetG`` on ``DigitalNetB2``;
- ``cub_qmc_lattice_g`` vs ``qmcpy.CubQMCLatticeG`` on ``Lattice``;
- ``cub_qmc_bayes_net_g`` vs ``qmcpy.CubBayesNetG`` on ``DigitalNetB2``;
- ``cub_qmc_bayes_lattice_g`` vs ``qmcpy.CubBayesLatticeG`` on ``Lattice``.

The defaults agree (n_init, n_limit, fudge, periodization, order, alpha,
errbd_type) but for two points. Ours cap ``n_limit`` at the 2^20 points of
the default lattice generating vector silently; ``CubQMCLatticeG`` caps it
with a warning, but ``CubBayesLatticeG`` keeps 2^22 and raises a
``ParameterError`` when it doubles past 2^20, so both QMCPy lattice rules
are given ``n_limit=2**20`` here. And where our Bayesian rules have
``kernel_points="centered"`` (the Gram matrix of the design; printed in the
header), that is not QMCPy's rule (``"qmcpy"``); the header line
``source:`` says which library state was measured.

For each (method, d):

- ``first``: our first call (key 0), which compiles one jitted step per
  doubling level (plus the point-set setup);
- ``warm``: the fastest of ``--reps`` further calls with fresh keys and the
  same integrand object, so compiled steps are reused (a call that reaches
  a level not compiled yet includes that compilation);
- ``qmcpy``: the fastest of ``--reps`` calls with seeds 0, 1, ...
  (QMCPy has no compilation step);
- n: the sample sizes used (all calls), |err|: the largest
  ``|estimate - exact|`` over the calls, levels: our number of doubling
  steps in the first call; "(not met)": at least one call stopped at
  ``n_limit`` without meeting the tolerance; speedup = qmcpy / warm.

Repeated calls of one cell stop early once they have taken more than
``--cap`` seconds in all (at least one warm call and one QMCPy call run).

Run:  JAX_PLATFORMS=cpu python benchmarks/qmc_cubature.py
      [--dims 3,4,5,6,7,8] [--tol 1e-3] [--reps 3] [--cap 10]
      [--methods net,lattice,bayes_net,bayes_lattice]

The default run took 400-480 s on a shared 2-core VM (load average about
4), over 70% of it in our first calls, mostly XLA compilation.
"""

import argparse
import datetime
import hashlib
import inspect
import math
import os
import platform
import subprocess
import time
import warnings

import jax


jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _timing import cpu_model  # noqa: E402  (benchmarks/_timing.py)

import jaxmethods.qmc as qmc  # noqa: E402
from jaxmethods.qmc.integrands import Keister  # noqa: E402


METHODS = ("net", "lattice", "bayes_net", "bayes_lattice")


def _ours(name):
    return {
        "net": qmc.cub_qmc_net_g,
        "lattice": qmc.cub_qmc_lattice_g,
        "bayes_net": qmc.cub_qmc_bayes_net_g,
        "bayes_lattice": qmc.cub_qmc_bayes_lattice_g,
    }[name]


def _qmcpy_call(qp, name, d, seed, tol):
    """One QMCPy integration: ``(estimate, n, converged)``."""
    if name in ("net", "bayes_net"):
        integrand = qp.Keister(qp.DigitalNetB2(d, seed=seed))
    else:
        integrand = qp.Keister(qp.Lattice(d, seed=seed))
    kw = {"abs_tol": tol, "rel_tol": 0}
    if name == "net":
        sc = qp.CubQMCNetG(integrand, **kw)
    elif name == "lattice":
        sc = qp.CubQMCLatticeG(integrand, n_limit=2**20, **kw)
    elif name == "bayes_net":
        sc = qp.CubBayesNetG(integrand, **kw)
    else:
        sc = qp.CubBayesLatticeG(integrand, n_limit=2**20, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol, data = sc.integrate()
    return float(np.asarray(sol)), int(data.n_total), bool(np.all(data.comb_flags))


def _source_state():
    """Git commit, and the uncommitted files under ``jaxmethods/`` (with a hash)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*a):
        return subprocess.run(["git", *a], cwd=root, capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short", "HEAD").stdout.strip()
        dirty = git("status", "--porcelain", "--", "jaxmethods").stdout.splitlines()
    except OSError:
        return "?"
    if not dirty:
        return f"{head} (jaxmethods/ clean)"
    files = [ln[3:] for ln in dirty]
    h = hashlib.sha1()
    for path in files:  # contents of the changed and untracked files
        full = os.path.join(root, path)
        walk = [
            os.path.join(dp, fn)
            for dp, _, fns in sorted(os.walk(full))
            for fn in sorted(fns)
        ]
        for name in [full] if os.path.isfile(full) else walk:
            with open(name, "rb") as fh:
                h.update(fh.read())
    return (
        f"{head} + uncommitted jaxmethods/ changes "
        f"({', '.join(files)}; contents sha1 {h.hexdigest()[:10]})"
    )


def _kernel_points_defaults():
    """Our Bayesian rules' ``kernel_points`` defaults (absent in older versions)."""
    out = []
    for name in ("bayes_net", "bayes_lattice"):
        par = inspect.signature(_ours(name)).parameters.get("kernel_points")
        out.append(f"{name}={'(none)' if par is None else par.default}")
    return ", ".join(out)


def _header(qp):
    print(
        f"# qmc_cubature {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"# machine: {platform.machine()}, {os.cpu_count()} CPU(s) ({cpu_model()}), "
        f"{jax.device_count()} XLA device(s) ({jax.default_backend()})\n"
        f"# jax {jax.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"qmcpy {getattr(qp, '__version__', '?')}, "
        f"python {platform.python_version()}\n"
        f"# source: {_source_state()}\n"
        f"# kernel_points default: {_kernel_points_defaults()}\n"
        f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )


def _pow2(ns):
    ms = sorted({int(round(math.log2(n))) for n in ns})
    return f"2^{ms[0]}" if len(ms) == 1 else f"2^{ms[0]}-2^{ms[-1]}"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _bench_ours(name, d, tol, reps, cap):
    fn = _ours(name)
    f = Keister(d)
    exact = f.exact

    def call(seed):
        res = fn(f, d, key=jax.random.key(seed), abs_tol=tol, rel_tol=0.0)
        return float(res.estimate), res.n, res.code, len(res.history_n)

    (est, n, code, levels), first = _timed(lambda: call(0))
    ns, errs, codes = [n], [abs(est - exact)], [code]
    warm, spent = math.inf, 0.0
    for seed in range(1, reps + 1):
        (est, n, code, _), t = _timed(lambda s=seed: call(s))
        print(f"#   ours  {name:13s} d={d} key={seed} n={n} {t:.4f} s", flush=True)
        ns.append(n)
        errs.append(abs(est - exact))
        codes.append(code)
        warm = min(warm, t)
        spent += t
        if spent > cap:
            break
    return {
        "n": ns,
        "err": max(errs),
        "all_met": all(c == 0 for c in codes),
        "first": first,
        "warm": warm,
        "levels": levels,
    }


def _bench_qmcpy(qp, name, d, tol, reps, cap):
    exact = Keister(d).exact
    ns, errs, met = [], [], []
    best, spent = math.inf, 0.0
    for seed in range(reps):
        try:
            (est, n, ok), t = _timed(lambda s=seed: _qmcpy_call(qp, name, d, s, tol))
        except Exception as e:  # noqa: BLE001  (report QMCPy failures, go on)
            print(f"#   qmcpy {name} d={d} seed={seed} failed: {e!r}", flush=True)
            return {"failed": repr(e)}
        print(f"#   qmcpy {name:13s} d={d} seed={seed} n={n} {t:.4f} s", flush=True)
        ns.append(n)
        errs.append(abs(est - exact))
        met.append(ok)
        best = min(best, t)
        spent += t
        if spent > cap:
            break
    return {"n": ns, "err": max(errs), "all_met": all(met), "time": best}


def _fmt_s(t):
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def main():
    p = argparse.ArgumentParser(
        description="Adaptive QMC cubature (P02): wall time to tolerance vs QMCPy."
    )
    p.add_argument("--dims", default="3,4,5,6,7,8", help="comma-separated d")
    p.add_argument("--tol", type=float, default=1e-3, help="abs_tol (rel_tol=0)")
    p.add_argument("--reps", type=int, default=3, help="warm / QMCPy calls per cell")
    p.add_argument("--cap", type=float, default=10.0, help="seconds per cell")
    p.add_argument("--methods", default=",".join(METHODS), help=",".join(METHODS))
    args = p.parse_args()
    dims = [int(s) for s in args.dims.split(",")]
    methods = [s.strip() for s in args.methods.split(",")]
    for m in methods:
        if m not in METHODS:
            p.error(f"unknown method {m!r}; choose from {METHODS}")
    import qmcpy as qp

    _header(qp)
    print(f"# abs_tol={args.tol:g} rel_tol=0 reps={args.reps} cap={args.cap:g} s")
    t_start = time.perf_counter()
    rows = []
    for name in methods:
        for d in dims:
            ours = _bench_ours(name, d, args.tol, args.reps, args.cap)
            peer = _bench_qmcpy(qp, name, d, args.tol, args.reps, args.cap)
            rows.append((name, d, ours, peer))
    total = time.perf_counter() - t_start

    print()
    print(
        "| method | d | n ours | n qmcpy | max abs err ours | max abs err qmcpy "
        "| levels | first call s | warm s | qmcpy s | qmcpy / warm |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, d, ours, peer in rows:
        n_ours = _pow2(ours["n"]) + ("" if ours["all_met"] else " (not met)")
        if "failed" in peer:
            peer_cols = ["failed", "-", "-", "-"]
        else:
            peer_cols = [
                _pow2(peer["n"]) + ("" if peer["all_met"] else " (not met)"),
                f"{peer['err']:.1e}",
            ]
        cells = [
            name,
            str(d),
            n_ours,
            peer_cols[0],
            f"{ours['err']:.1e}",
            peer_cols[1],
            str(ours["levels"]),
            _fmt_s(ours["first"]),
            _fmt_s(ours["warm"]),
            "-" if "failed" in peer else _fmt_s(peer["time"]),
            "-" if "failed" in peer else f"{peer['time'] / ours['warm']:.1f}x",
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        f"\n# total {total:.0f} s; load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()

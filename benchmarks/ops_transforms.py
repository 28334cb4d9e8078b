"""Time jaxmethods.ops FWHT/FFTBR (XLA path, float64, CPU) against CPU peers.

Run from the repository root (a script, not a test)::

    python benchmarks/ops_transforms.py            # full run, about 2-3 minutes
    python benchmarks/ops_transforms.py --quick    # a few small sizes, seconds

Everything runs in one process. For each problem every method is called once
to warm up (for JAX: compile), then the methods are timed in turn, round
robin, three back-to-back calls per method per round, and the minimum is kept
(each JAX call ends with ``block_until_ready``), so a burst of load on the
machine hits all methods alike. Back-to-back calls find XLA's CPU thread pool
awake; a JAX call after an idle pause pays a wake-up of about 40 us, which
dominates below 2^12. Every peer's output is checked against ours before it
is timed.

Peers (float64, all out of place, all normalized to the orthonormal
transform; the normalization is inside the timed call):

- FWHT: ``qmcpy.fwht``; ``fht_cpu.fht`` (SIMD C++, unnormalized: times
  ``1/sqrt(n)``; OpenMP over rows for batches); ``pyfwht.fwht`` with the
  single-threaded ``backend="cpu"`` (AVX2; unnormalized).
- FFTBR (real input, complex128 output): ``qmcpy.fftbr`` (a NumPy bit-reversal
  transpose, then ``scipy.fft.fft``); ``scipy.fft.fft(x, norm="ortho")`` on
  the same data without the permutation, a floor for any FFTBR.

The output is Markdown tables: times in ms and ratios (``x`` = peer time /
our time, so larger is better for us; ``/`` = our time / peer time).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

import jax
import numpy as np


jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from jaxmethods.ops import fftbr, fwht  # noqa: E402


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _time_round_robin(
    fns: dict[str, Callable[[], object]],
    *,
    max_reps: int,
    budget_s: float,
    burst: int = 3,
) -> dict[str, float]:
    """Minimum wall time per function, taking the functions in turn.

    Each function is called once untimed first. Then up to ``max_reps``
    rounds; in each round every function is timed ``burst`` times back to
    back (so XLA's CPU thread pool is awake, as in a loop of calls); a
    function drops out once it has used ``budget_s`` (after at least three
    rounds).
    """
    for f in fns.values():
        f()
    best = dict.fromkeys(fns, math.inf)
    spent = dict.fromkeys(fns, 0.0)
    count = dict.fromkeys(fns, 0)
    for _ in range(max_reps):
        active = [k for k in fns if count[k] < 3 or spent[k] < budget_s]
        if not active:
            break
        for k in active:
            for _ in range(burst):
                t0 = time.perf_counter()
                fns[k]()
                dt = time.perf_counter() - t0
                best[k] = min(best[k], dt)
                spent[k] += dt
            count[k] += 1
    return best


def _check(name: str, got, want, tol: float = 1e-9) -> None:
    err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    if not err <= tol:
        raise AssertionError(f"{name}: max abs difference {err:.2e} > {tol:.0e}")


def _ms(t: float) -> str:
    return (
        f"{t * 1e3:.3f}"
        if t < 0.01
        else f"{t * 1e3:.2f}"
        if t < 1
        else f"{t * 1e3:.0f}"
    )


def _label(shape) -> str:
    return " x ".join(f"2^{int(math.log2(d))}" if d > 64 else str(d) for d in shape)


def _fwht_methods(x: np.ndarray, ours_jit) -> dict[str, Callable[[], object]]:
    import fht_cpu
    import pyfwht
    import qmcpy

    s = 1.0 / math.sqrt(x.shape[-1])
    xj = jnp.asarray(x)

    def ours():
        return jax.block_until_ready(ours_jit(xj))

    def fht():
        y = fht_cpu.fht(x, inplace=False)
        y *= s
        return y

    def pyf():
        y = pyfwht.fwht(x, backend="cpu")
        y *= s
        return y

    return {"ours": ours, "qmcpy": lambda: qmcpy.fwht(x), "fht": fht, "pyfwht": pyf}


def bench_fwht(shapes, *, max_reps: int, budget_s: float) -> list[str]:
    ours_jit = jax.jit(lambda z: fwht(z, impl="xla"))
    rows = [
        "| shape | ours (ms) | qmcpy (ms) | fht-cpu (ms) | pyfwht cpu (ms) "
        "| qmcpy/ours | ours/fht-cpu | ours/pyfwht |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape in shapes:
        x = np.random.default_rng(0).standard_normal(shape)
        fns = _fwht_methods(x, ours_jit)
        ref = np.asarray(fns["ours"]())
        for name in ("fht", "pyfwht", "qmcpy"):
            _check(f"fwht vs {name} at {shape}", fns[name](), ref)
        t = _time_round_robin(fns, max_reps=max_reps, budget_s=budget_s)
        rows.append(
            f"| {_label(shape)} | {_ms(t['ours'])} | {_ms(t['qmcpy'])} "
            f"| {_ms(t['fht'])} | {_ms(t['pyfwht'])} | {t['qmcpy'] / t['ours']:.1f}x "
            f"| {t['ours'] / t['fht']:.2f} | {t['ours'] / t['pyfwht']:.2f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _fftbr_methods(x: np.ndarray, ours_jit) -> dict[str, Callable[[], object]]:
    import qmcpy
    import scipy.fft

    xj = jnp.asarray(x)
    return {
        "ours": lambda: jax.block_until_ready(ours_jit(xj)),
        "qmcpy": lambda: qmcpy.fftbr(x),
        "scipy": lambda: scipy.fft.fft(x, norm="ortho"),
    }


def bench_fftbr(shapes, *, max_reps: int, budget_s: float) -> list[str]:
    ours_jit = jax.jit(lambda z: fftbr(z, impl="xla"))
    rows = [
        "| shape | ours (ms) | qmcpy (ms) | scipy fft, no permutation (ms) "
        "| qmcpy/ours | ours/scipy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for shape in shapes:
        x = np.random.default_rng(0).standard_normal(shape)
        fns = _fftbr_methods(x, ours_jit)
        _check(f"fftbr vs qmcpy at {shape}", fns["qmcpy"](), np.asarray(fns["ours"]()))
        t = _time_round_robin(fns, max_reps=max_reps, budget_s=budget_s)
        rows.append(
            f"| {_label(shape)} | {_ms(t['ours'])} | {_ms(t['qmcpy'])} "
            f"| {_ms(t['scipy'])} | {t['qmcpy'] / t['ours']:.1f}x "
            f"| {t['ours'] / t['scipy']:.2f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few small sizes only")
    args = p.parse_args(argv)
    if args.quick:
        singles, batches, max_reps, budget = [10, 12], [(64, 10)], 5, 0.05
    else:
        singles = [10, 12, 14, 16, 18, 20, 22]
        batches = [(64, 10), (64, 12), (64, 14), (64, 16)]
        max_reps, budget = 30, 0.3
    shapes = [(1 << m,) for m in singles] + [(b, 1 << m) for b, m in batches]
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    with contextlib.redirect_stdout(io.StringIO()):  # pyfwht prints a banner
        import pyfwht  # noqa: F401
    print(f"# ops transforms benchmark ({'quick' if args.quick else 'full'})\n")
    print(f"- date: {datetime.date.today().isoformat()}")
    cmd = " ".join(["python", "benchmarks/ops_transforms.py", *(argv or sys.argv[1:])])
    print(f"- command: `{cmd}`")
    print(
        f"- machine: {os.cpu_count()} cores, {_cpu_model()}; jax {jax.__version__} "
        f"({jax.default_backend()}), numpy {np.__version__}, "
        f"Python {platform.python_version()}"
    )
    print("- float64; min over repeats; compile time excluded\n")
    print("## FWHT (orthonormal, natural order)\n")
    print("\n".join(bench_fwht(shapes, max_reps=max_reps, budget_s=budget)))
    print("\n## FFTBR (real float64 input, complex128 output)\n")
    print("\n".join(bench_fftbr(shapes, max_reps=max_reps, budget_s=budget)))
    load1 = os.getloadavg()
    print(
        f"\n- wall time {time.perf_counter() - t0:.0f} s; 1-min load average "
        f"{load0[0]:.2f} at start, {load1[0]:.2f} at end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

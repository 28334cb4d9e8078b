"""Shared timing helper of the benchmark scripts (run as ``python benchmarks/x.py``)."""

import math
import subprocess
import time

import jax


def best_of(f, args, reps: int) -> float:
    """Seconds of the fastest of ``reps`` calls ``f(*args)``, after one warm-up call.

    The warm-up call compiles; every call is waited for with
    ``jax.block_until_ready``.
    """
    jax.block_until_ready(f(*args))
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_model() -> str:
    """The CPU model name from ``lscpu`` (``"?"`` where it is unavailable)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "?"
    for ln in out.splitlines():
        if ln.startswith("Model name"):
            return ln.split(":", 1)[1].strip()
    return "?"

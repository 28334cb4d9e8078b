"""``python -m jaxmethods tour``: every implemented method on a small problem.

Each subpackage lists its cases in a private ``_tour.py`` module as
:class:`TourCase` objects; this module collects them, runs each one (compile
time measured apart from run time) and prints one table row per case.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from collections.abc import Callable
from typing import Any

import jax


# Subpackages that contribute tour rows, in the order they are printed.
_TOUR_MODULES = (
    "jaxmethods.ops._tour",
    "jaxmethods.qmc._tour",
    "jaxmethods.smc._tour",
    "jaxmethods.diffusion._tour",
    "jaxmethods.interpolants._tour",
    "jaxmethods.discrete._tour",
    "jaxmethods.longconv._tour",
    "jaxmethods.quant._tour",
    "jaxmethods.wls._tour",
)


@dataclasses.dataclass(frozen=True)
class TourCase:
    """One row of the tour.

    ``setup()`` builds the problem and returns ``(run, error)``: ``run`` is a
    jitted zero-argument callable, ``error(out)`` compares its output with an
    independent reference and returns a float (the error that is printed).
    The case passes when that error is finite and at most ``tolerance`` (in
    the default float64 run; ``tests/test_tour.py`` enforces it).
    """

    name: str
    paper: str
    problem: str
    setup: Callable[[], tuple[Callable[[], Any], Callable[[Any], float]]]
    error_kind: str = "max abs err"
    tolerance: float = 1e-8


def all_cases() -> list[TourCase]:
    cases: list[TourCase] = []
    for mod in _TOUR_MODULES:
        cases.extend(importlib.import_module(mod).CASES)
    return cases


@dataclasses.dataclass
class TourResult:
    case: TourCase
    error: float
    compile_s: float
    run_s: float

    @property
    def passed(self) -> bool:
        """Whether the error is finite and within the case's tolerance."""
        return math.isfinite(self.error) and self.error <= self.case.tolerance


def run_case(case: TourCase, *, repeats: int = 5) -> TourResult:
    run, error = case.setup()
    t0 = time.perf_counter()
    out = jax.block_until_ready(run())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(run())
        times.append(time.perf_counter() - t0)
    run_s = min(times)
    return TourResult(case, float(error(out)), max(first - run_s, 0.0), run_s)


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m jaxmethods tour")
    p.add_argument("--only", metavar="NAME", help="run only the case named NAME")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--float32", action="store_true", help="run without x64")
    args = p.parse_args(argv)
    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c.name:28s} {c.paper:5s} {c.problem}")
        return 0
    if args.only is not None:
        cases = [c for c in cases if c.name == args.only]
        if not cases:
            names = ", ".join(c.name for c in all_cases())
            print(f"tour: no case named {args.only!r}; known: {names}")
            return 2
    head = (
        f"{'method':28s} {'paper':5s} {'problem':44s} {'error':>10s}  "
        f"{'':14s} {'check':5s} {'run':>9s} {'compile':>9s}"
    )
    print(
        f"jaxmethods tour on {jax.default_backend()} "
        f"({'float64' if not args.float32 else 'float32'})"
    )
    print(head)
    print("-" * len(head))
    failed = []
    for c in cases:
        r = run_case(c)
        if args.float32:
            check = "n/a"  # tolerances bound the float64 error
        else:
            check = "pass" if r.passed else "FAIL"
            if not r.passed:
                failed.append(c.name)
        print(
            f"{c.name:28s} {c.paper:5s} {c.problem:44s} {r.error:10.2e}  "
            f"{'(' + c.error_kind + ')':14s} {check:5s} {_fmt_time(r.run_s):>9s} "
            f"{_fmt_time(r.compile_s):>9s}",
            flush=True,
        )
    if failed:
        print(f"tour: error above tolerance in {', '.join(failed)}")
        return 1
    return 0

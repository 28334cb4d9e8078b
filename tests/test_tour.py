"""``python -m jaxmethods tour``: the case list, and every case within tolerance.

The whole tour has to finish in under 2 minutes on 2 CPU cores, so each case
runs once here (``repeats=1``) under a per-case timeout.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from jaxmethods._tour import all_cases, run_case


CASES = all_cases()


def _tour(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jaxmethods", "tour", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_tour_list():
    proc = _tour("--list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert names, "the tour lists no case"
    assert len(names) == len(set(names)), f"duplicate tour names: {names}"
    assert names == [c.name for c in CASES]


def test_tour_command_prints_a_checked_row():
    """The command line path, for one case: its row ends in pass, exit 0."""
    assert CASES, "the tour has no case"
    name = CASES[0].name
    proc = _tour("--only", name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(name)]
    assert len(rows) == 1 and " pass " in rows[0], proc.stdout


@pytest.mark.timeout(320)
def test_tour_float32_runs_every_case():
    """``--float32`` (x64 off) runs every case to a row, without JAX warnings.

    Tolerances are not checked in this mode (the rows say n/a), but a case
    that asks for float64 or 64-bit integers must not crash it.
    """
    proc = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-m", "jaxmethods", "tour"]
        + ["--float32"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "(float32)" in proc.stdout
    for c in CASES:
        rows = [
            line for line in proc.stdout.splitlines() if line.split()[:1] == [c.name]
        ]
        assert len(rows) == 1 and " n/a " in rows[0], (c.name, proc.stdout[-2000:])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tour_case_within_tolerance(case):
    result = run_case(case, repeats=1)
    assert math.isfinite(result.error), f"{case.name}: error is {result.error}"
    assert result.error <= case.tolerance, (
        f"{case.name}: {case.error_kind} {result.error:.3e} > tolerance "
        f"{case.tolerance:.1e}"
    )

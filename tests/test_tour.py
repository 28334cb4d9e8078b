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


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tour_case_within_tolerance(case):
    result = run_case(case, repeats=1)
    assert math.isfinite(result.error), f"{case.name}: error is {result.error}"
    assert result.error <= case.tolerance, (
        f"{case.name}: {case.error_kind} {result.error:.3e} > tolerance "
        f"{case.tolerance:.1e}"
    )

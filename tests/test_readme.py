"""The README's set-up commands: exactly two, and CI runs the test command verbatim.

README.md has exactly two shell commands (fenced ``bash`` blocks of one line
each): one installs the package and runs the tour, the other installs it and
runs the whole test suite. ``.ci/run`` must contain the test command verbatim,
and the docs home page repeats both. The README's Python usage example must run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = ROOT / ".ci" / "run"


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _commands() -> tuple[str, str]:
    blocks = [b.strip() for b in _fenced(README, "bash")]
    assert len(blocks) == 2, f"README.md must have exactly two bash blocks: {blocks}"
    assert all("\n" not in b for b in blocks), "each README command is one line"
    tour, tests = blocks
    return tour, tests


def test_readme_has_the_two_setup_commands():
    tour, tests = _commands()
    assert tour.startswith("python -m venv .venv && . .venv/bin/activate && ")
    assert tour.endswith("python -m jaxmethods tour")
    assert tests.startswith("python -m venv .venv && . .venv/bin/activate && ")
    for step in (
        'pip install -e ".[test,docs,dev]"',
        "pytest -n 2 tests",
        "pytest --doctest-modules jaxmethods -p no:cacheprovider",
        "pytest --nbmake notebooks/",
    ):
        assert step in tests, f"README test command lacks {step!r}"


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = _commands()
    assert tests in CI_RUN.read_text(encoding="utf-8")
    assert os.access(CI_RUN, os.X_OK), ".ci/run is not executable"


def test_docs_home_repeats_the_commands():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for command in _commands():
        assert command in index


def test_readme_usage_example_runs():
    (example,) = _fenced(README, "python")
    proc = subprocess.run(
        [sys.executable, "-c", example],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""Every notebook opens with a Colab install cell that CI skips.

The first cell must be tagged ``skip-execution`` (nbmake and nbclient skip it)
and hold a ``%pip install`` line, so the notebook runs on Colab as is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_first_cell_is_a_skipped_pip_install(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("cells"), f"{path.name} has no cells"
    first = nb["cells"][0]
    source = first.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    tags = first.get("metadata", {}).get("tags", [])
    assert first.get("cell_type") == "code", f"{path.name}: first cell is not code"
    assert "skip-execution" in tags, (
        f"{path.name}: first cell not tagged skip-execution"
    )
    assert re.search(r"^\s*%pip install\b", source, re.MULTILINE), (
        f"{path.name}: first cell has no '%pip install' line"
    )

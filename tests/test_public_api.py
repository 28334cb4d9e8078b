"""Every public object is documented, cites its paper and has an API entry.

The public API is every name in the ``__all__`` of every public subpackage of
``jaxmethods`` (found with pkgutil; ``_private`` modules are skipped). Rules:

- ``__all__`` exists, lists strings only, has no duplicates, and every name in
  it exists.
- A function (or any non-class callable, e.g. a jitted or ``custom_jvp``
  function) has a Google-style docstring with ``Args:`` (unless it takes no
  arguments) and ``Returns:`` sections.
- A class has a class docstring with an ``Args:`` or ``Attributes:`` section.
- Every public object of a paper subpackage has a ``References:`` section.
  Every current subpackage implements papers (see ROADMAP.md).
- Every public object appears in ``docs/api/*.md`` as
  ``::: jaxmethods.<subpackage>.<name>``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import jaxmethods


ROOT = Path(__file__).resolve().parents[1]
API_DOCS = ROOT / "docs" / "api"

# Public subpackages whose objects are not paper methods (none yet). Objects in
# every other public subpackage must carry a ``References:`` section.
NOT_PAPER_SUBPACKAGES: frozenset[str] = frozenset()


def _public_subpackages() -> list[str]:
    return sorted(
        name
        for _, name, _ in pkgutil.iter_modules(jaxmethods.__path__)
        if not name.startswith("_")
    )


SUBPACKAGES = _public_subpackages()


def _module(sub: str) -> ModuleType:
    return importlib.import_module(f"jaxmethods.{sub}")


def _public_objects() -> list[tuple[str, str]]:
    pairs = []
    for sub in SUBPACKAGES:
        names = getattr(_module(sub), "__all__", ())
        # Malformed or missing names are reported by test_all_is_well_formed.
        pairs.extend(
            (sub, name)
            for name in dict.fromkeys(names)
            if isinstance(name, str) and hasattr(_module(sub), name)
        )
    return pairs


def _docstring(obj) -> str:
    """The object's own docstring, looking through decorators such as jax.jit.

    For a class this is the class's own ``__doc__``, not an inherited one.
    """
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = getattr(inspect.unwrap(obj), "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _sections(doc: str) -> set[str]:
    """Names of Google-style sections (a line ``Name:`` on its own)."""
    return set(re.findall(r"^\s*([A-Z][A-Za-z ]*):\s*$", doc, flags=re.MULTILINE))


def _takes_arguments(obj) -> bool:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # no signature available: assume it does
        return True
    return bool(sig.parameters)


@functools.cache
def _documented_in_api_pages() -> frozenset[str]:
    entries = set()
    for page in sorted(API_DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        entries.update(re.findall(r"^:::\s*(jaxmethods(?:\.\w+)+)\s*$", text, re.M))
    return frozenset(entries)


def test_subpackages_are_discovered():
    assert {"ops", "qmc"} <= set(SUBPACKAGES), SUBPACKAGES


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_all_is_well_formed(sub):
    module = _module(sub)
    assert hasattr(module, "__all__"), f"jaxmethods.{sub} has no __all__"
    names = list(module.__all__)
    bad = [n for n in names if not isinstance(n, str)]
    assert not bad, f"jaxmethods.{sub}.__all__ holds non-strings: {bad}"
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"jaxmethods.{sub}.__all__ lists {dupes} more than once"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"jaxmethods.{sub}.__all__ names missing objects: {missing}"


@pytest.mark.parametrize(("sub", "name"), _public_objects())
def test_public_object_is_documented(sub, name):
    qualname = f"jaxmethods.{sub}.{name}"
    obj = getattr(_module(sub), name)
    problems = []
    if inspect.isclass(obj) or callable(obj):
        doc = _docstring(obj)
        sections = _sections(doc)
        if not doc:
            problems.append("has no docstring")
        elif inspect.isclass(obj):
            if not sections & {"Args", "Attributes"}:
                problems.append("class docstring lacks an Args: or Attributes: section")
        else:
            if _takes_arguments(obj) and "Args" not in sections:
                problems.append("docstring lacks an Args: section")
            if "Returns" not in sections:
                problems.append("docstring lacks a Returns: section")
        if doc and sub not in NOT_PAPER_SUBPACKAGES and "References" not in sections:
            problems.append("docstring lacks a References: section (paper method)")
    if qualname not in _documented_in_api_pages():
        problems.append(f"is missing from docs/api/*.md as '::: {qualname}'")
    assert not problems, f"{qualname}: " + "; ".join(problems)

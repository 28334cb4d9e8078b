"""Argument checks shared by the subpackages."""

from typing import Any


def check_size(fn: str, name: str, value: Any, *, minimum: int = 0) -> int:
    """A static non-negative (or >= ``minimum``) Python int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{fn}: {name} must be a Python int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


def check_choice(fn: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    """A static string option from ``choices`` (case-insensitive)."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(
            f"{fn}: unknown {name} {value!r}; expected one of {', '.join(choices)}"
        )
    return value.lower()

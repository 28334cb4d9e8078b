"""Randomized low-discrepancy point sets (QMCPy, P02)."""

__all__: list[str] = []

"""W4A16 matmul: 4-bit weights times 16-bit activations (P26, MARLIN)."""

from .api import w4a16_matmul as w4a16_matmul


__all__ = ["w4a16_matmul"]

"""4-bit weight quantization for the W4A16 matmul (P26, MARLIN).

- [`Int4Weight`][jaxmethods.quant.Int4Weight]: packed 4-bit codes and scales.
- [`pack_int4`][jaxmethods.quant.pack_int4],
  [`unpack_int4`][jaxmethods.quant.unpack_int4]: the K-blocked packing.
- [`dequantize`][jaxmethods.quant.dequantize]: back to a dense matrix.
- [`quantize_rtn`][jaxmethods.quant.quantize_rtn]: round to nearest.

The matmul is [`jaxmethods.ops.w4a16_matmul`][].
"""

from ._format import (
    Int4Weight as Int4Weight,
    dequantize as dequantize,
    pack_int4 as pack_int4,
    unpack_int4 as unpack_int4,
)
from ._rtn import quantize_rtn as quantize_rtn


__all__ = ["Int4Weight", "dequantize", "pack_int4", "quantize_rtn", "unpack_int4"]

"""4-bit weight quantization for the W4A16 matmul (P26, MARLIN).

- [`Int4Weight`][jaxmethods.quant.Int4Weight]: packed 4-bit codes and scales.
- [`pack_int4`][jaxmethods.quant.pack_int4],
  [`unpack_int4`][jaxmethods.quant.unpack_int4]: the K-blocked packing.
- [`dequantize`][jaxmethods.quant.dequantize]: back to a dense matrix.
- [`quantize_rtn`][jaxmethods.quant.quantize_rtn]: round to nearest.
- [`gptq`][jaxmethods.quant.gptq]: GPTQ, Hessian-aware error feedback
  (Frantar et al. 2022), with
  [`hessian_from_activations`][jaxmethods.quant.hessian_from_activations]
  accumulating the [`GPTQHessian`][jaxmethods.quant.GPTQHessian].
- [`QuantLinear`][jaxmethods.quant.QuantLinear]: an ``eqx.nn.Linear`` with
  4-bit weights, and [`quantize_linears`][jaxmethods.quant.quantize_linears]
  to swap every linear layer of a model (RTN, or sequential GPTQ).

The matmul is [`jaxmethods.ops.w4a16_matmul`][].
"""

from ._format import (
    Int4Weight as Int4Weight,
    dequantize as dequantize,
    pack_int4 as pack_int4,
    unpack_int4 as unpack_int4,
)
from ._gptq import (
    GPTQHessian as GPTQHessian,
    gptq as gptq,
    hessian_from_activations as hessian_from_activations,
)
from ._layers import QuantLinear as QuantLinear, quantize_linears as quantize_linears
from ._rtn import quantize_rtn as quantize_rtn


__all__ = [
    "GPTQHessian",
    "Int4Weight",
    "QuantLinear",
    "dequantize",
    "gptq",
    "hessian_from_activations",
    "pack_int4",
    "quantize_linears",
    "quantize_rtn",
    "unpack_int4",
]

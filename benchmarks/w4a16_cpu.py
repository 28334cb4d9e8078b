"""CPU benchmark: the XLA W4A16 path against a bfloat16 matmul (P26), and memory.

One process, jitted, K = N = 1024, M in {1, 16}:

- ``w4a16_matmul(x, qw, impl="xla")``: ``x @ dequantize(qw)`` (the dequant is
  inside the timed call, as at inference time);
- ``x @ w_bf16`` with a float32 accumulator (the 16-bit baseline);
- ``x @ w_f32`` (float32 baseline).

The Pallas kernel in interpret mode is a correctness tool on CPU, not a speed
path, and is timed once only to show that. Memory is measured from the array
sizes: packed codes + scales against bfloat16 and float32 weights.

Run:  python benchmarks/w4a16_cpu.py [--repeats R]
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of  # benchmarks/_timing.py

from jaxmethods.ops import w4a16_matmul
from jaxmethods.quant import quantize_rtn


K = N = 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((K, N)), jnp.float32)
    qw = quantize_rtn(w)
    w_bf16 = w.astype(jnp.bfloat16)
    mem = {
        "int4_bytes": qw.nbytes,
        "bf16_bytes": int(w_bf16.nbytes),
        "f32_bytes": int(w.nbytes),
    }
    mem["saving_vs_bf16"] = mem["bf16_bytes"] / mem["int4_bytes"]
    print(json.dumps(mem))
    w4 = jax.jit(lambda a, q: w4a16_matmul(a, q, impl="xla"))
    interp = jax.jit(lambda a, q: w4a16_matmul(a, q, impl="pallas_interpret"))
    dense = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
    print(f"{'M':>3} {'w4a16 xla ms':>13} {'bf16 dot ms':>12} {'f32 dot ms':>11}")
    for m in (1, 16):
        x = jnp.asarray(rng.standard_normal((m, K)), jnp.bfloat16)
        row = {
            "M": m,
            "w4a16_xla_ms": best_of(w4, (x, qw), args.repeats) * 1e3,
            "bf16_dot_ms": best_of(dense, (x, w_bf16), args.repeats) * 1e3,
            "f32_dot_ms": best_of(dense, (x.astype(jnp.float32), w), args.repeats)
            * 1e3,
            "pallas_interpret_ms": best_of(interp, (x, qw), 2) * 1e3,
        }
        print(json.dumps(row))
        print(
            f"{m:>3} {row['w4a16_xla_ms']:13.3f} {row['bf16_dot_ms']:12.3f} "
            f"{row['f32_dot_ms']:11.3f}"
        )


if __name__ == "__main__":
    main()

"""Benchmark: fast GP marginal likelihood on a lattice (P02) vs dense and vs QMCPy.

CPU, one process, float64, d = 6, shift-invariant kernel of smoothness 2 on
a shifted rank-1 lattice of n = 2^m points, y = a smooth test function:

- ``jaxmethods.qmc.fast_gp_nll``, alone and with its gradient with respect
  to the kernel hyperparameters (jitted; ``FastGram``'s structure check
  included), at n = 2^12 and 2^16;
- the same NLL and gradient by a dense Cholesky (jitted ``jnp.linalg``) at
  n = 2^12 (2^16 would need a 34 GB matrix);
- QMCPy's fast path for the NLL value only: its ``KernelShiftInvar`` first
  Gram column and ``qp.fftbr`` in NumPy, the same formula (QMCPy 2.4 has no
  fast-GP class and no gradient; the ``fastgps`` package is not installed).

Times are the minimum over repeats after one warm-up call (compile excluded).

Run:  python benchmarks/qmc_fast_gp.py [--repeats R]
"""

import argparse
import json
import math
import time

import jax


jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402  (benchmarks/_timing.py)

from jaxmethods.qmc import ShiftInvariantKernel, fast_gp_nll, lattice  # noqa: E402


D = 6
NUGGET = 1e-6


def _data(m):
    x = lattice(jax.random.key(0), 2**m, D)
    y = jnp.sin(2 * jnp.pi * x[:, 0]) * jnp.prod(1 + 0.1 * x[:, 1:], axis=-1)
    kern = ShiftInvariantKernel(D, alpha=2, scale=1.0, lengthscales=0.5)
    return x, y, kern


def _dense_nll(kern, x, y):
    gram = kern.gram(x) + NUGGET * jnp.eye(x.shape[0], dtype=x.dtype)
    chol = jnp.linalg.cholesky(gram)
    a = jax.scipy.linalg.cho_solve((chol, True), y)
    n = x.shape[0]
    return (
        0.5 * y @ a + jnp.sum(jnp.log(jnp.diag(chol))) + 0.5 * n * math.log(2 * math.pi)
    )


def _qmcpy_nll(qp, x, y):
    kq = qp.KernelShiftInvar(d=D, alpha=2, scale=1.0, lengthscales=0.5 * np.ones(D))
    col = kq(x, x[:1])  # (n,): the first Gram column
    n = x.shape[0]
    lam = np.real(np.sqrt(n) * qp.fftbr(col)) + NUGGET
    coef = qp.fftbr(y)
    return (
        0.5 * np.sum(np.abs(coef) ** 2 / lam)
        + 0.5 * np.sum(np.log(lam))
        + 0.5 * n * math.log(2 * math.pi)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    fast = eqx.filter_jit(
        eqx.filter_value_and_grad(
            lambda k, x, y: fast_gp_nll(k, x, y, kind="lattice", nugget=NUGGET)
        )
    )
    value_only = eqx.filter_jit(
        lambda k, x, y: fast_gp_nll(k, x, y, kind="lattice", nugget=NUGGET)
    )
    dense = eqx.filter_jit(eqx.filter_value_and_grad(_dense_nll))
    try:
        import qmcpy as qp
    except ImportError:
        qp = None
    rows = []
    for m in (12, 16):
        x, y, kern = _data(m)
        row = {"n": 2**m}
        row["fast_nll_grad_ms"] = 1e3 * best_of(fast, (kern, x, y), args.repeats)
        row["fast_nll_ms"] = 1e3 * best_of(value_only, (kern, x, y), args.repeats)
        val_fast = float(fast(kern, x, y)[0])
        if m <= 12:
            row["dense_nll_grad_ms"] = 1e3 * best_of(dense, (kern, x, y), args.repeats)
            row["dense_minus_fast_nll"] = float(dense(kern, x, y)[0]) - val_fast
        if qp is not None:
            xn, yn = np.asarray(x), np.asarray(y)
            t0 = time.perf_counter()
            best = math.inf
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                val_qp = _qmcpy_nll(qp, xn, yn)
                best = min(best, time.perf_counter() - t0)
            row["qmcpy_fast_nll_ms"] = 1e3 * best
            row["qmcpy_minus_fast_nll"] = val_qp - val_fast
        rows.append(row)
        print(json.dumps(row))


if __name__ == "__main__":
    main()

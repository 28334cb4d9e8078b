"""Checks that every jaxmethods test reuses.

- :func:`assert_close`: array comparison with per-dtype default tolerances.
- :func:`check_transforms`: jit and vmap give what eager evaluation gives.
- :func:`assert_traced_once`: a jitted function is traced once over new values.
- :func:`assert_mean_within`: a statistical check whose tolerance is
  ``k`` standard errors (false-alarm rate stated by the caller's ``k``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats


# (rtol, atol) used when the caller gives none, by the dtype of the result.
DEFAULT_TOL = {
    np.dtype(np.float64): (1e-10, 1e-12),
    np.dtype(np.complex128): (1e-10, 1e-12),
    np.dtype(np.float32): (5e-4, 5e-6),
    np.dtype(np.complex64): (5e-4, 5e-6),
    np.dtype(jnp.bfloat16): (1e-2, 1e-3),
    np.dtype(np.float16): (1e-2, 1e-3),
}


def assert_close(actual, desired, *, rtol=None, atol=None, err_msg=""):
    """``np.testing.assert_allclose`` with tolerances chosen by ``actual``'s dtype.

    Integer and boolean arrays must match exactly. bfloat16 (an ml_dtypes
    type that NumPy does not count as inexact) is compared in float32.
    """
    a = np.asarray(actual)
    d = np.asarray(desired)
    assert a.shape == d.shape, f"shape {a.shape} != {d.shape}. {err_msg}"
    if jnp.issubdtype(a.dtype, jnp.inexact) and not np.issubdtype(a.dtype, np.inexact):
        a = a.astype(np.complex64 if jnp.iscomplexobj(a) else np.float32)
    if not np.issubdtype(a.dtype, np.inexact):
        np.testing.assert_array_equal(a, d, err_msg=err_msg)
        return
    r0, a0 = DEFAULT_TOL.get(a.dtype, (1e-10, 1e-12))
    np.testing.assert_allclose(
        a,
        d,
        rtol=r0 if rtol is None else rtol,
        atol=a0 if atol is None else atol,
        err_msg=err_msg,
    )


def check_transforms(
    f: Callable,
    args: Sequence,
    *,
    vmap_args: Sequence | None = None,
    rtol=None,
    atol=None,
):
    """Check ``jit(f)(*args) == f(*args)``, and that vmap equals a loop.

    ``vmap_args`` (defaults to ``args``) carries a leading batch axis on every
    argument; the vmapped result must equal stacking ``f`` over that axis.
    """
    eager = f(*args)
    jitted = jax.jit(f)(*args)
    jax.tree.map(lambda x, y: assert_close(x, y, rtol=rtol, atol=atol), jitted, eager)
    vargs = args if vmap_args is None else vmap_args
    batched = jax.vmap(f)(*vargs)
    size = jax.tree.leaves(vargs)[0].shape[0]
    loop = [f(*jax.tree.map(lambda a, i=i: a[i], tuple(vargs))) for i in range(size)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *loop)
    jax.tree.map(
        lambda x, y: assert_close(x, y, rtol=rtol, atol=atol), batched, stacked
    )


def assert_traced_once(f: Callable, arg_sets: Sequence[Sequence]):
    """Jit ``f`` and call it on each argument set; it must be traced once."""
    count = 0

    def counted(*a):
        nonlocal count
        count += 1
        return f(*a)

    g = jax.jit(counted)
    for a in arg_sets:
        jax.block_until_ready(g(*a))
    assert count == 1, f"traced {count} times over {len(arg_sets)} calls"


def assert_mean_within(samples, expected, *, k: float = 4.0, axis=0, atol=0.0):
    """Assert that the sample mean is within ``k`` standard errors of ``expected``.

    With independent samples the z-score is close to standard normal, so
    ``k=4`` has a two-sided false-alarm rate of about 6e-5 per compared entry.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / math.sqrt(n)
    err = np.abs(mean - np.asarray(expected))
    bad = err > k * se + atol
    assert not np.any(bad), (
        f"mean {mean[bad] if np.ndim(bad) else mean} differs from "
        f"{expected} by more than {k} standard errors (se={se})"
    )


def assert_uniform_ks(u, *, alpha: float = 1e-4):
    """Kolmogorov–Smirnov test of U[0, 1) on a flat sample (false-alarm ``alpha``)."""
    res = stats.kstest(np.asarray(u, dtype=np.float64).ravel(), "uniform")
    assert res.pvalue > alpha, f"KS p-value {res.pvalue:.2e} <= {alpha}"


def fit_slope(n, err) -> float:
    """Least-squares slope of ``log err`` against ``log n``."""
    return float(np.polyfit(np.log(np.asarray(n)), np.log(np.asarray(err)), 1)[0])


def unchecked(f: Callable) -> Callable:
    """``f`` without the runtime jaxtyping wrapper that pytest installs.

    Error tests call library functions with inputs that break their annotations
    (wrong rank, wrong dtype) to check the library's own messages, which are
    what users see: runtime type checking is on only in this test suite.
    """
    import inspect

    return inspect.unwrap(f)

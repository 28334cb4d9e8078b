"""W4A16 matmul: Pallas kernel (interpret mode) and XLA path vs the exact product.

Oracle: ``x @ dequantize(qw, float64)`` in float64 with the activations
rounded to the tested dtype first; criterion MARLIN's
``mean|y - y_ref| / mean|y_ref|`` with research tolerances (perf.md §2.3):
float32 1e-5, bfloat16 5e-3.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmethods.ops import w4a16_matmul
from jaxmethods.quant import dequantize, quantize_rtn

from ..helpers import assert_traced_once, unchecked


def _setup(m, k, n, group_size=128, seed=0):
    rng = np.random.default_rng(seed)
    qw = quantize_rtn(jnp.asarray(rng.standard_normal((k, n))), group_size=group_size)
    x = rng.standard_normal((m, k))
    return x, qw


def _rel(y, x, qw):
    ref = np.asarray(x, np.float64) @ np.asarray(dequantize(qw, jnp.float64))
    return np.abs(np.asarray(y, np.float64) - ref).mean() / np.abs(ref).mean()


@pytest.mark.parametrize("m", [1, 3, 16, 17])
@pytest.mark.parametrize("k,n", [(128, 128), (384, 256)])
@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 5e-3)])
def test_kernel_matches_exact_product(m, k, n, dtype, tol):
    x, qw = _setup(m, k, n, seed=m + k + n)
    xd = jnp.asarray(x, dtype)
    yp = w4a16_matmul(xd, qw, impl="pallas_interpret")
    yx = w4a16_matmul(xd, qw, impl="xla")
    assert yp.shape == (m, n) and yp.dtype == dtype
    assert _rel(yp, xd, qw) < tol
    assert _rel(yx, xd, qw) < tol
    # the two paths round W_hat alike and differ by accumulation order only
    diff = np.abs(np.asarray(yp, np.float64) - np.asarray(yx, np.float64)).mean()
    assert diff / np.abs(np.asarray(yx, np.float64)).mean() < tol


@pytest.mark.parametrize("group_size", [-1, 32, 256])
def test_group_sizes_float64(group_size):
    x, qw = _setup(5, 512, 64, group_size=group_size, seed=3)
    for impl in ("xla", "pallas_interpret"):
        y = w4a16_matmul(jnp.asarray(x), qw, impl=impl)
        assert y.dtype == jnp.float64
        assert _rel(y, x, qw) < 1e-14


def test_float16_and_batch_axes():
    x, qw = _setup(6, 256, 128, seed=4)
    xb = jnp.asarray(x.reshape(2, 3, 256), jnp.float16)
    y = w4a16_matmul(xb, qw, impl="pallas_interpret")
    assert y.shape == (2, 3, 128) and y.dtype == jnp.float16
    assert _rel(y.reshape(6, 128), xb.reshape(6, 256), qw) < 1e-3


def test_jit_vmap_trace_count():
    x, qw = _setup(4, 128, 128, seed=5)
    x = jnp.asarray(x, jnp.float32)
    f = jax.jit(lambda a, w: w4a16_matmul(a, w, impl="pallas_interpret"))
    y = f(x, qw)
    assert _rel(y, x, qw) < 1e-5
    # vmap over activations and over stacked weights
    yv = jax.vmap(lambda a: w4a16_matmul(a, qw, impl="pallas_interpret"))(x[:, None])
    np.testing.assert_allclose(
        np.asarray(yv[:, 0]), np.asarray(y), rtol=1e-5, atol=1e-5
    )
    # and the XLA path, under the same transformations
    yx = jax.jit(jax.vmap(lambda a: w4a16_matmul(a, qw, impl="xla")))(x[:, None])
    np.testing.assert_allclose(
        np.asarray(yx[:, 0]), np.asarray(y), rtol=1e-5, atol=1e-5
    )
    qw2 = jax.tree.map(lambda *a: jnp.stack(a), qw, qw)
    yw = jax.vmap(lambda w: w4a16_matmul(x, w, impl="pallas_interpret"))(qw2)
    np.testing.assert_allclose(np.asarray(yw[1]), np.asarray(y), rtol=1e-5, atol=1e-5)
    assert_traced_once(
        lambda a: w4a16_matmul(a, qw, impl="pallas_interpret"),
        [(x + i,) for i in range(3)],
    )


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_gradients(impl):
    x, qw = _setup(3, 128, 16, group_size=32, seed=6)
    x = jnp.asarray(x)
    f = jax.jit(lambda a: w4a16_matmul(a, qw, impl=impl))
    check_grads(f, (x,), 1, modes=("rev",))

    # the scales' gradient is the exact one of x @ ((q - 8) * s)
    @jax.jit
    def via_scales(s):
        w = type(qw)(qw.packed, s, group_size=qw.group_size, block_k=qw.block_k)
        return w4a16_matmul(x, w, impl=impl)

    check_grads(via_scales, (qw.scales.astype(jnp.float64),), 1, modes=("rev",))
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda a: w4a16_matmul(a, qw, impl=impl), (x,), (x,))


def test_errors():
    x, qw = _setup(2, 128, 128)
    x = jnp.asarray(x)
    with pytest.raises(ValueError, match="K=128"):
        w4a16_matmul(x[:, :64], qw)
    with pytest.raises(ValueError, match="block_n"):
        w4a16_matmul(x, qw, block_n=96)
    with pytest.raises(ValueError, match="block_k"):
        w4a16_matmul(x, qw, block_k=64)
    with pytest.raises(ValueError, match="block_m"):
        w4a16_matmul(x, qw, block_m=0)
    with pytest.raises(ValueError, match="impl"):
        unchecked(w4a16_matmul)(x, qw, impl="cuda")
    with pytest.raises(TypeError, match="float"):
        unchecked(w4a16_matmul)(x.astype(jnp.int32), qw)
    with pytest.raises(TypeError, match="Int4Weight"):
        unchecked(w4a16_matmul)(x, dequantize(qw))
    if jax.default_backend() != "gpu":
        with pytest.raises(ValueError, match="CUDA GPU"):
            w4a16_matmul(x, qw, impl="pallas")


@pytest.mark.gpu
def test_compiled_kernel_on_gpu():
    x, qw = _setup(16, 1024, 1024, seed=7)
    xb = jnp.asarray(x, jnp.bfloat16)
    y = w4a16_matmul(xb, qw, impl="pallas")
    assert _rel(y, xb, qw) < 5e-3

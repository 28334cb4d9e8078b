"""Tests for jaxmethods.ops.fwht (float64 oracles; Pallas checked in interpret mode)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads

from jaxmethods.ops import fwht
from jaxmethods.ops.fwht import reference
from jaxmethods.ops.fwht.api import resolve_impl
from jaxmethods.ops.fwht.pallas_gpu import fwht_pallas
from tests.helpers import assert_close, assert_traced_once, check_transforms


# qmcpy 2.4: qp.fwht(np.arange(8.0))
QMCPY_FWHT_ARANGE8 = [
    9.8994949366,
    -1.4142135624,
    -2.8284271247,
    0.0,
    -5.6568542495,
    0.0,
    0.0,
    0.0,
]


def _dense(x, axis=-1):
    """H_n x / sqrt(n) along ``axis`` in float64 with scipy's Hadamard matrix."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    y = x @ scipy.linalg.hadamard(n).T / np.sqrt(n)
    return np.moveaxis(y, -1, axis)


def _normal(key, shape, dtype=jnp.float64):
    return jax.random.normal(key, shape, dtype)


# Jitted once per shape: eager calls would compile every stage separately.
jfwht = jax.jit(fwht, static_argnames=("axis", "impl"))


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_qmcpy_values_arange8(impl):
    x = jnp.arange(8.0, dtype=jnp.float64 if impl == "xla" else jnp.float32)
    y = fwht(x, impl=impl)
    atol = 1e-9 if impl == "xla" else 2e-6  # expected values have 10 decimals
    assert_close(y, np.asarray(QMCPY_FWHT_ARANGE8, dtype=y.dtype), atol=atol)


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((1,), -1), ((2, 2), -1), ((3, 8), -1), ((2, 128), 1), ((1024,), 0), ((16, 3), 0)],
)
def test_dense_oracle(getkey, shape, axis):
    x = _normal(getkey(), shape)
    assert_close(jfwht(x, axis=axis, impl="xla"), _dense(x, axis), rtol=0, atol=1e-12)


def test_reference_is_dense(getkey):
    x = _normal(getkey(), (3, 64))
    assert_close(reference.fwht_reference(x), _dense(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(37, 64), (5, 1024), (2048,)])
def test_blocked_paths_equal_reference(getkey, monkeypatch, shape):
    # Shrink the size thresholds so that small arrays take the chunked
    # (rows, with a remainder batch) and two-level (H_a X H_b) paths.
    monkeypatch.setattr(reference, "SMALL", 1 << 8)
    monkeypatch.setattr(reference, "CHUNK", 1 << 8)
    monkeypatch.setattr(reference, "SPLIT", 1 << 6)
    x = _normal(getkey(), shape)
    y = jax.jit(reference.fwht_xla)(x)
    assert_close(y, reference.fwht_reference(x), rtol=0, atol=1e-12)
    assert_close(y, _dense(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "shape", [(3, 2), (5, 128), (2, 256), (4, 3, 1024), (1 << 15,)]
)
def test_matmul_path_equal_reference(getkey, shape):
    # The GPU's XLA path (Kronecker-factor matmuls), checked on CPU in float64.
    x = _normal(getkey(), shape)
    y = jax.jit(reference.fwht_matmul)(x)
    assert_close(y, reference.fwht_reference(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_matmul_path_keeps_dtype(getkey, dtype):
    x = _normal(getkey(), (3, 512), dtype)
    y = reference.fwht_matmul(x)
    assert y.dtype == dtype
    tol = 1e-5 if dtype == jnp.float32 else 5e-2
    assert_close(y, _dense(x), rtol=tol, atol=tol)


def test_platform_dispatch_lowers_per_platform():
    # One jitted function, lowered for CUDA (matmuls) and CPU (butterflies).
    x = jax.ShapeDtypeStruct((4, 1024), jnp.float32)

    def lowered(platform):
        exp = jax.export.export(jax.jit(reference.fwht_platform), platforms=[platform])
        return exp(x).mlir_module()

    assert "dot_general" in lowered("cuda")
    assert "dot_general" not in lowered("cpu")


def test_against_qmcpy(getkey):
    qp = pytest.importorskip("qmcpy")
    for shape in [(2, 3, 32), (512,), (4, 2048)]:
        x = np.asarray(_normal(getkey(), shape))
        assert_close(jfwht(x), qp.fwht(x), rtol=0, atol=1e-12)


def test_involution(getkey):
    x = _normal(getkey(), (4, 4096))  # radix-4 butterfly passes
    assert_close(jfwht(jfwht(x)), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((8,), -1), ((3, 32), -1), ((17, 128), -1), ((2, 4096), -1), ((64, 5), 0)],
)
def test_pallas_interpret_matches_xla(getkey, shape, axis):
    x = _normal(getkey(), shape, jnp.float32)
    got = jfwht(x, axis=axis, impl="pallas_interpret")
    want = jfwht(x, axis=axis, impl="xla")
    assert got.dtype == jnp.float32
    assert_close(got, want)
    want64 = jfwht(x.astype(jnp.float64), axis=axis, impl="xla")
    assert_close(got, want64, rtol=1e-5, atol=1e-5)


def test_pallas_block_rows(getkey):
    x = _normal(getkey(), (10, 256), jnp.float32)
    got = fwht_pallas(x, block_rows=4, interpret=True)
    assert_close(got, _dense(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="power of two"):
        fwht_pallas(x, block_rows=3, interpret=True)


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_jit_vmap(getkey, impl):
    dtype = jnp.float64 if impl == "xla" else jnp.float32
    x = _normal(getkey(), (4, 16), dtype)
    check_transforms(lambda z: fwht(z, impl=impl), (x,))


def test_traced_once(getkey):
    xs = [(_normal(getkey(), (2, 64)),) for _ in range(3)]
    assert_traced_once(lambda z: fwht(z), xs)


# check_grads runs on jitted functions: faster, and second-order reverse mode
# under jit is where a captured array constant would leak as a tracer.
def test_grads_xla(getkey):
    x = _normal(getkey(), (8, 3))
    f = jax.jit(lambda z: jnp.sin(fwht(z, axis=0, impl="xla")))
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))


def test_grads_pallas_interpret(getkey):
    x = _normal(getkey(), (2, 16), jnp.float32)
    # The map is linear, so a large finite-difference step is exact up to
    # float32 rounding (the default 1e-4 step would amplify rounding 1e4x).
    check_grads(
        jax.jit(lambda z: fwht(z, impl="pallas_interpret")),
        (x,),
        order=2,
        modes=("fwd", "rev"),
        eps=0.5,
    )


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_grad_is_transform_of_cotangent(getkey, impl):
    dtype = jnp.float64 if impl == "xla" else jnp.float32
    x = _normal(getkey(), (3, 32), dtype)
    w = _normal(getkey(), (3, 32), dtype)
    g = jax.grad(lambda z: jnp.sum(fwht(z, impl=impl) * w))(x)
    assert_close(g, fwht(w, impl="xla"))


@pytest.mark.parametrize(
    ("impl", "dtype"),
    [
        ("xla", jnp.float32),
        ("xla", jnp.float64),
        ("xla", jnp.bfloat16),
        ("pallas_interpret", jnp.float32),
    ],
)
def test_dtype_preserved(impl, dtype):
    x = jnp.ones((2, 8), dtype)
    assert fwht(x, impl=impl).dtype == dtype


def test_errors():
    with pytest.raises(ValueError, match=r"fwht: .* power of two, got 12"):
        fwht(jnp.ones(12))
    with pytest.raises(ValueError, match=r"fwht: .* power of two, got 3"):
        fwht(jnp.ones((3, 4)), axis=0)
    with pytest.raises(ValueError, match="fwht: axis=2 is out of range"):
        fwht(jnp.ones((2, 4)), axis=2)
    with pytest.raises(ValueError, match="fwht: unknown impl 'cuda'"):
        fwht(jnp.ones(4), impl="cuda")
    with pytest.raises(TypeError):
        fwht(jnp.arange(4))
    with pytest.raises(TypeError):
        fwht(jnp.ones(4, jnp.complex64))
    # A scalar has no axis to transform (under pytest the runtime jaxtyping
    # check of the "*batch n" annotation may reject it first, as a TypeError).
    with pytest.raises((ValueError, TypeError)):
        fwht(jnp.float32(1.0))


@pytest.mark.parametrize(("rows", "n"), [(16, 8), (4, 1024), (1, 1 << 15)])
def test_pallas_kernel_lowers_to_triton(rows, n):
    # Cross-platform lowering for CUDA needs no GPU: it runs the Pallas to
    # Triton-IR lowering rules on every op of the kernel (not ptxas).
    export = jax.export
    x = jax.ShapeDtypeStruct((rows, n), jnp.float32)
    exported = export.export(
        jax.jit(fwht_pallas),
        platforms=["cuda"],
        disabled_checks=[
            export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")
        ],
    )(x)
    assert "__gpu$xla.gpu.triton" in exported.mlir_module()


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("rows", "n"), [(100, 8), (64, 1024), (3, 1 << 13), (2, 1 << 15)]
)
@pytest.mark.parametrize("impl", ["pallas", "xla"])
def test_gpu_float32_matches_float64(getkey, rows, n, impl):
    # "xla" on GPU is the matmul path: HIGHEST precision keeps it off TF32.
    x = _normal(getkey(), (rows, n), jnp.float32)
    assert_close(
        jfwht(x, impl=impl),
        jfwht(x.astype(jnp.float64), impl="xla"),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.gpu
def test_gpu_grads():
    x = _normal(jax.random.key(0), (2, 1024), jnp.float32)
    for impl in ("pallas", "xla"):
        check_grads(
            jax.jit(lambda z, impl=impl: fwht(z, impl=impl)),
            (x,),
            order=2,
            modes=("fwd", "rev"),
            eps=0.5,
        )


@pytest.mark.skipif(jax.default_backend() == "gpu", reason="checks the CPU error")
def test_pallas_on_cpu_is_an_error():
    with pytest.raises(ValueError, match="impl='pallas_interpret'"):
        fwht(jnp.ones(8), impl="pallas")
    assert resolve_impl("fwht", "auto", jnp.float32, 1024, 1 << 13) == "xla"

"""Tests for jaxmethods.ops.fftbr/ifftbr (float64 oracles; Pallas interpreted)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmethods.ops import fftbr, ifftbr
from jaxmethods.ops.fftbr import api, pallas_gpu, reference
from jaxmethods.ops.fwht.api import resolve_impl
from tests.helpers import assert_close, assert_traced_once, check_transforms


# qmcpy 2.4: qp.fftbr(np.arange(8.0)) and qp.ifftbr(np.arange(8.0)), 5 decimals
QMCPY_FFTBR_ARANGE8 = [
    9.8995,
    -0.35355 + 0.85355j,
    -1.41421 + 1.41421j,
    -0.35355 + 0.14645j,
    -5.65685,
    -0.35355 - 0.14645j,
    -1.41421 - 1.41421j,
    -0.35355 - 0.85355j,
]
QMCPY_IFFTBR_ARANGE8 = [
    9.8995,
    -1.41421,
    -1.41421 - 1.41421j,
    -1.41421 + 1.41421j,
    -1.41421 - 3.41421j,
    -1.41421 + 0.58579j,
    -1.41421 - 0.58579j,
    -1.41421 + 3.41421j,
]


def _bitrev(m):
    i = np.arange(1 << m)
    return np.array([int(format(k, f"0{m}b")[::-1], 2) if m else 0 for k in i])


def _dense(kind, n):
    """The float64 matrix of each map: F P, P conj(F), and their transposes."""
    j = np.arange(n)
    f = np.exp(-2j * np.pi * np.outer(j, j) / n) / np.sqrt(n)
    p = np.eye(n)[_bitrev(n.bit_length() - 1)]  # (P x)[i] = x[bitrev(i)]
    return {
        "fftbr": f @ p,
        "ifftbr": p @ f.conj(),
        "fftbr_t": (f @ p).T,
        "ifftbr_t": (p @ f.conj()).T,
    }[kind]


def _apply_dense(kind, x, axis=-1):
    x = np.moveaxis(np.asarray(x), axis, -1)
    y = x @ _dense(kind, x.shape[-1]).T
    return np.moveaxis(y, -1, axis)


def _cnormal(key, shape, dtype=jnp.complex128):
    return jax.random.normal(key, shape, dtype)


def _normal(key, shape, dtype=jnp.float64):
    return jax.random.normal(key, shape, dtype)


# Jitted once per shape: eager calls would compile every op separately.
jfftbr = jax.jit(fftbr, static_argnames=("axis", "impl"))
jifftbr = jax.jit(ifftbr, static_argnames=("axis", "impl"))


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_qmcpy_values_arange8(impl):
    x = jnp.arange(8.0, dtype=jnp.float64 if impl == "xla" else jnp.float32)
    assert_close(fftbr(x, impl=impl), np.asarray(QMCPY_FFTBR_ARANGE8), atol=1e-4)
    assert_close(ifftbr(x, impl=impl), np.asarray(QMCPY_IFFTBR_ARANGE8), atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "axis"), [((1,), -1), ((2, 2), -1), ((8, 3), 0), ((2, 512), -1)]
)
def test_dense_oracle(getkey, shape, axis):
    xc = _cnormal(getkey(), shape)
    xr = _normal(getkey(), shape)
    for x in (xc, xr):
        got = jfftbr(x, axis=axis, impl="xla")
        assert_close(got, _apply_dense("fftbr", x, axis), rtol=0, atol=1e-12)
        got = jifftbr(x, axis=axis, impl="xla")
        assert_close(got, _apply_dense("ifftbr", x, axis), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", reference.KINDS)
def test_every_kind_dense(getkey, kind):
    x = _cnormal(getkey(), (2, 64))
    assert_close(
        reference.apply_xla(x, kind), _apply_dense(kind, x), rtol=0, atol=1e-12
    )


def test_reference_definitions(getkey):
    x = _cnormal(getkey(), (3, 128))
    assert_close(
        reference.fftbr_reference(x), _apply_dense("fftbr", x), rtol=0, atol=1e-12
    )
    assert_close(
        reference.ifftbr_reference(x), _apply_dense("ifftbr", x), rtol=0, atol=1e-12
    )
    m = 10
    i = jnp.arange(1 << m)
    np.testing.assert_array_equal(reference.bitrev(i), _bitrev(m))


def test_against_qmcpy(getkey):
    qp = pytest.importorskip("qmcpy")
    for shape in [(2, 3, 32), (1024,), (4, 4096)]:
        xr = np.asarray(_normal(getkey(), shape))
        xc = np.asarray(_cnormal(getkey(), shape))
        for x in (xr, xc):
            assert_close(jfftbr(x), qp.fftbr(x), rtol=0, atol=1e-12)
            assert_close(jifftbr(x), qp.ifftbr(x), rtol=0, atol=1e-12)


def test_inverse(getkey):
    x = _cnormal(getkey(), (4, 256))
    assert_close(jifftbr(jfftbr(x)), x, rtol=0, atol=1e-12)
    assert_close(jfftbr(jifftbr(x)), x, rtol=0, atol=1e-12)
    xr = _normal(getkey(), (256,))
    assert_close(jifftbr(jfftbr(xr)), xr.astype(jnp.complex128), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "axis"), [((8,), -1), ((3, 64), -1), ((2, 512, 5), 1), ((2, 4096), -1)]
)
def test_pallas_interpret_matches_xla(getkey, shape, axis):
    x = _cnormal(getkey(), shape, jnp.complex64)
    for fn in (jfftbr, jifftbr):
        got = fn(x, axis=axis, impl="pallas_interpret")
        assert got.dtype == jnp.complex64
        assert_close(got, fn(x, axis=axis, impl="xla"), rtol=1e-4, atol=1e-5)
    xr = jnp.real(x)
    got = jfftbr(xr, axis=axis, impl="pallas_interpret")
    assert_close(got, jfftbr(xr, axis=axis, impl="xla"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_transposes_match_linear_transpose(getkey, impl):
    # The reverse-mode rule of each map must be its linear transpose (JAX's
    # convention, no conjugation), here derived from the jnp definitions.
    dtype = jnp.complex128 if impl == "xla" else jnp.complex64
    x = _cnormal(getkey(), (2, 32), dtype)
    ct = _cnormal(getkey(), (2, 32), dtype)
    for kind in reference.KINDS:
        want = jax.linear_transpose(lambda v, k=kind: reference.apply_xla(v, k), x)(ct)[
            0
        ]
        got = api._apply(ct, reference.TRANSPOSE[kind], impl)
        assert_close(got, want, rtol=1e-4, atol=1e-5)
    for fn, ref in [
        (fftbr, reference.fftbr_reference),
        (ifftbr, reference.ifftbr_reference),
    ]:
        want = jax.linear_transpose(ref, x)(ct)[0]
        got = jax.vjp(lambda v, fn=fn: fn(v, impl=impl), x)[1](ct)[0]
        assert_close(got, want, rtol=1e-4, atol=1e-5)
    # Real input: the transpose is the real part (JAX's real-to-complex rule).
    xr = jnp.real(x)
    want = jax.linear_transpose(reference.fftbr_reference, xr)(ct)[0]
    got = jax.vjp(lambda v: fftbr(v, impl=impl), xr)[1](ct)[0]
    assert got.dtype == xr.dtype
    assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
def test_jit_vmap(getkey, impl):
    dtype = jnp.complex128 if impl == "xla" else jnp.complex64
    x = _cnormal(getkey(), (4, 16), dtype)
    check_transforms(lambda z: fftbr(z, impl=impl), (x,), rtol=1e-5, atol=1e-6)
    check_transforms(lambda z: ifftbr(z, impl=impl), (x,), rtol=1e-5, atol=1e-6)


def test_traced_once(getkey):
    xs = [(_normal(getkey(), (2, 64)),) for _ in range(3)]
    assert_traced_once(lambda z: ifftbr(fftbr(z)), xs)


# check_grads runs on jitted functions: faster, and second-order reverse mode
# under jit is where a captured array constant would leak as a tracer.
def test_grads_xla(getkey):
    xr = _normal(getkey(), (8, 3))
    kw = dict(order=2, modes=("fwd", "rev"))
    check_grads(
        jax.jit(lambda z: jnp.sin(jnp.abs(fftbr(z, axis=0, impl="xla")))), (xr,), **kw
    )
    xc = _cnormal(getkey(), (2, 16))
    check_grads(jax.jit(lambda z: ifftbr(z, impl="xla")), (xc,), **kw)
    check_grads(jax.jit(lambda z: fftbr(z, impl="xla")), (xc,), **kw)


def test_grads_pallas_interpret(getkey):
    # Linear maps: a large finite-difference step is exact up to float32
    # rounding (the default 1e-4 step would amplify rounding 1e4 times).
    xr = _normal(getkey(), (2, 16), jnp.float32)
    xc = _cnormal(getkey(), (2, 16), jnp.complex64)
    kw = dict(order=2, modes=("fwd", "rev"), eps=0.5)
    check_grads(jax.jit(lambda z: fftbr(z, impl="pallas_interpret")), (xr,), **kw)
    check_grads(jax.jit(lambda z: ifftbr(z, impl="pallas_interpret")), (xc,), **kw)


@pytest.mark.parametrize(
    ("impl", "dtype", "out"),
    [
        ("xla", jnp.float32, jnp.complex64),
        ("xla", jnp.float64, jnp.complex128),
        ("xla", jnp.complex64, jnp.complex64),
        ("xla", jnp.bfloat16, jnp.complex64),
        ("pallas_interpret", jnp.float32, jnp.complex64),
        ("pallas_interpret", jnp.complex128, jnp.complex128),
    ],
)
def test_dtypes(impl, dtype, out):
    x = jnp.ones((2, 8), dtype)
    assert fftbr(x, impl=impl).dtype == out
    assert ifftbr(x, impl=impl).dtype == out


def test_errors():
    for fn, name in [(fftbr, "fftbr"), (ifftbr, "ifftbr")]:
        with pytest.raises(ValueError, match=rf"{name}: .* power of two, got 6"):
            fn(jnp.ones(6))
        with pytest.raises(ValueError, match=rf"{name}: unknown impl 'gpu'"):
            fn(jnp.ones(4), impl="gpu")
        with pytest.raises(ValueError, match=rf"{name}: axis=-3 is out of range"):
            fn(jnp.ones((2, 4)), axis=-3)
        with pytest.raises(TypeError):
            fn(jnp.arange(4))
        with pytest.raises(TypeError):
            fn(jnp.ones(4, jnp.bool_))


@pytest.mark.parametrize("kind", ["fftbr", "ifftbr"])
@pytest.mark.parametrize(("rows", "n"), [(4, 2), (4, 1024), (1, 1 << 13)])
def test_pallas_kernel_lowers_to_triton(kind, rows, n):
    # Cross-platform lowering for CUDA needs no GPU: it runs the Pallas to
    # Triton-IR lowering rules on every op of the kernel (not ptxas).
    export = jax.export
    x = jax.ShapeDtypeStruct((rows, n), jnp.float32)
    exported = export.export(
        jax.jit(lambda a, b: pallas_gpu.fft_pallas(a, b, kind)),
        platforms=["cuda"],
        disabled_checks=[
            export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")
        ],
    )(x, x)
    assert "__gpu$xla.gpu.triton" in exported.mlir_module()


@pytest.mark.gpu
@pytest.mark.parametrize(("rows", "n"), [(100, 8), (64, 1024), (3, 1 << 13)])
def test_pallas_gpu_matches_xla(getkey, rows, n):
    x = _cnormal(getkey(), (rows, n), jnp.complex64)
    x128 = x.astype(jnp.complex128)
    for fn in (jfftbr, jifftbr):
        for impl in ("pallas", "xla"):
            assert_close(fn(x, impl=impl), fn(x128, impl="xla"), rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_pallas_gpu_grads():
    x = _cnormal(jax.random.key(0), (2, 1024), jnp.complex64)
    check_grads(
        jax.jit(lambda z: ifftbr(z, impl="pallas")),
        (x,),
        order=2,
        modes=("fwd", "rev"),
        eps=0.5,
    )


@pytest.mark.skipif(jax.default_backend() == "gpu", reason="checks the CPU error")
def test_pallas_on_cpu_is_an_error():
    with pytest.raises(ValueError, match="impl='pallas_interpret'"):
        fftbr(jnp.ones(8), impl="pallas")
    with pytest.raises(ValueError, match="impl='pallas_interpret'"):
        ifftbr(jnp.ones(8), impl="pallas")
    assert resolve_impl("fftbr", "auto", jnp.complex64, 64, 1 << 13) == "xla"

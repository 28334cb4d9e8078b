"""Tests for jaxmethods.quant.gptq and hessian_from_activations.

Oracles: an independent float64 NumPy transcription of GPTQ (loops, in the
official (out, in) layout of IST-DASLab/gptq and IST-DASLab/marlin
``gptq/gptq.py``); round to nearest when H = I; GPTQ beating RTN on the
correlated-input setup of research perf.md §2.3.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxmethods.quant import (
    GPTQHessian,
    dequantize,
    gptq,
    hessian_from_activations,
    quantize_rtn,
)
from tests.helpers import assert_close, unchecked


# ---------------------------------------------------------------------------
# float64 NumPy reference
# ---------------------------------------------------------------------------


def _stored_scale(absmax, scale_dtype):
    """MARLIN's 2/15 max|w| (1 for an all-zero group), cast to the stored dtype."""
    s = np.where(absmax > 0, absmax * (2.0 / 15.0), 1.0)
    return s.astype(scale_dtype).astype(np.float64)


def _find_scale(x, solve, *, clip, scale_dtype):
    """Scales of a group ``x`` (rows = outputs), as ``Quantizer.find_params``.

    With ``clip``: the official grid p = 1 - i/100, i = 0..75, and criterion
    ``sum((delta @ solve^{-1})**2, 1)`` (torch ``solve_triangular(solve,
    delta, upper=True, left=False)``), first minimum kept.
    """
    absmax = np.max(np.abs(x), axis=1)
    scale = _stored_scale(absmax, scale_dtype)
    if not clip:
        return scale
    best = np.full(x.shape[0], np.inf)
    for i in range(int(0.75 * 100) + 1):
        p = 1 - i / 100
        s1 = _stored_scale(p * absmax, scale_dtype)
        q = np.clip(np.round(x / s1[:, None]) + 8, 0, 15)
        delta = (q - 8) * s1[:, None] - x
        y = scipy.linalg.solve_triangular(solve, delta.T, trans="T", lower=False)
        err = np.sum(y**2, axis=0)
        better = err < best
        best[better] = err[better]
        scale[better] = s1[better]
    return scale


def gptq_numpy(
    w,
    h,
    *,
    group_size,
    blocksize,
    percdamp=0.01,
    static_groups=False,
    clip=False,
    scale_dtype=np.float16,
):
    """GPTQ in float64 with loops; returns codes ``(K, N)`` and scales ``(G, N)``."""
    W = np.array(w, np.float64).T.copy()  # (N, K): rows = outputs, as the papers
    H = np.array(h, np.float64).copy()
    rows, cols = W.shape
    g = cols if group_size == -1 else group_size
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * np.mean(np.diag(H))
    H[np.arange(cols), np.arange(cols)] += damp
    lower = np.linalg.cholesky(H)
    Hinv = np.linalg.cholesky(scipy.linalg.cho_solve((lower, True), np.eye(cols))).T

    kw = dict(clip=clip, scale_dtype=scale_dtype)
    if static_groups or group_size == -1:
        upfront = [
            _find_scale(W[:, j : j + g], Hinv[j : j + g, j : j + g], **kw)
            for j in range(0, cols, g)
        ]
    Q = np.zeros((rows, cols), np.int64)
    scales = []
    scale = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].copy()
        Err1 = np.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if col % g == 0:
                if static_groups or group_size == -1:
                    scale = upfront[col // g]
                else:  # the group as updated by every earlier row
                    scale = _find_scale(
                        W1[:, i : i + g], Hinv1[i : i + g, i : i + g], **kw
                    )
                scales.append(scale)
            w_col = W1[:, i]
            d = Hinv1[i, i]
            q = np.clip(np.round(w_col / scale) + 8, 0, 15)
            Q[:, col] = q
            err1 = (w_col - (q - 8) * scale) / d
            W1[:, i:] -= np.outer(err1, Hinv1[i, i:])
            Err1[:, i] = err1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q.T, np.stack(scales)


def _correlated(rng, k, n_out, n_samples):
    """perf.md §2.3: X = randn(n, K) @ (I + 2A), A = randn(K, K)/sqrt(K)."""
    a = rng.standard_normal((k, k)) / np.sqrt(k)
    x = rng.standard_normal((n_samples, k)) @ (np.eye(k) + 2 * a)
    w = rng.standard_normal((k, n_out))
    return x, w


def _output_error(x, w, qw):
    """Relative layer-output error ||X (W - W_hat)||^2 / ||X W||^2."""
    w_hat = np.asarray(dequantize(qw, jnp.float64))
    return float(np.sum((x @ (w - w_hat)) ** 2) / np.sum((x @ w) ** 2))


# ---------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_size", "static_groups"), [(128, False), (128, True), (-1, False)]
)
def test_identity_hessian_is_rtn(group_size, static_groups):
    # With H = I the factor U is diagonal: no error feedback, so GPTQ is RTN.
    w = np.random.default_rng(0).standard_normal((256, 64))
    qw = gptq(w, np.eye(256), group_size=group_size, static_groups=static_groups)
    ref = quantize_rtn(w, group_size=group_size)
    assert_close(qw.packed, ref.packed)
    assert_close(qw.scales, ref.scales)
    assert qw.scales.dtype == jnp.float16


# (K=64, N=16, block_k 16; group 16 unless -1.)  blocksize 48 does not divide
# K = 64, so the last block is padded.
REFERENCE_CASES = [
    dict(group_size=16, blocksize=32),
    dict(group_size=16, blocksize=48),
    dict(group_size=16, blocksize=32, clip=True),
    dict(group_size=32, blocksize=32, static_groups=True, clip=True),
    dict(group_size=-1, blocksize=32, percdamp=0.1, scale_dtype=np.float32),
]


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=lambda c: str(sorted(c.items())))
def test_numpy_reference(case):
    rng = np.random.default_rng(1)
    x, w = _correlated(rng, 64, 16, 256)
    x[:, [5, 40]] = 0.0  # two dead inputs
    w[:, 3] = 0.0  # an all-zero output column
    h = 2 * x.T @ x / x.shape[0]
    codes_ref, scales_ref = gptq_numpy(w, h, **case)
    qw = gptq(w, h, block_k=16, **case)
    codes = np.asarray(qw.codes())
    same = np.mean(codes == codes_ref)
    # Exact in practice; allow one rounding tie flipped by summation order.
    assert same >= 1 - 1 / codes.size, f"{same:.4%} of codes agree"
    scales = np.asarray(qw.scales, np.float64)
    if case.get("clip"):
        # Near-ties of the clipping criterion (two shrink factors giving the
        # same codes) may go either way: with default_rng(3) one of the 64
        # scales of the static clip case differs by one float16 ulp.
        assert np.mean(scales == scales_ref) >= 0.99
    elif same == 1:
        assert_close(scales, scales_ref, rtol=0, atol=0)
    assert np.all(codes[[5, 40]] == 8)  # dead inputs: zero rows
    assert np.all(codes[:, 3] == 8)
    assert np.all(np.asarray(qw.scales)[:, 3] == 1)


def test_blocksize_does_not_change_the_result():
    # Lazy batch updates are exact, and groups see every correction.
    rng = np.random.default_rng(2)
    x, w = _correlated(rng, 64, 16, 256)
    h = hessian_from_activations(x)
    a = gptq(w, h, group_size=16, blocksize=32, block_k=16)
    b = gptq(w, h, group_size=16, blocksize=64, block_k=16)
    assert np.mean(np.asarray(a.codes()) == np.asarray(b.codes())) >= 0.999
    assert_close(a.scales, b.scales)


def test_gptq_beats_rtn_on_correlated_inputs():
    # perf.md §2.3: K=256, N=64, n=2048. Research reference: RTN 1.2007e-2,
    # GPTQ 6.0050e-3 (ratio 0.50; the draw that gave them is not recorded).
    # This draw: RTN 1.208e-2, GPTQ 6.17e-3 (percdamp 0.01, float16 scales),
    # 5.29e-3 with clip. Over 12 seeds GPTQ/RTN is 0.504 with percdamp 0.01
    # and 0.529 with MARLIN's 0.1, so the reference used 0.01.
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 64))
    a = rng.standard_normal((256, 256)) / 16.0
    x = rng.standard_normal((2048, 256)) @ (np.eye(256) + 2 * a)
    h = hessian_from_activations(x)
    e_rtn = _output_error(x, w, quantize_rtn(w))
    e_gptq = _output_error(x, w, gptq(w, h))
    e_clip = _output_error(x, w, gptq(w, h, clip=True))
    assert 0.0115 < e_rtn < 0.0125, e_rtn
    assert e_gptq < 0.7 * e_rtn, (e_gptq, e_rtn)
    assert e_clip <= e_gptq, (e_clip, e_gptq)


# ---------------------------------------------------------------------------
# Hessian accumulation
# ---------------------------------------------------------------------------


def test_hessian_accumulation_equals_one_shot():
    x = np.random.default_rng(3).standard_normal((3, 50, 24))
    one_shot = hessian_from_activations(x)
    assert int(one_shot.count) == 150
    assert_close(one_shot.matrix, 2 * x.reshape(-1, 24).T @ x.reshape(-1, 24) / 150)
    h = None
    for batch in (x[0, :7], x[0, 7:], x[1], x[2]):
        h = hessian_from_activations(batch, h)
    assert h is not None and int(h.count) == 150
    assert_close(h.matrix, one_shot.matrix, rtol=0, atol=1e-12)
    # An empty batch changes nothing; an empty start is the zero accumulator.
    same = hessian_from_activations(np.zeros((0, 24)), h)
    assert_close(same.matrix, h.matrix, rtol=0, atol=0)
    assert int(hessian_from_activations(np.zeros((0, 24))).count) == 0


def test_hessian_scan_and_dtypes():
    x = np.random.default_rng(4).standard_normal((5, 16, 8))

    def body(h, batch):
        return hessian_from_activations(batch, h), None

    h, _ = jax.jit(
        lambda xs: jax.lax.scan(body, GPTQHessian.zeros(8, jnp.float64), xs)
    )(x)
    assert_close(h.matrix, hessian_from_activations(x).matrix, rtol=0, atol=1e-12)
    assert int(h.count) == 80
    for dtype, expected in [
        (jnp.float32, jnp.float32),
        (jnp.bfloat16, jnp.float32),
        (jnp.float64, jnp.float64),
    ]:
        assert hessian_from_activations(x.astype(dtype)).matrix.dtype == expected


# ---------------------------------------------------------------------------
# Invariants and transforms
# ---------------------------------------------------------------------------


def test_dead_inputs_and_zero_columns_give_no_nan():
    # (test_numpy_reference checks single dead inputs and a zero column.)
    rng = np.random.default_rng(5)
    x, w = _correlated(rng, 64, 16, 256)
    x[:, :16] = 0.0  # a whole dead group
    w[:, 7] = 0.0
    h = hessian_from_activations(x)
    for hess in (h, np.zeros((64, 64))):  # then every input dead: H = 0
        qw = gptq(w, hess, group_size=16, blocksize=32, block_k=16)
        codes = np.asarray(qw.codes())
        assert codes.min() >= 0 and codes.max() <= 15
        assert np.all(np.isfinite(np.asarray(qw.scales, np.float64)))
        assert np.all(codes[:16] == 8) and np.all(codes[:, 7] == 8)
        assert np.all(np.asarray(qw.scales)[0] == 1)
    assert np.all(codes == 8)


def test_jit_equals_eager_and_traces_once():
    # float32 end to end (the eager calls above are float64).
    rng = np.random.default_rng(6)
    x, w = _correlated(rng, 64, 16, 128)
    x, w = x.astype(np.float32), w.astype(np.float32)
    h = hessian_from_activations(x)
    assert h.matrix.dtype == jnp.float32
    kw = dict(group_size=16, blocksize=32, block_k=16, clip=True)
    eager = gptq(w, h, **kw)
    assert eager.scales.dtype == jnp.float16
    traces = 0

    def f(w, h, p):
        nonlocal traces
        traces += 1
        return gptq(w, h, percdamp=p, **kw)

    jitted = jax.jit(f)
    out = jitted(w, h, 0.01)
    assert_close(out.packed, eager.packed)
    assert_close(out.scales, eager.scales)
    w2 = rng.standard_normal(w.shape).astype(np.float32)
    jax.block_until_ready(jitted(w2, hessian_from_activations(x[:64]), 0.1))
    assert traces == 1


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_bad_inputs():
    f = unchecked(gptq)
    w = np.zeros((64, 16))
    h = np.eye(64)
    kw = dict(group_size=16, block_k=16)
    with pytest.raises(TypeError, match="gptq: w must be a float"):
        f(w.astype(np.int32), h, **kw)
    with pytest.raises(ValueError, match=r"gptq: w must have shape \(K, N\)"):
        f(np.zeros(64), h, **kw)
    with pytest.raises(ValueError, match=r"gptq: hessian must have shape \(64, 64\)"):
        f(w, np.eye(32), **kw)
    with pytest.raises(TypeError, match="gptq: hessian must be a float"):
        f(w, np.eye(64, dtype=np.int32), **kw)
    with pytest.raises(ValueError, match="group_size"):
        f(w, h, group_size=24, block_k=16)
    with pytest.raises(ValueError, match="block_k"):
        f(w, h, group_size=16, block_k=12)
    with pytest.raises(ValueError, match="gptq: blocksize must be a positive int"):
        f(w, h, blocksize=0, **kw)
    with pytest.raises(ValueError, match="blocksize=24 must be a multiple of group_s"):
        f(w, h, blocksize=24, **kw)
    # Fine with scales computed upfront (traced only, to save a compilation).
    jax.eval_shape(lambda: f(w, h, blocksize=24, static_groups=True, **kw))
    with pytest.raises(ValueError, match="gptq: percdamp must be >= 0"):
        f(w, h, percdamp=-0.1, **kw)
    with pytest.raises(TypeError, match="gptq: scale_dtype"):
        f(w, h, scale_dtype=jnp.int8, **kw)


def test_not_positive_definite_raises():
    w = np.ones((64, 16))
    with pytest.raises((ValueError, RuntimeError), match="not positive definite"):
        gptq(w, -np.eye(64), group_size=16, blocksize=32, block_k=16)


def test_hessian_bad_inputs():
    f = unchecked(hessian_from_activations)
    with pytest.raises(TypeError, match="x must be a float"):
        f(np.ones((4, 3), np.int32))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., K\)"):
        f(np.float64(1.0))
    h = hessian_from_activations(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"previous.matrix must have shape \(5, 5\)"):
        f(np.ones((4, 5)), h)
    with pytest.raises(TypeError, match="previous must be a GPTQHessian"):
        f(np.ones((4, 3)), np.eye(3))

"""Int4 packing, the Int4Weight container, dequantization and RTN.

Oracles: bit-exact round trips; NumPy float64 re-derivation of the packing
layout; the research reference values of perf.md §2.3 (RTN on a seeded
256 x 256 Gaussian matrix).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmethods.quant import (
    Int4Weight,
    dequantize,
    pack_int4,
    quantize_rtn,
    unpack_int4,
)

from ..helpers import assert_close, unchecked


@pytest.mark.parametrize(
    "pattern", ["random", "zeros", "fifteens", "alternating", "ramp"]
)
@pytest.mark.parametrize("block_k", [8, 16, 128])
def test_pack_roundtrip_bit_exact(pattern, block_k):
    k, n = 256, 24
    rng = np.random.default_rng(0)
    q = {
        "random": rng.integers(0, 16, (k, n)),
        "zeros": np.zeros((k, n), int),
        "fifteens": np.full((k, n), 15),
        "alternating": np.indices((k, n)).sum(0) % 2 * 15,
        "ramp": np.arange(k * n).reshape(k, n) % 16,
    }[pattern]
    packed = pack_int4(jnp.asarray(q, jnp.int32), block_k=block_k)
    assert packed.dtype == jnp.uint32 and packed.shape == (k // 8, n)
    assert packed.nbytes == k * n // 2
    back = unpack_int4(packed, block_k=block_k)
    np.testing.assert_array_equal(np.asarray(back), q)
    # the layout: word r of tile t holds row t*bk + r + j*bk/8 in nibble j
    words = np.asarray(packed).astype(np.uint64)
    plane = block_k // 8
    for row in (0, 1, plane, k - 1):
        t, rem = divmod(row, block_k)
        j, r = divmod(rem, plane)
        nib = (words[t * plane + r] >> np.uint64(4 * j)) & np.uint64(0xF)
        np.testing.assert_array_equal(nib, q[row])
    if pattern == "fifteens":
        assert (np.asarray(packed) == 0xFFFFFFFF).all()


def test_rtn_reference_values():
    """perf.md §2.3 oracle 1 (float64 scales)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 256))
    qw = quantize_rtn(jnp.asarray(w), scale_dtype=jnp.float64)
    wh = np.asarray(dequantize(qw, jnp.float64))
    rel = np.linalg.norm(w - wh) / np.linalg.norm(w)
    assert abs(rel - 0.11137695989041764) < 1e-12
    words = [int(v) for v in np.asarray(qw.packed).ravel()[:3]]
    assert words == [0x8679BA48, 0xA57836B8, 0x677679B9]
    assert_close(
        qw.scales[0, :3], jnp.asarray([0.436961, 0.34046, 0.436292]), atol=1e-6
    )
    # float16 scales (the default) move w/s by up to 2^-11 relative, which
    # flips codes only next to rounding ties (0.25 % here)
    q16 = quantize_rtn(jnp.asarray(w))
    assert q16.scales.dtype == jnp.float16
    assert np.mean(np.asarray(q16.codes()) == np.asarray(qw.codes())) > 0.99


@pytest.mark.parametrize("group_size", [128, 32, -1])
def test_rtn_invariants(group_size):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((256, 64)) * rng.uniform(0.1, 3, (1, 64))
    w[:, 5] = 0.0  # an all-zero column: scale 1, code 8, no NaN
    qw = quantize_rtn(jnp.asarray(w), group_size=group_size, scale_dtype=jnp.float32)
    q = np.asarray(qw.codes()).astype(int)
    assert q.min() >= 0 and q.max() <= 15
    s = np.asarray(qw.scales, np.float64)
    g = 256 if group_size == -1 else group_size
    s_full = np.repeat(s, g, axis=0)
    wh = np.asarray(dequantize(qw, jnp.float64))
    assert np.isfinite(wh).all()
    err = np.abs(wh - w)
    clipped = q == 15
    assert (err[~clipped] <= s_full[~clipped] / 2 * (1 + 1e-6)).all()
    assert (err[clipped] <= s_full[clipped] * (1 + 1e-6)).all()
    assert (q[:, 5] == 8).all() and (s[:, 5] == 1).all()
    # the positive extreme is clipped (7.5 -> 8 -> 16 -> 15), the negative is not
    assert (q == 15).sum() > (q == 0).sum()
    # scale rule: 2/15 max|w| per group
    want = np.abs(w).reshape(-1, g, 64).max(1) * 2 / 15
    want[want == 0] = 1.0
    assert_close(jnp.asarray(s), jnp.asarray(want), rtol=1e-6)


def test_dequantize_and_container():
    rng = np.random.default_rng(2)
    w = jnp.asarray(rng.standard_normal((128, 32)), jnp.float32)
    qw = quantize_rtn(w)
    assert qw.shape == (128, 32) and qw.group_size == 128 and qw.block_k == 128
    assert qw.nbytes == 128 * 32 // 2 + 32 * 2
    d = dequantize(qw)
    assert d.dtype == jnp.bfloat16
    want = (np.asarray(qw.codes(), np.float64) - 8) * np.asarray(qw.scales, np.float64)
    assert_close(dequantize(qw, jnp.float64), jnp.asarray(want), rtol=0, atol=0)
    # a pytree that jit passes through
    out = jax.jit(lambda a: dequantize(a, jnp.float32))(qw)
    assert_close(out, dequantize(qw, jnp.float32), rtol=0, atol=0)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), qw, qw)
    assert jax.vmap(lambda a: dequantize(a, jnp.float32))(stacked).shape == (2, 128, 32)
    # from_codes packs
    again = Int4Weight.from_codes(qw.codes(), qw.scales)
    np.testing.assert_array_equal(np.asarray(again.packed), np.asarray(qw.packed))
    # jit of the quantizer itself
    jq = jax.jit(lambda a: quantize_rtn(a))(w)
    np.testing.assert_array_equal(np.asarray(jq.packed), np.asarray(qw.packed))


def test_errors():
    q = jnp.zeros((128, 8), jnp.int32)
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        pack_int4(q.at[0, 0].set(16))
    with pytest.raises(TypeError, match="integer"):
        unchecked(pack_int4)(q.astype(jnp.float32))
    with pytest.raises(ValueError, match="multiple of block_k"):
        pack_int4(jnp.zeros((120, 8), jnp.int32))
    with pytest.raises(ValueError, match="multiple of 8"):
        pack_int4(q, block_k=12)
    with pytest.raises(TypeError, match="uint32"):
        unchecked(unpack_int4)(jnp.zeros((16, 8), jnp.int32))
    w = jnp.zeros((256, 8))
    with pytest.raises(ValueError, match="group_size"):
        quantize_rtn(w, group_size=100)
    with pytest.raises(ValueError, match="group_size"):
        quantize_rtn(w, group_size=0)
    with pytest.raises(ValueError, match="multiple of group_size"):
        quantize_rtn(jnp.zeros((384, 8)), group_size=256)
    with pytest.raises(ValueError, match="multiple of block_k"):
        quantize_rtn(jnp.zeros((200, 8)))
    with pytest.raises(TypeError, match="float"):
        unchecked(quantize_rtn)(jnp.zeros((256, 8), jnp.int32))
    with pytest.raises(ValueError, match=r"\(K, N\)"):
        unchecked(quantize_rtn)(jnp.zeros((256,)))
    packed = pack_int4(q)
    with pytest.raises(ValueError, match="scales must have shape"):
        Int4Weight(packed, jnp.ones((2, 8), jnp.float16))
    with pytest.raises(TypeError, match="scales"):
        Int4Weight(packed, jnp.ones((1, 8), jnp.int32))
    with pytest.raises(TypeError, match="Int4Weight"):
        unchecked(dequantize)(w)

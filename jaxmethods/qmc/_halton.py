"""Randomized Halton point sets (QMCPy's ``Halton``) in exact digit arithmetic.

The Halton sequence is a generalized digital net: coordinate $j$ has base
$b_j$, the $j$-th prime, and the identity generating matrix, so digit $k$ of
$x_{ij}$ is digit $k$ of the index $i$ in base $b_j$ (the radical inverse).
Every construction here works on base-$b_j$ digits in ``uint32`` arithmetic
(digits are below $b_j < 2^{13}$, so 32-bit integers hold every product and
sum, with or without x64); floats enter only when the digits of a coordinate
are summed, in the order and with the reciprocals QMCPy uses.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float, Integer, PRNGKeyArray

from .._internal.bits import check_float_dtype, clamp_below_one, hash_words, mix32
from ._common import as_uint, check_choice, check_size, with_replications


def _sieve(limit: int) -> np.ndarray:
    """Primes below ``limit`` (sieve of Eratosthenes)."""
    is_prime = np.ones(limit, dtype=bool)
    is_prime[:2] = False
    for p in range(2, int(limit**0.5) + 1):
        if is_prime[p]:
            is_prime[p * p :: p] = False
    return np.flatnonzero(is_prime)


# The bases: the primes below 2^13 (QMCPy ships the first 1000 primes).
PRIMES: np.ndarray = _sieve(1 << 13)
MAX_DIMENSION: int = len(PRIMES)  # 1028

# Faure-Lemieux multipliers of the generalized Halton sequence, one per
# dimension, as in the R package qrng and QMCPy's copy ``halton_qrng.c``.
_FAURE_LEMIEUX = np.array(
    [
        1, 1, 3, 3, 4, 9, 7, 5, 9, 18, 18, 8,
        13, 31, 9, 19, 36, 33, 21, 44, 43, 61, 60, 56,
        26, 71, 32, 77, 26, 95, 92, 47, 29, 61, 57, 69,
        115, 63, 92, 31, 104, 126, 50, 80, 55, 152, 114, 80,
        83, 97, 95, 150, 148, 55, 80, 192, 71, 76, 82, 109,
        105, 173, 58, 143, 56, 177, 203, 239, 196, 143, 278, 227,
        87, 274, 264, 84, 226, 163, 231, 177, 95, 116, 165, 131,
        156, 105, 188, 142, 105, 125, 269, 292, 215, 182, 294, 152,
        148, 144, 382, 194, 346, 323, 220, 174, 133, 324, 215, 246,
        159, 337, 254, 423, 484, 239, 440, 362, 464, 376, 398, 174,
        149, 418, 306, 282, 434, 196, 458, 313, 512, 450, 161, 315,
        441, 549, 555, 431, 295, 557, 172, 343, 472, 604, 297, 524,
        251, 514, 385, 531, 663, 674, 255, 519, 324, 391, 394, 533,
        253, 717, 651, 399, 596, 676, 425, 261, 404, 691, 604, 274,
        627, 777, 269, 217, 599, 447, 581, 640, 666, 595, 669, 686,
        305, 460, 599, 335, 258, 649, 771, 619, 666, 669, 707, 737,
        854, 925, 818, 424, 493, 463, 535, 782, 476, 451, 520, 886,
        340, 793, 390, 381, 274, 500, 581, 345, 363, 1024, 514, 773,
        932, 556, 954, 793, 294, 863, 393, 827, 527, 1007, 622, 549,
        613, 799, 408, 856, 601, 1072, 938, 322, 1142, 873, 629, 1071,
        1063, 1205, 596, 973, 984, 875, 918, 1133, 1223, 933, 1110, 1228,
        1017, 701, 480, 678, 1172, 689, 1138, 1022, 682, 613, 635, 984,
        526, 1311, 459, 1348, 477, 716, 1075, 682, 1245, 401, 774, 1026,
        499, 1314, 743, 693, 1282, 1003, 1181, 1079, 765, 815, 1350, 1144,
        1449, 718, 805, 1203, 1173, 737, 562, 579, 701, 1104, 1105, 1379,
        827, 1256, 759, 540, 1284, 1188, 776, 853, 1140, 445, 1265, 802,
        932, 632, 1504, 856, 1229, 1619, 774, 1229, 1300, 1563, 1551, 1265,
        905, 1333, 493, 913, 1397, 1250, 612, 1251, 1765, 1303, 595, 981,
        671, 1403, 820, 1404, 1661, 973, 1340, 1015, 1649, 855, 1834, 1621,
        1704, 893, 1033, 721, 1737, 1507, 1851, 1006, 994, 923, 872, 1860,
    ],
    dtype=np.uint32,
)  # fmt: skip
QRNG_MAX_DIMENSION: int = len(_FAURE_LEMIEUX)  # 360
QRNG_DIGITS = 32  # qrng's fixed number of base-b digits

_RANDOMIZE = ("lms_dp", "lms_ds", "lms", "ds", "dp", "nus", "qrng", "none")
_INDEX_LIMIT = 1 << 32  # point indices are uint32
_U32 = jnp.uint32

# Domain-separation tags of the hashed random ingredients.
_TAG_LMS = 0x4C4D5331
_TAG_DP = 0x44504552
_TAG_DP2 = 0x44503252
_TAG_DS = 0x44534846
_TAG_NUS = 0x4E555331
_TAG_QRNG = 0x51524E47
_NUS_ALPHA = 0x2545F491
_NUS_BETA = 0x9E3779B9


# ---------------------------------------------------------------------------
# Static planning (Python ints only).


def _num_digits(x: int, b: int) -> int:
    """Base-``b`` digits of ``x >= 0`` (at least one)."""
    k = 1
    while x >= b:
        x //= b
        k += 1
    return k


def _precision_digits(b: int, bits: int) -> int:
    """The smallest ``t`` with ``b**t >= 2**bits``."""
    t, p = 0, 1
    while p < (1 << bits):
        p *= b
        t += 1
    return t


def _default_bits(dtype: jnp.dtype) -> int:
    """Resolution ``2**-bits`` of the default digits: QMCPy's 63 for float64."""
    return 63 if jnp.dtype(dtype).itemsize >= 8 else 32


def _recips(b: int, t: int) -> np.ndarray:
    """``1/b, 1/b/b, ...`` (``t`` terms) by repeated float64 division, as QMCPy."""
    out = np.empty(t, dtype=np.float64)
    r = 1.0 / b
    for k in range(t):
        out[k] = r
        r = r / b
    return out


def _recip_table(bases: np.ndarray, T: list[int]) -> np.ndarray:
    """``(dg, max T)`` reciprocals, zero past each dimension's digit count (a
    zero term leaves the running sum unchanged)."""
    out = np.zeros((len(bases), max(T)))
    for r, (b, t) in enumerate(zip(bases, T, strict=True)):
        out[r, :t] = _recips(int(b), t)
    return out


def _split_recips(recip: np.ndarray, digit_bits: int, dtype: jnp.dtype):
    """Split reciprocals as ``r = hi + lo`` with ``hi * y`` and ``lo * y`` exact
    for digits ``y < 2**digit_bits``.

    The digit sum must add ``fl(r * y)`` as QMCPy's C code does, but XLA on CPU
    contracts ``v + r * y`` into a fused multiply-add, which rounds once
    instead of twice. With exact partial products, ``fl(hi * y + lo * y)`` is
    the correctly rounded ``r * y`` whether or not that addition is fused, and
    the running sum then adds a sum, which is never fused.
    """
    npdt = np.dtype(jnp.dtype(dtype).name)
    r = recip.astype(npdt)
    if npdt.itemsize not in (4, 8) or 2 * digit_bits > np.finfo(npdt).nmant + 1:
        return r, np.zeros_like(r)  # no exact split (float32, bases > 2^12)
    ui = np.dtype(f"uint{8 * npdt.itemsize}")
    hi = (r.view(ui) & ~np.array((1 << digit_bits) - 1, dtype=ui)).view(npdt)
    return hi, r - hi


def _check_sizes(fn: str, d: int, n: int, n_min: int, d_max: int) -> None:
    check_size(fn, "d", d, minimum=1)
    check_size(fn, "n", n, minimum=1)
    check_size(fn, "n_min", n_min)
    if d > d_max:
        raise ValueError(
            f"{fn}: d={d} exceeds the {d_max} supported dimensions "
            f"(one per prime base up to {int(PRIMES[d_max - 1])})"
        )
    if n_min + n > _INDEX_LIMIT:
        raise ValueError(
            f"{fn}: n_min + n = {n_min + n} exceeds 2^32 (point indices are uint32)"
        )


def _check_t(fn: str, t: int, K0: int, N: int) -> None:
    check_size(fn, "t", t, minimum=1)
    if t < K0:
        raise ValueError(
            f"{fn}: t={t} digits cannot hold the index n_min + n - 1 = {N - 1}, "
            f"which has {K0} digits in base 2"
        )


def _groups(bases: np.ndarray, K: list[int], by_base: bool) -> list[tuple[int, int]]:
    """Contiguous runs of dimensions with the same number of index digits and,
    when tables are indexed by digit value, the same bit length of the base
    (which bounds the padding of those tables)."""
    d = len(bases)
    out, j0 = [], 0
    for j in range(1, d + 1):
        if (
            j == d
            or K[j] != K[j0]
            or (by_base and int(bases[j]).bit_length() != int(bases[j0]).bit_length())
        ):
            out.append((j0, j))
            j0 = j
    return out


# ---------------------------------------------------------------------------
# The engine: one group of dimensions at a time, layout (dimensions, points),
# one loop step per digit.


class _Base:
    """The bases of a group of dimensions (one per row) with a fast ``divmod``.

    XLA lowers integer division by a vector of divisors to one scalar hardware
    division per element. Instead the quotient is estimated in float32 from a
    precomputed reciprocal and corrected once; the estimate is off by at most
    one while ``x / b < 2^22``, so the result is exact.
    """

    def __init__(self, b: Array, inv: Array):
        self.b, self.inv = b, inv  # (dg, 1) uint32 and float32

    @classmethod
    def of(cls, bases: np.ndarray) -> _Base:
        inv = (1.0 / bases.astype(np.float64)).astype(np.float32)
        return cls(
            jnp.asarray(bases.astype(np.uint32))[:, None], jnp.asarray(inv)[:, None]
        )

    def divmod_small(self, x: Array) -> tuple[Array, Array]:
        """Exact ``divmod(x, b)`` for ``uint32`` x with ``x / b < 2^22``."""
        q = (x.astype(jnp.float32) * self.inv).astype(_U32)
        r = jax.lax.bitcast_convert_type(x - q * self.b, jnp.int32)
        bi = self.b.astype(jnp.int32)
        low, high = r < 0, r >= bi
        q = jnp.where(low, q - _U32(1), jnp.where(high, q + _U32(1), q))
        r = jnp.where(low, r + bi, jnp.where(high, r - bi, r))
        return q, r.astype(_U32)

    def mod_small(self, x: Array) -> Array:
        return self.divmod_small(x)[1]

    def divmod(self, x: Array) -> tuple[Array, Array]:
        """Exact ``divmod(x, b)`` for any ``uint32`` x, in two 16-bit steps."""
        qh, rh = self.divmod_small(x >> _U32(16))
        ql, r = self.divmod_small((rh << _U32(16)) | (x & _U32(0xFFFF)))
        return (qh << _U32(16)) | ql, r


def _indices(n: int, n_min: int) -> Array:
    return jnp.arange(n, dtype=_U32) + _U32(n_min)


def _index_digits(i: Array, N: int, bases: np.ndarray, base: _Base, K: int) -> Array:
    """Base-``b`` digits ``a_k(i)``, ``k < K``, of indices ``i < N``: ``(K, dg, n)``."""
    q = jnp.broadcast_to(i[None, :], (len(bases), i.shape[0]))
    one_step = (N - 1) // int(bases.min()) < 1 << 22
    digits = []
    for _ in range(K):
        q, r = base.divmod_small(q) if one_step else base.divmod(q)
        digits.append(r)
    return jnp.stack(digits)


def _group_values(
    i: Array,
    N: int,
    bases: np.ndarray,
    K: int,
    recip: np.ndarray,
    *,
    lms: Array | None,
    perms: Array | None,
    shift: Array | None,
    nus_seed: Array | None,
    dtype: jnp.dtype,
) -> Array:
    """Coordinates ``(dg, n)`` of a group of dimensions (indices ``i < N``,
    ``K`` index digits, ``recip`` of shape ``(dg, T)``).

    Digit ``t`` is ``y_t = pi_t(z_t)`` with ``z_t = sum_k lms[t, k] a_k mod b``
    (``a_t`` without LMS) and ``pi_t`` a table permutation ``perms[:, t]``, a
    shift ``shift[:, t]``, a nested hash-keyed affine map, or the identity;
    the value is ``sum_t y_t recip[t]``, summed in increasing ``t``.
    """
    dg, T = recip.shape
    n = i.shape[0]
    base = _Base.of(bases)
    bmax = int(bases.max())
    binary = bmax == 2  # base 2 alone: digits are bits and LMS is a parity
    c = {"b": base.b, "inv": base.inv}
    if binary:
        c["i"] = i[None, :]
        if lms is not None:
            weights = jnp.asarray((1 << np.arange(K)).astype(np.uint32))
            c["lms"] = jnp.sum(
                lms[:, :, :K] * weights[None, None, :], axis=-1, dtype=_U32
            )
    else:
        c["a"] = _index_digits(i, N, bases, base, K)  # (K, dg, n)
        if lms is not None:
            c["lms"] = lms
    # sum_k S_tk a_k < K (b-1)^2 < 2^32 and K (b-1) < 2^22 for b < 2^13, so
    # one mod_small reduces the LMS sum.
    hi, lo = _split_recips(recip, (bmax - 1).bit_length(), dtype)
    c["rec_hi"], c["rec_lo"] = jnp.asarray(hi), jnp.asarray(lo)
    mode, width = "none", 0
    if perms is not None:
        mode, width = "perm", perms.shape[-1]
        if binary:
            c["perms"] = perms
        else:
            # Index the whole flat table (a loop invariant), so that XLA fuses
            # the lookup with the digit computation instead of materializing.
            c["perms"] = perms.reshape(-1)
            c["offsets"] = (jnp.arange(dg, dtype=_U32) * _U32(T * width))[:, None]
    elif shift is not None:
        mode, c["shift"] = "shift", shift
    elif nus_seed is not None:
        mode = "nus"
        base_m1 = _Base.of(np.maximum(bases - 1, 1))
        c["b_m1"], c["inv_m1"] = base_m1.b, base_m1.inv
    body = _digit_step(K, binary, lms is not None, mode, width, jnp.dtype(dtype).name)
    v0 = jnp.zeros((dg, n), dtype)
    h0 = jnp.zeros((), _U32)
    if nus_seed is not None:
        h0 = jnp.broadcast_to(nus_seed[:, None], (dg, n))
    (v, _), _ = jax.lax.fori_loop(0, T, body, ((v0, h0), c))
    return clamp_below_one(v)


def _column(x: Array, t: Array) -> Array:
    return jax.lax.dynamic_index_in_dim(x, t, axis=1, keepdims=False)[:, None]


@functools.cache
def _digit_step(K: int, binary: bool, has_lms: bool, mode: str, width: int, dtype: str):
    """The loop body for digit ``t``, one function object per configuration
    (arrays travel in the carry), so that eager calls reuse compiled loops."""
    dt = jnp.dtype(dtype)

    def digit(t, c):
        if binary:
            ii = c["i"]
            if has_lms:
                return jax.lax.population_count(ii & _column(c["lms"], t)) & _U32(1)
            return jnp.where(t < K, (ii >> t.astype(_U32)) & _U32(1), _U32(0))
        a = c["a"]
        if has_lms:
            row = jax.lax.dynamic_index_in_dim(c["lms"], t, axis=1, keepdims=False)
            s = row[:, 0, None] * a[0]
            for k in range(1, K):
                s = s + row[:, k, None] * a[k]
            return _Base(c["b"], c["inv"]).mod_small(s)
        ak = jax.lax.dynamic_index_in_dim(a, jnp.minimum(t, K - 1), keepdims=False)
        return jnp.where(t < K, ak, _U32(0))

    def body(t, carry):
        (v, h), c = carry
        z = digit(t, c)
        base = _Base(c["b"], c["inv"])
        if mode == "perm" and binary:
            tab = jax.lax.dynamic_index_in_dim(c["perms"], t, axis=1, keepdims=False)
            y = jnp.where(z == _U32(0), tab[:, 0, None], tab[:, 1, None])
        elif mode == "perm":
            y = c["perms"][c["offsets"] + t.astype(_U32) * _U32(width) + z]
        elif mode == "shift":
            y = z + _column(c["shift"], t)
            y = jnp.where(y >= base.b, y - base.b, y)
        elif mode == "nus":
            # pi(z) = alpha z + beta mod b, alpha != 0, keyed by the prefix hash.
            base_m1 = _Base(c["b_m1"], c["inv_m1"])
            alpha = _U32(1) + base_m1.divmod(mix32(h ^ _U32(_NUS_ALPHA)))[1]
            beta = base.divmod(mix32(h ^ _U32(_NUS_BETA)))[1]
            y = base.mod_small(alpha * z + beta)
            h = hash_words(h, z)  # the prefix now includes digit t
        else:
            y = z
        yf = y.astype(dt)
        v = v + (yf * _column(c["rec_hi"], t) + yf * _column(c["rec_lo"], t))
        return (v, h), c

    return body


# ---------------------------------------------------------------------------
# Explicit-parameter cores.


def _digit_axis(fn: str, name: str, x: Array | None, d: int, ndim: int) -> int | None:
    if x is None:
        return None
    if x.ndim != ndim or x.shape[0] != d:
        want = "(d, t)" if ndim == 2 else "(d, t, k)"
        raise ValueError(
            f"{fn}: {name} must have shape {want} with d={d}, got {x.shape}"
        )
    return x.shape[1]


def halton_points(
    n: int,
    d: int,
    *,
    n_min: int = 0,
    t: int | None = None,
    lms_matrices: Integer[ArrayLike, "d t_lms t_in"] | None = None,
    permutations: Integer[ArrayLike, "d t_perm b_max"] | None = None,
    digital_shift: Integer[ArrayLike, "d t_shift"] | None = None,
    dtype: DTypeLike | None = None,
) -> Float[Array, "n d"]:
    r"""Halton points from explicit random ingredients (deterministic core).

    Coordinate $j$ has base $b_j$, the $j$-th prime. With $a_k(i)$ the
    base-$b_j$ digits of the index $i$ (least significant first), the digits
    of $x_{ij}$ are

    $$z_r = \sum_k S_{j,r,k}\, a_k(i) \bmod b_j, \qquad
      y_r = \pi_{j,r}(z_r), \qquad
      x_{ij} = \sum_{r=0}^{t-1} y_r\, b_j^{-r-1},$$

    where $S_j$ is a linear matrix scramble (LMS; the identity if omitted) and
    $\pi_{j,r}$ a digit permutation (DP), a digital shift
    $z \mapsto z + \sigma_{j,r} \bmod b_j$ (DS), or the identity. Without
    ingredients this is the plain Halton sequence (first point the origin),
    equal to ``scipy.stats.qmc.Halton(d, scramble=False)``.

    The sum runs over increasing $r$ with QMCPy's float64 reciprocals
    ($1/b$, then repeated division by $b$), so QMCPy's ingredients reproduce
    ``qmcpy.Halton`` bit for bit: for ``h = qp.Halton(d, randomize=...,
    seed=s)`` pass ``t=h.t`` (63) and ``lms_matrices=h.C[0].transpose(0, 2,
    1)`` (after LMS QMCPy stores $S^\top$ as its generating matrices),
    ``permutations=h.perms[0]``, ``digital_shift=h.rshift[0]``. The result is
    clamped below 1, so $0 \le x < 1$ always. Digits are ``uint32``; cost
    $O(n \sum_j t\, K_j)$ with $K_j$ the base-$b_j$ digits of $n_{min}+n-1$,
    no Python loop over points.

    Args:
        n: number of points (static).
        d: dimension, at most 1028 (the primes below 8192; static).
        n_min: index of the first point (static); points
            $n_{min}, \ldots, n_{min}+n-1$ are returned.
        t: base-$b_j$ digits of every coordinate (static; at least the
            base-2 digits of $n_{min}+n-1$). Default: the digit axis of the
            given arrays; without arrays, the digits of the index (the exact
            unrandomized point).
        lms_matrices: $S$, shape `(d, t, t_in)`, entries in $[0, b_j)$; QMCPy
            makes rows $r < t_{in}$ lower triangular with a nonzero diagonal
            and rows beyond fully random. Only columns $k < K_j$ are read
            (they multiply the nonzero index digits), so $t_{in} \ge K_0$.
        permutations: shape `(d, t, b_max)`, $b_{max} \ge b_{d-1}$; row
            $(j, r)$ starts with a permutation of $0, \ldots, b_j - 1$ (the rest
            is padding) and $y_r$ = ``permutations[j, r, z_r]``.
        digital_shift: digits $\sigma_{j,r} \in [0, b_j)$, shape `(d, t)`.
        dtype: float dtype of the result and of the digit sum (default
            float64 with x64, else float32).

    Returns:
        Points of shape `(n, d)` in $[0, 1)$. Not differentiable (integer
        construction); ingredient values are not checked (entries must lie in
        the ranges above).

    Raises:
        ValueError: bad sizes, ``d > 1028``, arrays of the wrong shape or with
            fewer than ``t`` digits, both ``permutations`` and
            ``digital_shift``, or ``t`` too small for the index.
        TypeError: non-int sizes, non-integer arrays or a non-float ``dtype``.

    Examples:
        >>> import jaxmethods as jm
        >>> jm.qmc.halton_points(4, 2)
        Array([[0.        , 0.        ],
               [0.5       , 0.33333334],
               [0.25      , 0.6666667 ],
               [0.75      , 0.11111111]], dtype=float32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
        Owen, "A randomized Halton algorithm in R", arXiv:1706.02808 (2017).
    """
    fn = "halton_points"
    _check_sizes(fn, d, n, n_min, MAX_DIMENSION)
    dtype = check_float_dtype(fn, dtype)
    u32 = jnp.dtype(_U32)
    S = None if lms_matrices is None else as_uint(fn, "lms_matrices", lms_matrices, u32)
    P = None if permutations is None else as_uint(fn, "permutations", permutations, u32)
    D = (
        None
        if digital_shift is None
        else as_uint(fn, "digital_shift", digital_shift, u32)
    )
    if P is not None and D is not None:
        raise ValueError(f"{fn}: pass permutations or digital_shift, not both")
    axes = {
        name: ax
        for name, ax in (
            ("lms_matrices", _digit_axis(fn, "lms_matrices", S, d, 3)),
            ("permutations", _digit_axis(fn, "permutations", P, d, 3)),
            ("digital_shift", _digit_axis(fn, "digital_shift", D, d, 2)),
        )
        if ax is not None
    }
    bases = PRIMES[:d]
    N = n_min + n
    K = [_num_digits(N - 1, int(b)) for b in bases]
    if t is None and axes:
        if len(set(axes.values())) > 1:
            raise ValueError(f"{fn}: the digit axes differ ({axes}); pass t")
        t = next(iter(axes.values()))
    if t is not None:
        _check_t(fn, t, K[0], N)
        for name, ax in axes.items():
            if ax < t:
                raise ValueError(f"{fn}: {name} has {ax} digits, fewer than t={t}")
    if S is not None and S.shape[2] < K[0]:
        raise ValueError(
            f"{fn}: lms_matrices has {S.shape[2]} columns, fewer than the {K[0]} "
            f"base-2 digits of the index n_min + n - 1 = {N - 1}"
        )
    if P is not None and P.shape[2] < int(bases[-1]):
        raise ValueError(
            f"{fn}: permutations has {P.shape[2]} entries per row, fewer than "
            f"the largest base {int(bases[-1])}"
        )
    T = list(K) if t is None or not axes else [t] * d
    i = _indices(n, n_min)
    cols = []
    for j0, j1 in _groups(bases, K, by_base=P is not None):
        Kg, bg = K[j0], bases[j0:j1]
        recip = _recip_table(bg, T[j0:j1])
        Tg = recip.shape[1]
        cols.append(
            _group_values(
                i,
                N,
                bg,
                Kg,
                recip,
                lms=None if S is None else S[j0:j1, :Tg, :Kg],
                perms=None if P is None else P[j0:j1, :Tg, : int(bg.max())],
                shift=None if D is None else D[j0:j1, :Tg],
                nus_seed=None,
                dtype=dtype,
            )
        )
    return jnp.concatenate(cols, axis=0).T


def _qrng_group(
    i: Array, N: int, bases: np.ndarray, mult: np.ndarray, shift: Array, K: int, dtype
) -> Array:
    """qrng's generalized Halton for a group, ``(dg, n)``: digits
    ``(f a_k + s_k) mod b`` summed by Horner's rule from digit 31 down."""
    base = _Base.of(bases)
    shape = (len(bases), i.shape[0])
    bf = jnp.asarray(bases.astype(np.dtype(dtype.name)))[:, None]
    c = {
        "a": _index_digits(i, N, bases, base, K),
        "b": base.b,
        "inv": base.inv,
        "f": jnp.asarray(mult.astype(np.uint32))[:, None],
        "shift": shift,
    }
    u0 = jnp.zeros(shape, dtype)
    body = _qrng_step(K, jnp.dtype(dtype).name)
    (u, _), _ = jax.lax.fori_loop(
        0, QRNG_DIGITS, body, ((u0, jnp.broadcast_to(bf, shape)), c)
    )
    return clamp_below_one(u)


@functools.cache
def _qrng_step(K: int, dtype: str):
    dt = jnp.dtype(dtype)

    def body(step, carry):
        (u, den), c = carry
        k = QRNG_DIGITS - 1 - step
        ak = jax.lax.dynamic_index_in_dim(c["a"], jnp.minimum(k, K - 1), keepdims=False)
        ak = jnp.where(k < K, ak, _U32(0))
        p = _Base(c["b"], c["inv"]).mod_small(c["f"] * ak + _column(c["shift"], k))
        u = (u + p.astype(dt)) / den
        # XLA rewrites division by a constant or a broadcast into
        # multiplication by a reciprocal, which rounds differently from qrng's
        # division. Carrying a full-shape divisor through the loop as
        # max(b, u) (= b, as u <= 1 < b) keeps it an elementwise runtime value.
        return (u, jnp.maximum(den, u)), c

    return body


def _qrng_values(i: Array, N: int, bases: np.ndarray, shift: Array, dtype) -> Array:
    K = [_num_digits(N - 1, int(b)) for b in bases]
    mult = _FAURE_LEMIEUX[: len(bases)]
    cols = [
        _qrng_group(i, N, bases[j0:j1], mult[j0:j1], shift[j0:j1], K[j0], dtype)
        for j0, j1 in _groups(bases, K, by_base=False)
    ]
    return jnp.concatenate(cols, axis=0).T


def halton_qrng_points(
    n: int,
    d: int,
    *,
    n_min: int = 0,
    shift_digits: Integer[ArrayLike, "d 32"] | None = None,
    dtype: DTypeLike | None = None,
) -> Float[Array, "n d"]:
    r"""Randomized generalized Halton points of the R package qrng (QMCPy's "QRNG").

    Faure and Lemieux's generalized Halton sequence multiplies every
    base-$b_j$ digit by a fixed factor $f_j$ (their table, one factor per
    dimension, $f_1 = f_2 = 1$); qrng then adds a random digital shift
    $\sigma$. With $a_k(i)$ the digits of the index,

    $$x_{ij} = \sum_{k=0}^{31} \bigl((f_j a_k(i) + \sigma_{j,k}) \bmod b_j\bigr)
      b_j^{-k-1},$$

    evaluated by Horner's rule from $k = 31$ down, exactly as qrng's C code
    (and QMCPy's copy of it) does, so QMCPy's points are reproduced bit for
    bit; the result is clamped below 1. QMCPy draws uniforms $u_{j,k}$ and
    uses $\sigma_{j,k} = \lfloor b_j u_{j,k} \rfloor$: for
    ``h = qp.Halton(d, randomize="QRNG", seed=s)`` pass
    ``shift_digits=(h.bases[0][:, None] * h.randu_d_32).astype(int)``.
    Cost $O(32\, n d)$.

    Args:
        n: number of points (static).
        d: dimension, at most 360 (the length of the multiplier table; static).
        n_min: index of the first point (static).
        shift_digits: $\sigma$, shape `(d, 32)`, entries in $[0, b_j)$; None
            gives the unshifted generalized Halton sequence.
        dtype: float dtype (default float64 with x64, else float32).

    Returns:
        Points of shape `(n, d)` in $[0, 1)$.

    Raises:
        ValueError: bad sizes, ``d > 360`` or a wrongly shaped shift.
        TypeError: non-int sizes, a non-integer shift or a non-float ``dtype``.

    Examples:
        >>> import jaxmethods as jm
        >>> jm.qmc.halton_qrng_points(4, 3)[:, 2]
        Array([0. , 0.6, 0.2, 0.8], dtype=float32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Hofert and Lemieux, "qrng: (Randomized) Quasi-Random Number
        Generators", R package (2019). Faure and Lemieux, "Generalized Halton
        sequences in 2008: a comparative study", ACM TOMACS 19(4) (2009).
        Owen, "A randomized Halton algorithm in R", arXiv:1706.02808 (2017).
        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "halton_qrng_points"
    _check_sizes(fn, d, n, n_min, QRNG_MAX_DIMENSION)
    dtype = check_float_dtype(fn, dtype)
    if shift_digits is None:
        sh = jnp.zeros((d, QRNG_DIGITS), _U32)
    else:
        sh = as_uint(fn, "shift_digits", shift_digits, jnp.dtype(_U32))
        if sh.shape != (d, QRNG_DIGITS):
            raise ValueError(
                f"{fn}: shift_digits must have shape ({d}, {QRNG_DIGITS}), "
                f"got {sh.shape}"
            )
    return _qrng_values(_indices(n, n_min), n_min + n, PRIMES[:d], sh, dtype)


# ---------------------------------------------------------------------------
# Key-based API: every random ingredient is a keyed hash of (dimension, digit,
# entry), so it does not depend on n, on d or on how dimensions are grouped.


def _premix(words: np.ndarray) -> np.ndarray:
    """NumPy ``mix32(w + 0x9E3779B9)``: a static word as ``hash_words`` mixes it,
    so that ``mix32(h ^ _premix(w)) == hash_words(h, w)`` costs one traced mix."""
    h = (np.asarray(words, dtype=np.uint64) + 0x9E3779B9).astype(np.uint32)
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x7FEB352D)
        h = h ^ (h >> np.uint32(15))
        h = h * np.uint32(0x846CA68B)
        h = h ^ (h >> np.uint32(16))
    return np.asarray(h, dtype=np.uint32)


def _mix_in(h: Array, words: np.ndarray) -> Array:
    """``hash_words(h, w)`` for static words ``w`` (broadcasting)."""
    return mix32(h ^ jnp.asarray(_premix(words)))


def _dim_hash(seed: Array, tag: int, d0: int, d1: int) -> Array:
    """``(d1 - d0, 1, 1)``: ``hash_words(key words, tag, dimension)``."""
    h = hash_words(seed[0], seed[1])
    h = _mix_in(h, np.asarray(tag, dtype=np.uint32))
    return _mix_in(h, np.arange(d0, d1))[:, None, None]


def _grid(T: int, inner: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(T)[None, :, None], np.arange(inner)[None, None, :]


def _random_lms(seed: Array, T: int, K: int, bases: np.ndarray) -> Array:
    """``(d, T, K)``: uniform on ``0..b-1`` below the diagonal (all of row t
    when ``t >= K``), uniform on ``1..b-1`` on it, zero above it."""
    t, k = _grid(T, K)
    h = _mix_in(_mix_in(_dim_hash(seed, _TAG_LMS, 0, len(bases)), t), k)
    b = jnp.asarray(bases.astype(np.uint32))[:, None, None]
    diag = _U32(1) + h % (b - _U32(1))
    return jnp.where(k < t, h % b, jnp.where(k == t, diag, _U32(0)))


def _random_perms(seed: Array, d0: int, T: int, bases: np.ndarray) -> Array:
    """``(len(bases), T, max b)`` for dimensions ``d0, d0 + 1, ...``: row
    ``(j, t)`` starts with a uniform random permutation of ``0..b_j-1``, the
    indices sorted by two independent 32-bit hashed keys.

    A tie on both keys (probability about ``b_j^2 2^-65`` per row) keeps index
    order (stable sort), so the permutation is uniform up to that. Padding
    entries get the largest keys and sort last, so the first ``b_j`` entries do
    not depend on the padding.
    """
    t, a = _grid(T, int(bases.max()))
    b = jnp.asarray(bases.astype(np.uint32))[:, None, None]
    a_u = jnp.asarray(a.astype(np.uint32))
    top = _U32(0xFFFFFFFF)
    keys = []
    for tag in (_TAG_DP, _TAG_DP2):
        h = _mix_in(_mix_in(_dim_hash(seed, tag, d0, d0 + len(bases)), t), a)
        keys.append(jnp.where(a_u < b, h, top))
    idx = jnp.broadcast_to(a_u, keys[0].shape)
    return jax.lax.sort((*keys, idx), dimension=-1, is_stable=True, num_keys=2)[2]


def _random_digits(seed: Array, tag: int, T: int, bases: np.ndarray) -> Array:
    """``(d, T)`` digits uniform on ``0..b_j-1``."""
    t, _ = _grid(T, 1)
    h = _mix_in(_dim_hash(seed, tag, 0, len(bases)), t)
    return (h % jnp.asarray(bases.astype(np.uint32))[:, None, None])[:, :, 0]


def _bins(bases: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of bases with the same bit length."""
    return _groups(bases, [0] * len(bases), by_base=True)


def halton(
    key: PRNGKeyArray,
    n: int,
    d: int,
    *,
    randomize: str = "lms_dp",
    n_min: int = 0,
    replications: int | None = None,
    t: int | None = None,
    dtype: DTypeLike | None = None,
) -> Float[Array, "*replications n d"]:
    r"""Randomized Halton points (QMCPy's ``Halton``): LMS, DP, DS, NUS or QRNG.

    Builds the Halton points of
    [`halton_points`][jaxmethods.qmc.halton_points] (coordinate $j$ in base
    $b_j$, the $j$-th prime) and randomizes their base-$b_j$ digits:

    - ``"lms_dp"`` (default): linear matrix scrambling, $z = S a \bmod b$
      with $S$ lower triangular, its diagonal uniform on $\{1..b-1\}$ and the
      entries below uniform on $\{0..b-1\}$ (digits past the index digits
      get fully random rows: this is how LMS extends the digits), then an
      independent uniform random permutation of $\{0..b-1\}$ for each
      (dimension, digit);
    - ``"lms_ds"``: LMS then a digital shift (digit-wise addition mod $b$);
    - ``"lms"`` (point 0 stays at the origin, so not uniform), ``"dp"``,
      ``"ds"``: one ingredient;
    - ``"nus"``: nested scrambling: digit $r$ of coordinate $j$ goes through
      the bijection $z \mapsto \alpha z + \beta \bmod b_j$ ($\alpha \ne 0$)
      whose $(\alpha, \beta)$ is a hash of (key, $j$, $r$, the first $r$
      digits of the index). For prime $b$ the image of one digit is uniform
      and the images of two distinct digits are a uniform pair of distinct
      digits, as under Owen's uniform random permutations, so the mean and
      variance of the estimator are those of Owen's nested uniform
      scrambling. QMCPy's tree-based NUS cannot be reproduced bit for bit;
    - ``"qrng"``: qrng's generalized Halton with a random digital shift
      ([`halton_qrng_points`][jaxmethods.qmc.halton_qrng_points]; 32 digits,
      $d \le 360$);
    - ``"none"``: the plain sequence (first point the origin; ``key`` unused).

    All randomizations keep the stratification of the sequence: for
    $n = \prod_j b_j^{m_j}$ points from $n_{min} = 0$, every box
    $\prod_j [c_j b_j^{-m_j}, (c_j + 1) b_j^{-m_j})$ holds exactly one point.
    All but ``"lms"`` and ``"none"`` make each point uniform on the digit
    grid, so sample means are unbiased.

    Keys: the key gives two ``uint32`` words (``jax.random.bits(key, (2,),
    jnp.uint32)``), and every scramble entry, shift digit and permutation sort
    key is ``hash_words`` of those words, a tag, the dimension, the digit and
    the entry (reduced mod $b_j$: a bias below $b_j 2^{-32}$; a permutation
    sorts by two 32-bit keys, and ties, about $b_j^2 2^{-65}$ per
    permutation, keep index order). The same key
    gives the same point set, the first points do not depend on $n$ (the
    sequence is extensible: ``n_min`` continues it) and dimension $j$ does
    not depend on $d$. ``replications=r`` stacks the point sets of the keys
    ``jax.random.split(key, r)``.

    Digits: by default dimension $j$ gets $t_j$ digits, the smallest with
    $b_j^{t_j} \ge 2^{63}$ for float64 output (QMCPy's rule
    $t = \lceil 63 / \log_2 b \rceil$, per dimension instead of for the
    smallest base only) or $\ge 2^{32}$ otherwise. An int ``t`` gives every
    dimension $t$ digits, as QMCPy does ($t = 63$). Digits are summed in the
    output dtype and the result is clamped below 1.

    Args:
        key: PRNG key; the same key gives the same point set.
        n: number of points (static).
        d: dimension, at most 1028 (360 for ``"qrng"``; static).
        randomize: ``"lms_dp"``, ``"lms_ds"``, ``"lms"``, ``"ds"``, ``"dp"``,
            ``"nus"``, ``"qrng"`` or ``"none"`` (static).
        n_min: index of the first point (static).
        replications: number of independent randomizations (static), or None.
        t: base-$b_j$ digits per coordinate (static int; at least the base-2
            digits of $n_{min}+n-1$), or None for the per-dimension default.
            Not allowed with ``"qrng"`` (always 32 digits).
        dtype: float dtype (default float64 with x64, else float32).

    Returns:
        Points of shape `(n, d)`, or `(replications, n, d)`, in $[0, 1)$.
        Cost $O(n \sum_j t_j K_j)$ with $K_j$ the base-$b_j$ digits of
        $n_{min} + n - 1$ (plus sorting $\sum_j t_j b_j$ keys for DP); not
        differentiable (integer construction).

    Raises:
        ValueError: unknown ``randomize``, ``d`` too large, bad ``n``,
            ``n_min``, ``replications`` or ``t``.
        TypeError: non-int sizes or a non-float ``dtype``.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> x = jm.qmc.halton(jax.random.key(0), 6, 2)
        >>> x.shape, x.dtype
        ((6, 2), dtype('float32'))
        >>> # one point in each box [i/2, (i+1)/2) x [k/3, (k+1)/3)
        >>> sorted(zip((2 * x[:, 0]).astype(int).tolist(),
        ...            (3 * x[:, 1]).astype(int).tolist()))
        [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
        Owen, "A randomized Halton algorithm in R", arXiv:1706.02808 (2017).
        Owen, "Randomly permuted (t,m,s)-nets and (t,s)-sequences" (1995).
        Matoušek, "On the L2-discrepancy for anchored boxes", J. Complexity 14
        (1998).
    """
    fn = "halton"
    randomize = check_choice(fn, "randomize", randomize, _RANDOMIZE)
    d_max = QRNG_MAX_DIMENSION if randomize == "qrng" else MAX_DIMENSION
    _check_sizes(fn, d, n, n_min, d_max)
    dtype = check_float_dtype(fn, dtype)
    bases = PRIMES[:d]
    N = n_min + n
    K = [_num_digits(N - 1, int(b)) for b in bases]
    if t is not None:
        if randomize == "qrng":
            raise ValueError(f"{fn}: randomize='qrng' always uses 32 digits, got t={t}")
        _check_t(fn, t, K[0], N)
    if randomize == "none":
        T = list(K)  # digits past the index digits are zero
    elif t is not None:
        T = [t] * d
    else:
        T = [_precision_digits(int(b), _default_bits(dtype)) for b in bases]
    groups = _groups(bases, K, by_base=randomize in ("dp", "lms_dp"))

    def single(k):
        # Ingredients for all dimensions at once (few, large operations; the
        # DP tables per bit length of the base), then sliced per group.
        seed = jr.bits(k, (2,), _U32)
        i = _indices(n, n_min)
        if randomize == "qrng":
            shift = _random_digits(seed, _TAG_QRNG, QRNG_DIGITS, bases)
            return _qrng_values(i, N, bases, shift, dtype)
        lms = shift = nus = None
        perm_bins = {}
        if randomize.startswith("lms"):
            lms = _random_lms(seed, max(T), K[0], bases)
        if randomize in ("dp", "lms_dp"):
            for b0, b1 in _bins(bases):
                perm_bins[b0] = _random_perms(seed, b0, T[b0], bases[b0:b1])
        elif randomize in ("ds", "lms_ds"):
            shift = _random_digits(seed, _TAG_DS, max(T), bases)
        elif randomize == "nus":
            nus = _dim_hash(seed, _TAG_NUS, 0, d)[:, 0, 0]
        cols = []
        for j0, j1 in groups:
            Kg, bg = K[j0], bases[j0:j1]
            recip = _recip_table(bg, T[j0:j1])
            Tg = recip.shape[1]
            perms = None
            if perm_bins:
                b0 = max(x for x in perm_bins if x <= j0)
                perms = perm_bins[b0][j0 - b0 : j1 - b0, :Tg, : int(bg.max())]
            cols.append(
                _group_values(
                    i,
                    N,
                    bg,
                    Kg,
                    recip,
                    lms=None if lms is None else lms[j0:j1, :Tg, :Kg],
                    perms=perms,
                    shift=None if shift is None else shift[j0:j1, :Tg],
                    nus_seed=None if nus is None else nus[j0:j1],
                    dtype=dtype,
                )
            )
        return jnp.concatenate(cols, axis=0).T

    return with_replications(fn, single, key, replications)

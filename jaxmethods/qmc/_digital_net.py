"""Base-2 digital nets (QMCPy's ``DigitalNetB2``) and their randomizations.

Everything runs in unsigned integers: ``uint64`` with ``jax_enable_x64`` (up to
64 bits per coordinate) and ``uint32`` without (up to 32 bits). A generating
matrix $C_j \\in \\mathrm{GF}(2)^{t \\times m}$ is stored as its $m$ columns,
each a $t$-bit integer whose most significant bit is row 0 (QMCPy's
convention), so a set of matrices has shape ``(d, m)``.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Integer, PRNGKeyArray, Shaped

from .._internal.bits import (
    check_float_dtype,
    hash_words,
    max_bits,
    parity,
    to_unit_float,
    uint_dtype,
    xor_reduce,
)
from ._common import (
    as_uint,
    check_choice,
    check_pow2_range,
    check_size,
    with_replications,
)
from ._data import JOE_KUO_MAX_DIM, joe_kuo_matrices


_ORDERS = ("radical_inverse", "gray")
_RANDOMIZE = ("lms_ds", "lms", "ds", "nus", "none")
_JOE_KUO_BITS = 32


def _u(x, dt):
    return jnp.asarray(x, dt)


def _check_t(fn: str, t_in: int, t: int) -> None:
    check_size(fn, "t_in", t_in, minimum=1)
    check_size(fn, "t", t, minimum=1)
    if t > max_bits():
        hint = "" if max_bits() == 64 else "; enable jax_enable_x64 for up to 64 bits"
        raise ValueError(f"{fn}: t={t} is too large: at most {max_bits()} bits{hint}")
    if t < t_in:
        raise ValueError(f"{fn}: t={t} must be >= t_in={t_in} (no truncation)")


def _bit(x: Array, k, dt) -> Array:
    return (x >> _u(k, dt)) & _u(1, dt)


def _ints_at(C: Array, idx: Array) -> Array:
    """Digital-net integers for point indices ``idx``: XOR of the columns of ``C``
    selected by the bits of each index. ``C`` is ``(d, m)``, result ``(K, d)``.

    Written as a reduction so that XLA materializes the (small) result rather
    than fusing the column loop into every consumer element.
    """
    dt = C.dtype
    m = C.shape[1]
    bits = (idx[:, None] >> jnp.arange(m, dtype=dt)[None, :]) & _u(1, dt)
    sel = jnp.where(bits[:, None, :] == _u(1, dt), C[None, :, :], _u(0, dt))
    return xor_reduce(sel, axis=2)


def _net_ints(C: Array, n: int, n_min: int, order: str) -> Array:
    """Integers of points ``n_min .. n_min + n - 1`` (``(n, d)``), natural or Gray.

    Index ``i = h * 2^L + l`` splits into high and low parts; by linearity the
    point is ``A[h] ^ B[l]`` with two small tables, so the whole set is one
    broadcast XOR that XLA fuses with what follows (a digital shift, the
    conversion to floats).
    """
    dt = C.dtype
    d, m = C.shape
    n_end = n_min + n
    nbits = max((n_end - 1).bit_length(), 1)  # callers check nbits <= m
    L = min(max((nbits + 1) // 2, 1), m)
    h0, h1 = n_min >> L, (n_end - 1) >> L
    hi = jnp.arange(h0, h1 + 1, dtype=dt)
    lo = jnp.arange(0, 1 << L, dtype=dt)
    one = _u(1, dt)
    if order == "gray":
        # gray(h 2^L + l) = gray(h) 2^L ^ gray(l) ^ (h & 1) 2^(L-1)
        hg = ((hi ^ (hi >> one)) << _u(L, dt)) ^ ((hi & one) << _u(L - 1, dt))
        lg = lo ^ (lo >> one)
    else:
        hg = hi << _u(L, dt)
        lg = lo
    A = _ints_at(C, hg)
    B = _ints_at(C, lg)
    X = (A[:, None, :] ^ B[None, :, :]).reshape(-1, d)
    off = n_min - (h0 << L)
    return X[off : off + n]


def linear_matrix_scramble(
    generating_matrices: Integer[ArrayLike, "d m"],
    scramble_matrices: Integer[ArrayLike, "d t"],
    *,
    t_in: int,
) -> Integer[Array, "d m"]:
    r"""Linear matrix scrambling (LMS) of base-2 generating matrices.

    Returns $\tilde C_j = S_j C_j$ over $\mathrm{GF}(2)$. Row $r$ of $S_j$ is
    stored as a $t_{in}$-bit integer (MSB = column 0), so column $k$ of the
    result is $\sum_r \mathrm{parity}(S_j[r] \mathbin{\&} C_j[k])\, 2^{t-1-r}$,
    a $t$-bit integer. Draw $S$ with
    [`random_scramble_matrices`][jaxmethods.qmc.random_scramble_matrices].
    A scrambled net stays a digital net, so its structure (the net property,
    fast Gram operations) is kept.

    Args:
        generating_matrices: shape `(d, m)`, $t_{in}$-bit column integers.
        scramble_matrices: shape `(d, t)`, rows of $S_j$ as $t_{in}$-bit ints.
        t_in: bits of the input matrices (static).

    Returns:
        Scrambled matrices, shape `(d, m)`, $t$-bit column integers.

    Raises:
        ValueError: mismatched shapes or a bit count that does not fit.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> C = jm.qmc.sobol_generating_matrices(2)
        >>> S = jm.qmc.random_scramble_matrices(jax.random.key(0), 2, t_in=32, t=32)
        >>> jm.qmc.linear_matrix_scramble(C, S, t_in=32).shape
        (2, 32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Matoušek, "On the L2-discrepancy for anchored boxes", J. Complexity 14
        (1998). Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte
        Carlo software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "linear_matrix_scramble"
    dt = uint_dtype()
    C = as_uint(fn, "generating_matrices", generating_matrices, dt)
    S = as_uint(fn, "scramble_matrices", scramble_matrices, dt)
    if C.ndim != 2 or S.ndim != 2 or S.shape[0] != C.shape[0]:
        raise ValueError(
            f"{fn}: expected generating_matrices (d, m) and scramble_matrices "
            f"(d, t), got {C.shape} and {S.shape}"
        )
    t = S.shape[1]
    _check_t(fn, t_in, t)
    # bit r (from the top) of column k is parity(S[r] & C[k]); the bits are
    # distinct powers of two, so summing them is OR-ing them.
    bits = parity(S[:, :, None] & C[:, None, :])  # (d, t, m)
    shifts = jnp.arange(t - 1, -1, -1, dtype=dt)[None, :, None]
    return jnp.sum(bits << shifts, axis=1, dtype=dt)


def random_scramble_matrices(
    key: PRNGKeyArray, d: int, *, t_in: int, t: int
) -> Integer[Array, "d t"]:
    r"""Random lower-triangular scrambling matrices for
    [`linear_matrix_scramble`][jaxmethods.qmc.linear_matrix_scramble].

    For each dimension, $S \in \mathrm{GF}(2)^{t \times t_{in}}$ has unit
    diagonal, independent fair bits below it, zeros above it, and fully random
    rows $r \ge t_{in}$ (QMCPy's construction). Row $r$ is returned as a
    $t_{in}$-bit integer whose MSB is column 0.

    Args:
        key: PRNG key.
        d: number of dimensions (static).
        t_in: columns of $S$, the bits of the matrices to scramble (static).
        t: rows of $S$, the bits of the scrambled matrices (static).

    Returns:
        Integers of shape `(d, t)`.

    Raises:
        ValueError: ``t < t_in`` or more bits than the integer type holds.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> S = jm.qmc.random_scramble_matrices(jax.random.key(0), 3, t_in=4, t=4)
        >>> S.shape
        (3, 4)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Matoušek, "On the L2-discrepancy for anchored boxes", J. Complexity 14
        (1998). Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte
        Carlo software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "random_scramble_matrices"
    check_size(fn, "d", d, minimum=1)
    _check_t(fn, t_in, t)
    dt = uint_dtype()
    width = jnp.iinfo(dt).bits
    full = (1 << t_in) - 1
    # row r < t_in: random bits left of column r, a one on the diagonal, zeros
    # right of it; rows r >= t_in: t_in random bits.
    high = [full ^ ((1 << (t_in - r)) - 1) if r < t_in else full for r in range(t)]
    diag = [1 << (t_in - 1 - r) if r < t_in else 0 for r in range(t)]
    high_a = jnp.asarray(np.array(high, dtype=np.uint64).astype(dt.name))
    diag_a = jnp.asarray(np.array(diag, dtype=np.uint64).astype(dt.name))
    rand = jr.bits(key, (d, t), dt) >> _u(width - t_in, dt)
    return (rand & high_a[None, :]) | diag_a[None, :]


def digital_shift(
    xb: Integer[ArrayLike, "*batch d"],
    shift: Integer[ArrayLike, " d"],
    *,
    t_in: int,
    t: int,
) -> Integer[Array, "*batch d"]:
    r"""Digital shift: $x \mapsto (x\, 2^{t - t_{in}}) \oplus \sigma$ on integers.

    The $t_{in}$-bit integers of a net are widened to $t$ bits and XORed with
    one random $t$-bit integer $\sigma_j$ per dimension. Each shifted point is
    uniform on the $2^{-t}$ grid, so estimators stay unbiased.

    Args:
        xb: points as $t_{in}$-bit integers, shape `(*batch, d)`.
        shift: $t$-bit integers $\sigma$, shape `(d,)`.
        t_in: bits of ``xb`` (static).
        t: bits of the result (static).

    Returns:
        $t$-bit integers, shape `(*batch, d)`.

    Raises:
        ValueError: ``t < t_in`` or mismatched shapes.

    Examples:
        >>> import numpy as np, jaxmethods as jm
        >>> xb, shift = np.array([[0, 1], [1, 0]]), np.array([3, 0])
        >>> jm.qmc.digital_shift(xb, shift, t_in=1, t=2)
        Array([[3, 2],
               [1, 0]], dtype=uint32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "digital_shift"
    _check_t(fn, t_in, t)
    dt = uint_dtype()
    x = as_uint(fn, "xb", xb, dt)
    s = as_uint(fn, "shift", shift, dt)
    if s.ndim != 1 or x.shape[-1:] != s.shape:
        raise ValueError(f"{fn}: shift must have shape ({x.shape[-1]},), got {s.shape}")
    return (x << _u(t - t_in, dt)) ^ s


def random_digital_shift(key: PRNGKeyArray, d: int, *, t: int) -> Integer[Array, " d"]:
    r"""Random $t$-bit digital shifts $\sigma_j$, one per dimension.

    Args:
        key: PRNG key.
        d: number of dimensions (static).
        t: bits per shift (static).

    Returns:
        Integers of shape `(d,)` in $[0, 2^t)$.

    Raises:
        ValueError: more bits than the integer type holds.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> jm.qmc.random_digital_shift(jax.random.key(0), 2, t=8).shape
        (2,)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "random_digital_shift"
    check_size(fn, "d", d, minimum=1)
    _check_t(fn, 1, t)
    dt = uint_dtype()
    width = jnp.iinfo(dt).bits
    return jr.bits(key, (d,), dt) >> _u(width - t, dt)


def nested_uniform_scramble(
    key: PRNGKeyArray,
    xb: Integer[ArrayLike, "*batch d"],
    *,
    t_in: int,
    t: int,
) -> Integer[Array, "*batch d"]:
    r"""Nested uniform (Owen) scrambling of base-2 integers, stateless.

    Bit $k$ (counted from the most significant) of coordinate $j$ is flipped by
    a fair random bit that depends on $(j, k)$ and on the first $k$ bits of the
    input, so points that share a prefix share its flips: this is Owen's
    nested uniform scramble truncated at $t$ bits. The flip bits come from a
    keyed hash of $(j, k, \text{prefix})$ rather than a stored tree (QMCPy's
    way), so the function is pure and works under ``jit`` and ``vmap``; the
    same key gives the same scramble. Cost $O(t)$ hashes per coordinate.

    A scrambled $(t, m, s)$-net is again a $(t, m, s)$-net with probability
    one, each point is uniform, and for smooth integrands the variance of the
    estimator decays like $O(n^{-3} (\log n)^{s-1})$.

    Args:
        key: PRNG key.
        xb: points as $t_{in}$-bit integers, shape `(*batch, d)`; the
            dimension index $j$ is the last axis.
        t_in: bits of ``xb`` (static).
        t: bits of the result (static); bits beyond $t_{in}$ are fully random.

    Returns:
        Scrambled $t$-bit integers, shape `(*batch, d)`.

    Raises:
        ValueError: ``t < t_in`` or more bits than the integer type holds.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> xb = jm.qmc.digital_net_points(
        ...     jm.qmc.sobol_generating_matrices(2), 4, return_binary=True)
        >>> jm.qmc.nested_uniform_scramble(jax.random.key(0), xb, t_in=32, t=32).shape
        (4, 2)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Owen, "Randomly permuted (t,m,s)-nets and (t,s)-sequences", Monte Carlo
        and Quasi-Monte Carlo Methods in Scientific Computing (1995). Choi,
        Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "nested_uniform_scramble"
    _check_t(fn, t_in, t)
    dt = uint_dtype()
    x = as_uint(fn, "xb", xb, dt)
    width = jnp.iinfo(dt).bits
    seed = jr.bits(key, (2,), jnp.uint32)
    xe = x << _u(t - t_in, dt)
    j = jnp.broadcast_to(jnp.arange(x.shape[-1], dtype=jnp.uint32), x.shape)

    def body(k, flips):
        kk = k.astype(dt)
        sh = jnp.minimum(_u(t, dt) - kk, _u(width - 1, dt))
        prefix = jnp.where(kk == _u(0, dt), _u(0, dt), xe >> sh)
        words = [j, jnp.broadcast_to(k.astype(jnp.uint32), x.shape)]
        words.append((prefix & _u(0xFFFFFFFF, dt)).astype(jnp.uint32))
        if width == 64:
            words.append((prefix >> _u(32, dt)).astype(jnp.uint32))
        h = hash_words(seed[0], seed[1], *words)
        bit = (h >> jnp.uint32(31)).astype(dt)
        return flips | (bit << (_u(t - 1, dt) - kk))

    flips = jax.lax.fori_loop(0, t, body, jnp.zeros_like(xe))
    return xe ^ flips


def interlace(
    x: Integer[ArrayLike, "*batch d_alpha"],
    *,
    alpha: int,
    t_in: int,
    t: int | None = None,
) -> Integer[Array, "*batch d"]:
    r"""Digital interlacing with factor $\alpha$ (higher-order nets).

    Groups of $\alpha$ consecutive coordinates (last axis) are merged into one
    by interleaving their bits: bit $r$ (from the most significant) of output
    $j$ is bit $\lfloor r/\alpha \rfloor$ of input $j\alpha + (r \bmod \alpha)$.
    Applied to generating matrices of shape `(d * alpha, m)` it must be given
    the transpose, i.e. interlace along the dimension axis; use
    ``interlace(C.T, ...).T``. Interlacing $d\alpha$-dimensional
    scrambled nets gives order-$\alpha$ nets with RMSE near
    $O(n^{-\alpha - 1/2})$ for integrands of smoothness $\alpha$ (Dick).

    Args:
        x: $t_{in}$-bit integers, last axis of length $d\alpha$.
        alpha: interlacing factor (static, >= 1).
        t_in: bits of the inputs (static).
        t: bits of the result (static); defaults to
            $\min(\alpha t_{in}, \text{bits of the integer type})$.

    Returns:
        $t$-bit integers with last axis of length $d$.

    Raises:
        ValueError: the last axis is not a multiple of ``alpha``, or bad bits.

    Examples:
        >>> import numpy as np, jaxmethods as jm
        >>> jm.qmc.interlace(np.array([[1, 1]]), alpha=2, t_in=1)
        Array([[3]], dtype=uint32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Dick, "Walsh spaces containing smooth functions and quasi-Monte Carlo
        rules of arbitrary high order", SIAM J. Numer. Anal. 46 (2008).
        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "interlace"
    check_size(fn, "alpha", alpha, minimum=1)
    check_size(fn, "t_in", t_in, minimum=1)
    if t is None:
        t = min(alpha * t_in, max_bits())
    check_size(fn, "t", t, minimum=1)
    if t > max_bits() or t > alpha * t_in:
        raise ValueError(f"{fn}: t={t} must be <= min(alpha * t_in, {max_bits()})")
    dt = uint_dtype()
    xa = as_uint(fn, "x", x, dt)
    da = xa.shape[-1]
    if da % alpha:
        raise ValueError(f"{fn}: last axis {da} is not a multiple of alpha={alpha}")
    xs = xa.reshape(*xa.shape[:-1], da // alpha, alpha)
    out = jnp.zeros(xs.shape[:-1], dt)
    for r in range(t):
        src = xs[..., r % alpha]
        bit = _bit(src, t_in - 1 - r // alpha, dt)
        out = out | (bit << _u(t - 1 - r, dt))
    return out


def sobol_generating_matrices(d: int, *, offset: int = 0) -> Integer[Array, "d 32"]:
    r"""Joe–Kuo ``new-joe-kuo-6.21201`` Sobol' generating matrices.

    Dimensions ``offset .. offset + d - 1`` of the default matrices of
    [`digital_net_b2`][jaxmethods.qmc.digital_net_b2]: 32 columns of 32-bit
    integers (MSB = row 0), computed from the shipped direction numbers. The
    same numbers as SciPy's ``Sobol`` and QMCPy's default.

    Args:
        d: number of dimensions (static, at most 21201 - offset).
        offset: first dimension (static).

    Returns:
        Unsigned integers of shape `(d, 32)`.

    Raises:
        ValueError: dimensions beyond the shipped 21201.

    Examples:
        >>> import jaxmethods as jm
        >>> jm.qmc.sobol_generating_matrices(2)[:, :3]
        Array([[2147483648, 1073741824,  536870912],
               [2147483648, 3221225472, 2684354560]], dtype=uint32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Joe, Kuo, "Constructing Sobol sequences with better two-dimensional
        projections", SIAM J. Sci. Comput. 30 (2008).
    """
    fn = "sobol_generating_matrices"
    check_size(fn, "d", d, minimum=1)
    check_size(fn, "offset", offset)
    if offset + d > JOE_KUO_MAX_DIM:
        raise ValueError(
            f"{fn}: dimensions up to {offset + d} requested, but the shipped "
            f"Joe-Kuo matrices have {JOE_KUO_MAX_DIM}"
        )
    return jnp.asarray(
        joe_kuo_matrices()[offset : offset + d].astype(uint_dtype().name)
    )


def digital_net_points(
    generating_matrices: Integer[ArrayLike, "d m"],
    n: int,
    *,
    t_in: int = 32,
    t: int | None = None,
    order: str = "radical_inverse",
    n_min: int = 0,
    digital_shift: Integer[ArrayLike, " d"] | None = None,
    return_binary: bool = False,
    dtype: DTypeLike | None = None,
) -> Shaped[Array, "n d"]:
    r"""Points of a base-2 digital net from explicit ingredients (deterministic core).

    Point $i = \sum_k i_k 2^k$ has integer coordinates
    $x_{ij} = \bigoplus_{k: i_k = 1} C_j[:, k]$ (radical-inverse order; Gray
    order uses index $i \oplus \lfloor i/2 \rfloor$), widened to $t$ bits and
    XORed with the digital shift $\sigma_j$ if given; floats are
    $x_{ij} 2^{-t}$ rounded to the float type as QMCPy does, and kept below 1.
    Pass QMCPy's own (scrambled) matrices and shifts to reproduce its points bit
    for bit. Cost $O(nd)$: one fused XOR of two small tables.

    Args:
        generating_matrices: shape `(d, m)`, $t_{in}$-bit column integers
            (MSB = row 0); at most $2^m$ points.
        n: number of points (static).
        t_in: bits of the matrices (static; 32 for the shipped ones).
        t: bits of the output integers (static; default ``t_in``).
        order: ``"radical_inverse"`` or ``"gray"`` (static).
        n_min: index of the first point (static). In radical-inverse order
            ``n_min`` and ``n_min + n`` must be 0 or powers of two.
        digital_shift: optional $t$-bit shifts, shape `(d,)`.
        return_binary: return the $t$-bit integers instead of floats.
        dtype: float dtype (default float64 with x64, else float32).

    Returns:
        Floats in $[0,1)$ of shape `(n, d)`, or integers if ``return_binary``.

    Raises:
        ValueError: bad sizes, orders, bit counts, or too many points for $m$.

    Examples:
        >>> import jaxmethods as jm
        >>> jm.qmc.digital_net_points(jm.qmc.sobol_generating_matrices(2), 4)
        Array([[0.  , 0.  ],
               [0.5 , 0.5 ],
               [0.25, 0.75],
               [0.75, 0.25]], dtype=float32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
        Dick, Pillichshammer, "Digital Nets and Sequences", Cambridge (2010).
    """
    fn = "digital_net_points"
    check_size(fn, "n", n, minimum=1)
    check_size(fn, "n_min", n_min)
    order = check_choice(fn, "order", order, _ORDERS)
    if order == "radical_inverse":
        check_pow2_range(fn, n_min, n, order)
    t = t_in if t is None else t
    _check_t(fn, t_in, t)
    dtype = check_float_dtype(fn, dtype)
    dt = uint_dtype()
    C = as_uint(fn, "generating_matrices", generating_matrices, dt)
    if C.ndim != 2:
        raise ValueError(f"{fn}: generating_matrices must be (d, m), got {C.shape}")
    if n_min + n > 2 ** C.shape[1]:
        raise ValueError(
            f"{fn}: n_min + n = {n_min + n} exceeds the 2^{C.shape[1]} points that "
            f"{C.shape[1]}-column generating matrices give"
        )
    C = C << _u(t - t_in, dt)
    xb = _net_ints(C, n, n_min, order)
    if digital_shift is not None:
        s = as_uint(fn, "digital_shift", digital_shift, dt)
        if s.shape != (C.shape[0],):
            raise ValueError(
                f"{fn}: digital_shift must have shape ({C.shape[0]},), got {s.shape}"
            )
        xb = xb ^ s[None, :]
    if return_binary:
        return xb
    return to_unit_float(xb, t, dtype)


def digital_net_b2(
    key: PRNGKeyArray,
    n: int,
    d: int,
    *,
    generating_matrices: Integer[ArrayLike, "d_alpha m"] | None = None,
    t_in: int = 32,
    order: str = "radical_inverse",
    randomize: str = "lms_ds",
    alpha: int = 1,
    t: int | None = None,
    n_min: int = 0,
    replications: int | None = None,
    return_binary: bool = False,
    dtype: DTypeLike | None = None,
) -> Shaped[Array, "*replications n d"]:
    r"""Randomized base-2 digital nets: Sobol' points with LMS, DS or NUS.

    Builds the net of [`digital_net_points`][jaxmethods.qmc.digital_net_points]
    from the Joe–Kuo matrices (or ``generating_matrices``) and randomizes it
    with ``key``:

    - ``"lms_ds"`` (default): linear matrix scrambling then a digital shift;
    - ``"lms"``, ``"ds"``: one of the two;
    - ``"nus"``: nested uniform (Owen) scrambling, stateless and hash-keyed
      (see [`nested_uniform_scramble`][jaxmethods.qmc.nested_uniform_scramble]);
    - ``"none"``: the plain net (its first point is the origin).

    With ``alpha > 1`` the net is an order-$\alpha$ interlaced net built from
    $d\alpha$ base dimensions; LMS and NUS are applied to the base dimensions
    *before* interlacing (higher-order scrambling), as in QMCPy. Every
    randomization keeps the $(t, m, s)$-net structure and makes each point
    uniform, so the sample mean is unbiased; RMSE is near $O(n^{-1})$ for
    LMS/DS, $O(n^{-3/2})$ for NUS and faster for interlaced nets on smooth
    integrands. Keys: LMS and DS use ``jax.random.split(key)``; replications
    stack single calls over ``jax.random.split(key, replications)``.

    Args:
        key: PRNG key; the same key gives the same point set.
        n: number of points (static).
        d: dimension (static).
        generating_matrices: optional `(d * alpha, m)` matrices of ``t_in`` bits.
        t_in: bits of the matrices (static; 32 for the default).
        order: ``"radical_inverse"`` (default) or ``"gray"`` (static).
        randomize: ``"lms_ds"``, ``"lms"``, ``"ds"``, ``"nus"`` or ``"none"``.
        alpha: interlacing factor (static).
        t: output bits (static). Default: 63 with x64 (QMCPy's default), 32
            without; for ``"none"``, $\min(\alpha t_{in}, t)$.
        n_min: index of the first point (static).
        replications: number of independent randomizations (static), or None.
        return_binary: return the $t$-bit integers instead of floats.
        dtype: float dtype (default float64 with x64, else float32).

    Returns:
        Points of shape `(n, d)`, or `(replications, n, d)`.

    Raises:
        ValueError: unknown ``randomize`` or ``order``, ``d`` beyond the
            shipped matrices, ``t`` too large, or ``n`` not allowed by the order.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> x = jm.qmc.digital_net_b2(jax.random.key(0), 1024, 5)
        >>> x.shape, x.dtype
        ((1024, 5), dtype('float32'))

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
        Owen, "Randomly permuted (t,m,s)-nets and (t,s)-sequences" (1995).
        Dick, "Walsh spaces containing smooth functions and quasi-Monte Carlo
        rules of arbitrary high order", SIAM J. Numer. Anal. 46 (2008).
    """
    fn = "digital_net_b2"
    check_size(fn, "d", d, minimum=1)
    check_size(fn, "n", n, minimum=1)
    check_size(fn, "n_min", n_min)
    check_size(fn, "alpha", alpha, minimum=1)
    randomize = check_choice(fn, "randomize", randomize, _RANDOMIZE)
    order = check_choice(fn, "order", order, _ORDERS)
    if order == "radical_inverse":
        check_pow2_range(fn, n_min, n, order)
    dtype = check_float_dtype(fn, dtype)
    da = d * alpha
    if generating_matrices is None:
        if da > JOE_KUO_MAX_DIM:
            raise ValueError(
                f"{fn}: d * alpha = {da} exceeds the {JOE_KUO_MAX_DIM} dimensions of "
                "the shipped Joe-Kuo matrices"
            )
        if t_in != _JOE_KUO_BITS:
            raise ValueError(f"{fn}: the default matrices have t_in=32, got {t_in}")
        C = sobol_generating_matrices(da)
    else:
        C = as_uint(fn, "generating_matrices", generating_matrices, uint_dtype())
        if C.ndim != 2 or C.shape[0] != da:
            raise ValueError(
                f"{fn}: generating_matrices must have shape ({da}, m), got {C.shape}"
            )
    t_full = max_bits() - 1 if max_bits() == 64 else max_bits()
    if t is None:
        t = t_full
        if randomize == "none":
            t = min(alpha * t_in, t_full)
    if randomize == "none":
        _check_t(fn, 1, t)
    else:
        _check_t(fn, t_in, t)

    def single(k):
        k_lms, k_ds = jr.split(k)
        Cj, bits = C, t_in
        if randomize in ("lms", "lms_ds"):
            S = random_scramble_matrices(k_lms, da, t_in=t_in, t=t)
            Cj, bits = linear_matrix_scramble(Cj, S, t_in=t_in), t
        if alpha > 1 and randomize != "nus":
            ta = min(alpha * bits, t)
            Cj, bits = interlace(Cj.T, alpha=alpha, t_in=bits, t=ta).T, ta
        shift = None
        if randomize in ("ds", "lms_ds"):
            shift = random_digital_shift(k_ds, d, t=t)
        if randomize == "nus":
            xb = digital_net_points(
                Cj, n, t_in=bits, order=order, n_min=n_min, return_binary=True
            )
            xb = nested_uniform_scramble(k, xb, t_in=bits, t=t)
            if alpha > 1:
                xb = interlace(xb, alpha=alpha, t_in=t, t=t)
            return xb if return_binary else to_unit_float(xb, t, dtype)
        tt = t if randomize != "none" else bits
        return digital_net_points(
            Cj,
            n,
            t_in=bits,
            t=tt,
            order=order,
            n_min=n_min,
            digital_shift=shift,
            return_binary=return_binary,
            dtype=dtype,
        )

    return with_replications(fn, single, key, replications)

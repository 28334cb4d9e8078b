r"""Optimal i.i.d. sampling, projection DPPs and volume-rescaled sampling.

For an $L^2(\mu)$-orthonormal basis $\varphi$ of $V_m$ with inverse
Christoffel function $k_m = \lVert\varphi\rVert^2$:

- [`christoffel_iid`][jaxmethods.wls.christoffel_iid]: i.i.d. points from
  $\rho_m\,d\mu$, $\rho_m = k_m/m$ (a uniform mixture of $\varphi_j^2\,d\mu$);
- [`projection_dpp`][jaxmethods.wls.projection_dpp]: the projection DPP with
  kernel $K(x, y) = \varphi(x)^\top\varphi(y)$, $m$ points, by the HKPV chain
  rule with rejection from $\rho_m$;
- [`finite_projection_dpp`][jaxmethods.wls.finite_projection_dpp]: the
  same on a finite ground set (chain rule by rejection, or Gram–Schmidt);
- [`volume_rescaled`][jaxmethods.wls.volume_rescaled]: generalized volume
  sampling = one projection DPP of size $m$ and $n - m$ i.i.d. points,
  randomly interleaved (Cauchy–Binet);
- [`repeated_dpp`][jaxmethods.wls.repeated_dpp] and
  [`conditioned`][jaxmethods.wls.conditioned]: independent repetitions, and
  resampling until the empirical Gram matrix is within $\delta$ of $I$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, overload

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype
from .._internal.checks import check_size
from .._internal.sampling import two_level_inverse_cdf
from ._basis import _TensorBasis
from ._lstsq import gram_deviation, optimal_weights


def _check_basis(fn: str, basis: Any) -> _TensorBasis:
    if not isinstance(basis, _TensorBasis):
        raise TypeError(
            f"{fn}: basis must be a LegendreBasis or HermiteBasis, got "
            f"{type(basis).__name__}"
        )
    return basis


def christoffel_iid(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    n: int,
    *,
    dtype: Any = None,
) -> Float[Array, "n d"]:
    r"""I.i.d. points from the optimal density $\rho_m = k_m / m$ (w.r.t. $\mu$).

    $\rho_m\,d\mu = \frac1m \sum_j \varphi_j^2\,d\mu$: draw $j$ uniformly,
    then $x \sim \varphi_j^2\,d\mu$, a product measure sampled coordinate by
    coordinate (exactly). Weighted least squares with these points and the
    weights $w = m/k_m$ ([`optimal_weights`][jaxmethods.wls.optimal_weights])
    is stable with high probability once $n \gtrsim m \log m$.

    Args:
        key: PRNG key.
        basis: a [`LegendreBasis`][jaxmethods.wls.LegendreBasis] or
            [`HermiteBasis`][jaxmethods.wls.HermiteBasis].
        n: number of points (static), >= 1.
        dtype: float dtype (default float64 under x64, else float32).

    Returns:
        Points of shape `(n, d)`.

    Raises:
        TypeError: a non-basis ``basis``, non-int ``n`` or non-float dtype.
        ValueError: ``n < 1``.

    Examples:
        >>> import jax
        >>> from jaxmethods.wls import LegendreBasis, christoffel_iid
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(2, 3))
        >>> christoffel_iid(jax.random.key(0), basis, 100).shape
        (100, 2)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "christoffel_iid"
    basis = _check_basis(fn, basis)
    n = check_size(fn, "n", n, minimum=1)
    dt = check_float_dtype(fn, dtype)
    kj, kx = jr.split(key)
    j = jr.randint(kj, (n,), 0, basis.m)
    return basis.sample_component(kx, j, dtype=dt)


_LATE = 0.5  # phases starting at k >= _LATE * m use the complement basis
_WINDOW_MIN, _WINDOW_MAX = 4, 16  # proposals examined per loop iteration
_POOL_FACTOR = 2.0  # pools of 2 m H_m proposals
_FINITE_MAX_POOLS = 100  # pools the finite sampler may draw before an error


def _window(m: int, hi: int) -> int:
    # proposals examined per iteration in a phase ending at hi: about the mean
    # number a step needs at the phase end, m / (m - hi + 1), as a power of 2
    mean = m / (m - hi + 1)
    return min(_WINDOW_MAX, max(_WINDOW_MIN, 1 << math.ceil(math.log2(mean))))


def _default_pool(m: int) -> int:
    # The chain rule needs m H_m proposals on average (sd about 1.3 m). Twice
    # that runs out for 0.3% of draws at m = 100; under vmap a further pool
    # is then drawn for every key. Of pools of 1, 1.5 and 2 m H_m, timed on
    # 100 vmapped draws at m = 100, 2 m H_m was the fastest.
    harmonic = sum(1.0 / k for k in range(1, m + 1))
    return max(64, int(math.ceil(_POOL_FACTOR * m * harmonic)))


@overload
def projection_dpp(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    *,
    pool_size: int | None = ...,
    max_pools: int = ...,
    return_proposals: Literal[False] = ...,
    dtype: Any = ...,
) -> Float[Array, "m d"]: ...


@overload
def projection_dpp(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    *,
    pool_size: int | None = ...,
    max_pools: int = ...,
    return_proposals: Literal[True],
    dtype: Any = ...,
) -> tuple[Float[Array, "m d"], Int[Array, ""]]: ...


def projection_dpp(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    *,
    pool_size: int | None = None,
    max_pools: int = 100,
    return_proposals: bool = False,
    dtype: Any = None,
) -> Float[Array, "m d"] | tuple[Float[Array, "m d"], Int[Array, ""]]:
    r"""The continuous projection DPP of $V_m$: $m$ points (HKPV chain rule).

    The joint density w.r.t. $\mu^{\otimes m}$ is $\frac1{m!}\det[K(x_i,
    x_j)]$ with $K(x, y) = \varphi(x)^\top\varphi(y)$; every point's marginal
    is $\rho_m = k_m/m$, and the $m \times m$ matrix $[\varphi_j(x_i)]$ is
    almost surely invertible (its interpolant has the Ermakov–Zolotukhin
    law). Point $k + 1$ has density $\lVert r(x)\rVert^2/(m - k)$, with $r$
    the part of $\varphi(x)$ orthogonal to $\varphi(x_1), \dots,
    \varphi(x_k)$; it is drawn by rejection from $\rho_m$, accepting with
    probability $\lVert r(x)\rVert^2/\lVert\varphi(x)\rVert^2$ ($m H_m
    \approx m \ln m$ proposals on average).

    Proposals come in pools drawn at once ($2 m H_m$ by default; a draw
    rarely needs a second one) and are examined in order, a few at
    a time: one small matrix product gives their residual norms against the
    current span, and the first accepted one (each proposal has its own
    uniform) becomes the next point, which is exactly sequential rejection:
    the proposals are i.i.d. and each serves one accept/reject decision
    (those after the accepted one are examined again at the next step). In
    the second half of
    the chain, where most proposals are examined, the residual is computed in
    an orthonormal basis of the complement of the span ($m - k$ columns)
    instead of against the $k$ accepted rows. Under ``vmap`` over keys this
    gives independent DPPs in parallel.

    Args:
        key: PRNG key.
        basis: a [`LegendreBasis`][jaxmethods.wls.LegendreBasis] or
            [`HermiteBasis`][jaxmethods.wls.HermiteBasis].
        pool_size: proposals per pool (static; default $\max(64, 2 m
            H_m)$).
        max_pools: pools allowed before giving up with an error (static).
        return_proposals: also return the number of proposals examined.
        dtype: float dtype (default float64 under x64, else float32).

    Returns:
        Points of shape `(m, d)` in the order drawn, and with
        ``return_proposals=True`` the proposal count as a second output.

    Raises:
        TypeError: bad ``basis``, non-int sizes, non-float ``dtype``.
        ValueError: ``pool_size < 1`` or ``max_pools < 1``.
        EquinoxRuntimeError: all ``max_pools`` pools exhausted (probability
            negligible at the defaults).

    Examples:
        >>> import jax
        >>> from jaxmethods.wls import LegendreBasis, projection_dpp
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(2, 3))
        >>> projection_dpp(jax.random.key(0), basis).shape
        (10, 2)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    X, used = _projection_dpp(key, basis, pool_size, max_pools, dtype)
    return (X, used) if return_proposals else X


def _projection_dpp(
    key, basis, pool_size, max_pools, dtype, fn="projection_dpp"
) -> tuple[Array, Array]:
    basis = _check_basis(fn, basis)
    m, d = basis.m, basis.d
    pool = (
        _default_pool(m)
        if pool_size is None
        else check_size(fn, "pool_size", pool_size, minimum=1)
    )
    max_pools = check_size(fn, "max_pools", max_pools, minimum=1)
    dt = check_float_dtype(fn, dtype)

    def draw(key, P):
        x = christoffel_iid(key, basis, P, dtype=dt)
        return x, basis(x)

    X, used, k = _rejection_chain(key, m, draw, (d,), dt, pool, max_pools, dt)
    X = eqx.error_if(
        X,
        k < m,
        f"{fn}: {max_pools} pools of {pool} proposals ran out before m points "
        "were accepted; raise pool_size or max_pools",
    )
    return X, used


def _rejection_chain(
    key: PRNGKeyArray,
    m: int,
    draw: Callable[[PRNGKeyArray, int], tuple[Array, Array]],
    x_shape: tuple[int, ...],
    x_dtype: Any,
    pool: int,
    max_pools: int,
    dt: Any,
    *,
    distinct: bool = False,
) -> tuple[Array, Array, Array]:
    """The HKPV chain rule of a rank-m projection DPP, by rejection.

    ``draw(key, P)`` returns P i.i.d. proposals from the marginal
    ``||phi||^2 / m`` as items ``x`` (shape ``(P,) + x_shape``) and their
    features ``phi`` (``(P, m)``, orthonormal in ``L^2`` of the base measure).
    Returns the accepted items ``(m,) + x_shape`` in the order drawn, the
    number of proposals used and the number of points accepted (``m`` unless
    ``max_pools`` pools ran out). ``distinct`` (a finite ground set, scalar
    items >= 0) never accepts an item twice.
    """
    # The chain runs in phases lo <= k < hi for a few static ends hi. In the
    # early phases a proposal's residual is ||phi||^2 - ||V phi||^2 with V the
    # rows accepted so far (only the first hi rows are nonzero); in the late
    # phases, where most proposals are examined, it is ||U^T phi||^2 -
    # ||B U^T phi||^2 with U an orthonormal basis of the complement of the
    # rows accepted before the phase (m - lo columns) and B this phase's rows
    # in those coordinates: the work per proposal falls from m hi to m (m -
    # lo). Each phase examines proposals in windows of about the mean number
    # needed per step at its end.
    step = max(8, -(-m // 8))
    ends = list(range(step, m, step)) + [m]
    los = [0, *ends[:-1]]
    late = [lo >= _LATE * m for lo in los]
    rows = max(hi - lo for lo, hi in zip(los, ends, strict=True))
    windows = [min(pool, _window(m, hi)) for hi in ends]
    pad = max(windows)  # room for the last window

    def draw_pool(key):
        kx, ku = jr.split(key)
        x, phi = draw(kx, pool)  # (pool, ...), (pool, m)
        u = jr.uniform(ku, (pool,), dt)
        # padding never accepts (u = inf); XLA fuses the basis into the copy
        u = jnp.concatenate([u, jnp.full((pad,), jnp.inf, dt)])
        phi = jnp.concatenate([phi, jnp.ones((pad, m), dt)])
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
        return x, phi, jnp.sum(phi * phi, axis=-1), u

    def make_phase(lo, hi, W, x, phi, nrm, u, V_lo, U_lo):
        lane = jnp.arange(W, dtype=jnp.int32)

        # The pool, the rows V[:lo] accepted in earlier phases and the
        # complement basis U_lo are closed over, not carried: under vmap every
        # carried array is copied by a select on every iteration, so only this
        # phase's rows (hi - lo of them) are carried, in `buf`.
        def cond(s):
            return (s[0] < hi) & (s[1] < pool)

        def body(s):
            # Examine the next W proposals against the current span; the
            # first accepted one (u ||phi||^2 <= residual), if any, becomes
            # point k.
            k, ptr, buf, X = s
            fw = lax.dynamic_slice_in_dim(phi, ptr, W)
            nw = lax.dynamic_slice_in_dim(nrm, ptr, W)
            if U_lo is None:
                a = fw
                proj_b = fw @ buf.T  # (W, hi - lo); rows not yet accepted are 0
                res = nw - jnp.sum(proj_b * proj_b, axis=-1)
                proj_l = fw @ V_lo.T if lo else None  # (W, lo)
                if proj_l is not None:
                    res = res - jnp.sum(proj_l * proj_l, axis=-1)
            else:
                a = fw @ U_lo  # (W, m - lo): coordinates in the complement
                proj_b = a @ buf.T
                res = jnp.sum(a * a, axis=-1) - jnp.sum(proj_b * proj_b, axis=-1)
                proj_l = None
            uw = lax.dynamic_slice_in_dim(u, ptr, W)
            ok = (uw * nw <= res) & (ptr + lane < pool)
            if distinct:
                # an item accepted before has residual 0 up to rounding: never
                # accept it again (slots not yet filled hold -1)
                xw = lax.dynamic_slice_in_dim(x, ptr, W)
                ok = ok & ~jnp.any(xw[:, None] == X[None, :], axis=-1)
            hit = jnp.any(ok)
            j = jnp.argmax(ok).astype(jnp.int32)
            rj = a[j] - buf.T @ proj_b[j]
            if proj_l is not None:
                rj = rj - V_lo.T @ proj_l[j]
                rj = rj - V_lo.T @ (V_lo @ rj)  # re-orthogonalize
            rj = rj - buf.T @ (buf @ rj)
            v = rj / jnp.linalg.norm(rj)
            # row updates (a whole-array select would copy every step); the
            # row is rewritten unchanged when nothing is accepted
            r = jnp.clip(k - lo, 0, hi - lo - 1)
            buf = buf.at[r].set(jnp.where(hit, v, buf[r]))
            kk = jnp.minimum(k, m - 1)
            X = X.at[kk].set(jnp.where(hit, x[ptr + j], X[kk]))
            ptr = jnp.where(hit, ptr + j + 1, ptr + W)
            return k + hit.astype(jnp.int32), ptr, buf, X

        return cond, body

    def run_phases(s, key):
        # one pool, examined by every phase in turn (a draw whose previous
        # pool ran out resumes in its current phase)
        k, V, U, B, X, used = s
        x, phi, nrm, u = draw_pool(key)
        ptr = jnp.asarray(0, jnp.int32)
        for i, (lo, hi, W) in enumerate(zip(los, ends, windows, strict=True)):
            k0 = k
            if not late[i]:
                # a phase resumed after a new pool starts from its rows so far
                phase = make_phase(lo, hi, W, x, phi, nrm, u, V[:lo], None)
                k, ptr, buf, X = lax.while_loop(*phase, (k, ptr, V[lo:hi], X))
                V = V.at[lo:hi].set(buf)
                continue
            if i == 0 or not late[i - 1]:
                # the complement of the rows accepted in the early phases
                # (a pivoted Cholesky factor of the projector I - V^T V: its
                # columns are orthonormal, and it costs O(m (m - lo)^2))
                proj = jnp.eye(m, dtype=dt) - V[:lo].T @ V[:lo]
                fresh = _kernel_factor(proj, m - lo)[0]
                U = jnp.where(k0 == lo, U.at[:, : m - lo].set(fresh), U)
            U_lo = U[:, : m - lo]
            buf0 = jnp.where(k0 > lo, B[: hi - lo, : m - lo], 0)
            phase = make_phase(lo, hi, W, x, phi, nrm, u, None, U_lo)
            k, ptr, buf, X = lax.while_loop(*phase, (k, ptr, buf0, X))
            inside = (k0 >= lo) & (k0 < hi)
            B = jnp.where(inside, B.at[: hi - lo, : m - lo].set(buf), B)
            if hi < m:
                # complement of this phase's rows inside U_lo, for the next
                # phase (only for draws that completed the phase just now)
                C = jnp.linalg.qr(buf.T, mode="complete")[0][:, hi - lo :]
                done = inside & (k >= hi)
                U = jnp.where(done, U.at[:, : m - hi].set(U_lo @ C), U)
        return k, V, U, B, X, used + jnp.minimum(ptr, pool)

    def pools_cond(c):
        s, pools, _ = c
        return (s[0] < m) & (pools < max_pools)

    def next_pool(c):
        # Every pool has the same size, so that the phases are compiled once
        # (a smaller refill size, which would need a second copy, ran 2-7%
        # faster but doubled the compile time).
        s, pools, key = c
        key, sub = jr.split(key)
        return run_phases(s, sub), pools + 1, key

    zero = jnp.asarray(0, jnp.int32)
    init = (
        zero,
        jnp.zeros((m, m), dt),
        jnp.zeros((m, m), dt),
        jnp.zeros((rows, m), dt),
        jnp.full((m,) + x_shape, -1 if distinct else 0, x_dtype),
        zero,
    )
    c0 = (init, jnp.asarray(0, jnp.int32), key)
    s = lax.while_loop(pools_cond, next_pool, c0)[0]
    return s[4], s[5], s[0]


def finite_projection_dpp(
    key: PRNGKeyArray,
    K_or_Q: Float[ArrayLike, "N r"],
    *,
    kind: str = "auto",
    size: int | None = None,
    check: bool = True,
    method: str = "rejection",
) -> Int[Array, " m"]:
    r"""A projection DPP on $\{0, \dots, N-1\}$ (chain rule, by rejection).

    With $K = QQ^\top$ ($Q$ of shape `(N, m)` with orthonormal columns),
    $P(S) = \det K_S$ for $|S| = m$. The chain rule draws item $i$ with
    probability $d_i/(m - t)$, $d$ the diagonal of the Schur complement of
    the $t$ items drawn so far: $d_i = \lVert Q_i\rVert^2 - \lVert V
    Q_i\rVert^2$ with $V$ an orthonormal basis (in $\mathbb{R}^m$) of the
    selected rows. Rather than updating all $N$ values of $d$ per step (the
    Gram–Schmidt form, $O(Nm^2)$ per draw), the draw is by rejection, as in
    [`projection_dpp`][jaxmethods.wls.projection_dpp]: propose $i$ with
    probability $K_{ii}/m$ (inverse CDF; the table is built once, outside any
    ``vmap`` over keys) and accept with probability $d_i/K_{ii}$, which gives
    exactly $d_i/(m-t)$; an item already drawn is never accepted again. That
    takes $m H_m$ proposals on average whatever $K$, at $O(m^2)$ each, so a
    draw costs $O(m^3 \log m)$ after the $O(N)$ table. From $K$, a greedy
    pivoted Cholesky factor $C$ ($K = CC^\top$ with orthonormal columns,
    $O(Nm^2)$, computed independently of the key and so once for all draws
    under ``vmap``) takes the place of $Q$. ``method="gs"`` keeps the
    Gram–Schmidt form (DPPy's ``GS`` mode): one uniform per step, inverted
    through block sums of $d$ and then the cumulative sum inside one block,
    and the update $d \leftarrow d - (Qv)^2$ ($O(Nm)$ per step; under
    ``vmap`` one matrix product with $Q$ shared by all draws). Both give the
    same law; the rejection form was 8x faster for 100 vmapped draws at
    $N = 10^4$, $m = 50$ (``benchmarks/RESULTS.md``).

    Args:
        key: PRNG key.
        K_or_Q: the projection kernel `(N, N)` or an orthonormal basis
            `(N, m)` of its range.
        kind: ``"kernel"``, ``"features"`` or ``"auto"`` (square means
            kernel).
        size: the rank $m$ of a kernel (static). Default: the rounded trace,
            which needs a concrete ``K`` (pass ``size`` under ``jit``).
        check: verify (inside jit, with ``eqx.error_if``) that $Q^\top Q = I$,
            or that $K$ is symmetric with trace $m$ and diagonal in $[0, 1]$
            and that its factor satisfies $K = CC^\top$, $C^\top C = I$ (so
            $K^2 = K$), at $O(Nm^2)$ beyond reading $K$.
        method: ``"rejection"`` (default) or ``"gs"`` (Gram–Schmidt), see
            above.

    Returns:
        The $m$ selected indices, in the order drawn.

    Raises:
        ValueError: wrong shapes, ``kind``, ``size`` or ``method``.
        TypeError: a non-float matrix.
        EquinoxRuntimeError: ``check`` failed.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxmethods.wls import finite_projection_dpp
        >>> Q = jnp.linalg.qr(jax.random.normal(jax.random.key(1), (8, 3)))[0]
        >>> finite_projection_dpp(jax.random.key(0), Q).shape
        (3,)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "finite_projection_dpp"
    A = jnp.asarray(K_or_Q)
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"{fn}: need a 2-D matrix, got shape {A.shape}")
    if not jnp.issubdtype(A.dtype, jnp.floating):
        raise TypeError(f"{fn}: the matrix must be float, got {A.dtype}")
    if kind not in ("auto", "kernel", "features"):
        raise ValueError(f"{fn}: kind must be 'auto', 'kernel' or 'features'")
    if method not in ("rejection", "gs"):
        raise ValueError(f"{fn}: method must be 'rejection' or 'gs', got {method!r}")
    chain = _rejection_finite_chain if method == "rejection" else _gs_chain
    N = A.shape[0]
    is_kernel = kind == "kernel" or (kind == "auto" and A.shape[0] == A.shape[1])
    eps = jnp.finfo(A.dtype).eps
    tol = 1e3 * float(eps) * max(N, 10)
    if is_kernel:
        if A.shape[1] != N:
            raise ValueError(f"{fn}: a kernel must be square, got {A.shape}")
        if size is None:
            try:
                size = int(round(float(jnp.trace(A))))
            except jax.errors.ConcretizationTypeError:
                raise ValueError(f"{fn}: pass size= for a traced kernel") from None
        m = check_size(fn, "size", size, minimum=1)
        if m > N:
            raise ValueError(f"{fn}: size {m} exceeds the ground set ({N})")
        if check:
            bad = (
                (jnp.max(jnp.abs(A - A.T)) > tol)
                | (jnp.abs(jnp.trace(A) - m) > tol * m)
                | jnp.any(jnp.diag(A) < -tol)
                | jnp.any(jnp.diag(A) > 1 + tol)
            )
            A = eqx.error_if(
                A, bad, f"{fn}: K is not a symmetric projection of rank {m}"
            )
        C, rest = _kernel_factor(A, m)
        if check:
            # K = C C^T (nothing left on the diagonal) and C^T C = I: then K
            # is a projection of rank m (for a symmetric K, as checked above)
            dev = jnp.max(jnp.abs(C.T @ C - jnp.eye(m, dtype=C.dtype)))
            C = eqx.error_if(
                C,
                (jnp.max(jnp.abs(rest)) > tol) | (dev > tol),
                f"{fn}: K is not a projection of rank {m} (K^2 != K)",
            )
        return chain(key, C)
    m = A.shape[1]
    if size is not None and size != m:
        raise ValueError(f"{fn}: size={size} but Q has {m} columns")
    if m > N:
        raise ValueError(f"{fn}: Q of shape {A.shape} cannot have orthonormal columns")
    if check:
        dev = jnp.max(jnp.abs(A.T @ A - jnp.eye(m, dtype=A.dtype)))
        A = eqx.error_if(A, dev > tol, f"{fn}: the columns of Q are not orthonormal")
    return chain(key, A)


def _rejection_finite_chain(
    key: PRNGKeyArray, Q: Array, pool: int | None = None
) -> Array:
    """The finite chain from Q (N, m): the HKPV rejection chain on rows of Q."""
    N, m = Q.shape
    # proposals from K_ii / m = ||Q_i||^2 / m by inverse CDF (the table does
    # not depend on the key: under vmap it is built once); an item of weight
    # 0 is never proposed (searchsorted to the right skips flat steps)
    cdf = jnp.cumsum(jnp.sum(Q * Q, axis=-1))

    def draw(key, P):
        v = jr.uniform(key, (P,), Q.dtype) * cdf[-1]
        i = jnp.minimum(jnp.searchsorted(cdf, v, side="right"), N - 1)
        i = i.astype(jnp.int32)
        return i, Q[i]

    idx, _, k = _rejection_chain(
        key,
        m,
        draw,
        (),
        jnp.int32,
        _default_pool(m) if pool is None else pool,
        _FINITE_MAX_POOLS,
        Q.dtype,
        distinct=True,
    )
    return eqx.error_if(
        idx,
        k < m,
        f"finite_projection_dpp: {_FINITE_MAX_POOLS} pools of proposals ran out "
        "before m items were accepted",
    )


# Block length of the two-level inverse CDF in the Gram-Schmidt chain.
_CDF_BLOCK = 128


def _gs_chain(key: PRNGKeyArray, Q: Array) -> Array:
    """The finite chain from Q (N, m), Gram-Schmidt form: O(N m) per step."""
    N, m = Q.shape
    us = jr.uniform(key, (m,), Q.dtype)

    def body(t, s):
        d2, V, sel = s
        j = two_level_inverse_cdf(jnp.maximum(d2, 0), us[t], _CDF_BLOCK)
        # new direction: Q_j minus its projection on the selected rows' span
        # (twice, for orthogonality in floating point)
        r = Q[j] - V.T @ (V @ Q[j])
        r = r - V.T @ (V @ r)
        v = r / jnp.linalg.norm(r)
        c = Q @ v  # the Cholesky column of K = Q Q^T, without forming it
        d2 = (d2 - c * c).at[j].set(0)
        return d2, V.at[t].set(v), sel.at[t].set(j)

    init = (jnp.sum(Q * Q, -1), jnp.zeros((m, m), Q.dtype), jnp.zeros((m,), jnp.int32))
    return lax.fori_loop(0, m, body, init)[2]


def _kernel_factor(K: Array, m: int) -> tuple[Array, Array]:
    """``C`` (N, m) with ``K = C C^T``: greedy pivoted Cholesky of a rank-m ``K``.

    For a projection of rank ``m`` the factor has orthonormal columns, so it
    can stand in for ``Q``. The pivots do not depend on any key, so under
    ``vmap`` over keys the factor is computed once. Also returns the diagonal
    of ``K - C C^T`` (zero for a PSD ``K`` of rank ``m``).
    """
    N = K.shape[0]

    def body(t, s):
        d2, C = s
        j = jnp.argmax(d2)
        c = (K[j] - C @ C[j]) / jnp.sqrt(d2[j])  # K is symmetric: row j
        return (d2 - c * c).at[j].set(0), C.at[:, t].set(c)

    rest, C = lax.fori_loop(0, m, body, (jnp.diag(K), jnp.zeros((N, m), K.dtype)))
    return C, rest


def volume_rescaled(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    n: int,
    *,
    base_sampler: Callable[[PRNGKeyArray, int], Array] | None = None,
    pool_size: int | None = None,
    max_pools: int = 100,
    dtype: Any = None,
) -> Float[Array, "n d"]:
    r"""Generalized volume-rescaled sampling of $n \ge m$ points.

    The density w.r.t. $\bigotimes_i \rho\,d\mu$ is
    $\frac{(n-m)!}{n!}\det\bigl(\sum_i w(x_i)\varphi(x_i)\varphi(x_i)^\top
    \bigr)$, $w = 1/\rho$. By Cauchy–Binet it is the law of one projection
    DPP of size $m$ (w.r.t. $\mu$, whatever $\rho$) together with $n - m$
    i.i.d. points from $\rho$, in uniformly random order: that is how it is
    drawn. Weighted least squares with these points and weights $w$ is
    unbiased for the $L^2(\mu)$ projection, $E[\hat c] = \langle f,
    \varphi\rangle_\mu$, for every $n \ge m$.

    Args:
        key: PRNG key.
        basis: a [`LegendreBasis`][jaxmethods.wls.LegendreBasis] or
            [`HermiteBasis`][jaxmethods.wls.HermiteBasis].
        n: total number of points (static), >= $m$.
        base_sampler: ``(key, k) -> (k, d)`` i.i.d. points from the base
            density $\rho$; default the optimal $\rho_m$
            ([`christoffel_iid`][jaxmethods.wls.christoffel_iid]), whose
            weights are [`optimal_weights`][jaxmethods.wls.optimal_weights].
            With another $\rho$ use the weights $1/\rho$.
        pool_size: proposals per pool of the DPP part (static), as in
            [`projection_dpp`][jaxmethods.wls.projection_dpp].
        max_pools: pools allowed for the DPP part (static), as there.
        dtype: float dtype (default float64 under x64, else float32).

    Returns:
        Points of shape `(n, d)`.

    Raises:
        TypeError: bad ``basis`` or ``n``.
        ValueError: ``n < m``, a base sampler returning the wrong shape,
            ``pool_size < 1`` or ``max_pools < 1``.

    Examples:
        >>> import jax
        >>> from jaxmethods.wls import LegendreBasis, volume_rescaled
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(1, 3))
        >>> volume_rescaled(jax.random.key(0), basis, 7).shape
        (7, 1)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "volume_rescaled"
    basis = _check_basis(fn, basis)
    n = check_size(fn, "n", n, minimum=1)
    if n < basis.m:
        raise ValueError(f"{fn}: n={n} is below the dimension m={basis.m} of the space")
    dt = check_float_dtype(fn, dtype)
    k_dpp, k_iid, k_perm = jr.split(key, 3)
    x_dpp, _ = _projection_dpp(k_dpp, basis, pool_size, max_pools, dt, fn)
    if n == basis.m:
        x = x_dpp
    else:
        if base_sampler is None:
            x_iid = christoffel_iid(k_iid, basis, n - basis.m, dtype=dt)
        else:
            x_iid = jnp.asarray(base_sampler(k_iid, n - basis.m))
            if x_iid.shape != (n - basis.m, basis.d):
                raise ValueError(
                    f"{fn}: base_sampler(key, {n - basis.m}) returned shape "
                    f"{x_iid.shape}, expected {(n - basis.m, basis.d)}"
                )
            x_iid = x_iid.astype(dt)
        x = jnp.concatenate([x_dpp, x_iid])
    return x[jr.permutation(k_perm, n)]


def repeated_dpp(
    key: PRNGKeyArray,
    basis: _TensorBasis,
    R: int,
    *,
    pool_size: int | None = None,
    max_pools: int = 100,
    dtype: Any = None,
) -> Float[Array, "Rm d"]:
    r"""$R$ independent projection DPPs, stacked: $n = R m$ points.

    Every point has marginal $\rho_m$, so the weights $w = m/k_m$
    ([`optimal_weights`][jaxmethods.wls.optimal_weights]) are the right
    ones; the paper's practical recommendation is $R \in \{1, 2, 3, 5\}$,
    optionally [`conditioned`][jaxmethods.wls.conditioned]. The $R$ draws
    run in parallel (``vmap`` over split keys); for many independent
    repetitions, one call with $R \times$ reps (reshaped) compiles and runs
    faster than a ``vmap`` of this function over keys.

    Args:
        key: PRNG key.
        basis: a [`LegendreBasis`][jaxmethods.wls.LegendreBasis] or
            [`HermiteBasis`][jaxmethods.wls.HermiteBasis].
        R: number of repetitions (static), >= 1.
        pool_size: proposals per pool of each DPP (static), as in
            [`projection_dpp`][jaxmethods.wls.projection_dpp].
        max_pools: pools allowed per DPP (static), as there.
        dtype: float dtype (default float64 under x64, else float32).

    Returns:
        Points of shape `(R * m, d)`, repetition by repetition.

    Raises:
        TypeError: bad ``basis`` or ``R``.
        ValueError: ``R < 1``, ``pool_size < 1`` or ``max_pools < 1``.

    Examples:
        >>> import jax
        >>> from jaxmethods.wls import LegendreBasis, repeated_dpp
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(2, 2))
        >>> repeated_dpp(jax.random.key(0), basis, 3).shape
        (18, 2)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "repeated_dpp"
    basis = _check_basis(fn, basis)
    R = check_size(fn, "R", R, minimum=1)
    dt = check_float_dtype(fn, dtype)
    xs = jax.vmap(lambda k: _projection_dpp(k, basis, pool_size, max_pools, dt, fn)[0])(
        jr.split(key, R)
    )
    return xs.reshape(R * basis.m, basis.d)


class ConditionedDraw(eqx.Module):
    """A draw of [`conditioned`][jaxmethods.wls.conditioned].

    Attributes:
        x: the points, `(n, d)`.
        tries: the number of draws made (1 = the first was accepted).
        gram_deviation: $\\lVert G - I\\rVert_2$ of the returned draw.
        satisfied: whether it is at most ``delta`` (False only when all
            ``max_tries`` draws failed; the last one is returned).

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """

    x: Float[Array, "n d"]
    tries: Int[Array, ""]
    gram_deviation: Float[Array, ""]
    satisfied: Bool[Array, ""]


def conditioned(
    sampler: Callable[[PRNGKeyArray], Array],
    basis: _TensorBasis,
    *,
    delta: float = 0.5,
    max_tries: int = 100,
    weights: Callable[[Array], Array] | None = None,
) -> Callable[[PRNGKeyArray], ConditionedDraw]:
    r"""Condition a sampler on the stability event $\lVert G - I\rVert_2 \le \delta$.

    $G = \frac1n\sum_i w(x_i)\varphi(x_i)\varphi(x_i)^\top$ is the empirical
    Gram matrix; on the event, weighted least squares is quasi-optimal
    ($\lVert f - \hat u\rVert \le (1 + (1-\delta)^{-1/2}) \times$ the best
    weighted approximation error). The returned function redraws with fresh
    keys until the event holds, inside one ``lax.while_loop`` (so it jits
    and vmaps), and reports the outcome instead of failing.

    Args:
        sampler: ``key -> (n, d)`` points (any of the samplers here, with its
            other arguments bound, e.g. ``lambda k: repeated_dpp(k, basis, 2)``).
        basis: the basis defining $G$.
        delta: the threshold, in $(0, 1)$.
        max_tries: the most draws (static), >= 1.
        weights: ``x -> (n,)`` weights; default
            [`optimal_weights`][jaxmethods.wls.optimal_weights] (right for
            every sampler here with its default base density).

    Returns:
        A function ``key -> ConditionedDraw``.

    Raises:
        TypeError: a non-callable ``sampler`` or bad ``basis``.
        ValueError: ``delta`` outside $(0, 1)$ or ``max_tries < 1``.

    Examples:
        >>> import jax
        >>> from jaxmethods.wls import LegendreBasis, christoffel_iid, conditioned
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(1, 4))
        >>> draw = conditioned(lambda k: christoffel_iid(k, basis, 40), basis)
        >>> out = draw(jax.random.key(0))
        >>> bool(out.satisfied), bool(out.gram_deviation <= 0.5)
        (True, True)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "conditioned"
    basis = _check_basis(fn, basis)
    if not callable(sampler):
        raise TypeError(f"{fn}: sampler must be callable key -> points")
    if not 0 < delta < 1:
        raise ValueError(f"{fn}: delta must be in (0, 1), got {delta!r}")
    max_tries = check_size(fn, "max_tries", max_tries, minimum=1)
    wfun = (lambda x: optimal_weights(basis, x)) if weights is None else weights

    def deviation(x):
        return gram_deviation(basis(x), wfun(x))

    def draw(key: PRNGKeyArray) -> ConditionedDraw:
        k0, key = jr.split(key)
        x0 = sampler(k0)
        init = (x0, deviation(x0), jnp.asarray(1, jnp.int32), key)

        def cond(s):
            return (s[1] > delta) & (s[2] < max_tries)

        def body(s):
            _, _, t, key = s
            k, key = jr.split(key)
            x = sampler(k)
            return x, deviation(x), t + 1, key

        x, dev, tries, _ = lax.while_loop(cond, body, init)
        return ConditionedDraw(x, tries, dev, dev <= delta)

    return draw

r"""Adaptive QMC cubature with guaranteed-style stopping rules (QMCPy's ``CubQMC*``).

Three stopping criteria for $\mu = \int_{[0,1)^d} f(x)\,dx$, following QMCPy
2.4 (``CubQMCNetG``, ``CubQMCLatticeG``, ``CubQMCRepStudentT``):

- [`cub_qmc_net_g`][jaxmethods.qmc.cub_qmc_net_g] and
  [`cub_qmc_lattice_g`][jaxmethods.qmc.cub_qmc_lattice_g] track the
  Walsh (FWHT) or Fourier (bit-reversed FFT) coefficients of $f$ on one
  randomized net or lattice of $n = 2^m$ points and bound the error by a
  multiple of a block of high-frequency coefficients (Hickernell and Jiménez
  Rugama, 2016);
- [`cub_qmc_rep_student_t`][jaxmethods.qmc.cub_qmc_rep_student_t] uses $R$
  independent randomizations and a Student-t confidence interval.

All three double $n$ until the tolerance is met. The doubling loop runs on
the host (each step is a small, jitted computation on $2^{m-1}$ new points
that extends the same randomized sequence with ``n_min``), so ``f`` is any
function of an `(n, d)` array that returns an `(n,)` array: it is jitted
with the step by default, or called eagerly with ``jit=False``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import SupportsFloat, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jax.typing import DTypeLike
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._internal.bits import check_float_dtype, is_pow2, max_bits
from ..ops.fftbr import fftbr
from ..ops.fwht import fwht
from ._common import check_choice, check_size
from ._digital_net import (
    digital_net_points,
    linear_matrix_scramble,
    random_digital_shift,
    random_scramble_matrices,
    sobol_generating_matrices,
)
from ._lattice import lattice


_ERRORS = ("either", "both")
_PERIODIZATIONS = ("baker", "c0", "c1", "c1sin", "c2sin", "c3sin", "none")
_SAMPLERS = ("net", "lattice")
_R_LAG = 4
_LATTICE_M_MAX = 20  # bits of the default (Kuo) generating vector
_NET_M_MAX = 32  # columns of the default Joe–Kuo generating matrices

# Result codes.
CONVERGED = 0
HIT_N_LIMIT = 1
NOT_FINITE = 2


class CubatureResult(eqx.Module):
    r"""Result of an adaptive QMC cubature.

    Attributes:
        estimate: the estimate of $\int f$ (QMCPy's ``solution``).
        error_bound: the half-width of the final interval around ``estimate``
            (the bound the stopping rule compared with the tolerance).
        n: total number of function evaluations.
        code: 0 if the tolerance was met, 1 if ``n_limit`` stopped the
            doubling first, 2 if ``f`` returned non-finite values.
        history_n: total evaluations after each doubling, shape `(k,)`.
        history_estimate: the estimate after each doubling, shape `(k,)`.
        history_bound: the error bound after each doubling, shape `(k,)`.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> f = jm.qmc.integrands.Keister(2)
        >>> res = jm.qmc.cub_qmc_net_g(f, 2, key=jax.random.key(0), abs_tol=1e-2)
        >>> res.code, res.history_n.shape == res.history_bound.shape
        (0, True)

    References:
        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", MCQMC 2020 (Springer
        2022), arXiv:2102.07833.
    """

    estimate: Float[Array, ""]
    error_bound: Float[Array, ""]
    n: int = eqx.field(static=True)
    code: int = eqx.field(static=True)
    history_n: Int[np.ndarray, " k"]
    history_estimate: Float[np.ndarray, " k"]
    history_bound: Float[np.ndarray, " k"]


# --------------------------------------------------------------------------
# argument checks


def _check_tol(fn: str, abs_tol: float, rel_tol: float) -> tuple[float, float]:
    out = []
    for name, v in (("abs_tol", abs_tol), ("rel_tol", rel_tol)):
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{fn}: {name} must be a real number, got {v!r}") from None
        if not (math.isfinite(fv) and fv >= 0):
            raise ValueError(f"{fn}: {name} must be finite and >= 0, got {v!r}")
        out.append(fv)
    return out[0], out[1]


def _check_pow2(fn: str, name: str, v: int, minimum: int) -> int:
    check_size(fn, name, v, minimum=1)
    if not is_pow2(v) or v < minimum:
        raise ValueError(f"{fn}: {name} must be a power of two >= {minimum}, got {v}")
    return v


def _check_common(fn, d, abs_tol, rel_tol, n_init, n_limit, error, min_init):
    check_size(fn, "d", d, minimum=1)
    abs_tol, rel_tol = _check_tol(fn, abs_tol, rel_tol)
    n_init = _check_pow2(fn, "n_init", n_init, min_init)
    n_limit = _check_pow2(fn, "n_limit", n_limit, 1)
    if n_limit < n_init:
        raise ValueError(f"{fn}: n_limit={n_limit} must be >= n_init={n_init}")
    error = check_choice(fn, "error", error, _ERRORS)
    return abs_tol, rel_tol, n_init, n_limit, error


def _tol_fun(error: str, abs_tol: float, rel_tol: float) -> Callable[[float], float]:
    if error == "either":
        return lambda s: max(abs_tol, abs(s) * rel_tol)
    return lambda s: min(abs_tol, abs(s) * rel_tol)


def _decide(mu: float, hw: float, tol: Callable[[float], float]):
    """QMCPy's combined bound: ``(solution, half_width, met)``."""
    lo, hi = mu - hw, mu + hw
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return math.nan, math.inf, False
    sol = 0.5 * (lo + hi + tol(lo) - tol(hi))
    met = (hi - lo) <= tol(lo) + tol(hi)
    return sol, max(hi - sol, sol - lo), met


# --------------------------------------------------------------------------
# shared pieces of the jitted steps


def _evaluate(fn: str, f: Callable, x: Array, dtype) -> Array:
    y = jnp.asarray(f(x))
    if y.shape != x.shape[:-1]:
        raise ValueError(
            f"{fn}: f must map points of shape (n, d) = {x.shape} to values of "
            f"shape {x.shape[:-1]}, got {y.shape}"
        )
    if not (
        jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer)
    ):
        raise TypeError(f"{fn}: f must return real values, got dtype {y.dtype}")
    return y.astype(dtype)


def _periodize(x: Array, kind: str) -> tuple[Array, Array | None]:
    """QMCPy's periodization transforms: new points and the Jacobian weight."""
    dt = x.dtype

    def c(v):
        return jnp.asarray(v, dt)

    pi = c(math.pi)
    if kind == "none":
        return x, None
    if kind == "baker":
        return c(1) - c(2) * jnp.abs(x - c(0.5)), None
    if kind == "c0":
        xp = c(3) * x**2 - c(2) * x**3
        w = c(6) * x * (c(1) - x)
    elif kind == "c1":
        xp = x**3 * (c(10) - c(15) * x + c(6) * x**2)
        w = c(30) * x**2 * (c(1) - x) ** 2
    elif kind == "c1sin":
        xp = x - jnp.sin(c(2) * pi * x) / (c(2) * pi)
        w = c(2) * jnp.sin(pi * x) ** 2
    elif kind == "c2sin":
        xp = (c(8) - c(9) * jnp.cos(pi * x) + jnp.cos(c(3) * pi * x)) / c(16)
        w = (c(9) * pi * jnp.sin(pi * x) - c(3) * pi * jnp.sin(c(3) * pi * x)) / c(16)
    else:  # c3sin
        xp = (
            c(12) * pi * x - c(8) * jnp.sin(c(2) * pi * x) + jnp.sin(c(4) * pi * x)
        ) / (c(12) * pi)
        # psi'(x) = 1 - (4/3) cos(2 pi x) + (1/3) cos(4 pi x). (QMCPy 2.4 has
        # sin(4 pi x) in the last term, which is not the derivative of psi.)
        w = (c(3) - c(4) * jnp.cos(c(2) * pi * x) + jnp.cos(c(4) * pi * x)) / c(3)
    if kind != "c0":
        eps = c(np.finfo(np.dtype(dt)).eps)
        xp = jnp.clip(xp, eps, c(1) - eps)
    return xp, jnp.prod(w, axis=-1)


def _update_kappa(kappa: Array, absy: Array, mfrom: int, mto: int) -> Array:
    """QMCPy's ``_update_kappanumap``: reorder so larger coefficients come first.

    For ``l = mfrom, ..., mto + 1``, compares ``|y[kappa[j]]|`` with
    ``|y[kappa[2^l + j]]|`` for ``0 < j < 2^l`` and swaps the pair (in every
    block of length ``2^(l+1)``, with the decision of the first block) where
    the later one is larger.
    """
    if mfrom <= mto:
        return kappa
    p = jnp.arange(kappa.shape[0], dtype=jnp.int32)
    one = jnp.ones((), jnp.int32)

    def level(i, kappa):
        nl = jnp.left_shift(one, mfrom - i)  # levels mfrom, ..., mto + 1
        j = p & (nl - 1)  # position inside the half-block
        flip = (absy[kappa[j + nl]] > absy[kappa[j]]) & (j != 0)
        return jnp.where(flip, kappa[p ^ nl], kappa)

    kappa = lax.fori_loop(0, mfrom - mto, level, kappa)
    return kappa


def _net_bits() -> int:
    """Output bits of the randomized nets (as ``digital_net_b2`` chooses them)."""
    return max_bits() - 1 if max_bits() == 64 else max_bits()


def _net_ingredients(key: PRNGKeyArray, d: int):
    """LMS-scrambled matrices and digital shift, as ``digital_net_b2(key, ...)``.

    Drawing them once per run (rather than inside every step) keeps each
    step's compilation small; the points are bit-identical to
    ``digital_net_b2(key, n, d, n_min=n_min)`` with the default ``"lms_ds"``.
    """
    t = _net_bits()
    k_lms, k_ds = jr.split(key)
    S = random_scramble_matrices(k_lms, d, t_in=_NET_M_MAX, t=t)
    C = linear_matrix_scramble(sobol_generating_matrices(d), S, t_in=_NET_M_MAX)
    return C, random_digital_shift(k_ds, d, t=t)


_net_ingredients_jit = eqx.filter_jit(_net_ingredients)
_rep_ingredients_jit = eqx.filter_jit(
    lambda keys, d: jax.vmap(lambda k: _net_ingredients(k, d))(keys)
)


def _ld_points(kind: str, src, n: int, d: int, n_min: int, dtype) -> Array:
    if kind == "net":
        C, shift = src
        t = _net_bits()
        return digital_net_points(
            C, n, t_in=t, t=t, n_min=n_min, digital_shift=shift, dtype=dtype
        )
    return lattice(src, n, d, n_min=n_min, dtype=dtype)


def _ld_values(f, src, *, fn, kind, m, d, dtype, periodization, first):
    n = 1 << m
    n_min = 0 if first else n // 2
    x = _ld_points(kind, src, n - n_min, d, n_min, dtype)
    xp, w = _periodize(x, periodization)
    y = _evaluate(fn, f, xp, dtype)
    return y if w is None else y * w


def doubling_loop(
    fn: str,
    m: int,
    estimate: Callable[[int], tuple[float, float]],
    tol: Callable[[float], float],
    progress: bool,
    dtype,
    *,
    size: Callable[[int], int],
    can_double: Callable[[int], bool],
) -> CubatureResult:
    """The host loop shared by the stopping rules: estimate, decide, double.

    ``estimate(m)`` returns ``(mu, half_width)`` at level ``m`` (it keeps its
    own state between levels); ``size(m)`` is the number of function values
    used and ``can_double(m)`` whether level ``m + 1`` is allowed.
    """
    hist = []
    while True:
        mu, hw = estimate(m)
        n = size(m)
        est, bound, met = _decide(mu, hw, tol)
        hist.append((n, est, bound))
        if progress:
            _report(fn, m, n, est, bound)
        if met:
            code = CONVERGED
        elif not math.isfinite(bound):
            code = NOT_FINITE
        elif not can_double(m):
            code = HIT_N_LIMIT
        else:
            m += 1
            continue
        return _result(est, bound, n, code, hist, dtype)


def _ld_update(y, yt, kappa, *, kind, m):
    """New coefficients, order map, estimate and bound sum after adding ``y``."""
    transform = fwht if kind == "net" else fftbr
    n = 1 << m
    if yt is None:
        yt = transform(y) / math.sqrt(n)
        kappa = _update_kappa(jnp.arange(n, dtype=jnp.int32), jnp.abs(yt), m - 1, 0)
    else:
        half = n // 2
        ynew = transform(y) / math.sqrt(half)
        if kind == "lattice":
            theta = jnp.arange(half, dtype=y.dtype) * jnp.asarray(
                math.pi / half, y.dtype
            )
            ynew = ynew * lax.complex(jnp.cos(theta), -jnp.sin(theta))
        yt = jnp.concatenate([(yt + ynew) / 2, (yt - ynew) / 2])
        kappa = jnp.concatenate([kappa, kappa + half])
        kappa = _update_kappa(kappa, jnp.abs(yt), m - 1, m - _R_LAG - 1)
    nl = 1 << (m - _R_LAG - 1)
    s = jnp.sum(jnp.abs(yt[kappa[nl : 2 * nl]]))
    return yt, kappa, jnp.real(yt[0]), s


def _ld_step(f, src, yt, kappa, **kw):
    m, kind = kw["m"], kw["kind"]
    y = _ld_values(f, src, **kw)
    return _ld_update(y, yt, kappa, kind=kind, m=m)


_ld_step_jit = eqx.filter_jit(_ld_step)
_ld_values_jit = eqx.filter_jit(
    lambda src, **kw: _ld_points(
        kw["kind"], src, (1 << kw["m"]) - kw["n_min"], kw["d"], kw["n_min"], kw["dtype"]
    )
)
_ld_update_jit = eqx.filter_jit(_ld_update)


def _ld_step_eager(f, src, yt, kappa, *, fn, kind, m, d, dtype, periodization, first):
    n_min = 0 if first else 1 << (m - 1)
    x = _ld_values_jit(src, kind=kind, m=m, d=d, n_min=n_min, dtype=dtype)
    xp, w = _periodize(x, periodization)
    y = _evaluate(fn, f, xp, dtype)
    if w is not None:
        y = y * w
    return _ld_update_jit(y, yt, kappa, kind=kind, m=m)


def _report(fn: str, m: int, n: int, est: float, bound: float) -> None:
    print(f"{fn}: m={m:2d} n={n:>11d} estimate={est:.10g} error_bound={bound:.3e}")


def _result(est, bound, n, code, hist, dtype) -> CubatureResult:
    hn, he, hb = zip(*hist, strict=True)
    return CubatureResult(
        estimate=jnp.asarray(est, dtype),
        error_bound=jnp.asarray(bound, dtype),
        n=int(n),
        code=code,
        history_n=np.asarray(hn, dtype=np.int64),
        history_estimate=np.asarray(he, dtype=np.float64),
        history_bound=np.asarray(hb, dtype=np.float64),
    )


def _cub_ld(
    fn, kind, f, d, key, abs_tol, rel_tol, n_init, n_limit, error, fudge,
    periodization, jit, progress, dtype, m_max,
):  # fmt: skip
    abs_tol, rel_tol, n_init, n_limit, error = _check_common(
        fn, d, abs_tol, rel_tol, n_init, n_limit, error, 1 << (_R_LAG + 4)
    )
    if not callable(f):
        raise TypeError(f"{fn}: f must be callable, got {type(f).__name__}")
    if fudge is not None and not callable(fudge):
        raise TypeError(f"{fn}: fudge must be a callable m -> float or None")
    dtype = check_float_dtype(fn, dtype)
    n_limit = min(n_limit, 1 << m_max)
    if n_init > n_limit:
        raise ValueError(
            f"{fn}: n_init={n_init} exceeds the {n_limit} points available"
        )
    fudge_fn = cast(
        Callable[[int], SupportsFloat],
        fudge if fudge is not None else (lambda m: 5.0 * 2.0 ** (-m)),
    )
    tol = _tol_fun(error, abs_tol, rel_tol)
    step: Callable[..., tuple[Array, Array, Array, Array]] = (
        _ld_step_jit if jit else _ld_step_eager
    )
    src = _net_ingredients_jit(key, d) if kind == "net" else key
    state: dict = {"yt": None, "kappa": None}

    def estimate(m: int) -> tuple[float, float]:
        yt, kappa, mu, s = step(
            f, src, state["yt"], state["kappa"], fn=fn, kind=kind, m=m, d=d,
            dtype=dtype, periodization=periodization, first=state["yt"] is None,
        )  # fmt: skip
        state.update(yt=yt, kappa=kappa)
        return float(mu), float(fudge_fn(m)) * float(s)

    return doubling_loop(
        fn, n_init.bit_length() - 1, estimate, tol, progress, dtype,
        size=lambda m: 1 << m, can_double=lambda m: 2 << m <= n_limit,
    )  # fmt: skip


def cub_qmc_net_g(
    f: Callable[[Array], Array],
    d: int,
    *,
    key: PRNGKeyArray,
    abs_tol: float = 1e-2,
    rel_tol: float = 0.0,
    n_init: int = 2**10,
    n_limit: int = 2**35,
    error: str = "either",
    fudge: Callable[[int], float] | None = None,
    jit: bool = True,
    progress: bool = False,
    dtype: DTypeLike | None = None,
) -> CubatureResult:
    r"""Adaptive QMC cubature on a randomized Sobol' net (QMCPy's ``CubQMCNetG``).

    Evaluates ``f`` at $n = 2^m$ points of one LMS + digital-shift randomized
    Sobol' net in natural (radical-inverse) order and keeps its Walsh
    coefficients $\tilde y = \mathrm{fwht}(y)/\sqrt n$ (their first entry is
    the sample mean $\hat\mu$). A map $\kappa$ reorders the coefficients so that
    larger ones come first; the error bound is

    $$|\mu - \hat\mu| \le \mathfrak C(m) \sum_{k=2^{m-r-1}}^{2^{m-r}-1}
    |\tilde y_{\kappa(k)}|, \qquad \mathfrak C(m) = 5 \cdot 2^{-m},\ r = 4,$$

    valid for integrands in a cone whose Walsh coefficients decay steadily.
    While the bound exceeds the tolerance, $n$ doubles: the $2^{m}$ new points
    extend the same net (``n_min``), their transform is merged in $O(n)$
    ($\tilde y \leftarrow ((\tilde y + \tilde y') / 2, (\tilde y - \tilde y')/2)$),
    and $\kappa$ is refreshed on its top $r + 1$ levels. With ``rel_tol > 0``
    the estimate is QMCPy's shifted midpoint of the interval
    $[\hat\mu - b, \hat\mu + b]$ that meets the combined tolerance.

    Args:
        f: the integrand: a function (or callable `eqx.Module`) mapping points
            of shape `(n, d)` in $[0, 1)^d$ to values of shape `(n,)`. It
            must be traceable by `jax.jit` unless ``jit=False``. A new
            ``f`` object triggers a new compilation; reuse the same object
            across calls to reuse the compiled steps.
        d: dimension.
        key: PRNG key of the randomization (keyword-only).
        abs_tol: absolute tolerance, >= 0.
        rel_tol: relative tolerance, >= 0.
        error: ``"either"`` (the error must be below ``abs_tol`` or
            ``rel_tol * |mu|``: QMCPy's ``"EITHER"``) or ``"both"``.
        n_init: initial number of points, a power of two >= 256.
        n_limit: the most points to use, a power of two (capped at the $2^{32}$
            points of the default net). Stops with ``code=1`` if doubling would
            pass it.
        fudge: the inflation $\mathfrak C(m)$, a function of $m$ (default
            $5 \cdot 2^{-m}$).
        jit: jit ``f`` together with the point generation and transform
            (default); ``False`` calls ``f`` eagerly on concrete arrays.
        progress: print one line per doubling.
        dtype: float dtype of the points and computations (default float64
            with x64, else float32).

    Returns:
        A [`CubatureResult`][jaxmethods.qmc.CubatureResult].

    Raises:
        ValueError: ``n_init`` or ``n_limit`` not a power of two (or
            ``n_init < 256``), negative or non-finite tolerances, an unknown
            ``error``, or ``f`` returning the wrong shape.
        TypeError: non-callable ``f`` or ``fudge``, non-float ``dtype``.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> f = jm.qmc.integrands.Keister(3)
        >>> res = jm.qmc.cub_qmc_net_g(f, 3, key=jax.random.key(7), abs_tol=1e-3)
        >>> res.code, abs(float(res.estimate) - f.exact) < 1e-3
        (0, True)

    References:
        F. J. Hickernell and Ll. A. Jiménez Rugama, "Reliable adaptive cubature
        using digital sequences", in *Monte Carlo and Quasi-Monte Carlo
        Methods* (MCQMC 2014), Springer (2016), 367–383. arXiv:1410.8615.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", MCQMC 2020 (Springer
        2022), arXiv:2102.07833.
    """
    return _cub_ld(
        "cub_qmc_net_g", "net", f, d, key, abs_tol, rel_tol, n_init, n_limit,
        error, fudge, "none", jit, progress, dtype, _NET_M_MAX,
    )  # fmt: skip


def cub_qmc_lattice_g(
    f: Callable[[Array], Array],
    d: int,
    *,
    key: PRNGKeyArray,
    abs_tol: float = 1e-2,
    rel_tol: float = 0.0,
    n_init: int = 2**10,
    n_limit: int = 2**30,
    error: str = "either",
    periodization: str = "baker",
    fudge: Callable[[int], float] | None = None,
    jit: bool = True,
    progress: bool = False,
    dtype: DTypeLike | None = None,
) -> CubatureResult:
    r"""Adaptive QMC cubature on a shifted rank-1 lattice (QMCPy's ``CubQMCLatticeG``).

    The same algorithm as [`cub_qmc_net_g`][jaxmethods.qmc.cub_qmc_net_g]
    with Fourier instead of Walsh coefficients: $\tilde y =
    \mathrm{fftbr}(y)/\sqrt n$ on lattice points in radical-inverse order,
    merged on doubling with the twiddle factors
    $\omega_k = e^{-\pi i k / 2^{m}}$, and a bound on their moduli. Lattice
    rules converge fast only for periodic integrands, so ``f`` is first
    composed with a periodization $\psi$ applied to each coordinate,
    $f(x) \to f(\psi(x)) \prod_j \psi'(x_j)$:

    - ``"baker"`` (default): $\psi(x) = 1 - |2x - 1|$ (no weight);
    - ``"c0"``: $3x^2 - 2x^3$; ``"c1"``: $x^3(10 - 15x + 6x^2)$;
    - ``"c1sin"``: $x - \sin(2\pi x)/(2\pi)$;
    - ``"c2sin"``: $(8 - 9\cos\pi x + \cos 3\pi x)/16$;
    - ``"c3sin"``: $(12\pi x - 8\sin 2\pi x + \sin 4\pi x)/(12\pi)$;
    - ``"none"``.

    Args:
        f: the integrand: a function (or callable `eqx.Module`) mapping points
            of shape `(n, d)` in $[0, 1)^d$ to values of shape `(n,)`. It
            must be traceable by `jax.jit` unless ``jit=False``. A new
            ``f`` object triggers a new compilation; reuse the same object
            across calls to reuse the compiled steps.
        d: dimension.
        key: PRNG key of the randomization (keyword-only).
        abs_tol: absolute tolerance, >= 0.
        rel_tol: relative tolerance, >= 0.
        error: ``"either"`` (the error must be below ``abs_tol`` or
            ``rel_tol * |mu|``: QMCPy's ``"EITHER"``) or ``"both"``.
        n_init: initial number of points, a power of two >= 256.
        n_limit: the most points, a power of two (capped at the $2^{20}$
            points of the default generating vector).
        periodization: one of the transforms above.
        fudge: the inflation $\mathfrak C(m)$ (default $5 \cdot 2^{-m}$).
        jit: jit ``f`` with the step (default), or call it eagerly.
        progress: print one line per doubling.
        dtype: float dtype of the points (default float64 with x64).

    Returns:
        A [`CubatureResult`][jaxmethods.qmc.CubatureResult].

    Raises:
        ValueError: bad ``n_init``/``n_limit``, negative tolerances, an
            unknown ``error`` or ``periodization``, or a wrong output shape.
        TypeError: non-callable ``f`` or ``fudge``, non-float ``dtype``.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> f = jm.qmc.integrands.Keister(3)
        >>> res = jm.qmc.cub_qmc_lattice_g(f, 3, key=jax.random.key(7), abs_tol=1e-3)
        >>> res.code, abs(float(res.estimate) - f.exact) < 1e-3
        (0, True)

    References:
        Ll. A. Jiménez Rugama and F. J. Hickernell, "Adaptive multidimensional
        integration based on rank-1 lattices", in *Monte Carlo and Quasi-Monte
        Carlo Methods* (MCQMC 2014), Springer (2016), 407–422.
        arXiv:1411.1966.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", MCQMC 2020 (Springer
        2022), arXiv:2102.07833.
    """
    fn = "cub_qmc_lattice_g"
    periodization = check_choice(fn, "periodization", periodization, _PERIODIZATIONS)
    return _cub_ld(
        fn, "lattice", f, d, key, abs_tol, rel_tol, n_init, n_limit, error,
        fudge, periodization, jit, progress, dtype, _LATTICE_M_MAX,
    )  # fmt: skip


@functools.lru_cache(maxsize=64)
def student_t_quantile(q: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom, for ``q >= 0.5``.

    Bisection on $F(x) = 1 - \\tfrac12 I_{df/(df + x^2)}(df/2, 1/2)$
    (``jax.scipy.special.betainc``), in float64 when x64 is on.
    """
    dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32  # pyright: ignore[reportAttributeAccessIssue]
    a = jnp.asarray(df / 2, dt)
    b = jnp.asarray(0.5, dt)

    def body(_, lohi):
        lo, hi = lohi
        mid = (lo + hi) / 2
        cdf = 1 - jax.scipy.special.betainc(a, b, df / (df + mid * mid)) / 2
        below = cdf < q
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.jit(
        lambda: lax.fori_loop(0, 200, body, (jnp.zeros((), dt), jnp.asarray(1e4, dt)))
    )()
    return float((lo + hi) / 2)


def _rep_points(sampler, src, n, d, n_min, replications, dtype):
    if sampler == "net":
        return jax.vmap(lambda s: _ld_points("net", s, n, d, n_min, dtype))(src)
    return lattice(src, n, d, n_min=n_min, replications=replications, dtype=dtype)


def _rep_step(f, src, *, fn, sampler, n, n_min, d, replications, dtype):
    x = _rep_points(sampler, src, n, d, n_min, replications, dtype)
    y = _evaluate(fn, f, x.reshape(replications * n, d), dtype)
    return jnp.sum(y.reshape(replications, n), axis=1)


_rep_step_jit = eqx.filter_jit(_rep_step)
_rep_points_jit = eqx.filter_jit(
    _rep_points,
)


def cub_qmc_rep_student_t(
    f: Callable[[Array], Array],
    d: int,
    *,
    key: PRNGKeyArray,
    abs_tol: float = 1e-2,
    rel_tol: float = 0.0,
    n_init: int = 256,
    n_limit: int = 2**30,
    error: str = "either",
    replications: int = 16,
    alpha: float = 0.01,
    inflate: float = 1.0,
    sampler: str = "net",
    jit: bool = True,
    progress: bool = False,
    dtype: DTypeLike | None = None,
) -> CubatureResult:
    r"""Adaptive QMC cubature over replications (QMCPy's ``CubQMCRepStudentT``).

    Draws $R$ independent randomizations of a net or lattice (keys
    ``jax.random.split(key, R)``) and, with $n_r$ points each, forms the $R$
    sample means $\hat\mu_1, \dots, \hat\mu_R$. Their average $\hat\mu$ has the
    confidence half-width

    $$b = t_{1-\alpha/2,\,R-1} \cdot \text{inflate} \cdot \hat\sigma / \sqrt R,$$

    with $\hat\sigma$ the sample standard deviation of the $\hat\mu_r$. While
    $b$ exceeds the tolerance, $n_r$ doubles (the new points extend each
    randomized sequence). Unlike the ``_g`` rules this makes no cone
    assumption, but its guarantee is only probabilistic, at level
    $1 - \alpha$ under approximate normality of the $\hat\mu_r$.

    Args:
        f: the integrand: a function (or callable `eqx.Module`) mapping points
            of shape `(n, d)` in $[0, 1)^d$ to values of shape `(n,)`. It
            must be traceable by `jax.jit` unless ``jit=False``. A new
            ``f`` object triggers a new compilation; reuse the same object
            across calls to reuse the compiled steps.
        d: dimension.
        key: PRNG key of the randomization (keyword-only).
        abs_tol: absolute tolerance, >= 0.
        rel_tol: relative tolerance, >= 0.
        error: ``"either"`` (the error must be below ``abs_tol`` or
            ``rel_tol * |mu|``: QMCPy's ``"EITHER"``) or ``"both"``.
        n_init: initial points per replication, a power of two.
        n_limit: the most points in total ($R n_r$), a power of two.
        replications: $R \ge 2$.
        alpha: significance level in $(0, 1)$.
        inflate: factor $\ge 1$ on $\hat\sigma$.
        sampler: ``"net"`` (LMS + digital shift Sobol', default) or
            ``"lattice"`` (shifted rank-1 lattice).
        jit: jit ``f`` with the step (default), or call it eagerly.
        progress: print one line per doubling.
        dtype: float dtype of the points (default float64 with x64).

    Returns:
        A [`CubatureResult`][jaxmethods.qmc.CubatureResult]; ``n`` counts all
        $R n_r$ evaluations.

    Raises:
        ValueError: bad sizes, tolerances, ``alpha``, ``inflate``,
            ``replications``, ``error`` or ``sampler``.
        TypeError: non-callable ``f``, non-float ``dtype``.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> f = jm.qmc.integrands.Keister(3)
        >>> key = jax.random.key(7)
        >>> res = jm.qmc.cub_qmc_rep_student_t(f, 3, key=key, abs_tol=1e-2)
        >>> res.code, abs(float(res.estimate) - f.exact) < 1e-2
        (0, True)

    References:
        P. L'Ecuyer and C. Lemieux, "Recent advances in randomized quasi-Monte
        Carlo methods", in *Modeling Uncertainty*, Springer (2002), 419–474.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", MCQMC 2020 (Springer
        2022), arXiv:2102.07833.
    """
    fn = "cub_qmc_rep_student_t"
    abs_tol, rel_tol, n_init, n_limit, error = _check_common(
        fn, d, abs_tol, rel_tol, n_init, n_limit, error, 1
    )
    if not callable(f):
        raise TypeError(f"{fn}: f must be callable, got {type(f).__name__}")
    check_size(fn, "replications", replications, minimum=2)
    if not 0 < float(alpha) < 1:
        raise ValueError(f"{fn}: alpha must be in (0, 1), got {alpha!r}")
    if not (math.isfinite(float(inflate)) and float(inflate) >= 1):
        raise ValueError(f"{fn}: inflate must be >= 1, got {inflate!r}")
    sampler = check_choice(fn, "sampler", sampler, _SAMPLERS)
    dtype = check_float_dtype(fn, dtype)
    m_max = _NET_M_MAX if sampler == "net" else _LATTICE_M_MAX
    if n_init > 1 << m_max:
        raise ValueError(
            f"{fn}: n_init={n_init} exceeds the 2^{m_max} points available"
        )
    tstar = student_t_quantile(1 - float(alpha) / 2, replications - 1)
    scale = tstar * float(inflate) / math.sqrt(replications)
    tol = _tol_fun(error, abs_tol, rel_tol)
    kw = dict(fn=fn, sampler=sampler, d=d, replications=replications, dtype=dtype)
    if sampler == "net":
        src = _rep_ingredients_jit(jr.split(key, replications), d)
    else:
        src = key
    state = {"sums": np.zeros(replications), "n_min": 0}

    def estimate(m: int) -> tuple[float, float]:
        n_rep, n_min = 1 << m, state["n_min"]
        count = n_rep - n_min
        if jit:
            part = _rep_step_jit(f, src, n=count, n_min=n_min, **kw)
        else:
            x = _rep_points_jit(sampler, src, count, d, n_min, replications, dtype)
            y = _evaluate(fn, f, x.reshape(replications * count, d), dtype)
            part = jnp.sum(y.reshape(replications, count), axis=1)
        state["sums"] = state["sums"] + np.asarray(part, dtype=np.float64)
        state["n_min"] = n_rep
        means = state["sums"] / n_rep
        return float(means.mean()), scale * float(means.std(ddof=1))

    return doubling_loop(
        fn, n_init.bit_length() - 1, estimate, tol, progress, dtype,
        size=lambda m: replications << m,
        can_double=lambda m: 2 * (replications << m) <= n_limit and m < m_max,
    )  # fmt: skip

"""Brent's bounded scalar minimisation as one traceable ``lax.while_loop``.

The same method as SciPy's ``fminbound`` (golden-section steps, accepted
parabolic steps, stopping when the bracket is within ``xtol`` of the best
point), so that a search that used to round-trip to the host once per
function value runs inside ``jit`` and ``vmap``. Given the same function
values it visits the same points as ``fminbound``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array


_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))
_SQRT_EPS = math.sqrt(2.2e-16)


def bounded_brent(
    f: Callable[[Array], Array],
    lo: float,
    hi: float,
    *,
    xtol: float = 1e-5,
    maxiter: int = 500,
    dtype=jnp.float64,
) -> tuple[Array, Array, Array]:
    """Minimise a scalar function on ``[lo, hi]``; returns ``(x, f(x), nfev)``.

    ``f`` maps a scalar of ``dtype`` to a scalar; it is traced once.
    """

    def s(v):
        return jnp.asarray(v, dtype)

    a, b = s(lo), s(hi)
    x0 = a + _GOLDEN * (b - a)
    f0 = f(x0).astype(dtype)
    zero = s(0.0)
    # v (second best) and w (third best) follow Brent's notation; SciPy calls
    # them nfc and fulc.
    init = dict(a=a, b=b, x=x0, fx=f0, v=x0, fv=f0, w=x0, fw=f0, e=zero, d=zero,
                num=jnp.asarray(1, jnp.int32))  # fmt: skip

    def tols(x):
        tol1 = _SQRT_EPS * jnp.abs(x) + xtol / 3.0
        return tol1, 2.0 * tol1

    def cond(c):
        xm = 0.5 * (c["a"] + c["b"])
        _, tol2 = tols(c["x"])
        going = jnp.abs(c["x"] - xm) > tol2 - 0.5 * (c["b"] - c["a"])
        return going & (c["num"] < maxiter)

    def body(c):
        a, b, x, fx = c["a"], c["b"], c["x"], c["fx"]
        v, fv, w, fw = c["v"], c["fv"], c["w"], c["fw"]
        xm = 0.5 * (a + b)
        tol1, tol2 = tols(x)
        # parabola through (x, fx), (v, fv), (w, fw)
        try_parabola = jnp.abs(c["e"]) > tol1
        r = (x - v) * (fx - fw)
        q = (x - w) * (fx - fv)
        p = (x - w) * q - (x - v) * r
        q = 2.0 * (q - r)
        p = jnp.where(q > 0, -p, p)
        q = jnp.abs(q)
        e_old = c["e"]
        # v == w makes p = q = 0 exactly (a rejected parabola), but XLA may
        # contract the products into FMAs and leave round-off: test it directly.
        accept = (
            try_parabola
            & (v != w)
            & (jnp.abs(p) < jnp.abs(0.5 * q * e_old))
            & (p > q * (a - x))
            & (p < q * (b - x))
        )
        d_par = p / jnp.where(accept, q, s(1.0))
        u_par = x + d_par
        near_edge = ((u_par - a) < tol2) | ((b - u_par) < tol2)
        sgn = jnp.sign(xm - x) + (xm == x).astype(dtype)
        d_par = jnp.where(near_edge, tol1 * sgn, d_par)
        e_gold = jnp.where(x >= xm, a - x, b - x)
        d = jnp.where(accept, d_par, _GOLDEN * e_gold)
        e = jnp.where(accept, jnp.where(try_parabola, c["d"], e_old), e_gold)
        step_sign = jnp.sign(d) + (d == 0).astype(dtype)
        u = x + step_sign * jnp.maximum(jnp.abs(d), tol1)
        fu = f(u).astype(dtype)
        better = fu <= fx
        # bracket
        a_new = jnp.where(better, jnp.where(u >= x, x, a), jnp.where(u < x, u, a))
        b_new = jnp.where(better, jnp.where(u >= x, b, x), jnp.where(u < x, b, u))
        # the three best points
        to_v = ~better & ((fu <= fv) | (v == x))
        to_w = ~better & ~to_v & ((fu <= fw) | (w == x) | (w == v))
        w_new = jnp.where(better | to_v, v, jnp.where(to_w, u, w))
        fw_new = jnp.where(better | to_v, fv, jnp.where(to_w, fu, fw))
        v_new = jnp.where(better, x, jnp.where(to_v, u, v))
        fv_new = jnp.where(better, fx, jnp.where(to_v, fu, fv))
        x_new = jnp.where(better, u, x)
        fx_new = jnp.where(better, fu, fx)
        return dict(a=a_new, b=b_new, x=x_new, fx=fx_new, v=v_new, fv=fv_new,
                    w=w_new, fw=fw_new, e=e, d=d, num=c["num"] + 1)  # fmt: skip

    out = lax.while_loop(cond, body, init)
    return out["x"], out["fx"], out["num"]

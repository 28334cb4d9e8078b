r"""Optimal weights and the weighted least-squares solve with diagnostics."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, Integer


def optimal_weights(basis: Any, x: Float[ArrayLike, "n d"]) -> Float[Array, " n"]:
    r"""The optimal weights $w(x) = m / k_m(x) = 1/\rho_m(x)$.

    The right weights for points drawn from $\rho_m$, for projection DPPs and
    their repetitions (every marginal is $\rho_m$), and for volume-rescaled
    sampling with its default base density.

    Args:
        basis: a [`LegendreBasis`][jaxmethods.wls.LegendreBasis] or
            [`HermiteBasis`][jaxmethods.wls.HermiteBasis].
        x: points of shape `(n, d)`.

    Returns:
        Weights of shape `(n,)`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.wls import LegendreBasis, optimal_weights
        >>> from jaxmethods.wls import total_degree_indices
        >>> basis = LegendreBasis(total_degree_indices(1, 4))
        >>> round(float(optimal_weights(basis, jnp.array([[1.0]]))[0]), 6)
        0.2

    References:
        A. Cohen and G. Migliorati, "Optimal weighted least-squares methods",
        SMAI J. Comput. Math. 3 (2017), 181–203.
    """
    return basis.m / basis.inverse_christoffel(x)


def gram_deviation(
    Phi: Float[ArrayLike, "n m"],
    w: Float[ArrayLike, " n"],
    *,
    num_points: int | Integer[ArrayLike, ""] | None = None,
) -> Float[Array, ""]:
    r"""$\lVert G - I\rVert_2$ for $G = \frac1n \Phi^\top \mathrm{diag}(w)\Phi$.

    Computed from the singular values of $W^{1/2}\Phi$ (the eigenvalues of
    $G$ are $s_i^2/n$), never by forming $G$.

    Args:
        Phi: `(n, m)` basis values at the points.
        w: `(n,)` non-negative weights.
        num_points: the $n$ of $\frac1n$ (default the number of rows). Pass
            the number of real points when the arrays are padded with
            zero-weight rows to a common shape (one compiled program for
            every $n$); it may be traced.

    Returns:
        The spectral-norm deviation, a scalar.

    Raises:
        TypeError: a non-integer ``num_points``.
        ValueError: a concrete ``num_points`` outside $[1, n]$.
        EquinoxRuntimeError: a traced ``num_points`` outside $[1, n]$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.wls import gram_deviation
        >>> round(float(gram_deviation(jnp.eye(2) * jnp.sqrt(2.0), jnp.ones(2))), 5)
        0.0

    References:
        A. Cohen and G. Migliorati, "Optimal weighted least-squares methods",
        SMAI J. Comput. Math. 3 (2017), 181–203.
    """
    Phi = jnp.asarray(Phi)
    w = jnp.asarray(w, Phi.dtype)
    n = _num_points("gram_deviation", num_points, Phi.shape[0], Phi.dtype)
    s = jnp.linalg.svd(jnp.sqrt(w)[:, None] * Phi, compute_uv=False)
    return jnp.max(jnp.abs(s**2 / n - 1))


def _num_points(fn, num_points, rows, dtype):
    """The ``n`` of ``G = Phi^T W Phi / n`` as a ``dtype`` scalar."""
    if num_points is None:
        return jnp.asarray(rows, dtype)
    if isinstance(num_points, bool) or not (
        isinstance(num_points, int)
        or jnp.issubdtype(jnp.result_type(num_points), jnp.integer)
    ):
        raise TypeError(f"{fn}: num_points must be an int, got {num_points!r}")
    if jnp.ndim(num_points) != 0:
        raise ValueError(f"{fn}: num_points must be a scalar, got {num_points!r}")
    if isinstance(num_points, int):
        if not 1 <= num_points <= rows:
            raise ValueError(
                f"{fn}: num_points must be in [1, {rows}] (the rows of Phi), got "
                f"{num_points}"
            )
        return jnp.asarray(num_points, dtype)
    n = jnp.asarray(num_points)
    n = eqx.error_if(
        n, (n < 1) | (n > rows), f"{fn}: num_points must be in [1, {rows}]"
    )
    return n.astype(dtype)


class LstsqInfo(eqx.Module):
    r"""Diagnostics of [`weighted_lstsq`][jaxmethods.wls.weighted_lstsq].

    Attributes:
        gram_deviation: $\lVert G - I\rVert_2$ with $G = \frac1n\Phi^\top W
            \Phi$; at most $1/2$ means the draw is in the stability event.
        condition_number: $s_{\max}/s_{\min}$ of $W^{1/2}\Phi$ (``inf`` for
            a singular system).
        rank: singular values kept (those above ``rcond`` $\cdot s_{\max}$);
            below $m$ flags a (near-)singular draw, solved in the
            minimum-norm sense instead of returning NaN.

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """

    gram_deviation: Float[Array, ""]
    condition_number: Float[Array, ""]
    rank: Int[Array, ""]


def weighted_lstsq(
    Phi: Float[ArrayLike, "n m"],
    w: Float[ArrayLike, " n"],
    y: Float[ArrayLike, "n ..."],
    *,
    rcond: float | None = None,
    num_points: int | Integer[ArrayLike, ""] | None = None,
) -> tuple[Float[Array, "m ..."], LstsqInfo]:
    r"""Weighted least squares $\min_c \sum_i w_i (y_i - \Phi_i c)^2$, with diagnostics.

    Solved through the SVD of $W^{1/2}\Phi$ (never the normal equations):
    $\hat c = V \Sigma^{+} U^\top W^{1/2} y$, dropping singular values below
    ``rcond`` $\cdot s_{\max}$, so that a near-singular draw gives the
    minimum-norm solution and is reported through ``info.rank`` and
    ``info.condition_number`` rather than producing NaN. Differentiable
    (in $\Phi$, $w$ and $y$) where the singular values are distinct.

    Args:
        Phi: `(n, m)` basis values at the points, $n \ge m$.
        w: `(n,)` non-negative weights.
        y: `(n,)` or `(n, k)` values.
        rcond: relative cutoff for small singular values (default
            $\max(n, m) \cdot \varepsilon$, as NumPy).
        num_points: the number of real points, for ``info.gram_deviation``
            (default $n$). Rows with zero weight do not change the
            solution, so draws of different sizes can be padded to one
            shape (one compiled program, ``vmap`` over draws) and given
            their own ``num_points``, which may be traced.

    Returns:
        ``(coef, info)``: coefficients of shape `(m,)` or `(m, k)`, and an
        [`LstsqInfo`][jaxmethods.wls.LstsqInfo].

    Raises:
        ValueError: mismatched shapes, $n < m$ (fewer points than basis
            functions), or a concrete ``num_points`` outside $[1, n]$.
        TypeError: non-float inputs, or a non-integer ``num_points``.
        EquinoxRuntimeError: negative or non-finite weights, or a traced
            ``num_points`` outside $[1, n]$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.wls import weighted_lstsq
        >>> Phi = jnp.array([[1.0, -1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> coef, info = weighted_lstsq(Phi, jnp.ones(3), jnp.array([0.0, 1.0, 2.0]))
        >>> coef.round(6).tolist(), int(info.rank)
        ([1.0, 1.0], 2)

    References:
        A. Nouy and B. Michel, "Weighted least-squares approximation with
        determinantal point processes and generalized volume sampling",
        arXiv:2312.14057 (2023).
    """
    fn = "weighted_lstsq"
    Phi, w, y = jnp.asarray(Phi), jnp.asarray(w), jnp.asarray(y)
    for name, a in (("Phi", Phi), ("w", w), ("y", y)):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise TypeError(f"{fn}: {name} must be a float array, got {a.dtype}")
    if Phi.ndim != 2:
        raise ValueError(f"{fn}: Phi must have shape (n, m), got {Phi.shape}")
    n, m = Phi.shape
    if w.shape != (n,):
        raise ValueError(f"{fn}: w must have shape ({n},), got {w.shape}")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{fn}: y must have shape ({n},) or ({n}, k), got {y.shape}")
    if n < m:
        raise ValueError(
            f"{fn}: n={n} points for m={m} basis functions; weighted least squares "
            "needs n >= m"
        )
    dt = jnp.result_type(Phi.dtype, w.dtype, y.dtype)
    Phi, w, y = Phi.astype(dt), w.astype(dt), y.astype(dt)
    w = eqx.error_if(
        w,
        ~jnp.all(jnp.isfinite(w) & (w >= 0)),
        f"{fn}: weights must be finite and >= 0",
    )
    sw = jnp.sqrt(w)
    A = sw[:, None] * Phi
    b = sw[:, None] * y if y.ndim == 2 else sw * y
    U, s, Vt = jnp.linalg.svd(A, full_matrices=False)
    cut = (float(max(n, m)) * float(jnp.finfo(dt).eps) if rcond is None else rcond) * s[
        0
    ]
    keep = s > cut
    s_inv = jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)
    Utb = U.T @ b
    coef = Vt.T @ (s_inv[:, None] * Utb if y.ndim == 2 else s_inv * Utb)
    n_pts = _num_points(fn, num_points, n, dt)
    info = LstsqInfo(
        gram_deviation=jnp.max(jnp.abs(s**2 / n_pts - 1)),
        condition_number=jnp.where(
            s[-1] > 0, s[0] / jnp.where(s[-1] > 0, s[-1], 1), jnp.inf
        ),
        rank=jnp.sum(keep).astype(jnp.int32),
    )
    return coef, info

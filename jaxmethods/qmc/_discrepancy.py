"""L2-type discrepancies (closed forms, as in ``scipy.stats.qmc.discrepancy``)."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._common import check_choice


_KINDS = ("cd", "wd", "md", "l2-star")


def discrepancy(
    x: Float[ArrayLike, "n d"], kind: str = "CD", *, batch_size: int = 256
) -> Float[Array, ""]:
    r"""L2-type discrepancy of a point set in $[0,1]^d$ (lower is more uniform).

    Closed forms from Hickernell (1998) and Zhou, Fang, Ning (2013), the same
    as ``scipy.stats.qmc.discrepancy``. With $z_{ik} = |x_{ik} - 1/2|$ and
    $\delta_{ijk} = |x_{ik} - x_{jk}|$:

    - ``"CD"`` (centered, squared):
      $(13/12)^d - \frac{2}{n}\sum_i \prod_k (1 + \tfrac12 z_{ik}
      - \tfrac12 z_{ik}^2) + \frac{1}{n^2}\sum_{i,j}\prod_k(1 + \tfrac12 z_{ik}
      + \tfrac12 z_{jk} - \tfrac12\delta_{ijk})$;
    - ``"WD"`` (wrap-around, squared):
      $-(4/3)^d + \frac{1}{n^2}\sum_{i,j}\prod_k(\tfrac32
      - \delta_{ijk}(1-\delta_{ijk}))$;
    - ``"MD"`` (mixture, squared):
      $(19/12)^d - \frac{2}{n}\sum_i\prod_k(\tfrac53 - \tfrac14 z_{ik}
      - \tfrac14 z_{ik}^2) + \frac{1}{n^2}\sum_{i,j}\prod_k(\tfrac{15}{8}
      - \tfrac14 z_{ik} - \tfrac14 z_{jk} - \tfrac34\delta_{ijk}
      + \tfrac12\delta_{ijk}^2)$;
    - ``"L2-star"`` (not squared): $\bigl(3^{-d} - \frac{2^{1-d}}{n}\sum_i
      \prod_k(1-x_{ik}^2) + \frac{1}{n^2}\sum_{i,j}\prod_k(1-\max(x_{ik},
      x_{jk}))\bigr)^{1/2}$.

    Cost $O(n^2 d)$ time and $O(\text{batch\_size}\cdot n d)$ memory (rows are
    processed in batches). Differentiable with respect to ``x``.

    Args:
        x: points, shape `(n, d)`, in $[0,1]^d$.
        kind: ``"CD"``, ``"WD"``, ``"MD"`` or ``"L2-star"`` (static,
            case-insensitive).
        batch_size: rows per batch of the pairwise sum (static).

    Returns:
        Scalar discrepancy in the dtype of ``x``.

    Raises:
        ValueError: ``x`` not 2-D, or an unknown ``kind``.
        TypeError: integer input.

    Examples:
        >>> import jaxmethods as jm
        >>> x = jm.qmc.digital_net_points(jm.qmc.sobol_generating_matrices(2), 8)
        >>> print(f"{float(jm.qmc.discrepancy(x, 'CD')):.6f}")
        0.013882

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Hickernell, "A generalized discrepancy and quadrature error bound",
        Math. Comp. 67 (1998). Zhou, Fang, Ning, "Mixture discrepancy for
        quasi-random point sets", J. Complexity 29 (2013). Choi, Hickernell,
        Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo software", MCQMC
        2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "discrepancy"
    kind = check_choice(fn, "kind", kind, _KINDS)
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{fn}: x must have shape (n, d), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x must be floats, got dtype {x.dtype}")
    n, d = x.shape
    dt = x.dtype
    half = jnp.asarray(0.5, dt)
    z = jnp.abs(x - half)

    def c(v):
        return jnp.asarray(v, dt)

    def pair_term(row):
        xi, zi = row
        delta = jnp.abs(xi[None, :] - x)
        if kind == "cd":
            t = 1 + half * zi[None, :] + half * z - half * delta
        elif kind == "wd":
            t = c(1.5) - delta * (1 - delta)
        elif kind == "md":
            t = (
                c(15 / 8)
                - c(0.25) * zi[None, :]
                - c(0.25) * z
                - c(0.75) * delta
                + half * delta**2
            )
        else:
            t = 1 - jnp.maximum(xi[None, :], x)
        return jnp.sum(jnp.prod(t, axis=1))

    pair = jnp.sum(jax.lax.map(pair_term, (x, z), batch_size=batch_size)) / c(n * n)
    if kind == "cd":
        single = jnp.sum(jnp.prod(1 + half * z - half * z**2, axis=1))
        return c((13 / 12) ** d) - c(2 / n) * single + pair
    if kind == "wd":
        return pair - c((4 / 3) ** d)
    if kind == "md":
        single = jnp.sum(jnp.prod(c(5 / 3) - c(0.25) * z - c(0.25) * z**2, axis=1))
        return c((19 / 12) ** d) - c(2 / n) * single + pair
    single = jnp.sum(jnp.prod(1 - x**2, axis=1))
    return jnp.sqrt(c(3.0**-d) - c(2.0 ** (1 - d) / n) * single + pair)

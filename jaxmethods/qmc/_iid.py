"""Independent uniform points: the Monte Carlo baseline."""

import jax.random as jr
from jax.typing import DTypeLike
from jaxtyping import Array, Float, PRNGKeyArray

from .._internal.bits import check_float_dtype
from ._common import check_size, with_replications


def iid_uniform(
    key: PRNGKeyArray,
    n: int,
    d: int,
    *,
    replications: int | None = None,
    dtype: DTypeLike | None = None,
) -> Float[Array, "*replications n d"]:
    r"""Independent $U[0,1)^d$ points, the Monte Carlo baseline for QMC.

    The sample mean of $f(x_i)$ is unbiased with RMSE
    $\sigma(f)\, n^{-1/2}$; compare with [`lattice`][jaxmethods.qmc.lattice]
    and [`digital_net_b2`][jaxmethods.qmc.digital_net_b2].

    Args:
        key: PRNG key.
        n: number of points (static).
        d: dimension (static).
        replications: if an int $r$, stack $r$ draws over
            ``jax.random.split(key, r)``.
        dtype: float dtype (default float64 with x64, else float32).

    Returns:
        Points of shape `(n, d)` or `(replications, n, d)`.

    Raises:
        ValueError: bad sizes.

    Examples:
        >>> import jax, jaxmethods as jm
        >>> jm.qmc.iid_uniform(jax.random.key(0), 4, 2).shape
        (4, 2)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        Choi, Hickernell, Jagadeeswaran, McCourt, Sorokin, "Quasi-Monte Carlo
        software", MCQMC 2020 (Springer 2022), arXiv:2102.07833.
    """
    fn = "iid_uniform"
    check_size(fn, "n", n, minimum=1)
    check_size(fn, "d", d, minimum=1)
    dtype = check_float_dtype(fn, dtype)
    return with_replications(
        fn, lambda k: jr.uniform(k, (n, d), dtype), key, replications
    )

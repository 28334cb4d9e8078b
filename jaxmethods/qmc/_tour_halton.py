"""Tour case for randomized Halton points (``halton_points``, QMCPy's Halton)."""

from __future__ import annotations

import jax
import numpy as np

from .._tour import TourCase
from ._halton import PRIMES, halton_points


_N, _D, _T, _T_IN = 2**12, 8, 63, 32


def _ingredients(seed: int = 7):
    """LMS + DP ingredients drawn as QMCPy draws them (NumPy generator):
    lower-triangular scrambles with a nonzero diagonal and fully random rows
    past ``t_in``, and one uniform permutation per (dimension, digit)."""
    rng = np.random.default_rng(seed)
    bases = PRIMES[:_D]
    S = np.zeros((_D, _T, _T_IN), dtype=np.int64)
    P = np.zeros((_D, _T, int(bases.max())), dtype=np.int64)
    for j, b in enumerate(bases):
        S[j] = np.tril(rng.integers(0, b, (_T, _T_IN)), k=-1)
        S[j, np.arange(_T_IN), np.arange(_T_IN)] = rng.integers(1, b, _T_IN)
        for t in range(_T):
            P[j, t, :b] = rng.permutation(b)
    return S, P


def _reference(S: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Independent float64 NumPy construction of the same points."""
    i = np.arange(_N, dtype=np.int64)
    out = np.zeros((_N, _D))
    for j, b in enumerate(PRIMES[:_D].tolist()):
        digits, q = np.zeros((_N, _T_IN), dtype=np.int64), i.copy()
        for k in range(_T_IN):  # base-b digits of i, least significant first
            digits[:, k], q = q % b, q // b
        z = (digits @ S[j].T) % b  # (n, t): scrambled digits
        y = np.take_along_axis(P[j][None, :, :], z[:, :, None], axis=2)[:, :, 0]
        v, r = np.zeros(_N), 1.0 / b
        for t in range(_T):  # QMCPy's order: v += digit * b^-(t+1)
            v = v + r * y[:, t]
            r = r / b
        out[:, j] = np.minimum(v, np.nextafter(1.0, 0.0))
    return out


def _setup():
    S, P = _ingredients()
    ref = _reference(S, P)
    run = jax.jit(lambda: halton_points(_N, _D, t=_T, lms_matrices=S, permutations=P))
    return run, lambda x: float(np.max(np.abs(np.asarray(x, dtype=np.float64) - ref)))


CASES: list[TourCase] = [
    TourCase(
        name="qmc.halton",
        paper="P02",
        problem="Halton LMS+DP 2^12 x 8 vs NumPy float64 ref",
        setup=_setup,
    )
]

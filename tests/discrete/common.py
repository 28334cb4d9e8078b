"""Shared pieces of the discrete-diffusion tests: the reference joint."""

import functools

import jax.numpy as jnp
import numpy as np
from scipy import stats

from jaxmethods.testing.discrete_oracle import (
    MixtureModel,
    TableOracle,
    dirichlet_joint,
)


V, L = 3, 4
X = jnp.array([0, 1, 2, 0], jnp.int32)
NLL_P_X = 7.891397149296538  # -log P[x]
AO_ARM_MIX = 7.1364522569991005  # NELBO of the 0.5 P + 0.5 Q mixture at x


@functools.cache
def oracle() -> TableOracle:
    """``P = dirichlet_joint(3, 4, seed=0, alpha=0.5)`` as an exact denoiser."""
    return TableOracle.from_probs(jnp.asarray(dirichlet_joint(V, L, seed=0, alpha=0.5)))


@functools.cache
def mixture() -> MixtureModel:
    """The inconsistent model ``0.5 P + 0.5 Q`` (``Q``: seed 1, alpha 0.5)."""
    q = TableOracle.from_probs(jnp.asarray(dirichlet_joint(V, L, seed=1, alpha=0.5)))
    return MixtureModel(oracle(), q, 0.5)


def chi_square_pvalue(tokens, law) -> float:
    """Chi-square goodness of fit of sampled sequences ``(n, L)`` to a table law.

    Cells with expected count below 5 are pooled into one cell.
    """
    tokens = np.asarray(tokens)
    n, length = tokens.shape
    vocab = np.asarray(law).shape[0]
    idx = np.ravel_multi_index(tokens.T, (vocab,) * length)
    obs = np.bincount(idx, minlength=vocab**length).astype(np.float64)
    exp = n * np.asarray(law, np.float64).ravel()
    big = exp >= 5
    assert np.all(obs[exp == 0] == 0), "sampled a sequence of probability zero"
    o = np.append(obs[big], obs[~big].sum())
    e = np.append(exp[big], exp[~big].sum())
    if e[-1] == 0:
        o, e = o[:-1], e[:-1]
    return float(stats.chisquare(o, e * o.sum() / e.sum()).pvalue)

r"""Tour cases for jaxmethods.discrete (``python -m jaxmethods tour``).

All cases use the exact table oracle of the research notes: the joint
$P$ = ``dirichlet_joint(3, 4, seed=0, alpha=0.5)`` over $\{0,1,2\}^4$, whose
conditionals serve as the denoiser, and the sequence $x = (0, 1, 2, 0)$.

- The exact NELBO (the enumerated expectation of the $\lambda$-DCE / k-DCE /
  continuous masked-diffusion losses) must equal $-\log P[x]$ computed
  directly from the table: round-off only, tolerance ``1e-8``.
- The Monte Carlo NELBO is the mean of $2\cdot10^5$ draws of
  ``masked_diffusion_nelbo`` (linear schedule); the $1/t$ weight gives the
  draws a heavy tail (single draws reach $3\cdot10^3$ nats), and the
  standard error measured over four seeds is 0.03-0.045 nats, so the
  tolerance is 0.2 nats (about 5 s.e.).
- The RADD cached sampler (16 steps, $10^5$ sequences) is compared with the
  exact law of the ancestral sampler by total variation; the sampling noise
  of an empirical law over 81 cells at $10^5$ draws is about 0.01, so the
  tolerance is 0.03.
- Its mean NFE over $10^4$ sequences of length 64 with 256 steps is compared
  with $N(1 - (1 - 1/N)^L)$ = 56.72; the standard error is about 0.02, so the
  tolerance is 0.1.
"""

import functools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._tour import TourCase
from ..testing.discrete_oracle import (
    TableOracle,
    ancestral_output_law,
    dirichlet_joint,
    empirical_law,
    tv_distance,
)
from ._losses import ao_arm_nll_exact, masked_diffusion_nelbo
from ._samplers import radd_cached_sample
from ._schedules import LinearSchedule


_X = (0, 1, 2, 0)


@functools.cache
def _table() -> np.ndarray:
    return dirichlet_joint(3, 4, seed=0, alpha=0.5)


def _oracle() -> TableOracle:
    return TableOracle.from_probs(jnp.asarray(_table()))


def _nll_error(out) -> float:
    return abs(float(out) - (-math.log(_table()[_X])))


def _exact_nelbo():
    model = _oracle()
    x = jnp.asarray(_X, jnp.int32)
    f = jax.jit(lambda: ao_arm_nll_exact(model, x))
    return f, _nll_error


def _mc_nelbo():
    model = _oracle()
    xs = jnp.broadcast_to(jnp.asarray(_X, jnp.int32), (200_000, 4))
    f = jax.jit(
        lambda: masked_diffusion_nelbo(model, jr.key(0), xs, LinearSchedule()).mean()
    )
    return f, _nll_error


def _cached_law():
    model = _oracle()
    law = ancestral_output_law(model, 3, 4, 16, schedule=LinearSchedule())

    @jax.jit
    def run():
        tokens, _ = radd_cached_sample(
            jr.key(1), model, (100_000, 4), num_steps=16, schedule=LinearSchedule()
        )
        return tokens

    def error(tokens):
        return float(tv_distance(empirical_law(tokens, 3), law))

    return run, error


def _cached_nfe():
    n, length = 256, 64
    uniform = functools.partial(_uniform_logits, vocab=8)

    @jax.jit
    def run():
        _, nfe = radd_cached_sample(
            jr.key(2), uniform, (10_000, length), num_steps=n, schedule=LinearSchedule()
        )
        return nfe

    def error(nfe):
        want = n * (1 - (1 - 1 / n) ** length)
        return abs(float(np.mean(np.asarray(nfe, np.float64))) - want)

    return run, error


def _uniform_logits(z, vocab):
    """A context-free denoiser (uniform over ``vocab`` tokens) with carry-over rows."""
    flat = jnp.full((z.shape[0], vocab), -math.log(vocab))
    return jnp.where((z == vocab)[:, None], flat, jnp.log(jax.nn.one_hot(z, vocab)))


CASES = [
    TourCase(
        "discrete.ao_arm_nll_exact",
        "P16",
        "exact NELBO, table oracle V=3 L=4",
        _exact_nelbo,
        error_kind="|NELBO + log P[x]|",
        tolerance=1e-8,
    ),
    TourCase(
        "discrete.masked_diffusion_nelbo",
        "P21",
        "MC NELBO (2e5 draws), table oracle",
        _mc_nelbo,
        error_kind="|mean + log P[x]| nats",
        tolerance=0.2,
    ),
    TourCase(
        "discrete.radd_cached_sample",
        "P16",
        "law vs exact DP law, N=16, 1e5 samples",
        _cached_law,
        error_kind="TV",
        tolerance=0.03,
    ),
    TourCase(
        "discrete.radd_cached_sample[nfe]",
        "P16",
        "mean NFE, L=64 N=256 (closed form 56.72)",
        _cached_nfe,
        error_kind="|mean NFE - E[NFE]|",
        tolerance=0.1,
    ),
]

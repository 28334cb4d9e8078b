"""Particle filtering, smoothing and learning in state-space models (P01).

A model is a :class:`StateSpaceModel` (log-densities of one state); the
library `vmap`s it over particles and `scan`s it over time. Everything here
is a pure function of a PRNG key, works under ``jax.jit`` and ``jax.vmap``
(over keys and over parameters), and keeps log-weights unnormalized.

- Exact oracles for linear-Gaussian models: :class:`LinearGaussianSSM`
  (Kalman filter, RTS smoother, FFBS), and :func:`reference_lgssm`, the
  seed-free reference model and data that the tests and the tour use.
- Resampling: :func:`multinomial`, :func:`systematic`, :func:`stratified`,
  :func:`residual`, :func:`conditional_multinomial`.
- Filtering: :func:`particle_filter` (bootstrap, guided, auxiliary).
- Smoothing of additive functionals: :func:`backward_indices`,
  :func:`paris` (and :func:`paris_init` / :func:`paris_step` online),
  :func:`csmc`, :func:`ppg_step`, :func:`ppg`.
- Learning: :func:`fisher_score_fn`, :func:`ppg_score_ascent`,
  :func:`markov_score_climbing`.
"""

from ._backward import backward_indices as backward_indices
from ._filters import (
    ParticleFilterOutput as ParticleFilterOutput,
    particle_filter as particle_filter,
)
from ._learning import (
    ScoreAscentOutput as ScoreAscentOutput,
    fisher_score_fn as fisher_score_fn,
    markov_score_climbing as markov_score_climbing,
    ppg_score_ascent as ppg_score_ascent,
)
from ._lgssm import (
    KalmanFilterOutput as KalmanFilterOutput,
    LGSSMParams as LGSSMParams,
    LinearGaussianSSM as LinearGaussianSSM,
    RTSSmootherOutput as RTSSmootherOutput,
    StochasticVolatility as StochasticVolatility,
    SVParams as SVParams,
)
from ._paris import (
    ParisOutput as ParisOutput,
    ParisState as ParisState,
    paris as paris,
    paris_init as paris_init,
    paris_step as paris_step,
)
from ._pg import (
    CSMCOutput as CSMCOutput,
    PPGOutput as PPGOutput,
    csmc as csmc,
    ppg as ppg,
    ppg_step as ppg_step,
)
from ._reference import reference_lgssm as reference_lgssm
from ._resampling import (
    conditional_multinomial as conditional_multinomial,
    multinomial as multinomial,
    residual as residual,
    stratified as stratified,
    systematic as systematic,
)
from ._ssm import (
    AdditiveFunctional as AdditiveFunctional,
    Proposal as Proposal,
    StateSpaceModel as StateSpaceModel,
)
from ._ssm_utils import simulate as simulate


__all__ = [
    "StateSpaceModel",
    "Proposal",
    "AdditiveFunctional",
    "LinearGaussianSSM",
    "LGSSMParams",
    "KalmanFilterOutput",
    "RTSSmootherOutput",
    "StochasticVolatility",
    "SVParams",
    "simulate",
    "reference_lgssm",
    "multinomial",
    "systematic",
    "stratified",
    "residual",
    "conditional_multinomial",
    "particle_filter",
    "ParticleFilterOutput",
    "backward_indices",
    "paris",
    "paris_init",
    "paris_step",
    "ParisState",
    "ParisOutput",
    "csmc",
    "CSMCOutput",
    "ppg_step",
    "ppg",
    "PPGOutput",
    "fisher_score_fn",
    "ppg_score_ascent",
    "markov_score_climbing",
    "ScoreAscentOutput",
]

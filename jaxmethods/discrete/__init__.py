"""Discrete diffusion: masking schedules, D3PM/CTMC closed forms, masked-diffusion
and score-entropy losses, RADD, and samplers (P21, P16).

Conventions shared by every function here: the vocabulary is ``{0, ..., V-1}``
and the mask token is ``V``; a denoiser is any callable
``denoise_fn(tokens: int[L]) -> log-probs[L, V]`` (no mask column); visible
tokens are carried over, never resampled.

The exact table oracle that the tests use is public in
[`jaxmethods.testing.discrete_oracle`][].
"""

from ._ctmc import (
    ctmc_transition as ctmc_transition,
    euler_probs as euler_probs,
    euler_step as euler_step,
    rate_matrix as rate_matrix,
    reverse_rate as reverse_rate,
    tweedie_probs as tweedie_probs,
    tweedie_step as tweedie_step,
)
from ._d3pm import (
    absorbing_transition as absorbing_transition,
    cumulative_transition as cumulative_transition,
    d3pm_betas as d3pm_betas,
    d3pm_hybrid_loss as d3pm_hybrid_loss,
    d3pm_posterior_logits as d3pm_posterior_logits,
    uniform_transition as uniform_transition,
)
from ._grids import time_grid as time_grid, unmask_probabilities as unmask_probabilities
from ._losses import (
    ao_arm_nll_exact as ao_arm_nll_exact,
    k_dce_loss as k_dce_loss,
    lambda_dce_loss as lambda_dce_loss,
    masked_diffusion_nelbo as masked_diffusion_nelbo,
    ordered_nll as ordered_nll,
    radd_concrete_score as radd_concrete_score,
    t_dce_loss as t_dce_loss,
    t_dse_loss as t_dse_loss,
)
from ._samplers import (
    ancestral_sample as ancestral_sample,
    expected_cached_nfe as expected_cached_nfe,
    radd_cached_sample as radd_cached_sample,
)
from ._schedules import (
    CosineSchedule as CosineSchedule,
    GeometricSchedule as GeometricSchedule,
    LinearSchedule as LinearSchedule,
    LogLinearSchedule as LogLinearSchedule,
    MaskingSchedule as MaskingSchedule,
    PolynomialSchedule as PolynomialSchedule,
)
from ._score_entropy import (
    score_entropy as score_entropy,
    score_entropy_loss as score_entropy_loss,
)
from ._transformer import (
    DiffusionTransformer as DiffusionTransformer,
    FitHistory as FitHistory,
    char_dataset as char_dataset,
    decode_chars as decode_chars,
    fit_denoiser as fit_denoiser,
)


__all__ = [
    "MaskingSchedule",
    "LinearSchedule",
    "CosineSchedule",
    "PolynomialSchedule",
    "LogLinearSchedule",
    "GeometricSchedule",
    "time_grid",
    "unmask_probabilities",
    "uniform_transition",
    "absorbing_transition",
    "cumulative_transition",
    "d3pm_betas",
    "d3pm_posterior_logits",
    "d3pm_hybrid_loss",
    "rate_matrix",
    "ctmc_transition",
    "reverse_rate",
    "euler_probs",
    "tweedie_probs",
    "euler_step",
    "tweedie_step",
    "score_entropy",
    "score_entropy_loss",
    "masked_diffusion_nelbo",
    "t_dce_loss",
    "t_dse_loss",
    "lambda_dce_loss",
    "k_dce_loss",
    "ordered_nll",
    "ao_arm_nll_exact",
    "radd_concrete_score",
    "ancestral_sample",
    "radd_cached_sample",
    "expected_cached_nfe",
    "DiffusionTransformer",
    "fit_denoiser",
    "FitHistory",
    "char_dataset",
    "decode_chars",
]

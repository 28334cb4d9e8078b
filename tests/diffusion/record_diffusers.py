"""Record ``diffusers.DPMSolverMultistepScheduler`` outputs for the parity test.

Not a test and not run by CI: it needs torch and diffusers, which the project
does not depend on. It was run once, in a separate virtual environment with
``pip install torch==2.13.0 diffusers==0.42.1`` (CPU), to write
``data/diffusers_dpmsolver_multistep.json``, which
``test_dpm_solver.py::test_diffusers_compat_matches_recorded_grid`` reads.
Rerun with ``python tests/diffusion/record_diffusers.py`` from the repository
root.

Setup (research/diffusion.md §1.3): the 2-D Gaussian mixture with weights
(0.2, 0.5, 0.3), means (-2, 0), (2, 1), (0, -2.5), stds (0.3, 0.5, 0.2); DDPM
linear betas 1e-4..0.02 with N = 1000; the exact noise prediction evaluated at
alpha = sqrt(alphas_cumprod[timestep]) in float64 and handed to diffusers in
float32; x_T = default_rng(0).standard_normal((64, 2)); the scheduler's
defaults otherwise (final jump to sigma = 0, lower_order_final below 15 steps).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np


WEIGHTS = np.array([0.2, 0.5, 0.3])
MEANS = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]])
STDS = np.array([0.3, 0.5, 0.2])
ROWS = 8  # rows of the sample recorded per configuration


def gmm_eps(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exact noise prediction -sigma * grad log p_t(x) of the noised mixture."""
    sigma2 = 1.0 - alpha**2
    v = alpha**2 * STDS**2 + sigma2  # (K,)
    diff = x[:, None, :] - alpha * MEANS[None]  # (B, K, D)
    logp = (
        np.log(WEIGHTS)[None]
        - 0.5 * np.sum(diff**2, -1) / v[None]
        - 0.5 * x.shape[1] * np.log(2 * np.pi * v)[None]
    )
    r = np.exp(logp - logp.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    score = -np.sum(r[..., None] * diff / v[None, :, None], axis=1)
    return -np.sqrt(sigma2) * score


def main() -> None:
    import diffusers
    import torch
    from diffusers import DPMSolverMultistepScheduler

    x_T = np.random.default_rng(0).standard_normal((64, 2))
    records = []
    # The noise-prediction "dpmsolver" needs final_sigmas_type="sigma_min" in
    # diffusers, which diffusers_compat does not model; record "dpmsolver++".
    for algorithm in ("dpmsolver++",):
        for solver_type in ("midpoint", "heun"):
            for order in (1, 2, 3):
                for steps in (5, 10, 20, 50):
                    sch = DPMSolverMultistepScheduler(
                        num_train_timesteps=1000,
                        beta_start=1e-4,
                        beta_end=0.02,
                        beta_schedule="linear",
                        solver_order=order,
                        algorithm_type=algorithm,
                        solver_type=solver_type,
                    )
                    sch.set_timesteps(steps)
                    acp = sch.alphas_cumprod.double().numpy()
                    x = torch.tensor(x_T, dtype=torch.float32)
                    for t in sch.timesteps:
                        alpha = float(np.sqrt(acp[int(t)]))
                        eps = gmm_eps(x.double().numpy(), alpha)
                        out = torch.tensor(eps, dtype=torch.float32)
                        x = sch.step(out, t, x).prev_sample
                    records.append(
                        dict(
                            algorithm=algorithm,
                            solver_type=solver_type,
                            order=order,
                            steps=steps,
                            timesteps=[int(t) for t in sch.timesteps],
                            sample=x.double().numpy()[:ROWS].tolist(),
                        )
                    )
    out = dict(
        source=(
            f"diffusers {diffusers.__version__} DPMSolverMultistepScheduler, "
            f"torch {torch.__version__} (CPU), float32"
        ),
        setup="research/diffusion.md section 1.3 GMM, DDPM linear betas 1e-4..0.02",
        x_T="numpy.random.default_rng(0).standard_normal((64, 2))",
        rows=ROWS,
        records=records,
    )
    path = pathlib.Path(__file__).parent / "data" / "diffusers_dpmsolver_multistep.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(records)} records to {path}")


if __name__ == "__main__":
    main()

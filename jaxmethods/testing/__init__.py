"""Public test kits: analytic models with exact answers, for testing methods.

- [`jaxmethods.testing.analytic`][]: Gaussian-mixture data with exact noised
  densities, scores and noise predictions under a VP schedule, the exact
  probability-flow ODE flow map for Gaussian data, and a tight-tolerance
  reference solver for the probability-flow ODE of any noise-prediction model.
- [`jaxmethods.testing.discrete_oracle`][]: explicit joint tables over
  $V^L$ whose conditionals serve as exact denoisers, exact output laws of
  discrete-diffusion samplers and decoding policies by dynamic programming,
  and brute-force ELBOs.

Import the kits as submodules (``import jaxmethods.testing.analytic``); this
package re-exports nothing, so importing it pulls in no extra dependencies.
"""

__all__: list[str] = []

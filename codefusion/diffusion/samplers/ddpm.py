"""Ancestral DDPM sampling (Ho et al. 2020), exact over any subsequence of timesteps.

From x_t at kept step t to the next kept step s < t, draw
    x_s ~ q(x_s | x_t, x0 = pred_x0) = N(mean, variance)
with the exact two-step posterior of `GaussianDiffusion.q_posterior` (its coefficients as
floats: every row is at the same step) (variance = the posterior's,
DDPM's "fixed small" choice). With all T steps this is plain DDPM; with fewer it equals
improved-diffusion's respaced DDPM, because that recomputes beta for the kept pair as
1 - alpha_bar_t / alpha_bar_s, which gives the same posterior. The last step (s = -1) returns
pred_x0 itself: the posterior at the clean end has mean x0 and zero variance.
"""

from __future__ import annotations

import math

import torch

from codefusion.diffusion.noise import Noise
from codefusion.diffusion.samplers.base import Sampler, randn_like


class DDPMSampler(Sampler):
    """Ancestral sampler: x_s = posterior mean + sqrt(posterior variance) * N(0, I)."""

    def step_from_pred_x0(
        self,
        pred_x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        s: int,
        generator: Noise,
    ) -> torch.Tensor:
        """x_t (B, ...) at step t -> x_s (B, ...) at step s in [0, t)."""
        coef_x0, coef_xt, variance = self.process.step_coefficients(t, s)  # q_posterior's, as floats
        return coef_x0 * pred_x0 + coef_xt * x_t + math.sqrt(variance) * randn_like(x_t, generator)

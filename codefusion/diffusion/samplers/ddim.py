"""DDIM sampling (Song et al. 2021, eq. 12), exact over any subsequence of timesteps.

From x_t at kept step t to the next kept step s < t, with eps_hat the noise implied by pred_x0,
    eps_hat = (x_t - sqrt(alpha_bar_t) pred_x0) / sqrt(1 - alpha_bar_t)
    x_s     = sqrt(alpha_bar_s) pred_x0 + sqrt(1 - alpha_bar_s - sigma^2) eps_hat + sigma z
    sigma^2 = eta^2 (1 - alpha_bar_s) / (1 - alpha_bar_t) (1 - alpha_bar_t / alpha_bar_s),
z ~ N(0, I). Only alpha_bar_t and alpha_bar_s of the kept pair enter, so every evenly spaced (or
any) subsequence is exact: the non-Markovian process it inverts has the forward marginals
q(x_s | x0) = N(sqrt(alpha_bar_s) x0, (1 - alpha_bar_s) I) at every kept step.

eta = 0 is deterministic given x_T (the probability-flow ODE's first-order solver, identical to
first-order DPM-Solver++). eta = 1 makes sigma^2 the exact two-step posterior variance of
`GaussianDiffusion.q_posterior`, and then the mean equals the posterior mean too, so DDIM(eta=1)
is DDPM, draw for draw. The last step (s = -1, alpha_bar_s = 1) has sigma = 0 and returns pred_x0.
"""

from __future__ import annotations

import math

import torch

from codefusion.diffusion.noise import Noise
from codefusion.diffusion.process import GaussianDiffusion
from codefusion.diffusion.samplers.base import Sampler, randn_like


class DDIMSampler(Sampler):
    """DDIM: x_s = c_x0 pred_x0 + c_xt x_t + sigma z, with the coefficients of eq. 12.

    Args:
        process: the diffusion process the network was trained on.
        eta: in [0, 1]; 0 = deterministic DDIM, 1 = DDPM's ancestral (posterior) variance.

    Raises:
        ValueError: if eta is outside [0, 1] (above 1, 1 - alpha_bar_s - sigma^2 can go negative).
    """

    def __init__(self, process: GaussianDiffusion, eta: float = 0.0) -> None:
        super().__init__(process)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = float(eta)

    def coefficients(self, t: int, s: int) -> tuple[float, float, float]:
        """(c_x0, c_xt, sigma) for the step t -> s in [-1, t), as Python floats from float64.

        Rewrites eq. 12 without eps_hat: with c_xt = sqrt(1 - ab_s - sigma^2) / sqrt(1 - ab_t),
        x_s = (sqrt(ab_s) - c_xt sqrt(ab_t)) pred_x0 + c_xt x_t + sigma z.
        """
        ab_t = float(self.process.alpha_bar[t])
        ab_s = float(self.process.alpha_bar_prev[s + 1])  # alpha_bar_{-1} = 1 at s = -1
        variance = self.eta**2 * (1.0 - ab_s) / (1.0 - ab_t) * (1.0 - ab_t / ab_s)
        # max(0, .): rounding only; for eta <= 1, sigma^2 <= posterior variance <= 1 - ab_s.
        c_xt = math.sqrt(max(1.0 - ab_s - variance, 0.0) / (1.0 - ab_t))
        c_x0 = math.sqrt(ab_s) - c_xt * math.sqrt(ab_t)
        return c_x0, c_xt, math.sqrt(variance)

    def step_from_pred_x0(
        self,
        pred_x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        s: int,
        generator: Noise,
    ) -> torch.Tensor:
        """x_t (B, ...) at step t -> x_s (B, ...) at step s in [0, t)."""
        c_x0, c_xt, sigma = self.coefficients(t, s)
        x_s = c_x0 * pred_x0 + c_xt * x_t
        if sigma > 0.0:  # eta = 0 draws nothing, so it is deterministic and leaves generator alone
            x_s = x_s + sigma * randn_like(x_t, generator)
        return x_s

"""The Gaussian diffusion process: forward noising, x0 <-> eps conversions, exact posteriors.

A plain class in the spirit of improved-diffusion's `GaussianDiffusion`: it owns float64 tables
indexed by the integer timestep t in [0, T) and has no nn layers; the network is a callable that
the training module and the samplers pass in. Conventions (DDPM, 0-indexed):

    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps,    eps ~ N(0, I)
    alpha_bar_t = prod_{j<=t} (1 - beta_j);  alpha_bar_{-1} = 1, i.e. t = -1 is the clean data.

All per-timestep coefficients are computed in float64 and only then cast to x's dtype, because
at the noisiest step of the sqrt schedule 1/sqrt(alpha_bar) ~ 1640 and float32 tables would
amplify their own rounding.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from codefusion.diffusion.schedules import DEFAULT_SCHEDULE, betas_for

Parameterization = Literal["eps", "x0"]
"""What the network predicts: the noise eps (the paper's choice) or the clean x0 (the peers')."""


def _broadcast(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) float64 per-example coefficients -> (B, 1, ..., 1) in x's dtype and device."""
    return values.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def posterior_coefficients(alpha_bar_t: Any, alpha_bar_s: Any) -> tuple[Any, Any, Any]:
    """(coef_x0, coef_xt, variance) of q(x_s | x_t, x0) from alpha_bar_t and alpha_bar_s
    (floats or float64 tensors); see `GaussianDiffusion.q_posterior`."""
    a = alpha_bar_t / alpha_bar_s
    coef_x0 = alpha_bar_s**0.5 * (1.0 - a) / (1.0 - alpha_bar_t)
    coef_xt = a**0.5 * (1.0 - alpha_bar_s) / (1.0 - alpha_bar_t)
    variance = (1.0 - alpha_bar_s) * (1.0 - a) / (1.0 - alpha_bar_t)
    return coef_x0, coef_xt, variance


class GaussianDiffusion:
    """A T-step Gaussian diffusion process defined by its betas.

    Args:
        betas: (T,) noise variances per step, each in (0, 1). Stored as float64.
        parameterization: "eps" (network predicts the noise) or "x0" (network predicts x0).
    """

    def __init__(self, betas: torch.Tensor, parameterization: Parameterization = "eps") -> None:
        if parameterization not in ("eps", "x0"):
            raise ValueError(f"parameterization must be 'eps' or 'x0', got {parameterization!r}")
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        self.parameterization: Parameterization = parameterization
        self.betas = betas  # (T,)
        self.alpha_bar = torch.cumprod(1.0 - betas, dim=0)  # (T,)
        # alpha_bar at t - 1, with alpha_bar_{-1} = 1; also indexed by s + 1 for any s in [-1, T).
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        self.sqrt_alpha_bar = self.alpha_bar.sqrt()
        self.sqrt_one_minus_alpha_bar = (1.0 - self.alpha_bar).sqrt()
        self.sqrt_recip_alpha_bar = (1.0 / self.alpha_bar).sqrt()
        self.sqrt_recipm1_alpha_bar = (1.0 / self.alpha_bar - 1.0).sqrt()
        # One-step posterior q(x_{t-1} | x_t, x0), DDPM eq. 6-7; `q_posterior` generalises it.
        self.posterior_variance = betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)
        self.posterior_mean_coef_x0 = betas * self.alpha_bar_prev.sqrt() / (1.0 - self.alpha_bar)
        self.posterior_mean_coef_xt = (
            (1.0 - self.alpha_bar_prev) * (1.0 - betas).sqrt() / (1.0 - self.alpha_bar)
        )

    @classmethod
    def from_schedule(
        cls,
        schedule: str = DEFAULT_SCHEDULE,
        T: int = 1200,
        parameterization: Parameterization = "eps",
        max_beta: float = 0.999,
    ) -> GaussianDiffusion:
        """Build from a schedule name in `SCHEDULES` and a number of steps (paper: sqrt, 1200)."""
        return cls(betas_for(schedule, T, max_beta), parameterization)

    @property
    def num_timesteps(self) -> int:
        """T, the number of diffusion steps; valid timesteps are 0 .. T-1."""
        return self.betas.numel()

    def _gather(self, table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """table[t] in float64; t: integer tensor (B,) in [0, T)."""
        return table[t.to(device=table.device, dtype=torch.long)]

    def q_sample(
        self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x0) = N(sqrt(alpha_bar_t) x0, (1 - alpha_bar_t) I).

        Args:
            x0: clean data (B, ...), e.g. (B, L, D) token embeddings.
            t: LongTensor (B,) in [0, T).
            noise: eps with x0's shape; drawn with torch.randn_like if None.

        Returns:
            x_t with x0's shape and dtype.
        """
        if noise is None:
            noise = torch.randn_like(x0)
        return (
            _broadcast(self._gather(self.sqrt_alpha_bar, t), x0) * x0
            + _broadcast(self._gather(self.sqrt_one_minus_alpha_bar, t), x0) * noise
        )

    def pred_x0_from_eps(
        self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t). Shapes (B, ...), t (B,)."""
        return (
            _broadcast(self._gather(self.sqrt_recip_alpha_bar, t), x_t) * x_t
            - _broadcast(self._gather(self.sqrt_recipm1_alpha_bar, t), x_t) * eps
        )

    def eps_from_pred_x0(
        self, x_t: torch.Tensor, t: torch.Tensor, pred_x0: torch.Tensor
    ) -> torch.Tensor:
        """eps = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t). Shapes (B, ...), t (B,)."""
        return (
            _broadcast(self._gather(self.sqrt_recip_alpha_bar, t), x_t) * x_t - pred_x0
        ) / _broadcast(self._gather(self.sqrt_recipm1_alpha_bar, t), x_t)

    def pred_x0(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """The network's x0 estimate from its raw output, per `self.parameterization`.

        Args:
            model_output: (B, ...) predicted eps ("eps") or predicted x0 ("x0").
            x_t: (B, ...) the noisy input the network saw.
            t: LongTensor (B,) in [0, T).
        """
        if self.parameterization == "eps":
            return self.pred_x0_from_eps(x_t, t, model_output)
        return model_output

    def training_target(self, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """What the network should output for x_t = q_sample(x0, t, eps): eps or x0, (B, ...)."""
        return eps if self.parameterization == "eps" else x0

    def q_posterior(
        self,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        s: torch.Tensor | int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_s | x_t, x0) for any earlier step -1 <= s < t.

        Exact for any pair of steps, computed from alpha_bar_t and alpha_bar_s alone: with
        a = alpha_bar_t / alpha_bar_s (the signal kept from s to t),
            mean = sqrt(alpha_bar_s) (1 - a) / (1 - alpha_bar_t) x0
                   + sqrt(a) (1 - alpha_bar_s) / (1 - alpha_bar_t) x_t
            var  = (1 - alpha_bar_s) (1 - a) / (1 - alpha_bar_t).
        This is what keeps sampling over a respaced subsequence exact (GENIE and DiffuSeq
        instead take a one-step posterior and relabel it several steps back).

        Args:
            x0: (B, ...) clean data or its estimate pred_x0.
            x_t: (B, ...) the state at step t.
            t: LongTensor (B,) in [0, T).
            s: LongTensor (B,) or int in [-1, t); default t - 1. s = -1 is the clean data
               (alpha_bar_{-1} = 1), where the mean is x0 and the variance 0.

        Returns:
            (mean, variance): mean (B, ...) in x_t's dtype; variance (B, 1, ..., 1), >= 0.
        """
        t = t.to(device=self.alpha_bar.device, dtype=torch.long)
        if s is None:
            s = t - 1
        elif isinstance(s, int):
            s = torch.full_like(t, s)
        else:
            s = s.to(device=self.alpha_bar.device, dtype=torch.long)
        if bool((s >= t).any()) or bool((s < -1).any()):
            raise ValueError("q_posterior needs -1 <= s < t for every example")
        # s + 1 <= t <= T - 1; alpha_bar_{-1} = 1
        coef_x0, coef_xt, variance = posterior_coefficients(self.alpha_bar[t], self.alpha_bar_prev[s + 1])
        mean = _broadcast(coef_x0, x_t) * x0 + _broadcast(coef_xt, x_t) * x_t
        return mean, _broadcast(variance.clamp(min=0.0), x_t)

    def step_coefficients(self, t: int, s: int) -> tuple[float, float, float]:
        """q_posterior's (coef_x0, coef_xt, variance) for one scalar step t -> s, as Python
        floats: a sampler step where every row is at the same t needs no per-row tensors."""
        if not -1 <= s < t < self.num_timesteps:
            raise ValueError(f"step coefficients need -1 <= s < t < T, got t={t}, s={s}")
        c0, c1, var = posterior_coefficients(float(self.alpha_bar[t]), float(self.alpha_bar_prev[s + 1]))
        return c0, c1, max(var, 0.0)

    def pred_x0_at(self, model_output: torch.Tensor, x_t: torch.Tensor, t: int) -> torch.Tensor:
        """`pred_x0` for a batch that is all at the same timestep t (scalar coefficients)."""
        if self.parameterization != "eps":
            return model_output
        return float(self.sqrt_recip_alpha_bar[t]) * x_t - float(self.sqrt_recipm1_alpha_bar[t]) * model_output

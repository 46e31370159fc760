"""How training draws its timesteps t: uniform (the paper), warped towards high noise, or
loss-aware importance sampling (improved-diffusion's `LossSecondMomentResampler`, GENIE's too).

A timestep sampler returns `(t, weight)`: t (B,) long in [0, T) and a per-example loss weight
(B,) that keeps the expected loss equal to the uniform one when the draw is an importance sample
(`loss_aware`), or ones when the change of distribution is meant (`warped` puts more training on
the noisy steps on purpose). Plain classes: no nn layers; their state is plain tensors.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import torch

TimestepSampling = Literal["uniform", "warped", "loss_aware"]


class UniformTimesteps:
    """t ~ U{0, ..., T-1} (the paper's choice)."""

    def __init__(self, num_timesteps: int) -> None:
        self.num_timesteps = num_timesteps

    def probabilities(self) -> torch.Tensor:
        """(T,) float64: the probability of drawing each t."""
        return torch.full((self.num_timesteps,), 1.0 / self.num_timesteps, dtype=torch.float64)

    def sample(self, batch_size: int, device: torch.device | str = "cpu",
               generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.randint(0, self.num_timesteps, (batch_size,), device=device, generator=generator)
        return t, torch.ones(batch_size, device=device)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Feed back the per-example losses of the drawn t (only `loss_aware` uses them)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class WarpedTimesteps(UniformTimesteps):
    """t = floor(T u^(1/power)), u ~ U[0, 1): density ∝ t^(power-1). power 1 is uniform; power 2
    draws the noisiest half of the steps three times as often as the cleanest half. Not
    re-weighted: the point is to train more where the sampler makes its decisions."""

    def __init__(self, num_timesteps: int, power: float) -> None:
        super().__init__(num_timesteps)
        if power <= 0:
            raise ValueError(f"the timestep warp power must be > 0, got {power}")
        self.power = power

    def probabilities(self) -> torch.Tensor:
        edges = (torch.arange(self.num_timesteps + 1, dtype=torch.float64) / self.num_timesteps) ** self.power
        return edges[1:] - edges[:-1]

    def sample(self, batch_size: int, device: torch.device | str = "cpu",
               generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(batch_size, device=device, generator=generator, dtype=torch.float64)
        t = (self.num_timesteps * u ** (1.0 / self.power)).long().clamp_(0, self.num_timesteps - 1)
        return t, torch.ones(batch_size, device=device)


class LossAwareTimesteps(UniformTimesteps):
    """Importance sampling by the loss's second moment (Nichol & Dhariwal 2021, §3.3): p(t) ∝
    sqrt(E[L_t^2]) over the last `history` losses seen at t, mixed with `uniform_prob` of the
    uniform distribution; uniform until every t has `history` losses. The weight 1 / (T p(t))
    keeps the expected loss that of uniform t while its variance falls."""

    def __init__(self, num_timesteps: int, history: int = 10, uniform_prob: float = 0.001) -> None:
        super().__init__(num_timesteps)
        self.history, self.uniform_prob = history, uniform_prob
        self.losses = torch.zeros(num_timesteps, history, dtype=torch.float64)  # ring buffers
        self.counts = torch.zeros(num_timesteps, dtype=torch.long)  # losses seen per t

    def warmed_up(self) -> bool:
        return bool((self.counts >= self.history).all())

    def probabilities(self) -> torch.Tensor:
        if not self.warmed_up():
            return super().probabilities()
        w = self.losses.pow(2).mean(-1).sqrt()
        w = w / w.sum()
        return w * (1 - self.uniform_prob) + self.uniform_prob / self.num_timesteps

    def sample(self, batch_size: int, device: torch.device | str = "cpu",
               generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.probabilities()
        t = torch.multinomial(p.to(device), batch_size, replacement=True, generator=generator)
        weight = 1.0 / (self.num_timesteps * p.to(device)[t])
        return t, weight.float()

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        for ti, loss in zip(t.tolist(), losses.detach().double().cpu().tolist()):
            if loss != loss or loss in (float("inf"), float("-inf")):
                continue  # a non-finite loss says nothing about t
            self.losses[ti, self.counts[ti] % self.history] = loss
            self.counts[ti] += 1

    def state_dict(self) -> dict[str, Any]:
        return {"losses": self.losses.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.losses.copy_(state["losses"])
            self.counts.copy_(state["counts"])


def build_timestep_sampler(kind: TimestepSampling, num_timesteps: int, power: float = 1.0) -> UniformTimesteps:
    """The training timestep sampler named by `diffusion.t_sampling`."""
    if kind == "uniform":
        return UniformTimesteps(num_timesteps)
    if kind == "warped":
        return WarpedTimesteps(num_timesteps, power)
    if kind == "loss_aware":
        return LossAwareTimesteps(num_timesteps)
    raise ValueError(f"unknown timestep sampling '{kind}'; use uniform, warped or loss_aware")

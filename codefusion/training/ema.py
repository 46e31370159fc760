"""Exponential moving average of the model's parameters, kept in the checkpoint."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class EMA:
    """shadow <- shadow + (1 - d) (param - shadow), with d = min(decay, (1 + n) / (10 + n)) so
    the average is not dominated by the random initialisation early in training."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        # Every parameter, frozen ones too: the EMA weights must be a complete model for sampling.
        self.names = [n for n, _ in model.named_parameters()]
        params = dict(model.named_parameters())
        self.shadow = [params[n].detach().clone().float() for n in self.names]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        current = [params[n].detach().float() for n in self.names]
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        if self.shadow[0].device != current[0].device:
            self.shadow = [s.to(current[0].device) for s in self.shadow]
        torch._foreach_lerp_(self.shadow, current, 1.0 - d)

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the model's weights with the EMA weights (call again to swap back)."""
        params = dict(model.named_parameters())
        for i, n in enumerate(self.names):
            p = params[n]
            tmp = p.detach().clone()
            p.copy_(self.shadow[i].to(p.device, p.dtype))
            self.shadow[i] = tmp.float()

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "updates": self.updates,
                "weights": {n: s.detach().cpu() for n, s in zip(self.names, self.shadow)}}

    def load_state_dict(self, state: dict[str, object]) -> None:
        weights: dict[str, Tensor] = state["weights"]  # type: ignore[assignment]
        missing = [n for n in self.names if n not in weights]
        if missing:
            raise KeyError(f"EMA state lacks {len(missing)} parameters, e.g. {missing[0]}")
        self.updates = int(state["updates"])  # type: ignore[arg-type]
        device = self.shadow[0].device
        self.shadow = [weights[n].float().to(device) for n in self.names]

"""The sampler contract and the sampling loop, written once.

A sampler (diffusers-style) walks a descending subsequence of the ORIGINAL process's timesteps:

    sampler.set_timesteps(num_steps)            # e.g. 1200 (the paper), 50, 10
    for t in sampler.timesteps:                 # T-1, ..., 0
        out = sampler.step(model_output, t, x_t)  # x_t -> x_s, s = next kept step (-1 after 0)

Each sampler is one file implementing `step_from_pred_x0`; the base class turns the network's raw
output into pred_x0 (per the process's parameterization) and applies the optional `pred_x0_fn`
hook (e.g. "clamping" to the nearest vocabulary embedding) first, so every sampler honours it.

What this layer does not know about: tokens, the encoder, or the conditioning. `model_fn` closes
over all of that (compute the encoder output once, outside the loop).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from codefusion.diffusion.noise import Noise, randn
from codefusion.diffusion.process import GaussianDiffusion

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""model_fn(x_t (B, ...), t_batch LongTensor (B,) of original timesteps) -> model_output (B, ...)."""
PredX0Fn = Callable[[torch.Tensor], torch.Tensor]
"""pred_x0_fn(pred_x0 (B, ...)) -> adjusted pred_x0 (B, ...), e.g. snapped to embeddings."""


@dataclass
class StepOutput:
    """Result of one sampler step.

    Attributes:
        prev_sample: x_s (B, ...), the state at the next kept timestep s (the clean sample after
            the last step).
        pred_x0: (B, ...) the x0 estimate used for the step (after `pred_x0_fn`, if any).
    """

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


@dataclass
class StepRecord:
    """One record of `sample_loop`: what happened at the step from t to s.

    Attributes:
        index: position in `sampler.timesteps`, 0 .. num_steps-1.
        t: the original timestep the network saw, in [0, T).
        s: the original timestep reached, in [-1, t); -1 means clean data (the last step).
        x_s: (B, ...) the state after the step; on the last record, the final sample.
        pred_x0: (B, ...) the x0 estimate at this step (decode it to trace the trajectory).
    """

    index: int
    t: int
    s: int
    x_s: torch.Tensor
    pred_x0: torch.Tensor


class Sampler(ABC):
    """Base class: timestep bookkeeping and model_output -> pred_x0; subclasses do the maths.

    Args:
        process: the diffusion process the network was trained on; its T and alpha_bar table
            are used at the ORIGINAL timesteps, whatever the number of sampling steps.
    """

    def __init__(self, process: GaussianDiffusion) -> None:
        self.process = process
        self.timesteps: torch.Tensor = torch.empty(0, dtype=torch.long)
        self._next_timestep: dict[int, int] = {}

    def set_timesteps(self, num_steps: int) -> None:
        """Choose the `num_steps` original timesteps to visit, evenly spaced, descending.

        Sets `self.timesteps`, a LongTensor (num_steps,) that starts at T-1 and ends at 0
        (for num_steps = 1 it is just [T-1]: one x0 prediction from pure noise). num_steps = T
        visits every step.

        Raises:
            ValueError: if num_steps < 1 or num_steps > T.
        """
        T = self.process.num_timesteps
        if not 1 <= num_steps <= T:
            raise ValueError(f"num_steps must be in [1, T={T}], got {num_steps}")
        if num_steps == 1:
            steps = [T - 1]
        else:
            # Integer rounding of k (T-1)/(n-1): exact, and distinct because the spacing is >= 1.
            n = num_steps - 1
            steps = [((T - 1) * k + n // 2) // n for k in range(n, -1, -1)]
        self.timesteps = torch.tensor(steps, dtype=torch.long)
        self._next_timestep = dict(zip(steps, steps[1:] + [-1]))

    def prev_timestep(self, t: int) -> int:
        """The kept timestep after t in `self.timesteps`, or -1 (clean data) after the last."""
        if not self._next_timestep:
            raise RuntimeError("call set_timesteps(num_steps) before sampling")
        try:
            return self._next_timestep[int(t)]
        except KeyError:
            raise ValueError(f"timestep {int(t)} is not in this sampler's timesteps") from None

    def step(
        self,
        model_output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        generator: Noise = None,
        pred_x0_fn: PredX0Fn | None = None,
    ) -> StepOutput:
        """Move x_t (at original timestep t) to x_s at the next kept timestep.

        Args:
            model_output: (B, ...) the network's raw output at (x_t, t), eps or x0 per the
                process's parameterization.
            t: an element of `self.timesteps`.
            x_t: (B, ...) current state.
            generator: the only source of randomness (same seed -> same output).
            pred_x0_fn: optional hook applied to pred_x0 before the step uses it.
        """
        s = self.prev_timestep(t)
        pred_x0 = self.process.pred_x0_at(model_output, x_t, int(t))
        if pred_x0_fn is not None:
            pred_x0 = pred_x0_fn(pred_x0)
        # The last step (s = -1, clean data) is the same for every sampler: the x0 estimate.
        x_s = pred_x0 if s < 0 else self.step_from_pred_x0(pred_x0, x_t, int(t), s, generator)
        return StepOutput(prev_sample=x_s, pred_x0=pred_x0)

    @abstractmethod
    def step_from_pred_x0(
        self,
        pred_x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        s: int,
        generator: Noise,
    ) -> torch.Tensor:
        """The sampler's maths: x_t (B, ...) at step t -> x_s (B, ...) at a kept step s in [0, t).

        Never called for the last step (s = -1): `step` returns pred_x0 there. Draw noise only
        from `generator` (see `randn_like`).
        """


def randn_like(x: torch.Tensor, generator: Noise) -> torch.Tensor:
    """Standard normal noise shaped like x, drawn from `generator` (one torch.Generator, or a
    `RowNoise` with one stream per row), on x's device."""
    return randn(x.shape, generator, dtype=x.dtype, device=x.device)


@torch.no_grad()  # on a generator function torch scopes no_grad to each resumption only
def sample_loop(
    model_fn: ModelFn,
    sampler: Sampler,
    x_T: torch.Tensor,
    *,
    generator: Noise = None,
    pred_x0_fn: PredX0Fn | None = None,
) -> Iterator[StepRecord]:
    """Run the sampler from x_T to the clean sample, yielding one `StepRecord` per step.

    Args:
        model_fn: network callable, model_fn(x_t (B, ...), t_batch LongTensor (B,)) -> output.
        sampler: a `Sampler` on which `set_timesteps` has been called.
        x_T: (B, ...) starting noise, usually N(0, I).
        generator: the only source of randomness in the loop: a torch.Generator on x_T's device,
            or a `RowNoise` (one stream per row, so a row's result does not depend on its batch).
        pred_x0_fn: optional hook applied to every pred_x0 before it is used.

    Yields:
        len(sampler.timesteps) records with t descending; the last one's `x_s` is the sample.
    """
    if len(sampler.timesteps) == 0:
        raise RuntimeError("call sampler.set_timesteps(num_steps) before sample_loop")
    x_t = x_T
    for index, t in enumerate(sampler.timesteps.tolist()):
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        model_output = model_fn(x_t, t_batch)
        out = sampler.step(model_output, t, x_t, generator=generator, pred_x0_fn=pred_x0_fn)
        s = sampler.prev_timestep(t)
        yield StepRecord(index=index, t=t, s=s, x_s=out.prev_sample, pred_x0=out.pred_x0)
        x_t = out.prev_sample


def sample(
    model_fn: ModelFn,
    sampler: Sampler,
    x_T: torch.Tensor,
    *,
    generator: Noise = None,
    pred_x0_fn: PredX0Fn | None = None,
) -> torch.Tensor:
    """Run `sample_loop` to the end and return the final clean sample x0, (B, ...)."""
    record = None
    for record in sample_loop(model_fn, sampler, x_T, generator=generator, pred_x0_fn=pred_x0_fn):
        pass
    assert record is not None  # sample_loop always yields at least one record
    return record.x_s

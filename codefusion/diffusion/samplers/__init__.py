"""Samplers: one file per sampler, registered by name in `SAMPLERS`.

To add one: subclass `Sampler` in a new file, implement `step_from_pred_x0`, and add a line
below. tests/test_samplers.py runs every registered sampler through the contract tests and the
1-D Gaussian exactness test.
"""

from __future__ import annotations

from codefusion.diffusion.process import GaussianDiffusion
from codefusion.diffusion.samplers.base import (
    ModelFn,
    PredX0Fn,
    Sampler,
    StepOutput,
    StepRecord,
    sample,
    sample_loop,
)
from codefusion.diffusion.samplers.ddim import DDIMSampler
from codefusion.diffusion.samplers.ddpm import DDPMSampler
from codefusion.diffusion.samplers.dpm_solver import DPMSolverPlusPlus2MSampler

SAMPLERS: dict[str, type[Sampler]] = {
    "ddpm": DDPMSampler,  # the paper's sampler
    "ddim": DDIMSampler,  # eta = 0 (deterministic) by default; DDIMSampler(process, eta=1) is DDPM
    "dpm_solver++": DPMSolverPlusPlus2MSampler,  # DPM-Solver++(2M): deterministic, second order
}


def get_sampler(name: str, process: GaussianDiffusion) -> Sampler:
    """Build the sampler registered as `name` for `process`; call `set_timesteps` next.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    check_sampler(name)
    return SAMPLERS[name](process)


def check_sampler(name: str) -> None:
    """ValueError unless `name` is a registered sampler (the one place that rule is decided)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(sorted(SAMPLERS))}")


def check_steps(steps: int, num_timesteps: int) -> None:
    """ValueError unless 1 <= steps <= T: a sampler runs a subsequence of the model's T steps."""
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps={steps} must be in [1, {num_timesteps}] (the model's T)")


__all__ = [
    "SAMPLERS",
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverPlusPlus2MSampler",
    "ModelFn",
    "PredX0Fn",
    "Sampler",
    "StepOutput",
    "StepRecord",
    "check_sampler",
    "check_steps",
    "get_sampler",
    "sample",
    "sample_loop",
]

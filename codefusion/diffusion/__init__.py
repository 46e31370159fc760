"""The diffusion process layer: schedules, the Gaussian process, and samplers.

No nn layers and no Lightning here; networks are callables passed in.
"""

from codefusion.diffusion.noise import Noise, RowNoise, stable_seed
from codefusion.diffusion.process import GaussianDiffusion, Parameterization
from codefusion.diffusion.samplers import (
    SAMPLERS,
    DDPMSampler,
    ModelFn,
    PredX0Fn,
    Sampler,
    StepOutput,
    StepRecord,
    check_sampler,
    check_steps,
    get_sampler,
    sample,
    sample_loop,
)
from codefusion.diffusion.schedules import (
    DEFAULT_SCHEDULE,
    SCHEDULES,
    betas_for,
    get_schedule,
)

__all__ = [
    "DEFAULT_SCHEDULE",
    "SAMPLERS",
    "SCHEDULES",
    "DDPMSampler",
    "GaussianDiffusion",
    "ModelFn",
    "Noise",
    "RowNoise",
    "stable_seed",
    "Parameterization",
    "PredX0Fn",
    "Sampler",
    "StepOutput",
    "StepRecord",
    "check_sampler",
    "check_steps",
    "betas_for",
    "get_sampler",
    "get_schedule",
    "sample",
    "sample_loop",
]

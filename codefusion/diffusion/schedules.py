"""Noise schedules: named functions of continuous time t in [0, 1] returning alpha_bar(t).

A schedule is a plain function plus one line in `SCHEDULES`. `betas_for` turns any of them into
the discrete betas of a T-step process, so the same schedule behaves the same for any T
(T = 1200 in the paper; respaced samplers keep using the original T's alpha_bar table).

    alpha_bar(t) = prod over the continuous process of (1 - beta);  alpha_bar(0) ~ 1 (clean),
    alpha_bar(1) ~ 0 (pure noise). The discretisation (improved-diffusion's
    `betas_for_alpha_bar`) is  beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), max_beta),
    so the discrete alpha_bar_i = prod_{j<=i} (1 - beta_j) telescopes to
    alpha_bar((i+1)/T) / alpha_bar(0) until the max_beta clip bites.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

AlphaBarFn = Callable[[float], float]
"""alpha_bar(t): continuous time t in [0, 1] -> fraction of signal power left, in (0, 1]."""


def sqrt_alpha_bar(t: float) -> float:
    """The paper's (and Diffusion-LM's / GENIE's) square-root schedule: 1 - sqrt(t + 1e-4).

    It adds noise fast at the start (beta_0 ~ 0.02 at T = 1200), which text-embedding diffusion
    needs because small noise barely changes the nearest embedding. Note: at t = 1 the value is
    1 - sqrt(1.0001) ~ -5e-5 (slightly negative); `betas_for` clips that last beta to max_beta,
    exactly as the reference implementations do.
    """
    return 1.0 - math.sqrt(t + 1e-4)


# DDPM's linear schedule is defined for T = 1000 as beta_i = linspace(1e-4, 0.02, 1000)[i]. Its
# continuous-time limit (Song et al. 2021, VP-SDE) is a linear beta rate
# beta(t) = B0 + t (B1 - B0) with B0 = 1000 * 1e-4 and B1 = 1000 * 0.02, and
# alpha_bar(t) = exp(-integral_0^t beta) = exp(-(B0 t + (B1 - B0) t^2 / 2)).
# Discretised at T = 1000 this reproduces DDPM's betas to within 2e-4 absolute (each beta is the
# rate integrated over its step, so beta_0 = 1.1e-4 rather than 1e-4). For other T it keeps the
# same noise level at each continuous time (alpha_bar(1) ~ 4.3e-5, DDPM's 4.0e-5) rather than
# the same per-step betas, so it "behaves for any T": T = 4000 is a finer grid, not 4x the noise.
_LINEAR_B0 = 1000 * 1e-4
_LINEAR_B1 = 1000 * 0.02


def linear_alpha_bar(t: float) -> float:
    """DDPM's linear beta schedule (1e-4 .. 0.02 at T = 1000) as a continuous-time alpha_bar."""
    return math.exp(-(_LINEAR_B0 * t + 0.5 * (_LINEAR_B1 - _LINEAR_B0) * t * t))


_COSINE_S = 0.008  # Nichol & Dhariwal's offset: keeps beta_0 from being vanishingly small.


def cosine_alpha_bar(t: float) -> float:
    """Nichol & Dhariwal (2021) cosine schedule, normalised so alpha_bar(0) = 1."""

    def f(u: float) -> float:
        return math.cos((u + _COSINE_S) / (1 + _COSINE_S) * math.pi / 2) ** 2

    return f(t) / f(0.0)


SCHEDULES: dict[str, AlphaBarFn] = {
    "sqrt": sqrt_alpha_bar,  # the paper's choice and the default
    "linear": linear_alpha_bar,
    "cosine": cosine_alpha_bar,
}
DEFAULT_SCHEDULE = "sqrt"


def get_schedule(name: str) -> AlphaBarFn:
    """Look a schedule up by name; an unknown name raises ValueError listing the valid ones."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ValueError(
            f"unknown noise schedule {name!r}; valid schedules: {', '.join(sorted(SCHEDULES))}"
        ) from None


def betas_for(name: str, T: int, max_beta: float = 0.999) -> torch.Tensor:
    """Discretise schedule `name` into T betas.

    Args:
        name: a key of `SCHEDULES`.
        T: number of diffusion steps (>= 1).
        max_beta: upper clip for each beta; < 1 so that 1 - beta never reaches 0.

    Returns:
        betas, float64 tensor of shape (T,), each in (0, max_beta]:
        beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), max_beta).
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    alpha_bar = get_schedule(name)
    betas = [min(1.0 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta) for i in range(T)]
    return torch.tensor(betas, dtype=torch.float64)

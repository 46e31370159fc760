"""Noise schedules: the paper's check values, registry behaviour, and shape of every schedule."""

from __future__ import annotations

import math

import pytest
import torch

from codefusion.diffusion.schedules import SCHEDULES, betas_for, get_schedule


def test_sqrt_schedule_reproduces_paper_values_at_T1200() -> None:
    betas = betas_for("sqrt", 1200)
    alpha_bar = torch.cumprod(1.0 - betas, dim=0)
    assert betas.dtype == torch.float64 and betas.shape == (1200,)
    assert betas[0].item() == pytest.approx(0.02076, rel=1e-3)
    assert math.sqrt(1.0 - alpha_bar[0].item()) == pytest.approx(0.1441, rel=1e-3)
    assert math.sqrt(alpha_bar[600].item()) == pytest.approx(0.5433, rel=1e-3)
    assert math.sqrt(alpha_bar[1199].item()) == pytest.approx(6.09e-4, rel=2e-3)
    assert betas[1199].item() == 0.999  # the max_beta clip


def test_linear_schedule_matches_ddpm_betas_at_T1000() -> None:
    # DDPM's linear schedule is linspace(1e-4, 0.02, 1000); the continuous form integrates the
    # same rate over each step, so it agrees to ~1e-4 per beta.
    ddpm = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    assert torch.allclose(betas_for("linear", 1000), ddpm, atol=2.5e-4, rtol=0)
    # ... and keeps the same total noise at other T rather than the same per-step betas.
    ab_1000 = torch.cumprod(1 - betas_for("linear", 1000), 0)[-1]
    ab_4000 = torch.cumprod(1 - betas_for("linear", 4000), 0)[-1]
    assert ab_4000.item() == pytest.approx(ab_1000.item(), rel=0.05)


def test_cosine_schedule_starts_clean() -> None:
    assert SCHEDULES["cosine"](0.0) == pytest.approx(1.0)
    assert betas_for("cosine", 1000)[0].item() < 1e-4


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_is_monotone_and_in_range(name: str) -> None:
    alpha_bar = get_schedule(name)
    # Continuous form on [0, 1): strictly decreasing, in (0, 1]. (The sqrt schedule dips just
    # below 0 at exactly t = 1, which betas_for clips; see its docstring.)
    values = [alpha_bar(i / 1000) for i in range(1000)]
    assert all(0 < v <= 1 for v in values)
    assert all(a > b for a, b in zip(values, values[1:]))
    # Discrete form at a small and the paper's T.
    for T in (10, 1200):
        betas = betas_for(name, T)
        assert bool(((betas > 0) & (betas <= 0.999)).all())
        discrete = torch.cumprod(1 - betas, 0)
        assert bool(((discrete > 0) & (discrete <= 1)).all())
        assert bool((discrete[1:] < discrete[:-1]).all())


def test_unknown_schedule_names_itself_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'squareroot'") as info:
        betas_for("squareroot", 100)
    for name in SCHEDULES:
        assert name in str(info.value)


def test_betas_for_rejects_bad_T() -> None:
    with pytest.raises(ValueError, match="T must be"):
        betas_for("sqrt", 0)

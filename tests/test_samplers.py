"""Samplers: the contract every registered sampler must honour, and exactness on 1-D Gaussians.

THE 1-D GAUSSIAN TEST. Data x0 ~ N(MU, SIGMA^2). The optimal denoiser is analytic,
    E[x0 | x_t] = MU + sqrt(ab) SIGMA^2 / (ab SIGMA^2 + 1 - ab) (x_t - sqrt(ab) MU),
so a sampler fed it must reproduce the data distribution up to its own discretisation error.
What "up to" means, computed exactly for DDPM by propagating the linear-Gaussian recursion
(`ddpm_expected_stats` below), sqrt schedule, T = 1200, MU = 1.5, SIGMA = 0.5:

    steps     correct DDPM mean / std      naive skipping (GENIE/DiffuSeq) mean / std
    1200      1.500 / 0.471                (same: no skipping)
      50      1.500 / 0.398                0.278 / 0.891
      10      1.500 / 0.308                0.164 / 0.926

The mean is exact for any correct sampler at any number of steps, so it is checked tightly
(MC standard error at 20,000 samples is 0.0035). The std is not: DDPM's posterior ("fixed
small") variance drops the term coef_x0^2 Var[x0 | x_t] of the true reverse kernel, and the
final pred_x0 at t = 0 (noise std 0.144 in the sqrt schedule) drops Var[x0 | x_0]; both shrink
the spread, more so in few steps. The generic std band below is therefore step-dependent, and
DDPM gets a second, tight check against its exact expected std.
"""

from __future__ import annotations

import math

import pytest
import torch

from codefusion.diffusion import (
    SAMPLERS,
    DDPMSampler,
    GaussianDiffusion,
    Sampler,
    get_sampler,
    sample,
    sample_loop,
)

MU, SIGMA = 1.5, 0.5
N_SAMPLES = (4000, 5)  # (B, D): 20,000 scalars, also exercises broadcasting over D
STEP_COUNTS = [1200, 50, 10]
# Allowed |std / SIGMA - 1| per number of steps: covers correct DDPM (-6%, -20%, -38%) with
# margin for Monte Carlo error; naive skipping is +78% / +85% and its mean is off by > 1.2.
STD_REL_TOL = {1200: 0.10, 50: 0.30, 10: 0.45}
MEAN_TOL = 0.03


@pytest.fixture(scope="module")
def process_eps() -> GaussianDiffusion:
    return GaussianDiffusion.from_schedule("sqrt", 1200, "eps")


def optimal_model_fn(process: GaussianDiffusion):  # -> ModelFn
    """The analytic optimal network for x0 ~ N(MU, SIGMA^2), in the process's parameterization."""

    def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = process.alpha_bar[t].to(x_t.dtype).reshape(-1, *([1] * (x_t.dim() - 1)))
        pred_x0 = MU + ab.sqrt() * SIGMA**2 / (ab * SIGMA**2 + 1 - ab) * (x_t - ab.sqrt() * MU)
        if process.parameterization == "eps":
            return process.eps_from_pred_x0(x_t, t, pred_x0)
        return pred_x0

    return model_fn


def run_gaussian(sampler: Sampler, num_steps: int, seed: int = 0) -> tuple[float, float]:
    """Sample N_SAMPLES with the optimal denoiser; return (mean, std) of the samples."""
    gen = torch.Generator().manual_seed(seed)
    sampler.set_timesteps(num_steps)
    x_T = torch.randn(N_SAMPLES, generator=gen)
    x0 = sample(optimal_model_fn(sampler.process), sampler, x_T, generator=gen)
    return x0.mean().item(), x0.std().item()


def ddpm_expected_stats(process: GaussianDiffusion, timesteps: list[int]) -> tuple[float, float]:
    """Exact (mean, std) of DDPM's output, written independently of q_posterior: as
    improved-diffusion's SpacedDiffusion, with betas recomputed for each kept pair (t, s)."""
    ab = process.alpha_bar.tolist()
    m, v = 0.0, 1.0  # x_T ~ N(0, 1)
    for t, s in zip(timesteps, timesteps[1:] + [-1]):
        k = math.sqrt(ab[t]) * SIGMA**2 / (ab[t] * SIGMA**2 + 1 - ab[t])
        pm, pv = MU + k * (m - math.sqrt(ab[t]) * MU), k * k * v  # pred_x0 is linear in x_t
        if s < 0:
            return pm, math.sqrt(pv)
        ab_s = ab[s]
        beta = 1 - ab[t] / ab_s  # the respaced beta of the pair
        c_x0 = beta * math.sqrt(ab_s) / (1 - ab[t])
        c_xt = (1 - ab_s) * math.sqrt(1 - beta) / (1 - ab[t])
        var = beta * (1 - ab_s) / (1 - ab[t])
        gain = c_x0 * k + c_xt  # x_s = gain x_t + const + noise
        m = gain * m + c_x0 * (MU - k * math.sqrt(ab[t]) * MU)
        v = gain * gain * v + var
    raise AssertionError("timesteps must end with a step to s = -1")


class NaiveSkippingDDPM(DDPMSampler):
    """The GENIE/DiffuSeq bug, kept here to prove the test catches it: take the one-step
    posterior q(x_{t-1} | x_t, x0) and label the result as the next kept timestep s."""

    def step_from_pred_x0(self, pred_x0, x_t, t, s, generator):  # type: ignore[no-untyped-def]
        return super().step_from_pred_x0(pred_x0, x_t, t, t - 1 if s >= 0 else s, generator)


@pytest.mark.parametrize("num_steps", STEP_COUNTS)
@pytest.mark.parametrize("parameterization", ["eps", "x0"])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_reproduces_1d_gaussian(name: str, parameterization: str, num_steps: int) -> None:
    process = GaussianDiffusion.from_schedule("sqrt", 1200, parameterization)  # type: ignore[arg-type]
    mean, std = run_gaussian(get_sampler(name, process), num_steps)
    assert abs(mean - MU) < MEAN_TOL, f"{name}/{num_steps} steps: mean {mean:.4f} vs {MU}"
    assert abs(std / SIGMA - 1) < STD_REL_TOL[num_steps], f"{name}/{num_steps}: std {std:.4f}"


@pytest.mark.parametrize("num_steps", STEP_COUNTS)
def test_ddpm_matches_its_exact_expected_stats(process_eps: GaussianDiffusion, num_steps: int) -> None:
    sampler = DDPMSampler(process_eps)
    mean, std = run_gaussian(sampler, num_steps)
    exp_mean, exp_std = ddpm_expected_stats(process_eps, sampler.timesteps.tolist())
    assert mean == pytest.approx(exp_mean, abs=MEAN_TOL)
    assert std == pytest.approx(exp_std, rel=0.02)  # MC relative error of a std: ~0.5%


@pytest.mark.parametrize("num_steps", [50, 10])
def test_naive_step_skipping_fails_the_gaussian_test(process_eps: GaussianDiffusion, num_steps: int) -> None:
    mean, std = run_gaussian(NaiveSkippingDDPM(process_eps), num_steps)
    assert abs(mean - MU) > 1.0 and std / SIGMA - 1 > 0.5  # far outside both tolerances


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_seed_same_output(name: str, process_eps: GaussianDiffusion) -> None:
    sampler = get_sampler(name, process_eps)
    sampler.set_timesteps(20)
    model_fn = optimal_model_fn(process_eps)

    def draw(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return sample(model_fn, sampler, torch.randn(8, 3, generator=gen), generator=gen)

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_set_timesteps(name: str, process_eps: GaussianDiffusion) -> None:
    sampler = get_sampler(name, process_eps)
    sampler.set_timesteps(1200)
    assert torch.equal(sampler.timesteps, torch.arange(1199, -1, -1))
    for n in (2, 10, 50, 1199):
        sampler.set_timesteps(n)
        ts = sampler.timesteps
        assert ts.dtype == torch.long and len(ts) == n
        assert ts[0].item() == 1199 and ts[-1].item() == 0
        gaps = ts[:-1] - ts[1:]
        assert bool((gaps > 0).all()) and gaps.max() - gaps.min() <= 1  # evenly spaced
    sampler.set_timesteps(1)
    assert sampler.timesteps.tolist() == [1199]
    for bad in (0, -3, 1201):
        with pytest.raises(ValueError, match="num_steps"):
            sampler.set_timesteps(bad)


def test_step_before_set_timesteps_and_foreign_timesteps_fail(process_eps: GaussianDiffusion) -> None:
    sampler = DDPMSampler(process_eps)
    x = torch.zeros(2, 3)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        sampler.step(x, 1199, x)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        next(sample_loop(optimal_model_fn(process_eps), sampler, x))
    sampler.set_timesteps(10)
    with pytest.raises(ValueError, match="not in this sampler's timesteps"):
        sampler.step(x, 1198, x)


def test_unknown_sampler_names_the_valid_ones(process_eps: GaussianDiffusion) -> None:
    with pytest.raises(ValueError, match="'dpm'.*ddpm"):
        get_sampler("dpm", process_eps)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_loop_yields_one_record_per_step(name: str, process_eps: GaussianDiffusion) -> None:
    sampler = get_sampler(name, process_eps)
    sampler.set_timesteps(25)
    weight = torch.ones((), requires_grad=True)  # a "network" with a parameter
    base_fn = optimal_model_fn(process_eps)
    seen_t: list[torch.Tensor] = []

    def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen_t.append(t)
        return base_fn(x_t, t) * weight

    gen = torch.Generator().manual_seed(0)
    records = []
    for record in sample_loop(model_fn, sampler, torch.randn(4, 6, 2, generator=gen), generator=gen):
        assert torch.is_grad_enabled()  # no_grad is scoped to the loop, not leaked to the caller
        records.append(record)
    assert len(records) == 25
    assert [r.index for r in records] == list(range(25))
    assert [r.t for r in records] == sampler.timesteps.tolist()
    assert [r.s for r in records] == sampler.timesteps.tolist()[1:] + [-1]
    assert all(r.x_s.shape == r.pred_x0.shape == (4, 6, 2) for r in records)
    assert not records[-1].x_s.requires_grad
    assert all(t.dtype == torch.long and t.shape == (4,) for t in seen_t)
    assert [t[0].item() for t in seen_t] == sampler.timesteps.tolist()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_pred_x0_fn_hook_is_used_by_every_step(name: str, process_eps: GaussianDiffusion) -> None:
    sampler = get_sampler(name, process_eps)
    sampler.set_timesteps(10)
    calls: list[int] = []
    target = torch.full((3, 4), 2.0)

    def snap(pred_x0: torch.Tensor) -> torch.Tensor:  # a stand-in for clamping to embeddings
        calls.append(1)
        return target.clone()

    gen = torch.Generator().manual_seed(0)
    records = list(
        sample_loop(optimal_model_fn(process_eps), sampler, torch.randn(3, 4, generator=gen),
                    generator=gen, pred_x0_fn=snap)
    )
    assert len(calls) == 10
    assert all(torch.equal(r.pred_x0, target) for r in records)
    # Every step believes x0 = 2, so the final sample is 2 (clean end: no noise added).
    torch.testing.assert_close(records[-1].x_s, target)

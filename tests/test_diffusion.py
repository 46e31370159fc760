"""GaussianDiffusion: forward noising statistics, x0 <-> eps conversions, exact posteriors."""

from __future__ import annotations

import pytest
import torch

from codefusion.diffusion import GaussianDiffusion, betas_for


@pytest.fixture(scope="module")
def process() -> GaussianDiffusion:
    return GaussianDiffusion.from_schedule("sqrt", 1200)


def test_tables_are_float64_and_match_the_schedule(process: GaussianDiffusion) -> None:
    assert process.num_timesteps == 1200
    assert process.alpha_bar.dtype == torch.float64
    expected = torch.cumprod(1 - betas_for("sqrt", 1200), 0)
    assert torch.equal(process.alpha_bar, expected)


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="parameterization"):
        GaussianDiffusion(betas_for("sqrt", 10), parameterization="v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        GaussianDiffusion(torch.tensor([0.1, 1.0]))


@pytest.mark.parametrize("t_value", [0, 300, 1199])
def test_q_sample_statistics(process: GaussianDiffusion, t_value: int) -> None:
    # For a fixed x0 and many noises: mean = sqrt(ab) x0, var = 1 - ab, per coordinate.
    gen = torch.Generator().manual_seed(0)
    n = 50_000
    x0 = torch.tensor([-2.0, 0.5, 3.0]).expand(n, 3)  # (B, D)
    noise = torch.randn(n, 3, generator=gen)
    t = torch.full((n,), t_value, dtype=torch.long)
    x_t = process.q_sample(x0, t, noise)
    ab = process.alpha_bar[t_value].item()
    assert x_t.dtype == torch.float32 and x_t.shape == (n, 3)
    torch.testing.assert_close(x_t.mean(0), ab**0.5 * x0[0], atol=0.02, rtol=0)
    torch.testing.assert_close(x_t.var(0), torch.full((3,), 1 - ab), atol=0.02, rtol=0.02)


def test_q_sample_broadcasts_over_sequence_dims(process: GaussianDiffusion) -> None:
    x0 = torch.randn(4, 7, 8)  # (B, L, D)
    t = torch.tensor([0, 5, 600, 1199])
    noise = torch.randn_like(x0)
    x_t = process.q_sample(x0, t, noise)
    for b in range(4):
        ab = process.alpha_bar[t[b]].item()
        torch.testing.assert_close(x_t[b], ab**0.5 * x0[b] + (1 - ab) ** 0.5 * noise[b])


@pytest.mark.parametrize("parameterization", ["eps", "x0"])
def test_pred_x0_round_trip(parameterization: str) -> None:
    process = GaussianDiffusion.from_schedule("sqrt", 1200, parameterization)  # type: ignore[arg-type]
    x0 = torch.randn(6, 5, 4, dtype=torch.float64)
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 1, 100, 600, 1100, 1199])
    x_t = process.q_sample(x0, t, eps)
    # The network's ideal output is the training target; pred_x0 must recover x0 from it.
    target = process.training_target(x0, eps)
    assert target is (eps if parameterization == "eps" else x0)
    torch.testing.assert_close(process.pred_x0(target, x_t, t), x0)
    torch.testing.assert_close(process.pred_x0_from_eps(x_t, t, eps), x0)
    torch.testing.assert_close(process.eps_from_pred_x0(x_t, t, x0), eps)


def test_q_posterior_one_step_matches_the_beta_formula(process: GaussianDiffusion) -> None:
    # DDPM eq. 7, written from the betas: mean = beta sqrt(ab_prev)/(1-ab) x0
    # + (1-ab_prev) sqrt(1-beta)/(1-ab) x_t, var = beta (1-ab_prev)/(1-ab).
    betas = betas_for("sqrt", 1200)
    ab = torch.cumprod(1 - betas, 0)
    t = torch.tensor([0, 1, 2, 599, 1198, 1199])
    ab_t, beta = ab[t], betas[t]
    ab_prev = torch.where(t > 0, ab[(t - 1).clamp(min=0)], torch.ones_like(ab_t))
    x0 = torch.randn(6, 3, dtype=torch.float64)
    x_t = torch.randn(6, 3, dtype=torch.float64)
    mean, var = process.q_posterior(x0, x_t, t)
    exp_mean = (beta * ab_prev.sqrt() / (1 - ab_t))[:, None] * x0 + (
        (1 - ab_prev) * (1 - beta).sqrt() / (1 - ab_t)
    )[:, None] * x_t
    exp_var = (beta * (1 - ab_prev) / (1 - ab_t))[:, None]
    torch.testing.assert_close(mean, exp_mean)
    torch.testing.assert_close(var, exp_var)
    # s = -1 (clean data) is exactly x0 with no variance; t = 0 defaults to it.
    assert torch.equal(var[0], torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(mean[0], x0[0])


def test_q_posterior_any_s_is_the_posterior_of_the_marginals(process: GaussianDiffusion) -> None:
    # Check q(x_s | x_t, x0) for s < t - 1 by Monte Carlo: draw x_s ~ q(x_s|x0), then
    # x_t ~ q(x_t|x_s), and regress x_s on x_t for a fixed x0. The Gaussian conditional of
    # that joint must equal q_posterior's mean and variance.
    gen = torch.Generator().manual_seed(1)
    n, t, s = 200_000, 700, 300
    ab_t, ab_s = process.alpha_bar[t], process.alpha_bar[s]
    x0 = torch.full((n, 1), 0.8, dtype=torch.float64)
    x_s = ab_s.sqrt() * x0 + (1 - ab_s).sqrt() * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    a = ab_t / ab_s
    x_t = a.sqrt() * x_s + (1 - a).sqrt() * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    mean, var = process.q_posterior(x0, x_t, torch.full((n,), t), torch.full((n,), s))
    residual = x_s - mean
    assert abs(residual.mean().item()) < 5e-3
    assert residual.var().item() == pytest.approx(var[0].item(), rel=0.02)
    # The residual must be uncorrelated with x_t (mean is the exact conditional expectation).
    assert abs(torch.corrcoef(torch.cat([residual, x_t], 1).T)[0, 1].item()) < 0.01
    # int s is accepted and equals the tensor form.
    mean_int, _ = process.q_posterior(x0[:4], x_t[:4], torch.full((4,), t), s)
    torch.testing.assert_close(mean_int, mean[:4])


def test_q_posterior_rejects_s_not_before_t(process: GaussianDiffusion) -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="s < t"):
        process.q_posterior(x, x, torch.tensor([5, 5]), torch.tensor([4, 5]))
    with pytest.raises(ValueError, match="s < t"):
        process.q_posterior(x, x, torch.tensor([5, 5]), -2)


def test_uniform_timesteps_are_uniform_and_reproducible(process: GaussianDiffusion) -> None:
    from codefusion.diffusion.timesteps import UniformTimesteps

    sampler = UniformTimesteps(process.num_timesteps)
    t1, _ = sampler.sample(100_000, "cpu", torch.Generator().manual_seed(3))
    t2, _ = sampler.sample(100_000, "cpu", torch.Generator().manual_seed(3))
    assert torch.equal(t1, t2) and t1.dtype == torch.long
    assert t1.min().item() == 0 and t1.max().item() == 1199
    counts = torch.bincount(t1 // 300, minlength=4).double()  # quartiles of [0, T)
    assert bool(((counts / 25_000 - 1).abs() < 0.03).all())


def test_float32_inputs_get_float32_outputs(process: GaussianDiffusion) -> None:
    x0 = torch.randn(2, 4)
    t = torch.tensor([3, 1199])
    assert process.q_sample(x0, t).dtype == torch.float32
    mean, var = process.q_posterior(x0, x0, t)
    assert mean.dtype == var.dtype == torch.float32

"""The CodeFusion loss terms (paper §3.2), one function each, per example.

    L_t = ||eps_hat - eps|| + ||D_s - L(y)|| - log p(y | D_s)

Norms are mean squared errors (the paper does not say; GENIE uses MSE). Every term is averaged
over the positions where `mask` is True, so how target padding enters the loss is decided in one
place (the caller's mask; see `LossConfig.target_padding`).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """values, mask: (B, n) -> (B,) mean over the masked positions of each example."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)


def diffusion_loss(model_output: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """||eps_hat - eps||^2 (or ||x0_hat - x0||^2): (B, n, d) -> (B,)."""
    return masked_mean((model_output.float() - target.float()).pow(2).mean(-1), mask)


def decoder_loss(d_s: Tensor, x0: Tensor, mask: Tensor) -> Tensor:
    """||D_s - L(y)||^2: trains the decoder D and the embedding L. (B, n, d) -> (B,)."""
    return masked_mean((d_s.float() - x0.float()).pow(2).mean(-1), mask)


def token_ce(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """-log p(y | D_s) per token: logits (B, n, V), y (B, n) -> (B,)."""
    nll = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none")  # (B, n)
    return masked_mean(nll, mask)


def token_accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Share of masked positions whose argmax is the target token: (B,)."""
    return masked_mean((logits.argmax(-1) == y).float(), mask)


def quartile_means(per_example: Tensor, t: Tensor, num_timesteps: int) -> dict[int, Tensor]:
    """Mean of a per-example loss within each timestep quartile q in 0..3 (q=3 noisiest)."""
    q = (t * 4 // num_timesteps).clamp(max=3)
    return {i: per_example[q == i].mean() for i in range(4) if bool((q == i).any())}

"""Pre-LayerNorm transformer blocks shared by the denoiser N and the decoder D.

Each block: full (non-causal) self-attention over the code positions, cross-attention to the
encoded utterance E_s under the source padding mask, then a feed-forward layer. Attention runs
through `scaled_dot_product_attention`. The cross-attention keys and values depend only on E_s,
so they can be computed once per sampling run (`cross_kv`) and passed back in at every step.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CrossKV = list[tuple[Tensor, Tensor]]  # per block: keys, values, each (B, H, S, d_head)


class Attention(nn.Module):
    """Multi-head attention; queries from `x`, keys/values from `x` (self) or `context` (cross)."""

    def __init__(self, d_model: int, n_heads: int, d_context: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_context or d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def project_kv(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S, d_context) -> keys, values (B, H, S, d_head)."""
        k, v = self.kv(context).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None,
                kv: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """x: (B, L, D); context: (B, S, d_context) or None for self-attention;
        mask: bool (B, S), True where the key may be attended; kv: precomputed `project_kv`."""
        q = self._heads(self.q(x))
        k, v = kv if kv is not None else self.project_kv(x if context is None else context)
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, H, L, d_head)
        return self.out(y.transpose(1, 2).flatten(2))

    def _heads(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)


class Block(nn.Module):
    """Self-attention, cross-attention to E_s, feed-forward; pre-LayerNorm residuals."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, d_context: int, dropout: float) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, n_heads, dropout=dropout)
        self.norm_cross = nn.LayerNorm(d_model)
        self.cross_attn = Attention(d_model, n_heads, d_context=d_context, dropout=dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, context: Tensor, context_mask: Tensor | None,
                kv: tuple[Tensor, Tensor] | None = None) -> Tensor:
        h = h + self.drop(self.self_attn(self.norm_self(h)))
        h = h + self.drop(self.cross_attn(self.norm_cross(h), context, context_mask, kv=kv))
        return h + self.drop(self.ff(self.norm_ff(h)))


class BlockStack(nn.Module):
    """`n_layers` blocks over a sequence of `max_len` positions with learned position embeddings,
    reading and writing vectors of `d_io` (the code-embedding dimension) at width `d_model`.
    `d_in` (default `d_io`) is the width of what it reads, when that differs (self-conditioning
    reads x_t and the previous x̂0 side by side)."""

    def __init__(self, d_io: int, d_model: int, n_layers: int, n_heads: int, d_ff: int,
                 d_context: int, max_len: int, dropout: float, d_in: int | None = None) -> None:
        super().__init__()
        self.proj_in = nn.Linear(d_in or d_io, d_model)
        # Normalising the input keeps the blocks' scale sane when it is a pred_x0 recovered from
        # an eps prediction at a noisy step (up to ~1,640x the eps error with the sqrt schedule).
        self.norm_in = nn.LayerNorm(d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, d_context, dropout) for _ in range(n_layers))
        self.norm_out = nn.LayerNorm(d_model)
        self.proj_out = nn.Linear(d_model, d_io)
        # Zero-initialised output (as DiT): the decoder starts at D_s = 0, i.e. uniform logits
        # (cross-entropy ln V), and the denoiser starts predicting the mean.
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)
        self.drop = nn.Dropout(dropout)

    def cross_kv(self, context: Tensor) -> CrossKV:
        """Everything that depends only on E_s: each block's cross-attention keys and values."""
        return [block.cross_attn.project_kv(context) for block in self.blocks]

    def forward(self, x: Tensor, time_emb: Tensor | None, context: Tensor, context_mask: Tensor | None,
                kv: CrossKV | None = None) -> Tensor:
        """x: (B, n, d_io); time_emb: (B, 1, d_model) added to every position (the denoiser's
        timestep; None for the decoder)."""
        h = self.norm_in(self.proj_in(x)) + self.pos[: x.shape[1]]
        if time_emb is not None:
            h = h + time_emb
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, context, context_mask, kv=None if kv is None else kv[i])
        return self.proj_out(self.norm_out(h))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of integer timesteps t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))

"""CodeFusion's networks (paper §3): encoder E, denoiser N, decoder D, head H, embedding L.

Plain `nn.Module`s mapping tensors to tensors; they know nothing about noise, losses or
Lightning. `codefusion.factory` turns a run config into their constructor arguments.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codefusion.networks.transformer import BlockStack, CrossKV, timestep_embedding


class Denoiser(nn.Module):
    """N(x_t, t, E_s): predicts eps (or x0) for every code position.

    Full self-attention over x_t, cross-attention to E_s under the source padding mask, and a
    timestep embedding (sinusoidal -> MLP) added to every position.

    Args:
        self_condition: also read the previous x̂0 estimate beside x_t (Chen et al. 2022,
            "Analog Bits"); zeros when there is none.
        null_context: learn a context vector that stands for "no utterance" (classifier-free
            guidance; `null_context_like` hands it out in place of E_s).
    """

    def __init__(self, embed_dim: int, d_model: int, n_layers: int, n_heads: int, d_ff: int,
                 d_context: int, max_len: int, dropout: float = 0.1, self_condition: bool = False,
                 null_context: bool = False) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_context = d_context
        self.self_condition = self_condition
        self.time_mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.SiLU(), nn.Linear(4 * d_model, d_model))
        d_in = 2 * embed_dim if self_condition else embed_dim
        self.stack = BlockStack(embed_dim, d_model, n_layers, n_heads, d_ff, d_context, max_len, dropout, d_in=d_in)
        # One learned context token; N(0, 0.02) like the position embeddings.
        self.null = nn.Parameter(torch.randn(1, 1, d_context) * 0.02) if null_context else None

    def cross_kv(self, e_s: Tensor) -> CrossKV:
        return self.stack.cross_kv(e_s)

    def null_context_like(self, e_s: Tensor) -> tuple[Tensor, Tensor]:
        """The learned "no utterance" context for a batch shaped like E_s (B, S, D):
        -> context (B, 1, D) and its mask (B, 1), all True."""
        if self.null is None:
            raise RuntimeError("this denoiser was built without a null context (train.cond_dropout = 0)")
        b = e_s.shape[0]
        return self.null.to(e_s.dtype).expand(b, 1, -1), torch.ones(b, 1, dtype=torch.bool, device=e_s.device)

    def forward(self, x_t: Tensor, t: Tensor, e_s: Tensor, src_mask: Optional[Tensor],
                kv: CrossKV | None = None, self_cond: Optional[Tensor] = None) -> Tensor:
        """x_t: (B, n, embed_dim); t: (B,) long in [0, T); e_s: (B, S, d_context);
        src_mask: bool (B, S), True on real source tokens; self_cond: (B, n, embed_dim), the
        previous x̂0 (self-conditioning only; None reads zeros). Returns (B, n, embed_dim)."""
        if self.self_condition:
            x_t = torch.cat([x_t, torch.zeros_like(x_t) if self_cond is None else self_cond.to(x_t.dtype)], dim=-1)
        elif self_cond is not None:
            raise ValueError("self_cond given to a denoiser built without self-conditioning")
        temb = self.time_mlp(timestep_embedding(t, self.d_model))[:, None, :]  # (B, 1, d_model)
        return self.stack(x_t, temb, e_s, src_mask, kv)


# The denoiser reads [x_t, previous x̂0] through this one projection (`Denoiser.forward`).
SELF_CONDITION_INPUT = "denoiser.stack.proj_in.weight"


def widen_for_self_condition(source: dict[str, Tensor], own: dict[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """A denoiser trained without self-conditioning, loaded into one with it: its input projection
    (d_model, embed_dim) becomes the x_t half of the wider one (d_model, 2 embed_dim), and the
    previous-x̂0 half starts at zero. The self-conditioned denoiser then computes exactly what the
    source did, until fine-tuning teaches it to read its previous estimate (a pre-training without
    self-conditioning can start a fine-tune with it). Returns the weights and the widened names."""
    k = SELF_CONDITION_INPUT
    if k not in source or k not in own:
        return source, []
    w, target = source[k], own[k].shape
    if w.dim() != 2 or target != (w.shape[0], 2 * w.shape[1]):
        return source, []
    return {**source, k: torch.cat([w, torch.zeros_like(w)], dim=1)}, [k]


class Decoder(nn.Module):
    """D(x̂0, E_s) -> D_s: every position sees all others (and the utterance) before the head."""

    def __init__(self, embed_dim: int, d_model: int, n_layers: int, n_heads: int, d_ff: int,
                 d_context: int, max_len: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.stack = BlockStack(embed_dim, d_model, n_layers, n_heads, d_ff, d_context, max_len, dropout)

    def forward(self, x0: Tensor, e_s: Tensor, src_mask: Optional[Tensor]) -> Tensor:
        """x0: (B, n, embed_dim) -> D_s: (B, n, embed_dim)."""
        return self.stack(x0, None, e_s, src_mask)


class CodeFusion(nn.Module):
    """The five networks together, with the small glue the training and sampling code shares.

    Args:
        embed_norm: when set, every code embedding L(y) is rescaled to this L2 norm (per token), so
            the signal-to-noise ratio of x_t cannot drift as L trains (the decoder loss alone pulls
            L towards 0); None leaves L free (the paper says nothing). The tied head reads the same
            rescaled table.
        context_positions: when set, the number of learned absolute position vectors added to
            E_s (the utterance's positions, up to this length), so the denoiser's and decoder's
            cross-attention can tell the first phrase of the utterance from the second; None
            (the paper) passes the encoder's output as it is.
    """

    def __init__(self, encoder: nn.Module, denoiser: Denoiser, decoder: Decoder,
                 vocab_size: int, embed_dim: int, tie_head: bool = True, embed_norm: Optional[float] = None,
                 context_positions: Optional[int] = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.denoiser = denoiser
        self.decoder = decoder
        self.embed_norm = embed_norm
        # Unit-variance init puts x0 on the scale of the Gaussian noise (Diffusion-LM does the same).
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        nn.init.normal_(self.embedding.weight, std=1.0)
        self.head = nn.Linear(embed_dim, vocab_size, bias=not tie_head)
        if tie_head:
            self.head.weight = self.embedding.weight
        self.context_pos = (nn.Parameter(torch.randn(context_positions, denoiser.d_context) * 0.02)
                            if context_positions else None)  # N(0, 0.02), like the code positions

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        """E_s = E(s): (B, S) token ids -> (B, S, d_context), plus the learned source positions
        when the model has them."""
        e_s = self.encoder(input_ids=src_ids, attention_mask=src_mask.long()).last_hidden_state
        if self.context_pos is None:
            return e_s
        if e_s.shape[1] > self.context_pos.shape[0]:
            raise ValueError(f"utterance of {e_s.shape[1]} tokens, longer than the {self.context_pos.shape[0]} "
                             "source positions the model has (data.max_nl_len)")
        return e_s + self.context_pos[: e_s.shape[1]].to(e_s.dtype)

    def embedding_table(self) -> Tensor:
        """The vocabulary's code embeddings as x0 uses them: (V, embed_dim), rescaled to
        `embed_norm` per row when that is set."""
        w = self.embedding.weight
        if self.embed_norm is None:
            return w
        return w * (self.embed_norm / w.norm(dim=-1, keepdim=True).clamp_min(1e-6))

    def embed(self, y: Tensor) -> Tensor:
        """x0 = L(y): (B, n) -> (B, n, embed_dim)."""
        if self.embed_norm is None:
            return self.embedding(y)
        return F.embedding(y, self.embedding_table())

    def decode(self, x0: Tensor, e_s: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor]:
        """D + H: (B, n, embed_dim) -> D_s (B, n, embed_dim) and logits (B, n, vocab)."""
        d_s = self.decoder(x0, e_s, src_mask)
        if self.embed_norm is not None and self.head.weight is self.embedding.weight:
            return d_s, F.linear(d_s, self.embedding_table().to(d_s.dtype))
        return d_s, self.head(d_s)


def count_parameters(module: nn.Module) -> int:
    """Unique parameters (a tied weight counts once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def parameter_report(model: CodeFusion) -> dict[str, int]:
    """Parameters per component (and the source positions, when the model has them); the head
    shares L's weight when tied, so counts it as 0."""
    tied = model.head.weight is model.embedding.weight
    report = {
        "encoder": count_parameters(model.encoder),
        "denoiser": count_parameters(model.denoiser),
        "decoder": count_parameters(model.decoder),
        "embedding": count_parameters(model.embedding),
        "head": 0 if tied else count_parameters(model.head),
    }
    if model.context_pos is not None:
        report["context_positions"] = model.context_pos.numel()
    report["total"] = count_parameters(model)
    return report


@torch.no_grad()
def nearest_tokens(x: Tensor, embedding: Tensor) -> Tensor:
    """Nearest vocabulary embedding (L2) for every position: (B, n, d) -> (B, n) ids."""
    dist = (x.pow(2).sum(-1, keepdim=True) - 2 * x @ embedding.T + embedding.pow(2).sum(-1))
    return dist.argmin(-1)

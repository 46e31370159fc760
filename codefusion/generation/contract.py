"""What every generator returns and promises, CodeFusion's and the baselines' alike.

A `Generator` is a callable `(src_ids (B, S), src_mask (B, S), indices [B]) -> Generation`:
k candidates per input, best first, whose noise (or sampling seed) is a function of the input's
index and the generator's seed only, so the output does not depend on the batch it ran in. It
carries its tokenizer, the network it runs (`model`, moved to the device by the predict loop), a
label for the summary line and the metadata every trajectory row repeats. Loading one from a
checkpoint is `codefusion.systems.load_generator`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase


@dataclass
class TrajectoryPoint:
    """The code the model would output if sampling stopped after `step` denoising steps."""

    step: int  # denoising steps done, 1 .. steps
    t: int  # the original diffusion timestep the denoiser saw at that step
    tokens: Tensor  # (B, k, n) tokens decoded from x̂0, candidates in the final rank order
    pred_x0: Optional[Tensor] = None  # (B, k, n, d) x̂0 itself, when asked for (keep_tensors)
    # (B, k, n) tokens decoded from the chain's state after the step, x_t itself (what the paper's
    # Figures 2-5 most likely decode: their curves start from pure noise); the output at the last step
    state_tokens: Optional[Tensor] = None


@dataclass
class Generation:
    tokens: Tensor  # (B, k, n) token ids, candidates ranked best first
    score: Tensor  # (B, k) mean token log-probability up to and including the first </s>
    trajectory: list[TrajectoryPoint] = field(default_factory=list)
    steps: int = 0  # denoising steps run (0 for autoregressive decoding)
    loop_seconds: float = 0.0  # wall time of the denoising loop, trajectory decoding excluded


class Generator(ABC):
    """k ranked candidates per input; see the module docstring for the contract.

    Args:
        model: the network the call runs (the predict loop moves it to the device).
        tokenizer: decodes the returned tokens.
        num_candidates: k.
        label: how the summary line names the decoding ("ddpm 200 steps", "seq2seq beam search ...").
        meta: fields copied into every trajectory row and the output's metadata.
        max_nl_len: the utterance length (tokens, with </s>) the model was trained on; inputs
            are encoded to at most that (`codefusion.data.examples.encode_utterances`).
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, num_candidates: int, label: str,
                 meta: dict[str, Any], max_nl_len: int) -> None:
        self.model, self.tokenizer, self.num_candidates, self.label, self.meta = model, tokenizer, num_candidates, label, meta
        self.max_nl_len = max_nl_len

    @abstractmethod
    def __call__(self, src_ids: Tensor, src_mask: Tensor, indices: list[int]) -> Generation:
        """(B, S) utterances, their input indices -> `Generation` with k = num_candidates."""


def rank_order(score: Tensor) -> Tensor:
    """(B, k) scores -> (B, k) candidate order, best first, ties in candidate order."""
    return score.argsort(dim=1, descending=True, stable=True)


def in_order(x: Tensor, order: Tensor) -> Tensor:
    """(B, k, ...) -> the same with the candidates of each input in `order` (B, k)."""
    return x.gather(1, order.view(*order.shape, *[1] * (x.dim() - 2)).expand_as(x))


def decode_code(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> str:
    """Token ids -> code, cut at the first </s> or <pad> (paper: cut at the first pad)."""
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, tok in enumerate(ids) if tok in stop), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True).strip()

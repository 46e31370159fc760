"""Generating code with a CodeFusion model: encode once, denoise k noises per input, decode.

Shared by validation decoding, the end-of-training evaluation in train.py, and sample.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from codefusion.diffusion import GaussianDiffusion, get_sampler, sample
from codefusion.networks.codefusion import CodeFusion


@dataclass
class Generation:
    tokens: Tensor  # (B, k, n) argmax token ids
    score: Tensor  # (B, k) mean token log-probability up to and including the first </s>


@torch.no_grad()
def generate(model: CodeFusion, process: GaussianDiffusion, src_ids: Tensor, src_mask: Tensor,
             max_code_len: int, eos_id: int, num_candidates: int = 1, steps: int | None = None,
             sampler: str = "ddpm", generator: torch.Generator | None = None,
             unconditional: bool = False) -> Generation:
    """Denoise `num_candidates` independent noises per input, all in one batch.

    src_ids, src_mask: (B, S). The encoder and the denoiser's cross-attention keys/values run
    once, outside the denoising loop. `unconditional` (the pre-training task): E_s is replaced by
    Gaussian noise of the same shape, resampled at every denoising step (and for the decoder).
    """
    b, k = src_ids.shape[0], num_candidates
    e_s = model.encode(src_ids, src_mask).repeat_interleave(k, dim=0)  # (B*k, S, D)
    mask = src_mask.repeat_interleave(k, dim=0)

    def noise_like_e_s() -> Tensor:
        return torch.randn(e_s.shape, generator=generator, device=e_s.device, dtype=e_s.dtype)

    if unconditional:
        def model_fn(x_t: Tensor, t: Tensor) -> Tensor:
            return model.denoiser(x_t, t, noise_like_e_s(), mask)
    else:
        kv = model.denoiser.cross_kv(e_s)

        def model_fn(x_t: Tensor, t: Tensor) -> Tensor:
            return model.denoiser(x_t, t, e_s, mask, kv=kv)

    smp = get_sampler(sampler, process)
    smp.set_timesteps(steps or process.num_timesteps)
    dim = model.embedding.embedding_dim
    x_T = torch.randn((b * k, max_code_len, dim), generator=generator, device=src_ids.device)
    x0 = sample(model_fn, smp, x_T, generator=generator)
    _, logits = model.logits(x0, noise_like_e_s() if unconditional else e_s, mask)
    logp = logits.float().log_softmax(-1)
    tokens = logp.argmax(-1)  # (B*k, n)
    tok_logp = logp.gather(-1, tokens[..., None]).squeeze(-1)
    ends = _first_eos(tokens, eos_id)
    keep = torch.arange(tokens.shape[1], device=tokens.device)[None] <= ends[:, None]
    score = (tok_logp * keep).sum(-1) / keep.sum(-1)
    # Rank candidates best first by score.
    score, tokens = score.view(b, k), tokens.view(b, k, -1)
    order = score.argsort(dim=1, descending=True)
    return Generation(tokens.gather(1, order[..., None].expand_as(tokens)), score.gather(1, order))


def _first_eos(tokens: Tensor, eos_id: int) -> Tensor:
    """Index of the first </s> per row, or the last position when there is none."""
    is_eos = tokens == eos_id
    return torch.where(is_eos.any(-1), is_eos.int().argmax(-1), torch.full_like(tokens[:, 0], tokens.shape[1] - 1))


def decode_code(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> str:
    """Token ids -> code, cut at the first </s> or <pad> (paper: cut at the first pad)."""
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, tok in enumerate(ids) if tok in stop), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True).strip()


def load_for_generation(path: str, weights: str = "ema", device: str = "cpu"):
    """Rebuild (config, model, process, tokenizer) from a checkpoint alone; EMA weights by default.

    Returns a tuple (Config, CodeFusion in eval mode, GaussianDiffusion, tokenizer)."""
    from codefusion.checkpoint import CheckpointError, load_checkpoint
    from codefusion.config import from_dict
    from codefusion.data.tokenizer import tokenizer_from_json
    from codefusion.factory import build_model, build_process

    ckpt = load_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    cfg = from_dict(hp["config"])
    cfg.model.encoder_name_or_path = None  # the weights come from the checkpoint, not the hub
    model = build_model(cfg, hp["vocab_size"])
    if weights == "ema":
        state = ckpt["ema"]["weights"]
    else:
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    names = {n for n, _ in model.named_parameters()}
    missing = names - set(state)
    if missing:
        raise CheckpointError(f"{path}: {len(missing)} model weights missing, e.g. {sorted(missing)[0]}")
    model.load_state_dict(state, strict=False)
    tok = tokenizer_from_json(ckpt["codefusion"]["tokenizer_json"])
    return cfg, model.to(device).eval(), build_process(cfg), tok

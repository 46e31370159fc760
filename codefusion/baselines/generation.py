"""Decoding the autoregressive baselines into k ranked candidates, and loading them from a checkpoint.

    cfg, model, tok = load_baseline_for_generation("runs/t5/checkpoints/last.ckpt")
    out = generate_baseline(model, cfg.baseline.arch, src_ids, src_mask, **decoding_options(cfg),
                            eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, seed=0)
    codes = [decode_code(tok, out.tokens[0, j].tolist()) for j in range(out.tokens.shape[1])]

`src_ids`/`src_mask` are what the data module and sample.py build for CodeFusion (utterance
tokens, </s>, right padding). The result is CodeFusion's `Generation`, so everything downstream
(predictions files, evaluation) is shared. Modes: beam search (default, the paper's: 5 beams,
top-5), temperature / nucleus sampling, and diverse (group) beam search.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from codefusion.baselines.diverse_beam import CausalStepper, Seq2SeqStepper, diverse_beam_search
from codefusion.baselines.networks import left_pad
from codefusion.config import Config
from codefusion.generation import Generation, decode_code

if TYPE_CHECKING:
    from codefusion.pretrained import ModelFiles

__all__ = ["Generation", "decode_code", "decoding_options", "generate_baseline", "is_baseline_config",
           "load_baseline_for_generation"]


def is_baseline_config(cfg: Config) -> bool:
    """True when the run trains (or the checkpoint holds) an autoregressive baseline."""
    return cfg.baseline.arch != "none"


def decoding_options(cfg: Config, **overrides: Any) -> dict[str, Any]:
    """The config's decoding settings as `generate_baseline` keyword arguments (overrides win)."""
    b = cfg.baseline
    opts = dict(num_candidates=b.num_candidates, num_beams=b.num_beams, do_sample=b.do_sample,
                temperature=b.temperature, top_p=b.top_p, num_beam_groups=b.num_beam_groups,
                diversity_penalty=b.diversity_penalty, max_new_tokens=b.max_new_tokens or cfg.data.max_code_len)
    return {**opts, **overrides}


@torch.no_grad()
def generate_baseline(model: PreTrainedModel, arch: str, src_ids: Tensor, src_mask: Tensor, *, num_candidates: int,
                      num_beams: int = 5, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                      num_beam_groups: int = 1, diversity_penalty: float = 0.0, max_new_tokens: int = 128,
                      eos_id: int, pad_id: int, seed: Optional[int] = None,
                      generator: Optional[torch.Generator] = None) -> Generation:
    """k = num_candidates code candidates per input, best first.

    src_ids, src_mask: (B, S), right-padded utterances ending in </s>. Returns tokens (B, k, n),
    n = max_new_tokens, the code only (no decoder start, no prompt), <pad> after the first </s>;
    score (B, k): the mean token log-probability under the model (untempered) up to and including
    the first </s> (for beams, Hugging Face's sequence score with length_penalty 1). Sampling draws
    from `seed` (else a seed drawn from `generator`, else 0), leaving the global random state as
    it was. num_beams=1 without sampling is greedy decoding.
    """
    if arch not in ("seq2seq", "causal_lm"):
        raise ValueError(f"arch must be seq2seq or causal_lm, got {arch!r}")
    if not do_sample and num_candidates > num_beams:
        raise ValueError(f"num_candidates={num_candidates} exceeds num_beams={num_beams}")
    if num_beams % num_beam_groups:
        raise ValueError(f"num_beams={num_beams} is not divisible by num_beam_groups={num_beam_groups}")
    b, k = src_ids.shape[0], num_candidates
    limit = getattr(model.config, "n_positions", None) if arch == "causal_lm" else None
    if limit is not None and src_ids.shape[1] + max_new_tokens > limit:
        raise ValueError(f"prompt of {src_ids.shape[1]} + max_new_tokens={max_new_tokens} tokens exceeds "
                         f"the model's {limit} positions")
    if num_beam_groups > 1 and not do_sample:
        stepper = (Seq2SeqStepper if arch == "seq2seq" else CausalStepper)(model, src_ids, src_mask, num_beams)
        tokens, score = diverse_beam_search(stepper, b, num_beams, num_beam_groups, diversity_penalty,
                                            max_new_tokens, eos_id, pad_id)
        return Generation(tokens[:, :k], score[:, :k])

    if arch == "causal_lm":
        inputs = dict(zip(("input_ids", "attention_mask"), left_pad(src_ids, src_mask)))
    else:
        inputs = {"input_ids": src_ids, "attention_mask": src_mask}
    prompt_len = 1 if arch == "seq2seq" else src_ids.shape[1]  # decoder start, or the prompt
    common = dict(max_new_tokens=max_new_tokens, num_return_sequences=k, eos_token_id=eos_id, pad_token_id=pad_id,
                  return_dict_in_generate=True, min_length=0, repetition_penalty=1.0, no_repeat_ngram_size=0)
    if do_sample or num_beams == 1:  # sampling, or greedy decoding
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)) if generator else 0
        devices = [src_ids.device] if src_ids.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            sampling = dict(temperature=temperature, top_p=top_p, top_k=0) if do_sample else {}
            out = model.generate(**inputs, **common, do_sample=do_sample, num_beams=1, output_logits=True, **sampling)
        seqs = out.sequences[:, prompt_len:]
        logp = torch.stack([lg.float().log_softmax(-1).gather(-1, seqs[:, i : i + 1]).squeeze(-1)
                            for i, lg in enumerate(out.logits)], dim=1)  # (B*k, T), untempered
        keep = _upto_first_eos(seqs, eos_id)
        score = (logp * keep).sum(-1) / keep.sum(-1).clamp_min(1)
    else:  # Hugging Face's sequence score with length_penalty 1 is the same mean
        out = model.generate(**inputs, **common, do_sample=False, num_beams=num_beams, length_penalty=1.0,
                             early_stopping=False, output_scores=True)
        seqs, score = out.sequences[:, prompt_len:], out.sequences_scores.float()
    tokens = torch.full((b * k, max_new_tokens), pad_id, dtype=torch.long, device=seqs.device)
    tokens[:, : seqs.shape[1]] = torch.where(_upto_first_eos(seqs, eos_id), seqs, pad_id)
    tokens, score = tokens.view(b, k, -1), score.view(b, k)
    order = score.argsort(dim=1, descending=True, stable=True)
    return Generation(tokens.gather(1, order[..., None].expand_as(tokens)), score.gather(1, order))


def _upto_first_eos(seqs: Tensor, eos_id: int) -> Tensor:
    """(N, T) bool: positions up to and including the first </s> (all when there is none)."""
    is_eos = (seqs == eos_id).long()
    return (is_eos.cumsum(1) - is_eos) == 0


def load_baseline_for_generation(path: str, weights: str = "ema", device: str = "cpu",
                                 files: Optional["ModelFiles"] = None
                                 ) -> tuple[Config, PreTrainedModel, PreTrainedTokenizerBase]:
    """Rebuild (config, model in eval mode, tokenizer) from a baseline `.ckpt` or exported
    directory (or a Hub id of one) alone; EMA weights by default (`weights="raw"`: the trained
    weights). CheckpointError on any problem. `files`: what `load_model_files(path, weights)`
    already returned, e.g. after checking `is_baseline_config` on its config; `path` then only
    names it in errors."""
    from codefusion.baselines.networks import model_from_config_json
    from codefusion.checkpoint import CheckpointError
    from codefusion.pretrained import load_model_files

    files = files if files is not None else load_model_files(path, weights)
    cfg, tok = files.config, files.tokenizer
    if not is_baseline_config(cfg):
        raise CheckpointError(f"{path} is a CodeFusion checkpoint, not a baseline (load it with load_for_generation)")
    try:  # the weights come from the checkpoint, never from the hub
        model = model_from_config_json(cfg.baseline.arch, files.model_config_json or "", files.pad_id, files.eos_id)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot rebuild the baseline ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    state = files.weights
    missing = {n for n, _ in model.named_parameters()} - set(state)
    if missing:
        raise CheckpointError(f"{path}: {len(missing)} model weights missing, e.g. {sorted(missing)[0]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {str(e).splitlines()[0]}") from None
    return cfg, model.to(device).eval(), tok

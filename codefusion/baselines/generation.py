"""Decoding the autoregressive baselines into k ranked candidates (the `Generator` contract).

    cfg, model = load_baseline(load_model_files("runs/t5/checkpoints/last.ckpt"))
    out = generate_baseline(model, cfg.system, src_ids, src_mask, **decoding_options(cfg),
                            eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, seed=0)

`src_ids`/`src_mask` are what the data module and sample.py build for CodeFusion (utterance
tokens, </s>, right padding). The result is the shared `Generation`, so everything downstream
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
from codefusion.data.tokenizer import upto_first_eos
from codefusion.diffusion import stable_seed
from codefusion.generation.contract import Generation, Generator, in_order, rank_order

if TYPE_CHECKING:
    from codefusion.pretrained import ModelFiles


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
        keep = upto_first_eos(seqs, eos_id)
        score = (logp * keep).sum(-1) / keep.sum(-1).clamp_min(1)
    else:  # Hugging Face's sequence score with length_penalty 1 is the same mean
        out = model.generate(**inputs, **common, do_sample=False, num_beams=num_beams, length_penalty=1.0,
                             early_stopping=False, output_scores=True)
        seqs, score = out.sequences[:, prompt_len:], out.sequences_scores.float()
    tokens = torch.full((b * k, max_new_tokens), pad_id, dtype=torch.long, device=seqs.device)
    tokens[:, : seqs.shape[1]] = torch.where(upto_first_eos(seqs, eos_id), seqs, pad_id)
    tokens, score = tokens.view(b, k, -1), score.view(b, k)
    order = rank_order(score)
    return Generation(in_order(tokens, order), score.gather(1, order))


class BaselineGenerator(Generator):
    """The `Generator` contract for a baseline: its decoding settings fixed; sampling draws from
    a seed of (seed, the batch's first input index), so a batch's output is deterministic."""

    def __init__(self, model: PreTrainedModel, arch: str, tokenizer: PreTrainedTokenizerBase,
                 decoding: dict[str, Any], seed: int, meta: dict[str, Any], max_nl_len: int) -> None:
        groups = decoding["num_beam_groups"]
        how = ("sampling" if decoding["do_sample"] else
               f"beam search ({decoding['num_beams']} beams{f', {groups} groups' if groups > 1 else ''})")
        super().__init__(model, tokenizer, decoding["num_candidates"], f"{arch} {how}", meta, max_nl_len)
        self.arch, self.decoding, self.seed = arch, decoding, seed

    def __call__(self, src_ids: Tensor, src_mask: Tensor, indices: list[int]) -> Generation:
        tok = self.tokenizer
        return generate_baseline(self.model, self.arch, src_ids, src_mask, **self.decoding, eos_id=tok.eos_token_id,
                                 pad_id=tok.pad_token_id, seed=stable_seed(self.seed, indices[0]))


def load_baseline(files: ModelFiles, path: str = "", device: str = "cpu") -> tuple[Config, PreTrainedModel]:
    """(config, model in eval mode on `device`) from what `load_model_files` returned for a
    baseline checkpoint (the transformers config travels inside it: no hub access).
    CheckpointError naming `path` on any problem."""
    from codefusion.baselines.networks import model_from_config_json
    from codefusion.checkpoint import CheckpointError
    from codefusion.factory import load_weights

    cfg = files.config
    try:  # the weights come from the checkpoint, never from the hub
        model = model_from_config_json(cfg.system, files.model_config_json or "", files.pad_id, files.eos_id)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot rebuild the baseline ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    load_weights(model, files.weights, path)
    return cfg, model.to(device).eval()

"""Generating code with a CodeFusion model: encode once, denoise k noises per input, decode, rank.

    generator = CodeFusionGenerator(model, process, cfg.data.max_code_len, tok.eos_token_id)
    gen = generator(src_ids, src_mask, SamplingOptions(num_candidates=5, sampler="ddim", steps=50),
                    noise_keys=indices, seed=0)

Shared by validation decoding, the end-of-training evaluation, sample.py (through
`CodeFusionSampling`, the `Generator` contract), codefusion.diagnose and the notebook API.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from codefusion.data.tokenizer import upto_first_eos
from codefusion.diffusion import GaussianDiffusion, RowNoise, check_sampler, check_steps, get_sampler, sample_loop
from codefusion.diffusion.noise import Noise, randn
from codefusion.generation.contract import Generation, Generator, TrajectoryPoint, in_order, rank_order
from codefusion.generation.options import OptionsError
from codefusion.networks.codefusion import CodeFusion, nearest_tokens

if TYPE_CHECKING:
    from codefusion.config import Config
    from codefusion.pretrained import ModelFiles

DecodeMode = Literal["decoder", "grounding"]
DECODE_MODES = ("decoder", "grounding")


@dataclass(frozen=True)
class SamplingOptions:
    """How one call of `CodeFusionGenerator` samples (every field a plain value)."""

    num_candidates: int = 1  # k independent noises per input, ranked best first
    sampler: str = "ddpm"  # ddpm | ddim | dpm_solver++ (codefusion.diffusion.SAMPLERS)
    steps: Optional[int] = None  # denoising steps; None: the model's T (the paper's 1200)
    decode: DecodeMode = "decoder"  # D + H (the paper), or grounding: nearest vocabulary embedding
    clamp_from: Optional[int] = None  # snap x̂0 to the vocabulary from this step (1-based); None: never
    record_every: int = 0  # decode x̂0 and the state x_t into a TrajectoryPoint every M steps and at the last
    keep_tensors: bool = False  # with record_every: keep x̂0 itself in each point
    unconditional: bool = False  # E_s replaced by Gaussian noise, resampled every step
    guidance: float = 1.0  # classifier-free guidance w (1: the conditional prediction alone)

    def check(self, num_timesteps: int) -> int:
        """OptionsError (a ValueError) naming the first option that does not fit a T-step model;
        returns the steps."""
        steps = self.steps or num_timesteps
        try:
            check_steps(steps, num_timesteps)
            check_sampler(self.sampler)
        except ValueError as e:
            raise OptionsError(str(e)) from None
        if self.num_candidates < 1:
            raise OptionsError(f"num_candidates={self.num_candidates} must be >= 1")
        if self.decode not in DECODE_MODES:
            raise OptionsError(f"decode={self.decode} must be one of {', '.join(DECODE_MODES)}")
        if self.record_every < 0:
            raise OptionsError(f"record_every={self.record_every} must be >= 0")
        if self.record_every > steps:
            raise OptionsError(f"record_every={self.record_every} is larger than steps={steps}")
        if self.clamp_from is not None and self.clamp_from < 1:
            raise OptionsError(f"clamp_from must be >= 1 (a denoising step, 1-based), got {self.clamp_from}")
        if self.clamp_from is not None and self.clamp_from > steps:
            raise OptionsError(f"clamp_from={self.clamp_from} is larger than steps={steps}")
        if self.guidance != 1.0 and self.unconditional:
            raise OptionsError("guidance needs an utterance; it does not apply to unconditional generation")
        return steps


class CodeFusionGenerator:
    """Encode once, denoise k noises per input in one batch, decode, rank. Built once per model;
    each call takes its `SamplingOptions`.

    Args:
        model: CodeFusion in eval mode.
        process: its diffusion process.
        max_len: n, the code length the model was trained on (`data.max_code_len`).
        eos_id: the tokenizer's </s>, where a candidate's score stops.
    """

    def __init__(self, model: CodeFusion, process: GaussianDiffusion, max_len: int, eos_id: int) -> None:
        self.model, self.process, self.max_len, self.eos_id = model, process, max_len, eos_id

    @torch.no_grad()
    def __call__(self, src_ids: Tensor, src_mask: Tensor, options: SamplingOptions = SamplingOptions(), *,
                 noise_keys: Optional[Sequence[int]] = None, seed: int = 0, candidates: Optional[Sequence[int]] = None,
                 generator: Optional[torch.Generator] = None) -> Generation:
        """src_ids, src_mask: (B, S) -> `Generation` of k = options.num_candidates per input.

        Noise: with `noise_keys` (one integer per input, e.g. its index in the input file) every
        (input, candidate) row draws from its own stream seeded by (seed, key, candidate), so a
        candidate's code does not depend on the batch it is in (`candidates` picks which
        candidate numbers to run, default 0..k-1); otherwise all rows share `generator`.
        The encoder and the denoiser's cross-attention keys/values run once, outside the loop.
        Recording a trajectory draws no random numbers, so it never changes the samples."""
        o, model, process = options, self.model, self.process
        n_steps = o.check(process.num_timesteps)
        b = src_ids.shape[0]
        cand = list(candidates) if candidates is not None else list(range(o.num_candidates))
        k, device = len(cand), src_ids.device
        noise: Noise = RowNoise([(key, c) for key in noise_keys for c in cand], seed, device) if noise_keys is not None else generator
        e_s = model.encode(src_ids, src_mask).repeat_interleave(k, dim=0)  # (B*k, S, D)
        mask = src_mask.repeat_interleave(k, dim=0)
        x_T = randn((b * k, self.max_len, model.embedding.embedding_dim), noise, device=device)
        context = [e_s]  # the E_s the denoiser saw at the current step (fresh noise when unconditional)
        model_fn = self._model_fn(e_s, mask, context, noise, o)

        smp = get_sampler(o.sampler, process)
        smp.set_timesteps(n_steps)
        clamp = clamp_to_vocabulary(model.embedding_table(), o.clamp_from) if o.clamp_from is not None else None
        recorded: list[tuple[int, int, Tensor, Optional[Tensor], Tensor]] = []
        start, recording = time.perf_counter(), 0.0
        for rec in sample_loop(model_fn, smp, x_T, generator=noise, pred_x0_fn=clamp):
            step = rec.index + 1
            if o.record_every and step % o.record_every == 0 and step < n_steps:
                t0 = time.perf_counter()
                recorded.append((step, rec.t, self._token_logp(rec.pred_x0, context[0], mask, o.decode).argmax(-1),
                                 rec.pred_x0.float().clone() if o.keep_tensors else None,
                                 self._token_logp(rec.x_s, context[0], mask, o.decode).argmax(-1)))
                recording += time.perf_counter() - t0
            x0 = rec.x_s
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        loop_seconds = time.perf_counter() - start - recording
        ctx = randn(e_s.shape, noise, dtype=e_s.dtype, device=device) if o.unconditional else e_s
        logp = self._token_logp(x0, ctx, mask, o.decode)
        tokens = logp.argmax(-1)  # (B*k, n)
        if o.record_every:  # the last step is always recorded: it is the output itself
            recorded.append((n_steps, int(smp.timesteps[-1]), tokens, x0.float().clone() if o.keep_tensors else None, tokens))
        tok_logp = logp.gather(-1, tokens[..., None]).squeeze(-1)
        keep = upto_first_eos(tokens, self.eos_id)
        score = ((tok_logp * keep).sum(-1) / keep.sum(-1)).view(b, k)
        order = rank_order(score)

        def ranked(x: Tensor) -> Tensor:  # (B*k, ...) -> (B, k, ...) best first
            return in_order(x.reshape(b, k, *x.shape[1:]), order)

        trajectory = [TrajectoryPoint(s, t, ranked(tk), ranked(px) if px is not None else None, ranked(st))
                      for s, t, tk, px, st in recorded]
        return Generation(ranked(tokens), score.gather(1, order), trajectory, n_steps, loop_seconds)

    def _model_fn(self, e_s: Tensor, mask: Tensor, context: list[Tensor], noise: Noise,
                  o: SamplingOptions) -> Callable[[Tensor, Tensor], Tensor]:
        """The denoiser as the samplers call it, (x_t, t) -> its output: conditioned on E_s (or on
        fresh noise when unconditional), extrapolated from the learned null context with guidance
        w, u + w (c - u) (a second call), and fed the previous step's x̂0 when self-conditioned
        (zeros at the first step). Draws no random numbers except the unconditional context."""
        model, process, device = self.model, self.process, e_s.device
        null, null_mask = model.denoiser.null_context_like(e_s) if o.guidance != 1.0 else (None, None)
        null_kv = model.denoiser.cross_kv(null) if null is not None else None
        kv = None if o.unconditional else model.denoiser.cross_kv(e_s)
        self_conditioned = bool(getattr(model.denoiser, "self_condition", False))
        previous: list[Optional[Tensor]] = [None]  # the last step's x̂0, for a self-conditioned denoiser

        def model_fn(x_t: Tensor, t: Tensor) -> Tensor:
            if o.unconditional:
                context[0] = randn(e_s.shape, noise, dtype=e_s.dtype, device=device)
            extra = {"self_cond": previous[0]} if self_conditioned else {}
            out = model.denoiser(x_t, t, context[0], mask, kv=kv, **extra)
            if null is not None:
                uncond = model.denoiser(x_t, t, null, null_mask, kv=null_kv, **extra)
                out = uncond + o.guidance * (out - uncond)
            if self_conditioned:
                previous[0] = process.pred_x0(out, x_t, t)
            return out

        return model_fn

    def _token_logp(self, x0: Tensor, ctx: Tensor, mask: Tensor, decode: DecodeMode) -> Tensor:
        """(N, n, d) -> (N, n, V) token log-probabilities: D + H, or grounding."""
        if decode == "grounding":
            return grounding_logp(x0, self.model.embedding_table())
        return self.model.decode(x0, ctx, mask)[1].float().log_softmax(-1)


def grounding_logp(x: Tensor, weight: Tensor) -> Tensor:
    """Log-softmax over negative squared distances to every vocabulary embedding: (N, n, d) -> (N, n, V).
    Its argmax is the nearest embedding (the paper's "grounding" ablation)."""
    x, weight = x.float(), weight.float()
    dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ weight.T + weight.pow(2).sum(-1)
    return (-dist).log_softmax(-1)


def clamp_to_vocabulary(weight: Tensor, clamp_from: int) -> Callable[[Tensor], Tensor]:
    """A `pred_x0_fn` that, from the `clamp_from`-th call (denoising step) on, replaces x̂0 by its
    nearest vocabulary embeddings. Called once per step by the sampler."""
    calls = [0]  # clamp_from >= 1 is checked with the other options (SamplingOptions.check)

    def clamp(x0: Tensor) -> Tensor:
        calls[0] += 1
        if calls[0] < clamp_from:
            return x0
        return weight[nearest_tokens(x0, weight)].to(x0.dtype)

    return clamp


class CodeFusionSampling(Generator):
    """The `Generator` contract for CodeFusion: a `CodeFusionGenerator` with fixed options and
    seed; each (input index, candidate) draws its noise from its own stream."""

    def __init__(self, generator: CodeFusionGenerator, tokenizer: PreTrainedTokenizerBase, options: SamplingOptions,
                 seed: int, meta: dict[str, object], max_nl_len: int) -> None:
        steps = options.check(generator.process.num_timesteps)
        label = f"{options.sampler} {steps} steps" + (f", guidance {options.guidance:g}" if options.guidance != 1.0 else "")
        super().__init__(generator.model, tokenizer, options.num_candidates, label, meta, max_nl_len)
        self.generator, self.options, self.seed = generator, options, seed

    def __call__(self, src_ids: Tensor, src_mask: Tensor, indices: list[int]) -> Generation:
        return self.generator(src_ids, src_mask, self.options, noise_keys=indices, seed=self.seed)


def load_codefusion(files: ModelFiles, path: str = "", device: str = "cpu") -> tuple[Config, CodeFusionGenerator]:
    """(config, `CodeFusionGenerator` in eval mode on `device`) from what `load_model_files`
    returned for a CodeFusion checkpoint; `path` names it in errors."""
    from codefusion.factory import build_model, build_process, load_weights

    cfg = copy.deepcopy(files.config)
    cfg.model.encoder_name_or_path = None  # the weights come from the checkpoint, not the hub
    model = build_model(cfg, files.vocab_size)
    load_weights(model, files.weights, path)
    model = model.to(device).eval()
    return cfg, CodeFusionGenerator(model, build_process(cfg), cfg.data.max_code_len, files.tokenizer.eos_token_id)

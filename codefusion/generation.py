"""Generating code with a CodeFusion model: encode once, denoise k noises per input, decode.

Shared by validation decoding, the end-of-training evaluation in train.py, and sample.py.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal, Optional, Sequence

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from codefusion.diffusion import GaussianDiffusion, RowNoise, get_sampler, sample_loop
from codefusion.diffusion.noise import Noise, randn
from codefusion.networks.codefusion import CodeFusion, nearest_tokens

if TYPE_CHECKING:
    from codefusion.pretrained import ModelFiles

DecodeMode = Literal["decoder", "grounding"]
DECODE_MODES = ("decoder", "grounding")


@dataclass
class TrajectoryPoint:
    """The code the model would output if sampling stopped after `step` denoising steps."""

    step: int  # denoising steps done, 1 .. steps
    t: int  # the original diffusion timestep the denoiser saw at that step
    tokens: Tensor  # (B, k, n) tokens decoded from x̂0, candidates in the final rank order
    pred_x0: Optional[Tensor] = None  # (B, k, n, d) x̂0 itself, when asked for (keep_tensors)


@dataclass
class Generation:
    tokens: Tensor  # (B, k, n) argmax token ids, candidates ranked best first
    score: Tensor  # (B, k) mean token log-probability up to and including the first </s>
    trajectory: list[TrajectoryPoint] = field(default_factory=list)
    steps: int = 0  # denoising steps run
    loop_seconds: float = 0.0  # wall time of the denoising loop, trajectory decoding excluded


@torch.no_grad()
def generate(model: CodeFusion, process: GaussianDiffusion, src_ids: Tensor, src_mask: Tensor,
             max_code_len: int, eos_id: int, num_candidates: int = 1, steps: int | None = None,
             sampler: str = "ddpm", generator: torch.Generator | None = None,
             unconditional: bool = False, *, noise_keys: Optional[Sequence[int]] = None, seed: int = 0,
             candidates: Optional[Sequence[int]] = None, decode: DecodeMode = "decoder",
             clamp_from: Optional[int] = None, record_every: int = 0, keep_tensors: bool = False,
             guidance: float = 1.0) -> Generation:
    """Denoise `num_candidates` independent noises per input, all in one batch, and rank them.

    src_ids, src_mask: (B, S). The encoder and the denoiser's cross-attention keys/values run
    once, outside the denoising loop.

    Noise: with `noise_keys` (one integer per input, e.g. its index in the input file) every
    (input, candidate) row draws from its own stream seeded by (seed, key, candidate), so a
    candidate's code does not depend on the batch it is in (`candidates` picks which candidate
    numbers to run, default 0..k-1); otherwise all rows share `generator`.
    `unconditional` (the pre-training task): E_s is replaced by Gaussian noise of the same shape,
    resampled at every denoising step (and for the decoder).
    `decode`: "decoder" (D + H, the paper) or "grounding" (no D/H: each position becomes its
    nearest vocabulary embedding; log-probabilities are a softmax over negative squared distances).
    `clamp_from`: from this denoising step on (1-based), x̂0 is replaced by its nearest vocabulary
    embeddings before the sampler uses it (Diffusion-LM's clamping); None never clamps.
    `record_every`: every that many steps, and at the last, decode x̂0 into a `TrajectoryPoint`.
    Recording draws no random numbers, so it never changes the samples.
    `guidance` (classifier-free guidance, w): the denoiser's output is extrapolated from its
    prediction under the learned null context towards the conditional one, u + w (c - u); 1 is
    the conditional prediction alone (one denoiser call per step), w > 1 costs a second call.
    A self-conditioned denoiser reads, at every step, the x̂0 of the step before (zeros at the
    first): every sampler gets this through `model_fn`, and it draws no random numbers.
    """
    b = src_ids.shape[0]
    cand = list(candidates) if candidates is not None else list(range(num_candidates))
    k, device = len(cand), src_ids.device
    noise: Noise = RowNoise([(key, c) for key in noise_keys for c in cand], seed, device) if noise_keys is not None else generator
    e_s = model.encode(src_ids, src_mask).repeat_interleave(k, dim=0)  # (B*k, S, D)
    mask = src_mask.repeat_interleave(k, dim=0)
    dim = model.embedding.embedding_dim
    x_T = randn((b * k, max_code_len, dim), noise, device=device)
    context = [e_s]  # the E_s the denoiser saw at the current step (fresh noise when unconditional)
    if guidance != 1.0 and unconditional:
        raise ValueError("guidance needs an utterance; it does not apply to unconditional generation")
    null, null_mask = model.denoiser.null_context_like(e_s) if guidance != 1.0 else (None, None)
    null_kv = model.denoiser.cross_kv(null) if null is not None else None
    kv = None if unconditional else model.denoiser.cross_kv(e_s)
    self_conditioned = bool(getattr(model.denoiser, "self_condition", False))
    previous: list[Optional[Tensor]] = [None]  # the last step's x̂0, for a self-conditioned denoiser

    def model_fn(x_t: Tensor, t: Tensor) -> Tensor:
        if unconditional:
            context[0] = randn(e_s.shape, noise, dtype=e_s.dtype, device=device)
        extra = {"self_cond": previous[0]} if self_conditioned else {}
        out = model.denoiser(x_t, t, context[0], mask, kv=kv, **extra)
        if null is not None:
            uncond = model.denoiser(x_t, t, null, null_mask, kv=null_kv, **extra)
            out = uncond + guidance * (out - uncond)
        if self_conditioned:
            previous[0] = process.pred_x0(out, x_t, t)
        return out

    def token_logp(x0: Tensor, ctx: Tensor) -> Tensor:
        if decode == "grounding":
            return grounding_logp(x0, model.embedding_table())
        return model.logits(x0, ctx, mask)[1].float().log_softmax(-1)

    smp = get_sampler(sampler, process)
    smp.set_timesteps(steps or process.num_timesteps)
    n_steps = len(smp.timesteps)
    clamp = clamp_to_vocabulary(model.embedding_table(), clamp_from) if clamp_from is not None else None
    recorded: list[tuple[int, int, Tensor, Optional[Tensor]]] = []
    start, recording = time.perf_counter(), 0.0
    for rec in sample_loop(model_fn, smp, x_T, generator=noise, pred_x0_fn=clamp):
        step = rec.index + 1
        if record_every and step % record_every == 0 and step < n_steps:
            t0 = time.perf_counter()
            recorded.append((step, rec.t, token_logp(rec.pred_x0, context[0]).argmax(-1),
                             rec.pred_x0.float().clone() if keep_tensors else None))
            recording += time.perf_counter() - t0
        x0 = rec.x_s
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    loop_seconds = time.perf_counter() - start - recording
    ctx = randn(e_s.shape, noise, dtype=e_s.dtype, device=device) if unconditional else e_s
    logp = token_logp(x0, ctx)
    tokens = logp.argmax(-1)  # (B*k, n)
    if record_every:  # the last step is always recorded: it is the output itself
        recorded.append((n_steps, int(smp.timesteps[-1]), tokens, x0.float().clone() if keep_tensors else None))
    tok_logp = logp.gather(-1, tokens[..., None]).squeeze(-1)
    ends = _first_eos(tokens, eos_id)
    keep = torch.arange(tokens.shape[1], device=device)[None] <= ends[:, None]
    score = ((tok_logp * keep).sum(-1) / keep.sum(-1)).view(b, k)
    order = score.argsort(dim=1, descending=True, stable=True)  # best first

    def ranked(x: Tensor) -> Tensor:  # (B*k, ...) -> (B, k, ...) in rank order
        x = x.reshape(b, k, *x.shape[1:])
        return x.gather(1, order.view(b, k, *[1] * (x.dim() - 2)).expand_as(x))

    trajectory = [TrajectoryPoint(s, t, ranked(tk), ranked(px) if px is not None else None) for s, t, tk, px in recorded]
    return Generation(ranked(tokens), score.gather(1, order), trajectory, n_steps, loop_seconds)


def grounding_logp(x: Tensor, weight: Tensor) -> Tensor:
    """Log-softmax over negative squared distances to every vocabulary embedding: (N, n, d) -> (N, n, V).
    Its argmax is the nearest embedding (the paper's "grounding" ablation)."""
    x, weight = x.float(), weight.float()
    dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ weight.T + weight.pow(2).sum(-1)
    return (-dist).log_softmax(-1)


def clamp_to_vocabulary(weight: Tensor, clamp_from: int) -> Callable[[Tensor], Tensor]:
    """A `pred_x0_fn` that, from the `clamp_from`-th call (denoising step) on, replaces x̂0 by its
    nearest vocabulary embeddings. Called once per step by the sampler."""
    if clamp_from < 1:
        raise ValueError(f"clamp_from must be >= 1 (a denoising step, 1-based), got {clamp_from}")
    calls = [0]

    def clamp(x0: Tensor) -> Tensor:
        calls[0] += 1
        if calls[0] < clamp_from:
            return x0
        return weight[nearest_tokens(x0, weight)].to(x0.dtype)

    return clamp


def _first_eos(tokens: Tensor, eos_id: int) -> Tensor:
    """Index of the first </s> per row, or the last position when there is none."""
    is_eos = tokens == eos_id
    return torch.where(is_eos.any(-1), is_eos.int().argmax(-1), torch.full_like(tokens[:, 0], tokens.shape[1] - 1))


def decode_code(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> str:
    """Token ids -> code, cut at the first </s> or <pad> (paper: cut at the first pad)."""
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    cut = next((i for i, tok in enumerate(ids) if tok in stop), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True).strip()


def load_for_generation(path: str, weights: str = "ema", device: str = "cpu", files: Optional["ModelFiles"] = None):
    """Rebuild (config, model, process, tokenizer) from a `.ckpt` or an exported directory (or a
    Hub id of one) alone; EMA weights by default. `files`: what `load_model_files(path, weights)`
    already returned; `path` then only names it in errors.

    Returns a tuple (Config, CodeFusion in eval mode, GaussianDiffusion, tokenizer)."""
    import copy

    from codefusion.checkpoint import CheckpointError
    from codefusion.factory import build_model, build_process
    from codefusion.pretrained import load_model_files

    files = files if files is not None else load_model_files(path, weights)
    if files.kind != "codefusion":
        auto = "AutoModelForSeq2SeqLM" if files.kind == "seq2seq" else "AutoModelForCausalLM"
        raise CheckpointError(f"{path} is a {files.kind} baseline, not CodeFusion (load it with "
                              f"load_baseline_for_generation, or transformers' {auto} when exported)")
    cfg = copy.deepcopy(files.config)
    cfg.model.encoder_name_or_path = None  # the weights come from the checkpoint, not the hub
    model = build_model(cfg, files.vocab_size)
    state = files.weights
    names = {n for n, _ in model.named_parameters()}
    missing = names - set(state)
    if missing:
        raise CheckpointError(f"{path}: {len(missing)} model weights missing, e.g. {sorted(missing)[0]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {str(e).strip().splitlines()[-1].strip()}") from None
    return cfg, model.to(device).eval(), build_process(cfg), files.tokenizer

"""The options of generation: what `load_generator` takes (`GenerateOptions`, any system) and
what sample.py takes (`SampleOptions`: those plus inputs, output and devices), parsed from
`key=value` arguments with the same typed OmegaConf machinery as train.py's config.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from codefusion.config import Weights, parse_dotlist
from codefusion.errors import UserError
from codefusion.precision import PRECISIONS


class OptionsError(UserError):
    """A bad sample.py / generation option, reported in one line."""


@dataclass
class BaselineDecoding:
    """`baseline.*` decoding settings that sampling may override for a baseline checkpoint;
    None keeps the checkpoint's (see codefusion/config.py BaselineConfig)."""

    num_beams: Optional[int] = None
    do_sample: Optional[bool] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    num_beam_groups: Optional[int] = None
    diversity_penalty: Optional[float] = None


@dataclass
class GenerateOptions:
    """How to generate from a checkpoint, whichever system it holds. The CodeFusion fields apply
    to CodeFusion only and `baseline` to the baselines only; giving one to the other system is
    an error (`check_options`)."""

    num_candidates: int = 0  # k (0: 1 for CodeFusion, the checkpoint's baseline.num_candidates)
    seed: int = 0
    weights: Weights = "ema"  # ema | raw
    # CodeFusion only
    # The default is the fastest setting within 1 point of the paper's 1,200 DDPM steps on the
    # measured models (README "Sampling", docs/results.md): DPM-Solver++(2M), 15 steps, the
    # fewest at which 2M runs to t = 0 (below 15 its last step is first order).
    sampler: str = "dpm_solver++"  # ddpm (the paper's) | ddim | dpm_solver++
    steps: int = 15  # denoising steps (0 = the model's T, the paper's 1200)
    decode: str = "decoder"  # decoder (D + H) | grounding (nearest vocabulary embedding)
    clamp: bool = False  # snap x̂0 to the nearest vocabulary embeddings ...
    clamp_from: int = 1  # ... from this denoising step on (1 = every step)
    unconditional: bool = False  # E_s replaced by noise resampled every step (pre-training task)
    guidance: float = 0.0  # classifier-free guidance w (0: the checkpoint's eval.guidance; 1: none)
    record_every: int = 0  # record the code of x̂0 and of the state x_t every M steps (and at the last)
    save_tensors: bool = False  # with record_every: keep the raw x̂0 tensors too
    compile: bool = False  # torch.compile the denoiser
    # baselines only
    baseline: BaselineDecoding = field(default_factory=BaselineDecoding)


CODEFUSION_ONLY = ("sampler", "steps", "decode", "clamp", "clamp_from", "unconditional", "guidance", "record_every",
                   "save_tensors", "compile")


@dataclass
class SampleOptions(GenerateOptions):
    """Every sample.py argument (key=value), with its default."""

    ckpt: str = ""  # a train.py .ckpt, an exported directory, or a Hub id of one
    text: Optional[str] = None  # one utterance, or
    input: Optional[str] = None  # a JSONL file of {"id", "nl", ["code"], ["table"]} rows, or
    data: Optional[str] = None  # DATA_DIR with {split}.jsonl (prepare_benchmarks.py's layout)
    split: str = "test"
    limit: int = 0  # first N inputs only (0 = all)
    batch_size: int = 32  # inputs per batch (each with k candidates: batch_size x k rows)
    rank: str = "logprob"  # logprob (mean token log-probability) | mbr (minimum Bayes risk)
    keep: int = 0  # candidates written per input, best first (0 = all num_candidates)
    distinct: bool = False  # drop a candidate whose program repeats a better-ranked one (same text once stripped)
    out: Optional[str] = None  # output JSONL (default: stdout)
    device: Optional[str] = None  # accelerator: cpu | cuda | gpu (default: cuda when available)
    devices: int = 1  # devices, each a shard of the inputs (Lightning's predict loop, DDP)
    # auto: bf16 autocast where the device does bf16 natively (CUDA with bf16, CPUs with
    # AVX512-BF16 or AMX), float32 elsewhere (codefusion/precision.py) | 32 | bf16
    precision: str = "auto"


CHOICES = {"rank": ("logprob", "mbr"), "decode": ("decoder", "grounding"),
           "precision": PRECISIONS}


def parse_sample_options(argv: list[str]) -> SampleOptions:
    """key=value arguments -> SampleOptions; OptionsError naming the bad argument."""
    opts: SampleOptions = parse_dotlist(SampleOptions, argv, OptionsError)
    if not opts.ckpt:
        raise OptionsError("ckpt=PATH is required")
    for key, choices in CHOICES.items():
        if getattr(opts, key) not in choices:
            raise OptionsError(f"{key}={getattr(opts, key)} must be one of {', '.join(choices)}")
    for key in ("batch_size", "devices"):  # clamp_from, steps, sampler: SamplingOptions.check
        if getattr(opts, key) < 1:
            raise OptionsError(f"{key}={getattr(opts, key)} must be >= 1")
    if min(opts.record_every, opts.limit, opts.steps, opts.num_candidates, opts.guidance, opts.keep) < 0:
        raise OptionsError("record_every, limit, steps, num_candidates, guidance and keep must be >= 0")
    if opts.keep and opts.num_candidates and opts.keep > opts.num_candidates:
        raise OptionsError(f"keep={opts.keep} is more than num_candidates={opts.num_candidates}: sample at least "
                           f"as many candidates as you keep")
    if opts.record_every and not opts.out:
        raise OptionsError("record_every needs out=FILE.jsonl (the trajectory is written beside it)")
    if opts.save_tensors and not opts.record_every:
        raise OptionsError("save_tensors=true needs record_every=M")
    if opts.devices > 1 and not opts.out:
        raise OptionsError(f"devices={opts.devices} needs out=FILE.jsonl (the shards are merged into it)")
    return opts

"""The registry of trainable systems: `system: codefusion | seq2seq | causal_lm` in the config
(and in every checkpoint) picks the LightningModule train.py builds and the `Generator`
sample.py loads. The only place that asks which system a config holds.

    generator = load_generator("runs/qs/checkpoints/last.ckpt", GenerateOptions(num_candidates=5, steps=200))
    gen = generator(src_ids, src_mask, indices)        # codefusion.generation.contract
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from codefusion.config import Config, ConfigError, to_dict
from codefusion.generation.options import CODEFUSION_ONLY, GenerateOptions, OptionsError

if TYPE_CHECKING:
    import lightning as L
    from transformers import PreTrainedTokenizerBase

    from codefusion.generation.contract import Generator
    from codefusion.pretrained import ModelFiles


@dataclass(frozen=True)
class SystemSpec:
    """One registry entry: how to train it and how to generate with it."""

    name: str
    build: Callable[[Config, PreTrainedTokenizerBase], L.LightningModule]  # -> a TrainedSystem
    generator: Callable[[ModelFiles, GenerateOptions, str], Generator]  # (files, options, path)
    options: tuple[str, ...]  # the GenerateOptions fields of this system alone


def _build_codefusion(cfg: Config, tok: PreTrainedTokenizerBase) -> L.LightningModule:
    from codefusion.data.tokenizer import tokenizer_to_json
    from codefusion.training.system import CodeFusionSystem

    return CodeFusionSystem(to_dict(cfg), vocab_size=len(tok), tokenizer_json=tokenizer_to_json(tok))


def _build_baseline(cfg: Config, tok: PreTrainedTokenizerBase) -> L.LightningModule:
    from codefusion.baselines.system import BaselineSystem
    from codefusion.data.tokenizer import tokenizer_to_json

    return BaselineSystem(to_dict(cfg), vocab_size=len(tok), pad_id=tok.pad_token_id, eos_id=tok.eos_token_id,
                          tokenizer_json=tokenizer_to_json(tok))


def _codefusion_generator(files: ModelFiles, o: GenerateOptions, path: str) -> Generator:
    import torch

    from codefusion.generation.codefusion import CodeFusionSampling, SamplingOptions, load_codefusion

    cfg, generator = load_codefusion(files, path)
    guidance = o.guidance or cfg.eval.guidance
    if guidance != 1.0 and generator.model.denoiser.null is None:
        raise OptionsError(f"guidance={guidance:g} needs a model trained with train.cond_dropout > 0; {path} was not")
    options = SamplingOptions(num_candidates=o.num_candidates or 1, sampler=o.sampler, steps=o.steps or None,
                              decode=o.decode, clamp_from=o.clamp_from if o.clamp else None,  # type: ignore[arg-type]
                              record_every=o.record_every, keep_tensors=o.save_tensors, unconditional=o.unconditional,
                              guidance=guidance)
    steps = options.check(generator.process.num_timesteps)
    if o.compile:
        generator.model.denoiser = torch.compile(generator.model.denoiser)  # type: ignore[assignment]
    meta = {"language": cfg.data.language, "sampler": o.sampler, "steps": steps,
            "num_timesteps": generator.process.num_timesteps, "guidance": guidance}
    return CodeFusionSampling(generator, files.tokenizer, options, o.seed, meta, cfg.data.max_nl_len)


def _baseline_generator(files: ModelFiles, o: GenerateOptions, path: str) -> Generator:
    from codefusion.baselines.generation import BaselineGenerator, decoding_options, load_baseline

    cfg, model = load_baseline(files, path)
    for key, value in dataclasses.asdict(o.baseline).items():  # command-line decoding over the checkpoint's
        if value is not None:
            setattr(cfg.baseline, key, value)
    if o.num_candidates:
        cfg.baseline.num_candidates = o.num_candidates
    cfg.validate_baseline()  # more candidates than beams, ...: one line, before any output
    return BaselineGenerator(model, cfg.system, files.tokenizer, decoding_options(cfg), o.seed,
                             {"language": cfg.data.language}, cfg.data.max_nl_len)


SYSTEMS: dict[str, SystemSpec] = {
    "codefusion": SystemSpec("codefusion", _build_codefusion, _codefusion_generator, CODEFUSION_ONLY),
    "seq2seq": SystemSpec("seq2seq", _build_baseline, _baseline_generator, ("baseline",)),
    "causal_lm": SystemSpec("causal_lm", _build_baseline, _baseline_generator, ("baseline",)),
}


def get_system(name: str) -> SystemSpec:
    if name not in SYSTEMS:
        raise ConfigError(f"system={name!r}; one of {', '.join(SYSTEMS)}")
    return SYSTEMS[name]


def build_system(cfg: Config, tok: PreTrainedTokenizerBase) -> L.LightningModule:
    """The LightningModule train.py trains for `cfg.system`, with its tokenizer attached."""
    system = get_system(cfg.system).build(cfg, tok)
    system.tokenizer = tok  # type: ignore[assignment]
    return system


def check_options(spec: SystemSpec, o: GenerateOptions, path: str) -> None:
    """OptionsError naming the options given that belong to another system than `path`'s."""
    defaults = GenerateOptions()
    given = [key for key in CODEFUSION_ONLY + ("baseline",) if key not in spec.options
             and getattr(o, key) != getattr(defaults, key)]
    if given:
        if "baseline" in given:
            given = [*(k for k in given if k != "baseline"),
                     *(f"baseline.{k}" for k, v in dataclasses.asdict(o.baseline).items() if v is not None)]
        other = "an autoregressive baseline" if spec.name != "codefusion" else "CodeFusion"
        raise OptionsError(f"{', '.join(given)}: not options of {path}, which is {other} ({spec.name})")


def load_generator(path: str, options: GenerateOptions, files: Optional[ModelFiles] = None) -> Generator:
    """The `Generator` for the checkpoint at `path` (a train.py .ckpt, an exported directory, or
    a Hub id of one), on the CPU (the predict loop moves it). CheckpointError / OptionsError
    (both `UserError`s) with one line on any problem. `files`: what `load_model_files(path, options.weights)` returned."""
    from codefusion.pretrained import load_model_files

    files = files if files is not None else load_model_files(path, options.weights)
    spec = get_system(files.config.system)
    check_options(spec, options, path)
    return spec.generator(files, options, path)

"""Trained models from either form they take: a Lightning `.ckpt` written by train.py, or a
directory written by `python -m codefusion.export` (local, or a Hugging Face Hub id).

    files = load_model_files("runs/cf/checkpoints/last.ckpt")      # or "exports/cf", "user/codefusion-cf"
    files.config, files.weights, files.tokenizer                    # the same from either form

    model = CodeFusionModel.from_pretrained("exports/cf")           # the notebook API
    for cands in model.generate(["highlight cells greater than 42"], num_candidates=5, steps=100):
        print(cands[0].code, cands[0].score)

`load_model_files` is the one place that knows both forms: sample.py, codefusion.diagnose,
`train.init_from` and the export itself go through it (via `load_for_generation` and
`load_baseline_for_generation`). What it does not know: how a model is built from the config
(codefusion.factory) and how generation works (codefusion.generation, codefusion.sampling).

An exported directory holds `config.json` (a "codefusion" section: format and version, the
system's kind, vocabulary size, special ids, which weights, the sha256 of the weights and the
resolved run config), `model.safetensors`, the tokenizer (`save_pretrained`) and `README.md`.
For the baselines `config.json` is the `transformers` model's own, the section added to it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from codefusion.checkpoint import CheckpointError, load_checkpoint
from codefusion.config import Config, from_dict
from codefusion.hub import looks_like_hub_id

EXPORT_FORMAT = "codefusion-export"
FORMAT_VERSION = 1  # bump when config.json or the weights' layout changes; list what older ones need
READABLE_VERSIONS = (1,)
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
# What from_pretrained fetches from the Hub (the model card and nothing else besides).
HUB_FILES = [CONFIG_FILE, WEIGHTS_FILE, "generation_config.json", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "README.md"]
WEIGHT_CHOICES = ("ema", "raw")


@dataclass
class ModelFiles:
    """What a trained model is made of, whichever form it was read from."""

    source: str  # the path or hub id it was read from (for messages)
    config: Config  # the run's resolved config
    vocab_size: int
    weights: dict[str, Tensor]  # the model's state dict: EMA or raw weights (`which`)
    which: str  # "ema" | "raw"
    tokenizer: PreTrainedTokenizerBase
    pad_id: int
    eos_id: int
    model_config_json: Optional[str] = None  # baselines: the transformers config, to rebuild without the hub
    global_step: Optional[int] = None  # optimizer steps trained, when known
    exported: bool = False  # True when read from an exported directory

    @property
    def kind(self) -> str:
        """"codefusion", or the baseline's architecture ("seq2seq" | "causal_lm")."""
        return self.config.system


def load_model_files(name_or_path: str, weights: str = "ema") -> ModelFiles:
    """A `.ckpt` file, an exported directory, or a Hub id of one -> `ModelFiles`.

    `weights`: "ema" (default) or "raw" for a checkpoint, which holds both; a directory holds the
    one set it was exported with, and asking for the other is an error. CheckpointError (one
    line) on any problem."""
    if weights not in WEIGHT_CHOICES:
        raise CheckpointError(f"weights={weights}: use ema or raw")
    path = resolve(name_or_path)
    if path.is_dir():
        return files_from_directory(path, weights, name_or_path)
    return files_from_checkpoint(str(path), load_checkpoint(path), weights)


def resolve(name_or_path: str) -> Path:
    """A local path as it is; a Hub id ("user/name") not found locally -> its downloaded snapshot."""
    path = Path(name_or_path)
    if path.exists() or not looks_like_hub_id(name_or_path):
        if not path.exists():
            raise CheckpointError(f"checkpoint not found: {name_or_path}")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name_or_path, allow_patterns=HUB_FILES))
    except Exception as e:  # offline, unknown repo, gated, ...
        raise CheckpointError(f"{name_or_path}: no such local file or directory, and it cannot be fetched from the "
                              f"Hugging Face Hub ({type(e).__name__}: {first_line(e)})") from None




def first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else ""


def files_from_checkpoint(path: str, ckpt: dict[str, Any], weights: str) -> ModelFiles:
    """The contents of a loaded `.ckpt` (`codefusion.checkpoint.load_checkpoint`)."""
    from codefusion.data.tokenizer import tokenizer_from_json

    hp = ckpt.get("hyper_parameters", {})
    cfg = _config(hp.get("config"), path)
    if weights == "ema" and "ema" not in ckpt:
        raise CheckpointError(f"{path} has no EMA weights; use weights=raw")
    state = ckpt["ema"]["weights"] if weights == "ema" else {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    try:
        tok = tokenizer_from_json(ckpt["codefusion"]["tokenizer_json"])
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read its tokenizer ({type(e).__name__}: {first_line(e)})") from None
    return ModelFiles(source=path, config=cfg, vocab_size=int(hp.get("vocab_size", len(tok))), weights=state,
                      which=weights, tokenizer=tok, pad_id=int(hp.get("pad_id", tok.pad_token_id)),
                      eos_id=int(hp.get("eos_id", tok.eos_token_id)),
                      model_config_json=ckpt["codefusion"].get("model_config_json"),
                      global_step=ckpt.get("global_step"))


def files_from_directory(path: Path, weights: str, name: Optional[str] = None) -> ModelFiles:
    """An exported directory: config.json checked (format, version), weights checked against
    their sha256 and read with safetensors (no code runs), the tokenizer from its files."""
    from safetensors.torch import load_file
    from transformers import PreTrainedTokenizerFast

    name = name or str(path)
    section, raw = read_export_config(path, name)
    cfg = _config(section["config"], f"{name}/{CONFIG_FILE}")
    held = section.get("weights", "ema")
    if weights != held:
        raise CheckpointError(f"{name} holds the {held} weights only (exported with weights={held}); "
                              f"ask for weights={held}")
    weights_file = path / WEIGHTS_FILE
    if not weights_file.is_file():
        raise CheckpointError(f"{name}: {WEIGHTS_FILE} is missing")
    if section.get("sha256") and sha256_file(weights_file) != section["sha256"]:
        raise CheckpointError(f"{name}: {WEIGHTS_FILE} does not match the sha256 in {CONFIG_FILE} "
                              "(truncated or modified; download or export it again)")
    try:
        state = load_file(weights_file)
    except Exception as e:
        raise CheckpointError(f"{name}: cannot read {WEIGHTS_FILE} ({type(e).__name__}: {first_line(e)})") from None
    try:
        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    except Exception as e:
        raise CheckpointError(f"{name}: cannot read its tokenizer ({type(e).__name__}: {first_line(e)})") from None
    model_json = None
    if cfg.system != "codefusion":  # the transformers config is config.json itself, less our section
        model_json = json.dumps({k: v for k, v in raw.items() if k != "codefusion"})
    return ModelFiles(source=name, config=cfg, vocab_size=int(section["vocab_size"]), weights=state, which=held,
                      tokenizer=tok, pad_id=int(section["pad_id"]), eos_id=int(section["eos_id"]),
                      model_config_json=model_json, global_step=section.get("global_step"), exported=True)


def read_export_config(path: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the "codefusion" section, the whole config.json) of an exported directory; one-line
    errors for a missing or foreign config.json and for a format version this code cannot read."""
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise CheckpointError(f"{name} has no {CONFIG_FILE}: not an exported CodeFusion model "
                              "(write one with python -m codefusion.export ckpt=... out=DIR)")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{name}/{CONFIG_FILE} is not valid JSON ({first_line(e)})") from None
    section = raw.get("codefusion") if isinstance(raw, dict) else None
    if not isinstance(section, dict) or section.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{name}/{CONFIG_FILE} is not a CodeFusion export (no 'codefusion' section with "
                              f"format '{EXPORT_FORMAT}'; a model from another project?)")
    version = section.get("format_version")
    if version not in READABLE_VERSIONS:
        advice = "upgrade codefusion" if isinstance(version, int) and version > FORMAT_VERSION else \
            "export it again from its .ckpt"
        raise CheckpointError(f"{name} was exported in format version {version}; this codefusion reads version "
                              f"{', '.join(map(str, READABLE_VERSIONS))} ({advice})")
    missing = [k for k in ("config", "vocab_size", "pad_id", "eos_id") if k not in section]
    if missing:
        raise CheckpointError(f"{name}/{CONFIG_FILE}: the 'codefusion' section lacks {', '.join(missing)}")
    return section, raw


def _config(data: Any, where: str) -> Config:
    """The run config from its plain dict; one line when it does not fit this code's schema."""
    try:
        return from_dict(data)
    except Exception as e:
        raise CheckpointError(f"{where}: no usable config inside ({type(e).__name__}: {first_line(e)})") from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---- the notebook API ----------------------------------------------------------------------

class Step(NamedTuple):
    """One point of a candidate's denoising trajectory."""

    step: int  # denoising steps done
    t: int  # the diffusion timestep the denoiser saw
    code: str  # the code decoded from x̂0 at that step
    x_t_code: Optional[str] = None  # the code decoded from the chain's state x_t after that step


@dataclass
class Candidate:
    code: str
    score: float  # mean token log-probability up to and including </s> (higher is better, <= 0)
    trajectory: list[Step] = field(default_factory=list)  # with record_every > 0


class CodeFusionModel:
    """A trained CodeFusion ready to generate: `generator` (a `CodeFusionGenerator`: model in
    eval mode, its diffusion `process`), `tokenizer` and `config`. Build it with `from_pretrained`."""

    def __init__(self, config: Config, generator: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self.config, self.generator, self.tokenizer = config, generator, tokenizer
        self.model, self.process = generator.model, generator.process

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "cpu", weights: str = "ema") -> CodeFusionModel:
        """From an exported directory, a Hub id of one, or a train.py `.ckpt`."""
        from codefusion.generation.codefusion import load_codefusion

        files = load_model_files(name_or_path, weights)
        if files.kind != "codefusion":
            auto = "AutoModelForSeq2SeqLM" if files.kind == "seq2seq" else "AutoModelForCausalLM"
            raise CheckpointError(f"{name_or_path} is a {files.kind} baseline, not CodeFusion (load it with "
                                  f"codefusion.systems.load_generator, or transformers' {auto} when exported)")
        cfg, generator = load_codefusion(files, name_or_path, device)
        return cls(cfg, generator, files.tokenizer)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def generate(self, utterances: str | Sequence[str], num_candidates: int = 1, sampler: Optional[str] = None,
                 steps: Optional[int] = None, seed: int = 0, record_every: int = 0,
                 guidance: Optional[float] = None, batch_size: int = 32,
                 precision: str = "auto") -> list[list[Candidate]]:
        """k = num_candidates programs per utterance, best (highest score) first.

        `sampler` (ddpm | ddim | dpm_solver++) and `steps` (0: the model's T): default sample.py's
        (`GenerateOptions`); `record_every` M > 0 adds each candidate's trajectory (every M-th
        step and the last); `guidance`: classifier-free guidance w (default the run's
        eval.guidance); `precision`: auto | 32 | bf16, as sample.py's (codefusion/precision.py).
        The same seed gives what `sample.py ... seed=S` gives for the same inputs in the same
        order, at any batch size (noise is drawn per (seed, input index, candidate))."""
        from codefusion.data.examples import encode_utterances
        from codefusion.generation.codefusion import SamplingOptions
        from codefusion.generation.options import GenerateOptions
        from codefusion.generation.records import Records
        from codefusion.precision import autocast, resolve_precision

        texts = [utterances] if isinstance(utterances, str) else list(utterances)
        defaults = GenerateOptions()
        options = SamplingOptions(num_candidates=num_candidates, sampler=sampler or defaults.sampler,
                                  steps=(defaults.steps if steps is None else steps) or None, record_every=record_every,
                                  guidance=self.config.eval.guidance if guidance is None else guidance)
        options.check(self.process.num_timesteps)  # ValueError naming a bad option, before any work
        arithmetic = resolve_precision(precision, self.device)
        rows = [{"nl": t} for t in texts]
        records, out = Records(self.tokenizer), []
        for start in range(0, len(texts), batch_size):
            index = list(range(start, min(start + batch_size, len(texts))))
            src, mask = encode_utterances(self.tokenizer, [texts[i] for i in index], self.config.data.max_nl_len)
            with autocast(arithmetic, self.device):
                gen = self.generator(src.to(self.device), mask.to(self.device), options, noise_keys=index, seed=seed)
            done = records.add(rows, index, gen)
            paths: dict[int, list[list[Step]]] = {}
            for i, row in done["trajectories"]:
                paths.setdefault(i, []).append([Step(p["step"], p["t"], p["code"], p.get("x_t_code")) for p in row["trajectory"]])
            for i, rec in done["records"]:
                traj = paths.get(i, [[] for _ in rec["candidates"]])
                out.append([Candidate(c["code"], c["score"], traj[j]) for j, c in enumerate(rec["candidates"])])
        return out

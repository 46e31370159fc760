"""sample.py's options, its inputs, and turning generated tokens into output records.

    options  (`SampleOptions`, parsed from key=value arguments with one-line errors)
    inputs   (`read_inputs`: text=, input=FILE.jsonl or data=DIR split=; bad rows counted, skipped)
    records  (`Records.add`: one output line per input, one trajectory line per (input, candidate))

The Lightning predict loop that runs generation on one or many devices is in codefusion/predict.py.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from transformers import PreTrainedTokenizerBase

from codefusion.config import BaselineConfig
from codefusion.data.examples import DataError
from codefusion.edit_distance import normalized_edit_distance
from codefusion.generation import DECODE_MODES, Generation, decode_code


@dataclass
class SampleOptions:
    """Every sample.py argument (key=value), with its default."""

    ckpt: str = ""
    text: Optional[str] = None  # one utterance, or
    input: Optional[str] = None  # a JSONL file of {"id", "nl", ["code"], ["table"]} rows, or
    data: Optional[str] = None  # DATA_DIR with {split}.jsonl (prepare_benchmarks.py's layout)
    split: str = "test"
    limit: int = 0  # first N inputs only (0 = all)
    num_candidates: int = 0  # k candidates per input, ranked best first (0: 1, or a baseline's config)
    sampler: str = "ddpm"  # ddpm | ddim | dpm_solver++
    steps: int = 0  # denoising steps (0 = the model's T, the paper's 1200)
    seed: int = 0
    batch_size: int = 32  # inputs per batch (each with k candidates: batch_size x k rows)
    weights: str = "ema"  # ema | raw
    rank: str = "logprob"  # logprob (mean token log-probability) | mbr (minimum Bayes risk)
    decode: str = "decoder"  # decoder (D + H) | grounding (nearest vocabulary embedding)
    clamp: bool = False  # snap x̂0 to the nearest vocabulary embeddings ...
    clamp_from: int = 1  # ... from this denoising step on (1 = every step)
    unconditional: bool = False  # E_s replaced by noise resampled every step (pre-training task)
    guidance: float = 0.0  # classifier-free guidance w (0: the checkpoint's eval.guidance; 1: none)
    record_every: int = 0  # record x̂0's code every M steps (and at the last) beside `out`
    save_tensors: bool = False  # with record_every: also the raw x̂0 tensors (OUT.trajectory.pt)
    out: Optional[str] = None  # output JSONL (default: stdout)
    device: Optional[str] = None  # accelerator: cpu | cuda | gpu (default: cuda when available)
    devices: int = 1  # devices, each a shard of the inputs (Lightning's predict loop, DDP)
    precision: str = "32"  # 32 | bf16 (autocast)
    compile: bool = False  # torch.compile the denoiser
    extra: dict[str, Any] = field(default_factory=dict)  # baselines' decoding keys (BASELINE_KEYS), typed


# baseline.* decoding settings a baseline checkpoint's sampling may override; types from the schema.
BASELINE_KEYS = {"num_beams", "do_sample", "temperature", "top_p", "num_beam_groups", "diversity_penalty"}
CHOICES = {"weights": ("ema", "raw"), "rank": ("logprob", "mbr"), "decode": DECODE_MODES, "precision": ("32", "bf16")}


def parse_options(argv: list[str]) -> SampleOptions:
    """key=value arguments -> SampleOptions; ValueError naming the bad argument."""
    fields = {f.name: f for f in dataclasses.fields(SampleOptions) if f.name != "extra"}
    baseline_types = {f.name: f.type for f in dataclasses.fields(BaselineConfig)}
    opts = SampleOptions()
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in BASELINE_KEYS:
            opts.extra[key] = convert(key, value, baseline_types[key])
            continue
        if not sep or key not in fields:
            raise ValueError(f"unknown argument '{arg}' (expected key=value with key in "
                             f"{', '.join(sorted([*fields, *BASELINE_KEYS]))})")
        setattr(opts, key, convert(key, value, fields[key].type))
    if not opts.ckpt:
        raise ValueError("ckpt=PATH is required")
    for key, choices in CHOICES.items():
        if getattr(opts, key) not in choices:
            raise ValueError(f"{key}={getattr(opts, key)} must be one of {', '.join(choices)}")
    for key in ("batch_size", "devices", "clamp_from"):
        if getattr(opts, key) < 1:
            raise ValueError(f"{key}={getattr(opts, key)} must be >= 1")
    if min(opts.record_every, opts.limit, opts.steps, opts.num_candidates, opts.guidance) < 0:
        raise ValueError("record_every, limit, steps, num_candidates and guidance must be >= 0")
    if opts.record_every and not opts.out:
        raise ValueError("record_every needs out=FILE.jsonl (the trajectory is written beside it)")
    if opts.save_tensors and not opts.record_every:
        raise ValueError("save_tensors=true needs record_every=M")
    if opts.devices > 1 and not opts.out:
        raise ValueError(f"devices={opts.devices} needs out=FILE.jsonl (the shards are merged into it)")
    return opts


def convert(key: str, value: str, kind: Any) -> Any:
    """A key=value string -> bool, int, float or str (by the type's name); ValueError naming it."""
    kind = str(kind)
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{key}={value}: expected true or false")
        return value.lower() == "true"
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{key}={value}: expected an integer") from None
    if kind == "float":
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{key}={value}: expected a number") from None
    return value


def read_inputs(opts: SampleOptions) -> list[dict[str, Any]]:
    """Inputs with a non-empty `nl`; other rows are counted, reported and skipped."""
    if opts.text is not None:
        rows = [{"id": "0", "nl": opts.text}]
    elif opts.unconditional and not (opts.input or opts.data):
        rows = [{"id": str(i), "nl": ""} for i in range(opts.limit or 1)]
    else:
        if opts.input:
            path = Path(opts.input)
        elif opts.data:
            path = Path(opts.data) / f"{opts.split}.jsonl"
        else:
            raise ValueError("give text=..., input=FILE.jsonl or data=DIR (with split=)")
        if not path.is_file():
            raise DataError(f"input file not found: {path}")
        rows, skipped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("nl"), str) and row["nl"].strip():
                rows.append(row)
            else:
                skipped += 1
        if skipped:
            print(f"{path}: skipped {skipped} rows that are not JSON objects with a non-empty 'nl'", file=sys.stderr)
    return rows[: opts.limit] if opts.limit else rows


def mbr_scores(codes: list[str]) -> list[float]:
    """Minimum Bayes risk: each candidate's mean similarity (1 - normalised character edit
    distance) to the other candidates; the consensus candidate scores highest. 1.0 for k = 1."""
    k = len(codes)
    if k == 1:
        return [1.0]
    sim = [[1.0 - normalized_edit_distance(a, b) if i != j else 0.0 for j, b in enumerate(codes)] for i, a in enumerate(codes)]
    return [sum(row) / (k - 1) for row in sim]


class Records:
    """Output rows of one batch (and their trajectories), built from a `Generation`.

    Args:
        tokenizer: decodes token ids to code.
        rank: "logprob" keeps the generator's order; "mbr" re-ranks by `mbr_scores`, keeping the
            log-probability as `logprob`.
        meta: fields copied into every trajectory row (language, sampler, steps, num_timesteps).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, rank: str = "logprob", meta: Optional[dict[str, Any]] = None) -> None:
        self.tokenizer, self.rank, self.meta = tokenizer, rank, meta or {}

    def add(self, rows: list[dict[str, Any]], indices: list[int], gen: Generation) -> dict[str, Any]:
        """-> {"records": [(index, record)], "trajectories": [(index, row)], "tensors": [(index, (k, R, n, d))]}."""
        out: dict[str, Any] = {"records": [], "trajectories": [], "tensors": []}
        tok = self.tokenizer
        for j, idx in enumerate(indices):
            row = rows[idx]
            k = gen.tokens.shape[1]
            codes = [decode_code(tok, gen.tokens[j, c].tolist()) for c in range(k)]
            logprob = gen.score[j].tolist()
            order = list(range(k))
            cands = [{"code": codes[c], "score": logprob[c]} for c in order]
            if self.rank == "mbr":
                mbr = mbr_scores(codes)
                order = sorted(order, key=lambda c: -mbr[c])  # stable: ties keep log-probability order
                cands = [{"code": codes[c], "score": mbr[c], "logprob": logprob[c]} for c in order]
            code = row.get("code")  # an empty gold program (CF test ID 740) is no reference
            reference = code if isinstance(code, str) and code.strip() else None
            record = {"id": str(row.get("id", idx)), "nl": row["nl"], "reference": reference}
            if "table" in row:
                record["table"] = row["table"]
            record["candidates"] = cands
            out["records"].append((idx, record))
            if not gen.trajectory:
                continue
            for position, c in enumerate(order):
                points = []
                for p in gen.trajectory:
                    code = decode_code(tok, p.tokens[j, c].tolist())
                    dist = normalized_edit_distance(code, reference) if reference is not None else None
                    points.append({"step": p.step, "t": p.t, "code": code, "edit_distance": dist})
                traj = {"id": record["id"], "nl": row["nl"], "reference": reference, **self.meta,
                        "candidate": position, "trajectory": points}
                out["trajectories"].append((idx, traj))
            if gen.trajectory[0].pred_x0 is not None:
                x = torch.stack([p.pred_x0[j] for p in gen.trajectory], dim=1)  # (k, R, n, d)
                out["tensors"].append((idx, x[order].cpu()))
        return out

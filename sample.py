"""Generate code with a trained CodeFusion checkpoint.

    python sample.py ckpt=PATH [text="..." | input=FILE.jsonl | data=DATA_DIR split=test]
                     [limit=N] [num_candidates=1] [sampler=ddpm|ddim|dpm_solver++] [steps=1200]
                     [seed=0] [batch_size=32] [unconditional=false]
                     [weights=ema|raw] [device=cpu|cuda] [out=FILE.jsonl]

CPU smoke run on the quickstart's run directory:
    python sample.py ckpt=runs/quickstart-*/checkpoints/last.ckpt text="highlight cells greater than 42" steps=200
One GPU:
    python sample.py ckpt=runs/py/checkpoints/last.ckpt data=data split=test device=cuda out=preds.jsonl

Code from noise alone, the quick check of a pre-trained model (E_s is Gaussian noise, resampled
at every step, as in the pre-training task):
    python sample.py ckpt=runs/pretrain-cf/checkpoints/last.ckpt unconditional=true num_candidates=10

Needs only the checkpoint (config, tokenizer and EMA weights are inside). Output: one JSON line
per input with `id`, `nl`, `reference` (when known), `table` (CF inputs) and `candidates`, a list
of {code, score} ranked best first by mean token log-probability (reference-free).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from codefusion.checkpoint import CheckpointError
from codefusion.data.examples import DataError
from codefusion.diffusion import SAMPLERS

KEYS = {"ckpt", "text", "input", "data", "split", "limit", "num_candidates", "sampler", "steps", "seed", "batch_size",
        "weights", "device", "out", "unconditional"}


def parse(argv: list[str]) -> dict[str, str]:
    args = {}
    for a in argv:
        key, sep, value = a.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"unknown argument '{a}' (expected key=value with key in {', '.join(sorted(KEYS))})")
        args[key] = value
    if "ckpt" not in args:
        raise ValueError("ckpt=PATH is required")
    return args


def read_inputs(args: dict[str, str]) -> list[dict[str, Any]]:
    """Inputs with a non-empty `nl`; other rows are counted, reported and skipped."""
    if "text" in args:
        return [{"id": "0", "nl": args["text"]}]
    if args.get("unconditional") == "true" and not ({"input", "data"} & set(args)):
        return [{"id": "0", "nl": ""}]
    if "input" in args:
        path = Path(args["input"])
    elif "data" in args:
        path = Path(args["data"]) / f"{args.get('split', 'test')}.jsonl"
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
    return rows


def main(argv: list[str]) -> int:
    try:
        args = parse(argv)
        from codefusion.generation import decode_code, generate, load_for_generation

        device = args.get("device", "cuda" if torch.cuda.is_available() else "cpu")
        cfg, model, process, tok = load_for_generation(args["ckpt"], args.get("weights", "ema"), device)
        rows = read_inputs(args)
        steps = int(args.get("steps", process.num_timesteps))
        if not 1 <= steps <= process.num_timesteps:
            raise ValueError(f"steps={steps} must be in [1, {process.num_timesteps}]")
        unconditional = args.get("unconditional", "false") == "true"
        sampler = args.get("sampler", "ddpm")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{sampler}'; one of {', '.join(sorted(SAMPLERS))}")
    except (ValueError, CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = rows[: int(args["limit"])] if "limit" in args else rows
    k, bs = int(args.get("num_candidates", 1)), int(args.get("batch_size", 32))
    g = torch.Generator(device=device).manual_seed(int(args.get("seed", 0)))
    records, start = [], time.time()
    for i in range(0, len(rows), bs):
        chunk = rows[i : i + bs]
        if unconditional:  # no utterance: only the shape of E_s matters, its values are noise
            src = torch.full((len(chunk), cfg.data.max_nl_len), tok.eos_token_id, device=device)
        else:
            enc = [tok(r["nl"], add_special_tokens=False).input_ids[: cfg.data.max_nl_len - 1] + [tok.eos_token_id]
                   for r in chunk]
            width = max(map(len, enc))
            src = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc], device=device)
        out = generate(model, process, src, src != tok.pad_token_id, cfg.data.max_code_len, tok.eos_token_id,
                       num_candidates=k, steps=steps, sampler=sampler, generator=g, unconditional=unconditional)
        for j, r in enumerate(chunk):
            rec = {"id": str(r.get("id", i + j)), "nl": r["nl"], "reference": r.get("code")}
            if "table" in r:
                rec["table"] = r["table"]
            rec["candidates"] = [{"code": decode_code(tok, out.tokens[j, c].tolist()), "score": float(out.score[j, c])}
                                 for c in range(k)]
            records.append(rec)
    seconds = time.time() - start
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if "out" in args:
        tmp = Path(args["out"] + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, args["out"])
    else:
        sys.stdout.write(text)
    print(f"{len(records)} inputs, {k} candidates each, {sampler} {steps} steps, {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Where sample.py's results go: checked before any work, written atomically at the end.

    preds.jsonl                  one line per input (codefusion/generation/records.py)
    preds.trajectory.jsonl       with record_every=M: one line per (input, candidate)
    preds.trajectory.pt          with save_tensors=true: x̂0 itself, (inputs, k, recorded steps, n, d)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from codefusion.atomic import check_output, finite_json, write_atomic, write_jsonl_atomic
from codefusion.generation.options import OptionsError, SampleOptions


def trajectory_path(out: str, suffix: str) -> Path:
    """preds.jsonl -> preds.trajectory.jsonl (suffix ".jsonl") or preds.trajectory.pt (".pt")."""
    stem = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return Path(f"{stem}.trajectory{suffix}")


def check_outputs(opts: SampleOptions) -> None:
    """Before loading anything: out= (and the trajectory files beside it) is none of the inputs
    and can be written; device=cuda has a GPU."""
    if opts.device in ("cuda", "gpu") and not torch.cuda.is_available():
        raise OptionsError(f"device={opts.device} but CUDA is not available here (torch {torch.__version__}); use device=cpu")
    if not opts.out:
        return
    inputs = [opts.input, opts.ckpt, Path(opts.data) / f"{opts.split}.jsonl" if opts.data else None]
    outs = [Path(opts.out)]
    if opts.record_every:
        outs += [trajectory_path(opts.out, ".jsonl")] + ([trajectory_path(opts.out, ".pt")] if opts.save_tensors else [])
    for out in outs:
        check_output(out, inputs, key="out" if out == outs[0] else "out (trajectory)")


def write_outputs(opts: SampleOptions, merged: dict[str, list[Any]]) -> int:
    """Write the merged records (to `out`, or stdout) and trajectories; returns how many
    non-finite scores were written as null."""
    if opts.record_every:
        assert opts.out is not None
        write_jsonl_atomic(trajectory_path(opts.out, ".jsonl"), merged["trajectories"])
        if opts.save_tensors:
            tensors = {"pred_x0": torch.stack(merged["tensors"]),  # (inputs, k, recorded steps, n, d)
                       "steps": [p["step"] for p in merged["trajectories"][0]["trajectory"]] if merged["trajectories"] else [],
                       "ids": [r["id"] for r in merged["records"]]}
            write_atomic(trajectory_path(opts.out, ".pt"), lambda p: torch.save(tensors, p))
    if opts.out:
        return write_jsonl_atomic(Path(opts.out), merged["records"])
    clean, nonfinite = finite_json(merged["records"])
    sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in clean))
    return nonfinite

"""sample.py's inputs: which rows (text=, input=FILE.jsonl or data=DIR split=; bad rows counted
and skipped) and how a batch of them becomes encoder input."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from codefusion.data.examples import DataError, encode_utterances
from codefusion.generation.options import OptionsError, SampleOptions


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
            raise OptionsError("give text=..., input=FILE.jsonl or data=DIR (with split=)")
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


def collate_fn(rows: list[dict[str, Any]], tok: PreTrainedTokenizerBase, max_nl_len: int,
               unconditional: bool = False) -> Callable[[list[int]], dict[str, Any]]:
    """Input indices -> {"index", "src_ids", "src_mask"}: utterance tokens + </s>, right-padded
    (`encode_utterances`, the data module's layout)."""
    import torch

    def collate(indices: list[int]) -> dict[str, Any]:
        if unconditional:  # no utterance: only the shape of E_s matters, its values are noise
            src = torch.full((len(indices), max_nl_len), tok.eos_token_id)
            return {"index": indices, "src_ids": src, "src_mask": src != tok.pad_token_id}
        src, mask = encode_utterances(tok, [rows[i]["nl"] for i in indices], max_nl_len)
        return {"index": indices, "src_ids": src, "src_mask": mask}

    return collate

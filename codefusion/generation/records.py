"""Turning a `Generation` into sample.py's output records: one line per input (candidates best
first, by log-probability or minimum Bayes risk; optionally the first `keep` distinct programs of
the k sampled), one trajectory line per written (input, candidate).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from transformers import PreTrainedTokenizerBase

from codefusion.data.examples import source_of
from codefusion.edit_distance import normalized_edit_distance
from codefusion.generation.contract import Generation, decode_code


def reference_of(row: dict[str, Any]) -> Optional[str]:
    """A row's gold code as the prediction record's `reference`: the raw text, or None when there
    is none (an empty gold program, CF test ID 740, is no reference). The one rule for sample.py
    and the end-of-training evaluation."""
    code = row.get("code")
    return code if isinstance(code, str) and code.strip() else None


def prediction_record(row: dict[str, Any], index: int, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The prediction file's row: id, nl, reference, table (CF inputs), source (when the input
    row names one as a non-empty string: what the evaluator reads), candidates."""
    record = {"id": str(row.get("id", index)), "nl": row["nl"], "reference": reference_of(row)}
    if "table" in row:
        record["table"] = row["table"]
    if source_of(row):
        record["source"] = source_of(row)
    record["candidates"] = candidates
    return record


def mbr_scores(codes: list[str]) -> list[float]:
    """Minimum Bayes risk: each candidate's mean similarity (1 - normalised character edit
    distance) to the other candidates; the consensus candidate scores highest. 1.0 for k = 1."""
    k = len(codes)
    if k == 1:
        return [1.0]
    sim = [[1.0 - normalized_edit_distance(a, b) if i != j else 0.0 for j, b in enumerate(codes)] for i, a in enumerate(codes)]
    return [sum(row) / (k - 1) for row in sim]


def choose(codes: list[str], order: list[int], keep: int = 0, distinct: bool = False) -> list[int]:
    """The candidates written, best first: `order` (indices into `codes`, ranked), without a
    program that repeats a better-ranked one when `distinct` (the same text once leading and
    trailing whitespace is stripped: inner whitespace can matter, as Python's indentation or a
    quoted string's spaces do), cut to the first `keep` (0 = all). Sampling k > keep noises and
    keeping `keep` distinct programs is how top-k gets k different programs (docs/results.md,
    "Top-5 from 20 noises")."""
    chosen, seen = [], set()
    for c in order:
        key = codes[c].strip()
        if distinct and key in seen:
            continue
        seen.add(key)
        chosen.append(c)
        if keep and len(chosen) == keep:
            break
    return chosen


class Records:
    """Output rows of one batch (and their trajectories), built from a `Generation`.

    Args:
        tokenizer: decodes token ids to code.
        rank: "logprob" keeps the generator's order; "mbr" re-ranks by `mbr_scores` over all k
            candidates, keeping the log-probability as `logprob`.
        meta: fields copied into every trajectory row (language, sampler, steps, num_timesteps).
        keep: candidates written per input, after ranking (0 = all k); see `choose`.
        distinct: drop a candidate whose program repeats a better-ranked one; see `choose`.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, rank: str = "logprob", meta: Optional[dict[str, Any]] = None,
                 keep: int = 0, distinct: bool = False) -> None:
        self.tokenizer, self.rank, self.meta = tokenizer, rank, meta or {}
        self.keep, self.distinct = keep, distinct

    def add(self, rows: list[dict[str, Any]], indices: list[int], gen: Generation) -> dict[str, Any]:
        """-> {"records": [(index, record)], "trajectories": [(index, row)], "tensors": [(index, (k, R, n, d))]}."""
        out: dict[str, Any] = {"records": [], "trajectories": [], "tensors": []}
        tok = self.tokenizer
        for j, idx in enumerate(indices):
            row = rows[idx]
            k = gen.tokens.shape[1]
            codes = [decode_code(tok, gen.tokens[j, c].tolist()) for c in range(k)]
            logprob = gen.score[j].tolist()
            mbr = mbr_scores(codes) if self.rank == "mbr" else None
            order = sorted(range(k), key=lambda c: -mbr[c]) if mbr else list(range(k))  # stable: ties keep log-prob order
            order = choose(codes, order, self.keep, self.distinct)
            cands = [{"code": codes[c], "score": mbr[c], "logprob": logprob[c]} if mbr else {"code": codes[c], "score": logprob[c]}
                     for c in order]
            record = prediction_record(row, idx, cands)
            reference = record["reference"]
            out["records"].append((idx, record))
            if not gen.trajectory:
                continue
            for position, c in enumerate(order):
                points = []
                for p in gen.trajectory:
                    point = {"step": p.step, "t": p.t}
                    for prefix, tokens in (("", p.tokens), ("x_t_", p.state_tokens)):
                        if tokens is not None:
                            code = decode_code(tok, tokens[j, c].tolist())
                            point[f"{prefix}code"] = code
                            point[f"{prefix}edit_distance"] = (normalized_edit_distance(code, reference)
                                                               if reference is not None else None)
                    points.append(point)
                traj = {"id": record["id"], "nl": row["nl"], "reference": reference, **self.meta,
                        "candidate": position, "trajectory": points}
                out["trajectories"].append((idx, traj))
            if gen.trajectory[0].pred_x0 is not None:
                x = torch.stack([p.pred_x0[j] for p in gen.trajectory], dim=1)  # (k, R, n, d)
                out["tensors"].append((idx, x[order].cpu()))
        return out

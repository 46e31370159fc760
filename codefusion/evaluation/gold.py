"""Prediction files made from the gold code, for checking and timing the evaluation.

    python -m codefusion.evaluation.gold benchmark=../shared/data/codefusion-benchmarks/BashBenchmarks.json \
        split=test candidates=5 out=runs/eval/bash_gold.jsonl
    python -m codefusion.evaluate predictions=runs/eval/bash_gold.jsonl

Candidate 0 is the gold code; candidates 1..k-1 are seeded perturbations of it (a token dropped,
duplicated or swapped with its neighbour), so a correct evaluation gives 100% exact match at
top-1 and, for the primary metrics, 100% at every k. The same seed gives the same file.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

from codefusion.data.benchmarks import cf_source

_PIECES = re.compile(r"\s+|[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")
_LANGUAGE = {"PythonBenchmarks": "python", "BashBenchmarks": "bash", "CFRuleBenchmarks": "cf"}


def perturb(code: str, rng: random.Random) -> str:
    """`code` with one token dropped, duplicated or swapped with the next (whitespace kept)."""
    pieces = _PIECES.findall(code)
    tokens = [i for i, p in enumerate(pieces) if not p.isspace()]
    if not tokens:
        return code + " x"
    i = rng.choice(tokens)
    action = rng.choice(("drop", "duplicate", "swap"))
    if action == "drop" and len(tokens) > 1:
        pieces[i] = ""
    elif action == "swap" and tokens.index(i) + 1 < len(tokens):
        j = tokens[tokens.index(i) + 1]
        pieces[i], pieces[j] = pieces[j], pieces[i]
    else:
        pieces[i] = pieces[i] + " " + pieces[i]
    return "".join(pieces)


def gold_predictions(benchmark: str | Path, split: str = "test", candidates: int = 5,
                     seed: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """Prediction records (the sample.py schema) for one split of a benchmark file."""
    data = json.loads(Path(benchmark).read_text(encoding="utf-8"))
    if split not in data:
        raise ValueError(f"{benchmark} has no split {split!r} (it has {', '.join(data)})")
    language = _LANGUAGE.get(Path(benchmark).stem)
    records = []
    for n, item in enumerate(data[split][:limit]):
        rng = random.Random(f"{seed}-{n}")
        gold = item["Code"] if isinstance(item.get("Code"), str) else ""
        codes = [gold] + [perturb(gold, rng) for _ in range(candidates - 1)]
        record: dict[str, Any] = {
            "id": item.get("ID"), "nl": item.get("NL Utterance"), "reference": gold,
            "candidates": [{"code": c, "score": -float(j)} for j, c in enumerate(codes)],
        }
        if language:
            record["language"] = language
        if "Data" in item:
            record["table"] = item["Data"]
        source = cf_source(item.get("ID")) if language == "cf" else None
        if source is not None:
            record["source"] = source
        records.append(record)
    return records


def main(argv: list[str]) -> int:
    """`benchmark=FILE split=test candidates=5 seed=0 [limit=N] out=FILE.jsonl`."""
    args = dict(word.partition("=")[::2] for word in argv)
    unknown = set(args) - {"benchmark", "split", "candidates", "seed", "limit", "out"}
    if unknown or "benchmark" not in args or "out" not in args:
        print("usage: python -m codefusion.evaluation.gold benchmark=FILE.json out=FILE.jsonl "
              "[split=test] [candidates=5] [seed=0] [limit=N]", file=sys.stderr)
        return 2
    try:
        records = gold_predictions(args["benchmark"], args.get("split", "test"),
                                   int(args.get("candidates", 5)), int(args.get("seed", 0)),
                                   int(args["limit"]) if "limit" in args else None)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                   encoding="utf-8")
    print(f"wrote {len(records)} inputs to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

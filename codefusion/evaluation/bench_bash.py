"""Benchmark of Bash template match on realistic predictions: both modes, speed, and agreement
with NL2Bash's own tool when its per-item scores are given.

    python -m codefusion.evaluation.bench_bash data=../shared/data/codefusion-benchmarks/BashBenchmarks.json
    python -m codefusion.evaluation.bench_bash data=FILE pairs_out=pairs.tsv    # for the official tool
    python -m codefusion.evaluation.bench_bash data=FILE official=official.tsv  # Pearson, share > 0.1
    python -m codefusion.evaluation.bench_bash data=FILE out=report.json        # also write the report

Predictions are nearest neighbours: for every test utterance, the training commands whose
utterances share the most (lower-cased) words with it, best first (ties: earlier in the file);
the first is the top-1 prediction, five are scored. The report gives, per mode, the mean top-1
and best-of-5 template match and accuracy, the time to score the 2,522 x 5 candidates from a cold
cache, why NL2Bash's parser cannot read the gold commands, and the number of test items touched
by each remaining difference from NL2Bash's tool (docs/evaluation.md).

`official=` takes NL2Bash's tool's template-match score for each test item's top-1 pair (the
pairs `pairs_out=` writes: ID, prediction, reference, tab-separated): a TSV of `ID<TAB>score`
or a JSON object {ID: score}. It adds the item-level Pearson correlation with the `nl2bash` mode
and the share of items whose scores differ by more than 0.1. Nothing here runs that tool.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from codefusion.atomic import check_output, write_text_atomic
from codefusion.config import parse_dotlist
from codefusion.errors import UserError, run_cli
from codefusion.languages.bash_nl2bash import GRAMMAR_UTILITIES
from codefusion.languages.bash_template import (
    MODES,
    nl2bash_unreadable,
    read,
    template,
    template_accuracy,
    template_match,
)

CANDIDATES = 5


class BenchError(UserError):
    """A bad path or file, printed as one line."""


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def nearest_neighbours(train: Sequence[dict], test: Sequence[dict],
                       k: int = CANDIDATES) -> list[list[str]]:
    """For each test row, the `k` training commands whose utterances share the most words."""
    index: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(train):
        for word in _words(row["NL Utterance"]):
            index[word].append(i)
    out = []
    for row in test:
        shared: Counter[int] = Counter()
        for word in _words(row["NL Utterance"]):
            shared.update(index.get(word, ()))
        best = sorted(shared, key=lambda i: (-shared[i], i))[:k]
        out.append([train[i]["Code"] for i in best] or [""])
    return out


def _load(path: str) -> dict[str, list[dict]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {split: [r for r in data[split] if isinstance(r.get("Code"), str)]
                for split in ("train", "test")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BenchError(f"cannot read the Bash benchmark {path} ({error}); pass "
                         "data=.../BashBenchmarks.json") from None


def score(candidates: list[list[str]], refs: list[str]) -> dict[str, Any]:
    """Mean top-1 and best-of-k template match and accuracy per mode, and cold-cache timing."""
    out: dict[str, Any] = {}
    for mode in MODES:
        read.cache_clear()
        start = time.perf_counter()
        match = [[template_match(c, ref, mode) for c in cands] for cands, ref in zip(candidates, refs)]
        seconds = time.perf_counter() - start
        accuracy = [[template_accuracy(c, ref, mode) for c in cands]
                    for cands, ref in zip(candidates, refs)]
        out[mode] = {
            "template_match_top1": 100 * statistics.fmean(m[0] for m in match),
            "template_match_top5": 100 * statistics.fmean(max(m) for m in match),
            "template_accuracy_top1": 100 * statistics.fmean(a[0] for a in accuracy),
            "template_accuracy_top5": 100 * statistics.fmean(max(a) for a in accuracy),
            "seconds_template_match": seconds,
            "per_item_top1": [m[0] for m in match],
        }
    return out


def unreadable_census(refs: list[str]) -> dict[str, int]:
    """Why NL2Bash's parser cannot read the gold commands, by reason (utilities pooled)."""
    reasons: Counter[str] = Counter()
    for ref in refs:
        reason = nl2bash_unreadable(ref)
        pooled = {"utility": "utility outside the grammar", "find": "find flag outside the grammar"}
        reasons["readable" if reason is None else pooled.get(reason.split()[0], reason)] += 1
    return dict(reasons.most_common())


def differences(refs: list[str], tops: list[str]) -> dict[str, int]:
    """Test items touched by each remaining difference from NL2Bash's tool (docs/evaluation.md)."""
    readable = [nl2bash_unreadable(r) is None for r in refs]
    pairs_read = [ok and nl2bash_unreadable(p) is None for ok, p in zip(readable, tops)]

    def untyped_flag(code: str) -> bool:  # a flag the table knows nothing of, on a grammar utility
        return any(re.fullmatch(r"([\w.-]+)@-[^:]*", t) and t.split("@")[0] in GRAMMAR_UTILITIES
                   and not t.startswith("find@") for t in template(code, "structural"))

    return {
        "gold unreadable (accuracy compares words, the tool counts a miss)":
            sum(not ok for ok in readable),
        "top-1 pairs scored by the word fallback": sum(not ok for ok in pairs_read),
        "gold with a flag the table does not know (untyped; the grammar may type or reject it)":
            sum(untyped_flag(r) for r, ok in zip(refs, readable) if ok),
        "gold with positional arguments (untyped ARG; affects accuracy only)":
            sum(ok and "ARG" in template(r) for r, ok in zip(refs, readable)),
        "gold with a count or signal flag (head -5, kill -9)":
            sum(any(t in ("-NUM:Number", "-SIGNAL:Signal") for t in template(r)) for r in refs),
        "gold with unescaped parentheses in find (read as grouping)":
            sum(bool(re.search(r"\bfind\b.*\s[()](\s|$)", r)) for r in refs),
        "gold with sh -c / bash -c (body read as one argument)":
            sum(bool(re.search(r"\b(ba)?sh\s+-c\b", r)) for r, ok in zip(refs, readable) if ok),
    }


def agreement(ours: dict[Any, float], official: dict[Any, float]) -> dict[str, Any]:
    """Item-level Pearson correlation and share of items differing by more than 0.1."""
    missing = [key for key in ours if key not in official]
    if missing:
        raise BenchError(f"the official scores lack {len(missing)} test items (first: "
                         f"{missing[0]!r}); score every pair written by pairs_out=")
    a = [ours[key] for key in ours]
    b = [official[key] for key in ours]
    return {"items": len(a), "pearson": statistics.correlation(a, b),
            "share_differing_by_more_than_0.1": sum(abs(x - y) > 0.1 for x, y in zip(a, b)) / len(a),
            "official_mean_top1": 100 * statistics.fmean(b)}


def read_official(path: str) -> dict[str, float]:
    """Per-item official scores: a JSON object {ID: score} or `ID<TAB>score` lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        if path.endswith(".json"):
            return {str(k): float(v) for k, v in json.loads(text).items()}
        rows = [line.split("\t") for line in text.splitlines() if line.strip()]
        return {row[0]: float(row[-1]) for row in rows}
    except (OSError, ValueError, AttributeError, IndexError) as error:
        raise BenchError(f"cannot read official scores {path} ({error}); give a JSON object "
                         "{ID: score} or ID<TAB>score lines") from None


def run(data: str, official: str | None = None, pairs_out: str | None = None) -> dict[str, Any]:
    """The whole benchmark (see the module docstring) as a plain-JSON report."""
    splits = _load(data)
    start = time.perf_counter()
    candidates = nearest_neighbours(splits["train"], splits["test"])
    refs = [r["Code"] for r in splits["test"]]
    ids = [str(r.get("ID", i)) for i, r in enumerate(splits["test"])]
    report: dict[str, Any] = {"test_items": len(refs), "candidates": sum(map(len, candidates)),
                              "seconds_neighbours": time.perf_counter() - start}
    scores = score(candidates, refs)
    per_item = scores["nl2bash"].pop("per_item_top1")
    structural = scores["structural"].pop("per_item_top1")
    report["modes"] = scores
    report["items_where_the_modes_differ_by_more_than_0.1"] = sum(
        abs(a - b) > 0.1 for a, b in zip(per_item, structural))
    report["gold_readable_by_nl2bash"] = unreadable_census(refs)
    report["differences"] = differences(refs, [c[0] for c in candidates])
    if pairs_out:
        lines = [f"{i}\t{_one_line(c[0])}\t{_one_line(ref)}" for i, c, ref in zip(ids, candidates, refs)]
        write_text_atomic(Path(pairs_out), "\n".join(lines) + "\n")
    if official:
        report["official"] = agreement(dict(zip(ids, per_item)), read_official(official))
    return report


def _one_line(code: str) -> str:
    return code.replace("\t", " ").replace("\n", " ")


@dataclass
class BenchBashOptions:
    """The arguments (key=value), as in the module docstring."""

    data: str = ""  # BashBenchmarks.json
    official: Optional[str] = None  # NL2Bash tool scores of the top-1 pairs (TSV or JSON)
    pairs_out: Optional[str] = None  # write the top-1 pairs (ID, prediction, reference)
    out: Optional[str] = None  # also write the report here (JSON)


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: `--help` prints the module docstring; a bad argument or file is one line."""
    return run_cli(_main, list(sys.argv[1:] if argv is None else argv), usage=__doc__)


def _main(argv: list[str]) -> int:
    args: BenchBashOptions = parse_dotlist(BenchBashOptions, list(argv), BenchError)
    if not args.data:
        raise BenchError("missing data=.../BashBenchmarks.json")
    for key, path in (("pairs_out", args.pairs_out), ("out", args.out)):
        if path is not None:
            check_output(path, inputs=[args.data, args.official], key=key)
    report = run(args.data, args.official, args.pairs_out)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        write_text_atomic(Path(args.out), text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare systems side by side in the paper's Tables 1, 2 and 3, from their prediction files.

    python -m codefusion.compare predictions=[runs/cf/predictions_test.jsonl,runs/t5-cf/predictions_test.jsonl] \\
        names=[CodeFusion,CodeT5] out=comparison.md
    python -m codefusion.compare predictions=[A.jsonl,B.jsonl,C.jsonl] language=python encoder=none

Every file is scored by `codefusion.evaluation.report.score_predictions` (the code behind
`python -m codefusion.evaluate`); this module only lays the reports side by side as Markdown:
Table 1 the primary metric top-1/3/5 (per source too, when the rows name sources: the CF test
split's cornet and nltocf halves; plus exact match, the paper's Table 6), Table 2 the
diversity of the top-5, Table 3 the % of top-1 candidates that are syntactically valid.
The language is detected from the files (as `evaluate` does) unless language= is given; files
of different languages are refused. A missing or unusable file: one line on stderr, exit 2.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from codefusion.atomic import OutputPathError, check_output, write_text_atomic
from codefusion.config import parse_dotlist
from codefusion.errors import UserError, run_cli
from codefusion.languages.names import LANGUAGES

DIVERSITY_COLUMNS = [("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"), ("distinct_3", "distinct-3"),
                     ("distinct_4", "distinct-4"), ("embedding_cosine_mean", "embedding cosine mean"),
                     ("edit_distance_mean", "edit distance mean")]


class CompareError(UserError):
    """A command-line or input problem, printed as one line."""


def _pct(entry: Optional[dict[str, Any]], key: str) -> str:
    if not entry or entry.get("computed") is False or entry.get(key) is None:
        return "n/c"
    return f"{entry[key]:.1f}"


def _num(value: Any) -> str:
    return "n/c" if value is None else f"{value:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def render(names: Sequence[str], reports: Sequence[dict[str, Any]]) -> str:
    """Markdown with Tables 1, 2, 3 (and exact match) for reports of one language."""
    from codefusion.evaluation.report import label as metric_label

    primary = reports[0]["primary"]
    label = metric_label(reports[0], primary)  # Bash: with its template mode (nl2bash)
    systems = list(zip(names, reports))
    ks = ("top1", "top3", "top5")
    lines = [f"# Comparison: {reports[0]['language']}, primary metric {label}", ""]
    if len({r["inputs"] for r in reports}) > 1:
        counts = ", ".join(str(r["inputs"]) for r in reports)
        lines += [f"Note: the files score different numbers of inputs ({counts}).", ""]
    lines += [f"Table 1: {label} (%)", ""]
    lines += _table(["system", "inputs", "candidates", "top-1", "top-3", "top-5"],
                    [[n, str(r["inputs"]), str(r["candidates"]), *(_pct(r["metrics"].get(primary), k) for k in ks)]
                     for n, r in systems])
    by_source = [(n, source, group) for n, r in systems for source, group in r.get("by_source", {}).items()]
    if by_source:
        lines += ["", f"Table 1 per source of the inputs: {label} (%)", ""]
        lines += _table(["system", "source", "inputs", "top-1", "top-3", "top-5", "exact top-1", "distinct-1",
                         "edit distance mean"],
                        [[n, source, str(g["inputs"]), *(_pct(g["metrics"].get(primary), k) for k in ks),
                          _pct(g["metrics"].get("exact_match"), "top1"),
                          *(_num(g.get("diversity", {}).get(key)) for key in ("distinct_1", "edit_distance_mean"))]
                         for n, source, g in by_source])
    lines += ["", "Exact match (%, the paper's Table 6)", ""]
    lines += _table(["system", "top-1", "top-3", "top-5"],
                    [[n, *(_pct(r["metrics"].get("exact_match"), k) for k in ks)] for n, r in systems])
    lines += ["", "Table 2: diversity of the top-5 (distinct n-grams: higher is more diverse; embedding cosine: "
              "lower is; edit distance: higher is)", ""]
    lines += _table(["system", "inputs", *(title for _, title in DIVERSITY_COLUMNS)],
                    [[n, str(r["diversity"].get("inputs", 0)),
                      *(_num(r["diversity"].get(key)) for key, _ in DIVERSITY_COLUMNS)] for n, r in systems])
    lines += ["", "Table 3: syntactically valid top-1 (%)", ""]
    lines += _table(["system", "valid"], [[n, f"{r['syntax_valid_top1']:.1f}"] for n, r in systems])
    entries = [e for r in reports for e in [*r["metrics"].values(), r["diversity"].get("embedding", {})]]
    reasons = sorted({e["reason"] for e in entries if isinstance(e, dict) and e.get("computed") is False})
    if reasons:
        lines += ["", "n/c = not computed: " + "; ".join(reasons)]
    for n, r in systems:
        if r.get("skipped"):
            lines += ["", f"{n}: {len(r['skipped'])} unusable lines skipped (first: {r['skipped'][0]})"]
    return "\n".join(lines) + "\n"


def compare(paths: Sequence[str], names: Sequence[str], language: Optional[str] = None, *,
            model: Optional[str] = None, encoder: Optional[str] = None,
            device: Optional[str] = None) -> tuple[str, list[dict[str, Any]]]:
    """Score each file and render the tables; returns (markdown, reports)."""
    from codefusion.evaluation.predictions import PredictionFileError, detect_language, read_predictions
    from codefusion.evaluation.report import score_predictions

    loaded = []
    for path in paths:
        try:
            records, skipped = read_predictions(path)
            lang = language or detect_language(records, path)[0]
        except PredictionFileError as e:
            raise CompareError(str(e)) from None
        loaded.append((records, skipped, lang))
    languages = {lang for _, _, lang in loaded}
    if len(languages) > 1:
        found = ", ".join(f"{n}: {lang}" for n, (_, _, lang) in zip(names, loaded))
        raise CompareError(f"the files are of different languages ({found}); compare one language at a time "
                           "or pass language=")
    reports = []
    for records, skipped, lang in loaded:
        report = score_predictions(records, lang, model=model, encoder=encoder, device=device)
        report["skipped"] = skipped
        reports.append(report)
    return render(names, reports), reports


def default_names(paths: Sequence[str]) -> list[str]:
    """File stems, or parent/stem when stems repeat (runs/a/predictions_test.jsonl -> a/predictions_test)."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{Path(p).parent.name}/{Path(p).stem}" for p in paths]


@dataclass
class CompareOptions:
    """The arguments (key=value, the grammar of every entry point)."""

    predictions: list[str] = field(default_factory=list)  # prediction files (sample.py / train.py eval.split schema)
    names: Optional[list[str]] = None  # column names, one per file (default: the file names)
    language: Optional[str] = None  # python | bash | cf (default: detected from the files)
    out: Optional[str] = None  # also write the Markdown here (atomically)
    model: Optional[str] = None  # CodeBERTScore model (scored for Python, or for any language when given)
    encoder: Optional[str] = None  # diversity embedding model, or none (default: DEFAULT_ENCODER)
    device: Optional[str] = None  # cpu | cuda | cuda:N for the two models


def parse_args(argv: Sequence[str]) -> CompareOptions:
    opts: CompareOptions = parse_dotlist(CompareOptions, list(argv), CompareError)
    if not opts.predictions:
        raise CompareError("predictions=[A.jsonl,B.jsonl,...] is required")
    if opts.language is not None and opts.language not in LANGUAGES:
        raise CompareError(f"language={opts.language}: one of {', '.join(LANGUAGES)}")
    return opts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The entry point: `--help` prints the module docstring; a UserError or OSError (a full disk
    at write time) is one line on stderr, status 2."""
    return run_cli(_main, list(sys.argv[1:] if argv is None else argv), usage=__doc__)


def _main(argv: Optional[Sequence[str]] = None) -> int:
    from codefusion.evaluation.codebert import DEFAULT_ENCODER

    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        names = list(args.names) if args.names else default_names(args.predictions)
        if len(names) != len(args.predictions):
            raise CompareError(f"names gives {len(names)} names for {len(args.predictions)} files")
        if args.out:
            check_output(args.out, args.predictions, key="out")  # before scoring: not an input, writable
        encoder = args.encoder or DEFAULT_ENCODER
        encoder = None if encoder.lower() == "none" else encoder
        text, _ = compare(args.predictions, names, args.language, model=args.model, encoder=encoder, device=args.device)
    except (CompareError, OutputPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        write_text_atomic(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

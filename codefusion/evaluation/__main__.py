"""Score a prediction file with every metric of the CodeFusion paper.

    python -m codefusion.evaluate predictions=runs/bash/test.jsonl
    python -m codefusion.evaluate predictions=FILE.jsonl language=cf out=metrics.json
    python -m codefusion.evaluate predictions=FILE.jsonl model=/models/codebert-python encoder=none

Arguments (key=value):
    predictions  JSONL written by sample.py (or any model writing the same schema); required
    language     python | bash | cf; detected from the file when omitted
    out          where to write the JSON report; default: FILE.metrics.json beside the input
    model        CodeBERTScore model, hub name or local directory; default: code-bert-score's
                 choice (neulab/codebert-python for Python); scored for Python, or for any
                 language when given
    encoder      diversity embedding model, hub name or local directory, or `none`;
                 default microsoft/codebert-base
    device       cpu | cuda | cuda:N for the two models; default: cuda when available

It prints the table in the paper's layout and writes the JSON report. A model that cannot be
loaded (no network, no local copy) is reported as "not computed" with the reason.
Bad arguments or an unusable file: one line on stderr and exit status 2.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from codefusion.atomic import OutputPathError, check_output, write_json_atomic
from codefusion.config import parse_dotlist
from codefusion.errors import UserError, run_cli
from codefusion.languages.names import check_language


@dataclass
class EvaluateOptions:
    """The arguments (key=value), as in the module docstring."""

    predictions: str = ""
    language: Optional[str] = None
    out: Optional[str] = None
    model: Optional[str] = None
    encoder: Optional[str] = None  # default: DEFAULT_ENCODER; "none" turns diversity embeddings off
    device: Optional[str] = None


class UsageError(UserError):
    """A command-line mistake; the message is printed as is."""


def parse_args(argv: list[str]) -> EvaluateOptions:
    """`key=value` words -> EvaluateOptions (the one grammar, `codefusion.config.parse_dotlist`);
    UsageError for anything else or an unknown key."""
    args: EvaluateOptions = parse_dotlist(EvaluateOptions, argv, UsageError)
    if not args.predictions:
        raise UsageError("missing predictions=FILE.jsonl")
    device = args.device
    if device is not None and not re.fullmatch(r"cpu|mps|cuda(:\d+)?", device):
        raise UsageError(f"device={device!r}: use cpu, cuda or cuda:N")
    if device and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"device={device} but no CUDA device is visible; use device=cpu")
    if args.language is not None:
        try:
            args.language = check_language(args.language)
        except ValueError as error:
            raise UsageError(str(error)) from error
    return args


def _write_json(path: Path, data: dict) -> int:
    """Write atomically: a crash never leaves a half-written report that looks complete. Returns
    the count of non-finite numbers (written as null)."""
    return write_json_atomic(path, data)


def main(argv: list[str] | None = None) -> int:
    """The entry point: `--help` prints the module docstring; a UserError or OSError (a full disk
    at write time) is one line on stderr, status 2."""
    return run_cli(_main, list(sys.argv[1:] if argv is None else argv), usage=__doc__)


def _main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    from codefusion.evaluation.codebert import DEFAULT_ENCODER
    from codefusion.evaluation.predictions import (
        PredictionFileError,
        detect_language,
        read_predictions,
    )
    from codefusion.evaluation.report import format_table, score_predictions

    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        source = Path(args.predictions)
        records, skipped = read_predictions(source)
        if args.language is not None:
            language, how = args.language, "language="
        else:
            language, how = detect_language(records, source)
        out = Path(args.out or source.with_suffix(".metrics.json"))
        check_output(out, [source])  # before scoring: not the predictions file, writable
    except (UsageError, PredictionFileError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    encoder = args.encoder or DEFAULT_ENCODER
    report = score_predictions(records, language, model=args.model,
                               encoder=None if encoder.lower() == "none" else encoder,
                               device=args.device)
    report.update(source=str(source), language_from=how, skipped=skipped)
    print(format_table(report, source=str(source)))
    nonfinite = _write_json(out, report)
    print(f"wrote {out}" + (f" ({nonfinite} non-finite numbers written as null)" if nonfinite else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

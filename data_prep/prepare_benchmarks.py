"""Write the CodeFusion benchmarks as DATA_DIR/{python,bash,cf}/{train,valid,test}.jsonl.

Offline, from a local copy of the official files (as on the build machines):

    python data_prep/prepare_benchmarks.py source=../shared/data/codefusion-benchmarks \\
        conala_original=../shared/data/conala-original out=data

Online, from microsoft/prose-benchmarks (the default source):

    python data_prep/prepare_benchmarks.py out=data conala_original=path/to/conala

Arguments (key=value, the grammar of every entry point):
    out             DATA_DIR to write {python,bash,cf}/*.jsonl into; required
    source          folder or URL prefix holding the three *Benchmarks.json files
    conala_original folder with conala-train.json/conala-test.json; fills null Python
                    utterances (else they are dropped)
    valid_fraction  share of train carved out as valid (default 0.05)
    seed            seed of the valid carve-out (default 0)

`valid` is a seeded 5 % carve-out of the official train split; `test` is the official test
split. What is done to which row, and why, is in codefusion/data/benchmarks.py.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# the package is used from a checkout, not necessarily installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codefusion.config import parse_dotlist  # noqa: E402
from codefusion.data.benchmarks import DEFAULT_SOURCE, format_summary, prepare  # noqa: E402
from codefusion.errors import UserError, run_cli  # noqa: E402


@dataclass
class PrepareOptions:
    """The arguments (key=value), as in the module docstring."""

    out: str = ""
    source: str = DEFAULT_SOURCE
    conala_original: Optional[str] = None
    valid_fraction: float = 0.05
    seed: int = 0


def main(argv: list[str]) -> int:
    args: PrepareOptions = parse_dotlist(PrepareOptions, argv, UserError)
    if not args.out:
        raise UserError("missing out=DATA_DIR (where {python,bash,cf}/*.jsonl go)")
    out = Path(args.out)
    conala = Path(args.conala_original) if args.conala_original is not None else None
    report = prepare(args.source, out, conala, args.valid_fraction, args.seed)
    print(format_summary(report))
    print(f"wrote {out}/{{python,bash,cf}}/{{train,valid,test}}.jsonl and {out / 'prepare_report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:], usage=__doc__))

"""Write the code-only pre-training corpora as DATA_DIR/pretrain/{python,bash,cf}.jsonl.

    python data_prep/prepare_pretraining.py out=data                      # reads ../shared/data
    python data_prep/prepare_pretraining.py out=data shared=DIR benchmarks=DIR/codefusion-benchmarks
    python data_prep/prepare_pretraining.py out=/tmp/small limit=1000     # quick look

Arguments (key=value, the grammar of every entry point):
    out         DATA_DIR; the corpora go to DATA_DIR/pretrain/; required
    shared      folder holding codefusion-pretraining/ and python-snippets/ (default ../shared/data)
    benchmarks  folder with the *Benchmarks.json files (default SHARED/codefusion-benchmarks)
    limit       read only the first N records of each source

Prints the counts per source (read, unique, removed as benchmark test code, already given by an
earlier source, kept) and writes them to DATA_DIR/pretrain/report.json. What is done and why is
in codefusion/data/pretraining.py.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# the package is used from a checkout, not necessarily installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codefusion.config import parse_dotlist  # noqa: E402
from codefusion.data.pretraining import format_counts, prepare_pretraining  # noqa: E402
from codefusion.errors import UserError, run_cli  # noqa: E402


@dataclass
class PretrainingOptions:
    """The arguments (key=value), as in the module docstring."""

    out: str = ""
    shared: str = "../shared/data"
    benchmarks: Optional[str] = None
    limit: Optional[int] = None


def main(argv: list[str]) -> int:
    args: PretrainingOptions = parse_dotlist(PretrainingOptions, argv, UserError)
    if not args.out:
        raise UserError("missing out=DATA_DIR (the corpora go to DATA_DIR/pretrain/)")
    out = Path(args.out)
    report = prepare_pretraining(Path(args.shared), out, args.benchmarks, args.limit)
    print(format_counts(report))
    print(f"wrote {out / 'pretrain'}/{{python,bash,cf}}.jsonl and report.json")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, sys.argv[1:], usage=__doc__))

"""Write the code-only pre-training corpora as DATA_DIR/pretrain/{python,bash,cf}.jsonl.

    python data_prep/prepare_pretraining.py --out data                      # reads ../shared/data
    python data_prep/prepare_pretraining.py --out data --shared DIR --benchmarks DIR/codefusion-benchmarks
    python data_prep/prepare_pretraining.py --out /tmp/small --limit 1000   # quick look

Prints the counts per source (read, unique, removed as benchmark test code, already given by an
earlier source, kept) and writes them to DATA_DIR/pretrain/report.json. What is done and why is
in codefusion/data/pretraining.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# the package is used from a checkout, not necessarily installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codefusion.data.benchmarks import DataError  # noqa: E402
from codefusion.data.pretraining import format_counts, prepare_pretraining  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="DATA_DIR; the corpora go to DATA_DIR/pretrain/")
    p.add_argument("--shared", type=Path, default=Path("../shared/data"),
                   help="folder holding codefusion-pretraining/ and python-snippets/ (default ../shared/data)")
    p.add_argument("--benchmarks", type=Path, default=None,
                   help="folder with the *Benchmarks.json files (default SHARED/codefusion-benchmarks)")
    p.add_argument("--limit", type=int, default=None, help="read only the first N records of each source")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = prepare_pretraining(args.shared, args.out, args.benchmarks, args.limit)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_counts(report))
    print(f"wrote {args.out / 'pretrain'}/{{python,bash,cf}}.jsonl and report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the CodeFusion benchmarks as DATA_DIR/{python,bash,cf}/{train,valid,test}.jsonl.

Offline, from a local copy of the official files (as on the build machines):

    python data_prep/prepare_benchmarks.py --source ../shared/data/codefusion-benchmarks \\
        --conala-original ../shared/data/conala-original --out data

Online, from microsoft/prose-benchmarks (the default --source):

    python data_prep/prepare_benchmarks.py --out data --conala-original path/to/conala

`valid` is a seeded 5 % carve-out of the official train split; `test` is the official test
split. What is done to which row, and why, is in codefusion/data/benchmarks.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# the package is used from a checkout, not necessarily installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codefusion.data.benchmarks import DEFAULT_SOURCE, DataError, format_summary, prepare  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=DEFAULT_SOURCE, help="folder or URL prefix holding the three *Benchmarks.json files")
    p.add_argument("--out", required=True, type=Path, help="DATA_DIR to write {python,bash,cf}/*.jsonl into")
    p.add_argument("--conala-original", type=Path, default=None,
                   help="folder with conala-train.json/conala-test.json; fills null Python utterances (else dropped)")
    p.add_argument("--valid-fraction", type=float, default=0.05, help="share of train carved out as valid (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the valid carve-out (default 0)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = prepare(args.source, args.out, args.conala_original, args.valid_fraction, args.seed)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(report))
    print(f"wrote {args.out}/{{python,bash,cf}}/{{train,valid,test}}.jsonl and {args.out / 'prepare_report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of training and sampling speed, and the prepared GPU check.

    python -m codefusion.bench train  CONFIG.yaml|RUN/checkpoints/last.ckpt [key=value ...] [bench.steps=20 bench.warmup=5 bench.json=PATH]
    python -m codefusion.bench sample CONFIG.yaml|RUN/checkpoints/last.ckpt [key=value ...] [bench.steps=50 bench.k=5 bench.precision=bf16 ...]
    python -m codefusion.bench device [CONFIG.yaml] [key=value ...] [bench.smoke=true] [bench.json=PATH]

Config items (YAML files, or one leading .ckpt, then config `key=value` overrides) work as in
train.py; the benchmark's own options go under `bench.`. Every option, its default and what it
measures: `python -m codefusion.bench train|sample|device --help`.
"""
from __future__ import annotations

import importlib
import sys

from codefusion.errors import HELP_WORDS, UserError, run_cli

COMMANDS = ("train", "sample", "device")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0] in HELP_WORDS:
            print(__doc__.strip())
            return 0
        return run_cli(_bad_command, argv)
    module = importlib.import_module(f"codefusion.bench.{argv[0]}")
    return run_cli(module.main, argv[1:], usage=module.__doc__)


def _bad_command(argv: list[str]) -> int:
    got = f"'{argv[0]}'" if argv else "nothing"
    raise UserError(f"python -m codefusion.bench takes train, sample or device first, got {got}")


if __name__ == "__main__":
    from codefusion.quiet import quiet_third_party

    quiet_third_party()
    sys.exit(main(sys.argv[1:]))

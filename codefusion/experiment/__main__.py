"""Run an ablation experiment: every variant x seed x stage, in dependency order, then its tables.

    python -m codefusion.experiment EXPERIMENT.yaml [launcher=local|slurm] [dry_run=true]
                                    [only=VARIANT,...] [devices=1] [root=experiments] [cluster=local]

    python -m codefusion.experiment configs/experiments/quickstart_ablation.yaml            # CPU, minutes
    python -m codefusion.experiment configs/experiments/table4_cf.yaml dry_run=true          # the plan only
    python -m codefusion.experiment configs/experiments/table4_python.yaml launcher=slurm     # one job per stage

Arguments (key=value):
    launcher  local (default): on this machine, `devices` stage runs at a time; slurm: one
              submitit job per stage run with afterok dependencies
    dry_run   print the plan (every stage run and its command) and run nothing
    only      a comma-separated list of variants to run (default: all)
    devices   local launcher: stage runs at once, each with one CUDA device (default 1)
    root      where experiments/<name>/ goes (default: experiments)
    cluster   launcher=slurm: submitit's cluster (default: slurm when sbatch exists; local runs
              the jobs here with submitit's local executor)

Each stage run lives in ROOT/<name>/<variant>-seed<s>/<stage>/ (log.txt, config.yaml, done.json);
a finished run is skipped when the command is run again, a changed one re-runs with its dependants.
Results: ROOT/<name>/results.md and results.json (and plots). Exit status 1 when a stage failed.
The experiment file's schema: codefusion/experiment/schema.py.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from codefusion.config import parse_dotlist
from codefusion.errors import run_cli
from codefusion.experiment.schema import ExperimentError, load_experiment


@dataclass
class ExperimentOptions:
    launcher: Literal["local", "slurm"] = "local"
    dry_run: bool = False
    only: Optional[str] = None
    devices: int = 1
    root: str = "experiments"
    cluster: Optional[str] = None


def main(argv: list[str]) -> int:
    from codefusion.experiment.plan import make_plan
    from codefusion.experiment.progress import Progress
    from codefusion.experiment.results import write_results

    files = [a for a in argv if "=" not in a]
    if len(files) != 1:
        raise ExperimentError("give one experiment file: python -m codefusion.experiment EXPERIMENT.yaml [key=value ...]")
    opts: ExperimentOptions = parse_dotlist(ExperimentOptions, [a for a in argv if "=" in a], ExperimentError)
    if opts.devices < 1:
        raise ExperimentError(f"devices={opts.devices} must be >= 1")
    spec = load_experiment(files[0])
    only = [v.strip() for v in opts.only.split(",") if v.strip()] if opts.only else None
    plan = make_plan(spec, Path(files[0]), Path(opts.root), only)
    print(plan.describe(), flush=True)
    if opts.dry_run:
        return 0
    progress = Progress(list(plan.runs))
    if opts.launcher == "slurm":
        from codefusion.experiment.slurm import run_slurm

        run_slurm(plan, progress, cluster=opts.cluster)
    else:
        from codefusion.experiment.local import run_local

        run_local(plan, progress, devices=opts.devices)
    md, rows = write_results(plan)
    for plot_spec in spec.plots:
        from codefusion.experiment.plots import plot

        out = plot(plan, rows, plot_spec)
        if out:
            print(f"wrote {out}")
    print(md.read_text(encoding="utf-8"))
    print(f"{progress.summary()}; wrote {md} and {md.with_suffix('.json')}")
    for run_id in progress.failed():
        print(f"failed: {run_id}: {progress.note.get(run_id, '')}", file=sys.stderr)
    return 1 if progress.failed() else 0


if __name__ == "__main__":
    from codefusion.quiet import quiet_third_party

    quiet_third_party()
    sys.exit(run_cli(main, sys.argv[1:], usage=__doc__))

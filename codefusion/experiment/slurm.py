"""The SLURM launcher: every stage run that is not up to date becomes a job through submitit.

Each job's resources come from its stage's `slurm:` block; a job waits for the jobs of the runs it
reads (`--dependency=afterok:...`, and `--kill-on-invalid-dep=yes` so a failed upstream cancels
its dependants instead of leaving them pending for ever). A training stage with gpus > 1 runs one
task per GPU (tasks_per_node = gpus, on `nodes` nodes): srun starts train.py once per task and
Lightning's SLURM environment reads the ranks from SLURM_PROCID / SLURM_NTASKS, which is what it
expects (`trainer.devices` = gpus, `trainer.num_nodes` = nodes, `trainer.strategy: ddp`, checked
before anything is submitted). Only task 0 writes the stage directory's files.

`cluster=local` runs the same jobs with submitit's local executor (no SLURM needed; dependencies
by waiting for the upstream job before submitting): what the tests use.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from codefusion.experiment.plan import Plan, StageRun
from codefusion.experiment.progress import Progress
from codefusion.experiment.schema import TRAINING_KINDS, ExperimentError
from codefusion.experiment.stages import execute, is_done, read_json


def job_parameters(plan: Plan, run: StageRun, after: list[str]) -> dict[str, Any]:
    """submitit AutoExecutor parameters of one stage run; `after`: the job ids it waits for."""
    r = run.slurm
    multi = run.kind in TRAINING_KINDS and r.gpus > 1
    params: dict[str, Any] = {
        "name": f"{plan.spec.name}.{run.id.replace('/', '.')}",
        "timeout_min": r.time,
        "nodes": r.nodes if run.kind in TRAINING_KINDS else 1,
        "tasks_per_node": r.gpus if multi else 1,
        "gpus_per_node": r.gpus,
        "cpus_per_task": r.cpus_per_task,
        "slurm_partition": r.partition,
    }
    if r.mem_gb is not None:
        params["mem_gb"] = r.mem_gb
    extra: dict[str, Any] = {}
    if after:
        extra = {"dependency": "afterok:" + ":".join(after), "kill-on-invalid-dep": "yes"}
    params["slurm_additional_parameters"] = extra
    return params


def check_multi_gpu(plan: Plan) -> None:
    """A multi-GPU training stage's trainer settings agree with what it asks SLURM for."""
    for run in plan.to_execute():
        r = run.slurm
        if run.kind not in TRAINING_KINDS or (r.gpus <= 1 and r.nodes <= 1):
            continue
        t = run.config["trainer"]
        if t["devices"] != max(r.gpus, 1) or t["num_nodes"] != r.nodes or "ddp" not in str(t["strategy"]):
            raise ExperimentError(f"{plan.source}: stage '{run.stage}' asks SLURM for {r.nodes} node(s) x {r.gpus} GPU(s); "
                                  f"set trainer.devices={max(r.gpus, 1)} trainer.num_nodes={r.nodes} "
                                  f"trainer.strategy=ddp in its overrides (has devices={t['devices']}, "
                                  f"num_nodes={t['num_nodes']}, strategy={t['strategy']})")


class StageJob:
    """What a job runs (pickled by submitit): the stage's command in every task; task 0 keeps the books."""

    def __init__(self, plan: Plan, run_id: str) -> None:
        self.plan, self.run_id = plan, run_id

    def __call__(self) -> str:
        import submitit

        run = self.plan.runs[self.run_id]
        try:
            rank = submitit.JobEnvironment().global_rank
        except RuntimeError:  # not inside a submitit job
            rank = 0
        if rank == 0 and is_done(self.plan, run):
            return "up to date"
        if rank != 0:  # wait for task 0 to prepare the directory
            for _ in range(600):
                started = read_json(run.dir / "stage.json")
                if started and started.get("hash") == run.hash:
                    break
                time.sleep(1)
        ok, note = execute(self.plan, run, rank_zero=rank == 0, forward_usr2=run.kind in TRAINING_KINDS)
        if not ok:
            raise RuntimeError(f"{run.id}: {note}")
        return note


def run_slurm(plan: Plan, progress: Progress, cluster: Optional[str] = None, poll_s: float = 30.0) -> None:
    """Submit every run that is not up to date, then follow the jobs until they end."""
    import submitit

    check_multi_gpu(plan)
    folder = plan.root / "slurm" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    local = executor.cluster != "slurm"
    jobs: dict[str, Any] = {}
    state: dict[str, str] = {}
    for run in plan.to_execute():
        if all(state.get(d) == "done" for d in run.deps) and is_done(plan, run):
            state[run.id] = "done"
            progress.set(run.id, "done", "up to date")
            _shared(plan, progress, run.id, "done")
            continue
        if any(state.get(d) in ("failed", "skipped") for d in run.deps):
            state[run.id] = "skipped"
            progress.set(run.id, "skipped", "an upstream run did not finish")
            _shared(plan, progress, run.id, "skipped")
            continue
        after = [jobs[d].job_id for d in run.deps if d in jobs]
        if local:  # the local executor has no dependencies: wait for the upstream jobs first
            after = []
            for dep in run.deps:
                if dep in jobs and state.get(dep) == "queued":
                    _finish(plan, progress, state, dep, jobs[dep], min(poll_s, 1.0))
            if any(state.get(d) in ("failed", "skipped") for d in run.deps):
                state[run.id] = "skipped"
                progress.set(run.id, "skipped", "an upstream run did not finish")
                _shared(plan, progress, run.id, "skipped")
                continue
        executor.update_parameters(**job_parameters(plan, run, after))
        jobs[run.id] = executor.submit(StageJob(plan, run.id))
        state[run.id] = "queued"
        progress.set(run.id, "queued", f"job {jobs[run.id].job_id}; log: {run.dir / 'log.txt'}")
    for run_id, job in jobs.items():
        if state[run_id] == "queued":
            _finish(plan, progress, state, run_id, job, min(poll_s, 1.0) if local else poll_s)


def _finish(plan: Plan, progress: Progress, state: dict[str, str], run_id: str, job: Any, poll_s: float = 5.0) -> None:
    shown = False
    while not job.done():
        if not shown and job.state in ("RUNNING", "COMPLETING"):
            progress.set(run_id, "running", f"job {job.job_id}")
            shown = True
        time.sleep(poll_s)
    try:
        note = job.result()
        state[run_id] = "done"
    except Exception as e:  # the job's exception, or SLURM cancelled it (a failed dependency)
        state[run_id] = "failed" if "DependencyNeverSatisfied" not in str(e) else "skipped"
        note = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        note += f" (job {job.job_id}; {Path(job.paths.stderr)})"
    progress.set(run_id, state[run_id], note)
    _shared(plan, progress, run_id, state[run_id])


def _shared(plan: Plan, progress: Progress, run_id: str, run_state: str) -> None:
    for other in plan.runs.values():
        if other.shared_with == run_id:
            progress.set(other.id, run_state, f"shared with {run_id}")

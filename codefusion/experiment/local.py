"""The local launcher: stage runs in dependency order on this machine, `devices` at a time.

A run starts when everything it reads has finished; a failed run is reported with its log path
and the runs that depend on it are skipped, while every independent run still goes ahead. With
devices > 1, each concurrent run sees one accelerator (CUDA_VISIBLE_DEVICES=slot).
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from codefusion.experiment.plan import Plan, StageRun
from codefusion.experiment.progress import Progress
from codefusion.experiment.stages import execute, is_done


def run_local(plan: Plan, progress: Progress, devices: int = 1) -> None:
    todo = {r.id: r for r in plan.to_execute()}
    finished: dict[str, str] = {}  # id -> done | failed | skipped
    for run in todo.values():  # up to date: nothing to do (in order, so inputs are final)
        if all(finished.get(d) == "done" for d in run.deps) and is_done(plan, run):
            finished[run.id] = "done"
            progress.set(run.id, "done", "up to date")
            _shared(plan, progress, run.id, "done")
    pending = [r for r in todo.values() if r.id not in finished]
    free = list(range(devices))
    running: dict[Future, tuple[StageRun, int]] = {}
    with ThreadPoolExecutor(max_workers=devices) as pool:
        while pending or running:
            for run in list(pending):
                states = [finished.get(d) for d in run.deps]
                if any(s in ("failed", "skipped") for s in states):
                    pending.remove(run)
                    finished[run.id] = "skipped"
                    bad = next(d for d in run.deps if finished.get(d) in ("failed", "skipped"))
                    progress.set(run.id, "skipped", f"needs {bad}, which did not finish")
                    _shared(plan, progress, run.id, "skipped")
                elif all(s == "done" for s in states) and free:
                    pending.remove(run)
                    slot = free.pop(0)
                    env = {"CUDA_VISIBLE_DEVICES": str(slot)} if devices > 1 else None
                    progress.set(run.id, "running", f"log: {run.dir / 'log.txt'}")
                    running[pool.submit(execute, plan, run, env)] = (run, slot)
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run, slot = running.pop(future)
                free.append(slot)
                try:
                    ok, note = future.result()
                except Exception as e:  # a bug or an OSError in our own bookkeeping: report, go on
                    ok, note = False, f"{type(e).__name__}: {e}"
                finished[run.id] = "done" if ok else "failed"
                progress.set(run.id, finished[run.id], note)
                _shared(plan, progress, run.id, finished[run.id])


def _shared(plan: Plan, progress: Progress, run_id: str, state: str) -> None:
    for other in plan.runs.values():
        if other.shared_with == run_id:
            progress.set(other.id, state, f"shared with {run_id}")

"""Running one stage run: the real entry point as a subprocess, in its own directory.

    <stage dir>/stage.json   the hash and command of the run in progress (written at start)
    <stage dir>/config.yaml  the resolved run config (training) or the arguments (sample, evaluate)
    <stage dir>/log.txt      the command's stdout and stderr, one header per attempt
    <stage dir>/done.json    written atomically after success: command, hash, upstream finish times

A run is up to date when its done.json has its current hash and the finish times of the runs it
read; otherwise it runs again. A directory holding another hash's run is cleared first; the same
hash's interrupted training resumes from its last.ckpt (train.ckpt_path=auto, which starts over
in place when it was killed before its first save).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from codefusion.atomic import write_json_atomic, write_text_atomic
from codefusion.experiment.plan import Plan, StageRun


def read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def finished_at(run: StageRun) -> Optional[float]:
    marker = read_json(run.dir / "done.json")
    return marker.get("finished_at") if marker and marker.get("hash") == run.hash else None


def inputs(plan: Plan, run: StageRun) -> dict[str, Optional[float]]:
    """When each run this one reads finished: a re-run upstream makes this one stale too."""
    return {dep: finished_at(plan.runs[dep]) for dep in run.deps}


def is_done(plan: Plan, run: StageRun) -> bool:
    marker = read_json(run.dir / "done.json")
    return bool(marker and marker.get("hash") == run.hash and marker.get("inputs") == inputs(plan, run)
                and run.output().exists())


def prepare(plan: Plan, run: StageRun) -> None:
    """Clear a directory that holds another run (another hash, or read other upstream outputs);
    record this one; save its resolved config. The same run interrupted is kept, to resume."""
    started, now = read_json(run.dir / "stage.json"), inputs(plan, run)
    if run.dir.exists() and (started is None or started.get("hash") != run.hash or started.get("inputs") != now):
        shutil.rmtree(run.dir)
    (run.dir / "done.json").unlink(missing_ok=True)
    run.dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.dir / "stage.json", {"id": run.id, "hash": run.hash, "command": run.argv, "inputs": now})
    write_text_atomic(run.dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(run.config or {})))
    if run.synthetic:  # the training's synthetic held-out splits as files sample.py reads
        from codefusion.data.synthetic_cf import write_splits

        out = Path(run.synthetic["out_dir"])
        if not (out / "test.jsonl").exists():
            write_splits(out, run.synthetic["n_train"], run.synthetic["n_valid"], run.synthetic["n_test"],
                         run.synthetic["seed"])


def execute(plan: Plan, run: StageRun, env: Optional[dict[str, str]] = None, rank_zero: bool = True,
            forward_usr2: bool = False) -> tuple[bool, str]:
    """Run the stage's command; (ok, one line: what happened and where the log is).

    forward_usr2 (SLURM jobs, main thread only): submitit has SLURM send SIGUSR2 before the time
    limit; the command ignores it and gets SIGUSR1 instead, on which train.py saves last.ckpt and
    requeues the job (the requeued job resumes it)."""
    if rank_zero:
        prepare(plan, run)
    log = run.dir / "log.txt"
    start = time.time()
    full_env = {**os.environ, "CODEFUSION_PROGRESS": "0", **(env or {})}
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(run.argv)}\n")
        f.flush()
        proc = subprocess.Popen(run.argv, stdout=f, stderr=subprocess.STDOUT, env=full_env, stdin=subprocess.DEVNULL,
                                preexec_fn=_ignore_usr2 if forward_usr2 else None)
        previous = signal.signal(signal.SIGUSR2, lambda *_: proc.send_signal(signal.SIGUSR1)) if forward_usr2 else None
        try:
            code = proc.wait()
        finally:
            if forward_usr2:
                signal.signal(signal.SIGUSR2, previous)
    seconds = time.time() - start
    if code != 0:
        return False, f"exit status {code} after {seconds:.0f} s; log: {log}{last_error(log)}"
    if not run.output().exists():
        return False, f"finished without writing {run.output()}; log: {log}"
    if rank_zero:
        write_json_atomic(run.dir / "done.json", {"id": run.id, "hash": run.hash, "command": run.argv,
                                                  "finished_at": time.time(), "seconds": round(seconds, 1),
                                                  "inputs": inputs(plan, run)})
    return True, f"{seconds:.0f} s"


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # an ignored signal stays ignored across exec


def last_error(log: Path) -> str:
    """The log's last `error: ...` line, if any, to show beside the failure."""
    try:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.startswith("error:")]
    except OSError:
        return ""
    return f" ({lines[-1]})" if lines else ""

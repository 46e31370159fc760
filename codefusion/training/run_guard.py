"""What keeps a run's progress safe: the run directory's lock, the refusal to train over a
finished run, the periodic `last.ckpt`, a clean stop on SIGTERM / SIGINT / SIGUSR1 and on a
diverging loss.

    lock_run_dir / release_run_dir   one run per directory (a stale lock from a dead PID is taken over)
    check_run_dir                    a directory holding a run is refused unless resuming or overwriting
    RunGuard                         the Lightning callback: last.ckpt every N steps, signals, divergence

Every save happens at the end of an optimizer step (on_train_batch_end, where Lightning's own
ModelCheckpoint saves), so each `last.ckpt` resumes bit-exactly with `train.ckpt_path=`.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import Callback

from codefusion.errors import UserError

LOCK_NAME = ".lock"


class RunDirError(UserError):
    """A run directory in use or already holding a run; reported in one line."""


class TrainingStopped(Exception):
    """Training stopped early on purpose (a signal or divergence); one line and an exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---- the run directory ----------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22), "" where
    /proc cannot tell: with it a lock names one process, not a PID that the system may reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return fields[19] if len(fields) > 19 else ""


def _holder_alive(pid: int, started: str) -> bool:
    """The lock's process still runs: its PID is alive and, when the lock recorded a start time,
    the process with that PID now started then (not a new process that reused the PID)."""
    if not _pid_alive(pid):
        return False
    return not started or _start_time(pid) in ("", started)


def lock_run_dir(run_dir: Path) -> Path:
    """Create run_dir/.lock holding "host pid start-time"; RunDirError when a live process holds
    it. A lock left by a dead process on this host is taken over (a crash or kill -9 leaves one
    behind), also when its PID now belongs to another process (the start times differ)."""
    lock = run_dir / LOCK_NAME
    me = f"{socket.gethostname()} {os.getpid()} {_start_time(os.getpid())}".rstrip() + "\n"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            host, pid, started = (lock.read_text(errors="replace").split() + ["", "", ""])[:3]
            if host == socket.gethostname() and pid.isdigit() and not _holder_alive(int(pid), started):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            raise RunDirError(f"run directory {run_dir} is in use by process {pid or '?'} on {host or '?'} "
                              f"(lock file {lock}); wait for it, or choose another train.run_dir") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return lock
    raise RunDirError(f"cannot take the lock {lock}; remove it if no run uses {run_dir}")


def release_run_dir(lock: Path) -> None:
    """Remove the lock if it is still ours."""
    try:
        if lock.read_text().split()[1] == str(os.getpid()):
            lock.unlink()
    except (OSError, IndexError):
        pass


def holds_run(run_dir: Path) -> bool:
    """A run directory holds a run once it has a checkpoint or a saved config."""
    ckpts = run_dir / "checkpoints"
    return (run_dir / "config.yaml").is_file() or (ckpts.is_dir() and any(ckpts.glob("*.ckpt")))


def check_run_dir(run_dir: Path, resuming: bool, overwrite: bool) -> None:
    """Refuse a directory that already holds a run, unless resuming it or told to overwrite it
    (which removes its checkpoints: a stale best-step*.ckpt would be mistaken for the new run's)."""
    if not holds_run(run_dir) or resuming:
        return
    if not overwrite:
        raise RunDirError(f"run directory {run_dir} already holds a run; resume it with "
                          f"train.ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}, choose another "
                          "train.run_dir, or replace it with train.overwrite=true")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed process left (atomic writes: `.NAME.*.tmp*`). Only
    called while holding the lock, so no live writer owns them."""
    stale = [p for d in (run_dir, run_dir / "checkpoints") if d.is_dir()
             for p in d.glob(".*.tmp*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


# ---- the callback ---------------------------------------------------------------------------
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class RunGuard(Callback):
    """last.ckpt every `every_n_steps` optimizer steps and at `max_steps`; a signal stops training
    at the end of the current step after saving last.ckpt; `max_nonfinite_steps` consecutive
    steps with a non-finite loss stop it keeping the last good last.ckpt.

    SIGTERM (SLURM, Kubernetes, `timeout`) and SIGINT (Ctrl-C; a second one stops at once, unsaved)
    end the run with exit code 128 + signal number; SIGUSR1 (SLURM's `--signal=USR1@T`) also
    requeues the SLURM job (`scontrol requeue`) so it resumes with `train.ckpt_path=auto`.
    """

    def __init__(self, last_path: Path, every_n_steps: int, max_nonfinite_steps: int) -> None:
        self.last_path, self.every_n_steps, self.max_nonfinite_steps = last_path, every_n_steps, max_nonfinite_steps
        self.signum: Optional[int] = None
        self.seen_step = -1  # global_step at the previous on_train_batch_end
        self.step_bad = False  # a micro-batch of the current step had a non-finite loss
        self.bad_streak, self.first_bad = 0, -1
        self.saved_step = -1

    # Lightning installs its SIGTERM handler after on_fit_start and restores the previous
    # handlers at teardown; ours replace it from on_train_start, so a signal is only noted and
    # acted on at a step boundary (Lightning's would raise mid-validation and exit 0).
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without saving
        self.signum = signum
        print(f"\nreceived {signal.Signals(signum).name}: saving {self.last_path} at the end of this step",
              flush=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.step_bad |= loss is not None and not math.isfinite(float(loss))
        step = trainer.global_step
        if step == self.seen_step:
            return  # a micro-batch inside gradient accumulation: no optimizer step yet
        self.seen_step = step
        self._count_nonfinite(step)
        due = step % self.every_n_steps == 0 or step >= trainer.max_steps
        stop = self._signal_received(trainer)
        if self.bad_streak == 0 and (due or stop):
            self.save(trainer, step)
        if stop:
            self._stop_on_signal(trainer, step)
        if self.max_nonfinite_steps and self.bad_streak >= self.max_nonfinite_steps:
            kept = f"{self.last_path} (step {self.saved_step})" if self.saved_step >= 0 else "none saved"
            raise TrainingStopped(f"stopped: non-finite training loss for {self.bad_streak} consecutive steps "
                                  f"(steps {self.first_bad}-{step}); last good checkpoint: {kept}; "
                                  "lower optim.lr or raise optim.warmup_steps", exit_code=3)

    def _count_nonfinite(self, step: int) -> None:
        if self.step_bad:
            self.first_bad = step if self.bad_streak == 0 else self.first_bad
            self.bad_streak += 1
            print(f"\nwarning: non-finite training loss at step {step}", flush=True)
        else:
            self.bad_streak = 0
        self.step_bad = False

    def _signal_received(self, trainer: L.Trainer) -> bool:
        """Any rank's signal stops every rank at the same step (a rank alone would hang DDP)."""
        got = self.signum is not None
        if trainer.world_size > 1:
            got = trainer.strategy.reduce_boolean_decision(got, all=False)
            if got and self.signum is None:
                self.signum = signal.SIGTERM  # another rank's signal
            # A signal that arrives during the reduce is kept for the next step's decision
            # (clearing it here lost it: the run went on to max_steps and exited 0).
        return got

    def save(self, trainer: L.Trainer, step: int) -> None:
        trainer.save_checkpoint(self.last_path, weights_only=False)
        self.saved_step = step

    def _stop_on_signal(self, trainer: L.Trainer, step: int) -> None:
        assert self.signum is not None
        name = signal.Signals(self.signum).name
        requeued = self.signum == signal.SIGUSR1 and trainer.is_global_zero and requeue_slurm_job()
        resume = "it resumes from there (train.ckpt_path=auto)" if requeued else \
            f"resume with train.ckpt_path={self.last_path}"
        raise TrainingStopped(f"stopped by {name} at step {step}; saved {self.last_path}; {resume}",
                              exit_code=128 + self.signum)


def requeue_slurm_job() -> bool:
    """`scontrol requeue` this SLURM job (array tasks included); False outside SLURM or on failure."""
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    if not job:
        return False
    try:
        return subprocess.call(["scontrol", "requeue", job]) == 0
    except OSError:
        return False


"""A real 2-process DDP run on CPU (gloo), launched by Lightning from train.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from conftest import ROOT, TINY


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY, f"train.run_dir={run}", f"data.cache_dir={tmp_path / 'cache'}", "trainer.devices=2",
            "trainer.strategy=ddp", "train.global_batch_size=16", "train.per_device_batch_size=4", "train.max_steps=4"]
    proc = subprocess.run([sys.executable, "train.py", "configs/quickstart.yaml", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Derived, printed once (rank 0): 16 = 4 per device x 2 processes x 2 accumulation.
    assert proc.stdout.count("batch: global 16 = per-device 4 x world 2 x gradient accumulation 2") == 1
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4
    # Each rank read its own half of every epoch: 64 examples / (2 ranks x 4) = 8 batches per rank.
    assert ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["processed"] == 8


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sigterm_to_one_rank_stops_every_rank_at_one_step_and_resumes(tmp_path: Path) -> None:
    """SIGTERM reaches rank 1 only (a preempted node): the decision is reduced across ranks, both
    stop after the same step, last.ckpt is saved and the run exits 143; resuming finishes it."""
    import os
    import signal
    import time

    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    args = [*TINY, f"train.run_dir={run}", f"data.cache_dir={tmp_path / 'cache'}", "trainer.devices=2",
            "trainer.strategy=ddp", "train.global_batch_size=8", "train.per_device_batch_size=4",
            "train.max_steps=400", "train.checkpoint_every_n_steps=2", "train.val_every_n_steps=1000",
            "eval.split=none", "train.ckpt_path=auto"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CODEFUSION_PROGRESS": "0"}
    cmd = [sys.executable, "train.py", "configs/quickstart.yaml", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not last.is_file() or not _children(proc.pid):
            assert proc.poll() is None and time.time() < deadline, "the DDP run ended before its first save"
            time.sleep(0.1)
        rank1 = [p for p in _children(proc.pid) if "train.py" in Path(f"/proc/{p}/cmdline").read_text()]
        assert rank1, "no rank-1 process"
        os.kill(rank1[0], signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (out[-2000:], err[-2000:], rank1)
    stopped = torch.load(last, weights_only=True)["global_step"]
    assert 2 <= stopped < 400
    assert f"stopped by SIGTERM at step {stopped}; saved {last}" in err
    finish = subprocess.run([*cmd[:-1], "train.max_steps=" + str(stopped + 2), "train.ckpt_path=auto"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr[-3000:]
    assert torch.load(last, weights_only=True)["global_step"] == stopped + 2

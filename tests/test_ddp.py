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

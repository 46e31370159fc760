"""What train.py prints (issue: a quiet console): config facts, progress as steps of max_steps,
no third-party noise; in a log file the bar refreshes every 1% of the run, one line each."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TINY


def test_train_console_is_steps_of_max_steps_and_quiet(tmp_path: Path) -> None:
    args = [*TINY, "train.max_steps=100", f"train.run_dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}",
            "eval.split=none", "train.val_every_n_steps=1000"]
    env = {**os.environ, "CODEFUSION_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "train.py", "configs/quickstart.yaml", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    lines = text.replace("\r", "\n").splitlines()
    bars = [line for line in lines if line.startswith("step:")]
    assert bars and "100/100" in bars[-1]
    assert len(bars) < 150  # one line per step (1% of 100, at least 1) plus one per epoch; two per step before
    assert "Epoch" not in text and "/-2" not in text
    assert "litlogger" not in text.lower() and "LeafSpec" not in text
    assert any(line.startswith("parameters: ") for line in lines)
    assert any(line.startswith("batch: global ") for line in lines)

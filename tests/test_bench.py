"""`python -m codefusion.bench train` end to end on a tiny model (about 15 s on 2 CPU cores)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model.denoiser_layers=1", "model.decoder_layers=1", "model.encoder_layers=1", "model.d_model=32",
    "model.n_heads=2", "model.d_ff=64", "model.encoder_d_model=32", "model.encoder_d_ff=64", "model.encoder_heads=2",
    "model.encoder_d_kv=16", "model.embed_dim=16", "data.synthetic_train=256", "data.synthetic_valid=32",
    "data.synthetic_test=32", "tokenizer.train_vocab_size=300", "train.per_device_batch_size=8",
    "train.global_batch_size=8",
]


def bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codefusion.bench", "train", str(ROOT / "configs/quickstart.yaml"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          # One torch thread: on a CPU shared with busy processes, a thread per core
                          # makes every op wait for a descheduled thread (seconds per tiny step).
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def test_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = bench(*TINY, "--steps", "5", "--warmup", "2", "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["samples_per_s"] > 0 and r["tokens_per_s"] > 0
    assert r["samples_per_step"] == 8 and r["tokens_per_step"] > 8 * 32  # code positions + source
    assert math.isfinite(r["overhead"]) and math.isfinite(r["overhead_median"])
    assert r["peak_memory_bytes"] > 0 and "RSS" in r["peak_memory_kind"]
    assert set(r["params"]) == {"encoder", "denoiser", "decoder", "embedding", "head", "total"}
    assert r["params"]["total"] == sum(v for k, v in r["params"].items() if k != "total") > 0
    assert r["flops_per_step"] > 0 and r["mfu"] is None  # no MFU on CPU
    for loop in ("bare", "lightning"):
        assert len(r[loop]["step_times"]) == 5 and r[loop]["seconds"] > 0
    # Same weights, batches and seeds: the bare loop must do exactly what Lightning did.
    assert r["same_work"] and math.isclose(r["bare"]["last_loss"], r["lightning"]["last_loss"], rel_tol=1e-4)
    assert "Lightning overhead" in done.stdout and "tokens = code positions" in done.stdout


def test_bad_key_is_one_line(tmp_path: Path) -> None:
    done = bench("model.no_such_key=3", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.no_such_key" in lines[0], done.stderr


def test_bench_sample_reports_step_time_against_the_bare_forward(tmp_path: Path) -> None:
    out = tmp_path / "sample.json"
    done = subprocess.run([sys.executable, "-m", "codefusion.bench", "sample", str(ROOT / "configs/quickstart.yaml"), *TINY,
                           "--steps", "4", "--batch", "2", "--k", "3", "--repeats", "1", "--json", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert (r["rows"], r["steps"], r["sample_steps"]) == (6, 4, 1200)
    assert set(r["samplers"]) == {"ddpm", "ddim", "dpm_solver++"} and r["forward_ms"] > 0
    for s in r["samplers"].values():
        assert s["ratio"] > 0 and s["step_ms"] > 0
        assert s["per_example_ms"] == (r["encode_decode_ms"] + s["step_ms"] * 1200) / 2
    assert "x forward" in done.stdout and "dpm_solver++" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "codefusion.bench", "sample", str(ROOT / "configs/quickstart.yaml"),
                          "--samplers", "euler"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert bad.returncode == 2 and "unknown sampler 'euler'" in bad.stderr

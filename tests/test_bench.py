"""`python -m codefusion.bench train|sample|device` end to end on tiny models (about 1 minute on 2 CPU cores)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codefusion.bench.common import BenchError, matmul_peak, parse_bench, split_args
from codefusion.bench.sample import SampleBench

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs/quickstart.yaml")
TINY = [
    "model.denoiser_layers=1", "model.decoder_layers=1", "model.encoder_layers=1", "model.d_model=32",
    "model.n_heads=2", "model.d_ff=64", "model.encoder_d_model=32", "model.encoder_d_ff=64", "model.encoder_heads=2",
    "model.encoder_d_kv=16", "model.embed_dim=16", "data.synthetic_train=256", "data.synthetic_valid=32",
    "data.synthetic_test=32", "tokenizer.train_vocab_size=300", "train.per_device_batch_size=8",
    "train.global_batch_size=8",
]


def bench(*args: str, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codefusion.bench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout,
                          # One torch thread: on a CPU shared with busy processes, a thread per core
                          # makes every op wait for a descheduled thread (seconds per tiny step).
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})


def test_bench_train_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = bench("train", QUICKSTART, *TINY, "bench.steps=5", "bench.warmup=2", f"bench.json={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["samples_per_s"] > 0 and r["tokens_per_s"] > 0
    assert r["samples_per_step"] == 8 and r["tokens_per_step"] > 8 * 32  # code positions + source
    assert math.isfinite(r["overhead"]) and math.isfinite(r["overhead_median"])
    assert r["peak_memory_bytes"] > 0 and "RSS" in r["peak_memory_kind"]
    assert set(r["params"]) == {"encoder", "denoiser", "decoder", "embedding", "head", "context_positions", "total"}
    assert r["params"]["context_positions"] == 40 * 32  # the quickstart's source positions: max_nl_len x encoder width
    assert r["params"]["total"] == sum(v for k, v in r["params"].items() if k != "total") > 0
    assert r["flops_per_step"] > 0 and r["mfu"] is None  # no datasheet MFU on CPU ...
    # ... but the achieved FLOP/s against a float32 matmul measured in the same run
    assert r["matmul_peak"]["dtype"] == "float32" and r["matmul_peak"]["flops_per_s"] > 0
    assert r["of_matmul_peak"] == pytest.approx(r["flops_per_s"] / r["matmul_peak"]["flops_per_s"])
    for loop in ("bare", "lightning"):
        assert len(r[loop]["step_times"]) == 5 and r[loop]["seconds"] > 0
    # Same weights, batches and seeds: the bare loop must do exactly what Lightning did.
    assert r["same_work"] and math.isclose(r["bare"]["last_loss"], r["lightning"]["last_loss"], rel_tol=1e-4)
    assert "Lightning overhead" in done.stdout and "tokens = code positions" in done.stdout
    assert "of a 5120x512x2048 float32 matmul" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["train", QUICKSTART, "model.no_such_key=3"], "model.no_such_key"),
    (["train", QUICKSTART, "bench.stpes=3"], "unknown key 'bench.stpes'"),
    (["train", QUICKSTART, "bench.steps=many"], "bench.steps"),
    (["train", QUICKSTART, "--steps", "3"], "not of the form key=value"),
    (["sample", QUICKSTART, "bench.samplers=[euler]"], "unknown sampler 'euler'"),
    (["sample", QUICKSTART, "bench.precision=fp8"], "bench.precision=fp8 must be one of auto, 32, bf16"),
    (["sample", QUICKSTART, "bench.steps=5000"], "larger than T = 1200"),
    (["profile", QUICKSTART], "takes train, sample or device first"),
])
def test_bad_arguments_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = bench(*args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_help_prints_the_command_s_usage(tmp_path: Path) -> None:
    done = bench("sample", "--help", cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and "bench.samplers" in done.stdout and "GFLOP/s" in done.stdout


def test_bench_options_are_typed_by_the_config_parser() -> None:
    items, bench_items = split_args([QUICKSTART, "model.d_model=32", "bench.steps=3", "bench.samplers=[ddim]",
                                     "bench.precisions=[32,bf16]", "bench.compile=true"])
    assert items == [QUICKSTART, "model.d_model=32"]
    o = parse_bench(SampleBench, bench_items)
    assert (o.steps, o.samplers, o.precisions, o.compile) == (3, ["ddim"], ["32", "bf16"], True)
    with pytest.raises(BenchError, match="bench.k"):
        parse_bench(SampleBench, ["bench.k=five"])


def test_matmul_peak_measures_the_dtype_asked() -> None:
    import torch

    for dtype in (torch.float32, torch.bfloat16):
        peak = matmul_peak(dtype, torch.device("cpu"), shape=(64, 64, 64), min_seconds=0.01)
        assert peak["dtype"] == str(dtype).removeprefix("torch.") and peak["flops_per_s"] > 0


def test_bench_sample_reports_step_time_against_the_bare_forward(tmp_path: Path) -> None:
    out = tmp_path / "sample.json"
    done = bench("sample", QUICKSTART, *TINY, "bench.steps=4", "bench.batch=2", "bench.k=3", "bench.repeats=1",
                 f"bench.json={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert (r["rows"], r["steps"], r["sample_steps"], r["precision"]) == (6, 4, 1200, "32")
    assert set(r["samplers"]) == {"ddpm", "ddim", "dpm_solver++"} and r["forward_ms"] > 0
    for s in r["samplers"].values():
        assert s["ratio"] > 0 and s["step_ms"] > 0
        assert s["per_example_ms"] == (r["encode_decode_ms"] + s["step_ms"] * 1200) / 2
    assert r["forward_flops"] > 0 and r["matmul_peak"]["dtype"] == "float32"
    assert r["of_matmul_peak"] == pytest.approx(r["forward_flops_per_s"] / r["matmul_peak"]["flops_per_s"])
    assert "x forward" in done.stdout and "dpm_solver++" in done.stdout and "of matmul peak" in done.stdout


def test_bench_sample_measures_several_precisions_in_one_process(tmp_path: Path) -> None:
    out = tmp_path / "sample.json"
    done = bench("sample", QUICKSTART, *TINY, "bench.steps=2", "bench.batch=1", "bench.k=2", "bench.repeats=1",
                 "bench.samplers=[ddim]", "bench.precisions=[32,bf16]", f"bench.json={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert [r["precision"] for r in runs] == ["32", "bf16"]
    assert [r["matmul_peak"]["dtype"] for r in runs] == ["float32", "bfloat16"]
    assert "ddim: bf16 step" in done.stdout


def test_bench_device_smoke_runs_the_gpu_check_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "device.json"
    done = bench("device", "bench.smoke=true", "bench.train_steps=2", "bench.train_warmup=1", "bench.sample_batch=2",
                 "bench.k=2", "bench.sample_timed=2", "bench.repeats=1", f"bench.json={out}", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["smoke"] and r["device"] == "cpu" and not r["skipped"]
    assert set(r["train"]) == {"32-true/eager", "bf16-mixed/eager", "32-true/compiled", "bf16-mixed/compiled"}
    assert set(r["sample"]) == {"32/eager", "bf16/eager", "32/compiled", "bf16/compiled"}
    for t in r["train"].values():
        assert t["step_ms"] > 0 and t["flops_per_step"] > 0 and t["weights_changed"] and t["finite"]
    T = 200  # the smoke config's diffusion.num_timesteps
    for s in r["sample"].values():
        assert s[f"ddpm_{T}_ms_per_example"] > 0
        assert s[f"{r['fast']['sampler']}_{r['fast']['steps']}_ms_per_example"] > 0  # sample.py's default setting
    checks = r["checks"]
    assert checks["same_seed_same_output"] and checks["compiled_equals_eager"] and checks["bf16_training_changes_weights"]
    assert set(r["matmul_peak"]) == {"32", "bf16"} and r["paper"]["ms_per_example"] == 2318
    assert "device check on cpu" in done.stdout and "checks:" in done.stdout


def test_bench_device_without_a_gpu_says_so(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = bench("device", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "bench.smoke=true" in done.stderr and len(done.stderr.strip().splitlines()) == 1

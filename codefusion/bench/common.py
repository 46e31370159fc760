"""What every benchmark shares: the command line, the config, timing, the matmul peak, memory.

One grammar (as train.py and sample.py): YAML files (or one leading .ckpt), then `key=value`
config overrides, then the benchmark's own options under `bench.` (`bench.steps=3`), every
value typed by the same OmegaConf parser (`codefusion.config.parse_dotlist`); a bad key or
value is one line naming it.
"""
from __future__ import annotations

import dataclasses
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import torch

from codefusion.checkpoint import load_checkpoint
from codefusion.config import Config, from_dict, load_config, parse_dotlist, save_yaml
from codefusion.errors import UserError

CODET5_VOCAB = 32100  # 32,000 BPE tokens + 100 <extra_id_*> sentinels
PREFIX = "bench."
# The matmul whose speed is "the peak": (M, K) @ (K, N). On the CPU a paper-size denoiser's own
# largest one (40 rows x n = 128 positions, d_model 512 -> d_ff 2048); on a GPU a large square.
CPU_PEAK_SHAPE = (5120, 512, 2048)
GPU_PEAK_SHAPE = (8192, 8192, 8192)
# Dense peak FLOP/s by device-name fragment, first match wins (so "H100 PCIe" before "H100",
# "L40S" before "L4"): bf16/fp16 tensor cores, TF32 tensor cores, plain FP32.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": dict(bf16=989e12, tf32=494e12, fp32=67e12), "H100 PCIe": dict(bf16=756e12, tf32=378e12, fp32=51e12),
    "H100": dict(bf16=989e12, tf32=494e12, fp32=67e12), "A100": dict(bf16=312e12, tf32=156e12, fp32=19.5e12),
    "L40S": dict(bf16=362e12, tf32=183e12, fp32=91.6e12), "L4": dict(bf16=121e12, tf32=60e12, fp32=30.3e12),
}

T = TypeVar("T")


class BenchError(UserError):
    """A bad benchmark option, reported in one line."""


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """argv -> (config items: files and config key=value; bench items, kept whole: `bench.steps=3`).
    A dashed flag (the old `--steps 3`) is a BenchError naming its new spelling."""
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        name = flags[0].lstrip("-").replace("-", "_")
        raise BenchError(f"argument '{flags[0]}' is not of the form key=value; benchmark options are "
                         f"bench.KEY=VALUE (bench.{name}=...)")
    bench = [a for a in argv if a.startswith(PREFIX)]
    return [a for a in argv if not a.startswith(PREFIX)], bench


def parse_bench(schema: type[T], items: list[str]) -> T:
    """`bench.KEY=VALUE` items -> an instance of the dataclass `schema`; BenchError naming the key
    (`unknown key 'bench.stpes'`, `bad value for 'bench.steps': ...`)."""
    wrapper = dataclasses.make_dataclass("BenchArgs", [("bench", schema, dataclasses.field(default_factory=schema))])
    return parse_dotlist(wrapper, items, BenchError).bench


def load_bench_config(items: list[str]) -> tuple[Config, Optional[str]]:
    """YAML files (or one leading .ckpt) and key=value overrides -> config and, for a checkpoint,
    its tokenizer as JSON (so the vocabulary, hence the head, is the run's)."""
    files = [a for a in items if "=" not in a]
    overrides = [a for a in items if "=" in a]
    if not files or not files[0].endswith(".ckpt"):
        return load_config(files, overrides), None
    ckpt = load_checkpoint(files[0])
    with tempfile.TemporaryDirectory() as tmp:  # checkpoint config -> YAML, so overrides merge as usual
        save_yaml(from_dict(ckpt["hyper_parameters"]["config"]), Path(tmp) / "ckpt.yaml")
        cfg = load_config([str(Path(tmp) / "ckpt.yaml"), *files[1:]], overrides)
    return cfg, ckpt["codefusion"]["tokenizer_json"]


def vocab_size(cfg: Config, tokenizer_json: Optional[str]) -> int:
    """A checkpoint's own vocabulary, else CodeT5's, or the size of the BPE the run would train."""
    if tokenizer_json:
        from codefusion.data.tokenizer import tokenizer_from_json

        return len(tokenizer_from_json(tokenizer_json))
    return CODET5_VOCAB if cfg.tokenizer.name_or_path else cfg.tokenizer.train_vocab_size


def check_json_path(path: Optional[str]) -> None:
    if path and not Path(path).resolve().parent.is_dir():
        raise BenchError(f"bench.json={path}: its directory does not exist")


def write_json(path: Optional[str], result: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


def sync(device: torch.device) -> None:
    if device.type == "cuda":  # CUDA runs ahead of Python: time only finished work
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds `fn()` takes, finished work only."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def dtype_of(precision: str) -> torch.dtype:
    """The matmul dtype of a precision: bf16 (sampling) / bf16-mixed / 16-mixed / float32."""
    if precision in ("bf16", "bf16-mixed", "bf16-true"):
        return torch.bfloat16
    if precision in ("16-mixed", "16-true"):
        return torch.float16
    return torch.float32


def matmul_peak(dtype: torch.dtype, device: torch.device, shape: Optional[tuple[int, int, int]] = None,
                min_seconds: float = 0.3) -> dict[str, Any]:
    """FLOP/s of a plain large matmul in `dtype` on `device`, best of 3 rounds of at least
    `min_seconds`: the practical ceiling the model's arithmetic is measured against (same
    machine, same threads, same run)."""
    m, k, n = shape or (GPU_PEAK_SHAPE if device.type == "cuda" else CPU_PEAK_SHAPE)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(m, k, device=device, generator=gen).to(dtype)
    b = torch.randn(k, n, device=device, generator=gen).to(dtype)
    a @ b  # warm-up (kernel choice, packing buffers)
    reps = 1
    while True:
        seconds = timed(lambda: [a @ b for _ in range(reps)], device)
        if seconds >= min_seconds:
            break
        reps = max(reps * 2, int(reps * min_seconds / max(seconds, 1e-9)) + 1)
    best = min([seconds] + [timed(lambda: [a @ b for _ in range(reps)], device) for _ in range(2)])
    flops = 2 * m * k * n * reps / best
    return {"dtype": str(dtype).removeprefix("torch."), "shape": [m, k, n], "flops_per_s": flops}


def datasheet_peak(device: torch.device, precision: str) -> tuple[Optional[float], str]:
    """The device's dense datasheet peak for this precision (None off CUDA or when unknown), and its name."""
    if device.type != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name(device)
    mode = "bf16" if "16" in precision else ("fp32" if torch.get_float32_matmul_precision() == "highest" else "tf32")
    return next((peaks[mode] for key, peaks in PEAK_FLOPS.items() if key in name), None), name


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "CUDA torch.cuda.max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss * (1 if sys.platform == "darwin" else 1024), "CPU process max RSS (model, data and tokenizer)"

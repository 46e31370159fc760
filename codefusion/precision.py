"""Which arithmetic generation runs in: float32, or bf16 autocast where the device does bf16 natively.

    precision = resolve_precision("auto", device)   # "bf16" or "32"
    with autocast(precision, device):
        ...                                         # matmuls in bf16, reductions in float32

`auto` picks bf16 autocast on CUDA GPUs with bf16 (Ampere and later) and on CPUs with bf16
instructions (AVX512-BF16, or AMX: Cooper Lake, Sapphire Rapids and later Xeons, Zen 4 and
later), float32 everywhere else: there bf16 autocast is emulated and slower than float32.
Measured on these machines' CPU (AVX512-BF16), one thread, a paper-size denoiser step runs 2-3x
faster in bf16 (at the quickstart's size 1.3x); speed and quality against float32: docs/results.md ("bf16 and the fewest steps").

Used by sample.py, `codefusion.diagnose`, the end-of-training evaluation and `codefusion.bench`.
Training precision is Lightning's `trainer.precision` (32-true | bf16-mixed), set apart.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Union

import torch

from codefusion.errors import UserError

PRECISIONS = ("auto", "32", "bf16")
# CPU flags (as /proc/cpuinfo spells them) of native bf16 arithmetic.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class PrecisionError(UserError):
    """A precision that is not auto, 32 or bf16, reported in one line."""


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's native bf16 flags, from /proc/cpuinfo (Linux); () where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return tuple(f for f in CPU_BF16_FLAGS if f in flags)


def _device(device: Union[str, torch.device]) -> torch.device:
    return torch.device("cuda" if device == "gpu" else device)


def native_bf16(device: Union[str, torch.device]) -> bool:
    """True when `device` ("cpu", "cuda", "cuda:1", a torch.device) runs bf16 matmuls natively."""
    device = _device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(cpu_bf16_flags())
    return False


def check_precision(precision: str, key: str = "precision") -> None:
    """PrecisionError unless `precision` is auto, 32 or bf16 (`key` names the option)."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"{key}={precision} must be one of {', '.join(PRECISIONS)}")


def resolve_precision(precision: str, device: Union[str, torch.device]) -> str:
    """auto | 32 | bf16 -> "32" or "bf16" for `device` (auto: bf16 where `native_bf16`)."""
    check_precision(precision)
    if precision == "auto":
        return "bf16" if native_bf16(device) else "32"
    return precision


def describe(precision: str, requested: str, device: Union[str, torch.device]) -> str:
    """One line saying what was chosen and why, e.g. `precision bf16 (auto: cpu has avx512_bf16)`."""
    device = _device(device)
    what = "bf16 autocast" if precision == "bf16" else "float32"
    if requested != "auto":
        return f"precision {what} ({requested} asked)"
    if device.type == "cpu":
        why = f"cpu has {', '.join(cpu_bf16_flags())}" if precision == "bf16" else "cpu has no native bf16 (AVX512-BF16 or AMX)"
    elif device.type == "cuda":
        why = "GPU supports bf16" if precision == "bf16" else "GPU has no bf16"
    else:
        why = f"{device.type}: float32"
    return f"precision {what} (auto: {why})"


def autocast(precision: str, device: Union[str, torch.device]) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` for "bf16"; a no-op for "32" (resolve "auto" first)."""
    if precision == "bf16":
        return torch.autocast(_device(device).type, dtype=torch.bfloat16)
    if precision != "32":
        raise PrecisionError(f"precision={precision}: resolve it with resolve_precision first (32 | bf16)")
    return contextlib.nullcontext()

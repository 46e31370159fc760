"""The prepared GPU check: one command, one CUDA GPU, at most ~8 minutes, every figure in one JSON.

    python -m codefusion.bench device [CONFIG.yaml] [key=value ...] [bench.json=bench_device.json]
    python -m codefusion.bench device bench.smoke=true          # the same code on a tiny CPU config (a test)

Without a config it measures the paper's size (configs/python.yaml: d_model 512, 10 + 6 layers,
n = 128, CodeT5's 32,100-token vocabulary, a fresh encoder; random token batches, so no data,
tokenizer or network is needed). It prints and writes:

- training: samples/s, step time, FLOPs per step (torch.utils.flop_counter: matmuls and
  attention), achieved FLOP/s, MFU against the GPU's datasheet peak and the ratio to a measured
  large matmul, in float32 and bf16-mixed, eager and `torch.compile`d (denoiser and decoder);
- sampling: ms per example at the paper's size (k = 5 candidates, `bench.sample_batch` inputs in
  one batch) at T = 1,200 DDPM steps and at sample.py's default fast setting, in float32 and bf16,
  eager and compiled (per-step time measured over `bench.sample_timed` steps, per example
  extrapolated to the setting's step count, as `codefusion.bench sample`); peak GPU memory;
- CUDA correctness: bf16-mixed training changes the weights (and keeps them finite), compiled
  sampling equals eager within bf16 tolerance, the same seed gives the same output.

The paper's figures for comparison: 2,318 ms per example and 928 MB on a V100 (Table 5). Items
that would overrun `bench.budget_s` are skipped and listed as such. `bench.smoke=true` runs on
the CPU with a tiny config and torch.compile's "eager" backend (the compile path without
inductor's C++ build), in seconds.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from codefusion.bench.common import (
    CODET5_VOCAB,
    BenchError,
    check_json_path,
    datasheet_peak,
    dtype_of,
    load_bench_config,
    matmul_peak,
    parse_bench,
    split_args,
    sync,
    write_json,
)
from codefusion.bench.sample import bench_sampling
from codefusion.config import Config, to_dict
from codefusion.factory import build_model, build_process
from codefusion.generation.codefusion import CodeFusionGenerator, SamplingOptions
from codefusion.generation.options import GenerateOptions
from codefusion.precision import autocast

ROOT = Path(__file__).resolve().parents[2]
PAPER = [str(ROOT / "configs/python.yaml"), "model.encoder_name_or_path=null", "tokenizer.name_or_path=null",
         "trainer.devices=1"]
SMOKE = [str(ROOT / "configs/quickstart.yaml"), "model.denoiser_layers=1", "model.decoder_layers=1",
         "model.encoder_layers=1", "model.d_model=32", "model.n_heads=2", "model.d_ff=64", "model.encoder_d_model=32",
         "model.encoder_d_ff=64", "model.encoder_heads=2", "model.encoder_d_kv=16", "model.embed_dim=16",
         "data.max_code_len=16", "data.max_nl_len=12", "diffusion.num_timesteps=200", "train.per_device_batch_size=4",
         "train.global_batch_size=4", "trainer.accelerator=cpu"]
PAPER_MS_PER_EXAMPLE, PAPER_MEMORY_MB = 2318, 928  # CodeFusion paper, Table 5 (V100)


@dataclass
class DeviceBench:
    """`bench.*` options of `python -m codefusion.bench device`."""

    smoke: bool = False  # tiny config on the CPU: the same code path, in seconds
    json: Optional[str] = "bench_device.json"  # where every figure is written
    train_steps: int = 10  # timed optimizer steps per training setting
    train_warmup: int = 3  # untimed steps first (compilation happens here)
    sample_batch: int = 16  # inputs per sampling batch (each with k candidates)
    k: int = 5  # candidates per input
    sample_timed: int = 20  # denoising steps timed per sampling setting
    repeats: int = 2  # rounds per sampling setting (median)
    budget_s: float = 450.0  # skip what would start after this many seconds


def random_batch(cfg: Config, vocab: int, batch: int, device: torch.device, seed: int) -> dict[str, Tensor]:
    """A training batch of random tokens at the config's full lengths (speed does not depend on them)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, vocab, (batch, cfg.data.max_nl_len), generator=g)
    code = torch.randint(3, vocab, (batch, cfg.data.max_code_len), generator=g)
    out = {"src_ids": src, "src_mask": torch.ones_like(src, dtype=torch.bool), "code_ids": code,
           "code_mask": torch.ones_like(code, dtype=torch.bool)}
    return {k: v.to(device) for k, v in out.items()}


def train_setting(cfg: Config, vocab: int, device: torch.device, precision: str, compile: bool, o: DeviceBench,
                  backend: str) -> dict[str, Any]:
    """Time `o.train_steps` AdamW steps (forward, backward, clipping, step, EMA) in `precision`
    (32-true | bf16-mixed); returns throughput, FLOPs, MFU and whether the weights changed."""
    from codefusion.training.system import CodeFusionSystem

    torch.manual_seed(0)
    system = CodeFusionSystem(to_dict(cfg), vocab_size=vocab).to(device).train()
    opt = system.configure_optimizers()["optimizer"]
    params = [p for group in opt.param_groups for p in group["params"]]
    before = [p.detach().clone() for p in params]
    batch = random_batch(cfg, vocab, cfg.train.per_device_batch_size, device, seed=1)
    mixed = dtype_of(precision) if precision != "32-true" else None

    def loss_of(b: dict[str, Tensor]) -> Tensor:
        with torch.autocast(device.type, dtype=mixed) if mixed else autocast("32", device):
            return system.total(system.loss_terms(b)).mean()

    with FlopCounterMode(display=False) as counter:  # eager, before compilation
        loss_of(batch).backward()
    opt.zero_grad(set_to_none=True)
    flops = int(counter.get_total_flops())
    if compile:
        # In place (nn.Module.compile): parameter names, hence the EMA and the optimizer, stay the same.
        system.model.denoiser.compile(backend=backend)
        system.model.decoder.compile(backend=backend)

    def step() -> float:
        loss = loss_of(batch)
        loss.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        system.ema.update(system.model)
        return float(loss.detach())

    start = time.perf_counter()
    for _ in range(o.train_warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for _ in range(o.train_steps):
        t0 = time.perf_counter()
        losses.append(step())
        sync(device)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    achieved = flops / step_s
    peak, name = datasheet_peak(device, precision)
    changed = any(not torch.equal(a, p.detach()) for a, p in zip(before, params))
    finite = all(bool(torch.isfinite(p).all()) for p in params) and all(math.isfinite(x) for x in losses)
    return {"precision": precision, "compile": compile, "batch": cfg.train.per_device_batch_size,
            "step_ms": 1000 * step_s, "samples_per_s": cfg.train.per_device_batch_size / step_s,
            "warmup_s": warmup_s, "flops_per_step": flops, "flops_per_s": achieved, "peak_flops": peak,
            "device_name": name, "mfu": achieved / peak if peak else None,
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "weights_changed": changed, "finite": finite, "last_loss": losses[-1]}


def sample_setting(cfg: Config, vocab: int, device: torch.device, precision: str, compile: bool, o: DeviceBench,
                   backend: str, fast: tuple[str, int], peak: dict[str, Any]) -> dict[str, Any]:
    """Per-example ms at T DDPM steps and at the fast default, from `bench_sampling`'s step times."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    samplers = sorted({"ddpm", fast[0]})
    r = bench_sampling(cfg, vocab, batch=o.sample_batch, k=o.k, steps=min(o.sample_timed, cfg.diffusion.num_timesteps),
                       sample_steps=cfg.diffusion.num_timesteps, samplers=samplers, device=device, precision=precision,
                       compile=compile, repeats=o.repeats, compile_backend=backend, peak=peak)

    def per_example(sampler: str, steps: int) -> float:
        return (r["encode_decode_ms"] + r["samplers"][sampler]["step_ms"] * steps) / o.sample_batch

    T = cfg.diffusion.num_timesteps
    return {"precision": precision, "compile": compile, "rows": r["rows"], "forward_ms": r["forward_ms"],
            "of_matmul_peak": r["of_matmul_peak"], "steps": {s: v["step_ms"] for s, v in r["samplers"].items()},
            f"ddpm_{T}_ms_per_example": per_example("ddpm", T),
            f"{fast[0]}_{fast[1]}_ms_per_example": per_example(fast[0], fast[1]),
            "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None}


def correctness(cfg: Config, vocab: int, device: torch.device, fast: tuple[str, int], backend: str,
                bf16_training: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Compiled against eager sampling (bf16, same seed: relative L2 difference of the final x̂0
    and share of equal tokens), and the same seed twice (eager: bit-identical)."""
    torch.manual_seed(0)
    model = build_model(cfg, vocab).to(device).eval()
    process = build_process(cfg)
    src = torch.randint(3, vocab, (4, cfg.data.max_nl_len), device=device, generator=None)
    mask = torch.ones_like(src, dtype=torch.bool)
    steps = min(fast[1], cfg.diffusion.num_timesteps)
    options = SamplingOptions(num_candidates=1, sampler=fast[0], steps=steps, record_every=steps, keep_tensors=True)

    def run(generator: CodeFusionGenerator) -> tuple[Tensor, Tensor]:
        with torch.inference_mode(), autocast("bf16", device):
            gen = generator(src, mask, options, noise_keys=[0, 1, 2, 3], seed=0)
        return gen.tokens, gen.trajectory[-1].pred_x0.float()

    eager = CodeFusionGenerator(model, process, cfg.data.max_code_len, 2)
    tokens_a, x_a = run(eager)
    tokens_b, x_b = run(eager)
    model.denoiser.compile(backend=backend)
    tokens_c, x_c = run(eager)
    rel = float((x_c - x_a).norm() / x_a.norm().clamp_min(1e-12))
    out: dict[str, Any] = {
        "same_seed_same_output": bool(torch.equal(tokens_a, tokens_b) and torch.equal(x_a, x_b)),
        "compiled_vs_eager_rel_l2": rel, "compiled_vs_eager_equal_tokens": float((tokens_c == tokens_a).float().mean()),
        "compiled_equals_eager": rel <= 0.05,  # bf16 keeps 8 bits of mantissa: ~0.4% per op, a few % over a chain
    }
    if bf16_training is not None:
        out["bf16_training_changes_weights"] = bool(bf16_training["weights_changed"] and bf16_training["finite"])
    return out


def run(o: DeviceBench, items: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    if o.smoke:
        device, backend = torch.device("cpu"), "eager"
    else:
        if not torch.cuda.is_available():
            raise BenchError("no CUDA GPU here; bench.smoke=true runs the same code on the CPU")
        device, backend = torch.device("cuda"), "inductor"
    cfg, tokenizer_json = load_bench_config(items or (SMOKE if o.smoke else PAPER))
    if tokenizer_json:
        from codefusion.data.tokenizer import tokenizer_from_json

        vocab = len(tokenizer_from_json(tokenizer_json))
    else:
        vocab = cfg.tokenizer.train_vocab_size if o.smoke else CODET5_VOCAB
    defaults = GenerateOptions()
    fast = (defaults.sampler, min(defaults.steps or cfg.diffusion.num_timesteps, cfg.diffusion.num_timesteps))
    result: dict[str, Any] = {"device": str(device), "device_name": torch.cuda.get_device_name(device)
                              if device.type == "cuda" else "cpu", "smoke": o.smoke, "torch": torch.__version__,
                              "config": items or (SMOKE if o.smoke else PAPER), "vocab": vocab,
                              "fast_setting": f"{fast[0]} {fast[1]} steps", "fast": {"sampler": fast[0], "steps": fast[1]},
                              "paper": {"ms_per_example": PAPER_MS_PER_EXAMPLE, "memory_mb": PAPER_MEMORY_MB},
                              "train": {}, "sample": {}, "skipped": []}

    def within_budget(name: str, fn: Callable[[], Any]) -> Any:
        if time.perf_counter() - started > o.budget_s:
            result["skipped"].append(name)
            print(f"skipped {name}: past bench.budget_s={o.budget_s:g}", flush=True)
            return None
        value = fn()
        print(f"{name}: {summarize(value)}", flush=True)
        return value

    peaks = {p: matmul_peak(dtype_of(p), device) for p in ("32", "bf16")}
    result["matmul_peak"] = peaks
    for compile in (False, True):
        for precision in ("32-true", "bf16-mixed"):
            name = f"{precision}/{'compiled' if compile else 'eager'}"
            value = within_budget(f"train {name}", lambda: train_setting(cfg, vocab, device, precision, compile, o, backend))
            if value is not None:
                value["of_matmul_peak"] = value["flops_per_s"] / peaks["bf16" if "bf16" in precision else "32"]["flops_per_s"]
                result["train"][name] = value
    for compile in (False, True):
        for precision in ("32", "bf16"):
            name = f"{precision}/{'compiled' if compile else 'eager'}"
            value = within_budget(f"sample {name}", lambda: sample_setting(cfg, vocab, device, precision, compile, o,
                                                                           backend, fast, peaks[precision]))
            if value is not None:
                result["sample"][name] = value
    result["checks"] = within_budget("checks", lambda: correctness(cfg, vocab, device, fast, backend,
                                                                   result["train"].get("bf16-mixed/eager"))) or {}
    result["seconds"] = time.perf_counter() - started
    return result


def summarize(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value)
    keys = [k for k in value if k.endswith(("_ms", "ms_per_example", "mfu", "samples_per_s", "rel_l2")) or
            k.startswith(("same_seed", "compiled_equals", "bf16_training"))]
    return ", ".join(f"{k} {value[k]:.4g}" if isinstance(value[k], float) else f"{k} {value[k]}" for k in keys)


def report(r: dict[str, Any]) -> str:
    lines = [f"device check on {r['device_name']} ({r['device']}{', smoke' if r['smoke'] else ''}), torch {r['torch']}, "
             f"{r['seconds']:.0f} s; fast setting: {r['fast_setting']}"]
    for name, t in r["train"].items():
        mfu = f"MFU {t['mfu']:.1%}" if t["mfu"] is not None else "MFU n/a"
        lines.append(f"train  {name:20s} {t['step_ms']:9.1f} ms/step {t['samples_per_s']:9.1f} samples/s "
                     f"{t['flops_per_s'] / 1e12:7.2f} TFLOP/s {mfu}, {t['of_matmul_peak']:.0%} of matmul peak")
    for name, s in r["sample"].items():
        per = "  ".join(f"{k.removesuffix('_ms_per_example')} {v:.1f} ms/example" for k, v in s.items()
                        if k.endswith("_ms_per_example"))
        mem = f", peak {s['peak_memory_bytes'] / 2**20:.0f} MiB" if s["peak_memory_bytes"] else ""
        lines.append(f"sample {name:20s} {per}{mem}")
    lines.append(f"paper: {r['paper']['ms_per_example']} ms/example, {r['paper']['memory_mb']} MB (V100)")
    lines.append("checks: " + ", ".join(f"{k} {v}" for k, v in r["checks"].items()))
    if r["skipped"]:
        lines.append("skipped (budget): " + ", ".join(r["skipped"]))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m codefusion.bench device ...` (see the module docstring)."""
    items, bench_items = split_args(argv)
    o = parse_bench(DeviceBench, bench_items)
    if min(o.train_steps, o.sample_batch, o.k, o.sample_timed, o.repeats) < 1 or o.train_warmup < 0:
        raise BenchError("bench.train_steps, sample_batch, k, sample_timed and repeats must be >= 1; train_warmup >= 0")
    check_json_path(o.json)
    result = run(o, items)
    print(report(result))
    write_json(o.json, result)
    return 0

"""Training throughput of one config: parameters, samples/s, tokens/s, Lightning's loop overhead,
peak memory, FLOPs, achieved GFLOP/s and their ratio to a large matmul's in the same dtype.

    python -m codefusion.bench train CONFIG.yaml [MORE.yaml ...] [key=value ...] [bench.steps=N] [bench.warmup=W] [bench.json=PATH]
    python -m codefusion.bench train RUN/checkpoints/last.ckpt [key=value ...]   # config + tokenizer of a run

CPU figure for the quickstart (a minute on 2 cores):
    python -m codefusion.bench train configs/quickstart.yaml bench.steps=50 bench.warmup=10
The same in bf16 mixed precision:
    python -m codefusion.bench train configs/quickstart.yaml trainer.precision=bf16-mixed bench.steps=50
Paper-size compute per step on a machine without the data (synthetic rows padded to n=128):
    python -m codefusion.bench train configs/python.yaml data.source=synthetic_cf data.max_code_len=128 trainer.devices=1

The same module runs the same pre-generated batches twice, seeded alike: first in a bare PyTorch
loop doing what Lightning does for us (forward, backward, clipping, AdamW, LR schedule, zero_grad,
EMA), then under `lightning.Trainer.fit` with validation, checkpoints, logger and progress bar
off. overhead = lightning_seconds / bare_seconds - 1 is the loop's own cost (target <= 10%).
Weights are freshly initialised (also for a checkpoint): speed does not depend on their values.
`matmul peak` is a plain (5120 x 512) @ (512 x 2048) matmul (8192^3 on a GPU) in the run's
dtype, timed in the same process: `of matmul peak` says how close the training step's matmul
and attention FLOPs come to what this machine does at best.

On a CPU shared with other busy processes, run with OMP_NUM_THREADS below the free cores: with
as many torch threads as cores, every op waits for a descheduled thread (seen here: 2.4 s instead
of 14 ms per step for a tiny model on 2 busy cores).
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import math
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from codefusion.bench.common import (
    BenchError,
    check_json_path,
    datasheet_peak,
    dtype_of,
    load_bench_config,
    matmul_peak,
    parse_bench,
    peak_memory,
    split_args,
    sync,
    write_json,
)
from codefusion.config import Config, ConfigError, to_dict
from codefusion.data.datamodule import CodeFusionDataModule
from codefusion.data.examples import DataError
from codefusion.data.tokenizer import tokenizer_from_json, tokenizer_to_json
from codefusion.networks.codefusion import parameter_report
from codefusion.training.base import step_seed
from codefusion.training.ema import EMA
from codefusion.training.run import make_tokenizer
from codefusion.training.system import CodeFusionSystem


@dataclass
class TrainBench:
    """`bench.*` options of `python -m codefusion.bench train`."""

    steps: int = 20  # measured optimizer steps
    warmup: int = 5  # optimizer steps run before timing
    json: Optional[str] = None  # also write every figure to this JSON file

# Precisions the bare loop reproduces exactly as Lightning's precision plugins do.
SUPPORTED_PRECISION = ("32-true", "32", "bf16-mixed", "16-mixed")
TOKENS = "code positions (n x batch) + padded source positions"
def take_batches(dm: CodeFusionDataModule, n: int) -> list[dict[str, Tensor]]:
    """The first `n` training batches, re-reading the split if it is shorter."""
    batches: list[dict[str, Tensor]] = []
    while len(batches) < n:
        epoch = list(itertools.islice(dm.train_dataloader(), n - len(batches)))
        if not epoch:
            raise DataError(f"the training split yields no full batch of {dm.batch_size}; "
                            "lower train.per_device_batch_size or add data")
        batches += epoch
    return batches


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward-pass context of Lightning's MixedPrecision plugin."""
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def bare_loop(system: CodeFusionSystem, batches: list[dict[str, Tensor]], cfg: Config, warmup: int,
              accum: int, device: torch.device) -> dict[str, Any]:
    """One optimizer step per `accum` micro-batches in plain PyTorch, in Lightning's order.
    Returns the seconds of the steps after warm-up, their start-to-start times, and the last
    micro-batch's loss."""
    optim = system.configure_optimizers()
    opt, sched = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    params = [p for group in opt.param_groups for p in group["params"]]
    precision = cfg.trainer.precision
    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    system.train()
    marks: list[float] = []
    loss = torch.zeros(())
    for i, batch in enumerate(batches):
        step, micro = divmod(i, accum)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        if i == warmup * accum:  # Lightning's timer starts after the transfer too
            sync(device)
        if step >= warmup and micro == 0:
            marks.append(time.perf_counter())
        # As CodeFusionSystem.on_train_batch_start (rank 0): both loops draw the same t, eps, dropout.
        torch.manual_seed(step_seed(cfg.train.seed, step, i, 0))
        with autocast(precision, device):
            loss = system.total(system.loss_terms(batch)).mean()
        scaled = loss / accum  # Lightning divides by the accumulation the same way
        (scaler.scale(scaled) if scaler else scaled).backward()
        if micro == accum - 1:
            if scaler:
                scaler.unscale_(opt)  # clip true gradients, as Lightning does
            if cfg.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            system.ema.update(system.model)
    sync(device)
    marks.append(time.perf_counter())
    return {"seconds": marks[-1] - marks[0], "step_times": _diffs(marks), "last_loss": float(loss.detach())}


def _diffs(marks: list[float]) -> list[float]:
    return [b - a for a, b in zip(marks, marks[1:])]


class StepTimer(Callback):
    """perf_counter at the start of micro-batch `first` and of every later step, and at the end
    of micro-batch `last`: the measured window and its start-to-start step times."""

    def __init__(self, first: int, last: int, accum: int) -> None:
        self.first, self.last, self.accum = first, last, accum
        self.marks: list[float] = []
        self.last_loss = math.nan

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.first:
            sync(pl_module.device)
        if batch_idx >= self.first and batch_idx % self.accum == 0:
            self.marks.append(time.perf_counter())

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx == self.last:
            sync(pl_module.device)
            self.marks.append(time.perf_counter())
            self.last_loss = float(outputs["loss"]) * self.accum  # Lightning hands back loss / accum


def lightning_trainer(cfg: Config, steps: int, accum: int, timer: StepTimer, root: str) -> L.Trainer:
    """The config's accelerator, precision, accumulation and clipping on one device; every extra
    (validation, checkpoints, logger, progress bar, summary) off, so only the loop is measured."""
    return L.Trainer(
        accelerator=cfg.trainer.accelerator, devices=1, num_nodes=1, precision=cfg.trainer.precision,
        max_steps=steps, max_epochs=1, accumulate_grad_batches=accum,
        gradient_clip_val=cfg.optim.grad_clip or None, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[timer], use_distributed_sampler=False, default_root_dir=root,
    )


def forward_backward(system: CodeFusionSystem, batch: dict[str, Tensor], precision: str, device: torch.device) -> None:
    with autocast(precision, device):
        loss = system.total(system.loss_terms({k: v.to(device) for k, v in batch.items()})).mean()
    loss.backward()
    system.zero_grad(set_to_none=True)


def prewarm(system: CodeFusionSystem, batches: list[dict[str, Tensor]], precision: str, device: torch.device) -> None:
    """One untimed forward + backward per distinct batch shape (sources are padded per batch), so
    kernels, allocator and caches keyed by shape are warm before either loop: otherwise the loop
    run second would find them warmed by the first on the very same batches."""
    shapes = {tuple(b["src_ids"].shape): b for b in batches}
    for batch in shapes.values():
        forward_backward(system, batch, precision, device)


def count_flops(system: CodeFusionSystem, batch: dict[str, Tensor], precision: str, device: torch.device) -> int:
    """FLOPs of one forward + backward on one micro-batch (matmuls and attention, as counted by
    torch.utils.flop_counter); the optimizer step and elementwise work are not counted."""
    with FlopCounterMode(display=False) as counter:
        forward_backward(system, batch, precision, device)
    return int(counter.get_total_flops())


def benchmark(cfg: Config, steps: int, warmup: int, tokenizer_json: Optional[str] = None) -> dict[str, Any]:
    """Run both loops and return every figure (see `report`)."""
    if cfg.trainer.precision not in SUPPORTED_PRECISION:
        raise ConfigError(f"trainer.precision={cfg.trainer.precision} is not reproduced by the bare loop; "
                          f"use one of {', '.join(SUPPORTED_PRECISION)}")
    accum = cfg.grad_accumulation()  # the per-device work of one step in the configured run
    first, n_micro = warmup * accum, (warmup + steps) * accum
    with tempfile.TemporaryDirectory() as tmp:
        tok = tokenizer_from_json(tokenizer_json) if tokenizer_json else make_tokenizer(cfg, Path(tmp))
        dm = CodeFusionDataModule(cfg.data, tok, cfg.train.per_device_batch_size, seed=cfg.train.seed)
        dm.setup()
        batches = take_batches(dm, n_micro)
        L.seed_everything(cfg.train.seed, verbose=False)
        system = CodeFusionSystem(to_dict(cfg), vocab_size=len(tok), tokenizer_json=tokenizer_to_json(tok))
        initial = {k: v.detach().clone() for k, v in system.state_dict().items()}
        timer = StepTimer(first, n_micro - 1, accum)
        try:
            trainer = lightning_trainer(cfg, warmup + steps, accum, timer, tmp)
        except MisconfigurationException as e:  # e.g. accelerator=gpu without one, 16-mixed on CPU
            raise ConfigError(f"trainer settings: {e}") from None
        device = trainer.strategy.root_device
        system.to(device)
        flops = count_flops(system, batches[first], cfg.trainer.precision, device)
        prewarm(system, batches, cfg.trainer.precision, device)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        L.seed_everything(cfg.train.seed, verbose=False)
        bare = bare_loop(system, batches, cfg, warmup, accum, device)

        system.load_state_dict(initial)  # the Lightning run starts from the same weights and EMA
        system.ema = EMA(system.model, cfg.optim.ema_decay)
        L.seed_everything(cfg.train.seed, verbose=False)
        trainer.fit(system, train_dataloaders=DataLoader(batches, batch_size=None))
        if trainer.global_step != warmup + steps or len(timer.marks) != steps + 1:
            raise RuntimeError(f"Lightning ran {trainer.global_step} steps, expected {warmup + steps}")
        lightning = {"seconds": timer.marks[-1] - timer.marks[0], "step_times": _diffs(timer.marks),
                     "last_loss": timer.last_loss}
        memory, memory_kind = peak_memory(device)
        peak_matmul = matmul_peak(dtype_of(cfg.trainer.precision), device)

    measured = batches[first:]
    samples = sum(b["code_ids"].shape[0] for b in measured)
    tokens = sum(b["code_ids"].numel() + b["src_ids"].numel() for b in measured)
    for loop in (bare, lightning):
        loop.update(step_seconds=loop["seconds"] / steps, median_step_seconds=statistics.median(loop["step_times"]),
                    samples_per_s=samples / loop["seconds"], tokens_per_s=tokens / loop["seconds"])
    flops_per_step = flops * accum
    peak, device_name = datasheet_peak(device, cfg.trainer.precision)
    achieved = flops_per_step / lightning["step_seconds"]
    return {
        "device": str(device), "device_name": device_name, "precision": cfg.trainer.precision,
        "torch_threads": torch.get_num_threads(), "params": parameter_report(system.model),
        "per_device_batch_size": cfg.train.per_device_batch_size, "grad_accumulation": accum,
        "max_code_len": cfg.data.max_code_len, "warmup_steps": warmup, "steps": steps,
        "samples_per_step": samples / steps, "tokens_per_step": tokens / steps, "tokens_definition": TOKENS,
        "bare": bare, "lightning": lightning,
        "samples_per_s": lightning["samples_per_s"], "tokens_per_s": lightning["tokens_per_s"],
        "overhead": lightning["seconds"] / bare["seconds"] - 1,
        # Median step against median step: robust to another process stealing the CPU for a while.
        "overhead_median": lightning["median_step_seconds"] / bare["median_step_seconds"] - 1,
        "flops_per_step": flops_per_step, "flops_per_s": achieved, "peak_flops": peak,
        "mfu": achieved / peak if peak else None,
        "matmul_peak": peak_matmul, "of_matmul_peak": achieved / peak_matmul["flops_per_s"],
        "peak_memory_bytes": memory, "peak_memory_kind": memory_kind,  # over both loops
        # Same weights, batches and seeds: equal losses show the bare loop still mirrors the system.
        "same_work": math.isclose(bare["last_loss"], lightning["last_loss"], rel_tol=1e-4),
    }


def report(r: dict[str, Any]) -> str:
    """The figures as text."""
    p, bare, lit = r["params"], r["bare"], r["lightning"]
    lines = [
        f"device {r['device']} ({r['device_name']}), precision {r['precision']}, {r['torch_threads']} torch threads",
        "parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in p.items()),
        f"step: {r['per_device_batch_size']} examples x {r['grad_accumulation']} accumulation, n={r['max_code_len']}, "
        f"{r['tokens_per_step']:.0f} tokens; {r['warmup_steps']} warm-up + {r['steps']} measured steps",
        f"{'':12}{'seconds':>9}{'ms/step':>10}{'median':>9}{'samples/s':>11}{'tokens/s':>11}{'last loss':>11}",
    ]
    for name, loop in (("bare torch", bare), ("Lightning", lit)):
        lines.append(f"{name:12}{loop['seconds']:9.2f}{loop['step_seconds'] * 1e3:10.1f}"
                     f"{loop['median_step_seconds'] * 1e3:9.1f}{loop['samples_per_s']:11.1f}"
                     f"{loop['tokens_per_s']:11.0f}{loop['last_loss']:11.5f}")
    lines += [
        f"tokens = {r['tokens_definition']}",
        f"Lightning overhead: {r['overhead']:+.1%} (target <= +10%), median step against median step "
        f"{r['overhead_median']:+.1%}; both loops did the same work: "
        + ("yes (equal last loss)" if r["same_work"] else "NO - the last losses differ, the bare loop no longer mirrors the system"),
        f"FLOPs/step {r['flops_per_step'] / 1e9:.2f} G (FlopCounterMode, one micro-batch x accumulation); "
        f"achieved {r['flops_per_s'] / 1e9:.2f} GFLOP/s under Lightning, {r['of_matmul_peak']:.1%} of a "
        f"{'x'.join(map(str, r['matmul_peak']['shape']))} {r['matmul_peak']['dtype']} matmul's "
        f"{r['matmul_peak']['flops_per_s'] / 1e9:.1f} GFLOP/s; "
        + ("MFU: not computed on CPU" if r["device"] == "cpu" else
           f"MFU {r['mfu']:.1%} of {r['peak_flops'] / 1e12:.0f} TFLOP/s" if r["mfu"] is not None else "MFU: peak unknown"),
        f"peak memory: {r['peak_memory_bytes'] / 2**20:.0f} MiB ({r['peak_memory_kind']})",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m codefusion.bench train ...` (see the module docstring)."""
    items, bench_items = split_args(argv)
    opts = parse_bench(TrainBench, bench_items)
    if opts.steps < 1 or opts.warmup < 0:
        raise BenchError("bench.steps must be >= 1 and bench.warmup >= 0")
    if not items:
        raise BenchError("name a config: python -m codefusion.bench train CONFIG.yaml [key=value ...]")
    check_json_path(opts.json)
    # Lightning's start-up notices and its advice for real runs (workers, missing validation
    # loader) are noise here: this loader is an in-memory list and validation is off on purpose.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", r".*(does not have many workers|val_dataloader|validation_step|LeafSpec).*")
    cfg, tokenizer_json = load_bench_config(items)
    result = benchmark(cfg, opts.steps, opts.warmup, tokenizer_json)
    result["config"] = argv
    print(report(result))
    write_json(opts.json, result)
    return 0

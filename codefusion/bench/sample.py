"""Sampling speed: ms per denoising step and per example, against the denoiser's bare forward and
against the machine's matmul peak.

    python -m codefusion.bench sample CONFIG.yaml|RUN/checkpoints/last.ckpt [key=value ...]
        [bench.batch=8] [bench.k=5] [bench.steps=50] [bench.sample_steps=T] [bench.samplers=[ddpm,ddim,dpm_solver++]]
        [bench.device=cpu|cuda] [bench.precision=32|bf16|auto] [bench.compile=true] [bench.repeats=3] [bench.json=PATH]

Paper-size, one thread, float32 against bf16 autocast (run each, or both in one process with
`bench.precisions=[32,bf16]`):
    OMP_NUM_THREADS=1 python -m codefusion.bench sample configs/python.yaml model.encoder_name_or_path=null \\
        tokenizer.name_or_path=../shared/data/codet5-tokenizer bench.steps=3 bench.repeats=2 \\
        bench.samplers=[ddim] bench.precisions=[32,bf16]

For each sampler it runs `CodeFusionGenerator` exactly as sample.py does (encoder once,
cross-attention keys/values once, batch x k candidates in one batch, per-row noise streams, no
autograd) for `bench.steps` steps, and times, on the same (batch x k) rows:

    step       the sampling loop's time per step (denoiser + sampler maths + noise)
    forward    the denoiser's bare forward pass with the cached keys/values (the floor)
    ratio      step / forward (target <= 1.05: nothing but the network costs)
    per example  (encode + decode + step x sample_steps) / batch: the time one input with k
               candidates costs at `bench.sample_steps` (default T, the paper's 1200), extrapolated
               from the measured steps when fewer were run.
    GFLOP/s    the bare forward's matmul and attention FLOPs (torch.utils.flop_counter) per second,
               and their share of a plain (5120 x 512) @ (512 x 2048) matmul's FLOP/s (8192^3 on a
               GPU) in the same dtype, timed in the same process ("of matmul peak").

Weights are freshly initialised (speed does not depend on their values); utterances are random
token ids of the full `data.max_nl_len`. Medians over `bench.repeats` rounds, each timing the bare
forward and every sampler back to back (the ratio is the median of the rounds' ratios).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

from codefusion.bench.common import (
    BenchError,
    check_json_path,
    dtype_of,
    load_bench_config,
    matmul_peak,
    parse_bench,
    split_args,
    timed,
    vocab_size,
    write_json,
)
from codefusion.config import Config
from codefusion.diffusion import SAMPLERS
from codefusion.factory import build_model, build_process
from codefusion.generation.codefusion import CodeFusionGenerator, SamplingOptions
from codefusion.precision import autocast, check_precision, resolve_precision


@dataclass
class SampleBench:
    """`bench.*` options of `python -m codefusion.bench sample`."""

    batch: int = 8  # inputs per batch
    k: int = 5  # candidates per input
    steps: int = 50  # denoising steps timed
    sample_steps: int = 0  # steps per example in the per-example figure (0 = T)
    samplers: list[str] = field(default_factory=lambda: list(SAMPLERS))
    device: Optional[str] = None  # cpu | cuda (default: cuda when available)
    precision: str = "32"  # 32 | bf16 | auto (codefusion/precision.py)
    precisions: list[str] = field(default_factory=list)  # several, measured in this process (overrides precision)
    compile: bool = False  # torch.compile the denoiser
    repeats: int = 3
    json: Optional[str] = None  # also write every figure to this JSON file


def check_options(o: SampleBench, num_timesteps: int) -> None:
    unknown = [s for s in o.samplers if s not in SAMPLERS]
    if unknown:
        raise BenchError(f"unknown sampler {unknown[0]!r} in bench.samplers; one of {', '.join(SAMPLERS)}")
    if min(o.batch, o.k, o.steps, o.repeats) < 1:
        raise BenchError("bench.batch, bench.k, bench.steps and bench.repeats must be >= 1")
    if o.steps > num_timesteps:
        raise BenchError(f"bench.steps={o.steps} is larger than T = {num_timesteps}")
    for p in o.precisions or [o.precision]:
        check_precision(p, "bench.precision")
    if o.device in ("cuda", "gpu") and not torch.cuda.is_available():
        raise BenchError(f"bench.device={o.device} but CUDA is not available here")


def bench_sampling(cfg: Config, vocab: int, *, batch: int, k: int, steps: int, sample_steps: int,
                   samplers: list[str], device: torch.device, precision: str, compile: bool, repeats: int,
                   compile_backend: str = "inductor", peak: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Every figure of one (precision, compile) setting; `precision` is 32 or bf16 (resolved).
    `peak`: a `matmul_peak` already measured for this dtype (else measured here)."""
    torch.manual_seed(0)
    model = build_model(cfg, vocab).to(device).eval()
    process = build_process(cfg)
    if compile:
        model.denoiser.compile(backend=compile_backend)
    src = torch.randint(3, vocab, (batch, cfg.data.max_nl_len), device=device)
    mask = torch.ones_like(src, dtype=torch.bool)
    n, rows = cfg.data.max_code_len, batch * k
    result: dict[str, Any] = {"device": str(device), "precision": precision, "compile": compile, "batch": batch, "k": k,
                              "rows": rows, "n": n, "steps": steps, "sample_steps": sample_steps,
                              "torch_threads": torch.get_num_threads(), "samplers": {}}
    generator = CodeFusionGenerator(model, process, n, 2)  # eos id: any; the speed does not depend on it
    with torch.inference_mode(), autocast(precision, device):
        e_s = model.encode(src, mask).repeat_interleave(k, 0)
        mask_k = mask.repeat_interleave(k, 0)
        kv = model.denoiser.cross_kv(e_s)
        x = torch.randn(rows, n, model.embedding.embedding_dim, device=device)
        t = torch.full((rows,), process.num_timesteps // 2, device=device, dtype=torch.long)

        def forwards(cached: bool) -> None:
            for _ in range(steps):
                model.denoiser(x, t, e_s, mask_k, kv=kv if cached else None)

        def loop(name: str) -> float:
            options = SamplingOptions(num_candidates=k, steps=steps, sampler=name)
            return generator(src, mask, options, noise_keys=list(range(batch)), seed=0).loop_seconds

        forwards(True)  # warm-up (and compilation)
        for name in samplers:
            loop(name)
        with FlopCounterMode(display=False) as counter:
            model.denoiser(x, t, e_s, mask_k, kv=kv)
        flops = int(counter.get_total_flops())
        # Interleaved: every repeat times the bare forward and each sampler back to back, so a
        # change of clock speed or load between repeats affects both sides of the ratio alike.
        times: dict[str, list[float]] = {"forward": [], "uncached": [], "io": [], **{s: [] for s in samplers}}
        for _ in range(repeats):
            times["forward"].append(timed(lambda: forwards(True), device) / steps)
            times["uncached"].append(timed(lambda: forwards(False), device) / steps)
            times["io"].append(timed(lambda: (model.encode(src, mask), model.decode(x, e_s, mask_k)), device))
            for name in samplers:
                times[name].append(loop(name) / steps)
    peak = peak or matmul_peak(dtype_of(precision), device)
    ms = {key: 1000 * statistics.median(values) for key, values in times.items()}
    flops_per_s = flops / (ms["forward"] / 1000)
    result.update(forward_ms=ms["forward"], forward_uncached_ms=ms["uncached"], encode_decode_ms=ms["io"],
                  forward_flops=flops, forward_flops_per_s=flops_per_s, matmul_peak=peak,
                  of_matmul_peak=flops_per_s / peak["flops_per_s"])
    for name in samplers:
        ratio = statistics.median(a / b for a, b in zip(times[name], times["forward"]))
        result["samplers"][name] = {"step_ms": ms[name], "ratio": ratio,
                                    "per_example_ms": (ms["io"] + ms[name] * sample_steps) / batch}
    return result


def report(r: dict[str, Any]) -> str:
    p = r["matmul_peak"]
    lines = [f"sampling on {r['device']} ({r['precision']}{', compiled' if r['compile'] else ''}, "
             f"{r['torch_threads']} threads): {r['batch']} inputs x k={r['k']} = {r['rows']} rows of n={r['n']}, "
             f"{r['steps']} steps timed, per example at {r['sample_steps']} steps",
             f"denoiser bare forward: {r['forward_ms']:.2f} ms (without the cross-attention cache: "
             f"{r['forward_uncached_ms']:.2f} ms); encoder + decoder/head once: {r['encode_decode_ms']:.2f} ms",
             f"forward: {r['forward_flops'] / 1e9:.2f} GFLOP, {r['forward_flops_per_s'] / 1e9:.1f} GFLOP/s = "
             f"{r['of_matmul_peak']:.1%} of matmul peak ({'x'.join(map(str, p['shape']))} {p['dtype']}: "
             f"{p['flops_per_s'] / 1e9:.1f} GFLOP/s)",
             f"{'sampler':<14}{'ms/step':>10}{'x forward':>11}{'ms/example':>12}"]
    for name, s in r["samplers"].items():
        lines.append(f"{name:<14}{s['step_ms']:>10.2f}{s['ratio']:>11.3f}{s['per_example_ms']:>12.1f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m codefusion.bench sample ...` (see the module docstring)."""
    items, bench_items = split_args(argv)
    o = parse_bench(SampleBench, bench_items)
    if not items:
        raise BenchError("name a config or checkpoint: python -m codefusion.bench sample CONFIG.yaml [key=value ...]")
    check_json_path(o.json)
    cfg, tokenizer_json = load_bench_config(items)
    check_options(o, cfg.diffusion.num_timesteps)
    device = torch.device(o.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    vocab = vocab_size(cfg, tokenizer_json)
    results = []
    for requested in o.precisions or [o.precision]:
        precision = resolve_precision(requested, device)
        r = bench_sampling(cfg, vocab, batch=o.batch, k=o.k, steps=o.steps,
                           sample_steps=o.sample_steps or cfg.diffusion.num_timesteps, samplers=o.samplers,
                           device=device, precision=precision, compile=o.compile, repeats=o.repeats)
        r["config"] = argv
        print(report(r))
        results.append(r)
    if len(results) > 1:
        base = results[0]
        for r in results[1:]:
            for name, s in r["samplers"].items():
                print(f"{name}: {r['precision']} step {base['samplers'][name]['step_ms'] / s['step_ms']:.2f}x "
                      f"faster than {base['precision']}")
    write_json(o.json, results[0] if len(results) == 1 else {"runs": results})
    return 0

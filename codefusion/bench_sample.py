"""Sampling speed: ms per denoising step and per example, against the denoiser's bare forward.

    python -m codefusion.bench sample CONFIG.yaml|RUN/checkpoints/last.ckpt [key=value ...]
        [--batch 8] [--k 5] [--steps 50] [--sample-steps T] [--samplers ddpm,ddim,dpm_solver++]
        [--device cpu|cuda] [--precision 32|bf16] [--compile] [--repeats 3] [--json PATH]

For each sampler it runs `codefusion.generation.generate` exactly as sample.py does (encoder
once, cross-attention keys/values once, batch x k candidates in one batch, per-row noise
streams, no autograd) for `--steps` steps, and times, on the same (batch x k) rows:

    step       the sampling loop's time per step (denoiser + sampler maths + noise)
    forward    the denoiser's bare forward pass with the cached keys/values (the floor)
    ratio      step / forward (target <= 1.05: nothing but the network costs)
    per example  (encode + decode + step x sample_steps) / batch: the time one input with k
               candidates costs at `--sample-steps` (default T, the paper's 1200), extrapolated
               from the measured steps when fewer were run.

Weights are freshly initialised (speed does not depend on their values); utterances are random
token ids of the full `data.max_nl_len`. Medians over `--repeats` rounds, each timing the bare
forward and every sampler back to back (the ratio is the median of the rounds' ratios).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from codefusion.bench import USER_ERRORS, load_bench_config, sync
from codefusion.config import Config
from codefusion.data.tokenizer import tokenizer_from_json
from codefusion.diffusion import SAMPLERS
from codefusion.factory import build_model, build_process
from codefusion.generation.codefusion import CodeFusionGenerator, SamplingOptions

CODET5_VOCAB = 32100  # 32,000 BPE tokens + 100 <extra_id_*> sentinels


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def bench_sampling(cfg: Config, vocab_size: int, *, batch: int, k: int, steps: int, sample_steps: int,
                   samplers: list[str], device: torch.device, precision: str, compile: bool, repeats: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size).to(device).eval()
    process = build_process(cfg)
    if compile:
        model.denoiser = torch.compile(model.denoiser)  # type: ignore[assignment]
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    src = torch.randint(3, vocab_size, (batch, cfg.data.max_nl_len), device=device)
    mask = torch.ones_like(src, dtype=torch.bool)
    n, rows = cfg.data.max_code_len, batch * k
    result: dict[str, Any] = {"device": str(device), "precision": precision, "compile": compile, "batch": batch, "k": k,
                              "rows": rows, "n": n, "steps": steps, "sample_steps": sample_steps, "samplers": {}}
    with torch.inference_mode(), cast:
        e_s = model.encode(src, mask).repeat_interleave(k, 0)
        mask_k = mask.repeat_interleave(k, 0)
        kv = model.denoiser.cross_kv(e_s)
        x = torch.randn(rows, n, model.embedding.embedding_dim, device=device)
        t = torch.full((rows,), process.num_timesteps // 2, device=device, dtype=torch.long)

        def forwards(cached: bool) -> None:
            for _ in range(steps):
                model.denoiser(x, t, e_s, mask_k, kv=kv if cached else None)

        def loop(name: str) -> float:
            gen = CodeFusionGenerator(model, process, n, 2)(src, mask, SamplingOptions(num_candidates=k, steps=steps, sampler=name),
                                                           noise_keys=list(range(batch)), seed=0)
            return gen.loop_seconds

        forwards(True)  # warm-up (and compilation)
        for name in samplers:
            loop(name)
        # Interleaved: every repeat times the bare forward and each sampler back to back, so a
        # change of clock speed or load between repeats affects both sides of the ratio alike.
        times: dict[str, list[float]] = {"forward": [], "uncached": [], "io": [], **{s: [] for s in samplers}}
        for _ in range(repeats):
            times["forward"].append(timed(lambda: forwards(True), device) / steps)
            times["uncached"].append(timed(lambda: forwards(False), device) / steps)
            times["io"].append(timed(lambda: (model.encode(src, mask), model.decode(x, e_s, mask_k)), device))
            for name in samplers:
                times[name].append(loop(name) / steps)
        ms = {key: 1000 * statistics.median(values) for key, values in times.items()}
        result.update(forward_ms=ms["forward"], forward_uncached_ms=ms["uncached"], encode_decode_ms=ms["io"])
        for name in samplers:
            ratio = statistics.median(a / b for a, b in zip(times[name], times["forward"]))
            result["samplers"][name] = {"step_ms": ms[name], "ratio": ratio,
                                        "per_example_ms": (ms["io"] + ms[name] * sample_steps) / batch}
    return result


def report(r: dict[str, Any]) -> str:
    lines = [f"sampling on {r['device']} ({r['precision']}{', compiled' if r['compile'] else ''}): "
             f"{r['batch']} inputs x k={r['k']} = {r['rows']} rows of n={r['n']}, {r['steps']} steps timed, "
             f"per example at {r['sample_steps']} steps",
             f"denoiser bare forward: {r['forward_ms']:.2f} ms (without the cross-attention cache: "
             f"{r['forward_uncached_ms']:.2f} ms); encoder + decoder/head once: {r['encode_decode_ms']:.2f} ms",
             f"{'sampler':<14}{'ms/step':>10}{'x forward':>11}{'ms/example':>12}"]
    for name, s in r["samplers"].items():
        lines.append(f"{name:<14}{s['step_ms']:>10.2f}{s['ratio']:>11.3f}{s['per_example_ms']:>12.1f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m codefusion.bench sample", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="+", metavar="CONFIG|CKPT|key=value")
    parser.add_argument("--batch", type=int, default=8, help="inputs per batch")
    parser.add_argument("--k", type=int, default=5, help="candidates per input")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps timed")
    parser.add_argument("--sample-steps", type=int, default=0, help="steps per example in the per-example figure (0 = T)")
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated sampler names")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_intermixed_args(argv)
    samplers = args.samplers.split(",")
    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        parser.error(f"unknown sampler {unknown[0]!r}; one of {', '.join(SAMPLERS)}")
    if min(args.batch, args.k, args.steps, args.repeats) < 1:
        parser.error("--batch, --k, --steps and --repeats must be >= 1")
    try:
        cfg, tokenizer_json = load_bench_config(args.items)
        if tokenizer_json:  # a checkpoint: its own vocabulary
            vocab = len(tokenizer_from_json(tokenizer_json))
        else:  # the CodeT5 vocabulary, or the size of the BPE the run would train
            vocab = CODET5_VOCAB if cfg.tokenizer.name_or_path else cfg.tokenizer.train_vocab_size
        sample_steps = args.sample_steps or cfg.diffusion.num_timesteps
        if args.steps > cfg.diffusion.num_timesteps:
            raise ValueError(f"--steps {args.steps} is larger than T = {cfg.diffusion.num_timesteps}")
        result = bench_sampling(cfg, vocab, batch=args.batch, k=args.k, steps=args.steps, sample_steps=sample_steps,
                                samplers=samplers, device=torch.device(args.device), precision=args.precision,
                                compile=args.compile, repeats=args.repeats)
    except (*USER_ERRORS, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["config"] = args.items
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0

"""Generate code with a trained checkpoint (CodeFusion or an autoregressive baseline).

    python sample.py ckpt=PATH [text="..." | input=FILE.jsonl | data=DATA_DIR split=test] [limit=N]
                     [num_candidates=5] [sampler=dpm_solver++|ddpm|ddim] [steps=15] [seed=0]
                     [batch_size=32] [rank=logprob|mbr] [keep=N distinct=true] [decode=decoder|grounding] [clamp=true clamp_from=K]
                     [record_every=M [save_tensors=true]] [unconditional=true] [guidance=W] [weights=ema|raw]
                     [device=cpu|cuda] [devices=N] [precision=auto|32|bf16] [compile=true] [out=FILE.jsonl]
                     [baseline.num_beams=5 baseline.do_sample=true baseline.temperature=T ...]   (baselines)

Defaults: DPM-Solver++(2M), 15 steps (the paper: ddpm, 1200: `sampler=ddpm steps=0`), precision=auto
(bf16 autocast where the CPU or GPU does bf16 natively, else float32; `precision=32` forces float32).
CPU smoke run on the quickstart's run directory:
    python sample.py ckpt=runs/quickstart-*/checkpoints/last.ckpt text="highlight cells greater than 42"
Top-5 on a test split with the paper's sampler, the denoising trajectory every 100 steps (beside the output):
    python sample.py ckpt=runs/py/checkpoints/last.ckpt data=data/python split=test num_candidates=5 \\
        sampler=ddpm steps=1200 record_every=100 out=preds.jsonl   # -> preds.jsonl, preds.trajectory.jsonl
    (each recorded step holds the code decoded from x̂0 and from the chain's state x_t;
    python -m codefusion.trajectory plot files=[preds.trajectory.jsonl] out=fig.png of=both draws both)
Four GPUs (Lightning's predict loop, each GPU a shard of the inputs, one merged output):
    python sample.py ckpt=... data=data/python devices=4 device=cuda out=preds.jsonl

Needs only the checkpoint (config, tokenizer and EMA weights are inside): a train.py .ckpt, or a
directory written by `python -m codefusion.export` (or a Hugging Face Hub id of one). Output: one
JSON line per input with `id`, `nl`, `reference` (when known), `table` (CF inputs) and
`candidates`, a list of {code, score} ranked best first, reference-free: by mean token
log-probability, or with rank=mbr by minimum Bayes risk (mean similarity to the other
candidates; `logprob` kept); keep=N writes the first N, and distinct=true drops a program that
repeats a better-ranked one (num_candidates=20 rank=mbr keep=5 distinct=true: five different
programs, the consensus first; docs/results.md "Top-5 from 20 noises"). Every (input, candidate) draws its noise from its own stream seeded
by (seed, input index, candidate): the same seed gives the same output at any batch size and on
any number of devices in float32 (precision=32); bf16 autocast rounds by kernel, so there the last
digits of a score (rarely a token) can depend on the batch. All options: codefusion/generation/options.py (`SampleOptions`).
"""
from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from codefusion.errors import DataError, UserError, run_cli


class Stopped(Exception):
    """SIGTERM or SIGINT while generating: stop, write nothing."""


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run_cli(generate_all, argv, usage=__doc__)
    except Stopped as e:  # every output is written atomically at the end: none exists yet
        print(f"stopped by {e} before the end; nothing written", file=sys.stderr)
        return 128 + signal.Signals[str(e)].value
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def generate_all(argv: list[str]) -> int:
    import torch

    from codefusion.generation.devices import GenerationModule, run_predict
    from codefusion.generation.inputs import collate_fn, read_inputs
    from codefusion.generation.options import OptionsError, parse_sample_options
    from codefusion.generation.outputs import check_outputs, write_outputs
    from codefusion.generation.records import Records
    from codefusion.precision import describe, resolve_precision
    from codefusion.systems import load_generator

    opts = parse_sample_options(argv)
    check_outputs(opts)
    generator = load_generator(opts.ckpt, opts)  # OptionsError: an option that does not fit it (steps > T, ...)
    if opts.keep > generator.num_candidates:  # num_candidates=0 resolved by the checkpoint
        raise OptionsError(f"keep={opts.keep} is more than the {generator.num_candidates} candidates sampled; "
                           f"set num_candidates >= {opts.keep}")
    rows = read_inputs(opts)
    if not rows:
        raise DataError("no usable inputs (every row was skipped, or the file is empty)")
    if opts.devices > len(rows):
        raise UserError(f"devices={opts.devices} is more than the {len(rows)} inputs; use fewer devices")
    accelerator = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_precision(opts.precision, accelerator)  # auto -> bf16 where the device has it
    print(describe(precision, opts.precision, accelerator), file=sys.stderr)
    if precision != "32":  # the trajectory rows' metadata; absent means float32 (as in every older file)
        generator.meta["precision"] = precision
    start, tok = time.time(), generator.tokenizer
    records = Records(tok, opts.rank, generator.meta, keep=opts.keep, distinct=opts.distinct)
    collate = collate_fn(rows, tok, generator.max_nl_len, opts.unconditional)
    module = GenerationModule(generator, collate, lambda idx, gen: records.add(rows, idx, gen), len(rows), opts.batch_size)
    merged, loop_seconds, steps_run, is_rank_zero = run_predict(
        module, accelerator=accelerator, devices=opts.devices, precision=precision, shard_prefix=opts.out,
        progress=os.environ.get("CODEFUSION_PROGRESS", "1") == "1")
    if not is_rank_zero:
        return 0
    nonfinite = write_outputs(opts, merged)
    written = (f" ({opts.keep}{' distinct' if opts.distinct else ''} written)" if opts.keep
               else " (distinct ones written)" if opts.distinct else "")
    summary = (f"{len(merged['records'])} inputs, {generator.num_candidates} candidates each{written}, {generator.label}, "
               f"{'bf16' if precision == 'bf16' else 'float32'}, {time.time() - start:.1f} s")
    if nonfinite:
        summary += f", {nonfinite} non-finite scores written as null"
    if steps_run:  # denoising steps (CodeFusion); a baseline's decoding has none
        summary += (f", {1000 * loop_seconds / steps_run:.1f} ms per denoising step "
                    f"(batches of up to {opts.batch_size} x {generator.num_candidates} rows, rank 0)")
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    from codefusion.quiet import quiet_third_party

    quiet_third_party()
    sys.exit(main(sys.argv[1:]))

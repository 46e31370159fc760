"""Generate code with a trained CodeFusion checkpoint.

    python sample.py ckpt=PATH [text="..." | input=FILE.jsonl | data=DATA_DIR split=test] [limit=N]
                     [num_candidates=5] [sampler=ddpm|ddim|dpm_solver++] [steps=1200] [seed=0]
                     [batch_size=32] [rank=logprob|mbr] [decode=decoder|grounding] [clamp=true clamp_from=K]
                     [record_every=M [save_tensors=true]] [unconditional=true] [guidance=W] [weights=ema|raw]
                     [device=cpu|cuda] [devices=N] [precision=32|bf16] [compile=true] [out=FILE.jsonl]

CPU smoke run on the quickstart's run directory:
    python sample.py ckpt=runs/quickstart-*/checkpoints/last.ckpt text="highlight cells greater than 42" steps=200
Top-5 on a test split, with the denoising trajectory every 100 steps (beside the output):
    python sample.py ckpt=runs/py/checkpoints/last.ckpt data=data/python split=test num_candidates=5 \
        record_every=100 out=preds.jsonl          # -> preds.jsonl, preds.trajectory.jsonl
Four GPUs (Lightning's predict loop, each GPU a shard of the inputs, one merged output):
    python sample.py ckpt=... data=data/python devices=4 device=cuda precision=bf16 out=preds.jsonl

Needs only the checkpoint (config, tokenizer and EMA weights are inside): a train.py .ckpt, or a
directory written by `python -m codefusion.export` (or a Hugging Face Hub id of one). Output: one JSON line
per input with `id`, `nl`, `reference` (when known), `table` (CF inputs) and `candidates`, a list
of {code, score} ranked best first, reference-free: by mean token log-probability, or with
rank=mbr by minimum Bayes risk (mean similarity to the other candidates; `logprob` kept).
Every (input, candidate) draws its noise from its own stream seeded by (seed, input index,
candidate): the same seed gives the same output at any batch size and on any number of devices.
All options: codefusion/sampling.py (`SampleOptions`).
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from codefusion.checkpoint import CheckpointError
from codefusion.data.examples import DataError
from codefusion.diffusion import SAMPLERS
from codefusion.sampling import SampleOptions, parse_options, read_inputs

if TYPE_CHECKING:
    from codefusion.pretrained import ModelFiles


def trajectory_path(out: str, suffix: str) -> Path:
    """preds.jsonl -> preds.trajectory.jsonl (suffix ".jsonl") or preds.trajectory.pt (".pt")."""
    stem = out[: -len(".jsonl")] if out.endswith(".jsonl") else out
    return Path(f"{stem}.trajectory{suffix}")


def collate_fn(rows: list[dict[str, Any]], tok: Any, max_nl_len: int, unconditional: bool = False):
    """Input indices -> {"index", "src_ids", "src_mask"}: utterance tokens + </s>, right-padded."""
    def collate(indices: list[int]) -> dict[str, Any]:
        if unconditional:  # no utterance: only the shape of E_s matters, its values are noise
            src = torch.full((len(indices), max_nl_len), tok.eos_token_id)
        else:
            enc = [tok(rows[i]["nl"], add_special_tokens=False).input_ids[: max_nl_len - 1] + [tok.eos_token_id]
                   for i in indices]
            width = max(map(len, enc))
            src = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
        return {"index": indices, "src_ids": src, "src_mask": src != tok.pad_token_id}

    return collate


def setup(opts: SampleOptions) -> dict[str, Any]:
    """Load the checkpoint (a .ckpt or an exported directory), check the options against it, read
    the inputs; raises on any problem."""
    from codefusion.baselines.generation import is_baseline_config
    from codefusion.pretrained import load_model_files

    files = load_model_files(opts.ckpt, opts.weights)
    return setup_baseline(opts, files) if is_baseline_config(files.config) else setup_codefusion(opts, files)


def setup_codefusion(opts: SampleOptions, files: ModelFiles) -> dict[str, Any]:
    from codefusion.generation import generate, load_for_generation

    if opts.extra:
        raise ValueError(f"{', '.join(sorted(opts.extra))}: options of baseline checkpoints; {opts.ckpt} is CodeFusion")
    cfg, model, process, tok = load_for_generation(opts.ckpt, opts.weights, "cpu", files=files)
    steps = opts.steps or process.num_timesteps
    if not 1 <= steps <= process.num_timesteps:
        raise ValueError(f"steps={steps} must be in [1, {process.num_timesteps}]")
    if opts.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{opts.sampler}'; one of {', '.join(sorted(SAMPLERS))}")
    if opts.record_every > steps:
        raise ValueError(f"record_every={opts.record_every} is larger than steps={steps}")
    if opts.clamp and opts.clamp_from > steps:
        raise ValueError(f"clamp_from={opts.clamp_from} is larger than steps={steps}")
    rows = read_inputs(opts)
    if opts.compile:
        model.denoiser = torch.compile(model.denoiser)
    k = opts.num_candidates or 1
    guidance = opts.guidance or cfg.eval.guidance
    if guidance != 1.0 and model.denoiser.null is None:
        raise ValueError(f"guidance={guidance:g} needs a model trained with train.cond_dropout > 0; {opts.ckpt} was not")

    def generate_fn(src: torch.Tensor, mask: torch.Tensor, indices: list[int]) -> Any:
        return generate(model, process, src, mask, cfg.data.max_code_len, tok.eos_token_id,
                        num_candidates=k, steps=steps, sampler=opts.sampler,
                        unconditional=opts.unconditional, noise_keys=indices, seed=opts.seed, decode=opts.decode,  # type: ignore[arg-type]
                        clamp_from=opts.clamp_from if opts.clamp else None, record_every=opts.record_every,
                        keep_tensors=opts.save_tensors, guidance=guidance)

    meta = {"language": cfg.data.language, "sampler": opts.sampler, "steps": steps, "num_timesteps": process.num_timesteps,
            "guidance": guidance}
    return {"model": model, "tok": tok, "rows": rows, "collate": collate_fn(rows, tok, cfg.data.max_nl_len, opts.unconditional),
            "generate": generate_fn, "meta": meta, "k": k,
            "label": f"{opts.sampler} {steps} steps" + (f", guidance {guidance:g}" if guidance != 1.0 else "")}


DIFFUSION_ONLY = ("sampler", "steps", "record_every", "save_tensors", "decode", "clamp", "unconditional", "compile",
                  "guidance")


def setup_baseline(opts: SampleOptions, files: ModelFiles) -> dict[str, Any]:
    """An autoregressive baseline (codefusion.baselines): beam search / sampling, same output schema."""
    from codefusion.baselines.generation import decoding_options, generate_baseline, load_baseline_for_generation
    from codefusion.diffusion import stable_seed
    defaults = SampleOptions()
    given = [key for key in DIFFUSION_ONLY if getattr(opts, key) != getattr(defaults, key)]
    if given:
        raise ValueError(f"{', '.join(given)}: options of CodeFusion checkpoints; {opts.ckpt} is an autoregressive baseline")
    cfg, model, tok = load_baseline_for_generation(opts.ckpt, opts.weights, "cpu", files=files)
    for key, value in opts.extra.items():  # command-line decoding settings over the checkpoint's
        setattr(cfg.baseline, key, value)
    if opts.num_candidates:
        cfg.baseline.num_candidates = opts.num_candidates
    cfg.validate_baseline()  # more candidates than beams, ...: one line, before any output
    decoding = decoding_options(cfg)
    rows = read_inputs(opts)
    arch = cfg.baseline.arch

    def generate_fn(src: torch.Tensor, mask: torch.Tensor, indices: list[int]) -> Any:
        # Sampling draws from a seed of (seed, first input of the batch): deterministic per batch.
        return generate_baseline(model, arch, src, mask, **decoding, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                                 seed=stable_seed(opts.seed, indices[0]))

    label = ("sampling" if decoding["do_sample"] else
             f"beam search ({decoding['num_beams']} beams{', %d groups' % decoding['num_beam_groups'] if decoding['num_beam_groups'] > 1 else ''})")
    return {"model": model, "tok": tok, "rows": rows, "collate": collate_fn(rows, tok, cfg.data.max_nl_len),
            "generate": generate_fn, "meta": {"language": cfg.data.language}, "k": decoding["num_candidates"],
            "label": f"{arch} {label}"}


class Stopped(Exception):
    """SIGTERM or SIGINT while generating: stop, write nothing."""


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def check_outputs(opts: SampleOptions) -> None:
    """Before loading anything: out= (and the trajectory files beside it) is none of the inputs
    and can be written; device=cuda has a GPU."""
    from codefusion.atomic import check_output

    if opts.device in ("cuda", "gpu") and not torch.cuda.is_available():
        raise ValueError(f"device={opts.device} but CUDA is not available here (torch {torch.__version__}); use device=cpu")
    if not opts.out:
        return
    inputs = [opts.input, opts.ckpt, Path(opts.data) / f"{opts.split}.jsonl" if opts.data else None]
    outs = [Path(opts.out)]
    if opts.record_every:
        outs += [trajectory_path(opts.out, ".jsonl")] + ([trajectory_path(opts.out, ".pt")] if opts.save_tensors else [])
    for out in outs:
        check_output(out, inputs, key="out" if out == outs[0] else "out (trajectory)")


def main(argv: list[str]) -> int:
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return generate_all(argv)
    except OSError as e:  # the disk filled up while writing: one line naming the file, no half file
        print(f"error: cannot write {e.filename or 'the output'}: {e.strerror or e}", file=sys.stderr)
        return 2
    except Stopped as e:  # every output is written atomically at the end: none exists yet
        print(f"stopped by {e} before the end; nothing written", file=sys.stderr)
        return 128 + signal.Signals[str(e)].value
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def generate_all(argv: list[str]) -> int:
    from codefusion.atomic import finite_json, write_atomic, write_jsonl_atomic
    from codefusion.predict import GenerationModule, run_predict
    from codefusion.sampling import Records

    try:
        opts = parse_options(argv)
        check_outputs(opts)
        job = setup(opts)
        if not job["rows"]:
            raise DataError("no usable inputs (every row was skipped, or the file is empty)")
        if opts.devices > len(job["rows"]):
            raise ValueError(f"devices={opts.devices} is more than the {len(job['rows'])} inputs; use fewer devices")
    except (ValueError, CheckpointError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows, start = job["rows"], time.time()
    records = Records(job["tok"], opts.rank, job["meta"])
    module = GenerationModule(job["model"], job["generate"], job["collate"],
                              lambda idx, gen: records.add(rows, idx, gen), len(rows), opts.batch_size)
    accelerator = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    merged, loop_seconds, steps_run, is_rank_zero = run_predict(
        module, accelerator=accelerator, devices=opts.devices, precision=opts.precision,
        shard_prefix=opts.out, progress=os.environ.get("CODEFUSION_PROGRESS", "1") == "1")
    if not is_rank_zero:
        return 0
    if opts.record_every:
        assert opts.out is not None
        write_jsonl_atomic(trajectory_path(opts.out, ".jsonl"), merged["trajectories"])
        if opts.save_tensors:
            tensors = {"pred_x0": torch.stack(merged["tensors"]),  # (inputs, k, recorded steps, n, d)
                       "steps": [p["step"] for p in merged["trajectories"][0]["trajectory"]] if merged["trajectories"] else [],
                       "ids": [r["id"] for r in merged["records"]]}
            write_atomic(trajectory_path(opts.out, ".pt"), lambda p: torch.save(tensors, p))
    if opts.out:
        nonfinite = write_jsonl_atomic(Path(opts.out), merged["records"])
    else:
        import json

        clean, nonfinite = finite_json(merged["records"])
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in clean))
    seconds = time.time() - start
    summary = f"{len(merged['records'])} inputs, {job['k']} candidates each, {job['label']}, {seconds:.1f} s"
    if nonfinite:
        summary += f", {nonfinite} non-finite scores written as null"
    if steps_run:  # denoising steps (CodeFusion); a baseline's decoding has none
        summary += (f", {1000 * loop_seconds / steps_run:.1f} ms per denoising step "
                    f"(batches of up to {opts.batch_size} x {job['k']} rows, rank 0)")
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

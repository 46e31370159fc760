"""Export a train.py checkpoint as a Hugging Face style model directory (and optionally upload it).

    python -m codefusion.export ckpt=runs/cf/checkpoints/last.ckpt out=exports/cf [weights=ema|raw]
                                [push_to=USER/REPO [private=true]] [overwrite=true]

Writes, into a temporary directory beside `out` that is renamed to `out` when complete:

    config.json         a "codefusion" section: format and version, the system's kind, vocabulary
                        size, special ids, which weights, the sha256 of model.safetensors, the steps
                        trained and the resolved run config (baselines: inside transformers' own)
    model.safetensors   the EMA weights (weights=raw: the trained ones); loading never runs code
    tokenizer.json ...  the tokenizer (save_pretrained)
    README.md           the model card: what it is, data and steps, parameters per component,
                        held-out results when the run directory holds predictions, how to sample,
                        the citation

For the autoregressive baselines the directory is the transformers model's own `save_pretrained`
output, so `AutoModelForSeq2SeqLM` / `AutoModelForCausalLM.from_pretrained(out)` load it directly.
Load any export with `codefusion.CodeFusionModel.from_pretrained(out)`, `sample.py ckpt=out`,
`python -m codefusion.diagnose ckpt=out` or `train.py train.init_from=out`.

`out` must not exist, be empty, or (with overwrite=true) be a previous export; the checkpoint is
never overwritten. `push_to` uploads the finished directory with huggingface_hub (needs network
access and a token; `huggingface-cli login`).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from codefusion.checkpoint import CheckpointError
from codefusion.config import Weights, parse_dotlist, to_dict
from codefusion.errors import UserError, run_cli
from codefusion.pretrained import (
    CONFIG_FILE,
    EXPORT_FORMAT,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    ModelFiles,
    first_line,
    load_model_files,
    read_export_config,
    sha256_file,
)

CITATION = """@inproceedings{singh-etal-2023-codefusion,
    title = "{C}ode{F}usion: A Pre-trained Diffusion Model for Code Generation",
    author = "Singh, Mukul and Cambronero, Jos{\\'e} and Gulwani, Sumit and Le, Vu and Negreanu, Carina and Verbruggen, Gust",
    booktitle = "Proceedings of the 2023 Conference on Empirical Methods in Natural Language Processing",
    year = "2023",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2023.emnlp-main.716",
}"""


@dataclass
class ExportOptions:
    ckpt: str = ""  # a .ckpt written by train.py
    out: str = ""  # the directory to write
    weights: Weights = "ema"  # ema | raw: which of the checkpoint's weights go into model.safetensors
    push_to: Optional[str] = None  # a Hugging Face Hub repo id to upload the directory to
    private: bool = False  # with push_to: create the repository as private
    overwrite: bool = False  # replace `out` when it holds a previous export (never anything else)


class ExportError(UserError):
    """A bad argument, output directory or upload, reported in one line."""


def parse_options(argv: list[str]) -> ExportOptions:
    """key=value arguments (OmegaConf dotlist, as train.py) -> ExportOptions."""
    opts: ExportOptions = parse_dotlist(ExportOptions, argv, ExportError)
    if not opts.ckpt or not opts.out:
        raise ExportError("ckpt=PATH and out=DIR are required")
    return opts


def check_out(out: Path, ckpt: Path, overwrite: bool) -> None:
    """Refuse an `out` that would overwrite the checkpoint or anything that is not an export."""
    if not ckpt.is_file():
        raise ExportError(f"ckpt={ckpt} is not a file: export reads a train.py .ckpt"
                          + (" (it is a directory: already exported?)" if ckpt.is_dir() else ""))
    if out.resolve() == ckpt.resolve() or ckpt.resolve().is_relative_to(out.resolve()):
        raise ExportError(f"out={out} is or holds the checkpoint; choose another directory")
    if out.exists() and not out.is_dir():
        raise ExportError(f"out={out} is a file; choose a directory")
    if out.is_dir() and any(out.iterdir()):
        try:
            read_export_config(out, str(out))
        except CheckpointError:
            raise ExportError(f"out={out} is a non-empty directory that is not a CodeFusion export; "
                              "choose another directory") from None
        if not overwrite:
            raise ExportError(f"out={out} already holds an export; pass overwrite=true to replace it")


def export(opts: ExportOptions) -> Path:
    """Write the directory (atomically) and return its path; upload it when `push_to` is set."""
    ckpt, out = Path(opts.ckpt), Path(opts.out)
    check_out(out, ckpt, opts.overwrite)
    files = load_model_files(str(ckpt), opts.weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        params = write_weights(files, tmp)
        save_tokenizer(files, tmp)
        write_config(files, tmp)
        (tmp / "README.md").write_text(model_card(files, params, ckpt, out.name), encoding="utf-8")
        mask = _umask()  # mkdtemp makes a 0700 directory, safetensors 0600 files: give the usual ones
        os.chmod(tmp, 0o777 & ~mask)
        for path in tmp.iterdir():
            os.chmod(path, 0o666 & ~mask)
        install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if opts.push_to:
        push(out, opts.push_to, opts.private)
    return out


def write_weights(files: ModelFiles, tmp: Path) -> dict[str, int]:
    """model.safetensors (+ transformers' config for a baseline); returns parameters per component."""
    if files.kind == "codefusion":
        from safetensors.torch import save_file

        from codefusion.generation.codefusion import load_codefusion
        from codefusion.networks.codefusion import parameter_report

        model = load_codefusion(files, files.source)[1].model
        save_file(unique_state(model), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        return parameter_report(model)
    from transformers.utils import logging as hf_logging

    from codefusion.baselines.generation import load_baseline
    from codefusion.baselines.networks import count_parameters

    model = load_baseline(files, files.source)[1]
    hf_logging.disable_progress_bar()
    model.save_pretrained(str(tmp), max_shard_size="1000GB")  # one file: the loader reads model.safetensors
    if not (tmp / WEIGHTS_FILE).is_file():
        raise ExportError(f"transformers did not write {WEIGHTS_FILE} (found {sorted(p.name for p in tmp.iterdir())})")
    return {files.kind: count_parameters(model), "total": count_parameters(model)}


def unique_state(model: Any) -> dict[str, Any]:
    """The state dict with each tied tensor once, under its first name (as `named_parameters`),
    contiguous: what safetensors can store."""
    seen: set[int] = set()
    state = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        state[name] = tensor.detach().contiguous()
    return state


def save_tokenizer(files: ModelFiles, tmp: Path) -> None:
    """tokenizer.json + tokenizer_config.json. The class is named `PreTrainedTokenizerFast`, which
    transformers 4 and 5 both know (5 alone would write its new name, TokenizersBackend)."""
    files.tokenizer.save_pretrained(str(tmp))
    path = tmp / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_config(files: ModelFiles, tmp: Path) -> None:
    """config.json: the "codefusion" section, alone or added to transformers' config."""
    path = tmp / CONFIG_FILE
    # No "model_type" for CodeFusion: transformers would warn about an unknown type when loading the tokenizer.
    raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    raw["codefusion"] = {
        "format": EXPORT_FORMAT, "format_version": FORMAT_VERSION, "system": files.kind,
        "vocab_size": files.vocab_size, "pad_id": files.pad_id, "eos_id": files.eos_id, "weights": files.which,
        "global_step": files.global_step, "sha256": sha256_file(tmp / WEIGHTS_FILE), "config": to_dict(files.config),
    }
    path.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def install(tmp: Path, out: Path) -> None:
    """Rename the finished `tmp` to `out`; an existing `out` (empty, or a previous export the
    caller may replace) is moved aside first and removed only once the new one is in place."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old)


def push(out: Path, repo_id: str, private: bool) -> None:
    """Upload the directory to the Hub repository `repo_id` (created when missing)."""
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo_id, commit_message="Upload CodeFusion export")
    except Exception as e:
        raise ExportError(f"wrote {out}, but the upload to {repo_id} failed ({type(e).__name__}: {first_line(e)})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- the model card ---------------------------------------------------------------------------

def run_directory(ckpt: Path) -> Path:
    """runs/NAME/checkpoints/last.ckpt -> runs/NAME (train.py's layout), else the file's directory."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def model_card(files: ModelFiles, params: dict[str, int], ckpt: Path, name: str) -> str:
    """README.md: YAML metadata, then what the model is, its training, parameters, held-out
    results (real numbers from the run directory, or a sentence saying there are none), how to
    sample and the citation."""
    cfg = files.config
    meta = ["---", f"library_name: {'codefusion' if files.kind == 'codefusion' else 'transformers'}",
            "tags:", "- code-generation", f"- {cfg.data.language}"]
    meta += ["- diffusion", "- codefusion"] if files.kind == "codefusion" else ["- codefusion-baseline"]
    if files.kind != "codefusion":
        meta.append(f"pipeline_tag: {'text2text-generation' if files.kind == 'seq2seq' else 'text-generation'}")
    sections = [
        "\n".join(meta + ["---"]),
        f"# {name}\n\n{describe(files)}",
        "## Training\n\n" + training_lines(files),
        "## Parameters\n\n| component | parameters |\n|---|---:|\n"
        + "\n".join(f"| {k} | {v:,} |" for k, v in params.items()),
        "## Held-out results\n\n" + heldout_results(run_directory(ckpt), ckpt, files),
        "## How to sample\n\n" + how_to_sample(files, name),
        "## Citation\n\nCodeFusion (Singh et al., EMNLP 2023); this model comes from an independent "
        f"reimplementation, not the authors' code.\n\n```bibtex\n{CITATION}\n```",
    ]
    return "\n\n".join(sections) + "\n"


def describe(files: ModelFiles) -> str:
    cfg, m, d = files.config, files.config.model, files.config.diffusion
    weights = "the exponential moving average (EMA) of the weights" if files.which == "ema" else "the raw trained weights"
    if files.kind == "codefusion":
        return (f"A CodeFusion model (Singh et al., EMNLP 2023) generating **{cfg.data.language}** code from natural "
                "language by diffusion: a T5 encoder reads the utterance, a transformer denoiser removes Gaussian "
                "noise from a continuous embedding of the whole program, and a decoder and head turn the denoised "
                f"embeddings into tokens.\n\n- encoder: layers {m.encoder_layers}, d {m.encoder_d_model}"
                f" (initialised from {m.encoder_name_or_path or 'scratch'})\n- denoiser: layers {m.denoiser_layers}, "
                f"d {m.d_model}; decoder: layers {m.decoder_layers}; embedding dimension {m.embed_dim}; "
                f"vocabulary {files.vocab_size}\n- diffusion: T = {d.num_timesteps}, `{d.schedule}` schedule, "
                f"predicting `{d.parameterization}`; programs of up to {cfg.data.max_code_len} tokens\n"
                f"- weights: {weights}")
    arch = "T5 encoder-decoder (seq2seq)" if files.kind == "seq2seq" else "decoder-only (causal LM) transformer"
    return (f"An autoregressive baseline of the CodeFusion reproduction: a {arch} generating **{cfg.data.language}** "
            f"code from natural language, initialised from {cfg.baseline.name_or_path or 'scratch'}; vocabulary "
            f"{files.vocab_size}; weights: {weights}. A plain `transformers` model directory.")


def training_lines(files: ModelFiles) -> str:
    cfg, data = files.config, files.config.data
    if data.source == "synthetic_cf":
        source = (f"the embedded synthetic NL -> conditional-formatting-rule generator ({data.synthetic_train:,} "
                  f"training pairs, seed {data.synthetic_seed})")
    elif data.source == "pretrain":
        source = f"code-only pre-training corpus `{data.data_dir}/pretrain/{data.language}.jsonl` (CPD and generation)"
    else:
        source = f"`{data.data_dir}/{data.language}/train.jsonl` (data_prep/prepare_benchmarks.py)"
    steps = f"{files.global_step:,}" if files.global_step is not None else "unknown"
    o = cfg.optim
    return "\n".join([
        f"- data: {source}", f"- steps: {steps} optimizer steps (of train.max_steps {cfg.train.max_steps:,}), "
        f"global batch {cfg.train.global_batch_size}", f"- optimiser: AdamW, lr {o.lr:g}, warm-up {o.warmup_steps}, "
        f"{o.decay} decay, EMA {o.ema_decay}", f"- run: `{cfg.train.name}`, seed {cfg.train.seed}; the whole resolved "
        "config is in config.json (`codefusion.config`)"])


def heldout_results(run_dir: Path, ckpt: Path, files: ModelFiles) -> str:
    """Exact match computed from the run's predictions_*.jsonl, and the evaluation reports
    (*.metrics.json) beside them; a sentence saying so when there are none."""
    lines = []
    for path in sorted(run_dir.glob("predictions_*.jsonl")):
        summary = prediction_summary(path)
        if summary:
            n, k, top1, oracle = summary
            lines.append(f"| `{path.name}` | {n} | {k} | {top1:.1f}% | {oracle:.1f}% |")
    metrics = [row for path in sorted(run_dir.glob("*.metrics.json")) for row in metrics_rows(path)]
    if not lines and not metrics:
        return f"No held-out predictions were found in the run directory (`{run_dir.name}`); this card reports no metrics."
    text = []
    if lines:
        text += ["Exact match of the predictions in the run directory (computed from the files):", "",
                 "| file | inputs | candidates | top-1 (reference-free rank) | oracle top-k |", "|---|---:|---:|---:|---:|",
                 *lines]
    if metrics:
        text += ["", "`codefusion.evaluate` reports in the run directory (%):", "",
                 "| report | metric | top-1 | top-3 | top-5 |", "|---|---|---:|---:|---:|", *metrics]
    note = ("train.py writes predictions_*.jsonl at the end of the run with the final EMA weights "
            f"(`eval.sampler` {files.config.eval.sampler}, {files.config.eval.sample_steps} steps for CodeFusion)")
    if ckpt.name != "last.ckpt" or files.which != "ema":
        note += f"; this export is `{ckpt.name}` with the {files.which} weights, so its own figures may differ"
    return "\n".join(text + ["", note + "."])


def prediction_summary(path: Path) -> Optional[tuple[int, int, float, float]]:
    """(inputs with a reference, candidates per input, top-1 %, oracle top-k %) of a predictions
    file in sample.py's schema; None when it has no scorable row or cannot be read."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        scored = [r for r in rows if isinstance(r.get("reference"), str) and r.get("candidates")]
    except (OSError, ValueError, AttributeError):
        return None
    if not scored:
        return None
    top1 = sum(r["candidates"][0]["code"] == r["reference"] for r in scored) / len(scored)
    oracle = sum(any(c["code"] == r["reference"] for c in r["candidates"]) for r in scored) / len(scored)
    return len(scored), max(len(r["candidates"]) for r in scored), 100 * top1, 100 * oracle


def metrics_rows(path: Path) -> list[str]:
    """Table rows of a `codefusion.evaluate` report (percentages), computed metrics only."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        metrics = report["metrics"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    rows = []
    for metric, values in metrics.items():
        if isinstance(values, dict) and all(isinstance(values.get(k), (int, float)) for k in ("top1", "top3", "top5")):
            mark = " (primary)" if metric == report.get("primary") else ""
            rows.append(f"| `{path.name}` | {metric}{mark} | {values['top1']:.1f} | {values['top3']:.1f} | "
                        f"{values['top5']:.1f} |")
    return rows


def how_to_sample(files: ModelFiles, name: str) -> str:
    text = "highlight cells greater than 42"
    raw = files.which == "raw"
    cli = (f'```bash\npython sample.py ckpt={name}{" weights=raw" if raw else ""} text="{text}" '
           'num_candidates=5\n```')
    if files.kind == "codefusion":
        load = f'CodeFusionModel.from_pretrained("{name}"' + (', weights="raw")' if raw else ")")
        python = "\n".join([
            "from codefusion import CodeFusionModel", "", f"model = {load}",
            f'candidates = model.generate(["{text}"], num_candidates=5, sampler="ddpm", '
            f"steps={files.config.eval.sample_steps}, seed=0)",
            "for c in candidates[0]:", "    print(c.score, c.code)"])
        return (f"With this project installed (`pip install -e .`):\n\n{cli}\n\n```python\n{python}\n```\n\n"
                "`record_every=M` adds each candidate's denoising trajectory (`c.trajectory`).")
    auto = "AutoModelForSeq2SeqLM" if files.kind == "seq2seq" else "AutoModelForCausalLM"
    causal = files.kind == "causal_lm"
    python = "\n".join([
        "import torch", f"from transformers import {auto}, AutoTokenizer", "",
        f'tok = AutoTokenizer.from_pretrained("{name}")', f'model = {auto}.from_pretrained("{name}")',
        f'ids = tok("{text}", add_special_tokens=False).input_ids + [tok.eos_token_id]',
        "out = model.generate(torch.tensor([ids]), num_beams=5, num_return_sequences=5, "
        f"max_new_tokens={files.config.data.max_code_len})",
        f"print(tok.batch_decode(out{'[:, len(ids):]' if causal else ''}, skip_special_tokens=True))"])
    prompt = "the utterance's tokens then `</s>`" + ("; the code follows the prompt" if causal else "")
    return (f"With `transformers` alone (input: {prompt}):\n\n```python\n{python}\n```\n\n"
            f"or with this project (beam search as in the paper, the same output schema as CodeFusion):\n\n{cli}")


def main(argv: list[str]) -> int:
    """The entry point: `--help` prints the module docstring; a UserError or OSError (a full disk
    at write time) is one line on stderr, status 2."""
    return run_cli(_main, list(sys.argv[1:] if argv is None else argv), usage=__doc__)


def _main(argv: list[str]) -> int:
    try:
        opts = parse_options(argv)
        out = export(opts)
    except (ExportError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({', '.join(sorted(p.name for p in out.iterdir()))})"
          + (f"; uploaded to https://huggingface.co/{opts.push_to}" if opts.push_to else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

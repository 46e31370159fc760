"""What train.py does, as functions: run directory, tokenizer, data, system, Trainer, evaluation."""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from transformers import PreTrainedTokenizerBase

from codefusion.atomic import write_jsonl_atomic
from codefusion.checkpoint import AtomicCheckpointIO, CheckpointError, load_checkpoint
from codefusion.config import Config, ConfigError, from_dict, save_yaml, to_dict
from codefusion.data.datamodule import CodeFusionDataModule, load_split_rows, rehearsal_rows
from codefusion.data.examples import DataError, SplitReport
from codefusion.factory import build_tokenizer, run_tokenizer_dir
from codefusion.generation.contract import decode_code
from codefusion.generation.records import prediction_record
from codefusion.networks.codefusion import widen_for_self_condition
from codefusion.precision import autocast, describe, resolve_precision
from codefusion.pretrained import load_model_files
from codefusion.systems import build_system
from codefusion.training.progress import StepProgressBar
from codefusion.training.run_guard import (
    RunGuard,
    check_run_dir,
    lock_run_dir,
    release_run_dir,
    remove_stale_temporaries,
)

# The data module skips the batches already trained on when resuming mid-epoch (see
# EpochShuffleSampler), which Lightning cannot see; its warning that the resume is unreliable
# does not apply here (tests/test_training.py::test_resume_is_exact checks it is exact).
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")

RUN_DIR_ENV = "CODEFUSION_RUN_DIR"  # shared with the processes Lightning's DDP launcher starts


def rank_zero() -> bool:
    """Global rank 0, before the Trainer exists: torchrun sets RANK, srun SLURM_PROCID, and
    Lightning's own launcher LOCAL_RANK/NODE_RANK."""
    for var in ("RANK", "SLURM_PROCID"):
        if var in os.environ:
            return os.environ[var] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def say(msg: str) -> None:
    if rank_zero():
        print(msg, flush=True)


def resolve_run_dir(cfg: Config) -> Path:
    """Explicit `train.run_dir`, else the one the launching process chose, else runs/<name>-<id>
    where <id> is the SLURM job / torchrun run id when there is one (same in every process)."""
    if cfg.train.run_dir:
        run_dir = cfg.train.run_dir
    elif os.environ.get(RUN_DIR_ENV):
        run_dir = os.environ[RUN_DIR_ENV]
    else:
        job = os.environ.get("SLURM_JOB_ID") or os.environ.get("TORCHELASTIC_RUN_ID", "none")
        stamp = job if job != "none" else time.strftime("%Y%m%d-%H%M%S")
        run_dir = f"runs/{cfg.train.name}-{stamp}"
    os.environ[RUN_DIR_ENV] = run_dir
    return Path(run_dir)


def make_tokenizer(cfg: Config, run_dir: Path) -> PreTrainedTokenizerBase:
    """The named tokenizer; else, when fine-tuning (`init_from`), the one stored with those
    weights (they only make sense with that exact vocabulary); else a BPE trained on this run's
    training split (and on the code-only corpus when `pretrain.mix` mixes it in). Saved into the
    run directory."""
    if not cfg.tokenizer.name_or_path and cfg.train.init_from:
        tok = load_model_files(cfg.train.init_from, cfg.train.init_from_weights).tokenizer
        say(f"tokenizer: from {cfg.train.init_from} ({len(tok)} tokens)")
    else:
        texts: Optional[list[str]] = None
        if not cfg.tokenizer.name_or_path:
            report = SplitReport("train")
            rows = load_split_rows(cfg.data, "train", report, cfg.pretrain.valid_size)
            if not rows:
                raise DataError(f"the training split has no usable rows ({report.line()})")
            texts = [r["nl"] for r in rows] + [r["code"] for r in rows]
            if cfg.pretrain.mix > 0:
                texts += [r["code"] for r in rehearsal_rows(cfg.data, cfg.pretrain, SplitReport("rehearsal"))]
        tok = build_tokenizer(cfg, texts)
    if rank_zero():
        tok.save_pretrained(run_tokenizer_dir(run_dir))
    return tok


# Config choices under which the same-shaped CodeFusion weights mean something else: the scale of
# x0 = L(y), what the denoiser predicts, the noise levels it was trained on.
MEANING_KEYS = ("model.embed_norm", "diffusion.parameterization", "diffusion.schedule", "diffusion.num_timesteps")


def init_from(system: L.LightningModule, path: str, which: str) -> dict[str, list[str]]:
    """Load another run's weights (EMA or raw) into `system` from its .ckpt or exported directory,
    tolerating a different head/vocab: returns and prints what was loaded, missing, unexpected,
    skipped for a shape mismatch and widened (`widen_for_self_condition`)."""
    files = load_model_files(path, which)
    own = system.model.state_dict()  # includes aliases of tied weights (head = embedding ...)
    source, widened = widen_for_self_condition(files.weights, own)
    unique = [n for n, _ in system.model.named_parameters()] + [n for n, _ in system.model.named_buffers()]
    loadable = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    report = {
        "loaded": sorted(loadable),
        "missing": sorted(k for k in unique if k not in source),
        "unexpected": sorted(k for k in source if k not in own),
        "shape_mismatch": sorted(k for k in source if k in own and own[k].shape != source[k].shape),
        "widened": widened,
    }
    system.model.load_state_dict(loadable, strict=False)
    system.ema = type(system.ema)(system.model, system.cfg.optim.ema_decay)  # restart EMA from them
    say(f"init_from {path} ({which} weights): loaded {len(report['loaded'])} tensors; "
        + "; ".join(f"{k} {len(v)}{': ' + ', '.join(v[:5]) if v else ''}" for k, v in report.items()
              if k != "loaded" and (v or k != "widened")))
    if files.kind == "codefusion" and (changed := config_differences(system.cfg, files.config, MEANING_KEYS, "source")):
        say(f"init_from warning: this run differs from {path} in {'; '.join(changed)}; the weights load, but "
            "mean something else under this run's choices (set them to match to continue that model)")
    return report


def build_trainer(cfg: Config, run_dir: Path, extra_callbacks: Optional[list[Callback]] = None) -> L.Trainer:
    accum = cfg.grad_accumulation()
    ckpt_dir = run_dir / "checkpoints"
    loggers: list[Logger] = [CSVLogger(str(run_dir), name="logs")]
    if cfg.train.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="tensorboard"))
    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best-step{step}", monitor=cfg.train.monitor,
                        mode=cfg.train.monitor_mode, save_top_k=1, auto_insert_metric_name=False),
        RunGuard(ckpt_dir / "last.ckpt", cfg.train.checkpoint_every_n_steps, cfg.train.max_nonfinite_steps),
        LearningRateMonitor(logging_interval="step"),
        *(extra_callbacks or []),
    ]
    progress = rank_zero() and os.environ.get("CODEFUSION_PROGRESS", "1") == "1"
    if progress:
        callbacks.append(StepProgressBar.for_run(cfg.train.max_steps))
    t = cfg.trainer
    return L.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_steps=cfg.train.max_steps, max_epochs=-1,
        accumulate_grad_batches=accum, gradient_clip_val=cfg.optim.grad_clip or None,
        val_check_interval=cfg.train.val_every_n_steps * accum, check_val_every_n_epoch=None,
        limit_val_batches=cfg.train.limit_val_batches, num_sanity_val_steps=0,
        log_every_n_steps=cfg.train.log_every_n_steps, logger=loggers, callbacks=callbacks,
        plugins=[AtomicCheckpointIO()], use_distributed_sampler=False, default_root_dir=str(run_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
    )


@torch.no_grad()
def evaluate_heldout(system: L.LightningModule, dm: CodeFusionDataModule, cfg: Config, out_path: Path) -> float:
    """Generate code for held-out utterances with the EMA weights through the system's
    `generate_candidates` (CodeFusion or a baseline: one contract); print some, return the
    top-1 exact match and write the predictions (sample.py's schema) to `out_path`."""
    split, tok = cfg.eval.split, dm.tokenizer
    ds, rows = dm.datasets[split], dm.rows[split]
    n = len(ds) if cfg.eval.num_examples <= 0 else min(cfg.eval.num_examples, len(ds))
    device = next(system.parameters()).device
    # eval.precision: auto = bf16 autocast where the device does bf16 natively (codefusion/precision.py)
    requested = cfg.eval.precision
    precision = resolve_precision(requested, device)
    system.ema.swap(system.model)
    system.eval()
    g = torch.Generator(device=device).manual_seed(cfg.train.seed)
    loader = dm.loader(split, cfg.eval.batch_size, range(n))  # type: ignore[arg-type]
    records, i = [], 0
    for batch in loader:
        with autocast(precision, device):
            out = system.generate_candidates(batch["src_ids"].to(device), batch["src_mask"].to(device), generator=g)
        for b in range(out.tokens.shape[0]):
            candidates = [{"code": decode_code(tok, out.tokens[b, c].tolist()), "score": float(out.score[b, c])}
                          for c in range(out.tokens.shape[1])]
            records.append(prediction_record(rows[i], i, candidates))
            i += 1
    system.ema.swap(system.model)
    exact = sum(r["candidates"][0]["code"] == r["reference"] for r in records) / max(1, len(records))
    nonfinite = write_jsonl_atomic(out_path, records)
    if nonfinite:
        say(f"warning: {nonfinite} non-finite candidate scores written as null in {out_path}")
    say(f"\nheld-out {split} examples ({system.describe_decoding()}, EMA weights, "
        f"{describe(precision, requested, device).removeprefix('precision ')}):")
    for r in records[: cfg.eval.show]:
        mark = "OK " if r["candidates"][0]["code"] == r["reference"] else "   "
        say(f"  {mark}nl:  {r['nl']}\n     gen: {r['candidates'][0]['code']}\n     ref: {r['reference']}")
    say(f"exact match on {len(records)} held-out {split} examples: {exact:.1%}  (predictions: {out_path})")
    return exact


# Settings a checkpoint's weights depend on: resuming with other values would fail deep inside
# load_state_dict ("size mismatch") or silently train a different model.
RESUME_KEYS = ("system", "model", "tokenizer", "baseline.name_or_path", "baseline.d_model", "baseline.layers",
               "baseline.heads", "baseline.d_ff", "baseline.d_kv", "data.source", "data.language", "data.max_nl_len",
               "data.max_code_len", "diffusion.num_timesteps")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def config_differences(cfg: Config, other: Config, keys: tuple[str, ...], label: str) -> list[str]:
    """`key=value (label: other's value)` for every setting under `keys` (a key or a section;
    dropout aside) where `cfg` differs from `other`."""
    now, saved = _flat(to_dict(cfg)), _flat(to_dict(other))
    picked = [k for k in now if any(k == r or k.startswith(r + ".") for r in keys) and not k.endswith("dropout")]
    return [f"{k}={now[k]!r} ({label}: {saved.get(k)!r})" for k in picked if now[k] != saved.get(k)]


def check_resume_config(cfg: Config, ckpt: dict[str, Any], path: str) -> None:
    """ConfigError naming every RESUME_KEYS setting that differs from the checkpoint's."""
    saved = from_dict(ckpt.get("hyper_parameters", {}).get("config", {}))
    diff = config_differences(cfg, saved, RESUME_KEYS, "checkpoint")
    if diff:
        raise ConfigError(f"train.ckpt_path={path} was trained with other settings: {'; '.join(diff)}; "
                          "use the checkpoint's config.yaml, or train.init_from to start a different model from it")


def resolve_ckpt_path(cfg: Config, run_dir: Path) -> Optional[str]:
    """train.ckpt_path, with "auto" = the run directory's last.ckpt when there is one (a requeued
    job resumes, a first start starts fresh); a named checkpoint is checked here, in a second."""
    path = cfg.train.ckpt_path
    if path == "auto":
        last = run_dir / "checkpoints" / "last.ckpt"
        path = str(last) if last.is_file() else None
    if path:
        if Path(path).is_dir():
            raise CheckpointError(f"train.ckpt_path={path} is a directory; resuming needs a train.py "
                                  ".ckpt (to start from an exported model's weights use train.init_from)")
        check_resume_config(cfg, load_checkpoint(path), path)
    return path


def check_trainer_settings(cfg: Config) -> None:
    """Build (and drop) a Trainer with the run's accelerator, devices, strategy, precision and
    num_nodes: Lightning's own checks, as one ConfigError line before any work. Its start-up
    messages (GPU available: ...) are printed once, by the real Trainer."""
    import logging

    t = cfg.trainer
    quiet = [logging.getLogger(n) for n in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        L.Trainer(accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
                  precision=t.precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False)
    except Exception as e:  # MisconfigurationException, ValueError, RuntimeError ... from Lightning
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"trainer settings (accelerator={t.accelerator}, devices={t.devices}, strategy={t.strategy}, "
                          f"precision={t.precision}, num_nodes={t.num_nodes}): {first}") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def run(cfg: Config) -> dict[str, Any]:
    """Train (and optionally evaluate) one run in its locked run directory; returns a summary dict."""
    check_trainer_settings(cfg)
    run_dir = resolve_run_dir(cfg)
    # Checkpoints named in the config are checked first: a typo fails in a second, not after
    # the data is tokenized.
    ckpt_path = resolve_ckpt_path(cfg, run_dir)
    if cfg.train.init_from:
        load_model_files(cfg.train.init_from, cfg.train.init_from_weights)
    if not rank_zero():  # the run directory is rank 0's: it locks, checks and writes it
        return train_in(cfg, run_dir, ckpt_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(run_dir)
    try:
        # ckpt_path=auto without a last.ckpt (killed before its first save) starts over in place.
        check_run_dir(run_dir, resuming=ckpt_path is not None or cfg.train.ckpt_path == "auto",
                      overwrite=cfg.train.overwrite)
        for p in remove_stale_temporaries(run_dir):
            say(f"removed a temporary file left by an interrupted run: {p}")
        save_yaml(cfg, run_dir / "config.yaml")
        return train_in(cfg, run_dir, ckpt_path)
    finally:
        release_run_dir(lock)


def train_in(cfg: Config, run_dir: Path, ckpt_path: Optional[str]) -> dict[str, Any]:
    """Tokenizer, data, system, Trainer.fit from `ckpt_path` (or fresh), then the evaluation."""
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    tok = make_tokenizer(cfg, run_dir)
    dm = CodeFusionDataModule(cfg.data, tok, cfg.train.per_device_batch_size, seed=cfg.train.seed, pretrain=cfg.pretrain)
    dm.setup()
    for line in dm.report_lines():
        say(f"data {line}")
    n_train = len(dm.datasets["train"])
    if n_train < cfg.train.per_device_batch_size * cfg.world_size():
        raise DataError(f"the training split keeps {n_train} examples, fewer than one batch "
                        f"(train.per_device_batch_size={cfg.train.per_device_batch_size} x world {cfg.world_size()}): "
                        "it would train 0 steps; lower the batch size or add data")
    system = build_system(cfg, tok)
    params = system.parameter_report()
    say("parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in params.items()))
    say(f"batch: global {cfg.train.global_batch_size} = per-device {cfg.train.per_device_batch_size} "
        f"x world {cfg.world_size()} x gradient accumulation {cfg.grad_accumulation()}")
    if cfg.train.init_from and not ckpt_path:
        init_from(system, cfg.train.init_from, cfg.train.init_from_weights)
    trainer = build_trainer(cfg, run_dir)
    say(f"run directory: {run_dir}")
    start = time.time()
    trainer.fit(system, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    summary: dict[str, Any] = {"run_dir": str(run_dir), "params": params, "train_seconds": time.time() - start,
                               "global_step": trainer.global_step}
    say(f"trained {trainer.global_step} steps in {summary['train_seconds']:.0f} s")
    if cfg.eval.split != "none" and trainer.is_global_zero:
        summary["exact_match"] = evaluate_heldout(system, dm, cfg, run_dir / f"predictions_{cfg.eval.split}.jsonl")
    return summary

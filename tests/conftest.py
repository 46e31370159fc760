"""Shared fixtures: a tiny CodeFusion config that trains in seconds on the synthetic CF data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("CODEFUSION_PROGRESS", "0")  # no progress bars in test logs

# Every size as small as it gets while keeping each component real.
TINY = [
    "data.source=synthetic_cf", "data.language=cf", "data.synthetic_train=64", "data.synthetic_valid=16",
    "data.synthetic_test=16", "data.max_nl_len=32", "data.max_code_len=24",
    "tokenizer.train_vocab_size=300",
    "model.encoder_d_model=32", "model.encoder_layers=1", "model.encoder_heads=2", "model.encoder_d_ff=64",
    "model.encoder_d_kv=16", "model.d_model=32", "model.embed_dim=16", "model.denoiser_layers=2",
    "model.decoder_layers=1", "model.n_heads=2", "model.d_ff=64", "model.dropout=0.1",
    "diffusion.num_timesteps=100",
    "optim.warmup_steps=2", "optim.ema_decay=0.9",
    "train.max_steps=6", "train.global_batch_size=8", "train.per_device_batch_size=8",
    "train.val_every_n_steps=3", "train.limit_val_batches=1", "train.val_decode_examples=2",
    "train.val_sample_steps=5", "train.checkpoint_every_n_steps=3", "train.log_every_n_steps=1",
    "trainer.accelerator=cpu", "trainer.devices=1",
    "eval.sample_steps=5",
]


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    """Overrides for a tiny run writing into tmp_path (cache included)."""
    return TINY + [f"train.run_dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def run_generator(model, process, src, mask, max_code_len: int, eos_id: int, **kw):
    """Tests' shorthand: one `CodeFusionGenerator` call, keyword arguments split between its
    `SamplingOptions` and the call's noise arguments (noise_keys, seed, candidates, generator)."""
    import dataclasses

    from codefusion.generation.codefusion import CodeFusionGenerator, SamplingOptions

    call = {k: kw.pop(k) for k in ("noise_keys", "seed", "candidates", "generator") if k in kw}
    fields = {f.name for f in dataclasses.fields(SamplingOptions)}
    unknown = set(kw) - fields
    assert not unknown, unknown
    return CodeFusionGenerator(model, process, max_code_len, eos_id)(src, mask, SamplingOptions(**kw), **call)


def load_codefusion_ckpt(path):
    """(config, model, process, tokenizer) of a CodeFusion checkpoint, through the real loaders."""
    from codefusion.generation.codefusion import load_codefusion
    from codefusion.pretrained import load_model_files

    files = load_model_files(str(path))
    cfg, generator = load_codefusion(files, str(path))
    return cfg, generator.model, generator.process, files.tokenizer


def load_baseline_ckpt(path, weights: str = "ema"):
    """(config, model, tokenizer) of a baseline checkpoint, through the real loaders."""
    from codefusion.baselines.generation import load_baseline
    from codefusion.pretrained import load_model_files

    files = load_model_files(str(path), weights)
    cfg, model = load_baseline(files, str(path))
    return cfg, model, files.tokenizer

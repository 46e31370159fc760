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

"""Shared fixtures: the benchmark files and a tiny local RoBERTa for the model-based metrics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/evaluation/conftest.py -> the repository root is parents[2]; the data sits beside it.
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BENCHMARKS = DATA / "codefusion-benchmarks"
TOKENIZER = DATA / "codet5-tokenizer"
FILES = {"python": "PythonBenchmarks.json", "bash": "BashBenchmarks.json",
         "cf": "CFRuleBenchmarks.json"}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """`../shared/data` beside the repository (skips when absent)."""
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def benchmark_data() -> Callable[[str], dict[str, list[dict[str, Any]]]]:
    """`benchmark_data("bash")` -> {"train": [...], "test": [...]}; skips when the data is absent."""
    cache: dict[str, dict] = {}

    def load(language: str) -> dict[str, list[dict[str, Any]]]:
        path = BENCHMARKS / FILES[language]
        if not path.is_file():
            pytest.skip(f"benchmark data not found at {path}")
        if language not in cache:
            cache[language] = json.loads(path.read_text(encoding="utf-8"))
        return cache[language]

    return load


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide RoBERTa with the CodeT5 BPE tokenizer, saved with save_pretrained."""
    if not (TOKENIZER / "vocab.json").is_file():
        pytest.skip(f"CodeT5 tokenizer files not found in {TOKENIZER}")
    import torch
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    torch.manual_seed(0)
    tokenizer = RobertaTokenizer(str(TOKENIZER / "vocab.json"), str(TOKENIZER / "merges.txt"),
                                 model_max_length=512)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=520, pad_token_id=tokenizer.pad_token_id)
    out = tmp_path_factory.mktemp("tiny-roberta")
    RobertaModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A machine without network and with an empty Hugging Face cache."""
    from huggingface_hub import constants

    from codefusion.evaluation import codebert

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    codebert._hub_reachable.cache_clear()
    yield
    codebert._hub_reachable.cache_clear()

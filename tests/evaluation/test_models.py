"""CodeBERTScore and diversity with a tiny local model; the offline path never invents a score."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from codefusion.evaluation import codebertscore, diversity
from codefusion.evaluation.codebert import ModelUnavailable, load_encoder
from codefusion.evaluation.diversity import CachedEncoder, levenshtein, normalized_edit_distance


def test_codebertscore_identical_is_one_and_different_is_less(tiny_model_dir: Path) -> None:
    preds = ["x = sorted(a, key=len)", "print(a)", "os.remove(path)"]
    refs = ["x = sorted(a, key=len)", "import os", "os.remove(path)  "]
    out = codebertscore(preds, refs, "python", model=str(tiny_model_dir))
    assert set(out) >= {"precision", "recall", "f1", "f3"} and out["num_layers"] == 2
    assert all(len(out[k]) == 3 for k in ("precision", "recall", "f1", "f3"))
    assert out["f1"][0] == pytest.approx(1.0, abs=1e-5)
    assert out["f1"][2] == pytest.approx(1.0, abs=1e-5)  # surrounding spaces are stripped
    assert out["f1"][1] < 0.99
    assert all(0.0 <= v <= 1.0 for k in ("precision", "recall", "f1", "f3") for v in out[k])


def test_codebertscore_rejects_mismatched_lengths(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        codebertscore(["a", "b"], ["a"], "python", model=str(tiny_model_dir))


def test_unloadable_models_raise_model_unavailable(tmp_path: Path, offline: None) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        codebertscore(["a"], ["a"], "python")  # neulab/codebert-python, not cached here
    with pytest.raises(ModelUnavailable, match="not a directory"):
        codebertscore(["a"], ["a"], "bash", model=str(tmp_path / "missing"))
    with pytest.raises(ModelUnavailable):
        diversity(["a", "b"], encoder="microsoft/codebert-base")
    assert time.perf_counter() - start < 10  # no half-minute of download retries


def test_diversity_of_identical_candidates_is_minimal(tiny_model_dir: Path) -> None:
    same = ["df.sort_values('a')"] * 5
    out = diversity(same, encoder=str(tiny_model_dir))
    alone = diversity(same[:1], encoder=None)
    for n in (1, 2, 3, 4):  # the least possible with 5 candidates: a fifth of one alone
        assert out[f"distinct_{n}"] == pytest.approx(alone[f"distinct_{n}"] / 5)
    assert out["embedding_cosine_min"] == pytest.approx(1.0, abs=1e-5)
    assert out["edit_distance_max"] == 0.0 and out["edit_distance_mean"] == 0.0


def test_diversity_of_disjoint_candidates_is_maximal() -> None:
    disjoint = ["a b c d", "e f g h", "i j k l", "m n o p", "q r s t"]
    basis = torch.eye(5)  # an encoder giving orthogonal embeddings
    out = diversity(disjoint, encoder=lambda texts: basis[[disjoint.index(t) for t in texts]])
    assert all(out[f"distinct_{n}"] == 1.0 for n in (1, 2, 3, 4))
    assert out["edit_distance_min"] == 1.0 and out["edit_distance_mean"] == 1.0
    assert out["embedding_cosine_max"] == pytest.approx(0.0)


def test_diversity_with_a_hugging_face_tokenizer(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    out = diversity(["return x", "return y"], tokenizer=tokenizer, encoder=None)
    assert out["distinct_1"] == pytest.approx(3 / 4)  # "return" twice, " x", " y"
    assert out["embedding_cosine_mean"] is None


def test_diversity_edge_cases() -> None:
    assert diversity([], encoder=None)["edit_distance_mean"] is None
    one = diversity(["x"], encoder=None)
    assert one["distinct_1"] == 1.0 and one["edit_distance_mean"] is None
    assert diversity(["", ""], encoder=None)["distinct_1"] is None


def test_levenshtein_matches_the_textbook_recurrence() -> None:
    import random

    def reference(a: str, b: str) -> int:
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, y in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
        return row[-1]

    rng = random.Random(0)
    for _ in range(500):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 70)))
        assert levenshtein(a, b) == reference(a, b)
    assert normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalized_edit_distance("", "") == 0.0


def test_cached_encoder_embeds_each_string_once(tiny_model_dir: Path) -> None:
    calls: list[int] = []
    encoder = load_encoder(str(tiny_model_dir))

    def counting(texts: list[str]) -> torch.Tensor:
        calls.append(len(texts))
        return encoder(texts)
    cached = CachedEncoder(counting)
    cached.prime(["a", "b", "a"])
    vectors = cached(["b", "a", "b"])
    assert calls == [2] and vectors.shape == (3, 32)
    assert torch.allclose(vectors[0], encoder(["b"])[0], atol=1e-5)


def test_encoder_keeps_the_input_order(tiny_model_dir: Path) -> None:
    encoder = load_encoder(str(tiny_model_dir), batch_size=2)
    texts = ["a much longer piece of code = 1", "x", "def f(): pass", "y"]
    together = encoder(texts)
    alone = torch.cat([encoder([t]) for t in texts])
    assert together.shape == (4, 32)
    assert torch.allclose(together, alone, atol=1e-4)

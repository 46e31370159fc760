"""Diversity of a set of candidates (the paper's Table 2, computed over the top-5).

- `distinct_n` (n = 1..4): distinct n-grams / all n-grams, pooled over the candidates' token
  sequences (k identical candidates score 1/k of one candidate alone, the minimum; 1.0 when no
  n-gram repeats anywhere, the maximum);
- `embedding_cosine_{min,max,mean}`: pairwise cosine similarity of code embeddings (mean-pooled
  last layer of CodeBERT by default, or any encoder you pass); high similarity = low diversity;
- `edit_distance_{min,max,mean}`: pairwise token-level Levenshtein distance divided by the longer
  sequence's length, in [0, 1]; 0 for identical candidates, 1 for candidates of equal length
  with no token in common at the same place.

Tokens come from a small code lexer (identifiers, numbers, single punctuation characters) unless
`tokenizer` is given: a function `str -> list[str]` or a Hugging Face tokenizer (`.tokenize`).
Pairwise figures need two candidates and are None for fewer; a distinct-n with no n-gram at all
(every candidate shorter than n tokens) is None too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import torch

from codefusion.edit_distance import levenshtein, normalized_edit_distance  # noqa: F401 (re-exported)
from codefusion.evaluation.codebert import DEFAULT_ENCODER, Encoder, load_encoder

_LEXEME = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")
NGRAM_ORDERS = (1, 2, 3, 4)


def code_tokens(code: str) -> list[str]:
    """Identifiers, numbers and single non-space characters, in order."""
    return _LEXEME.findall(code)


def _tokenize(tokenizer: Any) -> Callable[[str], list[str]]:
    if tokenizer is None:
        return code_tokens
    if hasattr(tokenizer, "tokenize"):
        return tokenizer.tokenize
    if callable(tokenizer):
        return tokenizer
    raise TypeError("tokenizer must be a function str -> list[str] or have .tokenize()")


def distinct_n(sequences: Sequence[Sequence[str]], n: int) -> float | None:
    """Distinct n-grams over all n-grams of `sequences`; None if there is none."""
    grams = [tuple(seq[i:i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def _summary(values: list[float], prefix: str) -> dict[str, float | None]:
    if not values:
        return {f"{prefix}_min": None, f"{prefix}_max": None, f"{prefix}_mean": None}
    return {f"{prefix}_min": min(values), f"{prefix}_max": max(values),
            f"{prefix}_mean": sum(values) / len(values)}


def embedding_cosines(candidates: Sequence[str], encoder: Encoder) -> list[float]:
    """Pairwise cosine similarities of the candidates' embeddings (i < j)."""
    if len(candidates) < 2:
        return []
    vectors = torch.nn.functional.normalize(encoder(list(candidates)).float(), dim=-1)  # (N, D)
    sims = vectors @ vectors.T  # (N, N)
    return [float(sims[i, j].clamp(-1.0, 1.0)) for i, j in combinations(range(len(vectors)), 2)]


def diversity(candidates: Sequence[str], tokenizer: Any = None,
              encoder: str | Encoder | None = DEFAULT_ENCODER) -> dict[str, float | None]:
    """Diversity figures of `candidates` (see the module docstring for each key).

    `encoder` is a hub name or local directory (loaded with `load_encoder`), a function
    `list[str] -> (N, D) tensor`, or None to skip the embedding figures (they are then None).
    Raises `codebert.ModelUnavailable` when a named encoder cannot be loaded.
    """
    candidates = [c if isinstance(c, str) else "" for c in candidates]
    tokenize = _tokenize(tokenizer)
    sequences = [list(tokenize(c)) for c in candidates]
    result: dict[str, float | None] = {
        f"distinct_{n}": distinct_n(sequences, n) for n in NGRAM_ORDERS}
    if isinstance(encoder, str):
        encoder = load_encoder(encoder)
    cosines = embedding_cosines(candidates, encoder) if encoder is not None else []
    result.update(_summary(cosines, "embedding_cosine"))
    distances = [normalized_edit_distance(a, b) for a, b in combinations(sequences, 2)]
    result.update(_summary(distances, "edit_distance"))
    return result


class CachedEncoder:
    """Wraps an encoder so that each distinct string is embedded once; `prime` embeds a whole
    corpus in large batches before the per-input calls of `diversity` read from the cache."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.cache: dict[str, torch.Tensor] = {}

    def prime(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vector in zip(missing, self.encoder(missing)):
                self.cache[text] = vector

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        self.prime(texts)
        return torch.stack([self.cache[t] for t in texts])

"""Edit distance between two sequences: characters of two programs, or their tokens.

Used for denoising trajectories (how far each step's x̂0 decodes from the reference, the paper's
Figure 2), minimum-Bayes-risk ranking in sample.py, and the diversity metrics of
`codefusion.evaluation.diversity`. Pure Python and dependency-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def levenshtein(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Edit distance between two sequences (insert, delete, substitute: cost 1 each).

    Bit-parallel (Myers 1999 / Hyyro 2001): one pass over `b` with `len(a)`-bit integers, so
    scoring thousands of candidate pairs stays fast in pure Python.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    masks: dict[Any, int] = {}
    for i, item in enumerate(a):
        masks[item] = masks.get(item, 0) | (1 << i)
    full = (1 << len(a)) - 1
    top = 1 << (len(a) - 1)
    positive, negative, distance = full, 0, len(a)
    for item in b:
        eq = masks.get(item, 0)
        x = eq | negative
        d0 = ((((x & positive) + positive) & full) ^ positive) | x
        hp = negative | (~(d0 | positive) & full)
        hn = positive & d0
        if hp & top:
            distance += 1
        elif hn & top:
            distance -= 1
        hp = ((hp << 1) | 1) & full
        hn = (hn << 1) & full
        positive = hn | (~(d0 | hp) & full)
        negative = hp & d0
    return distance


def normalized_edit_distance(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Levenshtein distance over the longer length, in [0, 1]; 0.0 for two empty sequences."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0

"""Top-k aggregation of per-candidate scores.

The paper's top-k is an *oracle*: the best score among the first k candidates, as if a perfect
judge picked among them (Table 1 reports k = 1, 3, 5). Its top-1 is reference-free: the first
candidate as ranked by the sampler. An input with fewer than k candidates is scored on the ones it
has; an input with none scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

TOP_KS = (1, 3, 5)


def oracle_top_k(scores: Sequence[float], k: int) -> float:
    """Best of the first `k` scores (candidates ranked best first); 0.0 for no candidate."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    head = [float(s) for s in scores[:k]]
    return max(head) if head else 0.0


def top_1(scores: Sequence[float]) -> float:
    """The score of the first-ranked candidate (what a user of the model gets); 0.0 if none."""
    return float(scores[0]) if len(scores) else 0.0


def mean_top_k(per_input: Sequence[Sequence[float]],
               ks: Sequence[int] = TOP_KS) -> dict[int, float]:
    """Mean over inputs of `oracle_top_k` for each k, in the scores' own unit (0..1)."""
    if not per_input:
        return {k: 0.0 for k in ks}
    return {k: sum(oracle_top_k(s, k) for s in per_input) / len(per_input) for k in ks}

"""Top-k aggregation."""

from __future__ import annotations

import pytest

from codefusion.evaluation import mean_top_k, oracle_top_k, top_1


def test_oracle_top_k_is_the_best_of_the_first_k() -> None:
    scores = [0.2, 0.9, 0.1, 1.0, 0.3]
    assert [oracle_top_k(scores, k) for k in (1, 3, 5)] == [0.2, 0.9, 1.0]
    assert oracle_top_k(scores[:2], 5) == 0.9  # fewer than k: the ones there are
    assert oracle_top_k([], 3) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        oracle_top_k(scores, 0)


def test_top_1_is_the_first_ranked_candidate() -> None:
    assert top_1([0.2, 0.9]) == 0.2 and top_1([]) == 0.0


def test_mean_top_k_over_inputs() -> None:
    per_input = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0], []]
    assert mean_top_k(per_input) == {1: 0.25, 3: 0.5, 5: 0.75}
    assert mean_top_k([], ks=(1, 2)) == {1: 0.0, 2: 0.0}

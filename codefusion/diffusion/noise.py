"""Per-row noise streams: what a row draws depends only on its key, never on its batch.

Sampling draws Gaussian noise for x_T, at every ancestral step and (unconditional generation)
for E_s. With one `torch.Generator` for the whole batch, a candidate's noise depends on which
other rows share the batch, so the same (input, candidate) gives different code at another batch
size or on another number of devices. `RowNoise` gives every row its own generator, seeded from
(seed, key): the same key draws the same numbers in any batch, so batched candidates equal
candidates generated one at a time, and sharding inputs over devices changes nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch

MASK64 = (1 << 64) - 1


def stable_seed(*parts: int) -> int:
    """A 63-bit seed from integers, the same in every process (unlike Python's `hash`)."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (int(part) & MASK64)) * 0xBF58476D1CE4E5B9 & MASK64  # splitmix64-style mixing
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & MASK64
        h ^= h >> 29
    return h >> 1


class RowNoise:
    """One generator per row of the batch, keyed by tuples of integers (e.g. (input, candidate)).

    Args:
        keys: one key per row, e.g. [(input_index, candidate), ...].
        seed: the run's seed; part of every row's seed.
        device: where the generators (and the noise) live.
    """

    def __init__(self, keys: Sequence[tuple[int, ...]], seed: int, device: Union[str, torch.device] = "cpu") -> None:
        self.keys = list(keys)
        self.generators = [torch.Generator(device=device).manual_seed(stable_seed(seed, *key)) for key in self.keys]

    def __len__(self) -> int:
        return len(self.generators)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float32,
              device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """(R, *rest) standard normal noise; row r drawn from row r's generator only."""
        if shape[0] != len(self.generators):
            raise ValueError(f"noise for {shape[0]} rows requested from {len(self.generators)} row generators")
        return torch.stack([torch.randn(tuple(shape[1:]), generator=g, dtype=dtype, device=device)
                            for g in self.generators])


Noise = Union[torch.Generator, RowNoise, None]
"""Where a sampler's randomness comes from: one generator for the batch, one per row, or the global RNG."""


def randn(shape: Sequence[int], noise: Noise, dtype: torch.dtype = torch.float32,
          device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Standard normal noise of `shape` from `noise` (see `Noise`)."""
    if isinstance(noise, RowNoise):
        return noise.randn(shape, dtype=dtype, device=device)
    return torch.randn(tuple(shape), generator=noise, dtype=dtype, device=device)


__all__ = ["Noise", "RowNoise", "randn", "stable_seed"]

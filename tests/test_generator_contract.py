"""The `Generator` contract, run over every registered system (the shared-test idea of diffusers'
schedulers, one level up): each tiny checkpoint is trained by train.py, loaded by
`codefusion.systems.load_generator`, and called on real encoded utterances."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import TINY

import train
from codefusion.data.examples import encode_utterances
from codefusion.generation.contract import Generation, Generator
from codefusion.generation.options import GenerateOptions
from codefusion.systems import SYSTEMS, load_generator

BASELINE = ["baseline.d_model=32", "baseline.layers=1", "baseline.heads=2", "baseline.d_ff=64", "baseline.d_kv=16",
            "baseline.num_beams=3", "baseline.num_candidates=3"]
TEXTS = ["highlight cells greater than 4", "color blank cells in column B", "format cells containing apple"]
K = 3


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract")
    out = {}
    for system in SYSTEMS:
        extra = [] if system == "codefusion" else [*BASELINE, f"system={system}"]
        run = root / system
        assert train.main(["configs/quickstart.yaml", *TINY, f"train.run_dir={run}", f"data.cache_dir={root / 'cache'}",
                           "train.max_steps=3", "eval.split=none", *extra]) == 0
        out[system] = run / "checkpoints" / "last.ckpt"
    return out


def options(system: str, seed: int = 0) -> GenerateOptions:
    return GenerateOptions(num_candidates=K, seed=seed, **({"steps": 6} if system == "codefusion" else {}))


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_generator_contract(system: str, checkpoints: dict[str, Path]) -> None:
    generator = load_generator(str(checkpoints[system]), options(system))
    assert isinstance(generator, Generator) and generator.num_candidates == K and generator.label
    assert generator.meta["language"] == "cf"
    src, mask = encode_utterances(generator.tokenizer, TEXTS, generator.max_nl_len)
    gen = generator(src, mask, [0, 1, 2])
    assert isinstance(gen, Generation)
    assert gen.tokens.shape[:2] == (3, K) and gen.score.shape == (3, K)
    assert gen.tokens.dtype == torch.long and torch.isfinite(gen.score).all()
    assert (gen.score[:, :-1] >= gen.score[:, 1:]).all()  # best first
    # Same seed, same output; the output of an input does not depend on its batch.
    again = load_generator(str(checkpoints[system]), options(system))(src, mask, [0, 1, 2])
    assert torch.equal(gen.tokens, again.tokens) and torch.equal(gen.score, again.score)
    for i in range(3):
        n = int(mask[i].sum())
        alone = generator(src[i:i + 1, :n], mask[i:i + 1, :n], [i])
        assert torch.equal(alone.tokens[0], gen.tokens[i])
        torch.testing.assert_close(alone.score[0], gen.score[i], atol=1e-5, rtol=1e-5)


def test_codefusion_seed_changes_the_noise(checkpoints: dict[str, Path]) -> None:
    path = str(checkpoints["codefusion"])
    a, b = (load_generator(path, options("codefusion", seed)) for seed in (0, 1))
    src, mask = encode_utterances(a.tokenizer, TEXTS, a.max_nl_len)
    assert not torch.equal(a(src, mask, [0, 1, 2]).score, b(src, mask, [0, 1, 2]).score)
    # The input index keys the noise too: the same utterance under another index is another draw.
    assert not torch.equal(a(src[:1], mask[:1], [0]).score, a(src[:1], mask[:1], [7]).score)


def test_options_of_another_system_are_refused(checkpoints: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="sampler: not options of .*which is an autoregressive baseline"):
        load_generator(str(checkpoints["seq2seq"]), GenerateOptions(sampler="ddim"))
    cf = GenerateOptions()
    cf.baseline.num_beams = 4
    with pytest.raises(ValueError, match="baseline.num_beams: not options of .*which is CodeFusion"):
        load_generator(str(checkpoints["codefusion"]), cf)

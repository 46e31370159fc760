"""Pre-training tasks: the collator's task/mask draws, noise conditioning resampled at every
denoising step, a tiny pre-training run with a frozen encoder, then init_from fine-tuning."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY
from conftest import run_generator as generate
from transformers import AutoTokenizer

import train
from codefusion.config import PretrainConfig, load_config, to_dict
from codefusion.data.datamodule import (
    CodeFusionDataModule,
    EpochShuffleSampler,
    MixSampler,
    PretrainCollator,
    mix_count,
)
from codefusion.data.tokenizer import train_bpe_tokenizer
from codefusion.training.system import CodeFusionSystem

RULES = [f"GreaterThan({i})" for i in range(40)] + [f"AND(TextContains(w{i}),NOT(Blanks()))" for i in range(40)]


def test_collator_draws_tasks_and_masks_per_epoch() -> None:
    tok = train_bpe_tokenizer(RULES, vocab_size=300)
    sampler = EpochShuffleSampler(len(RULES), 0)
    collate = PretrainCollator(tok, "cf", 64, PretrainConfig(p_generation=0.5, mask_ratio=1.0), seed=0, sampler=sampler)
    codes = [tok(r, add_special_tokens=False).input_ids + [tok.eos_token_id] for r in RULES]
    ex = lambda: [{"id": str(i), "code": r, "code_ids": c + [0] * (40 - len(c))} for i, (r, c) in enumerate(zip(RULES, codes))]
    b0 = collate(ex())
    assert 0.3 < b0["uncond"].float().mean().item() < 0.7
    for i in range(len(RULES)):
        src = tok.decode(b0["src_ids"][i][b0["src_mask"][i]].tolist(), skip_special_tokens=False).replace("</s>", "")
        if b0["uncond"][i]:
            assert src == RULES[i]  # only its shape is used: E_s becomes noise
        else:  # ratio 1: every function name and literal masked, the punctuation kept
            assert "<mask>" in src and src.replace("<mask>", "") == "".join(ch for ch in RULES[i] if ch in "(),")
    assert torch.equal(collate(ex())["uncond"], b0["uncond"])  # same epoch, same draws
    sampler.set_epoch(1)
    assert not torch.equal(collate(ex())["uncond"], b0["uncond"])  # a new epoch draws anew


def test_unconditional_noise_is_resampled_at_every_step() -> None:
    cfg = load_config([], TINY)
    system = CodeFusionSystem(to_dict(cfg), vocab_size=300).eval()
    seen: list[torch.Tensor] = []
    forward = system.model.denoiser.forward

    def spy(x_t, t, e_s, src_mask, kv=None):  # noqa: ANN001
        seen.append(e_s.clone())
        return forward(x_t, t, e_s, src_mask, kv=kv)

    system.model.denoiser.forward = spy  # type: ignore[method-assign]
    src = torch.full((2, 5), 2)
    for unconditional in (True, False):
        seen.clear()
        generate(system.model, system.process, src, src > 0, 24, 2, steps=6, unconditional=unconditional,
                 generator=torch.Generator().manual_seed(0))
        assert len(seen) == 6 and seen[0].shape == (2, 5, cfg.model.encoder_d_model)
        distinct = len({s.sum().item() for s in seen})
        assert distinct == (6 if unconditional else 1)


def test_pretrain_then_fine_tune(tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "data" / "pretrain"
    corpus.mkdir(parents=True)
    (corpus / "cf.jsonl").write_text("".join(json.dumps({"code": r}) + "\n" for r in RULES))
    pre = tmp_path / "pre"
    assert train.main(["configs/quickstart.yaml", *tiny, "data.source=pretrain", f"data.data_dir={tmp_path / 'data'}",
                       "train.freeze=[encoder]", f"train.run_dir={pre}", "eval.split=none", "pretrain.valid_size=8"]) == 0
    out = capsys.readouterr().out
    assert "data train: 80 rows, 72 kept" in out and "data valid: 80 rows, 8 kept" in out
    ckpt = torch.load(pre / "checkpoints" / "last.ckpt", weights_only=True)
    # The frozen encoder has no optimizer state; everything else trained.
    n_trainable = sum(1 for k in ckpt["state_dict"] if not k.startswith("model.encoder.")) - 1  # head = embedding
    assert len(ckpt["optimizer_states"][0]["state"]) == n_trainable
    code = train.main(["configs/quickstart.yaml", *tiny, f"train.init_from={pre / 'checkpoints' / 'last.ckpt'}",
                       f"train.run_dir={tmp_path / 'fine'}", "train.max_steps=2"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"tokenizer: from {pre / 'checkpoints' / 'last.ckpt'}" in out  # the vocabulary comes with the weights
    line = next(row for row in out.splitlines() if row.startswith("init_from"))
    assert "missing 0; unexpected 0; shape_mismatch 0" in line


# ---- pretrain.mix: the pre-training tasks kept in fine-tuning (rehearsal) ----------------------


def test_mix_sampler_draws_fresh_corpus_rows_every_epoch() -> None:
    s = MixSampler(n_pairs=10, n_corpus=25, mix=0.5, seed=1)
    assert s.n_extra == 10 and len(s) == 20
    drawn = []
    for epoch in range(5):  # 5 epochs x 10 rows = two passes over the 25 corpus rows
        s.set_epoch(epoch)
        order = list(s)
        assert sorted(i for i in order if i < 10) == list(range(10))  # every pair once per epoch
        extra = [i - 10 for i in order if i >= 10]
        assert len(extra) == 10 and all(0 <= i < 25 for i in extra)
        assert order == list(s)  # a pure function of (seed, epoch)
        drawn.append(extra)
    # Epochs take consecutive slices of one seeded permutation per pass (epoch 2 straddles two):
    # epochs 0 and 1 draw 20 different rows, and two passes draw every row exactly twice.
    assert len(set(drawn[0]) | set(drawn[1])) == 20
    assert sorted(sum(drawn, [])) == sorted(list(range(25)) * 2)
    shards = [list(MixSampler(10, 25, 0.5, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 10 and not set(shards[0]) & set(shards[1])
    assert mix_count(676, 0.25) == 225 and mix_count(10, 0.0) == 0


def _pairs_and_corpus(root: Path) -> Path:
    """A tiny CF benchmark (jsonl pairs) and its code-only corpus under root/data."""
    data = root / "data"
    (data / "cf").mkdir(parents=True)
    (data / "pretrain").mkdir()
    for split, ids in (("train", range(0, 32)), ("valid", range(32, 40)), ("test", range(40, 48))):
        rows = [{"id": str(i), "nl": f"highlight cells above {i}", "code": f"GreaterThan({i})"} for i in ids]
        (data / "cf" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "pretrain" / "cf.jsonl").write_text("".join(json.dumps({"code": r}) + "\n" for r in RULES))
    return data


def test_mixed_batches_keep_the_pairs_and_give_corpus_rows_a_task(tmp_path: Path) -> None:
    data = _pairs_and_corpus(tmp_path)
    cfg = load_config([], TINY + ["data.source=jsonl", f"data.data_dir={data}", "pretrain.mix=0.5",
                                  f"data.cache_dir={tmp_path / 'cache'}"])
    tok = train_bpe_tokenizer(RULES + [f"highlight cells above {i}" for i in range(48)], vocab_size=300)
    dm = CodeFusionDataModule(cfg.data, tok, batch_size=64, seed=0, pretrain=cfg.pretrain)
    dm.setup()
    assert "rehearsal: 80 rows, 80 kept" in " ".join(dm.report_lines())
    batch = next(iter(dm.train_dataloader()))  # one epoch: the 32 pairs and 32 corpus rules
    pairs = batch["src_ids"][:, 0] == tok("highlight", add_special_tokens=False).input_ids[0]
    assert pairs.sum() == 32 and not batch["uncond"][pairs].any()  # the pairs keep their utterance
    assert 4 < batch["uncond"][~pairs].sum() < 28  # corpus rows: generation or CPD, at random
    codes = {tok.decode(c[m].tolist(), skip_special_tokens=True) for c, m in zip(batch["code_ids"][~pairs], batch["code_mask"][~pairs])}
    assert len(codes) == 32 and codes <= set(RULES)


def test_fine_tune_with_mix_resumes_exactly(tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _pairs_and_corpus(tmp_path)
    # 32 pairs + 32 corpus rows / batch 8 = 8 batches an epoch: step 5 is mid-epoch, 11 is in the second epoch.
    common = [*tiny, "data.source=jsonl", f"data.data_dir={data}", "pretrain.mix=0.5", "optim.decay=constant",
              "train.checkpoint_every_n_steps=100", "eval.split=none"]
    assert train.main(["configs/quickstart.yaml", *common, "train.max_steps=11", f"train.run_dir={tmp_path / 'a'}"]) == 0
    assert "data rehearsal: 80 rows, 80 kept" in capsys.readouterr().out
    # The BPE the run trains has seen the corpus: a function name only the corpus uses is one token.
    tok = AutoTokenizer.from_pretrained(tmp_path / "a" / "tokenizer")
    assert len(tok("TextContains", add_special_tokens=False).input_ids) == 1
    assert train.main(["configs/quickstart.yaml", *common, "train.max_steps=5", f"train.run_dir={tmp_path / 'b'}"]) == 0
    last = tmp_path / "b" / "checkpoints" / "last.ckpt"
    assert train.main(["configs/quickstart.yaml", *common, "train.max_steps=11", f"train.run_dir={tmp_path / 'b'}",
                       f"train.ckpt_path={last}"]) == 0
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(last, weights_only=True)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # Without the corpus: one line naming the file, before any training.
    (data / "pretrain" / "cf.jsonl").unlink()
    capsys.readouterr()
    assert train.main(["configs/quickstart.yaml", *common, f"train.run_dir={tmp_path / 'c'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{data / 'pretrain' / 'cf.jsonl'}, which is missing" in err[0] and "pretrain.mix=0" in err[0]

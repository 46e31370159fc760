"""Pre-training tasks: the collator's task/mask draws, noise conditioning resampled at every
denoising step, a tiny pre-training run with a frozen encoder, then init_from fine-tuning."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY
from conftest import run_generator as generate

import train
from codefusion.config import PretrainConfig, load_config, to_dict
from codefusion.data.datamodule import EpochShuffleSampler, PretrainCollator
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

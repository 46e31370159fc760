"""Tokenization to fixed-length targets, truncation accounting, the cache, the sampler, and how
target padding enters the loss."""
from __future__ import annotations

from pathlib import Path

import torch
from conftest import TINY

from codefusion.config import load_config, to_dict
from codefusion.data.datamodule import EpochShuffleSampler, collate
from codefusion.data.examples import SplitReport, tokenize_split
from codefusion.data.tokenizer import train_bpe_tokenizer
from codefusion.training.system import CodeFusionSystem

ROWS = [{"id": str(i), "nl": f"highlight values greater than {i}", "code": f"GreaterThan({i})"} for i in range(20)]
ROWS.append({"id": "long", "nl": "mark " * 40, "code": "AND(" * 12 + "Blanks()" + ")" * 12})
TOK = train_bpe_tokenizer([r["nl"] for r in ROWS] + [r["code"] for r in ROWS], vocab_size=300)


def test_fixed_length_targets_and_truncation_counted(tmp_path: Path) -> None:
    report = SplitReport("train")
    ds = tokenize_split(ROWS, TOK, max_nl_len=12, max_code_len=10, overflow="truncate", report=report,
                        cache_dir=str(tmp_path))
    assert (report.nl_truncated, report.code_truncated, report.kept) == (1, 1, 21)
    first = ds[0]
    assert len(first["code_ids"]) == 10 and first["code_ids"][-1] == TOK.pad_token_id
    code = first["code_ids"][: first["code_ids"].index(TOK.eos_token_id)]
    assert TOK.decode(code) == "GreaterThan(0)"
    assert first["src_ids"][-1] == TOK.eos_token_id
    assert all(len(s) <= 12 for s in ds["src_ids"])
    assert "too long: nl 1, code 1 (truncated)" in report.line()
    # The same rows, tokenizer and lengths load the cached Arrow file.
    again = tokenize_split(ROWS, TOK, 12, 10, "truncate", SplitReport("train"), str(tmp_path))
    assert again.cache_files and again.cache_files[0]["filename"] == ds.cache_files[0]["filename"]


def test_skip_mode_drops_and_counts(tmp_path: Path) -> None:
    report = SplitReport("train")
    ds = tokenize_split(ROWS, TOK, 12, 10, "skip", report, str(tmp_path))
    assert report.skipped_too_long == 1 and len(ds) == 20 == report.kept


def test_sampler_shards_are_disjoint_and_deterministic() -> None:
    shards = [list(EpochShuffleSampler(20, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 10 and not set(shards[0]) & set(shards[1])
    s = EpochShuffleSampler(20, seed=3)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0 and sorted(list(s)) == list(range(20))
    s.set_epoch(0)
    assert list(s) == e0
    s.skip = 5
    assert list(s) == e0[5:] and list(s) == e0  # the skip applies once


def test_collate_masks() -> None:
    ex = [{"src_ids": [5, 6, 2], "code_ids": [7, 2, 0, 0]}, {"src_ids": [5, 2], "code_ids": [7, 8, 9, 2]}]
    b = collate(ex, pad_id=0, eos_id=2)
    assert b["src_mask"].tolist() == [[True, True, True], [True, True, False]]
    assert b["code_mask"].tolist() == [[True, True, False, False], [True, True, True, True]]


def test_target_padding_modes() -> None:
    torch.manual_seed(0)
    batch = collate([{"src_ids": [5, 6, 2], "code_ids": [7, 2] + [0] * 22}] * 2, 0, 2)
    losses = {}
    for mode in ("include", "exclude"):
        cfg = load_config([], TINY + [f"loss.target_padding={mode}", "model.dropout=0.0"])
        torch.manual_seed(0)
        system = CodeFusionSystem(to_dict(cfg), vocab_size=300)
        with torch.no_grad():
            terms = system.loss_terms(batch, torch.Generator().manual_seed(1))
        losses[mode] = terms
    # Same weights and draws: "exclude" averages over 2 positions (code + </s>), "include" over 24.
    assert not torch.allclose(losses["include"]["diffusion"], losses["exclude"]["diffusion"])
    torch.testing.assert_close(losses["include"]["token_acc"], losses["exclude"]["token_acc"])


def test_isolate_spaces_makes_a_copied_word_one_token(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from codefusion.data.tokenizer import tokenizer_from_json, tokenizer_to_json

    rows = [("mark cells that start with Orange and exceed 29.25", "AND(TextStartsWith(Orange),GreaterThan(29.25))"),
            ("def f(x):\n    return  x + 1", "def f(x):\n    return  x + 1")] * 20
    texts = [t for pair in rows for t in pair]
    glued = train_bpe_tokenizer(texts, vocab_size=400)
    isolated = train_bpe_tokenizer(texts, vocab_size=400, isolate_spaces=True)
    nl, code = rows[0]

    def words(tok, text):
        return set(tok.tokenize(text))

    # GPT-2's rule (the default): "ĠOrange" in the utterance, "Orange" in the code.
    assert "ĠOrange" in words(glued, nl) and "Orange" not in words(glued, nl)
    # Isolated spaces: the same token in both, and the spaces are tokens of their own.
    assert {"Orange", "29"} <= words(isolated, nl) & words(isolated, code)
    assert "Ġ" in words(isolated, nl)
    for tok in (glued, isolated):   # decoding gives back every text exactly, indentation included
        for text in texts[:4]:
            assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    # The rule travels with the tokenizer: in the checkpoint's JSON and in a saved directory.
    assert tokenizer_from_json(tokenizer_to_json(isolated)).tokenize(nl) == isolated.tokenize(nl)
    isolated.save_pretrained(tmp_path / "tok")
    assert AutoTokenizer.from_pretrained(tmp_path / "tok").tokenize(nl) == isolated.tokenize(nl)

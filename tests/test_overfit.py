"""A tiny CodeFusion overfits a handful of examples: after training, sampling from pure noise
(DDPM, respaced) reproduces every training program exactly."""
from __future__ import annotations

import pytest
import torch
from conftest import TINY
from conftest import run_generator as generate

from codefusion.config import load_config, to_dict
from codefusion.data.datamodule import collate
from codefusion.data.tokenizer import train_bpe_tokenizer
from codefusion.generation import decode_code
from codefusion.training.system import CodeFusionSystem

PAIRS = [
    ("highlight values greater than 42", "GreaterThan(42)"),
    ("color cells that contain Error", "TextContains(Error)"),
    ("mark the top 3 values", "top(3)"),
    ("format blank cells", "Blanks()"),
]


@pytest.mark.parametrize("parameterization", ["eps", "x0"])
def test_tiny_model_overfits_a_handful(parameterization: str) -> None:
    torch.manual_seed(0)
    tok = train_bpe_tokenizer([t for p in PAIRS for t in p] * 5, vocab_size=300)
    cfg = load_config([], TINY + ["model.dropout=0.0", f"diffusion.parameterization={parameterization}"])
    system = CodeFusionSystem(to_dict(cfg), vocab_size=len(tok))
    n = cfg.data.max_code_len
    examples = []
    for nl, code in PAIRS:
        c = tok(code, add_special_tokens=False).input_ids + [tok.eos_token_id]
        examples.append({"src_ids": tok(nl, add_special_tokens=False).input_ids + [tok.eos_token_id],
                         "code_ids": c + [tok.pad_token_id] * (n - len(c))})
    batch = collate(examples, tok.pad_token_id, tok.eos_token_id)
    opt = torch.optim.AdamW(system.parameters(), lr=3e-3)
    system.train()
    for _ in range(400):
        loss = system.total(system.loss_terms(batch)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    system.eval()
    out = generate(system.model, system.process, batch["src_ids"], batch["src_mask"], n, tok.eos_token_id,
                   steps=20, generator=torch.Generator().manual_seed(0))
    generated = [decode_code(tok, out.tokens[i, 0].tolist()) for i in range(len(PAIRS))]
    assert generated == [code for _, code in PAIRS]

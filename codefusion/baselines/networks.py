"""The autoregressive baselines' networks (Hugging Face models) and the causal LM's input layout.

Plain typed arguments, no run config: `codefusion.factory.build_baseline` translates the config.
Both take the project tokenizer's vocabulary and special ids, so the data module's batches
(`src_ids`, `code_ids` ending in </s> then <pad>) feed them unchanged.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch import Tensor
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, T5Config, T5ForConditionalGeneration

from codefusion.hub import looks_like_hub_id
from codefusion.networks.encoder import EncoderError


def _from_pretrained(cls: type, name_or_path: str, vocab_size: int) -> PreTrainedModel:
    """`cls.from_pretrained` with one-line errors; the embedding resized to `vocab_size`."""
    if not os.path.exists(name_or_path) and not looks_like_hub_id(name_or_path):
        raise EncoderError(f"baseline model path not found: {name_or_path}")
    try:
        model = cls.from_pretrained(name_or_path)
    except Exception as e:  # offline hub, corrupt weights, unknown architecture ...
        raise EncoderError(f"cannot load baseline model '{name_or_path}': {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if model.get_input_embeddings().num_embeddings != vocab_size:
        model.resize_token_embeddings(vocab_size)
    return model


def build_seq2seq(vocab_size: int, pad_id: int, eos_id: int, name_or_path: Optional[str] = None,
                  d_model: int = 512, layers: int = 6, heads: int = 8, d_ff: int = 2048, d_kv: int = 64,
                  dropout: float = 0.1) -> T5ForConditionalGeneration:
    """T5 / CodeT5 from a hub name or local path, or a fresh one (codet5-small's sizes by default).
    The decoder starts from <pad>, as in T5."""
    if name_or_path:
        model = _from_pretrained(T5ForConditionalGeneration, name_or_path, vocab_size)
    else:
        config = T5Config(vocab_size=vocab_size, d_model=d_model, num_layers=layers, num_decoder_layers=layers,
                          num_heads=heads, d_ff=d_ff, d_kv=d_kv, dropout_rate=dropout, feed_forward_proj="relu")
        model = T5ForConditionalGeneration(config)
    return set_special_ids(model, pad_id, eos_id)


def build_causal_lm(vocab_size: int, pad_id: int, eos_id: int, max_positions: int,
                    name_or_path: Optional[str] = None, d_model: int = 512, layers: int = 12, heads: int = 8,
                    d_ff: int = 2048, dropout: float = 0.1) -> PreTrainedModel:
    """A decoder-only LM: any `AutoModelForCausalLM` checkpoint (CodeGen, GPT-2 ...) from
    `name_or_path`, or a fresh GPT-2 with `max_positions` learned positions (prompt + code)."""
    if name_or_path:
        from transformers import AutoModelForCausalLM

        model = _from_pretrained(AutoModelForCausalLM, name_or_path, vocab_size)
    else:
        config = GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_embd=d_model, n_layer=layers,
                            n_head=heads, n_inner=d_ff, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                            bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id)
        model = GPT2LMHeadModel(config)
    return set_special_ids(model, pad_id, eos_id)


def set_special_ids(model: PreTrainedModel, pad_id: int, eos_id: int) -> PreTrainedModel:
    """Our tokenizer's <pad> and </s> in the model's and its generation config (the decoder of
    an encoder-decoder starts from <pad>, as in T5)."""
    for cfg in (model.config, model.generation_config):
        cfg.pad_token_id, cfg.eos_token_id = pad_id, eos_id
        if model.config.is_encoder_decoder:
            cfg.decoder_start_token_id = pad_id
    return model


def model_from_config_json(arch: str, config_json: str, pad_id: int, eos_id: int) -> PreTrainedModel:
    """An untrained model of exactly the architecture a checkpoint was trained with (its
    `config.to_json_string()`), whether it was built fresh or loaded from the hub."""
    import json

    from transformers import AutoConfig, AutoModelForCausalLM

    data = json.loads(config_json)
    config = AutoConfig.for_model(data.pop("model_type"), **data)
    model = T5ForConditionalGeneration(config) if arch == "seq2seq" else AutoModelForCausalLM.from_config(config)
    return set_special_ids(model, pad_id, eos_id)


def left_pad(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Move each row's padding to the left, keeping token order: (B, S) ids and bool mask.
    The causal LM reads right-aligned prompts so that the code follows them without a gap."""
    order = torch.argsort(mask.int(), dim=1, stable=True)  # pads (0) first, tokens in order
    return ids.gather(1, order), mask.gather(1, order)


def causal_lm_batch(src_ids: Tensor, src_mask: Tensor, code_ids: Tensor, code_mask: Tensor) -> dict[str, Tensor]:
    """Training layout of the decoder-only baseline: [<pad>.. utterance </s>][code </s> <pad>..].

    src (B, S) right-padded, code (B, n) -> input_ids, attention_mask, position_ids (B, S + n),
    and `target_mask` (B, S + n), True where the token is predicted (code and its </s>): the
    prompt is read, never scored. Positions count real tokens only, as in generation."""
    src_ids, src_mask = left_pad(src_ids, src_mask)
    input_ids = torch.cat([src_ids, code_ids], dim=1)
    attention_mask = torch.cat([src_mask, code_mask], dim=1)
    position_ids = (attention_mask.long().cumsum(1) - 1).clamp_min(0)
    target_mask = torch.cat([torch.zeros_like(src_mask), code_mask], dim=1)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
            "target_mask": target_mask}


def count_parameters(model: torch.nn.Module) -> int:
    """Unique parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())

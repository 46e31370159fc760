"""The utterance encoder E: a (CodeT5) `T5EncoderModel`, pretrained or built from a config."""
from __future__ import annotations

import os
from typing import Optional

from transformers import T5Config, T5EncoderModel

from codefusion.errors import UserError
from codefusion.hub import looks_like_hub_id


class EncoderError(UserError):
    """An encoder that cannot be loaded, reported in one line."""


def build_encoder(vocab_size: int, name_or_path: Optional[str] = None, d_model: int = 512,
                  n_layers: int = 6, n_heads: int = 8, d_ff: int = 2048, d_kv: int = 64,
                  dropout: float = 0.1) -> T5EncoderModel:
    """Pretrained encoder from a hub name or local path (e.g. Salesforce/codet5-small), or a fresh
    codet5-small-sized one (the sizes are CodeT5-small's defaults) when `name_or_path` is None."""
    if name_or_path:
        if not os.path.exists(name_or_path) and not looks_like_hub_id(name_or_path):
            raise EncoderError(f"encoder path not found: {name_or_path}")
        try:
            encoder = T5EncoderModel.from_pretrained(name_or_path)
        except Exception as e:  # offline hub, corrupt weights ...
            raise EncoderError(f"cannot load encoder '{name_or_path}': {type(e).__name__}: {str(e).splitlines()[0]}") from None
        if encoder.get_input_embeddings().num_embeddings != vocab_size:
            encoder.resize_token_embeddings(vocab_size)
        return encoder
    config = T5Config(
        vocab_size=vocab_size, d_model=d_model, num_layers=n_layers, num_heads=n_heads,
        d_ff=d_ff, d_kv=d_kv, dropout_rate=dropout, feed_forward_proj="relu",
        pad_token_id=0, eos_token_id=2, decoder_start_token_id=0, is_encoder_decoder=False,
    )
    return T5EncoderModel(config)

"""Config -> constructor arguments. The only place that reads the run config to build things."""
from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedTokenizerBase

from codefusion.config import Config
from codefusion.diffusion import GaussianDiffusion
from codefusion.networks.codefusion import CodeFusion, Decoder, Denoiser
from codefusion.networks.encoder import build_encoder


def build_model(cfg: Config, vocab_size: int) -> CodeFusion:
    m = cfg.model
    encoder = build_encoder(
        vocab_size, m.encoder_name_or_path, d_model=m.encoder_d_model, n_layers=m.encoder_layers,
        n_heads=m.encoder_heads, d_ff=m.encoder_d_ff, d_kv=m.encoder_d_kv, dropout=m.dropout,
    )
    d_context = encoder.config.d_model
    sizes = dict(embed_dim=m.embed_dim, d_model=m.d_model, n_heads=m.n_heads, d_ff=m.d_ff,
                 d_context=d_context, max_len=cfg.data.max_code_len, dropout=m.dropout)
    return CodeFusion(
        encoder=encoder,
        denoiser=Denoiser(n_layers=m.denoiser_layers, **sizes),
        decoder=Decoder(n_layers=m.decoder_layers, **sizes),
        vocab_size=vocab_size, embed_dim=m.embed_dim, tie_head=m.tie_head,
    )


def build_process(cfg: Config) -> GaussianDiffusion:
    d = cfg.diffusion
    return GaussianDiffusion.from_schedule(d.schedule, d.num_timesteps, d.parameterization)


def build_tokenizer(cfg: Config, train_texts: list[str] | None = None) -> PreTrainedTokenizerBase:
    """The configured CodeT5 tokenizer, or a BPE trained on `train_texts` when none is named."""
    from codefusion.data.tokenizer import check_special_ids, load_codet5_tokenizer, train_bpe_tokenizer

    if cfg.tokenizer.name_or_path:
        tok = load_codet5_tokenizer(cfg.tokenizer.name_or_path)
    else:
        if not train_texts:
            raise ValueError("tokenizer.name_or_path is null and there is no training text to train a BPE on")
        tok = train_bpe_tokenizer(train_texts, cfg.tokenizer.train_vocab_size)
    check_special_ids(tok)
    return tok


def run_tokenizer_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "tokenizer"

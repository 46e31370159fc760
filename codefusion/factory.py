"""Config -> constructor arguments. The only place that reads the run config to build things."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from codefusion.config import Config
from codefusion.diffusion import GaussianDiffusion
from codefusion.diffusion.timesteps import UniformTimesteps
from codefusion.diffusion.timesteps import build_timestep_sampler as make_timestep_sampler
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
        denoiser=Denoiser(n_layers=m.denoiser_layers, self_condition=m.self_condition,
                          null_context=cfg.train.cond_dropout > 0, **sizes),
        decoder=Decoder(n_layers=m.decoder_layers, **sizes),
        vocab_size=vocab_size, embed_dim=m.embed_dim, tie_head=m.tie_head, embed_norm=m.embed_norm,
        context_positions=cfg.data.max_nl_len if m.context_positions else None,
    )


def build_baseline(cfg: Config, vocab_size: int, pad_id: int, eos_id: int) -> PreTrainedModel:
    """The autoregressive baseline `cfg.system` names (see codefusion/baselines/networks.py)."""
    from codefusion.baselines.networks import build_causal_lm, build_seq2seq

    b = cfg.baseline
    sizes = dict(name_or_path=b.name_or_path, d_model=b.d_model, layers=b.layers, heads=b.heads, d_ff=b.d_ff,
                 dropout=b.dropout)
    if cfg.system == "seq2seq":
        return build_seq2seq(vocab_size, pad_id, eos_id, d_kv=b.d_kv, **sizes)
    if cfg.system == "causal_lm":  # positions for the longest prompt and the longest code it may write
        code_len = max(cfg.data.max_code_len, b.max_new_tokens or 0)
        return build_causal_lm(vocab_size, pad_id, eos_id, cfg.data.max_nl_len + code_len, **sizes)
    raise ValueError(f"system={cfg.system} is not a baseline")


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """Load a checkpoint's weights into a freshly built model (CodeFusion or a baseline):
    CheckpointError naming `path` when a parameter is missing or does not fit. Extra entries
    (tied-weight aliases) are ignored."""
    from codefusion.checkpoint import CheckpointError

    missing = {n for n, _ in model.named_parameters()} - set(state)
    if missing:
        raise CheckpointError(f"{path}: {len(missing)} model weights missing, e.g. {sorted(missing)[0]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {str(e).strip().splitlines()[-1].strip()}") from None


def build_process(cfg: Config) -> GaussianDiffusion:
    d = cfg.diffusion
    return GaussianDiffusion.from_schedule(d.schedule, d.num_timesteps, d.parameterization)


def build_timestep_sampler(cfg: Config) -> UniformTimesteps:
    d = cfg.diffusion
    return make_timestep_sampler(d.t_sampling, d.num_timesteps, d.t_power)


def build_tokenizer(cfg: Config, train_texts: list[str] | None = None) -> PreTrainedTokenizerBase:
    """The configured CodeT5 tokenizer, or a BPE trained on `train_texts` when none is named."""
    from codefusion.data.tokenizer import check_special_ids, load_codet5_tokenizer, train_bpe_tokenizer

    if cfg.tokenizer.name_or_path:
        tok = load_codet5_tokenizer(cfg.tokenizer.name_or_path)
    else:
        if not train_texts:
            raise ValueError("tokenizer.name_or_path is null and there is no training text to train a BPE on")
        tok = train_bpe_tokenizer(train_texts, cfg.tokenizer.train_vocab_size, cfg.tokenizer.isolate_spaces)
    if tok.pad_token_id is None and cfg.system != "codefusion":
        # Decoder-only tokenizers (CodeGen's, GPT-2's) have no pad; the data pads code with one.
        tok.add_special_tokens({"pad_token": "<pad>"})
    check_special_ids(tok)
    return tok


def run_tokenizer_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "tokenizer"

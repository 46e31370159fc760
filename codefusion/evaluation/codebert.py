"""CodeBERTScore (the paper's Python metric) and the code encoder used for diversity.

Both need a pre-trained model. `model=` takes a Hugging Face hub name or a local directory (a
`save_pretrained` folder with its tokenizer). When the model is neither local, cached, nor
downloadable, `ModelUnavailable` says so in one line; the evaluation command then reports the
score as "not computed" with that reason and never substitutes a number.

Without a network, `transformers` retries a hub download for about 30 s before failing. To fail
fast, `resolve_model` looks in the local cache first and then probes the hub once (3 s).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import torch

from codefusion.languages.names import check_language

DEFAULT_ENCODER = "microsoft/codebert-base"  # the paper's embedding model for diversity
_PROBE_TIMEOUT_S = 3.0


class ModelUnavailable(RuntimeError):
    """The requested model cannot be loaded here; the message says why and what to do."""


def default_scoring_model(language: str) -> str:
    """The model `code-bert-score` picks for `language` (python: neulab/codebert-python;
    bash and cf have no dedicated model: microsoft/codebert-base-mlm)."""
    from code_bert_score.utils import lang2model

    return lang2model[check_language(language)]


@cache
def _hub_reachable() -> str | None:
    """None when the hub answers a TCP connect, else the reason it does not."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return None  # a proxy may reach what a direct connection cannot: let the download try
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host or "huggingface.co", 443), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as error:
        return f"{host} is unreachable ({error.strerror or error})"
    return None


def resolve_model(name_or_path: str) -> str:
    """A local directory for `name_or_path`, or the hub name when it can be downloaded.

    Raises `ModelUnavailable` when the model is not local, not in the Hugging Face cache and the
    hub cannot be reached.
    """
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if Path(name_or_path).expanduser().exists() or name_or_path.startswith((".", "/", "~")):
        raise ModelUnavailable(f"model path {name_or_path} is not a directory made by "
                               "save_pretrained")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name_or_path, local_files_only=True)
    except Exception:  # not cached (or not a valid repo name): try the network below
        pass
    reason = _hub_reachable()
    if reason is not None:
        raise ModelUnavailable(f"{name_or_path} is not in the local Hugging Face cache and "
                               f"cannot be downloaded: {reason}; pass model=PATH to a local copy")
    return name_or_path


def _num_layers(model_type: str, local: str) -> int:
    """The layer `code-bert-score` reads for `model_type`, capped at the model's depth."""
    from code_bert_score.utils import model2layers
    from transformers import AutoConfig

    depth = AutoConfig.from_pretrained(local).num_hidden_layers
    return min(model2layers[model_type], depth)


def codebertscore(preds: Sequence[str], refs: Sequence[str], language: str,
                  model: str | None = None, *, num_layers: int | None = None,
                  device: str | None = None, batch_size: int = 64) -> dict:
    """CodeBERTScore of each prediction against its reference, via the `code-bert-score` package.

    Returns `{"precision", "recall", "f1", "f3"}` as lists of floats in [0, 1] (one per pair;
    F3 weighs recall 3x, as in the package), plus `"model"` and `"num_layers"`. `model` is a hub
    name or a local directory; by default the package's choice for `language`. Raises
    `ModelUnavailable` when the model cannot be loaded here.
    """
    language = check_language(language)
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    model_type = model or default_scoring_model(language)
    local = resolve_model(model_type)
    try:
        layers = num_layers if num_layers is not None else _num_layers(model_type, local)
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"cannot load {model_type}: {error}") from error
    result = {"precision": [], "recall": [], "f1": [], "f3": [], "model": model_type,
              "num_layers": layers}
    if not preds:
        return result
    import code_bert_score

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        p, r, f1, f3 = code_bert_score.score(
            cands=[str(x) for x in preds], refs=[str(x) for x in refs], lang=language,
            model_type=local, num_layers=layers, device=device, batch_size=batch_size)
    except OSError as error:
        raise ModelUnavailable(f"cannot load {model_type}: {error}") from error
    for key, values in zip(("precision", "recall", "f1", "f3"), (p, r, f1, f3)):
        # Cosines of contextual embeddings can dip just below 0 or above 1 by rounding.
        result[key] = [min(1.0, max(0.0, float(v))) for v in values]
    return result


Encoder = Callable[[Sequence[str]], torch.Tensor]


def load_encoder(name_or_path: str = DEFAULT_ENCODER, device: str | None = None,
                 batch_size: int = 32) -> Encoder:
    """A function mapping N code strings to an (N, D) tensor of mean-pooled last-layer states.

    Raises `ModelUnavailable` when the model cannot be loaded here.
    """
    from transformers import AutoModel, AutoTokenizer

    local = resolve_model(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(local)
        network = AutoModel.from_pretrained(local).eval()
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"cannot load {name_or_path}: {error}") from error
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    network.to(device)
    max_length = min(512, int(getattr(tokenizer, "model_max_length", 512) or 512),
                     int(getattr(network.config, "max_position_embeddings", 514)) - 2)

    @torch.no_grad()
    def encode(texts: Sequence[str]) -> torch.Tensor:
        texts = [str(t) for t in texts]
        # Batch similar lengths together: padding to the longest in a batch is most of the cost.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), network.config.hidden_size)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = network(**batch).last_hidden_state  # (B, L, D)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
            out[torch.tensor(index)] = pooled.float().cpu()
        return out

    return encode

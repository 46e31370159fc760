"""The tokenizer: CodeT5's byte-level BPE, or a small BPE trained on the run's own data.

Both give a `transformers` fast tokenizer with CodeT5's special ids: 0 <pad>, 1 <s>, 2 </s>,
3 <unk>, 4 <mask>. The tokenizer is saved into every run directory, so sampling needs nothing else.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

import json
from collections.abc import Iterable
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from codefusion.errors import UserError
from codefusion.hub import looks_like_hub_id

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]
NUM_SENTINELS = 100  # <extra_id_0..99>, as on the hub's Salesforce/codet5-small (vocab 32,100)


class TokenizerError(UserError):
    """A tokenizer that cannot be loaded, reported in one line."""


def load_codet5_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """CodeT5 tokenizer from a hub name, a saved tokenizer directory, or a directory holding only
    the original `vocab.json` + `merges.txt` (then the sentinels are added here)."""
    path = Path(name_or_path)
    if path.is_dir() and not (path / "tokenizer_config.json").exists():
        vocab, merges = path / "vocab.json", path / "merges.txt"
        if not (vocab.exists() and merges.exists()):
            raise TokenizerError(f"tokenizer directory {path} has neither a saved tokenizer nor vocab.json + merges.txt")
        from transformers import RobertaTokenizer

        tok = RobertaTokenizer(str(vocab), str(merges))
        # The hub assigns <extra_id_99> the first new id and <extra_id_0> the last, like T5.
        sentinels = [f"<extra_id_{i}>" for i in reversed(range(NUM_SENTINELS))]
        tok.add_special_tokens({"additional_special_tokens": sentinels})
        return tok
    if not path.exists() and not looks_like_hub_id(name_or_path):
        raise TokenizerError(f"tokenizer path not found: {name_or_path}")
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as e:  # offline hub, corrupt files ...
        raise TokenizerError(f"cannot load tokenizer '{name_or_path}': {type(e).__name__}: {str(e).splitlines()[0]}") from None


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, isolate_spaces: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level BPE (same family as CodeT5's) trained on `texts`, with CodeT5's special ids.

    `isolate_spaces`: a run of spaces is a token of its own, never the start of the next word's
    token, so a word or number copied from the utterance ("... start with Orange" → "ĠOrange")
    into the code ("(Orange)" → "Orange") is the same token in both; GPT-2's rule (the default,
    CodeT5's) makes them two tokens the model must learn to map. Deterministic for the same texts,
    so every process of a DDP run trains the same one.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(" +"), "isolated"), byte_level])
                         if isolate_spaces else byte_level)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", mask_token="<mask>",
    )


def check_special_ids(tok: PreTrainedTokenizerBase) -> None:
    """The model relies on pad=0 and eos=2 being present; fail early and clearly otherwise."""
    if tok.pad_token_id is None or tok.eos_token_id is None:
        raise TokenizerError("tokenizer has no pad or eos token; CodeFusion pads targets and ends code with eos")


def tokenizer_fingerprint(tok: PreTrainedTokenizerBase) -> str:
    """A short hash of the vocabulary, used to key the tokenized-dataset cache."""
    import hashlib

    vocab = json.dumps(sorted(tok.get_vocab().items()), ensure_ascii=False)
    return hashlib.sha1(vocab.encode()).hexdigest()[:12]


def tokenizer_to_json(tok: PreTrainedTokenizerBase) -> str:
    """The whole fast tokenizer as one string (kept in checkpoints: plain data)."""
    return json.dumps({"tokenizer": tok.backend_tokenizer.to_str(),
                       "special": {k: str(v) for k, v in tok.special_tokens_map.items() if isinstance(v, str)}})


def tokenizer_from_json(text: str) -> PreTrainedTokenizerFast:
    """Inverse of `tokenizer_to_json`."""
    from tokenizers import Tokenizer

    data = json.loads(text)
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(data["tokenizer"]), **data["special"])


def upto_first_eos(tokens: Tensor, eos_id: int) -> Tensor:
    """(N, n) bool: the positions up to and including the first </s> (all when there is none):
    what a candidate's score averages over and what the training code mask covers. The one rule."""
    is_eos = (tokens == eos_id).long()
    return (is_eos.cumsum(-1) - is_eos) == 0

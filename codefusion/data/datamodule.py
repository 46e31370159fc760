"""LightningDataModule: splits -> tokenized datasets -> batches.

Batches are dicts: `src_ids` (B, S) long, `src_mask` (B, S) bool (True on real tokens),
`code_ids` (B, n) long (code, </s>, <pad>...), `code_mask` (B, n) bool (True on code and </s>);
pre-training batches, and fine-tuning batches with `pretrain.mix` > 0, also carry `uncond` (B,)
bool (True where the pre-training generation task replaces E_s by noise).

Shuffling is a pure function of (seed, epoch), sharded over the DDP ranks by the sampler itself;
on resume from a mid-epoch checkpoint the batches already trained on are skipped, so
`ckpt_path=` continues with exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler
from transformers import PreTrainedTokenizerBase

from codefusion.config import DataConfig, PretrainConfig
from codefusion.data.examples import DataError, SplitReport, check_rows, read_jsonl, tokenize_split
from codefusion.data.masking import mask_code
from codefusion.data.tokenizer import upto_first_eos

SPLITS = ("train", "valid", "test")


def load_split_rows(cfg: DataConfig, split: str, report: SplitReport, valid_size: int = 500) -> list[dict[str, Any]]:
    """Raw (id, nl, code) rows of one split, from the synthetic generator, prepared JSONL, or a
    pre-training corpus (then `nl` is the code itself; the collator builds the real source)."""
    if cfg.source == "pretrain":
        return pretrain_rows(Path(cfg.data_dir or "") / "pretrain" / f"{cfg.language}.jsonl", split, report, valid_size)
    if cfg.source == "synthetic_cf":
        from codefusion.data.synthetic_cf import make_splits

        splits = make_splits(cfg.synthetic_train, cfg.synthetic_valid, cfg.synthetic_test, seed=cfg.synthetic_seed)
        return check_rows(splits[split], report)
    root = Path(cfg.data_dir or "")
    path = root / cfg.language / f"{split}.jsonl"
    if not root.is_dir():
        raise DataError(f"data directory not found: {root} (make it with data_prep/prepare_benchmarks.py out={root})")
    return read_jsonl(path, report)


def pretrain_rows(path: Path, split: str, report: SplitReport, valid_size: int) -> list[dict[str, Any]]:
    """A code-only corpus as rows; every k-th row (about `valid_size` of them) is validation,
    which also serves as `test`."""
    if not path.is_file():
        raise DataError(f"pre-training corpus not found: {path} (make it with data_prep/prepare_pretraining.py)")
    rows = read_jsonl(path, report, require_nl=False)
    every = max(2, len(rows) // max(1, valid_size))
    held = [r for i, r in enumerate(rows) if i % every == 0][:valid_size]
    held_ids = {r["id"] for r in held}
    return held if split in ("valid", "test") else [r for r in rows if r["id"] not in held_ids]


def rehearsal_rows(cfg: DataConfig, pretrain: PretrainConfig, report: SplitReport) -> list[dict[str, Any]]:
    """The whole code-only corpus DATA_DIR/pretrain/<language>.jsonl, for fine-tuning with
    `pretrain.mix` > 0 (its rows, and the BPE a run trains, take it in)."""
    path = Path(cfg.data_dir or "") / "pretrain" / f"{cfg.language}.jsonl"
    if not path.is_file():
        raise DataError(f"pretrain.mix={pretrain.mix:g} reads the code-only corpus {path}, which is missing; "
                        f"make it with data_prep/prepare_pretraining.py out={cfg.data_dir} or set pretrain.mix=0")
    rows = read_jsonl(path, report, require_nl=False)
    if not rows:
        raise DataError(f"pretrain.mix: {path} has no usable rows ({report.line()})")
    return rows


class EpochShuffleSampler(Sampler[int]):
    """Indices shuffled by (seed, epoch), this rank's shard, minus `skip` leading indices."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True) -> None:
        self.n, self.seed, self.rank, self.world_size, self.shuffle = n, seed, rank, world_size, shuffle
        self.epoch = 0
        self.skip = 0  # indices to skip once (mid-epoch resume)
        self.per_rank = n // world_size  # equal shards: DDP ranks must step together

    def set_epoch(self, epoch: int) -> None:  # called by Lightning at every epoch start
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch

    def order(self) -> list[int]:
        """This epoch's n indices, before sharding."""
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.order()
        shard = order[self.rank : self.per_rank * self.world_size : self.world_size]
        skip, self.skip = self.skip, 0
        return iter(shard[skip:])

    def __len__(self) -> int:
        # The full shard even while skipping: Lightning's batch index continues from the resume
        # point, so the epoch still ends after len // batch_size batches.
        return self.per_rank


class MixSampler(EpochShuffleSampler):
    """Fine-tuning with rehearsal (`pretrain.mix`): every epoch is all `n_pairs` fine-tuning
    pairs (indices 0..n_pairs-1) plus `n_extra` corpus rows (indices n_pairs..), shuffled
    together. The corpus rows are a fresh draw without replacement every epoch (cycling through
    the corpus), a pure function of (seed, epoch) like the shuffle, so resume skips exactly."""

    def __init__(self, n_pairs: int, n_corpus: int, mix: float, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n_pairs, self.n_corpus = n_pairs, n_corpus
        self.n_extra = mix_count(n_pairs, mix)
        super().__init__(n_pairs + self.n_extra, seed, rank, world_size)

    def order(self) -> list[int]:
        # The corpus passes this epoch's draw covers: epoch e draws rows e*n_extra .. (e+1)*n_extra - 1
        # of the concatenation of one seeded permutation per pass.
        start = self.epoch * self.n_extra
        drawn: list[int] = []
        for p in range(start // self.n_corpus, (start + self.n_extra - 1) // self.n_corpus + 1):
            perm = torch.randperm(self.n_corpus, generator=torch.Generator().manual_seed(self.seed * 7_919 + p + 1)).tolist()
            lo, hi = max(start - p * self.n_corpus, 0), min(start + self.n_extra - p * self.n_corpus, self.n_corpus)
            drawn += [self.n_pairs + i for i in perm[lo:hi]]
        pool = list(range(self.n_pairs)) + drawn
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return [pool[i] for i in torch.randperm(len(pool), generator=g).tolist()]


def mix_count(n_pairs: int, mix: float) -> int:
    """Corpus rows per epoch so that they are a share `mix` of the epoch: n_pairs * mix / (1 - mix)."""
    return round(n_pairs * mix / (1.0 - mix))


class MixedRows(torch.utils.data.Dataset):
    """The fine-tuning pairs (indices 0..len(pairs)-1) followed by the corpus rows; a corpus
    row has no `src_ids` (the collator builds its source from the pre-training tasks)."""

    def __init__(self, pairs: Any, corpus: Any) -> None:
        self.pairs = pairs.with_format(None, columns=["src_ids", "code_ids"])
        self.corpus = corpus.with_format(None, columns=["id", "code", "code_ids"])

    def __len__(self) -> int:
        return len(self.pairs) + len(self.corpus)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return dict(self.pairs[i]) if i < len(self.pairs) else dict(self.corpus[i - len(self.pairs)])


def collate(examples: list[dict[str, Any]], pad_id: int, eos_id: int) -> dict[str, torch.Tensor]:
    """Pad sources to the longest in the batch; code is already fixed length."""
    src_len = max(len(e["src_ids"]) for e in examples)
    src = torch.full((len(examples), src_len), pad_id, dtype=torch.long)
    for i, e in enumerate(examples):
        src[i, : len(e["src_ids"])] = torch.tensor(e["src_ids"])
    code = torch.tensor([e["code_ids"] for e in examples], dtype=torch.long)
    code_mask = upto_first_eos(code, eos_id)  # code and its </s>; the rest is padding
    return {"src_ids": src, "src_mask": src != pad_id, "code_ids": code, "code_mask": code_mask}


class PretrainCollator:
    """Batches for the two pre-training tasks, drawn per example by a seeded RNG:
    (a) generation: `uncond` True, the source is the code's own tokens, used only for the shape
    of the noise that replaces E_s; (b) CPD: the source is the code with identifiers and keywords
    masked (codefusion/data/masking.py)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, language: str, max_nl_len: int,
                 cfg: PretrainConfig, seed: int, sampler: EpochShuffleSampler) -> None:
        self.tok, self.language, self.max_nl_len, self.cfg, self.seed = tokenizer, language, max_nl_len, cfg, seed
        self.sampler = sampler  # its epoch (set by Lightning) makes every epoch draw new tasks and masks

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        uncond = self.add_sources(examples)
        batch = collate(examples, self.tok.pad_token_id, self.tok.eos_token_id)
        batch["uncond"] = torch.tensor(uncond)
        return batch

    def add_sources(self, examples: list[dict[str, Any]]) -> list[bool]:
        """Draw each code-only example's task and set its `src_ids`; True where it is generation."""
        uncond, sources = [], []
        for e in examples:
            # A function of (seed, epoch, example): the same on resume and in every DDP process.
            rng = random.Random(f"{self.seed}:{self.sampler.epoch}:{e['id']}")
            generation = rng.random() < self.cfg.p_generation
            uncond.append(generation)
            sources.append(e["code"] if generation else
                           mask_code(e["code"], self.language, self.cfg.mask_ratio, self.cfg.mask_policy, rng,
                                     mask_token=self.tok.mask_token or "<mask>"))
        ids = self.tok(sources, add_special_tokens=False)["input_ids"] if sources else []
        for e, s in zip(examples, ids):
            e["src_ids"] = s[: self.max_nl_len - 1] + [self.tok.eos_token_id]
        return uncond


class MixCollator(PretrainCollator):
    """Fine-tuning batches with rehearsal: the pairs as they are (uncond False), the corpus rows
    (those without `src_ids`) given a pre-training task each."""

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        is_corpus = ["src_ids" not in e for e in examples]
        drawn = iter(self.add_sources([e for e, c in zip(examples, is_corpus) if c]))
        uncond = [next(drawn) if c else False for c in is_corpus]
        batch = collate(examples, self.tok.pad_token_id, self.tok.eos_token_id)
        batch["uncond"] = torch.tensor(uncond)
        return batch


class CodeFusionDataModule(L.LightningDataModule):
    """Tokenized train/valid/test splits of one dataset."""

    def __init__(self, cfg: DataConfig, tokenizer: PreTrainedTokenizerBase, batch_size: int, seed: int = 0,
                 eval_batch_size: Optional[int] = None, pretrain: Optional[PretrainConfig] = None) -> None:
        super().__init__()
        self.cfg, self.tokenizer, self.batch_size, self.seed = cfg, tokenizer, batch_size, seed
        self.pretrain = pretrain or PretrainConfig()
        self.eval_batch_size = eval_batch_size or batch_size
        self.datasets: dict[str, Any] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, SplitReport] = {}
        self.corpus: Any = None  # the tokenized code-only corpus when `pretrain.mix` > 0

    def setup(self, stage: Optional[str] = None) -> None:
        if self.datasets:
            return
        for split in SPLITS:
            report = SplitReport(split)
            rows = load_split_rows(self.cfg, split, report, self.pretrain.valid_size)
            if not rows:
                raise DataError(f"split '{split}' has no usable rows ({report.line()})")
            self.rows[split] = rows
            self.datasets[split] = tokenize_split(rows, self.tokenizer, self.cfg.max_nl_len, self.cfg.max_code_len,
                                                  self.cfg.overflow, report, self.cfg.cache_dir)
            self.reports[split] = report
        if self.mixes:
            report = SplitReport("rehearsal")
            rows = rehearsal_rows(self.cfg, self.pretrain, report)
            self.corpus = tokenize_split(rows, self.tokenizer, self.cfg.max_nl_len, self.cfg.max_code_len,
                                         self.cfg.overflow, report, self.cfg.cache_dir)
            self.reports["rehearsal"] = report

    @property
    def mixes(self) -> bool:
        """Fine-tuning with the pre-training tasks on the code-only corpus mixed in (`pretrain.mix`)."""
        return self.pretrain.mix > 0  # the config allows it only with data.source=jsonl

    def report_lines(self) -> list[str]:
        return [r.line() for r in self.reports.values()]

    def loader(self, split: str, batch_size: int, sampler: Sampler[int]) -> DataLoader:
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        if self.cfg.source == "pretrain":  # sources are built per batch from the code
            if not isinstance(sampler, EpochShuffleSampler):
                sampler = EpochShuffleSampler(len(sampler), 0, shuffle=False)  # type: ignore[arg-type]
            columns = ["id", "code", "code_ids"]
            collate_fn = PretrainCollator(self.tokenizer, self.cfg.language, self.cfg.max_nl_len, self.pretrain,
                                          self.seed, sampler)
        else:
            columns, collate_fn = ["src_ids", "code_ids"], (lambda ex: collate(ex, pad, eos))
        return DataLoader(self.datasets[split].with_format(None, columns=columns),
                          batch_size=batch_size, sampler=sampler, num_workers=self.cfg.num_workers,
                          collate_fn=collate_fn, drop_last=split == "train")

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        n = len(self.datasets["train"])
        sampler = (MixSampler(n, len(self.corpus), self.pretrain.mix, self.seed, rank, world) if self.mixes
                   else EpochShuffleSampler(n, self.seed, rank, world))
        trainer = self.trainer
        if trainer is not None and trainer.fit_loop.restarting:
            # Resuming mid-epoch: skip the batches this epoch already trained on.
            sampler.epoch = trainer.current_epoch
            done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
            sampler.skip = min(done * self.batch_size, sampler.per_rank)
        if not self.mixes:
            return self.loader("train", self.batch_size, sampler)
        collate_fn = MixCollator(self.tokenizer, self.cfg.language, self.cfg.max_nl_len, self.pretrain, self.seed, sampler)
        return DataLoader(MixedRows(self.datasets["train"], self.corpus), batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.cfg.num_workers, collate_fn=collate_fn, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        n = len(self.datasets["valid"])
        return self.loader("valid", self.eval_batch_size, EpochShuffleSampler(n, 0, rank, world, shuffle=False))

"""Generation on one or many devices through Lightning's predict loop.

Each device (DDP process) takes every world-th input (a shard), generates with per-(input,
candidate) noise keyed by the input's index, so its outputs are the same whatever the number of
devices or the batch size; rank 0 merges the shards back into input order.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader
from tqdm import tqdm

from codefusion.generation.contract import Generation, Generator

CollateFn = Callable[[list[int]], dict[str, Any]]
"""collate_fn(input indices) -> {"index": [B], "src_ids": (B, S), "src_mask": (B, S)}."""


class GenerationModule(L.LightningModule):
    """Wraps a `Generator` for `Trainer.predict`: shards the inputs by rank, generates, builds records.

    Args:
        generator: the generator (its `model` is moved to the device by Lightning).
        collate_fn: input indices -> tensors.
        assemble_fn: (indices, Generation) -> {"records", "trajectories", "tensors"} lists of (index, item).
        num_inputs, batch_size: the inputs to shard and how many per batch.
    """

    def __init__(self, generator: Generator, collate_fn: CollateFn,
                 assemble_fn: Callable[[list[int], Generation], dict[str, Any]], num_inputs: int, batch_size: int) -> None:
        super().__init__()
        self.model = generator.model
        self.generator, self.collate_fn, self.assemble_fn = generator, collate_fn, assemble_fn
        self.num_inputs, self.batch_size = num_inputs, batch_size

    def predict_dataloader(self) -> DataLoader:
        shard = list(range(self.global_rank, self.num_inputs, self.trainer.world_size))
        return DataLoader(shard, batch_size=self.batch_size, collate_fn=self.collate_fn)  # type: ignore[arg-type]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        gen = self.generator(batch["src_ids"], batch["src_mask"], batch["index"])
        out = self.assemble_fn(batch["index"], gen)
        out.update(loop_seconds=gen.loop_seconds, steps=gen.steps, inputs=len(batch["index"]))
        return out


class Collector(Callback):
    """Gathers every batch's records, shows a progress bar over inputs (rank 0) and merges the
    shards of a multi-device run on rank 0 (`self.merged`, sorted by input index)."""

    def __init__(self, num_inputs: int, shard_prefix: Optional[str], progress: bool) -> None:
        self.num_inputs, self.shard_prefix, self.progress = num_inputs, shard_prefix, progress
        self.parts: dict[str, list[Any]] = {"records": [], "trajectories": [], "tensors": []}
        self.loop_seconds, self.steps = 0.0, 0
        self.merged: dict[str, list[Any]] = {}
        self.bar: Optional[tqdm] = None

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.progress:
            self.bar = tqdm(total=self.num_inputs, unit="input", file=sys.stderr, dynamic_ncols=True)

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                             batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        for key in self.parts:
            self.parts[key].extend(outputs[key])
        self.loop_seconds += outputs["loop_seconds"]
        self.steps += outputs["steps"]
        if self.bar is not None:  # rank 0 sees its shard; the others move at the same pace
            self.bar.update(min(outputs["inputs"] * trainer.world_size, self.bar.total - self.bar.n))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
        shards = [self.parts]
        if trainer.world_size > 1:
            assert self.shard_prefix is not None
            torch.save(self.parts, f"{self.shard_prefix}.part{trainer.global_rank}")
            trainer.strategy.barrier("shards written")
            if trainer.is_global_zero:
                paths = [f"{self.shard_prefix}.part{r}" for r in range(trainer.world_size)]
                shards = [torch.load(p, weights_only=True) for p in paths]  # plain data and tensors only
                for p in paths:
                    os.remove(p)
        if trainer.is_global_zero:
            self.merged = {key: [item for _, item in sorted((x for s in shards for x in s[key]), key=lambda x: x[0])]
                           for key in self.parts}


def run_predict(module: GenerationModule, *, accelerator: str, devices: int, precision: str,
                shard_prefix: Optional[str], progress: bool) -> tuple[dict[str, list[Any]], float, int, bool]:
    """Run the predict loop. Returns (merged parts on rank 0, loop seconds, steps run, is rank 0)."""
    collector = Collector(module.num_inputs, shard_prefix, progress)
    trainer = L.Trainer(accelerator=accelerator, devices=devices, strategy="ddp" if devices > 1 else "auto",
                        precision="bf16-mixed" if precision == "bf16" else "32-true", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        use_distributed_sampler=False, callbacks=[collector], inference_mode=True)
    trainer.predict(module, return_predictions=False)
    return collector.merged, collector.loop_seconds, collector.steps, trainer.is_global_zero

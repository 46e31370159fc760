"""Progress as optimizer steps of `train.max_steps`, one bar for the whole run."""
from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class StepProgressBar(TQDMProgressBar):
    """One bar over the whole run, in optimizer steps (`step 1200/2500`), instead of Lightning's
    per-epoch bar (a run here is measured in steps; `max_epochs=-1` read "Epoch 8/-2")."""

    @classmethod
    def for_run(cls, max_steps: int) -> StepProgressBar:
        """Every step on a terminal; every 1% of the run when the output goes to a file (a SLURM
        log, `> train.log`), where each refresh is a line of its own."""
        return cls(refresh_rate=1 if sys.stdout.isatty() else max(1, max_steps // 100))

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar.total != trainer.max_steps:  # once per run (a resumed run starts at its step)
            bar.reset(total=trainer.max_steps)
            bar.initial = 0
            bar.n = trainer.global_step
            bar.set_description("step")
            bar.refresh()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable and self._should_update(trainer.global_step, bar.total):
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()  # once per update: a log file gets one line per update, not two

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version number: not a training metric
        return metrics

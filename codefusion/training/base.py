"""What every trained system shares: the AdamW schedule, EMA weights, per-step seeding for exact
resume, EMA validation with printed samples, and the checkpoint contents.

`CodeFusionSystem` (codefusion/training/system.py) and `BaselineSystem` (codefusion/baselines/system.py)
subclass `TrainedSystem` and add their loss, validation step and generation.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Optional

import lightning as L
import torch
from transformers import PreTrainedTokenizerBase

from codefusion.checkpoint import FORMAT
from codefusion.config import Config, OptimConfig
from codefusion.generation.contract import Generation
from codefusion.training.ema import EMA


def step_seed(seed: int, step: int, micro_batch: int, rank: int) -> int:
    """The seed of one training micro-batch: every random draw of a step (t, eps, dropout) is a
    function of (seed, step, micro-batch, rank), so a resumed run draws what an uninterrupted one
    would. The one rule, shared by training and `codefusion.bench train`."""
    return hash((seed, step, micro_batch, rank)) % (2**63)


def build_optimizer(model: torch.nn.Module, o: OptimConfig, max_steps: int) -> dict[str, Any]:
    """AdamW over the trainable parameters, linear warm-up then `o.decay` to 0 at `max_steps`
    (Lightning's configure_optimizers format)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    def lr_factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        frac = min(1.0, (step - o.warmup_steps) / max(1, max_steps - o.warmup_steps))
        return {"constant": 1.0, "linear": 1.0 - frac, "cosine": 0.5 * (1 + math.cos(math.pi * frac))}[o.decay]

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class TrainedSystem(L.LightningModule, ABC):
    """Base of the systems train.py trains (registered in codefusion/systems.py). Subclasses set
    `self.cfg`, `self.model`, `self.tokenizer_json`, call `init_shared()` after building the
    model, and implement the abstract methods below."""

    cfg: Config
    model: torch.nn.Module
    tokenizer_json: str
    validation_decoding = "decoding"  # how validation samples are decoded, for the printout

    def init_shared(self) -> None:
        self.ema = EMA(self.model, self.cfg.optim.ema_decay)
        self.tokenizer: Optional[PreTrainedTokenizerBase] = None  # set by train.py for text logs
        self._decoded: list[tuple[str, str, str]] = []  # (utterance, reference, generated)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # All randomness of a step (t, eps, dropout) is a function of (seed, step, micro-batch,
        # rank), so `ckpt_path=` resumes exactly: the same draws as an uninterrupted run.
        torch.manual_seed(step_seed(self.cfg.train.seed, self.global_step, batch_idx, self.global_rank))

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self.ema.update(self.model)

    def configure_optimizers(self) -> Any:
        return build_optimizer(self.model, self.cfg.optim, self.cfg.train.max_steps)

    # ---- validation (EMA weights) ---------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.ema.swap(self.model)
        self._decoded = []

    def on_validation_epoch_end(self) -> None:
        self.ema.swap(self.model)
        if self._decoded:
            exact = sum(ref == gen for _, ref, gen in self._decoded) / len(self._decoded)
            self.log("val/decoded_exact_match", exact, sync_dist=True)
            if self.global_rank == 0:
                print(f"\nvalidation samples at step {self.global_step} ({self.validation_decoding}):")
                for nl, ref, gen in self._decoded[:4]:
                    print(f"  nl:  {nl}\n  ref: {ref}\n  gen: {gen}")

    # ---- what each system defines ------------------------------------------------------------
    @abstractmethod
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss terms of one batch (and what validation logs beside them)."""

    @abstractmethod
    def generate_candidates(self, src_ids: torch.Tensor, src_mask: torch.Tensor, num_candidates: Optional[int] = None,
                            generator: Optional[torch.Generator] = None) -> Generation:
        """(B, S) utterances -> ranked candidates with the weights now in the model (the
        end-of-training evaluation)."""

    @abstractmethod
    def describe_decoding(self) -> str:
        """How `generate_candidates` decodes, for the printout ("200 ddpm steps", "beam search, 5 beams")."""

    @abstractmethod
    def parameter_report(self) -> dict[str, int]:
        """Parameters per component and in total."""

    # ---- checkpoints ----------------------------------------------------------------------
    def checkpoint_extras(self) -> dict[str, Any]:
        """Entries added to checkpoint["codefusion"] beside the format marker and tokenizer."""
        return {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ema"] = self.ema.state_dict()
        checkpoint["codefusion"] = {"format": FORMAT, "tokenizer_json": self.tokenizer_json, **self.checkpoint_extras()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "ema" in checkpoint:
            self.ema.load_state_dict(checkpoint["ema"])
        self.tokenizer_json = checkpoint.get("codefusion", {}).get("tokenizer_json", self.tokenizer_json)

"""The LightningModule of the autoregressive baselines: teacher-forced cross-entropy on the code.

One training step, on the data module's batches (utterance `src`, code `y` = code </s> <pad>..):
    seq2seq:   logits = T5(src, decoder input = <pad> y[:-1])                  (B, n, V)
    causal_lm: logits = LM([<pad>.. src </s>][y])  at the positions before each code token
    loss = mean over code tokens and their </s> of -log p(y_i | y_<i, src)

Everything else is shared with CodeFusionSystem (`TrainedSystem`, codefusion/training/base.py):
the AdamW schedule, EMA weights (validation, evaluation, checkpoints), per-step seeding for exact
resume, and the checkpoint contents, so train.py,
`load_checkpoint`, `init_from` and the end-of-training evaluation treat both kinds alike.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from codefusion.baselines.generation import decoding_options, generate_baseline
from codefusion.baselines.networks import causal_lm_batch, count_parameters
from codefusion.config import Config, from_dict
from codefusion.factory import build_baseline
from codefusion.generation.contract import Generation, decode_code
from codefusion.training.base import TrainedSystem


class BaselineSystem(TrainedSystem):
    """Training, validation and checkpoint glue for a T5-style or decoder-only baseline.

    Args:
        config: the resolved run config as a plain dict (`codefusion.config.to_dict`).
        vocab_size: tokenizer vocabulary size.
        pad_id, eos_id: the tokenizer's <pad> and </s> (kept in the checkpoint for rebuilding).
        tokenizer_json: the tokenizer serialised as a string, stored in checkpoints.
    """

    def __init__(self, config: dict[str, Any], vocab_size: int, pad_id: int, eos_id: int,
                 tokenizer_json: str = "") -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["tokenizer_json"])  # plain data only: weights_only-safe
        self.tokenizer_json = tokenizer_json
        self.cfg: Config = from_dict(config)
        self.arch = self.cfg.system
        self.pad_id, self.eos_id = pad_id, eos_id
        self.model = build_baseline(self.cfg, vocab_size, pad_id, eos_id)
        self.init_shared()
        self.validation_decoding = "greedy"

    # ---- the loss -------------------------------------------------------------------------
    def code_logits(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """logits (B, n', V) predicting each code token, the tokens y (B, n') and their mask,
        n' = the longest code of the batch (with its </s>)."""
        src, src_mask = batch["src_ids"], batch["src_mask"]
        n = int(batch["code_mask"].sum(1).max())
        y, y_mask = batch["code_ids"][:, :n], batch["code_mask"][:, :n]
        if self.arch == "seq2seq":
            start = torch.full_like(y[:, :1], self.pad_id)  # T5's decoder starts from <pad>
            logits = self.model(input_ids=src, attention_mask=src_mask,
                                decoder_input_ids=torch.cat([start, y[:, :-1]], 1)).logits
            return logits, y, y_mask
        x = causal_lm_batch(src, src_mask, y, y_mask)
        logits = self.model(input_ids=x["input_ids"], attention_mask=x["attention_mask"],
                            position_ids=x["position_ids"]).logits
        return logits[:, src.shape[1] - 1 : -1], y, y_mask  # the position before each code token

    def loss_terms(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Mean token cross-entropy and accuracy over the code tokens and their </s>."""
        logits, y, mask = self.code_logits(batch)
        nll = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none")  # (B, n')
        count = mask.sum().clamp_min(1)
        return {"loss": (nll * mask).sum() / count,
                "token_acc": ((logits.detach().argmax(-1) == y) & mask).sum() / count}

    # ---- training -------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        terms = self.loss_terms(batch)
        bs = batch["code_ids"].shape[0]
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=bs)
        if self.global_step % self.cfg.train.log_every_n_steps == 0:
            self.log("train/token_acc", terms["token_acc"], batch_size=bs)
        return terms["loss"]

    # ---- validation (EMA weights) ---------------------------------------------------------
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        terms = self.loss_terms(batch)
        bs = batch["code_ids"].shape[0]
        self.log("val/loss", terms["loss"], prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val/token_acc", terms["token_acc"], batch_size=bs, sync_dist=True)
        n = self.cfg.train.val_decode_examples - len(self._decoded)
        tok = self.tokenizer
        if n > 0 and tok is not None:
            src, mask = batch["src_ids"][:n], batch["src_mask"][:n]
            out = self.generate_candidates(src, mask, num_candidates=1, num_beams=1)
            for i in range(src.shape[0]):
                self._decoded.append((tok.decode(src[i][mask[i]].tolist(), skip_special_tokens=True),
                                      decode_code(tok, batch["code_ids"][i].tolist()),
                                      decode_code(tok, out.tokens[i, 0].tolist())))

    # ---- generation (same contract as CodeFusionSystem) -----------------------------------
    def generate_candidates(self, src_ids: Tensor, src_mask: Tensor, num_candidates: Optional[int] = None,
                            generator: Optional[torch.Generator] = None, **overrides: Any) -> Generation:
        """(B, S) utterances -> `Generation` of num_candidates (default baseline.num_candidates)
        codes each, decoded as `baseline.*` says (overrides win), with the model's current weights."""
        opts = decoding_options(self.cfg, **overrides)
        if num_candidates is not None:
            opts["num_candidates"] = num_candidates
        return generate_baseline(self.model, self.arch, src_ids, src_mask, **opts, eos_id=self.eos_id,
                                 pad_id=self.pad_id, generator=generator)

    def describe_decoding(self) -> str:
        b = self.cfg.baseline
        if b.do_sample:
            return f"{b.num_candidates} samples, temperature {b.temperature}, top-p {b.top_p}"
        if b.num_beam_groups > 1:
            return (f"diverse beam search, {b.num_beams} beams in {b.num_beam_groups} groups, "
                    f"penalty {b.diversity_penalty}")
        return f"beam search, {b.num_beams} beams"

    def parameter_report(self) -> dict[str, int]:
        return {self.arch: count_parameters(self.model), "total": count_parameters(self.model)}

    # ---- checkpoints ----------------------------------------------------------------------
    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config_json": self.model.config.to_json_string()}  # rebuilt without the hub

"""The LightningModule: the only place where the networks, the diffusion process and the loss meet.

One training step (paper §3.2):
    E_s = E(s)  (pre-training: E(masked code), or Gaussian noise for unsupervised generation);  x0 = L(y);  t ~ U[0, T);  x_t = q_sample(x0, t, eps)
    N(x_t, t, E_s) -> eps_hat (or x0_hat) -> pred_x0;   D_s = D(pred_x0, E_s);   logits = H(D_s)
    loss = w_diffusion ||eps_hat - eps||^2 + w_decoder ||D_s - x0||^2 + w_ce CE(logits, y)
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from codefusion.config import Config, from_dict
from codefusion.diffusion.timesteps import UniformTimesteps
from codefusion.factory import build_model, build_process, build_timestep_sampler
from codefusion.generation.codefusion import CodeFusionGenerator, SamplingOptions
from codefusion.generation.contract import Generation, decode_code
from codefusion.networks.codefusion import parameter_report
from codefusion.training.base import TrainedSystem
from codefusion.training.losses import decoder_loss, diffusion_loss, quartile_means, token_accuracy, token_ce


class CodeFusionSystem(TrainedSystem):
    """Training, validation and checkpoint glue for CodeFusion.

    Args:
        config: the resolved run config as a plain dict (`codefusion.config.to_dict`).
        vocab_size: tokenizer vocabulary size (embedding L and head H).
        tokenizer_json: the tokenizer serialised as a string, stored in checkpoints.
    """

    def __init__(self, config: dict[str, Any], vocab_size: int, tokenizer_json: str = "") -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["tokenizer_json"])  # plain data only: weights_only-safe
        self.tokenizer_json = tokenizer_json
        self.cfg: Config = from_dict(config)
        self.model = build_model(self.cfg, vocab_size)
        self.process = build_process(self.cfg)
        self.t_sampler = build_timestep_sampler(self.cfg)
        self.uniform_t = UniformTimesteps(self.process.num_timesteps)
        for name in self.cfg.train.freeze:  # e.g. the encoder in pre-training
            getattr(self.model, name).requires_grad_(False)
        self.init_shared()
        self.validation_decoding = f"{self.cfg.train.val_sample_steps} DDPM steps"

    # ---- the loss -------------------------------------------------------------------------
    def loss_terms(self, batch: dict[str, Tensor], generator: Optional[torch.Generator] = None,
                   t_sampler: Optional[UniformTimesteps] = None) -> dict[str, Tensor]:
        """Per-example loss terms (B,) plus `t` (B,), the importance `weight` (B,) of each t, the
        token accuracy and the mean embedding norm. `t_sampler`: default the configured one."""
        src, src_mask, y, y_mask = batch["src_ids"], batch["src_mask"], batch["code_ids"], batch["code_mask"]
        loss_mask = torch.ones_like(y_mask) if self.cfg.loss.target_padding == "include" else y_mask
        model, process, b, device = self.model, self.process, y.shape[0], y.device
        e_s = model.encode(src, src_mask)  # (B, S, D_e)
        if "uncond" in batch:  # pre-training task (a): no utterance, E_s is Gaussian noise
            noise = torch.randn(e_s.shape, generator=generator, device=e_s.device, dtype=e_s.dtype)
            e_s = torch.where(batch["uncond"][:, None, None], noise, e_s)
        x0 = model.embed(y)  # (B, n, d)
        t, weight = (t_sampler or self.t_sampler).sample(b, device, generator)  # (B,), (B,)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        context, context_mask = self._denoiser_context(e_s, src_mask, generator)
        drafted = self._drafts(x0, context, context_mask, generator)
        x_t = process.q_sample(x0 if drafted is None else drafted, t, eps)
        target = process.training_target(x0, eps if drafted is None else process.eps_from_pred_x0(x_t, t, x0))
        self_cond = self._self_condition(x_t, t, context, context_mask, generator)
        out = model.denoiser(x_t, t, context, context_mask, self_cond=self_cond)  # eps_hat or x0_hat
        pred_x0 = process.pred_x0(out, x_t, t)
        if self.cfg.loss.detach_pred_x0:
            pred_x0 = pred_x0.detach()
        d_s, logits = model.decode(pred_x0, e_s, src_mask)  # the decoder always reads the utterance
        return {
            "diffusion": diffusion_loss(out, target, loss_mask),
            "decoder": decoder_loss(d_s, x0, loss_mask),
            "ce": token_ce(logits, y, loss_mask),
            "token_acc": token_accuracy(logits.detach(), y, y_mask),
            "embed_norm": x0.detach().float().norm(dim=-1).mean(-1),
            "t": t,
            "weight": weight,
        }

    def _denoiser_context(self, e_s: Tensor, src_mask: Tensor, generator: Optional[torch.Generator]) -> tuple[Tensor, Tensor]:
        """Classifier-free guidance training: with probability `train.cond_dropout` an example's
        denoiser reads the learned null context instead of E_s. (B, S, D), (B, S)."""
        p = self.cfg.train.cond_dropout
        if p <= 0:
            return e_s, src_mask
        drop = torch.rand(e_s.shape[0], generator=generator, device=e_s.device) < p  # (B,)
        null, _ = self.model.denoiser.null_context_like(e_s)  # (B, 1, D)
        context = torch.where(drop[:, None, None], null.expand_as(e_s), e_s)
        return context, src_mask | drop[:, None]  # a dropped row attends to S copies of the null token

    def _drafts(self, x0: Tensor, context: Tensor, context_mask: Tensor,
                generator: Optional[torch.Generator]) -> Optional[Tensor]:
        """`train.draft_prob`: x0 (B, n, d) with a share of its rows replaced by the denoiser's
        no-grad one-call x̂0 from pure noise at t = T-1 (the draft the sampling chain starts
        from); None when the share is 0 (no random draw, so such runs keep their old draws)."""
        p = self.cfg.train.draft_prob
        if p <= 0:
            return None
        use = torch.rand(x0.shape[0], generator=generator, device=x0.device) < p  # (B,)
        rows = use.nonzero().squeeze(-1)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        out = x0.detach().clone()
        if rows.numel():
            t_last = torch.full((rows.numel(),), self.process.num_timesteps - 1, device=x0.device, dtype=torch.long)
            with torch.no_grad():
                first = self.model.denoiser(noise[rows], t_last, context[rows], context_mask[rows])
                out[rows] = self.process.pred_x0(first, noise[rows], t_last).to(out.dtype)
        return torch.where(use[:, None, None], out, x0)

    def _self_condition(self, x_t: Tensor, t: Tensor, context: Tensor, context_mask: Tensor,
                        generator: Optional[torch.Generator]) -> Optional[Tensor]:
        """Self-conditioning: for a `train.self_cond_prob` share of the examples, the x̂0 of a first
        no-grad denoiser pass (reading zeros); zeros for the others. None without self-conditioning."""
        if not self.model.denoiser.self_condition:
            return None
        use = torch.rand(x_t.shape[0], generator=generator, device=x_t.device) < self.cfg.train.self_cond_prob
        self_cond = torch.zeros_like(x_t)
        rows = use.nonzero().squeeze(-1)
        if rows.numel():  # the first pass only on the rows that use it
            with torch.no_grad():
                first = self.model.denoiser(x_t[rows], t[rows], context[rows], context_mask[rows])
                self_cond[rows] = self.process.pred_x0(first, x_t[rows], t[rows]).to(self_cond.dtype)
        return self_cond

    def total(self, terms: dict[str, Tensor]) -> Tensor:
        w = self.cfg.loss
        return w.w_diffusion * terms["diffusion"] + w.w_decoder * terms["decoder"] + w.w_ce * terms["ce"]

    # ---- training -------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        terms = self.loss_terms(batch)
        per_example = self.total(terms)  # (B,)
        loss = (per_example * terms["weight"]).mean()  # weight 1 unless t is importance-sampled
        self._update_t_sampler(terms["t"], per_example.detach())
        bs = per_example.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        # The breakdown only on the steps the logger writes: each self.log costs ~0.7 ms on a CPU
        # and the quartiles would sync a GPU at every step.
        if self.global_step % self.cfg.train.log_every_n_steps == 0:
            for name in ("diffusion", "decoder", "ce", "token_acc", "embed_norm"):
                self.log(f"train/{name}", terms[name].mean(), batch_size=bs)
            for q, value in quartile_means(per_example.detach(), terms["t"], self.process.num_timesteps).items():
                self.log(f"train/loss_q{q}", value, batch_size=bs)
        return loss

    def _update_t_sampler(self, t: Tensor, losses: Tensor) -> None:
        """Feed the per-example losses back to a loss-aware timestep sampler (every rank's)."""
        if self.cfg.diffusion.t_sampling != "loss_aware":
            return
        if self.trainer is not None and self.trainer.world_size > 1:
            t, losses = self.all_gather(t).flatten(), self.all_gather(losses).flatten()
        self.t_sampler.update(t, losses)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["t_sampler"] = self.t_sampler.state_dict()  # exact resume of loss-aware t

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.t_sampler.load_state_dict(checkpoint.get("t_sampler", {}))

    # ---- validation (EMA weights: TrainedSystem swaps them in) -----------------------------
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        g = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed * 7919 + batch_idx)
        terms = self.loss_terms(batch, generator=g, t_sampler=self.uniform_t)  # comparable across runs
        bs = batch["code_ids"].shape[0]
        self.log("val/loss", self.total(terms).mean(), prog_bar=True, batch_size=bs, sync_dist=True)
        for name in ("diffusion", "decoder", "ce", "token_acc"):
            self.log(f"val/{name}", terms[name].mean(), batch_size=bs, sync_dist=True)
        want = self.cfg.train.val_decode_examples - len(self._decoded)
        if want > 0 and self.tokenizer is not None:
            self._decode_examples(batch, want, g)

    def _decode_examples(self, batch: dict[str, Tensor], n: int, g: torch.Generator) -> None:
        tok = self.tokenizer
        assert tok is not None
        if "uncond" in batch:  # pre-training: decode the CPD rows (masked code -> code)
            batch = {k: v[~batch["uncond"]] for k, v in batch.items()}
        src, mask = batch["src_ids"][:n], batch["src_mask"][:n]
        if src.shape[0] == 0:
            return
        out = self.code_generator()(src, mask, SamplingOptions(steps=self.cfg.train.val_sample_steps), generator=g)
        pad_frac = (out.tokens[:, 0] == tok.pad_token_id).float().mean()
        self.log("val/pad_fraction", pad_frac, batch_size=n, sync_dist=True)
        for i in range(src.shape[0]):
            nl = tok.decode(src[i][mask[i]].tolist(), skip_special_tokens=True)
            ref = decode_code(tok, batch["code_ids"][i].tolist())
            self._decoded.append((nl, ref, decode_code(tok, out.tokens[i, 0].tolist())))

    # ---- generation (the end-of-training evaluation; same contract as BaselineSystem) -------
    def generate_candidates(self, src_ids: Tensor, src_mask: Tensor, num_candidates: Optional[int] = None,
                            generator: Optional[torch.Generator] = None) -> Generation:
        """(B, S) utterances -> `Generation` of num_candidates (default 1) denoised programs each,
        `eval.sample_steps` steps of `eval.sampler` (guidance `eval.guidance`), with the weights
        currently in the model."""
        e = self.cfg.eval
        options = SamplingOptions(num_candidates=num_candidates or 1, sampler=e.sampler, steps=e.sample_steps,
                                  guidance=e.guidance)
        return self.code_generator()(src_ids, src_mask, options, generator=generator)

    def code_generator(self) -> CodeFusionGenerator:
        """The generator over this system's model (whatever weights are in it now)."""
        if self.tokenizer is None:
            raise RuntimeError("set system.tokenizer before generating (its </s> ends the code)")
        return CodeFusionGenerator(self.model, self.process, self.cfg.data.max_code_len, self.tokenizer.eos_token_id)

    def describe_decoding(self) -> str:
        e = self.cfg.eval
        return f"{e.sample_steps} {e.sampler} steps" + (f", guidance {e.guidance:g}" if e.guidance != 1.0 else "")

    def parameter_report(self) -> dict[str, int]:
        return parameter_report(self.model)

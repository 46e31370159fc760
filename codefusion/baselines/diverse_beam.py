"""Diverse (group) beam search, Vijayakumar et al. 2016, for the baselines' Hugging Face models.

transformers 5 moved `num_beam_groups` out of the library (to a hub `custom_generate` repo
that needs the network and trust_remote_code), so it is written here. The beam is split into G groups
of S beams. At every step the groups choose in order; group g's log-probabilities are lowered by
`diversity_penalty` times the number of times each token was chosen, at this step, by groups
0..g-1 (the Hamming diversity term; a group's choices are its S best continuations, a </s> that
finishes a hypothesis included, so the groups do not all end the same way). Within a group it is
exactly Hugging Face's beam search (top 2S continuations kept; a hypothesis ending in </s> among
the top S is finished with score sum log p / length; a group stops when no running beam can beat
its worst finished one), so G = 1 reproduces `model.generate(num_beams=S)` (tested).

The diversity term steers the search only: finished hypotheses are ranked by their true
length-normalised log-probability, comparable with plain beam search scores.

Steppers give next-token log-probabilities for N = B x beams hypotheses with a KV cache that is
reordered when beams move; a beam only ever inherits from beams of the same input.
"""
from __future__ import annotations

from typing import Optional, Protocol

import torch
from torch import Tensor
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from codefusion.baselines.networks import left_pad

NEG = -1.0e9  # "impossible" score, as in transformers' beam search


class Stepper(Protocol):
    def __call__(self, beam_idx: Optional[Tensor], tokens: Optional[Tensor]) -> Tensor:
        """beam_idx (N,): the row each hypothesis continues; tokens (N,): its new last token
        (both None at the first step) -> (N, V) float log-probabilities of the next token."""


class Seq2SeqStepper:
    """T5: the encoder runs once; the decoder reads one token a step from <pad> (decoder start)."""

    def __init__(self, model: PreTrainedModel, src_ids: Tensor, src_mask: Tensor, rows: int) -> None:
        enc = model.get_encoder()(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        self.model, self.rows, self.cache = model, rows, None
        self.encoder_outputs = BaseModelOutput(last_hidden_state=enc.repeat_interleave(rows, 0))  # (N, S, D)
        self.mask = src_mask.repeat_interleave(rows, 0)
        self.start = torch.full((self.mask.shape[0], 1), model.config.decoder_start_token_id, device=src_ids.device)

    def __call__(self, beam_idx: Optional[Tensor], tokens: Optional[Tensor]) -> Tensor:
        if tokens is not None:
            self.cache.reorder_cache(beam_idx)  # type: ignore[union-attr]
        out = self.model(encoder_outputs=self.encoder_outputs, attention_mask=self.mask, use_cache=True,
                         decoder_input_ids=self.start if tokens is None else tokens[:, None],
                         past_key_values=self.cache)
        self.cache = out.past_key_values
        return out.logits[:, -1].float().log_softmax(-1)


class CausalStepper:
    """Decoder-only LM: the right-aligned prompt "utterance </s>" first, then one token a step."""

    def __init__(self, model: PreTrainedModel, src_ids: Tensor, src_mask: Tensor, rows: int) -> None:
        ids, mask = left_pad(src_ids, src_mask)
        self.model, self.cache = model, None
        self.ids, self.mask = ids.repeat_interleave(rows, 0), mask.repeat_interleave(rows, 0)  # (N, P)
        self.next_pos = self.mask.long().sum(1)  # (N,) position of the first generated token

    def __call__(self, beam_idx: Optional[Tensor], tokens: Optional[Tensor]) -> Tensor:
        if tokens is None:
            pos = (self.mask.long().cumsum(1) - 1).clamp_min(0)
            out = self.model(input_ids=self.ids, attention_mask=self.mask, position_ids=pos, use_cache=True)
        else:
            self.cache.reorder_cache(beam_idx)  # type: ignore[union-attr]
            self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
            out = self.model(input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.next_pos[:, None],
                             past_key_values=self.cache, use_cache=True)
            self.next_pos = self.next_pos + 1
        self.cache = out.past_key_values
        return out.logits[:, -1].float().log_softmax(-1)


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """x (B, K, ...) rows picked by idx (B, M) -> (B, M, ...)."""
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(*idx.shape, *x.shape[2:]))


@torch.no_grad()
def diverse_beam_search(step: Stepper, batch_size: int, num_beams: int, num_groups: int, diversity_penalty: float,
                        max_new_tokens: int, eos_id: int, pad_id: int,
                        length_penalty: float = 1.0) -> tuple[Tensor, Tensor]:
    """Every group's S = num_beams / num_groups finished hypotheses per input, best first.

    `step` serves N = batch_size x num_beams rows ordered (input, group, beam). Returns tokens
    (B, num_beams, max_new_tokens), padded with `pad_id` after </s>, and scores (B, num_beams):
    sum of token log-probabilities / length ** length_penalty (the length counts the </s>).
    """
    b, g_n, s, n = batch_size, num_groups, num_beams // num_groups, max_new_tokens
    logp = step(None, None)  # (B*G*S, V)
    v, dev = logp.shape[-1], logp.device
    run_tokens = torch.full((b, g_n, s, n), pad_id, dtype=torch.long, device=dev)
    fin_tokens = run_tokens.clone()
    run_sel = torch.full((b, g_n, s), NEG, device=dev)  # running scores the search ranks by (penalised)
    run_sel[..., 0] = 0.0  # the beams of a group start identical: only beam 0 may expand
    run_true = torch.zeros((b, g_n, s), device=dev)  # their true sum of log-probabilities
    fin_sel, fin_true = torch.full((b, g_n, s), NEG, device=dev), torch.full((b, g_n, s), NEG, device=dev)
    fin_done = torch.zeros((b, g_n, s), dtype=torch.bool, device=dev)  # finished slot filled
    open_ = torch.ones((b, g_n), dtype=torch.bool, device=dev)  # group may still improve
    offset = torch.arange(b, device=dev)[:, None] * (g_n * s)
    rows: list[Tensor] = []  # per group (B, S): the row within the input each new beam continues
    for t in range(n):
        if t:
            logp = step((torch.cat(rows, 1) + offset).flatten(), run_tokens[..., t - 1].flatten())
        logp = logp.view(b, g_n, s, v)
        length = float(t + 1) ** length_penalty
        chosen: list[Tensor] = []
        rows = []
        for g in range(g_n):
            lp = logp[:, g]  # (B, S, V)
            sel = lp
            if g and diversity_penalty:  # Hamming diversity against earlier groups' tokens at step t
                used = torch.cat(chosen, 1)  # (B, g*S)
                counts = torch.zeros((b, v), device=dev).scatter_add_(1, used, torch.ones(used.shape, device=dev))
                sel = lp - diversity_penalty * counts[:, None, :]
            top_sel, idx = (run_sel[:, g, :, None] + sel).flatten(1).topk(2 * s, dim=1)  # (B, 2S)
            top_true = (run_true[:, g, :, None] + lp).flatten(1).gather(1, idx)
            src, tok = idx // v, idx % v
            seqs = _take(run_tokens[:, g], src)  # (B, 2S, n)
            seqs[:, :, t] = tok
            ends = (tok == eos_id) | (t == n - 1)
            # Finished: ending candidates among the top S, while the group can still improve.
            add = ends & (torch.arange(2 * s, device=dev) < s) & open_[:, g, None]
            merged = torch.cat([fin_sel[:, g], torch.where(add, top_sel / length, NEG)], 1)
            keep = merged.topk(s, dim=1).indices
            fin_sel[:, g] = merged.gather(1, keep)
            fin_true[:, g] = torch.cat([fin_true[:, g], top_true / length], 1).gather(1, keep)
            fin_done[:, g] = torch.cat([fin_done[:, g], add], 1).gather(1, keep)
            fin_tokens[:, g] = _take(torch.cat([fin_tokens[:, g], seqs], 1), keep)
            # Running: the best S candidates that did not end.
            running = top_sel + NEG * ends
            nxt = running.topk(s, dim=1).indices  # (B, S)
            run_sel[:, g], run_true[:, g] = running.gather(1, nxt), top_true.gather(1, nxt)
            run_tokens[:, g] = _take(seqs, nxt)
            chosen.append(tok[:, :s])  # this group's S best continuations, </s> included
            rows.append(g * s + src.gather(1, nxt))
        # A group stays open while its best running beam could beat its worst finished hypothesis.
        open_ &= ~fin_done.all(-1) | (run_sel[..., 0] / length > fin_sel.min(-1).values)
        if not bool(open_.any()):
            break
    scores, tokens = fin_true.flatten(1), fin_tokens.flatten(1, 2)  # (B, G*S), (B, G*S, n)
    order = scores.argsort(dim=1, descending=True, stable=True)
    return _take(tokens, order), scores.gather(1, order)

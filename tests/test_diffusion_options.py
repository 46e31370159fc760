"""The options that decide whether the chain matters: self-conditioning, timestep sampling,
training on drafts, classifier-free guidance, a fixed embedding norm; and the `codefusion.diagnose` report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY
from conftest import run_generator as generate

import train
from codefusion import diagnose
from codefusion.config import ConfigError, load_config, to_dict
from codefusion.diffusion.timesteps import LossAwareTimesteps, UniformTimesteps, WarpedTimesteps
from codefusion.factory import build_model, build_process
from codefusion.training.system import CodeFusionSystem

VOCAB = 300


def tiny(*overrides: str):
    cfg = load_config([], [*TINY, "model.dropout=0.0", *overrides])
    torch.manual_seed(0)
    model = build_model(cfg, VOCAB).eval()
    for stack in (model.denoiser.stack, model.decoder.stack):  # zero-initialised outputs carry no signal
        torch.nn.init.normal_(stack.proj_out.weight, std=0.2)
    return cfg, model, build_process(cfg)


def src_batch(b: int = 2, s: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(5, VOCAB, (b, s), generator=g)
    mask = torch.ones(b, s, dtype=torch.bool)
    mask[1, 5:] = False
    return src, mask


# ---- timestep sampling ------------------------------------------------------------------------
def test_uniform_timesteps_are_the_original_draws() -> None:
    # The paper's default keeps exactly the draws training made before the samplers existed
    # (torch.randint on the step's generator), so old runs reproduce.
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    t, w = UniformTimesteps(1200).sample(64, generator=g1)
    assert torch.equal(t, torch.randint(0, 1200, (64,), generator=g2)) and torch.equal(w, torch.ones(64))


def test_warped_timesteps_follow_their_density() -> None:
    s = WarpedTimesteps(1000, power=2.0)
    t, w = s.sample(200_000, generator=torch.Generator().manual_seed(0))
    assert 0 <= int(t.min()) and int(t.max()) <= 999 and torch.equal(w, torch.ones_like(w))
    # density ∝ t: mean 2T/3, and the noisiest half is drawn 3x as often as the cleanest half
    assert float(t.float().mean()) == pytest.approx(2 * 1000 / 3, rel=0.01)
    assert float((t >= 500).float().mean()) == pytest.approx(0.75, abs=0.01)
    p = s.probabilities()
    assert float(p.sum()) == pytest.approx(1.0) and float(p[999] / p[10]) > 50


def test_loss_aware_timesteps_importance_sample_and_stay_unbiased() -> None:
    s = LossAwareTimesteps(10, history=3, uniform_prob=0.0)
    assert torch.allclose(s.probabilities(), torch.full((10,), 0.1, dtype=torch.float64))  # uniform until warm
    for _ in range(3):
        s.update(torch.arange(10), torch.tensor([1.0] * 9 + [9.0]))
    s.update(torch.tensor([0]), torch.tensor([float("nan")]))  # ignored
    assert s.warmed_up()
    p = s.probabilities()
    assert float(p[9] / p[0]) == pytest.approx(9.0)
    t, w = s.sample(50_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(w, (1.0 / (10 * p[t])).float())
    losses = torch.tensor([1.0] * 9 + [9.0])[t]
    assert float((w * losses).mean()) == pytest.approx(float(torch.tensor([1.0] * 9 + [9.0]).mean()), rel=0.02)
    clone = LossAwareTimesteps(10, history=3)
    clone.load_state_dict(s.state_dict())
    assert torch.equal(clone.losses, s.losses) and torch.equal(clone.counts, s.counts)


# ---- self-conditioning --------------------------------------------------------------------------
def test_self_conditioned_denoiser_reads_the_previous_estimate() -> None:
    cfg, model, _ = tiny("model.self_condition=true")
    src, mask = src_batch()
    e_s = model.encode(src, mask)
    x_t, t = torch.randn(2, cfg.data.max_code_len, cfg.model.embed_dim), torch.tensor([10, 90])
    base = model.denoiser(x_t, t, e_s, mask)
    assert torch.equal(base, model.denoiser(x_t, t, e_s, mask, self_cond=torch.zeros_like(x_t)))  # None reads zeros
    assert not torch.allclose(base, model.denoiser(x_t, t, e_s, mask, self_cond=torch.randn_like(x_t)))
    _, plain, _ = tiny()
    with pytest.raises(ValueError, match="without self-conditioning"):
        plain.denoiser(x_t, t, e_s, mask, self_cond=x_t)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver++"])
def test_every_sampler_passes_the_previous_x0_to_the_next_step(sampler: str, monkeypatch) -> None:
    cfg, model, process = tiny("model.self_condition=true", "diffusion.parameterization=x0")
    seen: list = []
    forward = model.denoiser.forward

    def spy(x_t, t, e_s, mask, kv=None, self_cond=None):
        out = forward(x_t, t, e_s, mask, kv=kv, self_cond=self_cond)
        seen.append((None if self_cond is None else self_cond.clone(), out.clone()))
        return out

    monkeypatch.setattr(model.denoiser, "forward", spy)
    src, mask = src_batch()
    generate(model, process, src, mask, cfg.data.max_code_len, 2, num_candidates=2, steps=4, sampler=sampler,
             noise_keys=[0, 1])
    assert len(seen) == 4 and seen[0][0] is None  # the first step reads zeros
    for (_, previous_out), (self_cond, _) in zip(seen, seen[1:]):
        torch.testing.assert_close(self_cond, previous_out)  # x0-prediction: x̂0 is the output


def test_self_conditioned_sampling_is_batch_invariant() -> None:
    cfg, model, process = tiny("model.self_condition=true")
    src, mask = src_batch()
    common = dict(max_code_len=cfg.data.max_code_len, eos_id=2, steps=5, seed=3)
    both = generate(model, process, src, mask, num_candidates=2, noise_keys=[4, 5], **common)
    for i in range(2):
        n = int(mask[i].sum())
        alone = generate(model, process, src[i:i + 1, :n], mask[i:i + 1, :n], num_candidates=2, noise_keys=[4 + i], **common)
        assert torch.equal(alone.tokens[0], both.tokens[i])


def test_self_condition_training_pass_uses_its_share_of_rows() -> None:
    cfg = load_config([], [*TINY, "model.self_condition=true", "train.self_cond_prob=1.0"])
    system = CodeFusionSystem(to_dict(cfg), VOCAB)
    calls: list[int] = []
    forward = system.model.denoiser.forward
    system.model.denoiser.forward = lambda x_t, *a, **k: calls.append(x_t.shape[0]) or forward(x_t, *a, **k)  # type: ignore[method-assign]
    src, mask = src_batch(4)
    batch = {"src_ids": src, "src_mask": torch.ones_like(mask), "code_ids": torch.randint(0, VOCAB, (4, 24)),
             "code_mask": torch.ones(4, 24, dtype=torch.bool)}
    terms = system.loss_terms(batch, generator=torch.Generator().manual_seed(0))
    assert calls == [4, 4]  # p = 1: a no-grad pass over every row, then the real one
    assert set(terms) >= {"diffusion", "decoder", "ce", "embed_norm", "t", "weight"}
    system.cfg.train.self_cond_prob = 0.0
    calls.clear()
    system.loss_terms(batch)
    assert calls == [4]  # p = 0: no first pass at all


# ---- training on drafts -------------------------------------------------------------------------
def _batch(b: int = 4) -> dict[str, torch.Tensor]:
    src, mask = src_batch(b)
    g = torch.Generator().manual_seed(3)
    return {"src_ids": src, "src_mask": mask, "code_ids": torch.randint(0, VOCAB, (b, 24), generator=g),
            "code_mask": torch.ones(b, 24, dtype=torch.bool)}


@pytest.mark.parametrize("parameterization", ["x0", "eps"])
def test_draft_rows_are_noised_from_the_one_call_estimate_with_l_y_the_target(parameterization: str, monkeypatch) -> None:
    cfg = load_config([], [*TINY, "model.dropout=0.0", "train.draft_prob=1.0", f"diffusion.parameterization={parameterization}"])
    system = CodeFusionSystem(to_dict(cfg), VOCAB)
    torch.nn.init.normal_(system.model.denoiser.stack.proj_out.weight, std=0.2)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    forward = system.model.denoiser.forward
    monkeypatch.setattr(system.model.denoiser, "forward",
                        lambda x_t, t, *a, **k: calls.append((x_t, t)) or forward(x_t, t, *a, **k))
    seen: dict[str, torch.Tensor] = {}
    q_sample = system.process.q_sample
    monkeypatch.setattr(system.process, "q_sample", lambda x0, t, eps: seen.update(x_in=x0, eps=eps) or q_sample(x0, t, eps))
    batch = _batch()
    terms = system.loss_terms(batch, generator=torch.Generator().manual_seed(0))
    (draft_in, draft_t), (x_t, t) = calls  # p = 1: a no-grad pass from pure noise at T-1 on every row, then the real one
    assert bool((draft_t == cfg.diffusion.num_timesteps - 1).all())
    e_s = system.model.encode(batch["src_ids"], batch["src_mask"])
    with torch.no_grad():
        draft = system.process.pred_x0(forward(draft_in, draft_t, e_s, batch["src_mask"]), draft_in, draft_t)
    x0 = system.model.embed(batch["code_ids"])
    assert torch.allclose(seen["x_in"], draft, atol=1e-6) and not torch.allclose(seen["x_in"], x0, atol=1e-2)
    assert torch.allclose(x_t, system.process.q_sample(draft, t, seen["eps"]), atol=1e-6)
    # the target recovers L(y), not the draft: a perfect x0-predictor outputs L(y); a perfect
    # eps-predictor outputs the eps that maps x_t back to L(y)
    perfect = x0 if parameterization == "x0" else system.process.eps_from_pred_x0(x_t, t, x0)
    assert torch.allclose(system.process.pred_x0(perfect, x_t, t), x0, atol=1e-2)  # float32 at t ~ T: 1/sqrt(ᾱ) ~ 1,600
    assert float(terms["diffusion"].detach().mean()) > 0


def test_draft_prob_zero_keeps_the_old_draws_and_its_share_is_per_row() -> None:
    system = CodeFusionSystem(to_dict(load_config([], [*TINY])), VOCAB)
    torch.manual_seed(0)
    drafting = CodeFusionSystem(to_dict(load_config([], [*TINY, "train.draft_prob=0.0"])), VOCAB)
    drafting.load_state_dict(system.state_dict())
    a = system.loss_terms(_batch(), generator=torch.Generator().manual_seed(0))
    b = drafting.loss_terms(_batch(), generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a[k], b[k]) for k in ("diffusion", "decoder", "ce", "t"))
    x0, context = torch.randn(64, 5, drafting.cfg.model.embed_dim), torch.randn(64, 7, drafting.cfg.model.encoder_d_model)
    drafting.cfg.train.draft_prob = 0.5
    out = drafting._drafts(x0, context, torch.ones(64, 7, dtype=torch.bool), torch.Generator().manual_seed(0))
    kept = (out == x0).all(-1).all(-1)
    assert 15 < int((~kept).sum()) < 49  # about half the rows are drafts


def test_draft_prob_is_validated() -> None:
    with pytest.raises(ConfigError, match="train.draft_prob"):
        load_config([], [*TINY, "train.draft_prob=1.5"])


# ---- classifier-free guidance -------------------------------------------------------------------
def test_guidance_extrapolates_from_the_null_context() -> None:
    cfg, model, process = tiny("train.cond_dropout=0.2", "diffusion.parameterization=x0")
    with torch.no_grad():
        model.denoiser.null.normal_()
    src, mask = src_batch()
    n, d = cfg.data.max_code_len, cfg.model.embed_dim
    common = dict(max_code_len=n, eos_id=2, steps=1, noise_keys=[0, 1], seed=0, record_every=1, keep_tensors=True)
    plain = generate(model, process, src, mask, **common)
    guided = generate(model, process, src, mask, guidance=3.0, **common)
    # One step from x_T: the output is x̂0 itself, u + w (c - u).
    from codefusion.diffusion import RowNoise
    from codefusion.diffusion.noise import randn

    x_T = randn((2, n, d), RowNoise([(0, 0), (1, 0)], 0))
    t = torch.full((2,), process.num_timesteps - 1)
    with torch.no_grad():
        e_s = model.encode(src, mask)
        c = model.denoiser(x_T, t, e_s, mask)
        null, null_mask = model.denoiser.null_context_like(e_s)
        u = model.denoiser(x_T, t, null, null_mask)
    torch.testing.assert_close(plain.trajectory[-1].pred_x0[:, 0], c)
    torch.testing.assert_close(guided.trajectory[-1].pred_x0[:, 0], u + 3.0 * (c - u))


def test_trajectory_records_the_chain_state_the_next_step_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each point's `state_tokens` decode x_t itself: the state the denoiser reads at the next step
    (and, at the last step, the output); `tokens` decode that step's x̂0. Recording changes nothing."""
    cfg, model, process = tiny("diffusion.parameterization=x0")
    src, mask = src_batch()
    common = dict(max_code_len=cfg.data.max_code_len, eos_id=2, steps=4, sampler="ddpm", noise_keys=[0, 1], seed=3)
    inputs, decoded = [], []
    denoise, decode = model.denoiser.forward, model.decode
    monkeypatch.setattr(model.denoiser, "forward", lambda x_t, *a, **k: inputs.append(x_t.clone()) or denoise(x_t, *a, **k))
    monkeypatch.setattr(model, "decode", lambda x, *a, **k: decoded.append(x.clone()) or decode(x, *a, **k))
    gen = generate(model, process, src, mask, record_every=1, keep_tensors=True, **common)
    assert [p.step for p in gen.trajectory] == [1, 2, 3, 4] and len(inputs) == 4
    # Per step 1..3 the generator decodes x̂0 then the state; then the output once.
    assert len(decoded) == 2 * 3 + 1
    for step in range(3):
        torch.testing.assert_close(decoded[2 * step + 1], inputs[step + 1], rtol=0, atol=0)
        expect = decode(inputs[step + 1], model.encode(src, mask), mask)[1].argmax(-1)  # one candidate: no ranking
        assert torch.equal(gen.trajectory[step].state_tokens[:, 0], expect)
    assert torch.equal(gen.trajectory[-1].state_tokens, gen.tokens)
    # The state at the first step is mostly noise: x_t is far from x̂0 there.
    assert (decoded[1] - decoded[0]).norm() > 0.5 * decoded[1].norm()
    monkeypatch.undo()
    plain = generate(model, process, src, mask, **common)
    assert torch.equal(plain.tokens, gen.tokens) and torch.equal(plain.score, gen.score)


def test_guidance_needs_a_null_context() -> None:
    cfg, model, process = tiny()
    src, mask = src_batch()
    assert model.denoiser.null is None
    with pytest.raises(RuntimeError, match="cond_dropout"):
        generate(model, process, src, mask, cfg.data.max_code_len, 2, steps=2, guidance=2.0)
    with pytest.raises(ConfigError, match="eval.guidance"):
        load_config([], [*TINY, "eval.guidance=2.0"])


def test_cond_dropout_replaces_the_denoiser_context_only() -> None:
    cfg = load_config([], [*TINY, "train.cond_dropout=0.5"])
    system = CodeFusionSystem(to_dict(cfg), VOCAB)
    e_s = torch.randn(64, 7, cfg.model.encoder_d_model)
    mask = torch.zeros(64, 7, dtype=torch.bool)
    mask[:, :3] = True
    context, context_mask = system._denoiser_context(e_s, mask, torch.Generator().manual_seed(0))
    dropped = (context != e_s).any(-1).any(-1)
    assert 15 < int(dropped.sum()) < 49  # about half
    assert torch.equal(context[dropped], system.model.denoiser.null.expand(int(dropped.sum()), 7, -1))
    assert bool(context_mask[dropped].all()) and torch.equal(context_mask[~dropped], mask[~dropped])


# ---- embedding norm -----------------------------------------------------------------------------
def test_fixed_embedding_norm_holds_for_every_token_and_the_tied_head() -> None:
    cfg, model, _ = tiny("model.embed_norm=2.5")
    y = torch.randint(0, VOCAB, (3, 24))
    x0 = model.embed(y)
    torch.testing.assert_close(x0.norm(dim=-1), torch.full((3, 24), 2.5))
    src, mask = src_batch(3)
    d_s, logits = model.decode(x0, model.encode(src, mask), mask)
    torch.testing.assert_close(logits, d_s @ model.embedding_table().T)
    with pytest.raises(ConfigError, match="embed_norm"):
        load_config([], [*TINY, "model.embed_norm=0"])


# ---- source positions ---------------------------------------------------------------------------
def test_context_positions_are_added_to_e_s_and_learned() -> None:
    cfg, model, _ = tiny("model.context_positions=true", "data.max_nl_len=9")
    _, plain, _ = tiny()
    assert plain.context_pos is None  # the paper's default: E_s is the encoder's output
    assert tuple(model.context_pos.shape) == (9, cfg.model.encoder_d_model)
    src, mask = src_batch(2, 7)
    raw = model.encoder(input_ids=src, attention_mask=mask.long()).last_hidden_state
    torch.testing.assert_close(model.encode(src, mask), raw + model.context_pos[:7])
    # the same token at two source positions reaches the cross-attention as two different vectors
    same = torch.full((1, 7), 11)
    e_s = model.encode(same, torch.ones(1, 7, dtype=torch.bool))
    assert float((e_s[0, 2] - e_s[0, 5]).norm()) > 0.1
    with pytest.raises(ValueError, match="max_nl_len"):
        model.encode(torch.full((1, 10), 11), torch.ones(1, 10, dtype=torch.bool))
    system = CodeFusionSystem(to_dict(cfg), vocab_size=VOCAB)  # the training loss reaches the table
    torch.nn.init.normal_(system.model.decoder.stack.proj_out.weight, std=0.2)  # zero-initialised: no gradient yet
    system.total(system.loss_terms(_batch())).mean().backward()
    assert float(system.model.context_pos.grad.abs().sum()) > 0


# ---- configs ------------------------------------------------------------------------------------
def test_paper_choices_overlay_restores_the_paper() -> None:
    for base in ("quickstart.yaml", "python.yaml", "bash.yaml", "cf.yaml", "pretrain_cf.yaml"):
        cfg = load_config([str(ROOT / "configs" / base), str(ROOT / "configs" / "ablations" / "paper_choices.yaml")])
        assert cfg.diffusion.parameterization == "eps" and cfg.diffusion.t_sampling == "uniform"
        assert not cfg.model.self_condition and cfg.model.embed_norm is None and not cfg.model.context_positions
        assert cfg.train.cond_dropout == 0.0 and cfg.train.draft_prob == 0.0 and cfg.eval.guidance == 1.0


# ---- the diagnostic -----------------------------------------------------------------------------
@pytest.fixture
def sc_ckpt(tiny: list[str], tmp_path: Path) -> Path:
    args = ["configs/quickstart.yaml", *tiny, "model.self_condition=true", "train.cond_dropout=0.2",
            "diffusion.t_sampling=loss_aware", "model.embed_norm=4.0", "diffusion.parameterization=x0"]
    assert train.main(args) == 0
    return tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_diagnose_reports_every_probe(sc_ckpt: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "diag.json"
    args = [f"ckpt={sc_ckpt}", "limit=6", "batch_size=4", "num_candidates=3", "steps=5", f"out={out}"]
    assert diagnose.main(args) == 0
    text = capsys.readouterr().out
    assert "chain - one call" in text and "true L(y)" in text
    r = json.loads(out.read_text())
    assert r["inputs"] == 6 and r["num_candidates"] == 3 and r["steps"] == 5
    em = r["exact_match"]
    assert {"chain", "chain_top3", "one_call", "noise", "zeros", "truth", "grounding"} <= set(em)
    assert len([k for k in em if k.startswith("q_sample_t")]) == len(r["q_sample_t"]) > 3
    assert all(0.0 <= v <= 1.0 for v in em.values()) and em["chain_top3"] >= em["chain"]
    assert set(r["execution_match"]) == set(em)  # synthetic CF rows carry tables
    # Does the denoiser read x_t? Per-token accuracy of its x̂0 against x_t itself, snapped: at
    # t = T-1 x_t is pure noise (chance), at the smallest t it still says which token is where.
    acc = r["q_sample_token_accuracy"]
    assert set(acc) == {"x_t", "denoiser"} and all(set(a) == {str(t) for t in r["q_sample_t"]} for a in acc.values())
    assert all(0.0 <= v <= 1.0 for a in acc.values() for v in a.values())
    first, last = str(r["q_sample_t"][0]), str(r["q_sample_t"][-1])
    assert acc["x_t"][first] > 0.5 > 0.1 > acc["x_t"][last]
    assert "the denoiser's x̂0 / x_t itself" in text
    fracs = {"0.1", "0.25", "0.5", "1"}
    assert set(r["trajectory_edit_distance"]) == fracs
    for key in ("trajectory_to_final", "trajectory_settled", "trajectory_exact_match", "trajectory_execution_match"):
        assert set(r[key]) == fracs and all(0.0 <= v <= 1.0 for v in r[key].values())
    # At 100% of the steps each candidate is its own final program, and its mean exact match over
    # the k candidates cannot exceed the oracle top-k's.
    assert r["trajectory_to_final"]["1"] == 0.0 and r["trajectory_settled"]["1"] == 1.0
    assert r["trajectory_exact_match"]["1"] <= em["chain_top3"]
    assert "already the final program" in text
    # The chain's state x_t, decoded: at the last step it is the output, so it matches x̂0's
    # figures there (a model this small writes nothing right at any step).
    for key in ("trajectory_x_t_edit_distance", "trajectory_x_t_to_final", "trajectory_x_t_settled", "trajectory_x_t_exact_match",
                "trajectory_x_t_execution_match"):
        assert set(r[key]) == fracs and all(0.0 <= v <= 1.0 for v in r[key].values())
    assert r["trajectory_x_t_to_final"]["1"] == 0.0 and r["trajectory_x_t_settled"]["1"] == 1.0
    assert r["trajectory_x_t_edit_distance"]["1"] == pytest.approx(r["trajectory_edit_distance"]["1"])
    assert r["trajectory_x_t_exact_match"]["1"] == r["trajectory_exact_match"]["1"]
    assert "the chain's state x_t, decoded" in text
    assert 0.0 <= r["diversity"]["identical"] <= 1.0 and 0.0 <= r["diversity"]["edit_distance"] <= 1.0
    # Same seed, other batch size: the same report (per-(input, candidate) noise streams).
    again = tmp_path / "again.json"
    assert diagnose.main([*args[:-1], "batch_size=6", f"out={again}"]) == 0
    assert json.loads(again.read_text())["exact_match"] == em
    # The loss-aware sampler's state travels in the checkpoint (exact resume).
    assert torch.load(sc_ckpt, weights_only=True)["t_sampler"]["counts"].sum() > 0


def test_diagnose_counts_skipped_rows(sc_ckpt: Path, tmp_path: Path, capsys) -> None:
    rows = [{"nl": "highlight cells greater than 4", "code": "GreaterThan(4)"}, {"nl": "x", "code": ""},
            {"nl": "color cells below 7", "code": "LessThan(7)"}]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert diagnose.main([f"ckpt={sc_ckpt}", f"input={data}", "num_candidates=2", "steps=3"]) == 0
    assert "3 rows, 2 kept; malformed skipped: 1" in capsys.readouterr().err


def test_diagnose_per_source(sc_ckpt: Path, tmp_path: Path, capsys) -> None:
    table = [["Index", "Value"], ["0", "5"], ["1", "2"], ["2", "9"]]
    rows = [{"nl": "highlight cells greater than 4", "code": "GreaterThan(4)", "table": table, "source": "cornet"},
            {"nl": "color cells below 7", "code": "LessThan(7)", "table": table, "source": "nltocf"},
            {"nl": "cells between 2 and 6", "code": "Between(2, 6)", "table": table, "source": "cornet"},
            {"nl": "cells equal to 9", "code": "Equal(9)", "table": table}]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "diag.json"
    assert diagnose.main([f"ckpt={sc_ckpt}", f"input={data}", "num_candidates=2", "steps=3", f"out={out}"]) == 0
    text = capsys.readouterr().out
    r = json.loads(out.read_text())
    groups = r["by_source"]
    assert list(groups) == ["cornet", "nltocf", "unlabelled"] and [g["inputs"] for g in groups.values()] == [2, 1, 1]
    for key in ("exact_match", "execution_match"):  # every decoding, and the sources weigh up to the whole
        assert all(set(g[key]) == set(r[key]) for g in groups.values())
        for decoding, whole in r[key].items():
            assert sum(g["inputs"] * g[key][decoding] for g in groups.values()) / 4 == pytest.approx(whole)
    assert sum(g["inputs"] * g["diversity"]["identical"] for g in groups.values()) / 4 == pytest.approx(r["diversity"]["identical"])
    for frac, whole in r["trajectory_edit_distance"].items():  # k candidates per input: input means weigh up too
        assert sum(g["inputs"] * g["trajectory_edit_distance"][frac] for g in groups.values()) / 4 == pytest.approx(whole)
    for frac, whole in r["trajectory_x_t_edit_distance"].items():
        assert sum(g["inputs"] * g["trajectory_x_t_edit_distance"][frac] for g in groups.values()) / 4 == pytest.approx(whole)
    assert "source cornet (2 inputs), exact / execution: chain" in text
    assert "trajectory edit distance to the reference " in text.split("source cornet")[1].splitlines()[0]
    # One source only: no breakdown.
    data.write_text("".join(json.dumps({**row, "source": "cornet"}) + "\n" for row in rows))
    assert diagnose.main([f"ckpt={sc_ckpt}", f"input={data}", "num_candidates=2", "steps=3", f"out={out}"]) == 0
    assert "by_source" not in json.loads(out.read_text()) and "source cornet" not in capsys.readouterr().out


@pytest.mark.parametrize("arg, needle", [
    ("limit=-1", "limit"), ("bogus=1", "bogus"), ("steps=100000", "steps"), ("input=/nonexistent.jsonl", "not found"),
    ("num_candidates=0", "num_candidates"),
])
def test_diagnose_errors_are_one_line(arg: str, needle: str, sc_ckpt: Path, capsys) -> None:
    assert diagnose.main([f"ckpt={sc_ckpt}", arg]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err


def test_sample_py_guidance(sc_ckpt: Path, tmp_path: Path, capsys) -> None:
    import sample

    out = tmp_path / "g.jsonl"
    args = [f"ckpt={sc_ckpt}", "text=highlight cells greater than 4", "steps=3", "num_candidates=2"]
    assert sample.main([*args, "guidance=2.5", f"out={out}"]) == 0
    assert "guidance 2.5" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["candidates"]) == 2
    assert sample.main([*args, "guidance=-1"]) == 2
    assert "guidance" in capsys.readouterr().err


def test_sample_py_guidance_needs_a_null_context(tiny: list[str], tmp_path: Path, capsys) -> None:
    import sample

    assert train.main(["configs/quickstart.yaml", *tiny]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert sample.main([f"ckpt={ckpt}", "text=highlight cells", "steps=2", "guidance=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cond_dropout" in err and "\n" not in err


def test_grounding_and_clamping_use_the_rescaled_table() -> None:
    from codefusion.networks.codefusion import nearest_tokens

    cfg, model, process = tiny("model.embed_norm=0.5", "diffusion.parameterization=x0")
    with torch.no_grad():  # rows of very different raw norms: raw and rescaled nearest neighbours differ
        model.embedding.weight.mul_(torch.linspace(0.1, 10, VOCAB)[:, None])
    src, mask = src_batch()
    common = dict(max_code_len=cfg.data.max_code_len, eos_id=2, steps=3, noise_keys=[0, 1], record_every=1, keep_tensors=True)
    out = generate(model, process, src, mask, decode="grounding", **common)
    final = out.trajectory[-1].pred_x0[:, 0]
    assert torch.equal(out.tokens[:, 0], nearest_tokens(final, model.embedding_table()))
    clamped = generate(model, process, src, mask, clamp_from=1, **common)
    x0 = clamped.trajectory[-1].pred_x0[:, 0]  # snapped: every position is a row of the rescaled table
    torch.testing.assert_close(x0.norm(dim=-1), torch.full(x0.shape[:2], 0.5))

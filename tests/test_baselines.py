"""Autoregressive baselines: trained through train.py, decoded by beam search, sampling and
diverse beam search, rebuilt from a checkpoint alone, scored by the project's evaluation."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY
from conftest import load_baseline_ckpt as load_baseline_for_generation
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import train
from codefusion import evaluate
from codefusion.baselines.diverse_beam import CausalStepper, Seq2SeqStepper, diverse_beam_search
from codefusion.baselines.generation import decoding_options, generate_baseline
from codefusion.baselines.networks import count_parameters
from codefusion.baselines.system import BaselineSystem
from codefusion.checkpoint import CheckpointError, load_checkpoint
from codefusion.config import Config, ConfigError, load_config, to_dict
from codefusion.factory import build_baseline, build_model
from codefusion.generation import decode_code
from codefusion.generation.options import GenerateOptions
from codefusion.networks.codefusion import parameter_report
from codefusion.systems import load_generator

QS = "configs/quickstart.yaml"
ARCHS = ("seq2seq", "causal_lm")
TINY_BASELINE = ["baseline.d_model=32", "baseline.layers=2", "baseline.heads=2", "baseline.d_ff=64",
                 "baseline.d_kv=16", "baseline.dropout=0.0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """One tiny run per architecture through train.py (held-out predictions included): run
    directory and what it printed."""
    out = {}
    for arch in ARCHS:
        d = tmp_path_factory.mktemp(arch)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = train.main([QS, *TINY, *TINY_BASELINE, f"system={arch}", "eval.split=test",
                               "eval.num_examples=0", "eval.precision=32", "optim.lr=3e-3", f"train.run_dir={d / 'run'}",
                               f"data.cache_dir={d / 'cache'}"])
        assert code == 0, printed.getvalue()[-2000:]
        out[arch] = (d / "run", printed.getvalue())
    return out


@pytest.fixture(scope="module")
def loaded(runs: dict[str, tuple[Path, str]]) -> dict[str, tuple[Config, PreTrainedModel, PreTrainedTokenizerBase]]:
    return {arch: load_baseline_for_generation(str(run / "checkpoints" / "last.ckpt"))
            for arch, (run, _) in runs.items()}


def utterances(tok: PreTrainedTokenizerBase, texts: list[str], max_len: int = 32) -> tuple[Tensor, Tensor]:
    """What the data module builds: utterance tokens + </s>, right-padded. (B, S) ids and mask."""
    enc = [tok(t, add_special_tokens=False).input_ids[: max_len - 1] + [tok.eos_token_id] for t in texts]
    width = max(map(len, enc))
    ids = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
    return ids, ids != tok.pad_token_id


TEXTS = ["highlight cells greater than 42", "color blank cells", "format cells that contain Apple and end with x"]


def teacher_forced_scores(cfg: Config, model: PreTrainedModel, tok: PreTrainedTokenizerBase, src: Tensor,
                          mask: Tensor, tokens: Tensor) -> Tensor:
    """Mean token log-probability of each candidate (B, k, n) up to its first </s>, computed by
    the training-time forward of BaselineSystem (so generation and training layouts must agree)."""
    system = BaselineSystem(to_dict(cfg), len(tok), tok.pad_token_id, tok.eos_token_id)
    system.model.load_state_dict(model.state_dict())
    b, k, n = tokens.shape
    code = tokens.reshape(b * k, n)
    is_eos = (code == tok.eos_token_id).long()
    code_mask = (is_eos.cumsum(1) - is_eos) == 0
    batch = {"src_ids": src.repeat_interleave(k, 0), "src_mask": mask.repeat_interleave(k, 0),
             "code_ids": code, "code_mask": code_mask}
    with torch.no_grad():
        logits, y, m = system.eval().code_logits(batch)
    logp = logits.float().log_softmax(-1).gather(-1, y[..., None]).squeeze(-1)
    return ((logp * m).sum(1) / m.sum(1)).view(b, k)


# ---- training through train.py --------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_train_py_trains_a_baseline_and_writes_predictions(arch: str, runs, tmp_path: Path) -> None:
    run, out = runs[arch]
    assert f"parameters: {arch}" in out and "beam search, 5 beams, EMA weights" in out
    assert "exact match on 16 held-out test examples" in out
    metrics = list(csv.DictReader(open(run / "logs" / "version_0" / "metrics.csv")))
    assert {"train/loss", "val/loss", "val/token_acc", "val/decoded_exact_match"} <= set(metrics[0])
    losses = [float(r["train/loss"]) for r in metrics if r.get("train/loss")]
    assert losses[-1] < losses[0]  # it trains
    # The checkpoint carries what CodeFusion checkpoints carry: plain data, config, EMA, tokenizer.
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["config"]["system"] == arch and (hp["pad_id"], hp["eos_id"]) == (0, 2)
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["codefusion"]["tokenizer_json"]
    state = {k.removeprefix("model.") for k in ckpt["state_dict"]}
    assert set(ckpt["ema"]["weights"]) <= state and len(ckpt["ema"]["weights"]) > 10
    # Predictions: sample.py's schema, k = 5 candidates best first, readable by codefusion.evaluate.
    preds = [json.loads(line) for line in open(run / "predictions_test.jsonl")]
    assert len(preds) == 16 and all("table" in p and len(p["candidates"]) == 5 for p in preds)
    for p in preds:
        scores = [c["score"] for c in p["candidates"]]
        assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert evaluate.main([f"predictions={run / 'predictions_test.jsonl'}", "encoder=none",
                          f"out={tmp_path / 'm.json'}"]) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert (report["language"], report["inputs"], report["candidates"]) == ("cf", 16, 80)


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_alone_reproduces_the_run_predictions(arch: str, runs, loaded) -> None:
    run, _ = runs[arch]
    cfg, model, tok = loaded[arch]
    assert cfg.system != "codefusion" and not model.training
    preds = [json.loads(line) for line in open(run / "predictions_test.jsonl")]
    src, mask = utterances(tok, [p["nl"] for p in preds])
    out = generate_baseline(model, arch, src, mask, **decoding_options(cfg), eos_id=tok.eos_token_id,
                            pad_id=tok.pad_token_id)
    for i, p in enumerate(preds):
        assert [decode_code(tok, out.tokens[i, j].tolist()) for j in range(5)] == [c["code"] for c in p["candidates"]]
        torch.testing.assert_close(out.score[i], torch.tensor([c["score"] for c in p["candidates"]]))
    # weights=raw: the trained weights, not their average.
    _, raw, _ = load_baseline_for_generation(str(run / "checkpoints" / "last.ckpt"), weights="raw")
    ema, trained = dict(model.named_parameters()), dict(raw.named_parameters())
    assert any(not torch.equal(ema[k], trained[k]) for k in ema)


# ---- decoding -------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_gives_distinct_candidates_ranked_by_their_log_probability(arch: str, loaded) -> None:
    cfg, model, tok = loaded[arch]
    src, mask = utterances(tok, TEXTS)
    out = generate_baseline(model, arch, src, mask, num_candidates=5, num_beams=5, max_new_tokens=12,
                            eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    assert out.tokens.shape == (3, 5, 12) and out.score.shape == (3, 5)
    for i in range(3):
        assert len({tuple(t.tolist()) for t in out.tokens[i]}) == 5
    assert bool((out.score[:, :-1] >= out.score[:, 1:]).all())
    torch.testing.assert_close(out.score, teacher_forced_scores(cfg, model, tok, src, mask, out.tokens),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_own_beam_search_with_one_group_is_transformers_beam_search(arch: str, loaded) -> None:
    cfg, model, tok = loaded[arch]
    src, mask = utterances(tok, TEXTS)
    ref = generate_baseline(model, arch, src, mask, num_candidates=4, num_beams=4, max_new_tokens=10,
                            eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    stepper = (Seq2SeqStepper if arch == "seq2seq" else CausalStepper)(model, src, mask, 4)
    tokens, score = diverse_beam_search(stepper, 3, 4, 1, 0.0, 10, tok.eos_token_id, tok.pad_token_id)
    assert torch.equal(tokens, ref.tokens)
    torch.testing.assert_close(score, ref.score, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_diverse_beam_search_differs_from_beam_search_and_ranks_by_true_score(arch: str, loaded) -> None:
    cfg, model, tok = loaded[arch]
    src, mask = utterances(tok, TEXTS)
    common = dict(num_candidates=4, num_beams=4, max_new_tokens=10, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    plain = generate_baseline(model, arch, src, mask, **common)
    diverse = generate_baseline(model, arch, src, mask, num_beam_groups=4, diversity_penalty=10.0, **common)
    assert diverse.tokens.shape == plain.tokens.shape
    assert not torch.equal(diverse.tokens, plain.tokens)
    assert bool((diverse.score[:, :-1] >= diverse.score[:, 1:]).all())
    # Scores are the candidates' own mean log-probabilities, not the penalised search scores.
    torch.testing.assert_close(diverse.score, teacher_forced_scores(cfg, model, tok, src, mask, diverse.tokens),
                               atol=1e-4, rtol=0)


class MarkovStepper:
    """A toy LM over tokens {0 pad, 1, 2 </s>, 3, 4} whose next-token law depends on the last token only."""

    P = {None: [0.0, 0.02, 0.03, 0.9, 0.05], 3: [0.0, 0.5, 0.2, 0.3, 0.0], 1: [0.0, 0.05, 0.9, 0.05, 0.0],
         4: [0.0, 0.05, 0.9, 0.05, 0.0], 2: [0.0, 0.25, 0.25, 0.25, 0.25]}

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def __call__(self, beam_idx: Tensor | None, tokens: Tensor | None) -> Tensor:
        laws = [self.P[None]] * self.rows if tokens is None else [self.P[int(t)] for t in tokens]
        return torch.tensor(laws).clamp_min(1e-12).log()


def test_diverse_beam_search_on_a_known_chain() -> None:
    # Plain beam search (1 group of 2): every hypothesis starts with the likely token 3.
    tokens, _ = diverse_beam_search(MarkovStepper(2), 1, 2, 1, 0.0, 4, eos_id=2, pad_id=0)
    assert tokens[0, :, 0].tolist() == [3, 3]
    # Two groups of one beam: group 1 is penalised for group 0's 3 and opens with 4, then stops.
    tokens, score = diverse_beam_search(MarkovStepper(2), 1, 2, 2, 5.0, 4, eos_id=2, pad_id=0)
    assert [t.tolist() for t in tokens[0]] == [[3, 1, 2, 0], [4, 2, 0, 0]]
    # Ranked by the true length-normalised log-probability, the penalty left out.
    expected = [(math.log(0.9) + math.log(0.5) + math.log(0.9)) / 3, (math.log(0.05) + math.log(0.9)) / 2]
    torch.testing.assert_close(score[0], torch.tensor(expected))


@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_is_deterministic_per_seed_and_leaves_the_global_rng(arch: str, loaded) -> None:
    cfg, model, tok = loaded[arch]
    src, mask = utterances(tok, TEXTS)
    opts = dict(num_candidates=6, do_sample=True, temperature=1.3, top_p=0.95, max_new_tokens=10,
                eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    state = torch.get_rng_state()
    a, b = (generate_baseline(model, arch, src, mask, seed=1, **opts) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.score, b.score)
    c = generate_baseline(model, arch, src, mask, seed=2, **opts)
    assert not torch.equal(a.tokens, c.tokens)
    assert bool((a.score[:, :-1] >= a.score[:, 1:]).all())
    # The score is the model's own (untempered) mean log-probability of the sample.
    torch.testing.assert_close(a.score, teacher_forced_scores(cfg, model, tok, src, mask, a.tokens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_resume_is_exact_and_init_from_loads_a_baseline(arch: str, tmp_path: Path, capsys) -> None:
    common = [QS, *TINY, *TINY_BASELINE, "baseline.dropout=0.1", f"system={arch}", "optim.decay=constant",
              "train.checkpoint_every_n_steps=100", f"data.cache_dir={tmp_path / 'cache'}"]
    assert train.main([*common, "train.max_steps=10", f"train.run_dir={tmp_path / 'a'}"]) == 0
    assert train.main([*common, "train.max_steps=5", f"train.run_dir={tmp_path / 'b'}"]) == 0
    last = tmp_path / "b" / "checkpoints" / "last.ckpt"
    resume = [f"train.run_dir={tmp_path / 'b'}", f"train.ckpt_path={last}"]
    assert train.main([*common, "train.max_steps=10", *resume]) == 0
    a, b = (torch.load(tmp_path / r / "checkpoints" / "last.ckpt", weights_only=True) for r in ("a", "b"))
    assert b["global_step"] == 10
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for key in a["ema"]["weights"]:
        assert torch.equal(a["ema"]["weights"][key], b["ema"]["weights"][key]), key
    capsys.readouterr()
    assert train.main([*common, "train.max_steps=1", f"train.init_from={last}", f"train.run_dir={tmp_path / 'c'}"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("init_from"))
    assert "(ema weights)" in line and "missing 0; unexpected 0; shape_mismatch 0" in line


# ---- the loss learns; sizes; errors ---------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_a_tiny_baseline_overfits_four_examples_and_generates_them(arch: str) -> None:
    cfg = load_config([QS], [*TINY, *TINY_BASELINE, f"system={arch}"])
    torch.manual_seed(0)
    system = BaselineSystem(to_dict(cfg), vocab_size=50, pad_id=0, eos_id=2)
    src = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0], [10, 11, 12, 2], [13, 2, 0, 0]])
    code = torch.tensor([[20, 21, 22, 2, 0, 0], [23, 2, 0, 0, 0, 0], [24, 25, 26, 27, 2, 0], [28, 29, 2, 0, 0, 0]])
    ends = (code == 2).int().argmax(1, keepdim=True)
    batch = {"src_ids": src, "src_mask": src != 0, "code_ids": code, "code_mask": torch.arange(6)[None] <= ends}
    assert system.loss_terms(batch)["loss"].item() > math.log(50) - 0.5  # a fresh model knows nothing
    opt = torch.optim.Adam(system.model.parameters(), lr=1e-2)
    for _ in range(80):
        loss = system.loss_terms(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert system.loss_terms(batch)["loss"].item() < 0.05
    out = generate_baseline(system.model.eval(), arch, src, batch["src_mask"], num_candidates=1, num_beams=1,
                            max_new_tokens=6, eos_id=2, pad_id=0)
    assert torch.equal(out.tokens[:, 0], code)


def test_quickstart_baselines_layer_on_the_quickstart_at_its_size() -> None:
    cfg = load_config([QS])
    codefusion = parameter_report(build_model(cfg, 1000))["total"]
    for arch in ARCHS:
        bl = load_config([QS, f"configs/baselines/quickstart_{arch}.yaml"])
        assert bl.system == arch and bl.train.max_steps == cfg.train.max_steps
        assert (bl.data, bl.tokenizer, bl.optim, bl.train.global_batch_size) == (
            cfg.data, cfg.tokenizer, cfg.optim, cfg.train.global_batch_size)
        assert 0.9 < count_parameters(build_baseline(bl, 1000, 0, 2)) / codefusion < 1.15


def test_paper_baseline_configs_follow_the_paper() -> None:
    for path in sorted((ROOT / "configs" / "baselines").glob("*_*.yaml")):
        if path.name.startswith("quickstart"):
            continue
        cfg = load_config([str(path)])
        settings = (cfg.optim.lr, cfg.optim.weight_decay, cfg.baseline.num_beams, cfg.baseline.num_candidates)
        assert settings == (1e-4, 0.0, 5, 5), path.name


@pytest.mark.parametrize("override, needle", [
    ("baseline.num_candidates=6", "baseline.num_candidates=6 exceeds baseline.num_beams=5"),
    ("baseline.num_beam_groups=2", "baseline.num_beams=5 is not divisible by baseline.num_beam_groups=2"),
    ("baseline.bogus=1", "unknown config key 'baseline.bogus'"),
    ("system=rnn", "bad value for 'system'"),
    ("train.freeze=[encoder]", "train.freeze names CodeFusion components"),
])
def test_bad_baseline_config_names_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config([QS, "configs/baselines/quickstart_seq2seq.yaml"], [override])
    assert needle in str(e.value)


def test_baselines_refuse_the_pretraining_mix() -> None:
    with pytest.raises(ConfigError) as e:
        load_config([QS, "configs/baselines/quickstart_seq2seq.yaml"], ["data.source=jsonl", "data.data_dir=data", "pretrain.mix=0.3"])
    assert "pretrain.mix=0.3 mixes CodeFusion's pre-training tasks into fine-tuning; baselines train on (nl, code) pairs" in str(e.value)


def test_load_errors_are_one_line(runs, tmp_path: Path) -> None:
    ckpt_path = runs["seq2seq"][0] / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_generator(str(tmp_path / "none.ckpt"), GenerateOptions())
    with pytest.raises(CheckpointError, match="weights=best: use ema or raw"):
        load_generator(str(ckpt_path), GenerateOptions(weights="best"))
    with pytest.raises(ValueError, match="steps: not options of .* which is an autoregressive baseline"):
        load_generator(str(ckpt_path), GenerateOptions(steps=5))
    ckpt = torch.load(ckpt_path, weights_only=True)
    # A checkpoint from before the `system` key (baseline.arch) still loads as what it is.
    config = ckpt["hyper_parameters"]["config"]
    del config["system"]
    config["baseline"]["arch"] = "seq2seq"
    torch.save(ckpt, tmp_path / "old.ckpt")
    assert load_generator(str(tmp_path / "old.ckpt"), GenerateOptions()).label.startswith("seq2seq beam search")
    del ckpt["ema"]["weights"]["shared.weight"]
    del ckpt["codefusion"]["weights_sha256"]  # as written by a tool that adds no checksum (else: "damaged")
    torch.save(ckpt, tmp_path / "partial.ckpt")
    with pytest.raises(CheckpointError, match="1 model weights missing, e.g. shared.weight"):
        load_generator(str(tmp_path / "partial.ckpt"), GenerateOptions())


# ---- sample.py on baseline checkpoints (same output schema) --------------------------------------

def test_sample_py_on_a_baseline_checkpoint(tmp_path: Path, capsys) -> None:
    from conftest import TINY

    import sample

    run = tmp_path / "run"
    args = ["configs/quickstart.yaml", "configs/baselines/quickstart_seq2seq.yaml", *TINY, f"train.run_dir={run}",
            f"data.cache_dir={tmp_path / 'cache'}", "baseline.d_model=32", "baseline.layers=1", "baseline.heads=2",
            "baseline.d_ff=64", "baseline.d_kv=16"]
    assert train.main(args) == 0
    ckpt = run / "checkpoints" / "last.ckpt"
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "nl": "highlight values greater than 4", "code": "GreaterThan(4)",
                               "table": [["Value"], ["5"]]}) + "\n")
    capsys.readouterr()
    assert sample.main([f"ckpt={ckpt}", f"input={inp}", f"out={tmp_path / 'beam.jsonl'}"]) == 0
    assert "1 inputs, 5 candidates each, seq2seq beam search (5 beams)" in capsys.readouterr().err
    rec = json.loads((tmp_path / "beam.jsonl").read_text())
    assert rec["reference"] == "GreaterThan(4)" and rec["table"] == [["Value"], ["5"]]
    scores = [c["score"] for c in rec["candidates"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    # Same seed, same samples; command-line decoding settings override the checkpoint's.
    outs = []
    for name in ("s1.jsonl", "s2.jsonl"):
        assert sample.main([f"ckpt={ckpt}", f"input={inp}", "baseline.do_sample=true", "baseline.temperature=1.5", "num_candidates=3",
                            f"out={tmp_path / name}"]) == 0
        outs.append((tmp_path / name).read_text())
    assert outs[0] == outs[1] and len(json.loads(outs[0])["candidates"]) == 3
    capsys.readouterr()
    for bad, needle in ((["num_candidates=7"], "baseline.num_candidates=7 exceeds baseline.num_beams=5"),
                        (["steps=10"], "steps: not options of"),
                        (["temperature=1.5"], "unknown key 'temperature'"),  # a baseline key is baseline.temperature
                        (["baseline.temperature=hot"], "bad value for 'baseline.temperature'")):
        assert sample.main([f"ckpt={ckpt}", "text=x", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err

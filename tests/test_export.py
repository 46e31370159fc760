"""python -m codefusion.export and loading its directories: the same generations as the .ckpt (CodeFusion
and both baselines), readable with safetensors / transformers alone, one-line errors for broken or
foreign directories, a model card with the run's real numbers, and every entry point accepting it."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY
from conftest import load_baseline_ckpt as load_baseline_for_generation
from conftest import load_codefusion_ckpt as load_for_generation
from safetensors.torch import load_file

import codefusion
import sample
import train
from codefusion import diagnose, evaluate, export
from codefusion.baselines.generation import decoding_options, generate_baseline
from codefusion.checkpoint import CheckpointError
from codefusion.data.examples import encode_utterances
from codefusion.networks.codefusion import parameter_report
from codefusion.pretrained import CodeFusionModel, load_model_files

QS = "configs/quickstart.yaml"
TINY_BASELINE = ["baseline.d_model=32", "baseline.layers=2", "baseline.heads=2", "baseline.d_ff=64",
                 "baseline.d_kv=16", "baseline.dropout=0.0"]
# Options that change CodeFusion's parameter set: the export must carry them through config.json.
CODEFUSION_OPTIONS = ["model.self_condition=true", "train.cond_dropout=0.2"]
KINDS = {"codefusion": CODEFUSION_OPTIONS, "seq2seq": [*TINY_BASELINE, "system=seq2seq"],
         "causal_lm": [*TINY_BASELINE, "system=causal_lm"]}
TEXTS = ["highlight values greater than 4", "color blank cells", "format cells containing Apple"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny run per kind through train.py (held-out predictions included) and its export."""
    root = tmp_path_factory.mktemp("export")
    for kind, extra in KINDS.items():
        with contextlib.redirect_stdout(io.StringIO()):
            assert train.main([QS, *TINY, *extra, "eval.split=test", "eval.num_examples=0",
                               f"train.run_dir={root / kind}", f"data.cache_dir={root / 'cache'}"]) == 0
        assert export.main([f"ckpt={root / kind / 'checkpoints' / 'last.ckpt'}", f"out={root / ('out_' + kind)}"]) == 0
    return {**{kind: root / kind / "checkpoints" / "last.ckpt" for kind in KINDS},
            **{f"out_{kind}": root / f"out_{kind}" for kind in KINDS}}


def sample_output(ckpt: Path, tmp_path: Path, *args: str) -> str:
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "nl": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "out.jsonl"
    assert sample.main([f"ckpt={ckpt}", f"input={inp}", f"out={out}", *args]) == 0
    return out.read_text()


def one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---- the same generations from the directory as from the checkpoint --------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_sample_py_gives_the_checkpoints_output_from_the_directory(kind: str, runs, tmp_path: Path) -> None:
    args = ["num_candidates=3", "steps=5", "seed=3", "guidance=2.0"] if kind == "codefusion" else \
        ["baseline.do_sample=true", "num_candidates=3", "seed=3"]
    from_ckpt = sample_output(runs[kind], tmp_path, *args)
    assert sample_output(runs[f"out_{kind}"], tmp_path, *args) == from_ckpt
    assert len(from_ckpt.splitlines()) == len(TEXTS)


def test_codefusion_model_api_matches_sample_py(runs, tmp_path: Path) -> None:
    model = codefusion.CodeFusionModel.from_pretrained(str(runs["out_codefusion"]))
    assert isinstance(model, CodeFusionModel) and not model.model.training and model.process.num_timesteps == 100
    assert model.config.model.self_condition and model.model.denoiser.null is not None
    # float32: the same output at any batch size; bf16 autocast (precision=auto on a CPU with
    # native bf16) rounds by kernel, so there the same batches give the same output.
    records = [json.loads(line) for line in sample_output(runs["codefusion"], tmp_path, "num_candidates=3", "steps=5",
                                                          "seed=3", "precision=32").splitlines()]
    got = model.generate(TEXTS, num_candidates=3, steps=5, seed=3, batch_size=2, precision="32")
    # another batching pads the source to another width, so the attention sums in another order:
    # the same programs, scores equal to float rounding (as tests/test_sample.py's batch tests)
    assert [[c.code for c in cands] for cands in got] == [[c["code"] for c in r["candidates"]] for r in records]
    assert [[c.score for c in cands] for cands in got] == \
        [pytest.approx([c["score"] for c in r["candidates"]], abs=1e-5) for r in records]
    records = [json.loads(line) for line in sample_output(runs["codefusion"], tmp_path, "num_candidates=3",
                                                          "seed=3").splitlines()]  # the defaults
    got = model.generate(TEXTS, num_candidates=3, seed=3, batch_size=len(TEXTS))
    assert [[(c.code, c.score) for c in cands] for cands in got] == \
        [[(c["code"], c["score"]) for c in r["candidates"]] for r in records]
    # Trajectories: recorded every 2 steps and at the last, whose code is the output; same samples.
    traced = model.generate(TEXTS[:1], num_candidates=2, steps=5, seed=3, record_every=2)[0]
    assert [s.step for s in traced[0].trajectory] == [2, 4, 5]
    assert all(c.trajectory[-1].code == c.trajectory[-1].x_t_code == c.code for c in traced)
    assert [c.code for c in traced] == [c.code for c in model.generate(TEXTS[:1], num_candidates=2, steps=5, seed=3)[0]]
    with pytest.raises(ValueError, match="steps=500 must be in"):
        model.generate(TEXTS, steps=500)


@pytest.mark.parametrize("arch", ["seq2seq", "causal_lm"])
def test_baseline_directory_loads_with_transformers_alone(arch: str, runs) -> None:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    out = runs[f"out_{arch}"]
    auto = (AutoModelForSeq2SeqLM if arch == "seq2seq" else AutoModelForCausalLM).from_pretrained(str(out)).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    cfg, model, ckpt_tok = load_baseline_for_generation(str(runs[arch]))
    src, mask = encode_utterances(ckpt_tok, TEXTS, cfg.data.max_nl_len)
    assert torch.equal(src, encode_utterances(tok, TEXTS, cfg.data.max_nl_len)[0])
    opts = dict(**decoding_options(cfg), eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    expected, got = generate_baseline(model, arch, src, mask, **opts), generate_baseline(auto, arch, src, mask, **opts)
    assert torch.equal(got.tokens, expected.tokens) and torch.equal(got.score, expected.score)
    with pytest.raises(CheckpointError, match=f"is a {arch} baseline, not CodeFusion"):
        CodeFusionModel.from_pretrained(str(out))


def test_codefusion_weights_load_with_safetensors_alone(runs) -> None:
    from transformers import AutoTokenizer

    weights = load_file(runs["out_codefusion"] / "model.safetensors")
    ema = torch.load(runs["codefusion"], weights_only=True)["ema"]["weights"]
    assert set(ema) <= set(weights)
    assert all(torch.equal(weights[k], v) for k, v in ema.items())
    section = json.loads((runs["out_codefusion"] / "config.json").read_text())["codefusion"]
    assert (section["format_version"], section["system"], section["weights"]) == (1, "codefusion", "ema")
    assert section["config"]["model"]["self_condition"] is True and section["global_step"] == 6
    tok, ckpt_tok = AutoTokenizer.from_pretrained(str(runs["out_codefusion"])), load_model_files(str(runs["codefusion"])).tokenizer
    assert tok(TEXTS[0]).input_ids == ckpt_tok(TEXTS[0]).input_ids and len(tok) == section["vocab_size"]


def test_raw_weights_export(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "raw"
    assert export.main([f"ckpt={runs['codefusion']}", f"out={out}", "weights=raw"]) == 0
    capsys.readouterr()
    raw = {k.removeprefix("model."): v for k, v in torch.load(runs["codefusion"], weights_only=True)["state_dict"].items()}
    assert all(torch.equal(v, raw[k]) for k, v in load_file(out / "model.safetensors").items())
    assert sample_output(out, tmp_path, "steps=5", "weights=raw") == sample_output(runs["codefusion"], tmp_path, "steps=5",
                                                                                  "weights=raw")
    capsys.readouterr()
    assert sample.main([f"ckpt={out}", "text=x"]) == 2  # the directory holds no EMA weights
    assert "holds the raw weights only (exported with weights=raw); ask for weights=raw" in one_line_error(capsys)
    assert 'sample.py ckpt=raw weights=raw' in (out / "README.md").read_text()


# ---- broken, foreign and unreachable directories ------------------------------------------------

def _edit_section(out: Path, **changes: object) -> None:
    raw = json.loads((out / "config.json").read_text())
    raw["codefusion"].update(changes)
    (out / "config.json").write_text(json.dumps(raw))


def _truncate(out: Path) -> None:
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[: len(data) // 2])


def _flip_a_weight_byte(out: Path) -> None:
    data = bytearray((out / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (out / "model.safetensors").write_bytes(bytes(data))


@pytest.mark.parametrize("damage, needle", [
    (_truncate, "model.safetensors does not match the sha256 in config.json (truncated or modified"),
    (_flip_a_weight_byte, "model.safetensors does not match the sha256 in config.json"),
    (lambda out: (_edit_section(out, sha256=None), _truncate(out)), "cannot read model.safetensors (SafetensorError"),
    (lambda out: (out / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda out: (out / "config.json").unlink(), "has no config.json: not an exported CodeFusion model"),
    (lambda out: (out / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}'),
     "config.json is not a CodeFusion export (no 'codefusion' section"),
    (lambda out: (out / "config.json").write_text("{not json"), "config.json is not valid JSON"),
    (lambda out: _edit_section(out, format_version=2),
     "was exported in format version 2; this codefusion reads version 1 (upgrade codefusion)"),
    (lambda out: _edit_section(out, format_version=0),
     "was exported in format version 0; this codefusion reads version 1 (export it again from its .ckpt)"),
    (lambda out: _edit_section(out, config={"model": {"no_such_key": 1}}), "config.json: no usable config inside"),
])
def test_broken_directories_give_one_line(damage, needle: str, runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "copy"
    shutil.copytree(runs["out_codefusion"], out)
    damage(out)
    assert sample.main([f"ckpt={out}", "text=x", "steps=5"]) == 2
    assert needle in one_line_error(capsys)
    with pytest.raises(CheckpointError, match="") as e:
        CodeFusionModel.from_pretrained(str(out))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_hub_id_that_cannot_be_fetched_gives_one_line(monkeypatch, capsys) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network in tests
    assert sample.main(["ckpt=nobody/no-such-codefusion", "text=x"]) == 2
    assert ("nobody/no-such-codefusion: no such local file or directory, and it cannot be fetched from the "
            "Hugging Face Hub") in one_line_error(capsys)


# ---- the export command -------------------------------------------------------------------------

def test_export_never_overwrites_by_surprise(runs, tmp_path: Path, capsys) -> None:
    ckpt = runs["codefusion"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = [
        ([f"ckpt={ckpt}", f"out={ckpt}"], "is or holds the checkpoint"),
        ([f"ckpt={ckpt}", f"out={ckpt.parent.parent}"], "is or holds the checkpoint"),
        ([f"ckpt={ckpt}", f"out={foreign}"], "is a non-empty directory that is not a CodeFusion export"),
        ([f"ckpt={ckpt}", f"out={runs['out_seq2seq']}"], "already holds an export; pass overwrite=true"),
        ([f"ckpt={runs['out_codefusion']}", f"out={tmp_path / 'x'}"], "is not a file: export reads a train.py .ckpt"),
        ([f"ckpt={tmp_path / 'none.ckpt'}", f"out={tmp_path / 'x'}"], "is not a file"),
        ([f"ckpt={ckpt}", f"out={tmp_path / 'x'}", "weights=best"], "bad value for 'weights'"),
        ([f"ckpt={ckpt}", f"out={tmp_path / 'x'}", "colour=red"], "colour"),
        ([f"ckpt={ckpt}"], "ckpt=PATH and out=DIR are required"),
    ]
    for args, needle in cases:
        assert export.main(args) == 2, args
        assert needle in one_line_error(capsys)
    assert not (tmp_path / "x").exists()
    # overwrite=true replaces a previous export, atomically, leaving no temporary directory.
    out = tmp_path / "again"
    assert export.main([f"ckpt={runs['seq2seq']}", f"out={out}"]) == 0
    assert export.main([f"ckpt={ckpt}", f"out={out}", "overwrite=true"]) == 0
    assert json.loads((out / "config.json").read_text())["codefusion"]["system"] == "codefusion"
    assert not (out / "generation_config.json").exists()  # the baseline's files went with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "foreign"]
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_push_to_failure_keeps_the_directory_and_gives_one_line(runs, tmp_path: Path, monkeypatch, capsys) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "pushed"
    assert export.main([f"ckpt={runs['codefusion']}", f"out={out}", "push_to=nobody/codefusion-tiny"]) == 2
    assert f"wrote {out}, but the upload to nobody/codefusion-tiny failed" in one_line_error(capsys)
    assert (out / "model.safetensors").is_file()


def test_model_card_has_the_runs_numbers(runs, tmp_path: Path, capsys) -> None:
    run_dir = runs["codefusion"].parent.parent
    preds = [json.loads(line) for line in (run_dir / "predictions_test.jsonl").read_text().splitlines()]
    top1 = 100 * sum(p["candidates"][0]["code"] == p["reference"] for p in preds) / len(preds)
    # A second prediction file with known figures (2 of 4 right at top-1, 3 of 4 in the top-2).
    cands = [["A", "B"], ["C", "A"], ["A", "C"], ["B", "C"]]
    (run_dir / "predictions_valid.jsonl").write_text("".join(
        json.dumps({"id": str(i), "nl": "x", "reference": "A", "candidates": [{"code": c, "score": 0.0} for c in cs]}) + "\n"
        for i, cs in enumerate(cands)))
    assert evaluate.main([f"predictions={run_dir / 'predictions_valid.jsonl'}", "language=cf", "encoder=none"]) == 0
    out = tmp_path / "card"
    assert export.main([f"ckpt={runs['codefusion']}", f"out={out}"]) == 0
    card = (out / "README.md").read_text()
    _, model, _, _ = load_for_generation(str(runs["codefusion"]))
    params = parameter_report(model)
    assert f"| `predictions_test.jsonl` | {len(preds)} | 1 | {top1:.1f}% |" in card
    assert "| `predictions_valid.jsonl` | 4 | 2 | 50.0% | 75.0% |" in card
    assert "| `predictions_valid.metrics.json` | exact_match | 50.0 | 75.0 | 75.0 |" in card
    assert f"| denoiser | {params['denoiser']:,} |" in card and f"| total | {params['total']:,} |" in card
    assert "- steps: 6 optimizer steps" in card and "64 training pairs" in card
    assert "CodeFusionModel.from_pretrained" in card and "@inproceedings{singh-etal-2023-codefusion" in card
    for name in ("predictions_valid.jsonl", "predictions_valid.metrics.json"):
        (run_dir / name).unlink()
    # No predictions beside the checkpoint: the card says so and shows no figure.
    lone = tmp_path / "lone" / "model.ckpt"
    lone.parent.mkdir()
    shutil.copy(runs["codefusion"], lone)
    assert export.main([f"ckpt={lone}", f"out={tmp_path / 'lone_out'}"]) == 0
    assert "No held-out predictions were found" in (tmp_path / "lone_out" / "README.md").read_text()
    baseline_card = (runs["out_seq2seq"] / "README.md").read_text()
    assert "AutoModelForSeq2SeqLM.from_pretrained" in baseline_card and "library_name: transformers" in baseline_card


# ---- the other entry points accept the directory ------------------------------------------------

def test_diagnose_accepts_the_directory(runs, tmp_path: Path, capsys) -> None:
    reports = []
    for source in (runs["codefusion"], runs["out_codefusion"]):
        out = tmp_path / f"{source.name}.json"
        assert diagnose.main([f"ckpt={source}", "limit=4", "num_candidates=2", "steps=5", f"out={out}"]) == 0
        reports.append({k: v for k, v in json.loads(out.read_text()).items() if k != "ckpt"})
    assert reports[0] == reports[1]


@pytest.mark.parametrize("kind", ["codefusion", "seq2seq"])
def test_init_from_accepts_the_directory(kind: str, runs, tmp_path: Path) -> None:
    lines = []
    for i, source in enumerate((runs[kind], runs[f"out_{kind}"])):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert train.main([QS, *TINY, *KINDS[kind], "train.max_steps=1", f"train.init_from={source}",
                               f"train.run_dir={tmp_path / str(i)}", f"data.cache_dir={tmp_path / 'cache'}"]) == 0
        text = printed.getvalue()
        assert f"tokenizer: from {source} (" in text  # the quickstart trains no tokenizer of its own here
        lines.append(next(line for line in text.splitlines() if line.startswith("init_from")).replace(str(source), "SRC"))
    assert lines[0] == lines[1] and "missing 0" in lines[0] and "unexpected 0" in lines[0]


def test_resuming_from_a_directory_is_refused_in_one_line(runs, tmp_path: Path, capsys) -> None:
    assert train.main([QS, *TINY, f"train.ckpt_path={runs['out_codefusion']}", f"train.run_dir={tmp_path}"]) == 2
    assert "is a directory; resuming needs a train.py .ckpt" in one_line_error(capsys)

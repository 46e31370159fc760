"""sample.py end to end on a tiny checkpoint made in the test: schema, determinism, samplers, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import sample
import train


@pytest.fixture
def ckpt(tiny: list[str], tmp_path: Path) -> Path:
    assert train.main(["configs/quickstart.yaml", *tiny]) == 0
    return tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_sample_writes_ranked_candidates_deterministically(ckpt: Path, tmp_path: Path, capsys) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "nl": "highlight values greater than 4", "code": "GreaterThan(4)",
                               "table": [["Value"], ["5"]], "source": "cornet"}) + "\nnot json\n" + json.dumps({"id": "b", "nl": "color blanks"}) + "\n")
    outs = []
    for name in ("one.jsonl", "two.jsonl"):
        assert sample.main([f"ckpt={ckpt}", f"input={inp}", "sampler=ddpm", "num_candidates=3", "steps=10", "seed=1",
                            f"out={tmp_path / name}"]) == 0
        outs.append((tmp_path / name).read_text())
    err = capsys.readouterr().err
    assert "skipped 1 rows" in err and "2 inputs, 3 candidates each, ddpm 10 steps" in err
    assert outs[0] == outs[1]  # same seed, same output
    assert sample.main([f"ckpt={ckpt}", f"input={inp}", f"out={tmp_path / 'defaults.jsonl'}"]) == 0
    err = capsys.readouterr().err  # the defaults: the fastest setting within 1 point of 1,200 DDPM steps
    assert "2 inputs, 1 candidates each, dpm_solver++ 15 steps" in err and "precision " in err
    recs = [json.loads(line) for line in outs[0].splitlines()]
    assert [r["id"] for r in recs] == ["a", "b"]
    assert recs[0]["reference"] == "GreaterThan(4)" and recs[0]["table"] == [["Value"], ["5"]] and recs[1]["reference"] is None
    assert recs[0]["source"] == "cornet" and "source" not in recs[1]  # scored apart by evaluate
    scores = [c["score"] for c in recs[0]["candidates"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)


@pytest.mark.parametrize("sampler", ["ddim", "dpm_solver++"])
def test_other_samplers_run(sampler: str, ckpt: Path, capsys) -> None:
    assert sample.main([f"ckpt={ckpt}", "text=format blank cells", f"sampler={sampler}", "steps=5"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["nl"] == "format blank cells" and isinstance(rec["candidates"][0]["code"], str)


def test_sample_errors_are_one_line(ckpt: Path, tmp_path: Path, capsys) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    cases = [
        ([f"ckpt={tmp_path / 'nope.ckpt'}", "text=x"], "error: checkpoint not found"),
        ([f"ckpt={tmp_path / 'other.ckpt'}", "text=x"], "is not a CodeFusion checkpoint"),
        ([f"ckpt={ckpt}", "text=x", "steps=100000"], "error: steps=100000 must be in [1, 100]"),
        ([f"ckpt={ckpt}", "text=x", "sampler=euler"], "error: unknown sampler 'euler'"),
        ([f"ckpt={ckpt}", f"input={tmp_path / 'missing.jsonl'}"], "error: input file not found"),
        ([f"ckpt={ckpt}", "text=x", "colour=red"], "error: unknown key 'colour'"),
    ]
    for args, needle in cases:
        assert sample.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


# ---- batching, trajectories, ranking and decoding modes (issue 3) --------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

from conftest import ROOT  # noqa: E402
from conftest import load_codefusion_ckpt as load_for_generation  # noqa: E402
from conftest import run_generator as generate  # noqa: E402

from codefusion.generation.records import choose, mbr_scores  # noqa: E402
from codefusion.generation.trajectory import main as trajectory_main  # noqa: E402
from codefusion.generation.trajectory import read_trajectories  # noqa: E402
from codefusion.networks.codefusion import nearest_tokens  # noqa: E402


def _src(tok, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    enc = [tok(t, add_special_tokens=False).input_ids + [tok.eos_token_id] for t in texts]
    width = max(map(len, enc))
    src = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
    return src, src != tok.pad_token_id


@pytest.mark.parametrize("sampler", ["ddpm", "dpm_solver++"])
def test_batched_candidates_equal_one_at_a_time(ckpt: Path, sampler: str) -> None:
    cfg, model, process, tok = load_for_generation(str(ckpt))
    texts = ["highlight cells greater than 4", "color blank cells in column B"]
    src, mask = _src(tok, texts)
    common = dict(max_code_len=cfg.data.max_code_len, eos_id=tok.eos_token_id, steps=8, sampler=sampler, seed=3)
    batched = generate(model, process, src, mask, num_candidates=3, noise_keys=[10, 11], **common)
    for i in range(2):
        alone = [generate(model, process, src[i:i + 1, : int(mask[i].sum())], mask[i:i + 1, : int(mask[i].sum())],
                          noise_keys=[10 + i], candidates=[c], **common) for c in range(3)]
        got = sorted(((float(a.score[0, 0]), a.tokens[0, 0].tolist()) for a in alone), key=lambda x: -x[0])
        assert [tokens for _, tokens in got] == batched.tokens[i].tolist()
        assert [s for s, _ in got] == pytest.approx(batched.score[i].tolist(), abs=1e-5)
    # The keys matter: other keys (or another seed) give other noise.
    other = generate(model, process, src, mask, num_candidates=3, noise_keys=[12, 13], **common)
    assert not torch.equal(other.score, batched.score)


def test_sample_output_does_not_depend_on_batch_size(ckpt: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "nl": f"highlight values greater than {i}"}) + "\n" for i in range(5)))
    for bs in (1, 5):
        assert sample.main([f"ckpt={ckpt}", f"input={inp}", "num_candidates=2", "steps=6", f"batch_size={bs}",
                            f"out={tmp_path / f'bs{bs}.jsonl'}"]) == 0
    one, five = (tmp_path / "bs1.jsonl").read_text(), (tmp_path / "bs5.jsonl").read_text()
    strip = [[c["code"] for c in json.loads(line)["candidates"]] for line in one.splitlines()]
    assert strip == [[c["code"] for c in json.loads(line)["candidates"]] for line in five.splitlines()]


def test_trajectory_file_schema_and_recording_changes_nothing(ckpt: Path, tmp_path: Path, capsys) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "a", "nl": "highlight values greater than 4", "code": "GreaterThan(4)"}) + "\n"
                   + json.dumps({"id": "b", "nl": "color blanks"}) + "\n")
    base = [f"ckpt={ckpt}", f"input={inp}", "sampler=ddpm", "num_candidates=2", "steps=10", "seed=5"]
    assert sample.main([*base, f"out={tmp_path / 'plain.jsonl'}"]) == 0
    assert sample.main([*base, "record_every=4", "save_tensors=true", f"out={tmp_path / 'rec.jsonl'}"]) == 0
    assert (tmp_path / "plain.jsonl").read_text() == (tmp_path / "rec.jsonl").read_text()
    rows = read_trajectories(tmp_path / "rec.trajectory.jsonl")  # validates the schema
    assert [(r["id"], r["candidate"]) for r in rows] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    preds = [json.loads(line) for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    for r in rows:
        assert [p["step"] for p in r["trajectory"]] == [4, 8, 10] and r["steps"] == 10 and r["sampler"] == "ddpm"
        assert r["trajectory"][-1]["t"] == 0 and r["language"] == "cf" and r["num_timesteps"] == 100
        final = preds[0 if r["id"] == "a" else 1]["candidates"][r["candidate"]]["code"]
        assert r["trajectory"][-1]["code"] == final  # the last recorded step is the output
        assert r["trajectory"][-1]["x_t_code"] == final  # ... and the chain's final state
        if r["id"] == "a":
            from codefusion.edit_distance import normalized_edit_distance

            assert all(p["edit_distance"] == normalized_edit_distance(p["code"], "GreaterThan(4)")
                       and p["x_t_edit_distance"] == normalized_edit_distance(p["x_t_code"], "GreaterThan(4)")
                       for p in r["trajectory"])
        else:
            assert all(p["edit_distance"] is None and p["x_t_edit_distance"] is None for p in r["trajectory"])
    raw = torch.load(tmp_path / "rec.trajectory.pt", weights_only=True)
    assert raw["pred_x0"].shape[:3] == (2, 2, 3) and raw["steps"] == [4, 8, 10] and raw["ids"] == ["a", "b"]
    capsys.readouterr()
    assert trajectory_main(["show", f"file={tmp_path / 'rec.trajectory.jsonl'}", "id=a"]) == 0
    assert "GreaterThan(4)" in capsys.readouterr().out
    assert trajectory_main(["plot", f"files=[{tmp_path / 'rec.trajectory.jsonl'}]", f"out={tmp_path / 'f.png'}"]) == 0
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert trajectory_main(["plot", f"files=[{tmp_path / 'rec.trajectory.jsonl'}]", f"out={tmp_path / 'g.png'}", "of=both"]) == 0
    assert "rec (x̂0), rec (x_t)" in capsys.readouterr().out


def test_unconditional_recording_changes_nothing(ckpt: Path, tmp_path: Path) -> None:
    base = [f"ckpt={ckpt}", "unconditional=true", "num_candidates=3", "steps=6"]
    assert sample.main([*base, f"out={tmp_path / 'a.jsonl'}"]) == 0
    assert sample.main([*base, "record_every=2", f"out={tmp_path / 'b.jsonl'}"]) == 0
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_mbr_scores_prefer_the_consensus() -> None:
    scores = mbr_scores(["GreaterThan(4)", "GreaterThan(4)", "GreaterThan(5)", "Blank()"])
    assert scores[0] == scores[1] > scores[2] > scores[3]
    assert mbr_scores(["x"]) == [1.0]


def test_rank_mbr_reorders_and_keeps_logprob(ckpt: Path, tmp_path: Path) -> None:
    assert sample.main([f"ckpt={ckpt}", "text=highlight values greater than 4", "num_candidates=4", "steps=6",
                        "rank=mbr", f"out={tmp_path / 'm.jsonl'}"]) == 0
    cands = json.loads((tmp_path / "m.jsonl").read_text())["candidates"]
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    assert [c["score"] for c in cands] == pytest.approx(mbr_scores([c["code"] for c in cands]))
    assert all(c["logprob"] <= 0 for c in cands)


def test_choose_keeps_the_first_distinct_programs() -> None:
    codes = ["A(1, 2)", "B(2)", " A(1, 2)\n", "C(3)", "B(2)", "A(1,  2)"]
    order = [0, 2, 1, 4, 3]
    assert choose(codes, order) == order  # nothing asked: the ranking as it is
    assert choose(codes, order, keep=2) == [0, 2]
    assert choose(codes, order, distinct=True) == [0, 1, 3]  # codes[2] repeats codes[0] once stripped
    assert choose(codes, [0, 5], distinct=True) == [0, 5]  # inner whitespace is part of the program
    assert choose(["if a:\n    b\nc", "if a:\n    b\n    c"], [0, 1], distinct=True) == [0, 1]  # Python indentation
    assert choose(codes, order, keep=2, distinct=True) == [0, 1]
    assert choose(codes, order, keep=9, distinct=True) == [0, 1, 3]  # fewer distinct programs than keep


def test_keep_distinct_writes_the_best_distinct_of_all_sampled(ckpt: Path, tmp_path: Path, capsys) -> None:
    base = [f"ckpt={ckpt}", "text=highlight values greater than 4", "num_candidates=6", "steps=6", "rank=mbr",
            "precision=32", "record_every=3"]
    assert sample.main([*base, f"out={tmp_path / 'all.jsonl'}"]) == 0
    assert sample.main([*base, "keep=3", "distinct=true", f"out={tmp_path / 'kept.jsonl'}"]) == 0
    assert "6 candidates each (3 distinct written)" in capsys.readouterr().err
    every = json.loads((tmp_path / "all.jsonl").read_text())["candidates"]
    kept = json.loads((tmp_path / "kept.jsonl").read_text())["candidates"]
    first_distinct = [every[i] for i in choose([c["code"] for c in every], list(range(6)), keep=3, distinct=True)]
    assert kept == first_distinct  # MBR over all six, then the best distinct three, in that order
    assert len({c["code"].strip() for c in kept}) == len(kept) <= 3
    traj = [json.loads(line) for line in (tmp_path / "kept.trajectory.jsonl").read_text().splitlines()]
    assert [t["candidate"] for t in traj] == list(range(len(kept)))  # trajectories of the written candidates only
    assert [t["trajectory"][-1]["code"] for t in traj] == [c["code"] for c in kept]


def test_grounding_and_clamping(ckpt: Path) -> None:
    cfg, model, process, tok = load_for_generation(str(ckpt))
    src, mask = _src(tok, ["highlight cells greater than 4"])
    weight = model.embedding_table().detach()  # the rows x0 uses (rescaled when model.embed_norm is set)
    common = dict(max_code_len=cfg.data.max_code_len, eos_id=tok.eos_token_id, steps=6, noise_keys=[0],
                  num_candidates=2, record_every=2, keep_tensors=True)
    # Grounding: the output tokens are the nearest vocabulary embeddings of the final x0.
    g = generate(model, process, src, mask, decode="grounding", **common)
    x0 = g.trajectory[-1].pred_x0[0]  # (k, n, d)
    assert torch.equal(g.tokens[0], nearest_tokens(x0, weight))
    # Clamping from step 5 on: x̂0 at step 4 is not a vocabulary embedding, the final one is.
    common["num_candidates"] = 1  # one candidate: the rank order cannot differ between the runs below
    c = generate(model, process, src, mask, clamp_from=5, **common)

    def on_vocab(x: torch.Tensor) -> bool:
        return bool(torch.allclose(weight[nearest_tokens(x, weight)], x, atol=1e-6))

    assert [p.step for p in c.trajectory] == [2, 4, 6]
    assert not on_vocab(c.trajectory[1].pred_x0[0]) and on_vocab(c.trajectory[2].pred_x0[0])
    plain = generate(model, process, src, mask, **common)
    assert torch.equal(plain.trajectory[1].pred_x0, c.trajectory[1].pred_x0)  # identical before clamping starts


def test_sampling_errors_leave_nothing_behind(ckpt: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "o.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{}\n")
    cases = [
        ([f"ckpt={ckpt}", "text=x", "steps=5", "record_every=10", f"out={out}"], "record_every=10 is larger than steps=5"),
        ([f"ckpt={ckpt}", "text=x", "record_every=2"], "record_every needs out=FILE.jsonl"),
        ([f"ckpt={ckpt}", "text=x", "rank=best"], "rank=best must be one of logprob, mbr"),
        ([f"ckpt={ckpt}", "text=x", "num_candidates=two"], "bad value for 'num_candidates'"),
        ([f"ckpt={ckpt}", "text=x", "num_candidates=2", "keep=5"], "keep=5 is more than num_candidates=2"),
        ([f"ckpt={ckpt}", "text=x", "keep=2"], "keep=2 is more than the 1 candidates sampled"),
        ([f"ckpt={ckpt}", "text=x", "keep=-1"], "keep must be >= 0"),
        ([f"ckpt={ckpt}", "text=x", "devices=2", f"out={out}"], "devices=2 is more than the 1 inputs"),
    ]
    for args, needle in cases:
        assert sample.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    # Every row bad: the count of skipped rows, then the error.
    assert sample.main([f"ckpt={ckpt}", f"input={bad}", f"out={out}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "skipped 2 rows" in err[0] and err[1] == "error: no usable inputs (every row was skipped, or the file is empty)"
    # A crash in the middle of generation leaves no output file (nor a trajectory) as if complete.
    from codefusion.generation.codefusion import CodeFusionGenerator

    def boom(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(CodeFusionGenerator, "__call__", boom)
    with pytest.raises(RuntimeError, match="device lost"):
        sample.main([f"ckpt={ckpt}", "text=x", "steps=4", "record_every=2", f"out={out}"])
    assert list(tmp_path.glob("o.*")) == []


def test_two_devices_give_the_one_device_output(ckpt: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "nl": f"highlight values below {i}"}) + "\n" for i in range(5)))
    common = [f"ckpt={ckpt}", f"input={inp}", "num_candidates=2", "steps=5", "batch_size=2", "device=cpu"]
    assert sample.main([*common, f"out={tmp_path / 'one.jsonl'}"]) == 0
    proc = subprocess.run([sys.executable, "sample.py", *common, "devices=2", f"out={tmp_path / 'two.jsonl'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two")) == ["two.jsonl"]
    assert proc.stderr.count("5 inputs, 2 candidates each") == 1


def test_bf16_autocast_sampling(ckpt: Path, tmp_path: Path) -> None:
    # Lightning's bf16-mixed precision in the predict loop: the denoiser runs in bfloat16, the
    # sampler's state stays float32; the output has the usual schema.
    assert sample.main([f"ckpt={ckpt}", "text=highlight values greater than 4", "num_candidates=2", "steps=4",
                        "precision=bf16", "device=cpu", f"out={tmp_path / 'bf16.jsonl'}"]) == 0
    rec = json.loads((tmp_path / "bf16.jsonl").read_text())
    assert len(rec["candidates"]) == 2 and all(isinstance(c["code"], str) and c["score"] <= 0 for c in rec["candidates"])


def test_empty_gold_code_is_no_reference(ckpt: Path, tmp_path: Path) -> None:
    # The CF benchmark's test ID 740 has empty gold code: it is generated for, but not scored.
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": "740", "nl": "color blanks", "code": "  "}) + "\n")
    assert sample.main([f"ckpt={ckpt}", f"input={inp}", "steps=3", f"out={tmp_path / 'o.jsonl'}"]) == 0
    assert json.loads((tmp_path / "o.jsonl").read_text())["reference"] is None

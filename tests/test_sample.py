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
                               "table": [["Value"], ["5"]]}) + "\nnot json\n" + json.dumps({"id": "b", "nl": "color blanks"}) + "\n")
    outs = []
    for name in ("one.jsonl", "two.jsonl"):
        assert sample.main([f"ckpt={ckpt}", f"input={inp}", "num_candidates=3", "steps=10", "seed=1", f"out={tmp_path / name}"]) == 0
        outs.append((tmp_path / name).read_text())
    err = capsys.readouterr().err
    assert "skipped 1 rows" in err and "2 inputs, 3 candidates each, ddpm 10 steps" in err
    assert outs[0] == outs[1]  # same seed, same output
    recs = [json.loads(line) for line in outs[0].splitlines()]
    assert [r["id"] for r in recs] == ["a", "b"]
    assert recs[0]["reference"] == "GreaterThan(4)" and recs[0]["table"] == [["Value"], ["5"]] and recs[1]["reference"] is None
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
        ([f"ckpt={ckpt}", "text=x", "colour=red"], "error: unknown argument 'colour=red'"),
    ]
    for args, needle in cases:
        assert sample.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err

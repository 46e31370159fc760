"""`python -m codefusion.evaluate` end to end on small prediction files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codefusion.evaluation.__main__ import main
from codefusion.evaluation.gold import gold_predictions

REPO = Path(__file__).resolve().parents[2]
FILES = {"python": "PythonBenchmarks.json", "bash": "BashBenchmarks.json",
         "cf": "CFRuleBenchmarks.json"}


def write_gold(data_dir: Path, language: str, path: Path, limit: int = 40,
               drop_language: bool = False) -> Path:
    records = gold_predictions(data_dir / "codefusion-benchmarks" / FILES[language], "test",
                               candidates=5, seed=0, limit=limit)
    for r in records:
        if drop_language:
            r.pop("language")
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("language, primary", [("bash", "template_match"),
                                               ("cf", "execution_match")])
def test_scores_gold_files(data_dir: Path, tmp_path: Path, tiny_model_dir: Path,
                           language: str, primary: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    src = write_gold(data_dir, language, tmp_path / f"{language}.jsonl", drop_language=True)
    out = tmp_path / "m.json"
    assert main([f"predictions={src}", f"out={out}", f"encoder={tiny_model_dir}"]) == 0
    report = json.loads(out.read_text())
    assert report["language"] == language  # detected: no language field in the rows
    assert report["primary"] == primary and report["inputs"] == 40
    assert report["metrics"][primary] == {"top1": 100.0, "top3": 100.0, "top5": 100.0}
    assert report["metrics"]["exact_match"]["top1"] == 100.0
    assert report["metrics"]["exact_match"]["top3"] == 100.0
    assert 0.0 < report["diversity"]["embedding_cosine_mean"] <= 1.0
    assert 0.0 < report["diversity"]["edit_distance_mean"] < 1.0
    printed = capsys.readouterr().out
    assert "top-1" in printed and "syntactically valid" in printed and str(out) in printed


def test_python_with_a_local_codebertscore_model(data_dir: Path, tmp_path: Path,
                                                 tiny_model_dir: Path) -> None:
    src = write_gold(data_dir, "python", tmp_path / "p.jsonl", limit=12)
    assert main([f"predictions={src}", f"model={tiny_model_dir}", "encoder=none"]) == 0
    report = json.loads((tmp_path / "p.metrics.json").read_text())  # default out= beside it
    f1 = report["metrics"]["codebertscore_f1"]
    assert f1["top1"] == pytest.approx(100.0, abs=1e-3) and f1["model"] == str(tiny_model_dir)
    assert report["diversity"]["embedding"] == {"computed": False, "reason": "encoder=none"}


def test_missing_models_are_reported_not_invented(data_dir: Path, tmp_path: Path,
                                                  offline: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = write_gold(data_dir, "python", tmp_path / "p.jsonl", limit=5)
    assert main([f"predictions={src}", f"out={tmp_path / 'r.json'}"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    for key in ("codebertscore_f1", "codebertscore_f3"):
        entry = report["metrics"][key]
        assert entry["computed"] is False and "neulab/codebert-python" in entry["reason"]
        assert "top1" not in entry
    assert report["diversity"]["embedding"]["computed"] is False
    assert "embedding_cosine_mean" not in report["diversity"]
    assert "not computed" in capsys.readouterr().out


def test_bad_lines_are_skipped_and_counted(data_dir: Path, tmp_path: Path) -> None:
    src = write_gold(data_dir, "cf", tmp_path / "cf.jsonl", limit=5)
    with src.open("a") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"id": 1, "candidates": [{"code": "Top(1)"}]}) + "\n")
        handle.write(json.dumps({"id": 2, "reference": "Top(1)", "candidates": "Top(1)"}) + "\n")
    out = tmp_path / "m.json"
    assert main([f"predictions={src}", f"out={out}", "encoder=none"]) == 0
    report = json.loads(out.read_text())
    assert report["inputs"] == 5 and len(report["skipped"]) == 3
    assert report["skipped"][1].startswith("line 7: no reference")


@pytest.mark.parametrize("argv, message", [
    ([], "missing predictions=FILE.jsonl"),
    (["predictions"], "argument 'predictions' is not of the form key=value"),
    (["predictions=x.jsonl", "langauge=bash"], "unknown key 'langauge'"),
    (["predictions=x.jsonl", "language=java"], "unknown language 'java'"),
    (["predictions=x.jsonl", "device=gpu"], "device='gpu'"),
    (["predictions=/nonexistent/p.jsonl"], "does not exist"),
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_undecidable_language_and_empty_files(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "preds.jsonl"
    odd.write_text(json.dumps({"id": 1, "reference": "???", "candidates": ["???"]}) + "\n")
    assert main([f"predictions={odd}"]) == 2
    assert "pass language=python|bash|cf" in capsys.readouterr().err
    assert main([f"predictions={odd}", "language=bash", "encoder=none"]) == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main([f"predictions={empty}"]) == 2
    assert "no usable prediction line" in capsys.readouterr().err


def test_diversity_names_the_inputs_it_leaves_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # sample.py keep=5 distinct=true writes one program for an input whose noises all agree:
    # such an input has no pairwise figures, and the table says how many were left out.
    preds = tmp_path / "kept.jsonl"
    rows = [{"id": 1, "reference": "ls -l", "candidates": ["ls -l"]},
            {"id": 2, "reference": "ls -a", "candidates": ["ls -a", "ls -la", "ls"]}]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([f"predictions={preds}", "language=bash", "encoder=none"]) == 0
    assert "diversity of top-5 (1 inputs; 1 with fewer than two candidates left out):" in capsys.readouterr().out
    preds.write_text(json.dumps(rows[1]) + "\n")
    assert main([f"predictions={preds}", "language=bash", "encoder=none"]) == 0
    assert "diversity of top-5 (1 inputs):" in capsys.readouterr().out


def test_oracle_over_all_candidates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # sample.py num_candidates=20 writes more candidates than top-5 reads: the report adds the
    # share of inputs with any of them right (the ceiling of any ranking), for the cheap metrics.
    table = [["Index", "Value"], ["0", "5"], ["1", "2"], ["2", "9"]]
    wrong = [f"LessThan({v})" for v in range(10, 16)]
    rows = [{"id": 1, "reference": "GreaterThan(4)", "table": table, "candidates": [*wrong, "GreaterThan(4)"]},
            {"id": 2, "reference": "GreaterThan(4)", "table": table, "candidates": ["GreaterThan(3)", *wrong]}]
    preds, out = tmp_path / "k7.jsonl", tmp_path / "k7.json"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([f"predictions={preds}", "language=cf", "encoder=none", f"out={out}"]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    # the 7th candidate is right for input 1 (exact and execution); GreaterThan(3) formats the same rows for input 2
    assert report["metrics"]["execution_match"]["top5"] == 50.0 and report["metrics"]["exact_match"]["top5"] == 0.0
    assert report["oracle_all"] == {"k": 7, "exact_match": 50.0, "execution_match": 100.0}
    assert "any of all (up to 7) candidates right: execution match 100.0, exact match 50.0" in text
    preds.write_text("".join(json.dumps({**r, "candidates": r["candidates"][:5]}) + "\n" for r in rows))
    assert main([f"predictions={preds}", "language=cf", "encoder=none", f"out={out}"]) == 0
    assert "oracle_all" not in json.loads(out.read_text()) and "any of all" not in capsys.readouterr().out


def test_module_entry_point(data_dir: Path, tmp_path: Path) -> None:
    src = write_gold(data_dir, "cf", tmp_path / "cf.jsonl", limit=10)
    done = subprocess.run([sys.executable, "-m", "codefusion.evaluate", f"predictions={src}",
                           "language=cf", "encoder=none"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "execution match (primary)" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "codefusion.evaluate", "oops"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: argument 'oops' is not of the form key=value")


@pytest.mark.slow
def test_full_bash_test_split_scores_in_seconds(data_dir: Path, tmp_path: Path) -> None:
    # 2,522 inputs x 5 candidates (gold + 4 perturbations): the figure in docs/evaluation.md.
    src = tmp_path / "bash.jsonl"
    records = gold_predictions(data_dir / "codefusion-benchmarks" / FILES["bash"], "test")
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert main([f"predictions={src}", "encoder=none"]) == 0
    report = json.loads((tmp_path / "bash.metrics.json").read_text())
    assert report["candidates"] == 12610
    assert report["metrics"]["template_match"]["top1"] == 100.0
    assert report["seconds"]["total"] < 30

"""python -m codefusion.compare: the paper's Tables 1-3 side by side, numbers from codefusion.evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefusion import compare
from codefusion.evaluation.predictions import read_predictions
from codefusion.evaluation.report import score_predictions

TABLE = [["Value"], ["5"], ["3"], ["12"], ["9.5"], ["1.5"], [""]]
REFS = ["GreaterThan(4)", "LessThan(10)", "Between(2,6)", "Equals(3)"]


def write(path: Path, candidates: list[list[str]]) -> Path:
    rows = [{"id": i, "nl": f"rule {i}", "reference": ref, "table": TABLE,
             "candidates": [{"code": c, "score": -0.1 * j} for j, c in enumerate(cands)]}
            for i, (ref, cands) in enumerate(zip(REFS, candidates))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    # a: right at rank 1 once, rank 2 once, rank 4 once; b: five copies of one candidate (no diversity).
    a = write(tmp_path / "a.jsonl", [
        ["GreaterThan(4)", "GreaterThan(5)", "LessThan(4)", "Equals(4)", "GreaterThanEqual(4)"],
        ["LessThan(9)", "LessThan(10)", "GreaterThan(10)", "LessThanEqual(9)", "Between(1,9)"],
        ["Between(1,6)", "Between(2,10)", "Between(4,6)", "Between(2,6)", "Equals(2)"],
        ["GreaterThan(", "NOT(Equals(3))", "Equals(5)", "GreaterThan(100)", "TextContains(x)"],
    ])
    b = write(tmp_path / "b.jsonl", [[c] * 5 for c in ["GreaterThan(4)", "LessThan(9)", "Between(2,6)", "Equals("]])
    return a, b


def row(text: str, title: str, name: str) -> list[str]:
    """The cells of `name`'s row in the table under the line starting with `title`."""
    section = text[text.index(title):]
    line = next(x for x in section.splitlines() if x.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_compare_lays_out_the_evaluation_numbers(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    a, b = files
    out = tmp_path / "cmp" / "table.md"
    assert compare.main([f"predictions=[{a},{b}]", "names=[diffusion,beam]", "encoder=none", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert out.read_text() in text and not list(out.parent.glob("*.tmp"))
    assert text.startswith("# Comparison: cf, primary metric execution match")
    for name, path in (("diffusion", a), ("beam", b)):
        report = score_predictions(read_predictions(path)[0], "cf", encoder=None)
        execution, exact = report["metrics"]["execution_match"], report["metrics"]["exact_match"]
        div = report["diversity"]
        assert row(text, "Table 1", name) == ["4", "20", *(f"{execution[k]:.1f}" for k in ("top1", "top3", "top5"))]
        assert row(text, "Exact match", name) == [f"{exact[k]:.1f}" for k in ("top1", "top3", "top5")]
        assert row(text, "Table 2", name) == ["4", *(f"{div[f'distinct_{n}']:.2f}" for n in (1, 2, 3, 4)), "n/c",
                                              f"{div['edit_distance_mean']:.2f}"]
        assert row(text, "Table 3", name) == [f"{report['syntax_valid_top1']:.1f}"]
    # The numbers themselves, by hand: a finds 1, 2, 3 of 4 rules in its top-1, top-3, top-5.
    assert row(text, "Table 1", "diffusion")[2:] == ["25.0", "50.0", "75.0"]
    assert row(text, "Table 3", "beam") == ["75.0"]  # "Equals(" does not parse
    assert row(text, "Table 2", "beam")[6] == "0.00"  # five identical candidates: edit distance 0
    assert "n/c = not computed: encoder=none" in text


def test_default_names_and_language_option(files: tuple[Path, Path], capsys) -> None:
    a, b = files
    assert compare.main([f"predictions=[{a},{b}]", "language=cf", "encoder=none"]) == 0
    text = capsys.readouterr().out
    assert row(text, "Table 1", "a") and row(text, "Table 1", "b")


def test_errors_are_one_line(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    a, _ = files
    (tmp_path / "junk.jsonl").write_text("not json\n{\"reference\": 3}\n")
    python = tmp_path / "python.jsonl"
    python.write_text(json.dumps({"reference": "x = 1", "candidates": ["x = 1"], "language": "python"}) + "\n")
    cases = [
        ([f"predictions=[{tmp_path / 'missing.jsonl'}]"], "does not exist"),
        ([f"predictions=[{tmp_path / 'junk.jsonl'}]"], "has no usable prediction line (first problem: line 1"),
        ([f"predictions=[{a},{python}]"], "different languages (a: cf, python: python)"),
        ([f"predictions=[{a}]", "names=[x,y]"], "names gives 2 names for 1 files"),
        ([f"predictions=[{a}]", f"out={tmp_path}"], "is a directory"),
        ([str(a)], "is not of the form key=value"),
        ([f"predictions=[{a}]", "langauge=cf"], "unknown key 'langauge'"),
    ]
    for args, needle in cases:
        assert compare.main([*args, "encoder=none"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err

"""Edit distance, and `python -m codefusion.trajectory` (plot / show) on hand-written files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codefusion.edit_distance import levenshtein, normalized_edit_distance
from codefusion.generation.trajectory import TrajectoryError, main, mean_curve, read_trajectories

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("a, b, distance", [
    ("", "", 0), ("", "abc", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2),
    ("GreaterThan(5)", "GreaterThan(5)", 0), ("abc", "xyz", 3), ("ab", "ba", 2),
])
def test_levenshtein_known_pairs(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == levenshtein(b, a) == distance


def test_normalized_edit_distance() -> None:
    assert normalized_edit_distance("", "") == 0.0
    assert normalized_edit_distance("", "abcd") == normalized_edit_distance("abcd", "") == 1.0
    assert normalized_edit_distance("kitten", "sitting") == normalized_edit_distance("sitting", "kitten") == 3 / 7
    assert normalized_edit_distance("same", "same") == 0.0


def row(id: str, ref: str | None, steps: int, points: list[tuple[int, str, float | None]],
        language: str | None = "cf", candidate: int = 0) -> dict[str, Any]:
    return {"id": id, "nl": f"utterance {id}", "reference": ref, "language": language,
            "candidate": candidate, "sampler": "ddpm", "steps": steps, "num_timesteps": 100,
            "trajectory": [{"step": s, "t": 100 - s * 100 // steps, "code": c, "edit_distance": e}
                           for s, c, e in points]}


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    a = write(tmp_path / "cf.trajectory.jsonl", [
        row("1", "A(5)", 4, [(1, "xx", 1.0), (2, "A(", 0.5), (4, "A(5)", 0.0)]),
        row("1", "A(5)", 4, [(1, "yy", 0.5), (2, "A(6", 0.25), (4, "A(6)", 0.25)], candidate=1),
        row("2", None, 4, [(1, "zz", None), (2, "z", None), (4, "B", None)]),  # no reference: skipped
    ])
    b = write(tmp_path / "py.trajectory.jsonl", [
        row("7", "print(1)\nx = 2", 2, [(1, "prin", 0.8), (2, "print(1)\nx = 2", 0.0)], language="python"),
    ])
    return a, b


def test_read_and_mean_curve(files: tuple[Path, Path]) -> None:
    a, b = files
    rows = read_trajectories(a)
    assert [r["id"] for r in rows] == ["1", "1", "2"]
    assert mean_curve(rows) == ([1, 2, 4], [0.75, 0.375, 0.125])
    assert mean_curve(rows, x="fraction") == ([0.25, 0.5, 1.0], [0.75, 0.375, 0.125])
    pooled = rows + read_trajectories(b)  # 2 steps vs 4: the fractions 0.5 and 1.0 line up
    assert mean_curve(pooled, x="fraction") == ([0.25, 0.5, 1.0], [0.75, (0.5 + 0.25 + 0.8) / 3, 0.125 / 1.5])
    with pytest.raises(TrajectoryError, match="no row has a reference"):
        mean_curve(rows[2:])


@pytest.mark.parametrize("label_by", ["file", "language"])
def test_plot_writes_png(files: tuple[Path, Path], tmp_path: Path, label_by: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fig.png"
    assert main(["plot", f"files=[{files[0]},{files[1]}]", f"out={out}", f"label_by={label_by}",
                 "x=fraction", "title=test"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and str(out) in said
    assert ("cf, py" if label_by == "file" else "cf, python") in said


def test_the_decoded_state_x_t(files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [row("1", "A(5)", 4, [(1, "A(5)", 0.0), (2, "A(5)", 0.0), (4, "A(5)", 0.0)])]
    for point, (code, dist) in zip(rows[0]["trajectory"], [("#@!", 1.0), ("A(", 0.5), ("A(5)", 0.0)]):
        point.update(x_t_code=code, x_t_edit_distance=dist)
    path = write(tmp_path / "both.trajectory.jsonl", rows)
    got = read_trajectories(path)
    assert mean_curve(got) == ([1, 2, 4], [0.0, 0.0, 0.0])
    assert mean_curve(got, of="x_t") == ([1, 2, 4], [1.0, 0.5, 0.0])
    out = tmp_path / "fig.png"
    assert main(["plot", f"files=[{path}]", f"out={out}", "of=both"]) == 0
    assert "2 curve(s): both (x̂0), both (x_t)" in capsys.readouterr().out
    assert main(["show", f"file={path}", "id=1", "of=x_t"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0].endswith("decoded state x_t") and said[4].split()[2:] == ["1.00", "#@!"]
    # A file written before x_t was recorded: one line saying so, for plot and show alike.
    assert main(["plot", f"files=[{files[0]}]", f"out={out}", "of=x_t"]) == 2
    assert "no decoded x_t in this trajectory" in capsys.readouterr().err
    assert main(["show", f"file={files[0]}", "id=1", "of=x_t"]) == 2
    assert "has no decoded x_t" in capsys.readouterr().err
    assert main(["plot", f"files=[{path}]", f"out={out}", "of=xt"]) == 2
    assert "of=xt must be x0, x_t or both" in capsys.readouterr().err
    # Half a state (code without its edit distance) is a broken file.
    del rows[0]["trajectory"][1]["x_t_edit_distance"]
    write(path, rows)
    with pytest.raises(TrajectoryError, match=r"trajectory\[1\]: missing key\(s\) x_t_edit_distance"):
        read_trajectories(path)


def test_show_prints_the_program_emerging(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", f"file={files[0]}", "id=1", "candidate=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "nl:        utterance 1" and lines[2] == "reference: A(5)"
    steps = [line.split() for line in lines[4:]]
    assert [(s[0], s[2], s[3]) for s in steps] == [("1", "0.50", "yy"), ("2", "0.25", "A(6"), ("4", "0.25", "A(6)")]
    assert main(["show", f"file={files[1]}", "id=7"]) == 0  # multi-line code stays under its column
    assert capsys.readouterr().out.rstrip().endswith("print(1)\n" + " " * 21 + "x = 2")


def test_errors(files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["show", f"file={missing}", "id=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read trajectory file") and str(missing) in err and err.count("\n") == 1

    bad = tmp_path / "bad.jsonl"
    bad.write_text(files[0].read_text().splitlines()[0] + "\n{not json\n")
    assert main(["plot", f"files=[{bad}]", f"out={tmp_path / 'f.png'}"]) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    incomplete = row("1", "A", 1, [(1, "A", 0.0)])
    del incomplete["trajectory"][0]["t"]
    write(bad, [row("0", "A", 1, [(1, "A", 0.0)]), incomplete])
    with pytest.raises(TrajectoryError, match=r"bad.jsonl:2: trajectory\[0\]: missing key\(s\) t"):
        read_trajectories(bad)
    assert not (tmp_path / "f.png").exists()

    assert main(["show", f"file={files[0]}", "id=99"]) == 2
    assert "unknown id '99'; available: 1, 2" in capsys.readouterr().err
    assert main(["show", f"file={files[0]}", "id=2", "candidate=3"]) == 2
    assert "no candidate 3; available: 0" in capsys.readouterr().err


def test_module_entry_point(files: tuple[Path, Path]) -> None:
    done = subprocess.run([sys.executable, "-m", "codefusion.trajectory", "show", f"file={files[0]}", "id=x"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "unknown id 'x'" in done.stderr

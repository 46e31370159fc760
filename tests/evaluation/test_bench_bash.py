"""The Bash template benchmark on a tiny benchmark file (the real run: docs/evaluation.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefusion.evaluation.bench_bash import main, nearest_neighbours, run

TRAIN = [{"ID": 1, "NL Utterance": "list all files", "Code": "ls -a"},
         {"ID": 2, "NL Utterance": "count lines in files", "Code": "wc -l *"},
         {"ID": 3, "NL Utterance": "make an alias for ls", "Code": "alias l='ls -l'"}]
TEST = [{"ID": 10, "NL Utterance": "list files", "Code": "ls -l"},
        {"ID": 11, "NL Utterance": "count the lines", "Code": "wc -l f"},
        {"ID": 12, "NL Utterance": "alias ls", "Code": "alias ll='ls -la'"}]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "bash.json"
    path.write_text(json.dumps({"train": TRAIN, "test": TEST}), encoding="utf-8")
    return path


def test_neighbours_share_the_most_words() -> None:
    # "list files": 2 words with train 1, 1 with train 2 ("files"); ties go to the earlier row.
    assert nearest_neighbours(TRAIN, TEST, k=2) == [["ls -a", "wc -l *"],
                                                   ["wc -l *"], ["alias l='ls -l'"]]


def test_report_and_agreement_with_given_scores(data: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    report = run(str(data), pairs_out=str(pairs))
    nl2bash = report["modes"]["nl2bash"]
    # ls -a / ls -l: {ls, -a} vs {ls, -l} = 0.5; wc -l * / wc -l f: 1.0; the alias pair falls
    # back to words: [alias, l='ls, -l'] vs [alias, ll='ls, -la'] = 1/3.
    assert nl2bash["template_match_top1"] == pytest.approx(100 * (0.5 + 1 + 1 / 3) / 3)
    assert report["gold_readable_by_nl2bash"] == {"readable": 2, "utility outside the grammar": 1}
    lines = pairs.read_text().splitlines()
    assert lines[0] == "10\tls -a\tls -l" and len(lines) == 3
    official = tmp_path / "official.tsv"
    official.write_text("10\t0.5\n11\t1.0\n12\t0.9\n")
    agreement = run(str(data), official=str(official))["official"]
    assert agreement["items"] == 3 and agreement["share_differing_by_more_than_0.1"] == \
        pytest.approx(1 / 3)
    assert 0.0 < agreement["pearson"] < 1.0


def test_bad_paths_are_one_line_errors(data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"data={tmp_path / 'missing.json'}"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read the Bash benchmark")
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"10": 0.5}))
    assert main([f"data={data}", f"official={short}"]) == 2
    assert "the official scores lack 2 test items (first: '11')" in capsys.readouterr().err
    assert main([f"data={data}", f"out={data}"]) == 2  # would destroy its input
    assert "out=" in capsys.readouterr().err and data.exists()
    assert main(["--data", str(data)]) == 2  # the old flag
    assert "argument '--data' is not of the form key=value" in capsys.readouterr().err
    assert main([f"data={data}", "pairs-out=x"]) == 2
    assert "unknown key 'pairs-out'" in capsys.readouterr().err

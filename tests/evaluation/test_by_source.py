"""Scoring a benchmark's sub-sources apart: the CF test split joins CORNET and NLToCF rules, and
every figure that differs between models lives in one of them. The `source` field goes from the
prepared data through sample.py's and train.py's prediction files into evaluate and compare."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefusion.compare import main as compare_main
from codefusion.data.benchmarks import cf_source
from codefusion.data.examples import SplitReport, check_rows
from codefusion.evaluate import main as evaluate_main
from codefusion.evaluation.predictions import Prediction, read_predictions
from codefusion.evaluation.report import score_predictions
from codefusion.generation.records import prediction_record

TABLE = [["Index", "Value"], ["0", "5"], ["1", "2"], ["2", "9"]]


def test_cf_source_from_the_official_id() -> None:
    assert [cf_source(i) for i in (1, 712, 772, "773", 890)] == ["cornet"] * 3 + ["nltocf"] * 2
    assert cf_source("x") is None and cf_source(None) is None


def _record(i: int, source: str | None, right: bool) -> Prediction:
    wrong = "LessThan(3)"
    return Prediction(id=i, reference="GreaterThan(4)", table=TABLE, source=source,
                      candidates=["GreaterThan(4)" if right else wrong, wrong, "GreaterThan(4)"])


def test_each_source_is_scored_from_the_same_candidates() -> None:
    # three cornet rows (two right at top-1), four nltocf rows (none right at top-1, all at top-3)
    records = [_record(0, "cornet", True), _record(1, "nltocf", False), _record(2, "cornet", True),
               _record(3, "nltocf", False), _record(4, "cornet", False), _record(5, "nltocf", False),
               _record(6, "nltocf", False)]
    report = score_predictions(records, "cf", encoder=None)
    groups = report["by_source"]
    assert list(groups) == ["cornet", "nltocf"]  # order of first appearance
    assert groups["cornet"]["inputs"] == 3 and groups["nltocf"]["inputs"] == 4
    cornet, nltocf = (groups[s]["metrics"] for s in ("cornet", "nltocf"))
    assert cornet["execution_match"] == pytest.approx({"top1": 200 / 3, "top3": 100.0, "top5": 100.0})
    assert nltocf["execution_match"] == {"top1": 0.0, "top3": 100.0, "top5": 100.0}
    assert cornet["exact_match"]["top1"] == pytest.approx(200 / 3)
    # the whole file is the inputs-weighted mean of its sources
    assert report["metrics"]["execution_match"]["top1"] == pytest.approx(100 * 2 / 7)
    assert groups["cornet"]["syntax_valid_top1"] == 100.0
    assert groups["cornet"]["diversity"]["inputs"] == 3 and groups["cornet"]["diversity"]["k"] == 5


def test_diversity_per_source() -> None:
    same = Prediction(id=0, reference="Blanks()", source="cornet", candidates=["Blanks()"] * 3)
    differ = Prediction(id=1, reference="Blanks()", source="nltocf",
                        candidates=["Blanks()", "GreaterThan(4)", "TextContains(abc)"])
    report = score_predictions([same, differ], "cf", encoder=None)
    cornet, nltocf = (report["by_source"][s]["diversity"] for s in ("cornet", "nltocf"))
    assert cornet["edit_distance_mean"] == 0.0 and cornet["distinct_1"] < nltocf["distinct_1"]
    assert nltocf["edit_distance_mean"] > 0.3
    assert report["diversity"]["edit_distance_mean"] == pytest.approx(nltocf["edit_distance_mean"] / 2)
    assert nltocf["embedding"] == {"computed": False, "reason": "encoder=none"}


def test_no_breakdown_without_two_sources() -> None:
    assert "by_source" not in score_predictions([_record(0, None, True), _record(1, None, False)], "cf",
                                                encoder=None)
    assert "by_source" not in score_predictions([_record(0, "cornet", True), _record(1, "cornet", False)],
                                                "cf", encoder=None)
    mixed = score_predictions([_record(0, "cornet", True), _record(1, None, False)], "cf", encoder=None)
    assert mixed["by_source"]["unlabelled"]["metrics"]["execution_match"]["top1"] == 0.0


def test_source_travels_from_rows_to_prediction_files() -> None:
    kept = check_rows([{"id": 713, "nl": "values over 4", "code": "GreaterThan(4)", "table": TABLE,
                        "source": "cornet"}, {"nl": "blanks", "code": "Blanks()"}], SplitReport("test"))
    assert kept[0]["source"] == "cornet" and "source" not in kept[1]
    record = prediction_record(kept[0], 0, [{"code": "GreaterThan(4)", "score": 0.0}])
    assert record["source"] == "cornet" and record["table"] == TABLE
    assert "source" not in prediction_record(kept[1], 1, [])
    # sample.py passes raw input rows: a source the evaluator could not read is not copied
    assert "source" not in prediction_record({"nl": "blanks", "source": 3}, 2, [])


def _write(path: Path, sources: list[object]) -> Path:
    rows = [{"id": str(i), "nl": "values over 4", "reference": "GreaterThan(4)", "table": TABLE,
             "source": s, "candidates": [{"code": "GreaterThan(4)" if i % 2 == 0 else "LessThan(3)"}]}
            for i, s in enumerate(sources)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_and_compare_print_each_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "p.jsonl", ["cornet", "cornet", "nltocf", "nltocf", 7])
    records, skipped = read_predictions(src)
    assert len(records) == 4 and skipped == ["line 5: source is not a non-empty string"]
    out = tmp_path / "m.json"
    assert evaluate_main([f"predictions={src}", "language=cf", "encoder=none", f"out={out}"]) == 0
    report = json.loads(out.read_text())
    assert {s: g["inputs"] for s, g in report["by_source"].items()} == {"cornet": 2, "nltocf": 2}
    printed = capsys.readouterr().out
    assert "source cornet (2 inputs):" in printed and "source nltocf (2 inputs):" in printed
    assert compare_main([f"predictions=[{src},{src}]", "names=[A,B]", "language=cf", "encoder=none"]) == 0
    printed = capsys.readouterr().out
    assert "Table 1 per source of the inputs: execution match (%)" in printed
    assert "| B | nltocf | 2 | 50.0 | 50.0 | 50.0 | 50.0 | n/c | n/c |" in printed  # one candidate: no diversity


def test_experiment_results_read_each_source() -> None:
    from codefusion.experiment.results import _label, columns_of

    report = score_predictions([_record(0, "cornet", True), _record(1, "nltocf", False)], "cf", encoder=None)
    columns = columns_of(report, ["primary", "source.cornet", "source.nltocf", "source.other"])
    assert columns["primary.top1"] == 50.0
    assert (columns["source.cornet.top1"], columns["source.nltocf.top1"], columns["source.nltocf.top3"]) == (
        100.0, 0.0, 100.0)
    assert columns["source.other.top1"] is None  # a source the report does not have: "—" in the table
    assert _label("source.cornet.top1", "execution_match") == "execution match top-1, cornet"

"""The CF interpreter and execution match, on hand-checked tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from codefusion.evaluation import execution_match
from codefusion.evaluation.execution import execution_match_detail
from codefusion.languages.cf_interpreter import RuleRuntimeError, execute, to_cell
from codefusion.languages.cf_rules import is_valid_rule

# A CORNET-style table: the rule applies to the `Value` column by default.
VALUES = [["Index", "Value", "Count"],
          [0, "144.69999999999999", 5], [1, "5.99E-2", 7], [2, "15", 9], [3, "", 1],
          [4, "abc", 3], [5, "85", 2], [6, "15", 4]]
PEOPLE = [["Name", "City", "Sales", "Target", "Date"],
          ["Ann", "Manchester", 120, 100, "2022-11-15"],
          ["bob", "New York", 80, 100, "2022-12-01"],
          ["Cid", "Rochester ", "$1,050.00", 900, "2022-12-31"],
          ["Dee", "", 100, 100, "2023-01-02"]]


def rows(rule: str, table: list[list[Any]]) -> list[Any]:
    return execute(rule, table)


def test_cells_are_read_the_way_excel_reads_them() -> None:
    assert to_cell("144.69999999999999").number == pytest.approx(144.7)
    assert to_cell("5.99E-2").number == pytest.approx(0.0599)
    assert to_cell("$1,050.00").number == 1050.0
    assert to_cell("12%").number == pytest.approx(0.12)
    assert to_cell("20/8/2021").number == to_cell("2021-08-20").number == 44428.0
    assert to_cell("  ").blank and to_cell(None).blank and not to_cell("x").blank
    assert to_cell(True).text == "TRUE" and to_cell(True).number is None
    assert to_cell(15.0).text == "15" and to_cell("RI3").number is None


@pytest.mark.parametrize("rule, expected", [
    ("GreaterThan(80)", [True, False, False, False, False, True, False]),
    ("LessThanEqual(15)", [False, True, True, False, False, False, True]),
    ("Equals(15)", [False, False, True, False, False, False, True]),
    ("NotEquals(15)", [True, True, False, False, False, True, False]),  # text/blank: no
    ("Between(85, 15)", [False, False, True, False, False, True, True]),  # either order
    ("Between(15,85)", [False, False, True, False, False, True, True]),
    ("top(2)", [True, False, False, False, False, True, False]),
    ("Top(3)", [True, False, True, False, False, True, True]),  # ties at the 3rd value
    ("bottom(1)", [False, True, False, False, False, False, False]),
    ("top(40%)", [True, False, False, False, False, True, False]),  # floor(5 * .4) = 2
    ("TopPercent(c[1], 50)", [True, False, False, False, False, True, False]),
    ("aboveAverage()", [True, False, False, False, False, True, False]),  # mean 51.9
    ("BelowAverage()", [False, True, True, False, False, False, True]),
    ("Duplicate()", [False, False, True, False, False, False, True]),
    ("Blanks()", [False, False, False, True, False, False, False]),
    ("NOT(Blanks())", [True, True, True, False, True, True, True]),
    ("TextEquals(ABC)", [False, False, False, False, True, False, False]),  # case-insensitive
    ("TextContains(5)", [False, True, True, False, False, True, True]),  # "5.99E-2" has a 5
    ("OR(Equals(15), TextEquals(abc))", [False, False, True, False, True, False, True]),
    ("AND(GreaterThan(10), LessThan(100))", [False, False, True, False, False, True, True]),
    ("GreaterThan(c[2], 4)", [True, True, True, False, False, False, False]),
])
def test_rules_on_the_value_column(rule: str, expected: list[bool]) -> None:
    assert rows(rule, VALUES) == expected


@pytest.mark.parametrize("rule, expected", [
    ("GreaterThan(c[2], c[3])", [True, False, True, False]),  # "$1,050.00" is a number
    ("Equals(c[2], c[3])", [False, False, False, True]),
    ("TextContains(c[1], 'ster')", [True, False, True, False]),
    ("TextEquals(c[1], 'Rochester')", [False, False, False, False]),  # the cell has a space
    ("EndsWith(c[1], 'ster ')", [False, False, True, False]),
    ("StartsWith(c[0], B)", [False, True, False, False]),
    ("GreaterThan(LEN(c[1]), 8)", [True, False, True, False]),
    ("Blanks(c[1])", [False, False, False, True]),
    ("LastMonth(c[4])", [False, True, True, False]),  # latest date is in January 2023
    ("GreaterThan(c[4], '2022-12-01')", [False, False, True, True]),  # dates are serials
    ("TextEquals(Ann)", [True, False, False, False]),  # no `Value` column: the first one
])
def test_rules_on_a_multi_column_table(rule: str, expected: list[bool]) -> None:
    assert rows(rule, PEOPLE) == expected


def test_visual_formats_say_what_each_cell_shows() -> None:
    table = [["x"], [0], [5], [10], ["n/a"]]
    assert rows("ColorScale()", table) == [("ColorScale", 0.0), ("ColorScale", 0.5),
                                           ("ColorScale", 1.0), None]
    assert rows("DataBar(c[0])", table)[1] == ("DataBar", 0.5)
    assert rows("IconSet()", table) == [("IconSet", 0), ("IconSet", 1), ("IconSet", 2), None]
    assert not execution_match("DataBar()", "ColorScale()", table)
    assert execution_match("ColorScale(c[0])", "ColorScale()", table)


def test_errors_function_finds_error_values() -> None:
    table = [["S", "Apr"], ["a", 30], ["b", "#ERR"], ["c", "#DIV/0!"], ["d", "#hashtag"]]
    assert rows("Errors(c[1])", table) == [False, True, True, False]


def test_rules_that_cannot_run_here() -> None:
    with pytest.raises(RuleRuntimeError):
        execute("GreaterThan(c[9], 1)", PEOPLE)
    with pytest.raises(RuleRuntimeError):
        execute("TextEquals($B$6)", VALUES)
    with pytest.raises(RuleRuntimeError):
        execute("AND(ColorScale(), Blanks())", VALUES)


@pytest.mark.parametrize("pred, ref, match", [
    ("Between(15, 85)", "Between(85,15)", True),
    ("AND(GreaterThanEqual(15), LessThanEqual(85))", "Between(15,85)", True),
    ("Top(3)", "top(3)", True),
    ("GreaterThan(14)", "GreaterThanEqual(15)", True),  # same rows on this table
    ("GreaterThan(15)", "GreaterThanEqual(15)", False),
    ("TextContains(c[1], 5)", "TextContains(5)", True),  # c[1] is the Value column
    ("Between(15,", "Between(15,85)", False),  # does not parse: a miss
    ("GreaterThan(c[7], 1)", "GreaterThan(1)", False),  # cannot run: a miss
    ("Top(1e999)", "Top(3)", False),
    ("", "Top(3)", False),
])
def test_execution_match_on_a_table(pred: str, ref: str, match: bool) -> None:
    assert execution_match(pred, ref, VALUES) is match


def test_absurdly_deep_predictions_are_a_miss_not_a_crash() -> None:
    deep = "NOT(" * 2000 + "Blanks()" + ")" * 2000
    assert execution_match(deep, "Blanks()", VALUES) is False


@pytest.mark.parametrize("pred, ref, table, match, mode", [
    ("top(1)", "Top(1)", [["Index", "Value"]], True, "no-rows"),
    ("Top(1)", "Top(2)", [["Index", "Value"]], False, "no-rows"),
    ("Top(1)", "Top(1)", None, True, "no-rows"),
    ("--", "--", VALUES, True, "ref-unparsed"),
    ("$A2 = $A3", "$A2=$A3", VALUES, False, "ref-unparsed"),
    ("TextEquals( $B$6 )", "TextEquals($B$6)", VALUES, True, "ref-not-executable"),
    ("NOT(Duplicates(c[2]))", "NOT(Duplicates(c[2]))", [["A", "B"], [1, 2]], True,
     "ref-not-executable"),
    ("Top(1)", "Top(1)", VALUES, True, "executed"),
])
def test_fallbacks_are_named(pred: str, ref: str, table: Any, match: bool, mode: str) -> None:
    assert execution_match_detail(pred, ref, table) == (match, mode)


def test_text_tests_agree_with_the_gold_labels(benchmark_data: Callable[[str], dict]) -> None:
    # Train records with one label per row mark the rows Excel formatted. For the text tests
    # the labels are clean, and the interpreter must agree on every row (case-insensitive
    # match, spaces kept). Other functions' labels mark whole ranges: see docs/evaluation.md.
    checked = 0
    for r in benchmark_data("cf")["train"]:
        code = r["Code"]
        if code.startswith(("TextEquals(", "TextContains(")) and is_valid_rule(code) and \
                "$" not in code and len(r["Labels"]) == len(r["Data"]) > 1:
            assert [bool(x) for x in execute(code, r["Data"])] == \
                [bool(x) for x in r["Labels"][1:]], r["ID"]
            checked += 1
    assert checked == 104

"""Interpreter for CF rules and the execution-match metric.

`execute(rule, table)` runs a parsed rule on a benchmark table (`Data`: header row first) and
returns one result per data row: `True`/`False` for highlighting rules, and for the visual formats
a tuple that says what the cell shows (`("ColorScale", 0.25)`: a quarter of the way from the
column's minimum to its maximum), or `None` for a cell the format leaves alone. Two rules
execution-match when these per-row results are equal.

Semantics follow Excel's conditional formatting where the benchmark does not say otherwise, and
were checked against the train records that carry per-row gold labels (docs/evaluation.md lists
the agreement per function and why the labels disagree where they do):
- cells: numbers written as strings with float artefacts (`"144.69999999999999"`, `"5.99E-2"`),
  currency (`"$55.00"`), thousands separators and percentages are numbers; ISO and day/month/year
  dates are Excel date serials; `""` or spaces only is blank; `True`/`False` are text.
- comparisons (`GreaterThan` & co., `Between`) compare numbers with numbers and texts with texts
  (case-insensitively); a text or blank cell never satisfies a numeric comparison, as in the
  gold labels (`GreaterThan(70000)` leaves the text cell "Column2" alone). `Between` accepts its
  bounds in either order and includes them.
- text tests (`TextEquals`, `TextContains`, `StartsWith`, `EndsWith`) are case-insensitive and
  keep the cell's spaces (the labels treat "Intestinal " as not equal to `Intestinal`); a number
  cell is tested on its text ("2015").
- `Top(n)`/`Bottom(n)` keep ties (a cell is in if its value reaches the n-th value); `n` defaults
  to 10 as in Excel; a percentage keeps max(1, floor(count * p / 100)) cells. Averages, ranks and
  scales use the numeric cells of the column only.
- a rule without a column applies to the column headed `Value` (the CORNET tables), else to the
  first column.
- `LastMonth` is relative to the latest date in the column, so a result never depends on the day
  the evaluation runs.
- a cell reference (`$B$6`) or a column beyond the table cannot run: `RuleRuntimeError`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codefusion.languages.cf_rules import (
    Arg,
    Call,
    CellRef,
    Column,
    Number,
    Percent,
    Text,
    parse_rule,
    to_source,
)


class RuleRuntimeError(ValueError):
    """The rule parses but cannot run on this table (a missing column, a cell reference)."""


@dataclass(frozen=True)
class Cell:
    """One table cell seen the way Excel sees it: a number (dates included), a text, or blank."""

    text: str
    number: float | None
    blank: bool

    @property
    def is_number(self) -> bool:
        return self.number is not None


_EXCEL_EPOCH = dt.date(1899, 12, 30)
_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T][\d:.]+)?")
_DMY_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ERROR = re.compile(r"#[A-Z][A-Z0-9/_]*[!?]?")


def to_cell(raw: Any) -> Cell:
    """Read one `Data` value (str, int, float, bool or None) as an Excel cell."""
    if raw is None:
        return Cell("", None, True)
    if isinstance(raw, bool):
        return Cell("TRUE" if raw else "FALSE", None, False)
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):
            return Cell(str(raw), None, False)
        return Cell(_number_text(raw), float(raw), False)
    text = str(raw)
    if not text.strip():
        return Cell(text, None, True)
    # The text keeps its spaces: the gold labels treat "Intestinal " as not equal to Intestinal.
    return Cell(text, _parse_number(text.strip()), False)


def _number_text(value: float) -> str:
    """`15` for 15 and 15.0, `63.94` for 63.94: how a cell's number reads as text."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _parse_number(text: str) -> float | None:
    """The number a text cell holds, or None."""
    body = text.replace(" ", "")
    scale = 1.0
    if body.endswith("%"):
        body, scale = body[:-1], 0.01
    body = body.lstrip("$€£")
    if _NUMERIC.fullmatch(body):
        return float(body) * scale
    if _THOUSANDS.fullmatch(body):
        return float(body.replace(",", "")) * scale
    if scale == 1.0 and body == text.replace(" ", ""):
        return _parse_date(text)
    return None


def _parse_date(text: str) -> float | None:
    """Excel date serial of an ISO or day/month/year date, or None."""
    iso, dmy = _ISO_DATE.fullmatch(text), _DMY_DATE.fullmatch(text)
    try:
        if iso:
            day = dt.date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        elif dmy:
            day = dt.date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
        else:
            return None
    except ValueError:
        return None
    return float((day - _EXCEL_EPOCH).days)


def execute(rule: Call | str, table: Sequence[Sequence[Any]]) -> list[Any]:
    """Run a rule on `table` (header row first); one result per data row.

    Raises `RuleSyntaxError` for text that is not a rule and `RuleRuntimeError` for a rule that
    cannot run on this table.
    """
    if isinstance(rule, str):
        rule = parse_rule(rule)
    if not table:
        raise RuleRuntimeError("the table has no header row")
    header = list(table[0])
    rows = [[to_cell(v) for v in row] for row in table[1:]]
    default = header.index("Value") if "Value" in header else 0
    return _Run(rows, len(header), default).rule(rule)


class _Run:
    """Evaluation of one rule over one table's rows."""

    def __init__(self, rows: list[list[Cell]], width: int, default_column: int) -> None:
        self.rows, self.width, self.default = rows, width, default_column

    def column(self, index: int) -> list[Cell]:
        if index >= self.width:
            raise RuleRuntimeError(f"c[{index}] is outside a table of {self.width} columns")
        # Ragged rows: a missing cell is blank.
        return [row[index] if index < len(row) else Cell("", None, True) for row in self.rows]

    def operand(self, arg: Arg) -> list[Cell]:
        """Per-row cells for a column, LEN(...) or a constant."""
        if isinstance(arg, Column):
            return self.column(arg.index)
        if isinstance(arg, Call) and arg.name == "LEN":
            return [to_cell(len(c.text)) for c in self.operand(arg.args[0])]
        if isinstance(arg, CellRef):
            raise RuleRuntimeError(f"cell reference {arg.text} points outside the table")
        if isinstance(arg, Number):
            return [Cell(arg.text, arg.value, False)] * len(self.rows)
        if isinstance(arg, Text):
            return [to_cell(arg.value)] * len(self.rows)
        raise RuleRuntimeError(f"{to_source(arg)} is not a value")

    def split(self, call: Call) -> tuple[list[Cell], tuple[Arg, ...]]:
        """The target cells (explicit column or the default) and the remaining arguments."""
        args = call.args
        if args and (isinstance(args[0], Column) or
                     (isinstance(args[0], Call) and args[0].name == "LEN")):
            return self.operand(args[0]), args[1:]
        return self.column(self.default), args

    def rule(self, call: Call) -> list[Any]:
        name = call.name
        if name in ("AND", "OR", "NOT"):
            parts = [self.rule(p) for p in call.args]
            if any(not isinstance(v, bool) for part in parts for v in part):
                raise RuleRuntimeError(f"{name} combines a visual format, not a condition")
            if name == "NOT":
                return [not v for v in parts[0]]
            combine = all if name == "AND" else any
            return [combine(vs) for vs in zip(*parts)]
        cells, args = self.split(call)
        return _HANDLERS[name](cells, args, self)


def _text_of(arg: Arg) -> str:
    if isinstance(arg, CellRef):
        raise RuleRuntimeError(f"cell reference {arg.text} points outside the table")
    return arg.value.casefold() if isinstance(arg, Text) else to_source(arg).casefold()


def _text_test(test: str):
    def handler(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
        needle = _text_of(args[0])
        out = []
        for cell in cells:
            hay = cell.text.casefold()
            out.append(not cell.blank and (
                hay == needle if test == "eq" else needle in hay if test == "in"
                else hay.startswith(needle) if test == "start" else hay.endswith(needle)))
        return out
    return handler


def _order(a: Cell, b: Cell) -> int | None:
    """Compare two cells of the same kind: -1, 0 or 1; None when a number meets a text or a
    blank (such a cell never satisfies a comparison, as in the gold labels)."""
    if a.is_number and b.is_number:
        return (a.number > b.number) - (a.number < b.number)
    if a.is_number or b.is_number or a.blank or b.blank:
        return None
    x, y = a.text.casefold(), b.text.casefold()
    return (x > y) - (x < y)


def _compare(ok: tuple[int, ...]):
    def handler(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
        others = run.operand(args[0])
        return [_order(a, b) in ok for a, b in zip(cells, others)]
    return handler


def _between(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
    lows, highs = run.operand(args[0]), run.operand(args[1])
    out = []
    for cell, a, b in zip(cells, lows, highs):
        lo, hi = (a, b) if (_order(a, b) or 0) <= 0 else (b, a)  # bounds in either order
        low_side, high_side = _order(cell, lo), _order(cell, hi)
        out.append(low_side is not None and high_side is not None
                   and low_side >= 0 and high_side <= 0)
    return out


def _numbers(cells: list[Cell]) -> list[float]:
    return [c.number for c in cells if c.number is not None]


def _rank(top: bool, percent: bool):
    def handler(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
        values = sorted(_numbers(cells), reverse=top)
        if not values:
            return [False] * len(cells)
        amount = args[0] if args else Number(10.0, "10")
        if percent or isinstance(amount, Percent):
            n = max(1, math.floor(len(values) * amount.value / 100 + 1e-9))
        else:
            n = int(amount.value)
        if n <= 0:
            return [False] * len(cells)
        cut = values[min(n, len(values)) - 1]
        return [c.number is not None and (c.number >= cut if top else c.number <= cut)
                for c in cells]
    return handler


def _average(above: bool):
    def handler(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
        values = _numbers(cells)
        if not values:
            return [False] * len(cells)
        mean = sum(values) / len(values)
        return [c.number is not None and (c.number > mean if above else c.number < mean)
                for c in cells]
    return handler


def _duplicates(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
    keys = [None if c.blank else (c.number if c.is_number else c.text.casefold()) for c in cells]
    counts = Counter(k for k in keys if k is not None)
    return [k is not None and counts[k] > 1 for k in keys]


def _blanks(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
    return [c.blank for c in cells]


def _errors(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
    return [bool(_ERROR.fullmatch(c.text)) for c in cells]


def _last_month(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[bool]:
    days = [_EXCEL_EPOCH + dt.timedelta(days=c.number) if c.number is not None and
            _parse_date(c.text) is not None else None for c in cells]
    known = [d for d in days if d is not None]
    if not known:
        return [False] * len(cells)
    latest = max(known)
    month = (latest.year, latest.month - 1) if latest.month > 1 else (latest.year - 1, 12)
    return [d is not None and (d.year, d.month) == month for d in days]


def _visual(kind: str):
    def handler(cells: list[Cell], args: tuple[Arg, ...], run: _Run) -> list[Any]:
        values = _numbers(cells)
        if not values:
            return [None] * len(cells)
        low, high = min(values), max(values)
        out: list[Any] = []
        for c in cells:
            if c.number is None:
                out.append(None)
                continue
            position = 0.5 if high == low else (c.number - low) / (high - low)
            # Excel's default icon set splits the range at 33% and 67%.
            shown = (2 if position >= 0.67 else 1 if position >= 0.33 else 0) \
                if kind == "IconSet" else round(position, 6)
            out.append((kind, shown))
        return out
    return handler


_HANDLERS = {
    "TextEquals": _text_test("eq"), "TextContains": _text_test("in"),
    "StartsWith": _text_test("start"), "EndsWith": _text_test("end"),
    "GreaterThan": _compare((1,)), "GreaterThanEqual": _compare((0, 1)),
    "LessThan": _compare((-1,)), "LessThanEqual": _compare((-1, 0)),
    "Equals": _compare((0,)), "NotEquals": _compare((-1, 1)),
    "Between": _between,
    "Top": _rank(True, False), "Bottom": _rank(False, False),
    "TopPercent": _rank(True, True), "BottomPercent": _rank(False, True),
    "AboveAverage": _average(True), "BelowAverage": _average(False),
    "Duplicates": _duplicates, "Blanks": _blanks, "Errors": _errors, "LastMonth": _last_month,
    "ColorScale": _visual("ColorScale"), "DataBar": _visual("DataBar"),
    "IconSet": _visual("IconSet"),
}

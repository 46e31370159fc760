"""Parser for the conditional-formatting (CF) rule language of the CodeFusion benchmark.

The language is small but irregular (see `../shared/data/README.md`):

    TextContains(Non-pooled, en)          unquoted free text, commas included
    TextEquals(c[6], 'No')                column reference + quoted text
    Between(610, 550)                     bounds in either order
    top(10%)  TopPercent(c[2], 10)        percentages, two spellings
    GreaterThan(LEN(c[0]), 6)             a value function on the left
    LessThan(c[2], c[1])                  column against column
    AND(GreaterThan(0), OR(LessThan(-5), GreaterThan(9)))
    GreaterThan($E$13)                    a cell outside the table

`parse_rule` turns a rule into a small tree of frozen dataclasses with *canonical* function names
(the train and test splits spell the same function differently: `top`/`Top`,
`Duplicate`/`Duplicates`, ...), and `to_source` prints that tree back in one canonical spelling.
Anything else (the leaked ExcelScript text in a few train records, `$A2=$A3`, `SUMPRODUCT(...)`)
raises `RuleSyntaxError`. The interpreter lives in `cf_interpreter.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union


class RuleSyntaxError(ValueError):
    """The text is not a rule of the CF language; the message says where and why."""


@dataclass(frozen=True)
class Column:
    """`c[i]`: the i-th column of the table, 0-based."""

    index: int


@dataclass(frozen=True)
class Number:
    """A numeric literal; `text` keeps the spelling for printing (`5` and `5.0` print apart)."""

    value: float
    text: str


@dataclass(frozen=True)
class Percent:
    """`10%` as written in `top(10%)`; `value` is 10.0, not 0.1."""

    value: float
    text: str


@dataclass(frozen=True)
class Text:
    """A text argument, quoted (`'No'`) or not (`Non-pooled, en`); `value` has no quotes."""

    value: str


@dataclass(frozen=True)
class CellRef:
    """A reference to a sheet cell outside the benchmark table (`$B$6`); it cannot be executed."""

    text: str


@dataclass(frozen=True)
class Call:
    """A function application with a canonical `name` (see `FUNCTIONS`)."""

    name: str
    args: tuple[Arg, ...]


Arg = Union[Column, Number, Percent, Text, CellRef, Call]

# Canonical name -> argument shape. Shapes: "text" ([column,] text), "compare" ([lhs,] value),
# "between" ([column,] low, high), "rank" ([column,] [n | n%]), "percent" ([column,] p),
# "column" ([column]), "logic" (predicates), "not" (one predicate), "len" (one value).
FUNCTIONS: dict[str, str] = {
    "TextEquals": "text", "TextContains": "text", "StartsWith": "text", "EndsWith": "text",
    "GreaterThan": "compare", "GreaterThanEqual": "compare", "LessThan": "compare",
    "LessThanEqual": "compare", "Equals": "compare", "NotEquals": "compare",
    "Between": "between",
    "Top": "rank", "Bottom": "rank", "TopPercent": "percent", "BottomPercent": "percent",
    "AboveAverage": "column", "BelowAverage": "column", "Duplicates": "column",
    "Blanks": "column", "Errors": "column", "LastMonth": "column",
    "ColorScale": "column", "DataBar": "column", "IconSet": "column",
    "AND": "logic", "OR": "logic", "NOT": "not", "LEN": "len",
}

# Spellings seen in the benchmark and the pre-training corpus, matched case-insensitively:
# train writes `top`, `Duplicate`, `TextStartsWith`, `GreaterThanEqual`; test writes `Top`,
# `Duplicates`, `StartsWith`, `GreaterThanEquals`, `Not`.
ALIASES: dict[str, str] = {name.lower(): name for name in FUNCTIONS}
ALIASES.update({
    "duplicate": "Duplicates",
    "textstartswith": "StartsWith", "textendswith": "EndsWith",
    "greaterthanequals": "GreaterThanEqual", "greaterthanorequal": "GreaterThanEqual",
    "lessthanequals": "LessThanEqual", "lessthanorequal": "LessThanEqual",
    "equal": "Equals", "notequal": "NotEquals", "blank": "Blanks", "error": "Errors",
})

# Functions that yield a cell value rather than a per-row verdict; not allowed as a whole rule.
VALUE_FUNCTIONS = frozenset({"LEN"})

_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*\(")
_COLUMN = re.compile(r"[cC]\[\s*(\d+)\s*\]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# A cell reference needs at least one `$` (`$B$6`, `B$6`, `$Sheet1!$I$2`): a bare `RI3` is text.
_CELL = re.compile(r"(?:\$?[A-Za-z_][\w ]*!)?(?:\$[A-Za-z]{1,3}\$?\d+|[A-Za-z]{1,3}\$\d+)")
_QUOTES = "'\""


def parse_rule(source: str) -> Call:
    """Parse one CF rule. Raises `RuleSyntaxError` when `source` is not in the language."""
    if not isinstance(source, str):
        raise RuleSyntaxError(f"a rule must be a string, got {type(source).__name__}")
    text = source.strip()
    if not text:
        raise RuleSyntaxError("empty rule")
    call, end = _parse_call(text, 0)
    if text[end:].strip():
        raise RuleSyntaxError(f"unexpected text after the rule: {text[end:end + 20]!r}")
    if call.name in VALUE_FUNCTIONS:
        raise RuleSyntaxError(f"{call.name}(...) is a value, not a rule")
    return call


def is_valid_rule(source: str) -> bool:
    """True when `source` parses as a CF rule."""
    try:
        parse_rule(source)
    except RuleSyntaxError:
        return False
    return True


def to_source(node: Arg) -> str:
    """Print a parsed rule (or argument) in canonical form: canonical names, `, ` between
    arguments, text unquoted unless quoting is needed to read it back the same way."""
    if isinstance(node, Call):
        return f"{node.name}({', '.join(to_source(a) for a in node.args)})"
    if isinstance(node, Column):
        return f"c[{node.index}]"
    if isinstance(node, (Number, Percent, CellRef)):
        return node.text
    value = node.value
    if value != value.strip() or not value or any(ch in value for ch in "(),'\""):
        return "'" + value + "'" if "'" not in value else '"' + value + '"'
    return value


def _parse_call(text: str, start: int) -> tuple[Call, int]:
    """Parse `Name(args)` at `start`; return the call and the index just after `)`."""
    match = _NAME.match(text, start)
    if not match:
        raise RuleSyntaxError(f"expected a function call at {text[start:start + 20]!r}")
    spelled = match.group(1)
    name = ALIASES.get(spelled.lower())
    if name is None:
        raise RuleSyntaxError(f"unknown function {spelled!r}")
    open_at = match.end()
    raw_args, end = _split_args(text, open_at)
    inner = text[open_at:end - 1]
    return Call(name, _build_args(name, raw_args, inner)), end


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """Split the argument list that begins just after an opening `(` at top-level commas.

    A quote opens a quoted string only at the start of an argument, so apostrophes inside free
    text (`don't`) are plain characters while `')'` in `TextContains(c[0], ')')` is not a paren.
    Returns the raw argument strings and the index just after the matching `)`.
    """
    args: list[str] = []
    arg_start, depth, i, at_arg_start = start, 0, start, True
    while i < len(text):
        ch = text[i]
        if at_arg_start and ch.isspace():
            i += 1
            continue
        if at_arg_start and ch in _QUOTES:
            close = text.find(ch, i + 1)
            if close < 0:
                raise RuleSyntaxError(f"unterminated quote at {text[i:i + 20]!r}")
            i, at_arg_start = close + 1, False
            continue
        at_arg_start = False
        if ch == "(":
            depth, at_arg_start = depth + 1, True
        elif ch == ")":
            if depth == 0:
                args.append(text[arg_start:i])
                return args, i + 1
            depth -= 1
        elif ch == ",":
            at_arg_start = True
            if depth == 0:
                args.append(text[arg_start:i])
                arg_start = i + 1
        i += 1
    raise RuleSyntaxError("missing ')'")


def _build_args(name: str, raw: list[str], inner: str) -> tuple[Arg, ...]:
    """Check and convert the raw arguments of `name` according to its shape."""
    shape = FUNCTIONS[name]
    parts = [p.strip() for p in raw]
    if parts == [""]:
        parts = []
    if shape == "logic" or shape == "not":
        if not parts or (shape == "not" and len(parts) != 1):
            raise RuleSyntaxError(f"{name} needs {'one' if shape == 'not' else 'some'} rule(s)")
        preds = tuple(parse_rule(p) for p in parts)
        return preds
    if shape == "len":
        if len(parts) != 1:
            raise RuleSyntaxError("LEN takes one argument")
        return (_value(parts[0]),)
    column: tuple[Arg, ...] = ()
    if parts and _COLUMN.fullmatch(parts[0]):
        column, parts = (_value(parts[0]),), parts[1:]
    if shape == "text":
        return column + (_text_argument(name, inner, bool(column)),)
    if shape == "column":
        if parts:
            raise RuleSyntaxError(f"{name} takes at most a column, got {', '.join(parts)!r}")
        return column
    if shape == "compare":
        return _compare_args(name, parts, column, inner)
    if shape == "between":
        if len(parts) != 2:
            raise RuleSyntaxError(f"Between needs two bounds, got {len(parts)}")
        return column + tuple(_value(p) for p in parts)
    if shape == "rank":
        if len(parts) > 1:
            raise RuleSyntaxError(f"{name} takes one count, got {len(parts)}")
        if parts and not isinstance(_value(parts[0]), (Number, Percent)):
            raise RuleSyntaxError(f"{name} needs a number or a percentage, got {parts[0]!r}")
        return column + tuple(_value(p) for p in parts)
    # shape == "percent"
    if len(parts) != 1 or not isinstance(_value(parts[0]), (Number, Percent)):
        raise RuleSyntaxError(f"{name} needs one percentage")
    return column + (_value(parts[0]),)


def _compare_args(name: str, parts: list[str], column: tuple[Arg, ...],
                  inner: str) -> tuple[Arg, ...]:
    """`[lhs,] value`: lhs is a column (already split off) or LEN(...); the value may be free
    text, which then runs to the closing paren (`GreaterThan(31 Days)`)."""
    if not parts:
        raise RuleSyntaxError(f"{name} needs a value to compare with")
    if not column and len(parts) >= 2 and _NAME.match(parts[0]):
        lhs = _value(parts[0])
        if isinstance(lhs, Call) and lhs.name in VALUE_FUNCTIONS:
            column, parts = (lhs,), parts[1:]
    if len(parts) == 1:
        return column + (_value(parts[0]),)
    # Several commas and no column: one free-text value such as `Equals(1,000)`.
    rest = inner.split(",", 1)[1] if column else inner
    return column + (_free_text(rest),)


def _text_argument(name: str, inner: str, has_column: bool) -> Arg:
    """The text operand of TextEquals & co: everything after the optional column, quoted or
    not. Numbers stay text (`TextContains(3000)` looks for the characters "3000")."""
    if has_column and "," not in inner:
        raise RuleSyntaxError(f"{name} needs a text after the column")
    rest = (inner.split(",", 1)[1] if has_column else inner).strip()
    if rest[:1] in _QUOTES and rest[:1] and len(rest) >= 2 and rest[-1] == rest[0] \
            and rest[0] not in rest[1:-1]:
        return Text(rest[1:-1])
    if _COLUMN.fullmatch(rest):
        raise RuleSyntaxError(f"{name} needs a text to look for, got only {rest!r}")
    if _CELL.fullmatch(rest):
        return CellRef(rest)
    return _free_text(rest)


def _value(part: str) -> Arg:
    """One argument: a column, a nested call, a quoted text, a number, a cell or free text."""
    if not part:
        raise RuleSyntaxError("empty argument")
    column = _COLUMN.fullmatch(part)
    if column:
        return Column(int(column.group(1)))
    if part[0] in _QUOTES:
        if len(part) < 2 or part[-1] != part[0] or part[0] in part[1:-1]:
            raise RuleSyntaxError(f"badly quoted text {part[:20]!r}")
        return Text(part[1:-1])
    name = _NAME.match(part)
    if name and name.group(1).lower() in ALIASES and part.endswith(")"):
        call, end = _parse_call(part, 0)
        if part[end:].strip():
            raise RuleSyntaxError(f"unexpected text after {part[:end]!r}")
        return call
    if _NUMBER.fullmatch(part):
        return Number(float(part), part)
    if part.endswith("%") and _NUMBER.fullmatch(part[:-1].strip()):
        return Percent(float(part[:-1]), part.replace(" ", ""))
    if _CELL.fullmatch(part):
        return CellRef(part)
    return _free_text(part)


def _free_text(raw: str) -> Text:
    """Unquoted text. A double quote inside it is the mark of leaked ExcelScript (train 469,
    517, 559: `TextEquals(Male",formula2:undefined,...`), never of a real rule."""
    value = raw.strip()
    if not value:
        raise RuleSyntaxError("empty text")
    if '"' in value:
        raise RuleSyntaxError(f"stray double quote in {value[:30]!r}")
    return Text(value)

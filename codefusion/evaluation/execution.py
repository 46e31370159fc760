"""Execution match for CF rules (the paper's CF metric).

The predicted and the reference rule run on the record's table and must give the same result on
every data row (see `cf_interpreter`). The test split has no usable gold labels (`Labels == [0]`),
so the reference rule's results *are* the gold. Where the reference cannot run, the metric falls
back to a normalised exact match (`exact.normalize(..., "cf")`) and says why:

- `no-rows`: the table has a header and no data rows (60 test records, IDs 713-772);
- `ref-unparsed`: the reference is not a rule (the noisy records listed in the data README);
- `ref-not-executable`: the reference parses but cannot run here (a cell reference such as
  `$B$6`, a column beyond the table).

A prediction that does not parse or cannot run is a miss, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from codefusion.evaluation.exact import exact_match
from codefusion.languages.cf_interpreter import execute
from codefusion.languages.cf_rules import RuleSyntaxError, parse_rule

# Whatever a generated rule does (a 1000-deep NOT(NOT(...)), `Top(1e999)`), it is a miss, not a crash.
_FAILURES = (ValueError, ArithmeticError, RecursionError, IndexError, TypeError)

Mode = Literal["executed", "no-rows", "ref-unparsed", "ref-not-executable"]


def execution_match_detail(pred: str, ref: str,
                           table: Sequence[Sequence[Any]] | None) -> tuple[bool, Mode]:
    """`(match, mode)`: whether `pred` matches `ref` on `table`, and how that was decided."""
    if not table or len(table) < 2:
        return exact_match(pred, ref, "cf"), "no-rows"
    try:
        ref_rule = parse_rule(ref)
    except RuleSyntaxError:
        return exact_match(pred, ref, "cf"), "ref-unparsed"
    try:
        expected = execute(ref_rule, table)
    except _FAILURES:
        return exact_match(pred, ref, "cf"), "ref-not-executable"
    try:
        got = execute(pred, table)
    except _FAILURES:
        return False, "executed"
    return got == expected, "executed"


def execution_match(pred: str, ref: str, table: Sequence[Sequence[Any]] | None) -> bool:
    """True when the predicted CF rule formats every data row of `table` (header row first)
    the way the reference rule does; see the module docstring for the fallbacks."""
    return execution_match_detail(pred, ref, table)[0]

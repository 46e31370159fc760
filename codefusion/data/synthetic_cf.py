"""Embedded synthetic NL -> conditional-formatting (CF) rule dataset (the quickstart default).

Seeded (utterance, rule, table) triples in the CF benchmark's rule language
(`CFRuleBenchmarks.json`): training-split function names and syntax (`GreaterThanEqual(25)`,
`Between(15, 85)`, `TextContains(Error)`, `top(10%)`, `AND(GreaterThan(20),LessThan(50))`) and
the test split's column-reference form (`GreaterThan(c[2], 50)`, `LessThan(c[2], c[3])`,
`TextEquals(c[0], 'North')`), so the quickstart needs no file outside the project.

A small model trained for minutes must be able to learn it, so the mapping is a function:
every phrasing belongs to one operator ("at least" is always `GreaterThanEqual`), numbers and
words are copied verbatim into the code, a column name always has the same index, and held-out
splits differ from train only by new template x verb x value combinations, never by unseen
templates or vocabulary. Mix: ~60 % single predicates, ~25 % NOT/AND/OR, ~15 % column
references, top/bottom-N and averages. Templates are "|"-separated alternatives with slots
{V} verb, {O} object, {a}/{b} numbers or phrases, {w} word, {c} column name.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from codefusion.atomic import write_text_atomic

# Every function name a generated rule may use; all occur in the real benchmark's CF file.
FUNCTIONS: frozenset[str] = frozenset({
    "GreaterThan", "LessThan", "GreaterThanEqual", "LessThanEqual", "Equals", "Between",
    "TextContains", "TextEquals", "TextStartsWith", "EndsWith", "top", "bottom",
    "aboveAverage", "belowAverage", "Duplicate", "Blanks", "NOT", "AND", "OR", "LEN",
})

# 50 cell words in themed groups that double as the schemas' text-column domains. None is a
# number, a column name or a template keyword, so copying a word into the code is unambiguous.
STATUSES = tuple("Pending Approved Rejected Complete Overdue Paid Open Closed Shipped Cancelled Error Failed "
                 "Passed Draft".split())
REGIONS = ("North", "South", "East", "West", "Central")
FRUITS = ("Apple", "Banana", "Cherry", "Mango", "Orange", "Grape")
CITIES = ("London", "Paris", "Tokyo", "Berlin", "Madrid", "Sydney", "Chicago")
LEVELS = ("High", "Medium", "Low", "Urgent", "Critical")
DEPTS = ("Finance", "Marketing", "Legal", "Support", "Research")
NAMES = ("Alice", "Bob", "Carlos", "Diana", "Emma", "Farid", "Grace", "Hiro")
WORDS: tuple[str, ...] = STATUSES + REGIONS + FRUITS + CITIES + LEVELS + DEPTS + NAMES
VERBS = ("Highlight", "Color", "Format", "Style", "Mark", "Shade", "Flag", "Select")
OBJECTS = ("cells", "values", "entries", "items")

# Multi-column schemas, (name, text domain or None for numeric). Names are unique across
# schemas, so "Sales" always means c[2]: the index is learnable from the utterance alone.
SCHEMAS: tuple[tuple[tuple[str, Optional[tuple[str, ...]]], ...], ...] = (
    (("Region", REGIONS), ("Product", FRUITS), ("Sales", None), ("Target", None)),
    (("Student", NAMES), ("Status", STATUSES), ("Score", None), ("Attendance", None)),
    (("City", CITIES), ("Priority", LEVELS), ("Price", None), ("Cost", None)),
    (("Employee", NAMES), ("Department", DEPTS), ("Hours", None), ("Overtime", None)),
)

# Numeric operators: (test, adjective phrases as in "values {adj}"). Each phrase is owned by
# exactly one operator; that is what makes utterance -> code a function.
NUM_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThan": (lambda x, t: x > t, "greater than {n}|more than {n}|above {n}|over {n}|higher than {n}|"
                                        "larger than {n}"),
    "LessThan": (lambda x, t: x < t, "less than {n}|below {n}|under {n}|lower than {n}|smaller than {n}"),
    "GreaterThanEqual": (lambda x, t: x >= t, "greater than or equal to {n}|at least {n}|"
                                              "equal to or greater than {n}|{n} or more|{n} or greater"),
    "LessThanEqual": (lambda x, t: x <= t, "less than or equal to {n}|at most {n}|equal to or less than {n}|"
                                           "{n} or less|{n} or lower"),
    "Equals": (lambda x, t: x == t, "equal to {n}|exactly {n}"),
}
LOWER_OPS, UPPER_OPS = ("GreaterThan", "GreaterThanEqual"), ("LessThan", "LessThanEqual")

# Text operators: (test(cell, word), verb phrases as in "cells that {vp}", extra templates).
TEXT_OPS: dict[str, tuple[Callable[[str, str], bool], str, str]] = {
    "TextContains": (lambda s, w: w.lower() in s.lower(), "contain {w}|include {w}|have {w} in them",
                     "{V} {O} containing {w}|{V} {O} with {w} in them"),
    "TextEquals": (lambda s, w: s.lower() == w.lower(), "are exactly {w}|say {w}",
                   "{V} {O} equal to {w}|{V} {O} whose text is {w}"),
    "TextStartsWith": (lambda s, w: s.lower().startswith(w.lower()), "start with {w}|begin with {w}",
                       "{V} {O} starting with {w}|{V} {O} beginning with {w}"),
    "EndsWith": (lambda s, w: s.lower().endswith(w.lower()), "end with {w}|finish with {w}", "{V} {O} ending with {w}"),
}
UNARY_TPLS = {  # unary rule -> (templates, templates of its negation)
    "Blanks()": ("{V} blank {O}|{V} empty {O}|{V} {O} that are blank|{V} {O} that are empty|{V} all blank {O}",
                 "{V} non-blank {O}|{V} non-empty {O}|{V} {O} that are not blank|{V} {O} that are not empty"),
    "Duplicate()": ("{V} duplicate {O}|{V} repeated {O}|{V} {O} that are duplicates|"
                    "{V} {O} that appear more than once|{V} all duplicate {O}",
                    "{V} unique {O}|{V} {O} that are not duplicates|{V} distinct {O}"),
}
Test = Callable[[list[str]], list[bool]]  # column cells -> selected?


@dataclasses.dataclass(frozen=True)
class Pred:
    """A rule over one column: its code, its test, and anchors that guide the table's cells."""

    code: str
    test: Test
    nums: tuple[str, ...] = ()  # cells are drawn near these numbers...
    words: tuple[str, ...] = ()  # ...or contain these words (or not)
    text: bool = False  # text column, else numeric


def _num(s: str) -> Optional[float]:
    try:
        return float(s) if s.strip() else None
    except ValueError:
        return None


def _number(rng: random.Random) -> str:
    """An integer 0-100, or (15 %) a decimal: a small vocabulary every split shares."""
    if rng.random() < 0.15:
        return f"{rng.randint(0, 99)}.{rng.choice((5, 5, 25, 1, 2, 75))}"
    return str(rng.randint(0, 100))


def _two_numbers(rng: random.Random) -> tuple[str, str]:
    while True:
        a, b = _number(rng), _number(rng)
        if float(a) < float(b):
            return a, b


def _fill(tpl: str, **slots: str) -> str:
    for k, v in slots.items():
        tpl = tpl.replace("{" + k + "}", v)
    return tpl


def _pick(rng: random.Random, tpls: str, **slots: str) -> str:
    """One of the "|"-separated templates, slots filled."""
    return _fill(rng.choice(tpls.split("|")), **slots)


def _phrase(op: str, n: str, rng: random.Random, composable: bool = False, in_or: bool = False) -> str:
    # Number-first phrases ("{n} or more") read badly inside AND/OR/NOT, and an OR of phrases
    # that themselves contain "or" ("equal to or greater than") is needlessly hard to split.
    ok = [p for p in NUM_OPS[op][1].split("|") if not (composable and p[0] == "{") and not (in_or and " or " in p)]
    return _fill(rng.choice(ok), n=n)


def _num_pred(op: str, *ns: str) -> Pred:
    t = [float(n) for n in ns]
    f = (lambda v: t[0] <= v <= t[1]) if op == "Between" else (lambda v, g=NUM_OPS[op][0]: g(v, t[0]))
    return Pred(f"{op}({', '.join(ns)})", lambda col: [(v := _num(c)) is not None and f(v) for c in col], ns)


def _text_pred(op: str, w: str) -> Pred:
    f = TEXT_OPS[op][0]
    return Pred(f"{op}({w})", lambda col: [f(c, w) for c in col], words=(w,), text=True)


def _stat_test(kind: str, largest: bool, k: int = 0) -> Test:
    """Column-wide tests: top/bottom k, top/bottom k % (Excel rounds down, min 1), average."""
    def test(col: list[str]) -> list[bool]:
        vals = sorted((v for c in col if (v := _num(c)) is not None), reverse=largest)
        if not vals:
            return [False] * len(col)
        if kind == "avg":  # strictly above / below the mean
            m = sum(vals) / len(vals)
            return [(v := _num(c)) is not None and v != m and (v > m) == largest for c in col]
        cut = vals[min(max(1, len(vals) * k // 100) if kind == "pct" else k, len(vals)) - 1]
        return [(v := _num(c)) is not None and (v >= cut if largest else v <= cut) for c in col]
    return test


def _negate(p: Pred) -> Pred:
    return dataclasses.replace(p, code=f"NOT({p.code})", test=lambda col: [not x for x in p.test(col)])


def _combine(fn: str, p: Pred, q: Pred) -> Pred:
    join = all if fn == "AND" else any
    return Pred(f"{fn}({p.code},{q.code})", lambda col: [join(x) for x in zip(p.test(col), q.test(col))],
                p.nums + q.nums, p.words + q.words, p.text)


# Families: each returns (utterance with {V} and {O} still open, Pred over the Value column).

def _fam_compare(rng: random.Random) -> tuple[str, Pred]:
    op, n = rng.choice(list(NUM_OPS)), _number(rng)
    if op == "GreaterThan" and rng.random() < 0.15:
        return _pick(rng, "{V} {O} exceeding {a}|{V} {O} that exceed {a}", a=n), _num_pred(op, n)
    tpls = "{V} {O} {a}|{V} {O} that are {a}|{V} {O} which are {a}|{V} {O} with a value {a}|{V} all {O} {a}"
    return _pick(rng, tpls, a=_phrase(op, n, rng)), _num_pred(op, n)


def _fam_between(rng: random.Random) -> tuple[str, Pred]:
    a, b = _two_numbers(rng)
    tpls = ("{V} {O} between {a} and {b}|{V} {O} that are between {a} and {b}|{V} {O} from {a} to {b}|"
            "{V} {O} with a value between {a} and {b}|{V} {O} in the range {a} to {b}")
    return _pick(rng, tpls, a=a, b=b), _num_pred("Between", a, b)


def _fam_text(rng: random.Random) -> tuple[str, Pred]:
    op, w = rng.choice(list(TEXT_OPS)), rng.choice(WORDS)
    _, vps, extra = TEXT_OPS[op]
    tpls = [f"{{V}} {{O}} {rel} {vp}" for vp in vps.split("|") for rel in ("that", "which")] + extra.split("|") * 2
    return _pick(rng, "|".join(tpls), w=w), _text_pred(op, w)


def _unary(rng: random.Random, negate: bool = False) -> tuple[str, Pred]:
    p = Pred("Blanks()", lambda col: [not c.strip() for c in col], text=rng.random() < 0.5)
    if rng.random() < 0.5:
        p = Pred("Duplicate()", lambda col: [bool(c) and col.count(c) > 1 for c in col], text=p.text)
    return _pick(rng, UNARY_TPLS[p.code][negate]), _negate(p) if negate else p


def _fam_not(rng: random.Random) -> tuple[str, Pred]:
    r = rng.random()
    if r < 0.4:
        op, n = rng.choice(list(NUM_OPS)), _number(rng)
        if op == "Equals" and rng.random() < 0.4:
            return _pick(rng, "{V} {O} other than {a}|{V} {O} different from {a}", a=n), _negate(_num_pred(op, n))
        tpls = "{V} {O} that are not {a}|{V} {O} which are not {a}|{V} {O} not {a}"
        return _pick(rng, tpls, a=_phrase(op, n, rng, True)), _negate(_num_pred(op, n))
    if r < 0.5:
        a, b = _two_numbers(rng)
        tpls = "{V} {O} not between {a} and {b}|{V} {O} that are not between {a} and {b}"
        return _pick(rng, tpls, a=a, b=b), _negate(_num_pred("Between", a, b))
    if r < 0.85:
        op, w = rng.choice(list(TEXT_OPS)), rng.choice(WORDS)
        vp = rng.choice(TEXT_OPS[op][1].split("|"))
        tpl = "{V} {O} that " + ("are not " + vp[4:] if vp.startswith("are ") else "do not " + vp)
        if op == "TextContains" and rng.random() < 0.3:
            tpl = "{V} {O} without {w}"
        return _fill(tpl, w=w), _negate(_text_pred(op, w))
    return _unary(rng, negate=True)


def _fam_andor(rng: random.Random) -> tuple[str, Pred]:
    fn = rng.choice(("AND", "OR"))
    if rng.random() < 0.6:  # inside a numeric range (AND) or outside it (OR)
        a, b = _two_numbers(rng)
        lo, hi = rng.choice(LOWER_OPS), rng.choice(UPPER_OPS)
        (o1, n1), (o2, n2) = ((lo, a), (hi, b)) if fn == "AND" else ((hi, a), (lo, b))
        p1, p2 = (_phrase(o, n, rng, True, fn == "OR") for o, n in ((o1, n1), (o2, n2)))
        x = f"{p1} and {p2}" if fn == "AND" else rng.choice((f"{p1} or {p2}", f"either {p1} or {p2}"))
        return _pick(rng, "{V} {O} that are {x}|{V} {O} {x}|{V} {O} which are {x}", x=x), \
            _combine(fn, _num_pred(o1, n1), _num_pred(o2, n2))
    w1, w2 = rng.sample(WORDS, 2)
    if fn == "OR" and rng.random() < 0.5:  # the benchmark's "cells that are either p or ul"
        return _pick(rng, "{V} {O} that are either {a} or {b}|{V} {O} equal to {a} or {b}", a=w1, b=w2), \
            _combine(fn, _text_pred("TextEquals", w1), _text_pred("TextEquals", w2))
    o1, o2 = rng.sample(("TextContains", "TextStartsWith", "EndsWith"), 2)
    vp1, vp2 = (_pick(rng, TEXT_OPS[o][1], w=w) for o, w in ((o1, w1), (o2, w2)))
    return f"{{V}} {{O}} that {vp1} {fn.lower()} {vp2}", _combine(fn, _text_pred(o1, w1), _text_pred(o2, w2))


def _fam_rank(rng: random.Random) -> tuple[str, Pred]:
    big = rng.random() < 0.55
    name, t, sup = ("top", "top", "largest|highest") if big else ("bottom", "bottom", "smallest|lowest")
    if rng.random() < 0.35:
        k = str(rng.choice((10, 20, 25, 30, 40, 50)))
        nl = _pick(rng, "{V} the {t} {k}% of {O}|{V} the {t} {k} percent of {O}", t=t, k=k)
        return nl, Pred(f"{name}({k}%)", _stat_test("pct", big, int(k)))
    k = str(rng.randint(1, 8))
    nl = _pick(rng, "{V} the {t} {k} {O}|{V} the {k} {s} {O}|{V} the {s} {k} {O}", t=t, s=_pick(rng, sup), k=k)
    return nl, Pred(f"{name}({k})", _stat_test("k", big, int(k)))


def _fam_average(rng: random.Random) -> tuple[str, Pred]:
    up = rng.random() < 0.5
    tpls = ("{V} {O} {d} average|{V} {O} {d} the average|{V} {d}-average {O}|{V} {O} that are {d} average|"
            "{V} {O} that are {c} than the average")
    nl = _pick(rng, tpls, d="above" if up else "below", c="greater" if up else "less")
    return nl, Pred("aboveAverage()" if up else "belowAverage()", _stat_test("avg", up))


def _cell(rng: random.Random, p: Pred, domain: tuple[str, ...] = WORDS) -> str:
    """One cell near the rule's anchors, so that some rows match and some do not."""
    if rng.random() < (0.3 if "Blanks" in p.code else 0.06):
        return ""
    if p.text:
        if p.words and rng.random() < 0.5:
            w = rng.choice(p.words)  # an AND of two text tests needs cells holding both words
            o = rng.choice(p.words if len(p.words) > 1 and rng.random() < 0.4 else domain)
            return rng.choice((w, w, f"{w} {o}", f"{o} {w}"))  # exact, prefix, suffix matches
        return rng.choice(domain)
    v = rng.uniform(0, 110)
    if p.nums and rng.random() < 0.7:
        a, d = rng.choice(p.nums), rng.choice((-10, -3, -1, 0, 0, 1, 3, 10))
        if d == 0:
            return a
        v = float(a) + d
    return str(round(v)) if rng.random() < 0.8 else f"{v:.1f}"


def _table(rng: random.Random, n: int, test: Callable[[list[list[str]]], list[bool]],
           make_row: Callable[[], list[str]], dups: int = -1) -> list[list[str]]:
    """n rows of which the rule selects some but not all (best effort, 50 draws)."""
    rows: list[list[str]] = []
    for _ in range(50):
        rows = [make_row() for _ in range(n)]
        if dups >= 0 and rows[0][dups]:  # repeat one value so that duplicates exist
            rows[rng.randrange(1, n)][dups] = rows[0][dups]
        if 0 < sum(test(rows)) < n:
            break
    return rows


def _column_ref(rng: random.Random) -> tuple[str, str, list[list[str]]]:
    """A rule on one column of a named multi-column table, in the test split's `c[i]` form."""
    schema = rng.choice(SCHEMAS)
    header = [name for name, _ in schema]
    num_idx = [i for i, (_, d) in enumerate(schema) if d is None]
    txt_idx = [i for i, (_, d) in enumerate(schema) if d is not None]
    r, anchor = rng.random(), None
    if r < 0.45:  # column vs number
        i, op, n = rng.choice(num_idx), rng.choice(list(NUM_OPS)), _number(rng)
        tpls = ("{V} rows where {c} is {a}|{V} {c} values {a}|{V} {c} entries that are {a}|"
                "In the {c} column, {v} values {a}")
        nl, code, anchor = _pick(rng, tpls, a=_phrase(op, n, rng)), f"{op}(c[{i}], {n})", _num_pred(op, n)
    elif r < 0.6:  # column vs column
        (i, j), op = rng.sample(num_idx, 2), rng.choice(("GreaterThan", "LessThan"))
        nl = _pick(rng, "{V} rows where {c} is {a}|{V} cells where {c} is {a}", a=_phrase(op, header[j], rng))
        code, f = f"{op}(c[{i}], c[{j}])", NUM_OPS[op][0]
        test = lambda rows: [f(float(row[i]), float(row[j])) for row in rows]  # noqa: E731
    elif r < 0.85:  # text column
        i, op = rng.choice(txt_idx), rng.choice(("TextEquals", "TextContains"))
        w = rng.choice(schema[i][1] or WORDS)
        tpls = ("{V} rows where {c} is {w}|{V} {c} entries equal to {w}" if op == "TextEquals" else
                "{V} rows where {c} contains {w}|{V} {c} values containing {w}")
        nl, code, anchor = _pick(rng, tpls, w=w), f"{op}(c[{i}], '{w}')", _text_pred(op, w)
    else:  # text length
        i, longer = rng.choice(txt_idx), rng.random() < 0.5
        lens = sorted(len(w) for w in schema[i][1] or WORDS)  # k inside the domain's lengths
        k = rng.randint(lens[0], lens[-1] - 1) + (0 if longer else 1)
        tpls = ("{V} {c} entries longer than {k} characters|{V} {c} values with more than {k} characters"
                if longer else
                "{V} {c} entries shorter than {k} characters|{V} {c} values with fewer than {k} characters")
        nl, code = _pick(rng, tpls, k=str(k)), f"{'GreaterThan' if longer else 'LessThan'}(LEN(c[{i}]), {k})"
        test = lambda rows: [(len(row[i]) > k) == longer and len(row[i]) != k for row in rows]  # noqa: E731
    if anchor is not None:
        test = lambda rows, p=anchor: p.test([row[i] for row in rows])  # noqa: E731
    V = rng.choice(VERBS)

    def make_row() -> list[str]:
        return [_cell(rng, anchor, dom or WORDS) if c == i and anchor else
                rng.choice(dom) if dom else str(rng.randint(0, 100)) for c, (_, dom) in enumerate(schema)]
    return _fill(nl, V=V, v=V.lower(), c=header[i]), code, [header] + _table(rng, rng.randint(5, 10), test, make_row)


def _sample(rng: random.Random) -> dict:
    """One example (without id) drawn from the fixed mixture."""
    # 60 % single predicates, 25 % NOT/AND/OR, 15 % column refs, top/bottom-N and averages.
    fams = ((_fam_compare, 28), (_fam_between, 8), (_fam_text, 16), (_unary, 8), (_fam_not, 11),
            (_fam_andor, 14), (_column_ref, 8), (_fam_rank, 4), (_fam_average, 3))
    fam = rng.choices([f for f, _ in fams], [w for _, w in fams])[0]
    if fam is _column_ref:
        nl, code, table = _column_ref(rng)
        return {"nl": nl, "code": code, "table": table}
    tpl, p = fam(rng)
    n = rng.randint(10 if p.code.startswith(("top(", "bottom(")) else 5, 12)  # k <= 8 < n rows
    rows = _table(rng, n, lambda rows: p.test([r[1] for r in rows]), lambda: ["", _cell(rng, p)],
                  dups=1 if "Duplicate" in p.code else -1)
    table = [["Index", "Value"]] + [[str(i), r[1]] for i, r in enumerate(rows)]
    return {"nl": _fill(tpl, V=rng.choice(VERBS), O=rng.choice(OBJECTS)), "code": p.code, "table": table}


def generate_examples(n: int, seed: int) -> list[dict]:
    """n examples {"id", "nl", "code", "table"} drawn i.i.d. from the mixture; deterministic in seed."""
    rng = random.Random(seed)
    return [{"id": f"syncf-{seed}-{i}", **_sample(rng)} for i in range(n)]


def make_splits(n_train: int, n_valid: int, n_test: int, seed: int = 0) -> dict[str, list[dict]]:
    """Train/valid/test from one seeded stream; valid and test are held out.

    test is drawn first, then valid, then train, each skipping every (nl, code) pair already
    taken by a held-out split: valid/test are disjoint from each other and from train and have
    no repeats. Train may repeat a pair (small families such as `Blanks()` have few phrasings;
    rejecting their repeats would distort the mixture).
    """
    rng = random.Random(seed)
    held: set[tuple[str, str]] = set()
    out: dict[str, list[dict]] = {}
    budget = 50 * (n_train + n_valid + n_test) + 10_000  # the pair space is far larger
    for split, n in (("test", n_test), ("valid", n_valid), ("train", n_train)):
        rows: list[dict] = []
        while len(rows) < n:
            budget -= 1
            if budget < 0:
                raise RuntimeError("synthetic_cf: could not draw enough distinct held-out pairs")
            ex = _sample(rng)
            if (key := (ex["nl"], ex["code"])) in held:
                continue
            if split != "train":
                held.add(key)
            rows.append({"id": f"syncf-{split}-{len(rows)}", **ex})
        out[split] = rows
    return {s: out[s] for s in ("train", "valid", "test")}


def write_splits(out_dir: str | os.PathLike, n_train: int = 20000, n_valid: int = 500,
                 n_test: int = 500, seed: int = 0) -> dict[str, Path]:
    """Write out_dir/{train,valid,test}.jsonl atomically (readers never see half a split); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, rows in make_splits(n_train, n_valid, n_test, seed).items():
        path = paths[split] = out / f"{split}.jsonl"
        write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return paths


@dataclasses.dataclass
class SplitOptions:
    """`python -m codefusion.data.synthetic_cf out=DIR [n_train=20000] [n_valid=500] [n_test=500] [seed=0]`"""

    out: str = ""
    n_train: int = 20000
    n_valid: int = 500
    n_test: int = 500
    seed: int = 0


def main(argv: list[str]) -> int:
    """Write the synthetic NL -> CF-rule splits as JSONL (key=value arguments, as SplitOptions)."""
    from codefusion.config import parse_dotlist
    from codefusion.errors import UserError

    a: SplitOptions = parse_dotlist(SplitOptions, argv, UserError)
    if not a.out:
        raise UserError("missing out=DIR (where {train,valid,test}.jsonl go)")
    for name, n in (("n_train", a.n_train), ("n_valid", a.n_valid), ("n_test", a.n_test)):
        if n < 0:
            raise UserError(f"{name}={n}: a number of rows must be >= 0")
    for split, path in write_splits(a.out, a.n_train, a.n_valid, a.n_test, a.seed).items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    import sys

    from codefusion.errors import run_cli

    sys.exit(run_cli(main, sys.argv[1:], usage=SplitOptions.__doc__))

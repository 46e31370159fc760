"""Build the code-only pre-training corpora (one per language) from `../shared/data/`.

Sources (see `../shared/data/README.md`):

    bash    codefusion-pretraining/BashSnippets.txt                 one command per line
    cf      codefusion-pretraining/ConditionalFormattingSnippets.txt one rule per line
    python  codefusion-benchmarks/PythonBenchmarks.json             CoNaLa *train* `Code`
            python-snippets/python-docs.jsonl                        the `snippet` fields
            python-snippets/django-all.code                          space-tokenized lines

Output: `DATA_DIR/pretrain/{python,bash,cf}.jsonl`, one `{"code": str}` per line (JSONL rather
than raw lines so that a multi-line snippet can never split into two), and
`DATA_DIR/pretrain/report.json` with the counts per source.

Cleaning, in this order, per language (sources are visited in the order above):
1. every snippet is `strip()`ped (the same normalisation as the test-overlap check) and empty
   ones dropped; Django lines are first detokenised (`detokenize_python`);
2. duplicates inside a source are dropped (CF: 226k lines, only ~3.5k unique);
3. every snippet equal to a benchmark *test* `Code` (stripped) is dropped: pre-training on test
   programs would leak them (132 NL2Bash test commands are verbatim in the Bash file);
4. snippets already given by an earlier source of the same language are dropped.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import tokenize
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codefusion.atomic import write_dir_atomic, write_text_atomic
from codefusion.data.benchmarks import FILES, check_splits, read_source_file, write_jsonl
from codefusion.errors import DataError
from codefusion.languages.syntax import parse

LANGUAGES = ("python", "bash", "cf")
# (language, source name, path relative to the shared data folder), in dedup priority order
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("python", "conala_train", "codefusion-benchmarks/PythonBenchmarks.json"),
    ("python", "python_docs", "python-snippets/python-docs.jsonl"),
    ("python", "django", "python-snippets/django-all.code"),
    ("bash", "bash_snippets", "codefusion-pretraining/BashSnippets.txt"),
    ("cf", "cf_snippets", "codefusion-pretraining/ConditionalFormattingSnippets.txt"),
)

# ----------------------------------------------------------------------------- detokenising

_OPENERS, _CLOSERS = "([{", ")]}"
# After these keywords an operator such as `*` or `-` is unary (`lambda *a`, `return -1`).
_VALUE_KEYWORDS = {"True", "False", "None"}


def _is_name(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.NAME and not keyword.iskeyword(tok.string)


def _ends_value(tok: tokenize.TokenInfo | None) -> bool:
    """True when `tok` can end an operand, so a following `(`/`[` is a call/subscript and a
    following `-`/`*` is binary."""
    if tok is None:
        return False
    return (_is_name(tok) or tok.string in _VALUE_KEYWORDS or tok.string in _CLOSERS
            or tok.type in (tokenize.NUMBER, tokenize.STRING))


def detokenize_python(line: str) -> str:
    """Rejoin one space-tokenized Python line (django-all.code) with conventional spacing.

    `settings . CACHES [ backend ]` -> `settings.CACHES[backend]`,
    `f ( a , ** kw , x = - 1 )` -> `f(a, **kw, x=-1)`. Tokens come from Python's own
    `tokenize`, so string literals (which keep their inner spaces in the source) stay intact.
    Spacing never changes the meaning of Python tokens, so the result has the same AST as the
    input; a line that does not tokenize is returned stripped, unchanged.
    """
    text = line.strip()
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER,
                                  tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    out: list[str] = []
    stack: list[str] = []  # open brackets: `=` inside `(` is a keyword argument, `:` inside `[` a slice
    prev: tokenize.TokenInfo | None = None
    unary_prev = False  # the previous token was a unary operator (glue it to its operand)
    for tok in toks:
        s = tok.string
        if prev is None:
            sep = ""
        elif unary_prev or prev.string in _OPENERS or prev.string == "." or (prev.string == "@" and len(out) == 1):
            sep = ""
        elif s in _CLOSERS or s in (",", ";", ":"):
            sep = ""
        elif s == ".":
            sep = "" if _ends_value(prev) else " "  # `from . import x` keeps its spaces
        elif s in "([":
            sep = "" if _ends_value(prev) else " "
        elif s == "=" and stack[-1:] == ["("]:
            sep = ""
        elif prev.string == "=" and stack[-1:] == ["("]:
            sep = ""
        elif prev.string == ":" and stack[-1:] == ["["]:
            sep = ""
        else:
            sep = " "
        # a `-`, `+`, `~`, `*` or `**` with no operand before it is unary: no space after it
        unary_prev = s in ("-", "+", "~", "*", "**") and not _ends_value(prev)
        if s in _OPENERS:
            stack.append(s)
        elif s in _CLOSERS and stack:
            stack.pop()
        out.append(sep + s)
        prev = tok
    return "".join(out)


def _parse_ok(code: str) -> bool:
    """Python's own parser accepts `code` (see `_dump`)."""
    return bool(_dump(code))


def detokenization_report(raw: list[str], detok: list[str]) -> dict[str, Any]:
    """How many lines parse before and after detokenising (Python `ast` and tree-sitter), and how
    many detokenised lines have exactly the AST of their raw line (the detokeniser's contract)."""
    n = len(raw)
    ast_raw = ast_detok = same = ts_raw = ts_detok = 0
    for r, d in zip(raw, detok):
        r, d = r.strip(), d.strip()
        ok_r, ok_d = _parse_ok(r), _parse_ok(d)
        ast_raw += ok_r
        ast_detok += ok_d
        if ok_r and ok_d:
            same += _dump(r) == _dump(d)
        ts_raw += not parse(r, "python").root_node.has_error
        ts_detok += not parse(d, "python").root_node.has_error
    return {"lines": n, "ast_parse_raw": ast_raw, "ast_parse_detok": ast_detok, "same_ast": same,
            "tree_sitter_raw": ts_raw, "tree_sitter_detok": ts_detok}


def _dump(code: str) -> str:
    """The AST of `code` as text, or "" when it does not parse. A lone block opener (`def f(x):`)
    gets a `pass` body and a decorator a function, so that one-line fragments of longer
    statements are judged on what they contain."""
    for candidate in (code, code + "\n    pass", code + "\ndef f(): pass"):
        try:
            return ast.dump(ast.parse(candidate))
        except (SyntaxError, ValueError):
            continue
    return ""


# ----------------------------------------------------------------------------- reading


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path} is missing; pass shared=DIR holding the folders listed in shared/data/README.md")
    return path


def _read_lines(path: Path, limit: int | None) -> list[str]:
    lines = _need(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    return lines[:limit]


def read_python_docs(path: Path, limit: int | None = None) -> list[str]:
    """The `snippet` field of each python-docs.jsonl record (records without one are skipped)."""
    out = []
    for i, line in enumerate(_read_lines(path, limit)):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path} line {i + 1} is not JSON; re-copy the file") from None
        if isinstance(record, dict) and isinstance(record.get("snippet"), str):
            out.append(record["snippet"])
    return out


def read_benchmark_codes(bench_dir: Path, language: str, split: str) -> list[str]:
    """The `Code` strings of one official benchmark split (read with benchmarks.py's reader)."""
    name = FILES[language]
    data, _ = read_source_file(str(bench_dir), name)
    return [r["Code"] for r in check_splits(data, name)[split] if isinstance(r, dict) and isinstance(r.get("Code"), str)]


def read_sources(shared: Path, bench_dir: Path, limit: int | None = None) -> dict[str, list[str]]:
    """Raw snippets of every source, keyed by source name (Django already detokenised)."""
    raw: dict[str, list[str]] = {}
    for _, name, rel in SOURCES:
        path = shared / rel
        if name == "conala_train":
            raw[name] = read_benchmark_codes(bench_dir, "python", "train")[:limit]
        elif name == "python_docs":
            raw[name] = read_python_docs(path, limit)
        elif name == "django":
            raw[name] = [detokenize_python(line) for line in _read_lines(path, limit)]
        else:
            raw[name] = _read_lines(path, limit)
    return raw


# ----------------------------------------------------------------------------- building


def build_corpus(sources: list[tuple[str, Iterable[str]]], test_codes: list[str]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """De-duplicate the sources of one language and remove test overlap (steps 1-4 above).

    `test_codes` are the benchmark test `Code`s as given (stripped here). Returns the corpus
    (first-seen order) and per-source counts: read, empty, unique, test_overlap (distinct
    snippets removed), test_rows_matched (test rows, with repeats, whose code the source holds:
    the README's "132 Bash test commands"), seen_in_earlier_source, kept.
    """
    tests = [t.strip() for t in test_codes]
    test_set = set(tests)
    corpus: list[str] = []
    seen: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for name, snippets in sources:
        c = {"read": 0, "empty": 0, "unique": 0, "test_overlap": 0, "seen_in_earlier_source": 0, "kept": 0}
        own: set[str] = set()
        for snippet in snippets:
            c["read"] += 1
            code = snippet.strip()
            if not code:
                c["empty"] += 1
                continue
            if code in own:
                continue
            own.add(code)
            c["unique"] += 1
            if code in test_set:
                c["test_overlap"] += 1
            elif code in seen:
                c["seen_in_earlier_source"] += 1
            else:
                seen.add(code)
                corpus.append(code)
                c["kept"] += 1
        c["test_rows_matched"] = sum(t in own for t in tests)
        counts[name] = c
    return corpus, counts


def prepare_pretraining(shared: str | Path, out_dir: str | Path, benchmarks: str | Path | None = None,
                        limit: int | None = None) -> dict[str, Any]:
    """Read every source, write the three corpora and report.json; return the report.

    Everything is read before anything is written, so a missing file leaves DATA_DIR untouched.
    `limit` keeps only the first N records of each source (for quick checks).
    """
    if limit is not None and limit < 1:
        raise DataError(f"limit must be >= 1 (records per source), got {limit}")
    shared = Path(shared)
    bench_dir = Path(benchmarks) if benchmarks is not None else shared / "codefusion-benchmarks"
    if not shared.is_dir():
        raise DataError(f"shared data folder {shared} does not exist; pass shared=DIR")
    raw = read_sources(shared, bench_dir, limit)
    tests = {lang: read_benchmark_codes(bench_dir, lang, "test") for lang in LANGUAGES}
    report: dict[str, Any] = {"shared": str(shared), "benchmarks": str(bench_dir), "limit": limit, "languages": {}}
    corpora: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        srcs = [(name, raw[name]) for lg, name, _ in SOURCES if lg == lang]
        corpora[lang], counts = build_corpus(srcs, tests[lang])
        report["languages"][lang] = {"sources": counts, "test_rows": len(tests[lang]), "total": len(corpora[lang])}
    django_raw = _read_lines(shared / "python-snippets/django-all.code", limit)
    report["django_detokenization"] = detokenization_report(django_raw, raw["django"])
    out = Path(out_dir) / "pretrain"

    def write_all(root: Path) -> None:
        for lang in LANGUAGES:
            write_jsonl(root / f"{lang}.jsonl", [{"code": c} for c in corpora[lang]])
        write_text_atomic(root / "report.json", json.dumps(report, indent=2) + "\n")

    # All or nothing: staged, then swapped in; report.json (the completeness marker) last.
    try:
        write_dir_atomic(out, write_all, [*(f"{lang}.jsonl" for lang in LANGUAGES), "report.json"])
    except OSError as e:
        raise DataError(f"cannot write {out}: {e.strerror or e} (left as it was)") from None
    return report


def format_counts(report: dict[str, Any]) -> str:
    """A small table of the per-source counts, for the CLI."""
    head = f"{'language':8} {'source':14} {'read':>8} {'unique':>8} {'test':>6} {'(rows)':>6} {'earlier':>8} {'kept':>8}"
    rows = [head]
    for lang, info in report["languages"].items():
        for name, c in info["sources"].items():
            rows.append(f"{lang:8} {name:14} {c['read']:8} {c['unique']:8} {c['test_overlap']:6} {c['test_rows_matched']:6} "
                        f"{c['seen_in_earlier_source']:8} {c['kept']:8}")
        rows.append(f"{lang:8} {'= total':14} {'':8} {'':8} {'':6} {'':6} {'':8} {info['total']:8}")
    d = report["django_detokenization"]
    rows.append(f"django detokenisation ({d['lines']} lines): ast parses raw {d['ast_parse_raw']} / detok "
                f"{d['ast_parse_detok']} (same AST {d['same_ast']}); tree-sitter raw {d['tree_sitter_raw']} "
                f"/ detok {d['tree_sitter_detok']}")
    return "\n".join(rows)

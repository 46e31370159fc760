"""Reading prediction files: the JSONL that `sample.py` writes (one line per input).

    {"id": 713, "nl": "...", "reference": "Between(15,85)",
     "candidates": [{"code": "Between(15, 85)", "score": -0.12}, ...],   # best first
     "table": [["Index", "Value"], ...],                                  # CF inputs only
     "source": "cornet"}                          # optional: the benchmark's sub-source

Candidates are scored in file order (the sampler's ranking); `score` is informational. A line
that is not JSON, has no reference or no list of candidates is skipped and reported, never
guessed at. Also here: telling the language of a file whose rows do not say it.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefusion.errors import UserError
from codefusion.languages.bash_flags import FLAG_TYPES
from codefusion.languages.names import LANGUAGES, check_language


class PredictionFileError(UserError):
    """The prediction file cannot be used at all; the message names the file and the fix."""


@dataclass
class Prediction:
    """One input of a prediction file."""

    id: Any
    reference: str
    candidates: list[str]
    nl: str | None = None
    table: list[list[Any]] | None = None
    language: str | None = None
    scores: list[float | None] = field(default_factory=list)
    source: str | None = None  # the benchmark's sub-source (CF: cornet | nltocf), scored apart


def _parse_line(row: Any) -> Prediction:
    """One decoded JSON line -> Prediction; ValueError with the reason for a bad row."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    reference = row.get("reference")
    if not isinstance(reference, str):
        raise ValueError("no reference (a string) to score against")
    raw = row.get("candidates")
    if not isinstance(raw, list):
        raise ValueError("no candidates list")
    codes: list[str] = []
    scores: list[float | None] = []
    for j, cand in enumerate(raw):
        code = cand.get("code") if isinstance(cand, dict) else cand
        if not isinstance(code, str):
            raise ValueError(f"candidate {j} has no code string")
        codes.append(code)
        score = cand.get("score") if isinstance(cand, dict) else None
        scores.append(float(score) if isinstance(score, (int, float)) else None)
    table = row.get("table")
    if table is not None and not (isinstance(table, list) and
                                  all(isinstance(r, list) for r in table)):
        raise ValueError("table is not a list of rows")
    language = row.get("language")
    if language is not None:
        language = check_language(language)
    source = row.get("source")
    if source is not None and not (isinstance(source, str) and source):
        raise ValueError("source is not a non-empty string")
    return Prediction(id=row.get("id"), reference=reference, candidates=codes,
                      nl=row.get("nl"), table=table, language=language, scores=scores,
                      source=source)


def read_predictions(path: str | Path) -> tuple[list[Prediction], list[str]]:
    """All usable inputs of a JSONL prediction file, and one message per skipped line.

    Raises `PredictionFileError` when the file is missing, unreadable or has no usable line.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"prediction file {path} does not exist")
    records: list[Prediction] = []
    skipped: list[str] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(_parse_line(json.loads(line)))
                except (json.JSONDecodeError, ValueError) as error:
                    skipped.append(f"line {number}: {error}")
    except (OSError, UnicodeDecodeError) as error:
        raise PredictionFileError(f"cannot read {path}: {error}") from error
    if not records:
        first = f" (first problem: {skipped[0]})" if skipped else ""
        raise PredictionFileError(f"{path} has no usable prediction line{first}")
    return records, skipped


def detect_language(records: list[Prediction], path: str | Path = "") -> tuple[str, str]:
    """`(language, how it was decided)` for records whose language was not given.

    In order: the rows' own `language` field; a `table` (only CF inputs have one); what the
    references look like (Bash commands start with a known utility, Python parses with `ast`);
    the file name. Raises `PredictionFileError` when none of these decides.
    """
    named = {r.language for r in records if r.language}
    if len(named) == 1:
        return named.pop(), "the rows' language field"
    if len(named) > 1:
        raise PredictionFileError(f"rows name several languages ({', '.join(sorted(named))}); "
                                  "split the file or pass language=")
    if any(r.table is not None for r in records):
        return "cf", "rows carry a table"
    sample = [r.reference for r in records[:500]]
    bash = sum(1 for s in sample if s.split() and s.split()[0].rsplit("/", 1)[-1] in FLAG_TYPES)
    python = sum(1 for s in sample if _parses_as_python(s))
    if max(bash, python) >= 0.5 * len(sample) and bash != python:
        return ("bash" if bash > python else "python"), "what the references look like"
    name = Path(path).name.lower()
    for language, hints in (("python", ("python", "conala")), ("bash", ("bash", "nl2bash")),
                            ("cf", ("cf", "cornet"))):
        if any(h in name for h in hints):
            return language, "the file name"
    raise PredictionFileError("cannot tell the language of the predictions; pass "
                              f"language={'|'.join(LANGUAGES)}")


def _parses_as_python(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True

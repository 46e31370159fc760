"""Turn the official CodeFusion benchmark files into per-language JSONL splits.

Input: the three files of microsoft/prose-benchmarks `CodeFusion/Benchmarks/`
(`PythonBenchmarks.json`, `BashBenchmarks.json`, `CFRuleBenchmarks.json`), each
`{"train": [...], "test": [...]}` of `{"ID", "NL Utterance", "Code"}` (CF adds `Data`, `Labels`),
read from a local folder or downloaded from a URL prefix.

Output: `DATA_DIR/{python,bash,cf}/{train,valid,test}.jsonl`, one object per line:

    {"id": <official ID>, "index": <position in the official split>, "nl": str, "code": str}
    CF also: "table": list[list[str]] (the `Data` rows, first row the header, every cell str())
             "labels": list[int] (as given; `[0]` means "no gold labels")
             "source": "cornet" | "nltocf" (which of the release's two sources the rule is from)

plus `DATA_DIR/prepare_report.json` (counts, drops with reasons, source, seed, fraction).

Choices, and why:
- `valid` is carved out of the official train split, because the release has no validation
  split and the test split must stay the paper's. Default 5 % of the (kept) train rows, seed 0.
  A row goes to `valid` when sha256("{seed}:{language}:{index}") is among the lowest
  round(fraction * n_train) values: deterministic across Python versions and platforms, and a
  row's fate does not depend on which other rows were dropped. Row-level, not stratified and
  not grouped by question (Python IDs are CoNaLa question ids and repeat).
- `test` is the official test split in the official order with the official IDs; only
  malformed rows are removed, and every removal is counted and reported.
- `index` is written because Python IDs are not unique (2,379 train rows share 1,710 ids), so
  (split, index) is the key that always identifies one official row.
- CF rows say their `source`, from the official ID (`cf_source`): the release joins two
  sources, and its test split is half of each. Prediction files carry the field, and
  `codefusion.evaluate` scores each source apart as well as the whole split.
- Line terminators are stripped from `code` and surrounding whitespace from `nl`: every Bash
  row ends in "\\n" (an artefact of NL2Bash's line files); whitespace inside code is kept.
- CoNaLa rows whose utterance is null (its `rewritten_intent` was null: 79 train, 23 test) are
  repaired with the original question title (`intent`) when the CoNaLa records are given,
  else dropped. Matching: the benchmark lists are the CoNaLa files in the same order (train
  lacks question 9497290), so the two sequences of (question_id, snippet) are aligned with
  difflib; an aligned pair whose key matches gives the intent. A row the alignment misses
  falls back to a (question_id, snippet) lookup when that key has exactly one intent.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefusion.atomic import write_dir_atomic, write_text_atomic
from codefusion.errors import DataError

DEFAULT_SOURCE = "https://raw.githubusercontent.com/microsoft/prose-benchmarks/main/CodeFusion/Benchmarks/"
# language name in DATA_DIR -> official file name
FILES: dict[str, str] = {
    "python": "PythonBenchmarks.json",
    "bash": "BashBenchmarks.json",
    "cf": "CFRuleBenchmarks.json",
}
OFFICIAL_SPLITS = ("train", "test")
OUT_SPLITS = ("train", "valid", "test")
CONALA_FILES = {"train": "conala-train.json", "test": "conala-test.json"}
# The CF release (CFRuleBenchmarks.json) joins two sources, told apart by the official ID: 1-772
# are single-column CORNET rules over a ["Index", "Value", ...] table (all of train, test
# 713-772), 773-890 NLToCF rules over real multi-column tables, with `c[i]` column references.
CF_NLTOCF_FIRST_ID = 773
DOWNLOAD_TIMEOUT_S = 60


@dataclass
class SplitResult:
    """Rows kept from one official split, and what happened to the others."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[dict[str, Any]] = field(default_factory=list)  # {"index", "id", "how"}
    dropped: list[dict[str, Any]] = field(default_factory=list)  # {"index", "id", "reason"}


# ----------------------------------------------------------------------------- reading


def is_url(source: str) -> bool:
    """True when `source` looks like a URL prefix rather than a local folder."""
    return "://" in source


def _parse_json(text: str | bytes, name: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{name} is not valid JSON ({e}); re-download it or point source= elsewhere") from None


def read_source_file(source: str, name: str) -> tuple[Any, str]:
    """Load file `name` from a local folder or URL prefix. Returns (parsed JSON, its sha256)."""
    if is_url(source):
        url = source.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                raw = resp.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise DataError(
                f"could not download {url} ({reason}); if offline, pass source=DIR with the three benchmark files"
            ) from None
        where = url
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise DataError(f"source folder {folder} does not exist; pass source=DIR holding {', '.join(FILES.values())}")
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} is missing; the source folder must hold {', '.join(FILES.values())}")
        raw = path.read_bytes()
        where = str(path)
    return _parse_json(raw, where), hashlib.sha256(raw).hexdigest()


def check_splits(data: Any, name: str) -> dict[str, list[Any]]:
    """Check that an official file is {"train": [...], "test": [...]} and return it."""
    if not isinstance(data, dict) or any(not isinstance(data.get(s), list) for s in OFFICIAL_SPLITS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{name} must be an object with list-valued 'train' and 'test' keys (found: {keys})")
    return {s: data[s] for s in OFFICIAL_SPLITS}


def load_conala(folder: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read the original CoNaLa records (conala-train.json, conala-test.json) from `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"conala_original= folder {folder} does not exist")
    out: dict[str, list[dict[str, Any]]] = {}
    for split, name in CONALA_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} is missing; conala_original= must hold {' and '.join(CONALA_FILES.values())}")
        records = _parse_json(path.read_bytes(), str(path))
        if not isinstance(records, list):
            raise DataError(f"{path} must be a JSON list of CoNaLa records")
        out[split] = [r for r in records if isinstance(r, dict)]
    return out


# ----------------------------------------------------------------------------- CoNaLa repair


def _conala_key(qid: Any, snippet: Any) -> tuple[str, str]:
    # str() so that an int id in one file and a str id in the other still meet
    return (str(qid), str(snippet))


def match_conala_intents(records: list[Any], originals: list[dict[str, Any]]) -> dict[int, str]:
    """Map benchmark row index -> original CoNaLa `intent`, for every row that can be matched.

    Aligns the two (question_id, snippet) sequences (they are the same list, minus a few
    rows), then falls back to an unambiguous key lookup for rows the alignment misses.
    """
    bench_keys = [
        _conala_key(r.get("ID"), r.get("Code")) if isinstance(r, dict) else ("", "") for r in records
    ]
    orig_keys = [_conala_key(o.get("question_id"), o.get("snippet")) for o in originals]
    matched: dict[int, str] = {}
    matcher = difflib.SequenceMatcher(None, bench_keys, orig_keys, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            intent = originals[block.b + k].get("intent")
            if isinstance(intent, str) and intent.strip():
                matched[block.a + k] = intent
    # fallback: a key whose intents all agree identifies the question title safely
    by_key: dict[tuple[str, str], set[str]] = {}
    for key, o in zip(orig_keys, originals):
        if isinstance(o.get("intent"), str) and o["intent"].strip():
            by_key.setdefault(key, set()).add(o["intent"])
    for i, key in enumerate(bench_keys):
        if i not in matched and len(by_key.get(key, ())) == 1:
            matched[i] = next(iter(by_key[key]))
    return matched


# ----------------------------------------------------------------------------- row cleaning


def _cell(value: Any) -> str:
    # str() keeps the given spelling: "144.69999999999999" stays, 3 -> "3", True -> "True"
    # (the rules write booleans as TextEquals(False)); None would mean a missing cell
    return "" if value is None else str(value)


def clean_row(record: Any, language: str, keep_empty_code: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """Validate one official record and convert it to the output schema.

    Returns (row, None) or (None, reason). A null utterance is returned as `nl = None` so that
    the caller can repair it; every other defect is a reason to drop the row.
    """
    if not isinstance(record, dict):
        return None, "record is not an object"
    required = ["ID", "NL Utterance", "Code"] + (["Data", "Labels"] if language == "cf" else [])
    missing = [k for k in required if k not in record]
    if missing:
        return None, f"missing field {missing[0]!r}"
    code, nl = record["Code"], record["NL Utterance"]
    if not isinstance(code, str):
        return None, "non-string code"
    code = code.rstrip("\r\n")
    if not code.strip() and not keep_empty_code:
        return None, "empty code"
    if nl is not None and not isinstance(nl, str):
        return None, "non-string utterance"
    if isinstance(nl, str) and not nl.strip():
        return None, "empty utterance"
    row: dict[str, Any] = {"id": record["ID"], "nl": nl.strip() if nl is not None else None, "code": code}
    if language == "cf":
        table, labels = record["Data"], record["Labels"]
        if not isinstance(table, list) or not table or not all(isinstance(r, list) for r in table):
            return None, "Data is not a non-empty list of rows"
        if not isinstance(labels, list) or not all(isinstance(x, int) for x in labels):
            return None, "Labels is not a list of integers"
        row["table"] = [[_cell(c) for c in r] for r in table]
        row["labels"] = labels
        source = cf_source(record["ID"])
        if source is not None:
            row["source"] = source
    return row, None


def cf_source(record_id: Any) -> str | None:
    """The source of a CF rule from its official ID: "cornet" or "nltocf" (see CF_NLTOCF_FIRST_ID);
    None for an ID that is not an integer (not a row of the official release)."""
    try:
        number = int(record_id)
    except (TypeError, ValueError):
        return None
    return "nltocf" if number >= CF_NLTOCF_FIRST_ID else "cornet"


def clean_split(
    records: list[Any], language: str, conala: list[dict[str, Any]] | None = None, keep_empty_code: bool = False
) -> SplitResult:
    """Clean every record of one official split, repairing null CoNaLa utterances if possible.

    The test split keeps rows with empty gold code (CF test ID 740) so it stays the official
    split, row for row; the training code skips and counts such rows when it reads them."""
    result = SplitResult()
    intents = match_conala_intents(records, conala) if conala is not None else {}
    for index, record in enumerate(records):
        row, reason = clean_row(record, language, keep_empty_code)
        rid = record.get("ID") if isinstance(record, dict) else None
        if row is not None and row["nl"] is None:
            if index in intents:
                row["nl"] = intents[index].strip()
                result.repaired.append({"index": index, "id": rid, "how": "null utterance <- CoNaLa intent"})
            else:
                row = None
                reason = "null utterance (no CoNaLa original matched)" if conala is not None else (
                    "null utterance (no conala_original= given)" if language == "python" else "null utterance"
                )
        if row is None:
            result.dropped.append({"index": index, "id": rid, "reason": reason})
            continue
        result.rows.append({"id": row.pop("id"), "index": index, **row})
    return result


# ----------------------------------------------------------------------------- carve-out


def carve_valid(rows: list[dict[str, Any]], fraction: float, seed: int, language: str) -> tuple[list, list]:
    """Split train rows into (train, valid); both keep the official order.

    round(fraction * len(rows)) rows with the lowest sha256("{seed}:{language}:{index}") go
    to valid; a hash instead of `random` keeps the split identical on every Python version.
    """
    n_valid = round(fraction * len(rows))

    def rank(row: dict[str, Any]) -> str:
        return hashlib.sha256(f"{seed}:{language}:{row['index']}".encode()).hexdigest()

    chosen = {r["index"] for r in sorted(rows, key=rank)[:n_valid]}
    return [r for r in rows if r["index"] not in chosen], [r for r in rows if r["index"] in chosen]


# ----------------------------------------------------------------------------- writing


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON object per line (UTF-8, non-ASCII kept as is)."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


# ----------------------------------------------------------------------------- driver


def prepare(
    source: str,
    out_dir: str | Path,
    conala_original: str | Path | None = None,
    valid_fraction: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Read the official files, write the JSONL splits and the report; return the report.

    All inputs are read and checked before anything is written, so a bad input leaves
    DATA_DIR untouched. The report is written last: its presence marks a complete run.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise DataError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    conala = load_conala(conala_original) if conala_original is not None else None
    official: dict[str, dict[str, list[Any]]] = {}
    sha: dict[str, str] = {}
    for language, name in FILES.items():
        data, sha[name] = read_source_file(source, name)
        official[language] = check_splits(data, name)

    out_dir = Path(out_dir)
    report: dict[str, Any] = {
        "source": source,
        "source_sha256": sha,
        "conala_original": str(conala_original) if conala_original is not None else None,
        "valid_fraction": valid_fraction,
        "seed": seed,
        "languages": {},
    }
    finals: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for language, splits in official.items():
        results = {
            s: clean_split(recs, language, conala[s] if (conala and language == "python") else None,
                           keep_empty_code=s == "test")
            for s, recs in splits.items()
        }
        train, valid = carve_valid(results["train"].rows, valid_fraction, seed, language)
        finals[language] = {"train": train, "valid": valid, "test": results["test"].rows}
        report["languages"][language] = _language_report(splits, results, finals[language])

    def write_all(root: Path) -> None:
        for language, final in finals.items():
            for split, rows in final.items():
                write_jsonl(root / language / f"{split}.jsonl", rows)
        write_text_atomic(root / "prepare_report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    # All or nothing: everything is written into a staging folder first (a full disk part-way
    # leaves DATA_DIR as it was), then swapped in; the report moves in last.
    try:
        write_dir_atomic(out_dir, write_all, [*finals, "prepare_report.json"])
    except OSError as e:
        raise DataError(f"cannot write {out_dir}: {e.strerror or e} (DATA_DIR left as it was)") from None
    return report


def _language_report(
    splits: dict[str, list[Any]], results: dict[str, SplitResult], final: dict[str, list]
) -> dict[str, Any]:
    """Counts for one language: official sizes, written sizes, repairs and drops per split."""
    reasons: dict[str, dict[str, int]] = {}
    for s, r in results.items():
        reasons[s] = {}
        for d in r.dropped:
            reasons[s][d["reason"]] = reasons[s].get(d["reason"], 0) + 1
    sources = {s: dict(Counter(row["source"] for row in rows if "source" in row)) for s, rows in final.items()}
    return {
        "official": {s: len(recs) for s, recs in splits.items()},
        "written": {s: len(rows) for s, rows in final.items()},
        **({"written_by_source": sources} if any(sources.values()) else {}),  # CF: cornet / nltocf
        "repaired": {s: len(r.repaired) for s, r in results.items()},
        "dropped": {s: len(r.dropped) for s, r in results.items()},
        "dropped_reasons": reasons,
        "repaired_rows": {s: r.repaired for s, r in results.items()},
        "dropped_rows": {s: r.dropped for s, r in results.items()},
    }


def format_summary(report: dict[str, Any]) -> str:
    """The human-readable lines the CLI prints: official counts, then written counts and fixes."""
    lines = [f"source: {report['source']}", "official splits (before carve-out), train/test:"]
    langs = report["languages"]
    for lang, r in langs.items():
        lines.append(f"  {lang:<7} {r['official']['train']:>6,} / {r['official']['test']:>5,}")
    pct = f"{report['valid_fraction'] * 100:g}%"
    lines.append(f"written (valid = {pct} of train, seed {report['seed']}), train/valid/test:")
    for lang, r in langs.items():
        w, rep, drop = r["written"], r["repaired"], r["dropped"]
        lines.append(
            f"  {lang:<7} {w['train']:>6,} / {w['valid']:>4,} / {w['test']:>5,}"
            f"   repaired train/test {rep['train']}/{rep['test']}"
            f"   dropped train/test {drop['train']}/{drop['test']}"
        )
    for lang, r in langs.items():
        by_source = r.get("written_by_source", {})
        for name in dict.fromkeys(n for counts in by_source.values() for n in counts):
            counts = " / ".join(f"{by_source[s].get(name, 0):,}" for s in ("train", "valid", "test"))
            lines.append(f"  {lang} from {name}, train/valid/test: {counts}")
    for lang, r in langs.items():
        for split, reasons in r["dropped_reasons"].items():
            for reason, n in sorted(reasons.items()):
                lines.append(f"  dropped {lang} {split}: {n} x {reason}")
    return "\n".join(lines)

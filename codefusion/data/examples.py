"""Reading (utterance, code) examples and tokenizing them into fixed-length training tensors.

Malformed rows are skipped and counted; examples longer than the configured lengths are
truncated or skipped and counted. Nothing is dropped silently: every split returns a report.
Tokenized splits are built with `datasets` and cached as Arrow files keyed by the rows, the
tokenizer and the lengths, so a second run with the same data starts at once.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import datasets
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from codefusion.data.tokenizer import tokenizer_fingerprint
from codefusion.errors import DataError

datasets.disable_progress_bars()  # the per-split report line says what happened


@dataclass
class SplitReport:
    """What happened to one split between the file and the tensors."""

    name: str
    rows: int = 0  # rows read
    kept: int = 0  # examples in the tokenized split
    malformed: Counter = field(default_factory=Counter)  # reason -> rows skipped
    nl_truncated: int = 0
    code_truncated: int = 0
    skipped_too_long: int = 0
    first_undecodable: str = ""  # path:line of the first row that is not UTF-8

    def line(self) -> str:
        bad = ", ".join(f"{n} {why}" + (f" (first at {self.first_undecodable})" if why == "not UTF-8" else "")
                        for why, n in sorted(self.malformed.items())) or "0"
        return (f"{self.name}: {self.rows} rows, {self.kept} kept; malformed skipped: {bad}; "
                f"too long: nl {self.nl_truncated}, code {self.code_truncated} "
                f"({'skipped ' + str(self.skipped_too_long) if self.skipped_too_long else 'truncated'})")


def read_jsonl(path: str | Path, report: SplitReport, require_nl: bool = True) -> list[dict[str, Any]]:
    """Rows of a JSONL split with string `nl` and non-empty string `code`; others are counted in
    `report.malformed` by reason and skipped. With `require_nl=False` (code-only corpora) `nl`
    is set to the code."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    rows: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            report.rows += 1
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                report.malformed["not UTF-8"] += 1
                report.first_undecodable = report.first_undecodable or f"{path}:{lineno} (byte {e.start + 1})"
                continue
            except json.JSONDecodeError:
                report.malformed["invalid JSON"] += 1
                continue
            if not require_nl and isinstance(row, dict):
                row.setdefault("nl", row.get("code"))
            reason = _malformed_reason(row)
            if reason:
                report.malformed[reason] += 1
                continue
            rows.append(_keep(row, f"{path.stem}-{lineno}"))
    return rows


def check_rows(rows: list[dict[str, Any]], report: SplitReport) -> list[dict[str, Any]]:
    """The same validation for in-memory rows (e.g. the synthetic generator's)."""
    report.rows += len(rows)
    kept = []
    for row in rows:
        reason = _malformed_reason(row)
        if reason:
            report.malformed[reason] += 1
        else:
            kept.append(_keep(row, str(len(kept))))
    return kept


def _keep(row: dict[str, Any], default_id: str) -> dict[str, Any]:
    """The fields training uses, plus a CF `table` (carried into prediction files for
    execution match) and a `source` (the benchmark's sub-source, scored apart by evaluate)."""
    kept = {"id": str(row.get("id", default_id)), "nl": row["nl"], "code": row["code"]}
    if isinstance(row.get("table"), list):
        kept["table"] = row["table"]
    if source_of(row):
        kept["source"] = source_of(row)
    return kept


def source_of(row: dict[str, Any]) -> str | None:
    """A row's benchmark sub-source (CF: cornet | nltocf) when it names one as a non-empty string,
    the form codefusion.evaluate reads; else None. The one rule for the data module and sample.py."""
    source = row.get("source")
    return source if isinstance(source, str) and source else None


# Rows with an utterance or program longer than this many characters are skipped (and counted)
# before anything reads them: one 2 MB row without spaces made BPE training hang (its time
# grows with the square of a word's length), and no benchmark row comes near (the longest
# CoNaLa/NL2Bash/CF programs are a few hundred characters).
MAX_ROW_CHARS = 20_000


def _malformed_reason(row: Any) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    if not isinstance(row.get("nl"), str) or not row["nl"].strip():
        return "missing or empty nl"
    if not isinstance(row.get("code"), str) or not row["code"].strip():
        return "missing or empty code"
    if max(len(row["nl"]), len(row["code"])) > MAX_ROW_CHARS:
        return f"longer than {MAX_ROW_CHARS} characters"
    return None


def utterance_ids(ids: list[int], max_nl_len: int, eos_id: int) -> list[int]:
    """An utterance's token ids as the encoder reads them: at most max_nl_len - 1 tokens, then
    </s> (the one rule for training data, sample.py and the notebook API)."""
    return ids[: max_nl_len - 1] + [eos_id]


def encode_utterances(tok: PreTrainedTokenizerBase, texts: Sequence[str], max_nl_len: int) -> tuple[Tensor, Tensor]:
    """Utterances -> src_ids, src_mask (B, S): `utterance_ids` of each, right-padded with <pad>."""
    enc = [utterance_ids(tok(t, add_special_tokens=False).input_ids, max_nl_len, tok.eos_token_id) for t in texts]
    width = max(map(len, enc))
    src = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
    return src, src != tok.pad_token_id


def tokenize_split(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, max_nl_len: int,
                   max_code_len: int, overflow: Literal["truncate", "skip"], report: SplitReport,
                   cache_dir: str | None = None) -> datasets.Dataset:
    """Rows -> a `datasets.Dataset` with `src_ids` (<= max_nl_len, ends in </s>) and `code_ids`
    (exactly max_code_len: code tokens, </s>, then <pad>), plus truncation flags."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id

    def encode(batch: dict[str, list]) -> dict[str, list]:
        nl = tokenizer(batch["nl"], add_special_tokens=False)["input_ids"]
        code = tokenizer(batch["code"], add_special_tokens=False)["input_ids"]
        out: dict[str, list] = {"src_ids": [], "code_ids": [], "nl_truncated": [], "code_truncated": []}
        for s, c in zip(nl, code):
            out["nl_truncated"].append(len(s) + 1 > max_nl_len)
            out["code_truncated"].append(len(c) + 1 > max_code_len)
            s = utterance_ids(s, max_nl_len, eos)
            c = c[: max_code_len - 1] + [eos]
            out["src_ids"].append(s)
            out["code_ids"].append(c + [pad] * (max_code_len - len(c)))
        return out

    key = _cache_key(rows, tokenizer, max_nl_len, max_code_len)
    cache = Path(cache_dir or Path.home() / ".cache" / "codefusion") / f"{report.name}-{key}.arrow"
    cache.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_list([{k: r[k] for k in ("id", "nl", "code")} for r in rows])
    ds = ds.map(encode, batched=True, cache_file_name=str(cache), load_from_cache_file=True,
                desc=f"tokenize {report.name}")
    report.nl_truncated = sum(ds["nl_truncated"])
    report.code_truncated = sum(ds["code_truncated"])
    if overflow == "skip" and (report.nl_truncated or report.code_truncated):
        before = len(ds)
        ds = ds.filter(lambda r: not (r["nl_truncated"] or r["code_truncated"]),
                       cache_file_name=str(cache.with_suffix(".fit.arrow")))
        report.skipped_too_long = before - len(ds)
    report.kept = len(ds)
    return ds


def _cache_key(rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, max_nl_len: int, max_code_len: int) -> str:
    h = hashlib.sha1()
    h.update(f"v1|{tokenizer_fingerprint(tokenizer)}|{max_nl_len}|{max_code_len}|".encode())
    for r in rows:
        h.update(json.dumps([r["id"], r["nl"], r["code"]], ensure_ascii=False).encode())
    return h.hexdigest()[:16]

"""Tests of the embedded synthetic NL -> CF-rule dataset (codefusion/data/synthetic_cf.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from codefusion.data.synthetic_cf import FUNCTIONS, SCHEMAS, generate_examples, make_splits

REPO = Path(__file__).resolve().parents[1]
CF_BENCHMARK = REPO.parent / "shared" / "data" / "codefusion-benchmarks" / "CFRuleBenchmarks.json"
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return generate_examples(4000, seed=0)


@pytest.fixture(scope="module")
def quickstart_splits() -> dict[str, list[dict]]:
    # The sizes the quickstart uses (DataConfig.synthetic_*).
    return make_splits(20000, 500, 500, seed=0)


def _pairs(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["nl"], r["code"]) for r in rows]


def test_generate_is_deterministic_in_seed() -> None:
    a, b, c = generate_examples(300, 7), generate_examples(300, 7), generate_examples(300, 8)
    assert a == b
    assert _pairs(a) != _pairs(c)
    assert len(a) == 300 and all(set(r) == {"id", "nl", "code", "table"} for r in a)
    assert len({r["id"] for r in a}) == 300


def test_make_splits_is_deterministic_in_seed() -> None:
    assert make_splits(300, 40, 40, seed=1) == make_splits(300, 40, 40, seed=1)
    assert _pairs(make_splits(300, 40, 40, seed=1)["test"]) != _pairs(make_splits(300, 40, 40, seed=2)["test"])


def test_valid_and_test_are_held_out(quickstart_splits: dict[str, list[dict]]) -> None:
    s = quickstart_splits
    assert [len(s[k]) for k in ("train", "valid", "test")] == [20000, 500, 500]
    train = set(_pairs(s["train"]))
    valid, test = _pairs(s["valid"]), _pairs(s["test"])
    assert len(set(valid)) == len(valid) and len(set(test)) == len(test)  # no repeats
    assert not set(valid) & set(test)
    assert not train & set(valid) and not train & set(test)
    ids = [r["id"] for split in s.values() for r in split]
    assert len(set(ids)) == len(ids)


def test_held_out_vocabulary_is_seen_in_train(quickstart_splits: dict[str, list[dict]]) -> None:
    # Held-out examples are new combinations, not new words: every word of their utterances
    # and every function name of their rules occurs in train.
    def words(rows: list[dict], key: str) -> set[str]:
        return {w for r in rows for w in re.findall(r"[A-Za-z]+", r[key])}

    for key in ("nl", "code"):
        train = words(quickstart_splits["train"], key)
        for split in ("valid", "test"):
            assert words(quickstart_splits[split], key) <= train, (split, key)


def test_mapping_is_a_function(sample: list[dict]) -> None:
    # Learnability: one utterance never maps to two different rules.
    seen: dict[str, str] = {}
    for r in sample:
        assert seen.setdefault(r["nl"], r["code"]) == r["code"], r["nl"]


def test_codes_are_well_formed_and_short(sample: list[dict]) -> None:
    for r in sample:
        code, depth = r["code"], 0
        for ch in code:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            assert depth >= 0, code
        assert depth == 0, code
        assert set(re.findall(r"([A-Za-z_]\w*)\(", code)) <= FUNCTIONS, code
        assert len(code) <= 60, code
        assert 3 <= len(r["nl"].split()) <= 25, r["nl"]


def test_numbers_words_and_columns_come_from_the_utterance(sample: list[dict]) -> None:
    for r in sample:
        nl, code, header = r["nl"], r["code"], r["table"][0]
        nl_words = set(re.findall(r"[\w.-]+", nl))
        for i in re.findall(r"c\[(\d+)\]", code):  # a column is named in the utterance
            assert header[int(i)] in nl, (nl, code)
        bare = re.sub(r"c\[\d+\]", "", code)
        for n in NUMBER.findall(bare):
            assert n in nl_words, (nl, code)
        for w in set(re.findall(r"[A-Za-z]+", re.sub(r"[A-Za-z_]\w*\(", "(", bare))):
            assert w in nl_words, (nl, code)


def test_column_names_have_one_index() -> None:
    index: dict[str, int] = {}
    for schema in SCHEMAS:
        for i, (name, _) in enumerate(schema):
            assert index.setdefault(name, i) == i


def test_tables_have_header_and_rectangular_rows(sample: list[dict]) -> None:
    for r in sample:
        header, *rows = r["table"]
        assert len(header) >= 2 and all(isinstance(h, str) and h for h in header)
        assert 5 <= len(rows) <= 12
        assert all(len(row) == len(header) and all(isinstance(c, str) for c in row) for row in rows)


def test_family_mix(sample: list[dict]) -> None:
    def family(code: str) -> str:
        if code.startswith(("NOT(", "AND(", "OR(")):
            return "composite"
        if "c[" in code or code.startswith(("top(", "bottom(", "aboveAverage", "belowAverage")):
            return "other"
        return "simple"

    share = {k: v / len(sample) for k, v in Counter(family(r["code"]) for r in sample).items()}
    assert 0.55 <= share["simple"] <= 0.65
    assert 0.20 <= share["composite"] <= 0.30
    assert 0.10 <= share["other"] <= 0.20


def test_rules_select_some_rows_but_not_all(sample: list[dict]) -> None:
    # Cross-check with the project's CF interpreter, when it is there.
    interp = pytest.importorskip("codefusion.languages.cf_interpreter")
    mixed = 0
    for r in sample:
        selected = [bool(x) for x in interp.execute(r["code"], r["table"])]
        mixed += 0 < sum(selected) < len(selected)
    assert mixed >= 0.97 * len(sample)


@pytest.mark.skipif(not CF_BENCHMARK.exists(), reason="CFRuleBenchmarks.json not present")
def test_functions_occur_in_the_real_benchmark() -> None:
    data = json.loads(CF_BENCHMARK.read_text(encoding="utf-8"))
    names = {n for split in data.values() for rec in split
             for n in re.findall(r"([A-Za-z_]\w*)\(", str(rec.get("Code", "")))}
    assert FUNCTIONS <= names, FUNCTIONS - names


def test_cli_writes_three_splits(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    cmd = [sys.executable, "-m", "codefusion.data.synthetic_cf", f"out={out}",
           "n_train=60", "n_valid=11", "n_test=7", "seed=3"]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, timeout=60)
    assert sorted(p.name for p in out.iterdir()) == ["test.jsonl", "train.jsonl", "valid.jsonl"]  # no tmp left
    for split, n in (("train", 60), ("valid", 11), ("test", 7)):
        rows = [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(rows) == n
        assert rows == make_splits(60, 11, 7, seed=3)[split]

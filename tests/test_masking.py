"""CPD masking touches only identifier/keyword characters, on real snippets of each language."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from codefusion.data.masking import mask_code, maskable_spans

MASK = "\x00"  # one character that no snippet contains, so masked output aligns char by char


def _texts(code: str, language: str) -> list[str]:
    return [code[s:e] for s, e in maskable_spans(code, language)]


@pytest.mark.parametrize("code, language, expected", [
    ("for x in range(10): print(x)", "python", ["for", "x", "in", "range", "print", "x"]),
    ("a = b if not c else None  # not here", "python", ["a", "b", "if", "not", "c", "else", "None"]),
    ("s = 'for x' + str(1.5)", "python", ["s", "str"]),
    ('for f in *.txt; do echo "$f ${HOME} $1" | grep -v x; done', "bash",
     ["for", "f", "in", "do", "echo", "f", "HOME", "grep", "done"]),
    ("export A=1; if [ -z \"$X\" ]; then ./run.sh; fi", "bash", ["export", "A", "if", "X", "then", "fi"]),
    ("sudo apt-get install foo", "bash", ["sudo"]),
    ("TextContains(Non-pooled, en)", "cf", ["TextContains", "Non-pooled, en"]),
    ("TextEquals(c[6], 'No')", "cf", ["TextEquals", "No"]),
    ("AND(GreaterThan(LEN(c[0]), 6), top(10%))", "cf", ["AND", "GreaterThan", "LEN", "6", "top", "10%"]),
    ("LessThan(c[2], $E$13)", "cf", ["LessThan"]),
    ("SUMPRODUCT(x) + TextEquals(a)", "cf", ["TextEquals"]),  # not a rule: names only
])
def test_hand_checked_spans(code: str, language: str, expected: list[str]) -> None:
    assert _texts(code, language) == expected


def _real_snippets(shared: Path, language: str, n: int = 300) -> list[str]:
    if language == "python":
        lines = (shared / "python-snippets/python-docs.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line)["snippet"] for line in lines[:n]]
        bench = json.loads((shared / "codefusion-benchmarks/PythonBenchmarks.json").read_text(encoding="utf-8"))
        return rows + [r["Code"] for r in bench["train"][:n]]
    name = "BashSnippets.txt" if language == "bash" else "ConditionalFormattingSnippets.txt"
    lines = (shared / "codefusion-pretraining" / name).read_text(encoding="utf-8").splitlines()
    return sorted(set(lines))[:: max(1, len(set(lines)) // n)]


@pytest.mark.parametrize("language", ["python", "bash", "cf"])
@pytest.mark.parametrize("policy", ["token", "span"])
def test_only_maskable_characters_change(shared_data: Path, language: str, policy: str) -> None:
    rng = random.Random(0)
    n_masked = 0
    for code in _real_snippets(shared_data, language):
        spans = maskable_spans(code, language)
        assert all(0 <= s < e <= len(code) for s, e in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "spans overlap or are unsorted"
        for s, e in spans:  # an identifier/keyword never includes spacing or brackets
            assert not any(ch in code[s:e] for ch in "()[]{};|&=") or language == "cf", code[s:e]
        masked = mask_code(code, language, 0.5, policy, rng, mask_token=MASK)
        # the masked text must be the original with some spans, and nothing else, replaced:
        # text outside the spans matches literally, each span matches itself or the mask
        pattern, last = [], 0
        for s, e in spans:
            pattern += [re.escape(code[last:s]), f"(?:{re.escape(code[s:e])}|{MASK})"]
            last = e
        pattern.append(re.escape(code[last:]))
        assert re.fullmatch("".join(pattern), masked, flags=re.DOTALL), (code, masked)
        n_masked += masked.count(MASK)
    assert n_masked > 0


@pytest.mark.parametrize("policy", ["token", "span"])
def test_ratio_extremes_and_determinism(policy: str) -> None:
    code = "for x in range(10): print(x)"
    assert mask_code(code, "python", 0.0, policy, random.Random(1)) == code
    assert mask_code(code, "python", 1.0, policy, random.Random(1)) == \
        "<mask> <mask> <mask> <mask>(10): <mask>(<mask>)"
    runs = {mask_code(code, "python", 0.5, policy, random.Random(7)) for _ in range(3)}
    assert len(runs) == 1
    seen = {mask_code(code, "python", 0.5, policy, random.Random(seed)) for seed in range(30)}
    assert len(seen) > 3  # the rng is actually used


def test_span_policy_masks_a_contiguous_run() -> None:
    code = "a = b + c + d + e + f + g + h + i + j"  # 10 identifiers
    for seed in range(20):
        out = mask_code(code, "python", 0.3, "span", random.Random(seed), mask_token="?")
        names = out.replace(" ", "").replace("=", "+").split("+")
        idx = [i for i, n in enumerate(names) if n == "?"]
        assert len(idx) == 3 and idx == list(range(idx[0], idx[0] + 3))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ratio"):
        mask_code("x", "python", 1.5)
    with pytest.raises(ValueError, match="policy"):
        mask_code("x", "python", 0.5, "words", random.Random(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="language"):
        maskable_spans("x", "java")

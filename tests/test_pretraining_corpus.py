"""Pre-training corpora: dedup, test-overlap removal, the Django detokeniser and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codefusion.data.benchmarks import DataError
from codefusion.data.pretraining import _dump, build_corpus, detokenize_python, prepare_pretraining

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("raw, expected", [
    ("  from django . conf import settings", "from django.conf import settings"),
    (" conf = settings . CACHES [ backend ]", "conf = settings.CACHES[backend]"),
    ("    def get_cache ( backend , ** kwargs ) :", "def get_cache(backend, **kwargs):"),
    (" warnings . warn ( \"'get_cache' is  deprecated.\" , stacklevel = 2 )",
     "warnings.warn(\"'get_cache' is  deprecated.\", stacklevel=2)"),
    ("return x [ 1 : - 1 ] if not - y else { 'a' : [ - 1 ] }", "return x[1:-1] if not -y else {'a': [-1]}"),
    ("@ register . filter ( is_safe = True )", "@register.filter(is_safe=True)"),
    ("from . . models import ( A , B )", "from ..models import (A, B)"),
    ("x = r'\\d+' % ( a , b ) ; lambda * a : a", "x = r'\\d+' % (a, b); lambda *a: a"),
])
def test_detokenize(raw: str, expected: str) -> None:
    assert detokenize_python(raw) == expected
    assert _dump(raw.strip()) == _dump(expected) != ""  # spacing never changes the program


def test_build_corpus_counts() -> None:
    corpus, counts = build_corpus(
        [("a", ["x", " x ", "", "t", "y", "t"]), ("b", ["y", "z", "t\n"])], test_codes=["t\n", "t", "w"])
    assert corpus == ["x", "y", "z"]
    assert counts["a"] == {"read": 6, "empty": 1, "unique": 3, "test_overlap": 1, "test_rows_matched": 2,
                           "seen_in_earlier_source": 0, "kept": 2}
    assert counts["b"] == {"read": 3, "empty": 0, "unique": 3, "test_overlap": 1, "test_rows_matched": 2,
                           "seen_in_earlier_source": 1, "kept": 1}


def _jsonl(path: Path) -> list[str]:
    return [json.loads(line)["code"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_builds_three_corpora_without_test_code(shared_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "data_prep/prepare_pretraining.py"), f"out={tmp_path}",
                           f"shared={shared_data}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "bash_snippets" in proc.stdout and "django detokenisation" in proc.stdout
    out = tmp_path / "pretrain"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    bench = shared_data / "codefusion-benchmarks"
    for lang, name in [("python", "PythonBenchmarks.json"), ("bash", "BashBenchmarks.json"), ("cf", "CFRuleBenchmarks.json")]:
        corpus = _jsonl(out / f"{lang}.jsonl")
        tests = {r["Code"].strip() for r in json.loads((bench / name).read_text(encoding="utf-8"))["test"]}
        assert corpus and len(corpus) == len(set(corpus)) == report["languages"][lang]["total"]
        assert not tests & set(corpus), f"{lang} corpus holds test code"
        assert all(c == c.strip() and c for c in corpus)
        srcs = report["languages"][lang]["sources"]
        assert sum(c["kept"] for c in srcs.values()) == len(corpus)
        for c in srcs.values():
            assert c["unique"] == c["test_overlap"] + c["seen_in_earlier_source"] + c["kept"]
    bash = report["languages"]["bash"]["sources"]["bash_snippets"]
    # README: 132 test commands (85 distinct) are verbatim in BashSnippets.txt
    assert bash["test_rows_matched"] == 132 and bash["test_overlap"] == 85
    assert bash["read"] == 88528 and bash["unique"] == 61921
    assert report["languages"]["cf"]["sources"]["cf_snippets"]["unique"] == 3498
    assert report["languages"]["python"]["sources"]["python_docs"]["test_overlap"] == 2  # README: 2 collide
    d = report["django_detokenization"]
    assert d["ast_parse_detok"] == d["ast_parse_raw"] == d["same_ast"] > 0.85 * d["lines"]


def test_limit_and_missing_file(shared_data: Path, tmp_path: Path) -> None:
    report = prepare_pretraining(shared_data, tmp_path, limit=50)
    assert report["languages"]["bash"]["sources"]["bash_snippets"]["read"] == 50
    assert len(_jsonl(tmp_path / "pretrain/cf.jsonl")) <= 50
    with pytest.raises(DataError, match="ConditionalFormattingSnippets.txt is missing"):
        empty = tmp_path / "shared"
        (empty / "codefusion-pretraining").mkdir(parents=True)
        (empty / "python-snippets").mkdir()
        for rel in ["codefusion-pretraining/BashSnippets.txt", "python-snippets/django-all.code",
                    "python-snippets/python-docs.jsonl"]:
            (empty / rel).write_text((shared_data / rel).read_text(encoding="utf-8")[:2000].rsplit("\n", 1)[0] + "\n")
        prepare_pretraining(empty, tmp_path / "out", benchmarks=shared_data / "codefusion-benchmarks")
    assert not (tmp_path / "out").exists()  # nothing written on a bad input

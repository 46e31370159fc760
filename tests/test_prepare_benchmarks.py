"""End-to-end tests of data_prep/prepare_benchmarks.py on the real benchmark files.

The CLI runs as a subprocess, exactly as a user runs it. The shared data lives beside the
repository (../shared/data); without it these tests are skipped, never faked.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data"
BENCH = SHARED / "codefusion-benchmarks"
CONALA = SHARED / "conala-original"
CLI = REPO_ROOT / "data_prep" / "prepare_benchmarks.py"
FILES = {"python": "PythonBenchmarks.json", "bash": "BashBenchmarks.json", "cf": "CFRuleBenchmarks.json"}
OFFICIAL = {"python": (2379, 500), "bash": (10085, 2522), "cf": (712, 178)}

pytestmark = pytest.mark.skipif(
    not (BENCH.is_dir() and CONALA.is_dir()),
    reason=f"shared benchmark data not found at {SHARED} (expected beside the repository)",
)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI; never raises on a non-zero exit so tests can check errors."""
    # no proxy: the download-failure test must be refused locally, not wait on a proxy
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run(
        [sys.executable, str(CLI), *map(str, args)], capture_output=True, text=True, timeout=60, env=env
    )


def prepare(out: Path, *extra: str | Path, source: Path = BENCH) -> dict[str, Any]:
    """Run the CLI successfully and return the parsed report."""
    proc = run_cli(f"source={source}", f"out={out}", *extra)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "prepare_report.json").read_text())
    report["_stdout"] = proc.stdout
    return report


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def official(language: str) -> dict[str, list[dict[str, Any]]]:
    return json.loads((BENCH / FILES[language]).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def with_conala(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("with_conala")
    return out, prepare(out, f"conala_original={CONALA}")


# ----------------------------------------------------------------------------- counts


def test_official_counts_printed_and_reported(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    for lang, (n_train, n_test) in OFFICIAL.items():
        assert report["languages"][lang]["official"] == {"train": n_train, "test": n_test}
        line = next(ln for ln in report["_stdout"].splitlines() if ln.split()[:1] == [lang])
        assert f"{n_train:,}" in line and f"{n_test:,}" in line
    assert report["seed"] == 0 and report["valid_fraction"] == 0.05
    assert report["source"] == str(BENCH)


def test_written_counts_add_up(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    for lang, (n_train, n_test) in OFFICIAL.items():
        r = report["languages"][lang]
        lines = {s: len(read_jsonl(out / lang / f"{s}.jsonl")) for s in ("train", "valid", "test")}
        assert lines == r["written"]
        assert lines["train"] + lines["valid"] == n_train - r["dropped"]["train"]
        assert lines["test"] == n_test - r["dropped"]["test"]
        assert lines["valid"] == round(0.05 * (n_train - r["dropped"]["train"]))
        assert sum(r["dropped_reasons"]["train"].values()) == r["dropped"]["train"]


def test_conala_nulls_repaired_from_originals(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    py = report["languages"]["python"]
    assert py["repaired"] == {"train": 79, "test": 23}
    assert py["dropped"] == {"train": 0, "test": 0}
    originals = json.loads((CONALA / "conala-test.json").read_text())
    rows = read_jsonl(out / "python" / "test.jsonl")
    for fix in py["repaired_rows"]["test"]:
        # the benchmark test list is the CoNaLa test file in the same order
        assert rows[fix["index"]]["nl"] == originals[fix["index"]]["intent"]
        assert rows[fix["index"]]["code"] == originals[fix["index"]]["snippet"]
    # train is shifted by one missing CoNaLa item: each repair must come from its own question
    known = {(o["question_id"], o["snippet"], o["intent"]) for o in json.loads((CONALA / "conala-train.json").read_text())}
    train = {r["index"]: r for s in ("train", "valid") for r in read_jsonl(out / "python" / f"{s}.jsonl")}
    for fix in py["repaired_rows"]["train"]:
        row = train[fix["index"]]
        assert (row["id"], row["code"], row["nl"]) in known


def test_conala_nulls_dropped_without_originals(tmp_path: Path) -> None:
    report = prepare(tmp_path)
    py = report["languages"]["python"]
    assert py["repaired"] == {"train": 0, "test": 0}
    assert py["dropped"] == {"train": 79, "test": 23}
    assert py["written"]["test"] == 477
    assert py["written"]["train"] + py["written"]["valid"] == 2379 - 79
    assert "null utterance" in next(iter(py["dropped_reasons"]["test"]))
    assert "dropped python test: 23" in report["_stdout"]


# ----------------------------------------------------------------------------- files


def test_file_schema(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    cf = official("cf")
    for lang in OFFICIAL:
        for split in ("train", "valid", "test"):
            for row in read_jsonl(out / lang / f"{split}.jsonl"):
                expected = {"id", "index", "nl", "code"} | ({"table", "labels", "source"} if lang == "cf" else set())
                assert set(row) == expected
                assert isinstance(row["nl"], str) and row["nl"].strip()
                assert isinstance(row["code"], str)
                # only the official test split keeps an empty gold code (CF test ID 740)
                assert row["code"].strip() or (lang, split, str(row["id"])) == ("cf", "test", "740")
                assert not row["code"].endswith("\n")  # bash lines lose their terminator
                if lang == "cf":
                    assert row["table"] and all(isinstance(c, str) for r in row["table"] for c in r)
                    source = cf["test" if split == "test" else "train"][row["index"]]
                    assert row["table"][0] == source["Data"][0]  # header row kept first
                    assert all(isinstance(x, int) for x in row["labels"])
                    # the release's two sources: CORNET (IDs 1-772), NLToCF (773-890)
                    assert row["source"] == ("nltocf" if int(row["id"]) >= 773 else "cornet")
    test = read_jsonl(out / "cf" / "test.jsonl")
    assert Counter(r["source"] for r in test) == {"cornet": 60, "nltocf": 118}
    # the report counts them, and the CLI prints them
    written = report["languages"]["cf"]["written"]
    assert report["languages"]["cf"]["written_by_source"] == {
        "train": {"cornet": written["train"]}, "valid": {"cornet": written["valid"]}, "test": {"cornet": 60, "nltocf": 118}}
    assert "written_by_source" not in report["languages"]["python"]
    assert f"  cf from cornet, train/valid/test: {written['train']:,} / {written['valid']:,} / 60" in report["_stdout"]
    assert "  cf from nltocf, train/valid/test: 0 / 0 / 118" in report["_stdout"]
    # the content agrees with the IDs: CORNET rules are over an ["Index", "Value", ...] table
    assert all((r["table"][0][:2] == ["Index", "Value"]) == (r["source"] == "cornet") for r in test)


def test_cf_table_cells_kept_as_given(with_conala: tuple[Path, dict]) -> None:
    out, _ = with_conala
    first = official("cf")["train"][0]
    rows = {r["id"]: r for s in ("train", "valid") for r in read_jsonl(out / "cf" / f"{s}.jsonl")}
    row = rows[first["ID"]]
    assert row["table"] == [[str(c) for c in r] for r in first["Data"]]
    assert row["labels"] == first["Labels"]


def test_test_split_is_official_order(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    for lang in OFFICIAL:
        gone = {d["index"] for d in report["languages"][lang]["dropped_rows"]["test"]}
        expected = [(i, r["ID"]) for i, r in enumerate(official(lang)["test"]) if i not in gone]
        written = [(r["index"], r["id"]) for r in read_jsonl(out / lang / "test.jsonl")]
        assert written == expected
    # Python and Bash lose nothing from test when the CoNaLa originals are given
    assert not report["languages"]["python"]["dropped_rows"]["test"]
    assert not report["languages"]["bash"]["dropped_rows"]["test"]


def test_train_and_valid_partition_official_train(with_conala: tuple[Path, dict]) -> None:
    out, report = with_conala
    for lang in OFFICIAL:
        train = [r["index"] for r in read_jsonl(out / lang / "train.jsonl")]
        valid = [r["index"] for r in read_jsonl(out / lang / "valid.jsonl")]
        gone = {d["index"] for d in report["languages"][lang]["dropped_rows"]["train"]}
        assert train == sorted(train) and valid == sorted(valid)  # official order kept
        assert not set(train) & set(valid)
        assert set(train) | set(valid) | gone == set(range(OFFICIAL[lang][0]))


def test_carve_out_is_deterministic(with_conala: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = with_conala
    prepare(tmp_path / "same", f"conala_original={CONALA}")
    prepare(tmp_path / "other", f"conala_original={CONALA}", "seed=1")
    for lang in OFFICIAL:
        for split in ("train", "valid", "test"):
            name = f"{lang}/{split}.jsonl"
            assert (out / name).read_bytes() == (tmp_path / "same" / name).read_bytes()
        valid_0 = {r["index"] for r in read_jsonl(out / lang / "valid.jsonl")}
        valid_1 = {r["index"] for r in read_jsonl(tmp_path / "other" / lang / "valid.jsonl")}
        assert valid_0 != valid_1 and len(valid_0) == len(valid_1)


# ----------------------------------------------------------------------------- errors


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_source_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert_one_line_error(run_cli(f"source={missing}", f"out={tmp_path / 'out'}"), str(missing), "source=DIR")
    assert not (tmp_path / "out").exists()


def test_missing_source_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(BENCH / FILES["python"], src)
    assert_one_line_error(run_cli(f"source={src}", f"out={tmp_path / 'out'}"), "BashBenchmarks.json")


def test_unparseable_json_names_the_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(BENCH, src)
    (src / FILES["cf"]).write_text('{"train": [', encoding="utf-8")
    assert_one_line_error(run_cli(f"source={src}", f"out={tmp_path / 'out'}"), "CFRuleBenchmarks.json", "JSON")
    assert not (tmp_path / "out").exists()  # nothing written before every input is checked


def test_file_without_train_test_keys(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(BENCH, src)
    (src / FILES["bash"]).write_text(json.dumps({"train": []}), encoding="utf-8")
    assert_one_line_error(run_cli(f"source={src}", f"out={tmp_path / 'out'}"), "BashBenchmarks.json", "'test'")


def test_download_failure_names_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused, no network needed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/Benchmarks/"
    proc = run_cli(f"source={url}", f"out={tmp_path / 'out'}")
    assert_one_line_error(proc, f"{url}PythonBenchmarks.json", "source=DIR")


def test_malformed_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(BENCH, src)
    bash = official("bash")
    del bash["train"][3]["Code"]
    bash["train"][5]["Code"] = 42
    bash["train"][7]["Code"] = "  \n"
    bash["test"][0] = "not a record"
    (src / FILES["bash"]).write_text(json.dumps(bash), encoding="utf-8")
    report = prepare(tmp_path / "out", source=src)
    r = report["languages"]["bash"]
    assert r["dropped"] == {"train": 3, "test": 1}
    assert r["dropped_reasons"]["train"] == {"missing field 'Code'": 1, "non-string code": 1, "empty code": 1}
    assert [d["index"] for d in r["dropped_rows"]["train"]] == [3, 5, 7]
    assert r["written"]["train"] + r["written"]["valid"] == 10085 - 3
    assert r["written"]["test"] == 2522 - 1
    assert "dropped bash train: 1 x non-string code" in report["_stdout"]


def test_cli_grammar_is_key_value(tmp_path: Path) -> None:
    help_ = run_cli("--help")
    assert help_.returncode == 0 and "conala_original" in help_.stdout
    assert_one_line_error(run_cli("--out", tmp_path / "out"), "argument '--out' is not of the form key=value")
    assert_one_line_error(run_cli(f"source={BENCH}"), "missing out=DATA_DIR")
    assert_one_line_error(run_cli(f"source={BENCH}", f"out={tmp_path}", "valid_fraction=abc"), "valid_fraction")
    assert_one_line_error(run_cli(f"source={BENCH}", f"out={tmp_path}", "seeds=1"), "unknown key 'seeds'")

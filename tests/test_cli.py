"""Every entry point speaks one grammar: key=value, `--help` prints its usage, a dashed flag is one
line naming it (codefusion.errors.run_cli + codefusion.config.parse_dotlist)."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["codefusion.evaluate", "codefusion.compare", "codefusion.trajectory", "codefusion.export",
           "codefusion.evaluation.bench_bash", "codefusion.diagnose"]
ROOT = Path(__file__).resolve().parents[1]
# The other entry points, run as a user runs them: (command, the file whose docstring is the usage).
SCRIPTS = [(["sample.py"], "sample.py"), (["train.py"], "train.py"),
           (["data_prep/prepare_benchmarks.py"], "data_prep/prepare_benchmarks.py"),
           (["data_prep/prepare_pretraining.py"], "data_prep/prepare_pretraining.py"),
           (["-m", "codefusion.bench"], "codefusion/bench/__main__.py"),
           (["-m", "codefusion.experiment"], "codefusion/experiment/__main__.py")]


@pytest.mark.parametrize("name", MODULES)
def test_help_prints_the_usage(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(name)
    assert module.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "python -m codefusion." in out  # a usage line
    assert out.strip() == (importlib.import_module(module.main.__module__).__doc__ or "").strip()


@pytest.mark.parametrize("name", ["codefusion.evaluate", "codefusion.compare", "codefusion.export",
                                  "codefusion.evaluation.bench_bash"])
def test_a_dashed_flag_is_one_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert importlib.import_module(name).main(["--out", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: argument '--out' is not of the form key=value"]


@pytest.mark.parametrize("command,source", SCRIPTS, ids=[s for _, s in SCRIPTS])
@pytest.mark.parametrize("word", ["--help", "help"])
def test_every_script_prints_its_usage(command: list[str], source: str, word: str) -> None:
    proc = subprocess.run([sys.executable, *command, word], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = ast.get_docstring(ast.parse((ROOT / source).read_text(encoding="utf-8")), clean=False) or ""
    assert proc.stdout.splitlines()[0] == doc.strip().splitlines()[0]

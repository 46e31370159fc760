"""Every entry point speaks one grammar: key=value, `--help` prints its usage, a dashed flag is one
line naming it (codefusion.errors.run_cli + codefusion.config.parse_dotlist)."""
from __future__ import annotations

import importlib

import pytest

MODULES = ["codefusion.evaluate", "codefusion.compare", "codefusion.trajectory", "codefusion.export",
           "codefusion.evaluation.bench_bash"]


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

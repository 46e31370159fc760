"""precision=auto: bf16 autocast where the device does bf16 natively, float32 elsewhere; the choice
is printed and stored; a bad value is one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from codefusion import precision as P
from codefusion.generation.options import OptionsError, parse_sample_options
from codefusion.precision import PrecisionError, autocast, describe, native_bf16, resolve_precision


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import train
    from tests.conftest import TINY

    tmp = tmp_path_factory.mktemp("precision")
    assert train.main(["configs/quickstart.yaml", *TINY, f"train.run_dir={tmp / 'run'}", f"data.cache_dir={tmp / 'cache'}"]) == 0
    return tmp / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture
def cpu_flags(monkeypatch: pytest.MonkeyPatch):  # -> setter of the CPU's bf16 flags
    def set_flags(flags: tuple[str, ...]) -> None:
        monkeypatch.setattr(P, "cpu_bf16_flags", lambda: flags)

    return set_flags


def test_auto_is_bf16_only_where_the_cpu_has_it(cpu_flags) -> None:
    cpu_flags(("avx512_bf16",))
    assert native_bf16("cpu") and resolve_precision("auto", "cpu") == "bf16"
    assert describe("bf16", "auto", "cpu") == "precision bf16 autocast (auto: cpu has avx512_bf16)"
    cpu_flags(())
    assert not native_bf16(torch.device("cpu")) and resolve_precision("auto", "cpu") == "32"
    assert "no native bf16" in describe("32", "auto", "cpu")
    # An explicit choice is kept whatever the hardware.
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("32", "cpu") == "32"


def test_auto_on_cuda_asks_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported, expected in ((True, "bf16"), (False, "32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        assert resolve_precision("auto", "cuda") == expected and resolve_precision("auto", "gpu") == expected


def test_cpu_flags_are_read_from_cpuinfo() -> None:
    flags = P.cpu_bf16_flags()
    assert set(flags) <= set(P.CPU_BF16_FLAGS)
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert ("avx512_bf16" in flags) == (" avx512_bf16" in text)


def test_autocast_runs_matmuls_in_bf16_and_32_in_float32() -> None:
    a = torch.randn(4, 8)
    with autocast("bf16", "cpu"):
        assert (a @ a.T).dtype == torch.bfloat16
    with autocast("32", "cpu"):
        assert (a @ a.T).dtype == torch.float32
    with pytest.raises(PrecisionError, match="resolve"):
        autocast("auto", "cpu")


def test_bad_precision_is_one_line() -> None:
    with pytest.raises(PrecisionError, match="precision=fp16 must be one of auto, 32, bf16"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(OptionsError, match="precision=fp16 must be one of auto, 32, bf16"):
        parse_sample_options(["ckpt=x", "precision=fp16"])
    assert parse_sample_options(["ckpt=x"]).precision == "auto"


def test_sample_py_prints_and_stores_the_precision(tiny_ckpt: Path, tmp_path: Path, capsys, cpu_flags) -> None:
    import sample

    cpu_flags(("avx512_bf16",))  # as on these machines, whatever this one is
    out = tmp_path / "auto.jsonl"
    args = [f"ckpt={tiny_ckpt}", "text=highlight cells greater than 4", "steps=4", "record_every=2", f"out={out}"]
    assert sample.main(args) == 0
    err = capsys.readouterr().err
    assert "precision bf16 autocast (auto: cpu has avx512_bf16)" in err and "bf16" in err.splitlines()[-1]
    traj = [json.loads(line) for line in out.with_name("auto.trajectory.jsonl").read_text().splitlines()]
    assert traj and all(t["precision"] == "bf16" for t in traj)
    fp32 = tmp_path / "fp32.jsonl"
    assert sample.main([*args[:-1], "precision=32", f"out={fp32}"]) == 0
    assert "precision float32 (32 asked)" in capsys.readouterr().err
    # float32 files keep the schema of every file written before precision existed (no key)
    assert all("precision" not in json.loads(line) for line in fp32.with_name("fp32.trajectory.jsonl").read_text().splitlines())


def test_diagnose_reports_its_precision(tiny_ckpt: Path, capsys, cpu_flags) -> None:
    from codefusion import diagnose

    cpu_flags(())
    assert diagnose.main([f"ckpt={tiny_ckpt}", "limit=4", "num_candidates=2", "steps=4"]) == 0
    captured = capsys.readouterr()
    assert "float32" in captured.out.splitlines()[0] and "auto: cpu has no native bf16" in captured.err
    assert diagnose.main([f"ckpt={tiny_ckpt}", "precision=half"]) == 2
    assert "precision=half must be one of auto, 32, bf16" in capsys.readouterr().err

"""Every shipped config loads and builds; bad keys and values fail with the key's name."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from codefusion.baselines.networks import count_parameters
from codefusion.config import ConfigError, from_dict, load_config, to_dict
from codefusion.factory import build_baseline, build_model, build_process
from codefusion.networks.codefusion import parameter_report

# configs/experiments/ holds experiment files (tests/test_experiment.py plans them), not run configs.
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if p.parent.name != "experiments")


def test_there_are_configs() -> None:
    names = {p.name for p in CONFIGS}
    assert {"quickstart.yaml", "python.yaml", "bash.yaml", "cf.yaml", "pretrain_python.yaml", "pretrain_bash.yaml",
            "pretrain_cf.yaml", "no_codegen.yaml", "no_cpd.yaml", "no_pretraining.yaml", "seq2seq_cf.yaml",
            "causal_lm_cf.yaml", "quickstart_seq2seq.yaml", "quickstart_causal_lm.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads_and_builds(path: Path) -> None:
    # Ablation files are overlays on a language config, the quickstart baselines on the quickstart.
    base = [str(ROOT / "configs" / "pretrain_cf.yaml")] if path.parent.name == "ablations" else []
    if path.parent.name == "baselines" and path.name.startswith("quickstart"):
        base = [str(ROOT / "configs" / "quickstart.yaml")]
    # No hub here: build the encoder (or the baseline) from its config instead of downloading it.
    cfg = load_config([*base, str(path)], ["model.encoder_name_or_path=null", "baseline.name_or_path=null"])
    if cfg.system != "codefusion":
        assert count_parameters(build_baseline(cfg, 32100, pad_id=0, eos_id=2)) > 0
        assert from_dict(to_dict(cfg)) == cfg
        return
    model = build_model(cfg, vocab_size=32100)
    process = build_process(cfg)
    assert process.num_timesteps == cfg.diffusion.num_timesteps
    assert parameter_report(model)["total"] > 0
    assert from_dict(to_dict(cfg)) == cfg  # round trip through the checkpoint's plain dict


def test_paper_configs_follow_the_paper() -> None:
    for lang in ("python", "bash", "cf"):
        cfg = load_config([str(ROOT / "configs" / f"{lang}.yaml")])
        assert (cfg.model.denoiser_layers, cfg.model.decoder_layers, cfg.model.d_model) == (10, 6, 512)
        assert (cfg.diffusion.schedule, cfg.diffusion.num_timesteps) == ("sqrt", 1200)
        # Where the paper is silent or measured worse here, the configs take the ablation's winner;
        # configs/ablations/paper_choices.yaml restores the paper (tests/test_diffusion_options.py).
        assert (cfg.diffusion.parameterization, cfg.model.embed_norm) == ("x0", 4.0)
        assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.train.global_batch_size) == (5e-4, 0.0, 64)
        assert cfg.data.max_code_len == 128 and cfg.data.language == lang


def test_paper_size_parameter_counts() -> None:
    cfg = load_config([str(ROOT / "configs" / "python.yaml")], ["model.encoder_name_or_path=null"])
    report = parameter_report(build_model(cfg, vocab_size=32100))
    # codet5-small encoder (35.3M incl. its 16.4M token embedding), 10 + 6 blocks at d=512.
    assert 35_000_000 < report["encoder"] < 36_000_000
    assert report["head"] == 0 and report["embedding"] == 32100 * 128
    assert report["total"] == sum(v for k, v in report.items() if k != "total")


@pytest.mark.parametrize("override, needle", [
    ("train.no_such_key=1", "unknown config key 'train.no_such_key'"),
    ("model.d_model=wide", "bad value for 'model.d_model'"),
    ("diffusion.schedule=quadratic", "bad value for 'diffusion.schedule'"),
    ("train.global_batch_size=10", "train.global_batch_size=10 is not a multiple"),
    ("train.max_steps=0", "train.max_steps must be positive"),
    ("eval.sample_steps=5000", "eval.sample_steps: steps=5000 must be in"),
    ("pretrain.mix=1.0", "pretrain.mix must be in [0, 1), got 1.0"),
    ("train.run_dir=a: b", """bad value for 'train.run_dir': Cannot convert 'DictConfig' to string: '{'a': 'b'}' """
                           """(the value is read as YAML; to pass it as text, quote it: 'train.run_dir="..."')"""),
    ("pretrain.mix=0.3", "pretrain.mix=0.3 mixes the code-only corpus into fine-tuning on data.source=jsonl; data.source is synthetic_cf"),
])
def test_bad_config_names_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config([str(ROOT / "configs" / "quickstart.yaml")], [override])


def test_isolate_spaces_needs_a_trained_bpe() -> None:
    cfg = load_config([str(ROOT / "configs" / "quickstart.yaml")], ["tokenizer.isolate_spaces=true"])
    assert cfg.tokenizer.isolate_spaces and cfg.tokenizer.name_or_path is None
    with pytest.raises(ConfigError, match="tokenizer.isolate_spaces applies to the BPE a run trains"):
        load_config([str(ROOT / "configs" / "cf.yaml")], ["tokenizer.isolate_spaces=true"])


def test_missing_yaml_and_unknown_yaml_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config([str(tmp_path / "nope.yaml")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  n_layer: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.n_layer'"):
        load_config([str(bad)])


def test_grad_accumulation_is_derived() -> None:
    cfg = load_config([str(ROOT / "configs" / "python.yaml")], ["trainer.devices=2", "trainer.num_nodes=2"])
    assert cfg.world_size() == 4 and cfg.grad_accumulation() == 1
    cfg = load_config([str(ROOT / "configs" / "python.yaml")], ["trainer.accelerator=cpu", "trainer.devices=1"])
    assert cfg.grad_accumulation() == 4  # 64 = 16 x 1 x 4


def test_train_py_reports_unknown_key_in_one_line() -> None:
    proc = subprocess.run([sys.executable, "train.py", "configs/quickstart.yaml", "train.bogus=3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: command line: unknown config key 'train.bogus'"]

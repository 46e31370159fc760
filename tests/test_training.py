"""Real Lightning runs through train.py on tiny configs: run directory, checkpoints, exact
resume, init_from, bf16, errors."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import train
from codefusion.checkpoint import CheckpointError, load_checkpoint

QS = "configs/quickstart.yaml"


def run_train(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = train.main([QS, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fit_writes_a_self_contained_run_directory(tiny: list[str], tmp_path: Path, capsys) -> None:
    code, out, err = run_train([*tiny, "eval.split=test", "eval.num_examples=0"], capsys)
    assert code == 0, err
    run = tmp_path / "run"
    assert "gradient accumulation 1" in out and "parameters: encoder" in out
    assert "data train: 64 rows, 64 kept" in out
    assert (run / "config.yaml").is_file() and (run / "tokenizer" / "tokenizer.json").is_file()
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and any(n.startswith("best-step") for n in ckpts)
    assert not list((run / "checkpoints").glob("*.tmp"))  # atomic writes leave no temporaries
    rows = list(csv.DictReader(open(run / "logs" / "version_0" / "metrics.csv")))
    cols = set(rows[0])
    assert {"train/loss", "train/diffusion", "train/decoder", "train/ce", "val/loss", "val/token_acc",
            "val/decoded_exact_match", "val/pad_fraction"} <= cols
    assert any(c.startswith("train/loss_q") for c in cols)
    # Plain data only: loads with weights_only=True, config and EMA inside.
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6
    assert isinstance(ckpt["hyper_parameters"]["config"], dict)
    assert ckpt["hyper_parameters"]["config"]["model"]["d_model"] == 32
    state = {k.removeprefix("model.") for k in ckpt["state_dict"]}
    # EMA covers every parameter once (tied aliases such as head.weight are not repeated).
    assert set(ckpt["ema"]["weights"]) < state and {"head.weight", "embedding.weight"} & set(ckpt["ema"]["weights"]) == {"embedding.weight"}
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["codefusion"]["tokenizer_json"]
    preds = [json.loads(line) for line in open(run / "predictions_test.jsonl")]
    assert len(preds) == 16 and {"id", "nl", "reference", "candidates"} <= set(preds[0])
    assert "exact match on 16 held-out test examples" in out


def _weights(path: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(path, weights_only=True)
    return {**ckpt["state_dict"], **{f"ema.{k}": v for k, v in ckpt["ema"]["weights"].items()}}


@pytest.mark.parametrize("stop", [5, 8], ids=["mid-epoch", "epoch-end"])
def test_resume_is_exact(stop: int, tiny: list[str], tmp_path: Path, capsys) -> None:
    # 64 examples / batch 8 = 8 batches an epoch: step 5 is mid-epoch, step 8 an epoch's end,
    # and the run crosses an epoch boundary. A constant LR after warm-up keeps the schedule the same
    # for the interrupted run (whose max_steps is 5) and the uninterrupted one.
    common = [*tiny, "optim.decay=constant", "train.checkpoint_every_n_steps=100"]
    assert run_train([*common, "train.max_steps=11", f"train.run_dir={tmp_path / 'a'}"], capsys)[0] == 0
    assert run_train([*common, f"train.max_steps={stop}", f"train.run_dir={tmp_path / 'b'}"], capsys)[0] == 0
    first = _weights(tmp_path / "b" / "checkpoints" / "last.ckpt")
    code, _, err = run_train([*common, "train.max_steps=11", f"train.run_dir={tmp_path / 'b'}",
                              f"train.ckpt_path={tmp_path / 'b' / 'checkpoints' / 'last.ckpt'}"], capsys)
    assert code == 0, err
    a, b = _weights(tmp_path / "a" / "checkpoints" / "last.ckpt"), _weights(tmp_path / "b" / "checkpoints" / "last.ckpt")
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 11
    assert any(not torch.equal(first[k], b[k]) for k in b)  # the resumed run did train
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_init_from_loads_weights_and_reports(tiny: list[str], tmp_path: Path, capsys) -> None:
    assert run_train([*tiny, f"train.run_dir={tmp_path / 'pre'}"], capsys)[0] == 0
    src = tmp_path / "pre" / "checkpoints" / "last.ckpt"
    # A different code length changes the position tables: reported as shape mismatches.
    code, out, err = run_train([*tiny, "train.max_steps=1", "data.max_code_len=20", f"train.init_from={src}",
                                f"train.run_dir={tmp_path / 'fine'}"], capsys)
    assert code == 0, err
    line = next(row for row in out.splitlines() if row.startswith("init_from"))
    assert "(ema weights)" in line and "shape_mismatch 2: decoder.stack.pos, denoiser.stack.pos" in line
    assert "missing 0" in line and "unexpected 0" in line
    assert "init_from warning" not in out  # same embedding norm and parameterization: nothing to warn about
    # Same shapes, another embedding norm: the weights load, with a one-line warning naming the key.
    code, out, err = run_train([*tiny, "train.max_steps=1", "model.embed_norm=3.5", f"train.init_from={src}",
                                f"train.run_dir={tmp_path / 'fine2'}"], capsys)
    assert code == 0, err
    warn = [row for row in out.splitlines() if row.startswith("init_from warning")]
    assert len(warn) == 1 and "model.embed_norm=3.5 (source: " in warn[0] and "parameterization" not in warn[0]
    # A self-conditioned fine-tune from a denoiser without it: the input projection is widened, not skipped.
    code, out, err = run_train([*tiny, "train.max_steps=1", "model.self_condition=true", f"train.init_from={src}",
                                f"train.run_dir={tmp_path / 'fine3'}"], capsys)
    assert code == 0, err
    line = next(row for row in out.splitlines() if row.startswith("init_from"))
    assert "shape_mismatch 0; widened 1: denoiser.stack.proj_in.weight" in line and "missing 0" in line


def test_widening_for_self_condition_keeps_the_denoiser_function() -> None:
    from codefusion.networks.codefusion import Denoiser, widen_for_self_condition

    torch.manual_seed(0)
    sizes = dict(embed_dim=8, d_model=16, n_layers=2, n_heads=2, d_ff=32, d_context=12, max_len=6, dropout=0.0)
    plain, conditioned = Denoiser(**sizes).eval(), Denoiser(**sizes, self_condition=True).eval()
    with torch.no_grad():
        for p in plain.parameters():  # proj_out starts at zero: give every weight a value
            p.normal_(0, 0.3)
    prefixed = lambda m: {f"denoiser.{k}": v for k, v in m.state_dict().items()}  # noqa: E731
    state, widened = widen_for_self_condition(prefixed(plain), prefixed(conditioned))
    assert widened == ["denoiser.stack.proj_in.weight"]
    conditioned.load_state_dict({k.removeprefix("denoiser."): v for k, v in state.items()})
    x_t, t, e_s = torch.randn(3, 6, 8), torch.tensor([0, 500, 1199]), torch.randn(3, 4, 12)
    expected = plain(x_t, t, e_s, None)
    assert expected.abs().max() > 0.1
    for previous in (None, torch.randn(3, 6, 8)):  # whatever the previous x̂0, the source's function
        torch.testing.assert_close(conditioned(x_t, t, e_s, None, self_cond=previous), expected)
    # Same widths, or a source that is itself self-conditioned: nothing to widen.
    assert widen_for_self_condition(prefixed(plain), prefixed(plain))[1] == []
    assert widen_for_self_condition(prefixed(conditioned), prefixed(conditioned))[1] == []


def test_bf16_mixed_precision_updates_the_weights(tiny: list[str], tmp_path: Path, capsys) -> None:
    args = [*tiny, "trainer.precision=bf16-mixed", "train.val_every_n_steps=100"]
    assert run_train([*args, "train.max_steps=1", f"train.run_dir={tmp_path / 'one'}"], capsys)[0] == 0
    assert run_train([*args, "train.max_steps=3", f"train.run_dir={tmp_path / 'three'}"], capsys)[0] == 0
    a = torch.load(tmp_path / "one" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "three" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert len(changed) > 0.9 * len(a), f"only {len(changed)}/{len(a)} tensors changed"
    assert all(v.dtype == torch.float32 for v in b.values())  # master weights stay fp32


def test_malformed_rows_are_counted_and_skipped(tiny: list[str], tmp_path: Path, capsys) -> None:
    data = tmp_path / "data" / "cf"
    data.mkdir(parents=True)
    good = [{"id": str(i), "nl": f"highlight values greater than {i}", "code": f"GreaterThan({i})"} for i in range(40)]
    for split in ("train", "valid", "test"):
        lines = [json.dumps(r) for r in good]
        if split == "train":
            lines += ["{not json", json.dumps({"id": "x", "nl": "no code"}), json.dumps({"nl": 3, "code": "A()"})]
        (data / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    code, out, err = run_train([*tiny, "data.source=jsonl", f"data.data_dir={tmp_path / 'data'}", "train.max_steps=1"], capsys)
    assert code == 0, err
    assert ("data train: 43 rows, 40 kept; malformed skipped: 1 invalid JSON, 1 missing or empty code, "
            "1 missing or empty nl") in out


@pytest.mark.parametrize("override, message", [
    ("data.source=jsonl", "error: data directory not found: {tmp}/nowhere"),
    ("train.ckpt_path={tmp}/missing.ckpt", "error: checkpoint not found: {tmp}/missing.ckpt"),
    ("train.init_from={tmp}/corrupt.ckpt", "error: cannot read checkpoint {tmp}/corrupt.ckpt (corrupt or not a torch file)"),
    ("tokenizer.name_or_path={tmp}/no_tokenizer", "error: tokenizer path not found: {tmp}/no_tokenizer"),
])
def test_user_errors_are_one_line(override: str, message: str, tiny: list[str], tmp_path: Path, capsys) -> None:
    (tmp_path / "corrupt.ckpt").write_bytes(b"PK\x03\x04 truncated")
    code, _, err = run_train([*tiny, f"data.data_dir={tmp_path / 'nowhere'}", override.format(tmp=tmp_path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp_path)), err


def test_checkpoint_from_another_project_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="is not a CodeFusion checkpoint"):
        load_checkpoint(tmp_path / "other.ckpt")

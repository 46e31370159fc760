"""`python -m codefusion.experiment`: a tiny experiment end to end through the real entry points
(pre-train -> fine-tune -> sample -> evaluate, two variants), killed and restarted, a changed
variant, dry run, one-line errors for bad files, the SLURM launcher's job parameters and
dependencies, and its submitit local-executor path. Every shipped experiment file is planned."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, TINY

from codefusion.errors import run_cli
from codefusion.evaluation.predictions import read_predictions
from codefusion.evaluation.report import score_predictions
from codefusion.experiment.__main__ import main as experiment_main
from codefusion.experiment.plan import changed_from, make_plan
from codefusion.experiment.schema import ExperimentError, load_experiment
from codefusion.experiment.slurm import job_parameters

RULES = [f"GreaterThan({i})" for i in range(40)] + [f"AND(TextContains(w{i}),NOT(Blanks()))" for i in range(40)]
SHIPPED = sorted((ROOT / "configs" / "experiments").glob("*.yaml"))


def tiny_experiment(tmp: Path, steps_b: int = 3) -> Path:
    """Two variants that share the pre-training; b fine-tunes with another learning rate and
    samples with another number of steps."""
    corpus = tmp / "data" / "pretrain"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "cf.jsonl").write_text("".join(json.dumps({"code": r}) + "\n" for r in RULES))
    overrides = dict(o.split("=", 1) for o in TINY)
    overrides.update({"data.cache_dir": str(tmp / "cache"), "eval.split": "none", "train.val_every_n_steps": "100",
                      "train.val_decode_examples": "0", "train.max_steps": "4", "train.checkpoint_every_n_steps": "2"})
    spec = {
        "name": "tiny",
        "configs": [str(ROOT / "configs" / "quickstart.yaml")],
        "overrides": overrides,
        "seeds": [0],
        "stages": {
            "pretrain": {"kind": "pretrain", "overrides": {"data.source": "pretrain", "data.data_dir": str(tmp / "data"),
                                                           "train.freeze": ["encoder"], "pretrain.valid_size": 8}},
            "finetune": {"kind": "train", "depends_on": ["pretrain"]},
            "sample": {"kind": "sample", "depends_on": ["finetune"], "overrides": {"steps": 4, "num_candidates": 2}},
            "evaluate": {"kind": "evaluate", "depends_on": ["sample"], "overrides": {"encoder": "none"}},
        },
        "variants": {
            "a": {"paper": "full model"},
            "b": {"stages": {"finetune": {"overrides": {"optim.lr": 3e-4}}, "sample": {"overrides": {"steps": steps_b}}}},
        },
        "paper_table": 4,
    }
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def command(path: Path, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "codefusion.experiment", str(path), f"root={root}", *extra]


def markers(root: Path) -> dict[str, float]:
    return {str(p.parent.relative_to(root)): json.loads(p.read_text())["finished_at"]
            for p in sorted(root.rglob("done.json"))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny experiment killed (SIGKILL to its process group) once the pre-training is done and
    the fine-tuning has started, then run again to the end."""
    tmp = tmp_path_factory.mktemp("exp")
    path, root = tiny_experiment(tmp), tmp / "experiments"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command(path, root), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    pre = root / "tiny" / "a-seed0" / "pretrain" / "done.json"
    fine_log = root / "tiny" / "a-seed0" / "finetune" / "log.txt"
    deadline = time.time() + 120
    while not (pre.exists() and fine_log.exists()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    first_out = proc.communicate()[0]
    before = markers(root)
    assert "a-seed0/pretrain" in [k.replace("tiny/", "") for k in before], first_out
    done = subprocess.run(command(path, root), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"tmp": tmp, "path": path, "root": root, "before": before, "after": markers(root), "out": done.stdout}


def test_killed_run_restarts_without_redoing_finished_stages(finished: dict) -> None:
    before, after = finished["before"], finished["after"]
    assert before and all(after[k] == v for k, v in before.items())  # finished stages untouched
    assert set(after) == {f"tiny/{v}-seed0/{s}" for v in "ab" for s in ("finetune", "sample", "evaluate")} | {
        "tiny/a-seed0/pretrain"}  # b shares a's pre-training: same config, one run
    assert "a-seed0/pretrain  done      up to date" in finished["out"]
    assert "b-seed0/pretrain  done      shared with a-seed0/pretrain" in finished["out"]
    fine = finished["root"] / "tiny" / "a-seed0" / "finetune"
    assert (fine / "config.yaml").exists() and (fine / "run" / "config.yaml").exists()
    assert "init_from" in (fine / "log.txt").read_text()  # the fine-tune started from the pre-training


def test_results_equal_codefusion_evaluate(finished: dict) -> None:
    results = json.loads((finished["root"] / "tiny" / "results.json").read_text())["variants"]
    for variant in "ab":
        stage = finished["root"] / "tiny" / f"{variant}-seed0"
        report = json.loads((stage / "evaluate" / "metrics.json").read_text())
        records, _ = read_predictions(stage / "sample" / "predictions.jsonl")
        again = score_predictions(records, "cf", encoder=None)  # the same file scored here
        row = results[variant]["mean"]
        for k in (1, 3, 5):
            assert row[f"primary.top{k}"] == report["metrics"]["execution_match"][f"top{k}"] == \
                again["metrics"]["execution_match"][f"top{k}"]
            assert row[f"exact_match.top{k}"] == report["metrics"]["exact_match"][f"top{k}"]
        assert row["syntax_valid_top1"] == report["syntax_valid_top1"] == again["syntax_valid_top1"]
        for key in [c for c in row if c.startswith("diversity.")]:
            assert row[key] == report["diversity"].get(key.split(".", 1)[1])
    assert results["a"]["paper"]["primary.top1"] == 72.8 and results["b"]["paper"] == {}
    md = (finished["root"] / "tiny" / "results.md").read_text()
    assert "| a | 1 |" in md and "72.8" in md and "execution match top-1" in md


def test_changed_variant_reruns_only_its_dependants(finished: dict) -> None:
    root = finished["root"]
    before = markers(root)
    path = tiny_experiment(finished["tmp"], steps_b=2)  # b samples with 2 steps instead of 3
    done = subprocess.run(command(path, root), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    after = markers(root)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"tiny/b-seed0/sample", "tiny/b-seed0/evaluate"}
    assert "steps=2" in (root / "tiny" / "b-seed0" / "sample" / "done.json").read_text()


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_experiment(tmp_path)
    assert experiment_main([str(path), f"root={tmp_path / 'out'}", "dry_run=true"]) == 0
    out = capsys.readouterr().out
    assert "7 stage runs (1 shared)" in out and "b-seed0/pretrain: shared with a-seed0/pretrain" in out
    assert "train.init_from=" in out and "steps=3" in out
    assert not (tmp_path / "out").exists()
    assert experiment_main([str(path), f"root={tmp_path / 'out'}", "dry_run=true", "only=b"]) == 0
    out = capsys.readouterr().out
    assert "1 variants x 1 seeds, 4 stage runs (0 shared)" in out and "a-seed0" not in out
    with pytest.raises(ExperimentError, match=r"only=c: unknown variant 'c' \(the file has a, b\)"):
        experiment_main([str(path), "dry_run=true", "only=c"])


def _bad(tmp: Path, edit) -> Path:
    spec = yaml.safe_load(tiny_experiment(tmp).read_text())
    edit(spec)
    path = tmp / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


BAD = [
    (lambda s: s.update(bogus=1), r"bad.yaml: unknown key 'bogus'"),
    (lambda s: s["stages"]["sample"].update(kind="decode"), r"bad.yaml: bad value for 'stages.sample.kind'"),
    (lambda s: s["variants"]["a"].update(overrides={"train.bogus": 1}),
     r"variant 'a' stage 'pretrain': command line: unknown config key 'train.bogus'"),
    (lambda s: s["variants"]["b"]["stages"]["sample"]["overrides"].update(sampler_steps=3),
     r"variant 'b' stage 'sample': unknown key 'sampler_steps'"),
    (lambda s: s["variants"]["b"]["stages"]["sample"]["overrides"].update(decode="nearest"),
     r"variant 'b' stage 'sample': decode=nearest must be one of decoder, grounding"),
    (lambda s: s["stages"]["evaluate"]["overrides"].update(lang="cf"),
     r"stage 'evaluate': unknown evaluate argument 'lang'"),
    (lambda s: s["stages"]["finetune"].update(depends_on=["pretrian"]),
     r"stages.finetune.depends_on names an unknown stage 'pretrian'"),
    (lambda s: s["stages"]["pretrain"].update(depends_on=["finetune"]), r"in a cycle: .*pretrain -> finetune"),
    (lambda s: s["variants"]["a"].update(skip=["sampel"]), r"variants.a names an unknown stage 'sampel'"),
    (lambda s: s["variants"]["a"].update(configs=["configs/nope.yaml"]), r"config file not found: configs/nope.yaml"),
    (lambda s: s.update(seeds=[0, 0]), r"seeds must be a non-empty list of distinct integers"),
]


@pytest.mark.parametrize("edit,message", BAD, ids=[m for _, m in BAD])
def test_bad_experiment_files_are_one_line(tmp_path: Path, edit, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad(tmp_path, edit)
    assert run_cli(experiment_main, [str(path), f"root={tmp_path / 'out'}"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert re.search(message, lines[0]), lines[0]
    assert not captured.out and not (tmp_path / "out").exists()  # stopped before anything ran


def test_cli_is_one_line_and_has_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "codefusion.experiment", "nope.yaml", "dry_run=maybe"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "bad value for 'dry_run'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "codefusion.experiment", "--help"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "launcher=local|slurm" in proc.stdout


def _slurm_experiment(tmp: Path) -> Path:
    spec = yaml.safe_load(tiny_experiment(tmp).read_text())
    spec["stages"]["finetune"]["slurm"] = {"gpus": 4, "nodes": 2, "time": 120, "partition": "gpu", "cpus_per_task": 8}
    spec["stages"]["finetune"]["overrides"] = {"trainer.accelerator": "gpu", "trainer.devices": 4,
                                               "trainer.num_nodes": 2, "trainer.strategy": "ddp",
                                               "train.global_batch_size": 64}
    spec["stages"]["sample"]["slurm"] = {"gpus": 1, "time": 30}
    path = tmp / "slurm.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_slurm_job_parameters_and_sbatch_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit

    plan = make_plan(load_experiment(_slurm_experiment(tmp_path)), tmp_path / "slurm.yaml", tmp_path / "exp")
    fine = plan.runs["a-seed0/finetune"]
    params = job_parameters(plan, fine, ["11"])
    assert params == {"name": "tiny.a-seed0.finetune", "timeout_min": 120, "nodes": 2, "tasks_per_node": 4,
                      "gpus_per_node": 4, "cpus_per_task": 8, "slurm_partition": "gpu",
                      "slurm_additional_parameters": {"dependency": "afterok:11", "kill-on-invalid-dep": "yes"}}
    sample = job_parameters(plan, plan.runs["a-seed0/sample"], ["12"])
    assert (sample["nodes"], sample["tasks_per_node"], sample["gpus_per_node"]) == (1, 1, 1)  # one task, one GPU
    assert job_parameters(plan, plan.runs["a-seed0/pretrain"], [])["slurm_additional_parameters"] == {}
    # submitit renders them as SLURM reads them (a fake srun on PATH: submitit checks for one)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    executor = submitit.AutoExecutor(folder=tmp_path / "sl", cluster="slurm")
    executor.update_parameters(**params)
    script = executor._executor._make_submission_file_text("python -m job", "uid")
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--time=120", "--partition=gpu",
                 "--dependency=afterok:11", "--kill-on-invalid-dep=yes", "--job-name=tiny.a-seed0.finetune"):
        assert f"#SBATCH {line}\n" in script
    assert "\nsrun " in script  # one task per GPU, as Lightning's SLURM environment expects


def test_slurm_launcher_wires_dependencies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit

    from codefusion.experiment.progress import Progress
    from codefusion.experiment.slurm import run_slurm

    submitted: list[tuple[str, dict]] = []

    class Job:
        def __init__(self, n: int) -> None:
            self.job_id, self.state = str(100 + n), "COMPLETED"

        def done(self) -> bool:
            return True

        def result(self) -> str:
            return "ok"

    class Executor:
        cluster = "slurm"

        def __init__(self, folder: Path, cluster: str | None = None) -> None:
            self.params: dict = {}

        def update_parameters(self, **kw) -> None:
            self.params = kw

        def submit(self, job) -> Job:
            submitted.append((job.run_id, self.params))
            return Job(len(submitted))

    monkeypatch.setattr(submitit, "AutoExecutor", Executor)
    plan = make_plan(load_experiment(_slurm_experiment(tmp_path)), tmp_path / "slurm.yaml", tmp_path / "exp")
    run_slurm(plan, Progress(list(plan.runs), stream=open(os.devnull, "w")), poll_s=0)
    ids = {run_id: str(101 + i) for i, (run_id, _) in enumerate(submitted)}
    assert list(ids) == [r.id for r in plan.to_execute()]  # the shared pre-training is submitted once
    deps = {run_id: p["slurm_additional_parameters"].get("dependency") for run_id, p in submitted}
    assert deps["a-seed0/pretrain"] is None
    assert deps["a-seed0/finetune"] == deps["b-seed0/finetune"] == f"afterok:{ids['a-seed0/pretrain']}"
    assert deps["b-seed0/sample"] == f"afterok:{ids['b-seed0/finetune']}"
    assert deps["b-seed0/evaluate"] == f"afterok:{ids['b-seed0/sample']}"


def test_slurm_multi_gpu_stage_needs_matching_trainer_settings(tmp_path: Path) -> None:
    from codefusion.experiment.slurm import check_multi_gpu

    spec = yaml.safe_load(_slurm_experiment(tmp_path).read_text())
    spec["stages"]["finetune"]["overrides"]["trainer.devices"] = 2
    (tmp_path / "s2.yaml").write_text(yaml.safe_dump(spec))
    plan = make_plan(load_experiment(tmp_path / "s2.yaml"), tmp_path / "s2.yaml", tmp_path / "exp")
    with pytest.raises(ExperimentError, match=r"stage 'finetune' asks SLURM for 2 node\(s\) x 4 GPU\(s\); set trainer.devices=4"):
        check_multi_gpu(plan)


def test_submitit_local_executor_runs_the_stages(finished: dict, tmp_path: Path) -> None:
    """launcher=slurm cluster=local: the same jobs through submitit's local executor, sampling
    the finished experiment's checkpoint (no training: a steps sweep's shape)."""
    source = finished["root"] / "tiny" / "a-seed0"
    spec = {"name": "sweep", "seeds": [0],
            "stages": {"sample": {"kind": "sample", "overrides": {
                "ckpt": str(source / "finetune" / "run" / "checkpoints" / "last.ckpt"),
                "data": str(next((finished["root"] / "tiny" / "data").iterdir())), "limit": 4}},
                "evaluate": {"kind": "evaluate", "depends_on": ["sample"], "overrides": {"encoder": "none",
                                                                                         "language": "cf"}}},
            "variants": {"s2": {"stages": {"sample": {"overrides": {"steps": 2}}}}},
            "plots": [{"x": "steps"}]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    root = tmp_path / "experiments"
    done = subprocess.run(command(path, root, "launcher=slurm", "cluster=local"), cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "sweep" / "results.json").read_text())["variants"]
    for variant in ("s2",):
        report = json.loads((root / "sweep" / f"{variant}-seed0" / "evaluate" / "metrics.json").read_text())
        assert results[variant]["mean"]["primary.top1"] == report["metrics"]["execution_match"]["top1"]
        assert report["inputs"] == 4
    assert list((root / "sweep" / "slurm").iterdir())  # submitit's job folders
    assert (root / "sweep" / "primary_top1_vs_steps.png").exists()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_experiment_is_planned(path: Path, tmp_path: Path) -> None:
    """Every variant's run configs build (hub models replaced by fresh ones: no network here) and
    every sample / evaluate argument parses, as before a real run."""
    spec = load_experiment(path)
    spec.overrides = {**spec.overrides, "model.encoder_name_or_path": None}
    plan = make_plan(spec, path, tmp_path)
    assert plan.to_execute()
    assert "stage runs" in plan.describe()


def test_failed_stage_is_reported_and_independent_stages_still_run(finished: dict, tmp_path: Path) -> None:
    source = finished["root"] / "tiny"
    sample = {"data": str(next((source / "data").iterdir())), "limit": 2, "steps": 2}
    spec = {"name": "fails", "stages": {"sample": {"kind": "sample", "overrides": sample},
                                        "evaluate": {"kind": "evaluate", "depends_on": ["sample"],
                                                     "overrides": {"encoder": "none"}}},
            "variants": {"bad": {"stages": {"sample": {"overrides": {"ckpt": str(tmp_path / "missing.ckpt")}}}},
                         "good": {"stages": {"sample": {"overrides": {
                             "ckpt": str(source / "a-seed0" / "finetune" / "run" / "checkpoints" / "last.ckpt")}}}}}}
    path = tmp_path / "fails.yaml"
    path.write_text(yaml.safe_dump(spec))
    root = tmp_path / "experiments"
    proc = subprocess.run(command(path, root), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1
    log = root / "fails" / "bad-seed0" / "sample" / "log.txt"
    assert re.search(rf"failed: bad-seed0/sample: exit status 2 after \d+ s; log: {re.escape(str(log))} \(error: .*missing.ckpt",
                     proc.stderr), proc.stderr
    assert re.search(r"bad-seed0/evaluate +skipped +needs bad-seed0/sample, which did not finish", proc.stdout)
    assert (root / "fails" / "good-seed0" / "evaluate" / "done.json").exists()  # the independent chain finished
    assert "No evaluate report yet for: bad." in (root / "fails" / "results.md").read_text()


def test_a_key_at_its_default_is_not_part_of_a_training_hash(tmp_path: Path) -> None:
    """A config key a newer version of the code adds (its default keeps the old behaviour) must
    not clear finished runs: a training's hash covers only the values that differ from the schema
    defaults. Setting a key to its default is the same thing, seen from the plan."""
    path = tiny_experiment(tmp_path)

    def pretrain_hash(**extra: Any) -> str:
        spec = load_experiment(path)
        spec.overrides = {**spec.overrides, **extra}
        return make_plan(spec, path, tmp_path / "experiments").runs["a-seed0/pretrain"].hash

    plain = pretrain_hash()
    assert pretrain_hash(**{"train.draft_prob": 0.0, "model.self_condition": False}) == plain
    assert pretrain_hash(**{"train.draft_prob": 0.5}) != plain
    assert changed_from({"a": {"b": 1, "c": 2}, "d": 3, "new": 0}, {"a": {"b": 1, "c": 0}, "d": 3}) == \
        {"a": {"c": 2}, "new": 0}  # a key the defaults do not know is kept

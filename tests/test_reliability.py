"""Progress is never lost and nothing is overwritten by surprise: last.ckpt every N steps, kill -9
and SIGTERM/SIGINT mid-run then an exact resume, the run-directory lock and refusal, divergence."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY

import train

QS = "configs/quickstart.yaml"
STEPS = 40
# No validation, no evaluation: only the training loop and its checkpoints.
LONG = [*TINY, f"train.max_steps={STEPS}", "train.checkpoint_every_n_steps=4", "train.val_every_n_steps=1000",
        "eval.split=none"]


def args_for(run: Path, cache: Path, *extra: str) -> list[str]:
    return [QS, *LONG, f"train.run_dir={run}", f"data.cache_dir={cache}", *extra]


def weights(path: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(path, weights_only=True)
    return {**ckpt["state_dict"], **{f"ema.{k}": v for k, v in ckpt["ema"]["weights"].items()}}


def step_of(path: Path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def assert_identical(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)


def wait_for(path: Path, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while not path.is_file():
        if time.time() > end:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """last.ckpt of an uninterrupted run of STEPS steps."""
    root = tmp_path_factory.mktemp("reference")
    assert train.main(args_for(root / "run", root / "cache")) == 0
    return root / "run" / "checkpoints" / "last.ckpt"


def test_kill_9_mid_run_then_resume_is_bit_identical(reference: Path, tmp_path: Path) -> None:
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    # The same thread count as this process (the reference and the resumed run): a different
    # count changes the order of float reductions, and the weights would not be bit-identical.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "CODEFUSION_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "train.py", *args_for(run, tmp_path / "cache")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(last)  # the first periodic save (step 4): the run is well under way
    finally:
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
    killed_at = step_of(last)
    assert 4 <= killed_at < STEPS and killed_at % 4 == 0
    (run / "checkpoints" / ".last.ckpt.abc123.tmp").write_bytes(b"half a checkpoint")  # what kill -9 can leave
    assert train.main(args_for(run, tmp_path / "cache", f"train.ckpt_path={last}")) == 0
    assert step_of(last) == STEPS
    assert not list((run / "checkpoints").glob(".*.tmp"))  # removed on the next start
    assert_identical(reference, last)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_a_resumable_checkpoint_and_exits_non_zero(sig: signal.Signals, code: int, reference: Path,
                                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"

    def send() -> None:
        wait_for(last)
        os.kill(os.getpid(), sig)

    threading.Thread(target=send, daemon=True).start()
    assert train.main(args_for(run, tmp_path / "cache")) == code
    err = capsys.readouterr().err.strip().splitlines()
    stopped = step_of(last)
    assert err[-1] == (f"stopped by {sig.name} at step {stopped}; saved {last}; resume with train.ckpt_path={last}")
    assert 4 <= stopped < STEPS
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after fit
    assert train.main(args_for(run, tmp_path / "cache", "train.ckpt_path=auto")) == 0
    assert_identical(reference, last)


def _fake_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ok: bool = True) -> Path:
    """An `scontrol` first on PATH that records its arguments (these machines have no SLURM)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol.calls"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit {0 if ok else 1}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_sigusr1_under_slurm_requeues_the_job_and_the_requeued_run_resumes_exactly(
        reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SLURM's `--signal=USR1@T`: save last.ckpt, `scontrol requeue <job>`, exit 138; the requeued
    job (same SLURM_JOB_ID, train.ckpt_path=auto) ends bit-identical to an uninterrupted run."""
    calls = _fake_scontrol(tmp_path, monkeypatch)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"

    def send() -> None:
        wait_for(last)
        os.kill(os.getpid(), signal.SIGUSR1)

    threading.Thread(target=send, daemon=True).start()
    assert train.main(args_for(run, tmp_path / "cache", "train.ckpt_path=auto")) == 128 + signal.SIGUSR1
    stopped = step_of(last)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"stopped by SIGUSR1 at step {stopped}; saved {last}; it resumes from there (train.ckpt_path=auto)")
    assert calls.read_text() == "requeue 4242\n" and 4 <= stopped < STEPS
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # what SLURM sets in the requeued job
    assert train.main(args_for(run, tmp_path / "cache", "train.ckpt_path=auto")) == 0
    assert calls.read_text() == "requeue 4242\n"  # not requeued again
    assert_identical(reference, last)


def test_requeue_names_the_array_task_and_reports_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codefusion.training.run_guard import requeue_slurm_job

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    assert requeue_slurm_job() is False  # outside SLURM: nothing to requeue
    calls = _fake_scontrol(tmp_path, monkeypatch)
    monkeypatch.setenv("SLURM_JOB_ID", "901")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "900")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert requeue_slurm_job() is True and calls.read_text() == "requeue 900_3\n"
    (tmp_path / "bin" / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    assert requeue_slurm_job() is False  # scontrol refused: the message says how to resume by hand


def test_run_dir_holding_a_run_is_refused_unless_resuming_or_overwriting(tmp_path: Path, capsys) -> None:
    run, cache = tmp_path / "run", tmp_path / "cache"
    last = run / "checkpoints" / "last.ckpt"
    assert train.main(args_for(run, cache, "train.max_steps=3")) == 0
    assert train.main(args_for(run, cache, "train.max_steps=2")) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: run directory {run} already holds a run; resume it with train.ckpt_path={last}, "
        "choose another train.run_dir, or replace it with train.overwrite=true")
    assert step_of(last) == 3  # untouched
    (run / "checkpoints" / "best-step999.ckpt").write_bytes(b"old")
    assert train.main(args_for(run, cache, "train.max_steps=2", "train.overwrite=true")) == 0
    assert step_of(last) == 2 and not (run / "checkpoints" / "best-step999.ckpt").exists()


def test_a_locked_run_dir_is_refused_and_a_stale_lock_taken_over(tiny: list[str], tmp_path: Path, capsys) -> None:
    import socket

    run = tmp_path / "run"
    run.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(f"{socket.gethostname()} {sleeper.pid}\n")
        assert train.main([QS, *tiny, "train.max_steps=1"]) == 2
        assert f"error: run directory {run} is in use by process {sleeper.pid}" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert train.main([QS, *tiny, "train.max_steps=1"]) == 0  # its process is gone: stale, taken over
    assert not (run / ".lock").exists()  # released at the end


def test_a_lock_whose_pid_was_reused_is_stale(tmp_path: Path) -> None:
    """A PID alone may name a new process after the lock's owner died (containers reuse PIDs fast):
    the lock records the owner's start time, and a live PID that started at another time is not it."""
    import socket

    from codefusion.training.run_guard import RunDirError, _start_time, lock_run_dir, release_run_dir

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = _start_time(sleeper.pid)
        assert started.isdigit()  # Linux: /proc tells
        lock = tmp_path / ".lock"
        lock.write_text(f"{socket.gethostname()} {sleeper.pid} {started}\n")  # its real owner, alive
        with pytest.raises(RunDirError, match=f"in use by process {sleeper.pid}"):
            lock_run_dir(tmp_path)
        lock.write_text(f"{socket.gethostname()} {sleeper.pid} {int(started) - 1}\n")  # a dead owner's PID, reused
        assert lock_run_dir(tmp_path) == lock
        host, pid, mine = lock.read_text().split()
        assert (host, pid, mine) == (socket.gethostname(), str(os.getpid()), _start_time(os.getpid()))
        release_run_dir(lock)
        assert not lock.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tiny: list[str], tmp_path: Path, capsys) -> None:
    code = train.main([QS, *tiny, "optim.lr=1e6", "optim.warmup_steps=1", "train.max_steps=30",
                       "train.checkpoint_every_n_steps=1", "train.max_nonfinite_steps=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3, err
    assert err[-1].startswith("stopped: non-finite training loss for 2 consecutive steps (steps ")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    if last.exists():  # every saved tensor is finite
        assert all(torch.isfinite(v).all() for v in weights(last).values() if v.is_floating_point())


def test_resuming_with_another_model_names_the_differing_keys(reference: Path, tmp_path: Path, capsys) -> None:
    code = train.main(args_for(tmp_path / "run", tmp_path / "cache", f"train.ckpt_path={reference}",
                               "model.d_model=64", "model.d_ff=128"))
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: train.ckpt_path={reference} was trained with other settings: "
                          "model.d_model=64 (checkpoint: 32); model.d_ff=128 (checkpoint: 64)"), err


# ---- commands that write: never over an input, checked before the work, no NaN, SIGTERM ----
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_ckpt")
    assert train.main([QS, *TINY, f"train.run_dir={root / 'run'}", f"data.cache_dir={root / 'cache'}"]) == 0
    return root / "run" / "checkpoints" / "last.ckpt"


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_outputs_equal_to_an_input_or_unwritable_are_refused_before_any_work(tiny_ckpt: Path, tmp_path: Path,
                                                                              capsys) -> None:
    import sample
    from codefusion import compare, evaluate

    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "0", "nl": "x", "reference": "A()", "candidates": [{"code": "A()", "score": 0.0}]}) + "\n")
    before = preds.read_text()
    (tmp_path / "afile").write_text("")
    assert sample.main([f"ckpt={tiny_ckpt}", f"input={preds}", f"out={preds}"]) == 2
    assert one_line(capsys) == f"error: out={preds} is also an input ({preds}); writing it would destroy the input"
    assert evaluate.main([f"predictions={preds}", f"out={preds}", "encoder=none"]) == 2
    assert "is also an input" in one_line(capsys)
    assert compare.main([f"predictions=[{preds}]", f"out={preds}", "encoder=none"]) == 2
    assert one_line(capsys).startswith(f"error: out={preds} is also an input")
    assert preds.read_text() == before
    assert sample.main([f"ckpt={tiny_ckpt}", "text=x", f"out={tmp_path / 'afile' / 'out.jsonl'}"]) == 2
    assert one_line(capsys).startswith(f"error: cannot write out={tmp_path / 'afile' / 'out.jsonl'}: ")
    assert sample.main([f"ckpt={tiny_ckpt}", "text=x", f"out={tmp_path}"]) == 2
    assert one_line(capsys) == f"error: out={tmp_path} is a directory; give a file name"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_sample_on_cuda_without_cuda_is_one_line(tiny_ckpt: Path, capsys) -> None:
    import sample

    assert sample.main([f"ckpt={tiny_ckpt}", "text=x", "device=cuda"]) == 2
    assert one_line(capsys).startswith("error: device=cuda but CUDA is not available here")


def test_non_finite_numbers_are_written_as_null(tmp_path: Path) -> None:
    from codefusion.atomic import write_json_atomic, write_jsonl_atomic

    rows = [{"candidates": [{"code": "A()", "score": float("nan")}, {"code": "B()", "score": -1.5}]},
            {"score": float("inf"), "x": [float("-inf"), 2]}]
    assert write_jsonl_atomic(tmp_path / "a.jsonl", rows) == 3
    back = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert back == [{"candidates": [{"code": "A()", "score": None}, {"code": "B()", "score": -1.5}]},
                    {"score": None, "x": [None, 2]}]
    assert write_json_atomic(tmp_path / "b.json", {"m": float("nan")}) == 1
    assert json.loads((tmp_path / "b.json").read_text()) == {"m": None}


def test_sample_stops_on_sigterm_without_writing(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    import sample

    out = tmp_path / "out.jsonl"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code = sample.main([f"ckpt={tiny_ckpt}", "steps=100", "num_candidates=4",  # ~40 s of work
                            "batch_size=1", "limit=400", f"out={out}", "unconditional=true"])
    finally:
        timer.cancel()
    assert code == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == "stopped by SIGTERM before the end; nothing written"
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# ---- every bad value: one line, before any work ---------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("model.n_heads=0", "model.n_heads must be >= 1, got 0"),
    ("model.encoder_heads=0", "model.encoder_heads must be >= 1, got 0"),
    ("model.denoiser_layers=-2", "model.denoiser_layers must be >= 1, got -2"),
    ("model.d_model=31", "model.d_model=31 is not divisible by model.n_heads=2"),
    ("train.val_every_n_steps=0", "train.val_every_n_steps must be >= 1, got 0"),
    ("optim.lr=-1", "optim.lr must be > 0, got -1.0"),
    ("optim.grad_clip=-1", "optim.grad_clip must be >= 0, got -1.0"),
    ("optim.betas=[0.9]", "optim.betas must be two numbers in [0, 1), got [0.9]"),
    ("model.dropout=1.0", "model.dropout must be in [0, 1), got 1.0"),
    ("trainer.devices=abc|0", "trainer.devices='abc|0': expected a positive count"),
    ("trainer.num_nodes=0", "trainer.num_nodes must be >= 1, got 0"),
    ("trainer.precision=fp13", "trainer settings (accelerator=cpu, devices=1, strategy=auto, precision=fp13, "
                               "num_nodes=1): Precision 'fp13' is invalid"),
    ("trainer.strategy=bogus", "trainer settings"),
    ("trainer.accelerator=tpu", "trainer settings"),
    ("data.num_workers=-1", "data.num_workers must be >= 0, got -1"),
    ("train.monitor=val/nonexistent", "train.monitor='val/nonexistent' is not a metric this run logs; one of val/loss"),
    ("eval.batch_size=0", "eval.batch_size must be >= 1, got 0"),
    ("tokenizer.train_vocab_size=0", "tokenizer.train_vocab_size must be >= 262, got 0"),
    ("train.checkpoint_every_n_steps=0", "train.checkpoint_every_n_steps must be >= 1, got 0"),
    ("train.per_device_batch_size=128", "the training split keeps 64 examples, fewer than one batch"),
])
def test_bad_values_are_one_line_before_any_work(override: str, message: str, tiny: list[str], tmp_path: Path,
                                                 capsys) -> None:
    extra = ["train.global_batch_size=128"] if "per_device" in override else []
    assert train.main([QS, *tiny, override, *extra]) == 2
    line = one_line(capsys)
    assert line.startswith(f"error: {message}"), line
    if "per_device" not in override:  # refused before the run directory exists
        assert not (tmp_path / "run").exists()


def test_undecodable_and_huge_rows_are_counted_with_file_and_line(tmp_path: Path) -> None:
    from codefusion.data.examples import MAX_ROW_CHARS, SplitReport, read_jsonl

    path = tmp_path / "train.jsonl"
    good = json.dumps({"nl": "a", "code": "A()"}).encode()
    huge = json.dumps({"nl": "b", "code": "x" * (MAX_ROW_CHARS + 1)}).encode()
    path.write_bytes(good + b"\n" + b'{"nl": "caf\xe9", "code": "B()"}\n' + huge + b"\n")
    report = SplitReport("train")
    assert len(read_jsonl(path, report)) == 1
    assert (f"malformed skipped: 1 longer than {MAX_ROW_CHARS} characters, 1 not UTF-8 (first at {path}:2 (byte 12))"
            in report.line())


# ---- data preparation: all or nothing ------------------------------------------------------
def test_prepare_benchmarks_failing_part_way_leaves_data_dir_as_it_was(shared_data: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from codefusion.data import benchmarks

    bench = shared_data / "codefusion-benchmarks"
    out = tmp_path / "data"
    benchmarks.prepare(str(bench), out, seed=0)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real, calls = benchmarks.write_jsonl, []

    def full_disk_on_the_fifth(path: Path, rows: list) -> None:
        calls.append(path)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, rows)

    monkeypatch.setattr(benchmarks, "write_jsonl", full_disk_on_the_fifth)
    with pytest.raises(benchmarks.DataError, match=f"cannot write {out}: No space left on device"):
        benchmarks.prepare(str(bench), out, seed=1)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # not one split of seed 1, the old report still true
    monkeypatch.setattr(benchmarks, "write_jsonl", real)
    assert benchmarks.prepare(str(bench), out, seed=1)["seed"] == 1
    assert json.loads((out / "prepare_report.json").read_text())["seed"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_prepare_pretraining_refuses_a_negative_limit(tmp_path: Path) -> None:
    from codefusion.data.benchmarks import DataError
    from codefusion.data.pretraining import prepare_pretraining

    with pytest.raises(DataError, match="limit must be >= 1"):
        prepare_pretraining(tmp_path, tmp_path / "out", limit=-5)


# ---- checkpoints: checksummed, malicious pickles refused without torch's hint ---------------
def test_a_checkpoint_with_damaged_weights_is_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    from codefusion.checkpoint import CheckpointError, load_checkpoint

    ckpt = torch.load(tiny_ckpt, weights_only=True)
    assert len(ckpt["codefusion"]["weights_sha256"]) == 64
    assert load_checkpoint(tiny_ckpt)["global_step"] == 6
    name = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][name].view(-1)[0] += 1.0  # one weight changed, as by a flipped bit
    torch.save(ckpt, tmp_path / "damaged.ckpt")
    with pytest.raises(CheckpointError, match="is damaged: its weights do not match the sha256 saved with them"):
        load_checkpoint(tmp_path / "damaged.ckpt")


class _RunsCode:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo this should never run",))


def test_a_malicious_pickle_is_refused_without_suggesting_weights_only_false(tmp_path: Path) -> None:
    from codefusion.checkpoint import CheckpointError, load_checkpoint

    torch.save({"state_dict": {}, "x": _RunsCode()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "evil.ckpt")
    message = str(info.value)
    assert message.startswith(f"refused {tmp_path / 'evil.ckpt'}: it holds Python objects")
    assert "do not load it with weights_only=False" in message and "likely succeed" not in message


def test_trajectory_plot_bad_format_and_latin1_file_are_one_line(tmp_path: Path, capsys) -> None:
    from codefusion import trajectory

    traj = tmp_path / "t.trajectory.jsonl"
    traj.write_bytes(b'{"id": "0"}\n{"id": "caf\xe9"}\n')
    assert trajectory.main(["plot", f"files=[{traj}]", f"out={tmp_path / 'fig.xyz'}"]) == 2
    assert one_line(capsys).startswith(f"error: out={tmp_path / 'fig.xyz'}: unknown figure format '.xyz'; use one of")
    assert trajectory.main(["plot", f"files=[{traj}]", f"out={tmp_path / 'fig.png'}"]) == 2
    assert one_line(capsys) == f"error: {traj}:2: not UTF-8 (byte 24); sample.py writes UTF-8 trajectory files"


def test_sample_on_a_full_disk_is_one_line_naming_the_file(tiny_ckpt: Path, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import sample

    real = Path.write_text

    def full(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name.startswith(".out.jsonl"):
            real(self, "half")  # part of the file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "out.jsonl"
    assert sample.main([f"ckpt={tiny_ckpt}", "text=x", "steps=2", f"out={out}"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: cannot write {out}: No space left on device"
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_ckpt_path_auto_starts_fresh_then_resumes(tmp_path: Path, capsys) -> None:
    run, cache = tmp_path / "run", tmp_path / "cache"
    run.mkdir()
    (run / "config.yaml").write_text("killed before its first checkpoint\n")
    assert train.main(args_for(run, cache, "train.max_steps=2", "train.ckpt_path=auto")) == 0  # nothing to resume
    assert train.main(args_for(run, cache, "train.max_steps=4", "train.ckpt_path=auto")) == 0  # resumes step 2
    assert step_of(run / "checkpoints" / "last.ckpt") == 4
    import csv

    steps = [int(r["step"]) for r in csv.DictReader(open(run / "logs" / "version_1" / "metrics.csv")) if r["step"]]
    assert min(steps) >= 2  # the second run trained steps 3 and 4 only


def _full_disk_for(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Path.write_text on a temporary file starting with `prefix` writes half, then ENOSPC."""
    import errno

    real = Path.write_text

    def full(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name.startswith(prefix):
            real(self, "half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)


@pytest.mark.parametrize("tool", ["evaluate", "compare"])
def test_evaluate_and_compare_on_a_full_disk_are_one_line(tool: str, tmp_path: Path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from codefusion import compare, evaluate

    preds = tmp_path / "p.jsonl"
    rows = [{"id": str(i), "nl": "x", "reference": "GreaterThan(5)",
             "candidates": [{"code": "GreaterThan(5)", "score": -0.1}]} for i in range(3)]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / ("m.json" if tool == "evaluate" else "c.md")
    _full_disk_for(f".{out.name}", monkeypatch)
    if tool == "evaluate":
        status = evaluate.main([f"predictions={preds}", "language=cf", "encoder=none", f"out={out}"])
    else:
        status = compare.main([f"predictions=[{preds},{preds}]", "names=[A,B]", "language=cf", "encoder=none", f"out={out}"])
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: cannot write {out}: No space left on device"
    assert not out.exists() and not list(tmp_path.glob(f".{out.name}*")) and preds.exists()

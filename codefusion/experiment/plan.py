"""An experiment file -> a plan: every (variant, seed, stage) as a concrete command, checked.

Each stage run lives in `ROOT/<name>/<variant>-seed<s>/<stage>/`. Before anything runs, every
training stage's run config is built exactly as train.py builds it (`codefusion.config.load_config`,
so an override of an unknown key is one line), every sample stage's arguments go through
sample.py's parser and every evaluate stage's through codefusion.evaluate's. Each run has a hash of
what it computes (its resolved config or arguments and its upstream hashes, not its own paths):
two variants whose stage computes the same thing share one run (a decoding variant reuses the
training), and a changed hash re-runs the stage and everything downstream. A training's hash
covers the values of its resolved config that differ from the schema's defaults, so a config key
added by a newer version of the code (whose default keeps the old behaviour, this project's rule)
leaves finished runs up to date instead of clearing them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from codefusion.config import Config, ConfigError, load_config, to_dict
from codefusion.experiment.schema import (
    TRAINING_KINDS,
    ExperimentError,
    ExperimentSpec,
    SlurmResources,
    StageSpec,
    VariantSpec,
)

PROJECT = Path(__file__).resolve().parents[2]  # where train.py and sample.py are
# Paths a training stage gets from the plan, not from the file; left out of its hash.
PLANNED_KEYS = ("train.run_dir", "train.ckpt_path", "train.init_from", "train.overwrite")


@dataclass
class StageRun:
    """One concrete stage of one variant and seed."""

    id: str  # "<variant>-seed<s>/<stage>"
    variant: str
    seed: int
    stage: str
    kind: str
    dir: Path
    argv: list[str]  # the command, run in the current directory
    hash: str
    deps: list[str] = field(default_factory=list)  # ids of the runs whose outputs it reads (canonical)
    shared_with: Optional[str] = None  # id of the identical run whose outputs this one uses
    config: Optional[dict[str, Any]] = None  # training: the resolved run config; else the arguments
    synthetic: Optional[dict[str, Any]] = None  # sample: the synthetic split to write first (write_splits)
    language: Optional[str] = None  # the model's data.language (training, and sample from a training stage)
    slurm: SlurmResources = field(default_factory=SlurmResources)

    @property
    def ckpt(self) -> Path:
        return self.dir / "run" / "checkpoints" / "last.ckpt"

    @property
    def predictions(self) -> Path:
        return self.dir / "predictions.jsonl"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    def output(self) -> Path:
        """The file whose existence says the command did its job."""
        return {"sample": self.predictions, "evaluate": self.metrics}.get(self.kind, self.ckpt)


@dataclass
class Plan:
    spec: ExperimentSpec
    source: Path  # the experiment file
    root: Path  # ROOT/<name>
    runs: dict[str, StageRun]  # every run, dependencies first

    def canonical(self, run_id: str) -> StageRun:
        run = self.runs[run_id]
        return self.runs[run.shared_with] if run.shared_with else run

    def to_execute(self) -> list[StageRun]:
        """The runs that compute something (not shared), dependencies first."""
        return [r for r in self.runs.values() if r.shared_with is None]

    def describe(self) -> str:
        """The plan as text (dry_run): one line per run and its command."""
        lines = [f"experiment {self.spec.name}: {len({r.variant for r in self.runs.values()})} variants x {len(self.spec.seeds)} seeds, "
                 f"{len(self.to_execute())} stage runs ({len(self.runs) - len(self.to_execute())} shared) in {self.root}"]
        for run in self.runs.values():
            if run.shared_with:
                lines.append(f"  {run.id}: shared with {run.shared_with}")
                continue
            after = f" (after {', '.join(run.deps)})" if run.deps else ""
            lines.append(f"  {run.id} [{run.hash[:10]}]{after}\n      {' '.join(_show(a) for a in run.argv)}")
        return "\n".join(lines)


def _show(arg: str) -> str:
    return arg.replace(sys.executable, "python") if arg == sys.executable else (f"'{arg}'" if " " in arg else arg)


def make_plan(spec: ExperimentSpec, source: Path, root: Path, only: Optional[list[str]] = None) -> Plan:
    """Expand variants x seeds x stages; every check before anything runs (ExperimentError)."""
    variants = spec.variants
    if only:
        unknown = [v for v in only if v not in variants]
        if unknown:
            raise ExperimentError(f"only={','.join(only)}: unknown variant '{unknown[0]}' "
                                  f"(the file has {', '.join(variants)})")
        variants = {k: v for k, v in variants.items() if k in only}
    base = root / spec.name
    runs: dict[str, StageRun] = {}
    by_hash: dict[str, str] = {}
    for vname, variant in variants.items():
        for seed in spec.seeds:
            local: dict[str, str] = {}  # stage name -> canonical run id in this chain
            for sname in _topological(spec):
                if sname in variant.skip:
                    continue
                stage = spec.stages[sname]
                deps = [local[d] for d in stage.depends_on if d in local]
                where = f"{source}: variant '{vname}' stage '{sname}'"
                run = _build(spec, base, vname, variant, seed, sname, stage, [runs[d] for d in deps], where)
                if run.hash in by_hash:
                    run.shared_with = by_hash[run.hash]
                else:
                    by_hash[run.hash] = run.id
                runs[run.id] = run
                local[sname] = run.shared_with or run.id
    return Plan(spec, source, base, runs)


def _topological(spec: ExperimentSpec) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for dep in spec.stages[name].depends_on:
                visit(dep)
            order.append(name)

    for name in spec.stages:
        visit(name)
    return order


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"max_steps": 5}} and {"train.max_steps": 5} -> {"train.max_steps": 5}."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def dotlist(overrides: dict[str, Any]) -> list[str]:
    """key=value words as train.py / sample.py read them (values in YAML flow syntax)."""
    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v)
    return [f"{k}={text(v)}" for k, v in overrides.items()]


def _files(names: list[str], where: str) -> list[str]:
    out = []
    for name in names:
        if not Path(name).is_file():
            raise ExperimentError(f"{where}: config file not found: {name}")
        out.append(str(Path(name).resolve()))
    return out


def changed_from(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The entries of a nested config dict that differ from `defaults` (keys unknown to it kept)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        default = defaults.get(key, object())
        if isinstance(value, dict) and isinstance(default, dict):
            inner = changed_from(value, default)
            if inner:
                out[key] = inner
        elif value != default:
            out[key] = value
    return out


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _build(spec: ExperimentSpec, base: Path, vname: str, variant: VariantSpec, seed: int, sname: str,
           stage: StageSpec, upstream: list[StageRun], where: str) -> StageRun:
    overlay = variant.stages.get(sname)
    run_dir = base / f"{vname}-seed{seed}" / sname
    common = dict(id=f"{vname}-seed{seed}/{sname}", variant=vname, seed=seed, stage=sname, kind=stage.kind,
                  dir=run_dir, deps=[u.id if not u.shared_with else u.shared_with for u in upstream],
                  slurm=stage.slurm)
    up_hashes = [u.hash for u in upstream]
    if stage.kind in TRAINING_KINDS:
        files = _files([*spec.configs, *stage.configs, *variant.configs, *(overlay.configs if overlay else [])], where)
        overrides = {**flatten(spec.overrides), **flatten(stage.overrides), **flatten(variant.overrides),
                     **flatten(overlay.overrides if overlay else {})}
        planned = {"train.run_dir": str((run_dir / "run").resolve()), "train.seed": seed, "train.ckpt_path": "auto"}
        if upstream:
            planned["train.init_from"] = str(upstream[0].ckpt.resolve())
        try:  # exactly as train.py builds it; init_from's file does not exist yet and is not read here
            cfg = load_config(files, dotlist({**overrides, **{k: v for k, v in planned.items() if k != "train.init_from"}}))
        except ConfigError as e:
            raise ExperimentError(f"{where}: {e}") from None
        config = to_dict(cfg)
        if upstream:
            config["train"]["init_from"] = planned["train.init_from"]
        identity = to_dict(cfg)
        identity["train"] = {k: v for k, v in identity["train"].items() if f"train.{k}" not in PLANNED_KEYS}
        identity = changed_from(identity, to_dict(Config()))
        argv = [sys.executable, str(PROJECT / "train.py"), *files, *dotlist({**overrides, **planned})]
        return StageRun(**common, argv=argv, config=config, language=cfg.data.language,
                        hash=digest({"kind": stage.kind, "config": identity, "upstream": up_hashes}))
    args = {**flatten(stage.overrides), **flatten(overlay.overrides if overlay else {})}
    if stage.kind == "sample":
        return _sample(common, args, upstream, seed, base, up_hashes, where)
    return _evaluate(common, args, upstream, run_dir, up_hashes, where)


def _sample(common: dict[str, Any], args: dict[str, Any], upstream: list[StageRun], seed: int, base: Path,
            up_hashes: list[str], where: str) -> StageRun:
    from codefusion.generation.options import parse_sample_options

    identity = dict(args)
    planned: dict[str, Any] = {"out": str((common["dir"] / "predictions.jsonl").resolve())}
    args.setdefault("seed", seed)
    identity["seed"] = args["seed"]
    synthetic = None
    if "ckpt" not in args:
        if not upstream:
            raise ExperimentError(f"{where}: a sample stage needs ckpt=PATH or a training stage in depends_on")
        planned["ckpt"] = str(upstream[0].ckpt.resolve())
    if not any(k in args for k in ("text", "input", "data")) and not args.get("unconditional"):
        data = upstream[0].config["data"] if upstream else None
        if data is None:
            raise ExperimentError(f"{where}: give the inputs (data=DIR, input=FILE.jsonl or text=...)")
        if data["source"] == "synthetic_cf":  # the training's own held-out splits, written once
            synthetic = {"n_train": data["synthetic_train"], "n_valid": data["synthetic_valid"],
                         "n_test": data["synthetic_test"], "seed": data["synthetic_seed"]}
            name = "synthetic-{n_train}-{n_valid}-{n_test}-{seed}".format(**synthetic)
            synthetic["out_dir"] = str((base / "data" / name).resolve())
            planned["data"] = synthetic["out_dir"]
            identity["data"] = name
        elif data["source"] == "jsonl":
            planned["data"] = str(Path(data["data_dir"] or "data", data["language"]).resolve())
            identity["data"] = planned["data"]
        else:
            raise ExperimentError(f"{where}: the training stage reads data.source={data['source']}; "
                                  "give the inputs (data=DIR or input=FILE.jsonl) or unconditional=true")
    full = {**args, **planned}
    try:
        parse_sample_options(dotlist(full))
    except Exception as e:  # OptionsError: one line
        raise ExperimentError(f"{where}: {e}") from None
    argv = [sys.executable, str(PROJECT / "sample.py"), *dotlist(full)]
    return StageRun(**common, argv=argv, config=full, synthetic=synthetic,
                    language=upstream[0].language if upstream else None,
                    hash=digest({"kind": "sample", "args": identity, "upstream": up_hashes}))


def _evaluate(common: dict[str, Any], args: dict[str, Any], upstream: list[StageRun], run_dir: Path,
              up_hashes: list[str], where: str) -> StageRun:
    from codefusion.evaluation.__main__ import EvaluateOptions, UsageError, parse_args

    known = {f.name for f in dataclasses.fields(EvaluateOptions)}
    for key in args:
        if key not in known or key in ("predictions", "out"):
            raise ExperimentError(f"{where}: unknown evaluate argument '{key}' (one of "
                                  f"{', '.join(sorted(known - {'predictions', 'out'}))})")
    identity = dict(args)
    sample = upstream[0]
    full = {**args, "predictions": str(sample.predictions.resolve()), "out": str((run_dir / "metrics.json").resolve())}
    if "language" not in full and sample.language:  # else detected from the file, as evaluate does
        full["language"] = identity["language"] = sample.language
    try:
        parse_args(dotlist(full))
    except UsageError as e:
        raise ExperimentError(f"{where}: {e}") from None
    argv = [sys.executable, "-m", "codefusion.evaluate", *dotlist(full)]
    return StageRun(**common, argv=argv, config=full, language=full.get("language"),
                    hash=digest({"kind": "evaluate", "args": identity, "upstream": up_hashes}))


def default_root() -> Path:
    return Path(os.environ.get("CODEFUSION_EXPERIMENTS", "experiments"))

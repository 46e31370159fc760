"""The experiment file: a typed schema, loaded and checked like the run config.

An experiment declares the stages of one chain (pre-train -> fine-tune -> sample -> evaluate),
the variants that change some of its stages, and the seeds; `codefusion.experiment.plan` expands
them into concrete stage runs. Everything here is plain data; an unknown key or a value of the
wrong type is one line naming the file and the key (`ExperimentError`).

    name: quickstart_ablation
    configs: [configs/quickstart.yaml]          # run config files of every training stage
    overrides: {train.max_steps: 2500}          # and key=value overrides of every training stage
    seeds: [0]
    stages:
      train:    {kind: train}
      sample:   {kind: sample, depends_on: [train], overrides: {steps: 200}}
      evaluate: {kind: evaluate, depends_on: [sample], overrides: {encoder: none}}
    variants:
      ours: {}
      paper:     {configs: [configs/ablations/paper_choices.yaml]}
      grounding: {stages: {sample: {overrides: {decode: grounding}}}}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from codefusion.config import omegaconf_message
from codefusion.errors import UserError

Kind = Literal["pretrain", "train", "sample", "evaluate"]
TRAINING_KINDS = ("pretrain", "train")


class ExperimentError(UserError):
    """A bad experiment file or command-line argument, reported in one line."""


@dataclass
class SlurmResources:
    """What one stage asks SLURM for (launcher=slurm); ignored by the local launcher."""

    gpus: int = 0  # GPUs per node; a training stage with gpus > 1 runs one task per GPU (Lightning's DDP under SLURM)
    nodes: int = 1
    time: int = 60  # minutes
    partition: Optional[str] = None
    cpus_per_task: int = 4
    mem_gb: Optional[int] = None


@dataclass
class StageSpec:
    """One stage of the chain every variant and seed runs."""

    kind: Kind = "train"
    depends_on: list[str] = field(default_factory=list)
    # Training stages: run config files after the experiment's `configs`, and key=value overrides
    # after its `overrides` (train.py's grammar). sample / evaluate: their key=value arguments
    # (sample.py's SampleOptions, codefusion.evaluate's EvaluateOptions).
    configs: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    slurm: SlurmResources = field(default_factory=SlurmResources)


@dataclass
class StageOverlay:
    """What a variant changes in one stage: config files appended, overrides merged over."""

    configs: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class VariantSpec:
    """One row of the results table: a set of changes to the base chain."""

    configs: list[str] = field(default_factory=list)  # appended to every training stage's files
    overrides: dict[str, Any] = field(default_factory=dict)  # merged into every training stage's overrides
    stages: dict[str, StageOverlay] = field(default_factory=dict)  # per stage, by name
    skip: list[str] = field(default_factory=list)  # stages left out (no pre-training: skip [pretrain])
    paper: Optional[str] = None  # the row of the paper's table this variant reproduces (codefusion.experiment.paper)


@dataclass
class PlotSpec:
    """A line plot of the results: metric against a number the variants differ in."""

    x: str = ""  # a key of the sample stage's arguments (steps) or of the run config (diffusion.num_timesteps)
    group: Optional[str] = None  # one line per value of this key (sampler), else one line
    metric: Optional[str] = None  # default: the primary metric's top-1
    label: Optional[str] = None  # the x axis' label


@dataclass
class ExperimentSpec:
    """The whole experiment file."""

    name: str = ""  # experiments/<name>/
    description: str = ""
    configs: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    stages: dict[str, StageSpec] = field(default_factory=dict)
    variants: dict[str, VariantSpec] = field(default_factory=dict)  # none given: one, "base"
    # Metrics to tabulate: names in codefusion.evaluate's JSON (`metrics`), plus `syntax_valid_top1`,
    # `diversity.<key>` and `source.<name>` (the primary metric on one source's inputs); empty: the
    # primary metric, exact match, validity and distinct n-grams.
    metrics: list[str] = field(default_factory=list)
    paper_table: Optional[int] = None  # 1, 2, 3, 4 or 6: the paper's numbers shown beside ours
    plots: list[PlotSpec] = field(default_factory=list)


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and check an experiment file; ExperimentError (one line, naming file and key)."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"experiment file not found: {path}")
    try:
        raw = OmegaConf.load(path)
    except Exception as e:  # YAML syntax
        raise ExperimentError(f"{path}: cannot parse YAML ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ExperimentSpec), raw)
        spec: ExperimentSpec = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as e:
        raise ExperimentError(f"{path}: {omegaconf_message(e).replace('config key', 'key')}") from None
    if not spec.variants:
        spec.variants = {"base": VariantSpec()}
    check(spec, path)
    return spec


def check(spec: ExperimentSpec, path: Path) -> None:
    """The checks the types cannot express: names, the dependency graph, variants' stage names."""
    if not spec.name or not spec.name.replace("_", "").replace("-", "").isalnum():
        raise ExperimentError(f"{path}: name must be a non-empty word (letters, digits, _ and -), got {spec.name!r}")
    if not spec.stages:
        raise ExperimentError(f"{path}: no stages")
    if not spec.seeds or len(set(spec.seeds)) != len(spec.seeds):
        raise ExperimentError(f"{path}: seeds must be a non-empty list of distinct integers, got {spec.seeds}")
    for name in [*spec.stages, *spec.variants]:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ExperimentError(f"{path}: stage and variant names are words (letters, digits, _ and -), got {name!r}")
    for name, stage in spec.stages.items():
        for dep in stage.depends_on:
            if dep not in spec.stages:
                raise ExperimentError(f"{path}: stages.{name}.depends_on names an unknown stage '{dep}'")
        if stage.configs and stage.kind not in TRAINING_KINDS:
            raise ExperimentError(f"{path}: stages.{name}.configs: only training stages read run config files")
        upstream = [spec.stages[d].kind for d in stage.depends_on]
        if stage.kind == "evaluate" and upstream != ["sample"]:
            raise ExperimentError(f"{path}: stages.{name}: an evaluate stage depends on exactly one sample stage")
        if stage.kind == "sample" and len(upstream) > 1 or any(k not in TRAINING_KINDS for k in upstream if stage.kind == "sample"):
            raise ExperimentError(f"{path}: stages.{name}: a sample stage depends on at most one training stage")
        if stage.kind in TRAINING_KINDS and (len(upstream) > 1 or any(k not in TRAINING_KINDS for k in upstream)):
            raise ExperimentError(f"{path}: stages.{name}: a training stage depends on at most one training stage "
                                  "(its train.init_from)")
        if stage.slurm.gpus < 0 or stage.slurm.nodes < 1 or stage.slurm.time < 1:
            raise ExperimentError(f"{path}: stages.{name}.slurm: gpus >= 0, nodes >= 1 and time >= 1 (minutes)")
    _check_acyclic(spec, path)
    for vname, variant in spec.variants.items():
        for stage in [*variant.stages, *variant.skip]:
            if stage not in spec.stages:
                raise ExperimentError(f"{path}: variants.{vname} names an unknown stage '{stage}'")
        for stage, overlay in variant.stages.items():
            if overlay.configs and spec.stages[stage].kind not in TRAINING_KINDS:
                raise ExperimentError(f"{path}: variants.{vname}.stages.{stage}.configs: only training stages "
                                      "read run config files")
    if spec.paper_table not in (None, 1, 2, 3, 4, 6):
        raise ExperimentError(f"{path}: paper_table must be 1, 2, 3, 4 or 6, got {spec.paper_table}")
    for i, plot in enumerate(spec.plots):
        if not plot.x:
            raise ExperimentError(f"{path}: plots[{i}].x is required (a sample argument or run config key)")


def _check_acyclic(spec: ExperimentSpec, path: Path) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ExperimentError(f"{path}: stages depend on each other in a cycle: {' -> '.join([*trail, name])}")
        state[name] = 1
        for dep in spec.stages[name].depends_on:
            visit(dep, [*trail, name])
        state[name] = 2

    for name in spec.stages:
        visit(name, [])

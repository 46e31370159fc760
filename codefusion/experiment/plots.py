"""Plots where a person would rather look: a metric against T (a T sweep) or against sampling
steps (a steps sweep), one line per group (sampler), from the results rows. matplotlib, Agg."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from codefusion.experiment.plan import Plan
from codefusion.experiment.schema import PlotSpec


def lookup(plan: Plan, variant: str, key: str) -> Optional[Any]:
    """`key` of the variant's first seed: a sample argument (steps, sampler) or a run config key
    (diffusion.num_timesteps), whichever stage has it (sample arguments first)."""
    runs = [r for r in plan.runs.values() if r.variant == variant and r.seed == plan.spec.seeds[0]]
    for run in sorted(runs, key=lambda r: r.kind != "sample"):
        value: Any = run.config or {}
        if run.kind == "sample" and key in value:
            return value[key]
        if run.kind in ("pretrain", "train"):
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                return value
    return None


def plot(plan: Plan, rows: dict[str, Any], spec: PlotSpec) -> Optional[Path]:
    """Write ROOT/<name>/<metric>_vs_<x>.png; None when no variant has both numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = spec.metric or "primary.top1"
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for label, row in rows.items():
        variant = label.split("/")[0]
        x, y = lookup(plan, variant, spec.x), row["mean"].get(metric)
        if x is None or y is None:
            continue
        group = str(lookup(plan, variant, spec.group)) if spec.group else metric
        lines.setdefault(group, []).append((float(x), y, row["std"].get(metric) or 0.0))
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for group, points in sorted(lines.items()):
        points.sort()
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                    capsize=3, label=group)
    primary = next((r["primary"] for r in rows.values() if r.get("primary")), "primary")
    languages = {r.get("language") for r in rows.values()}
    if spec.x == "diffusion.num_timesteps" and metric == "primary.top1" and languages == {"python"}:
        from codefusion.experiment.paper import FIGURE6

        ax.plot(list(FIGURE6), list(FIGURE6.values()), "k--", marker="s", label="paper (Figure 6)")
        ax.legend()
    ax.set_xlabel(spec.label or spec.x)
    ax.set_ylabel(metric.replace("primary", primary))
    ax.set_title(plan.spec.name)
    ax.grid(alpha=0.3)
    if spec.group:
        ax.legend(title=spec.group)
    out = plan.root / f"{metric.replace('.', '_')}_vs_{spec.x.replace('.', '_')}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

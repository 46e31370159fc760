"""ROOT/<name>/results.md and results.json: one row per variant, mean ± std over seeds.

Every number is read from codefusion.evaluate's JSON report of the variant's evaluate stage (one
per seed); nothing is recomputed. Columns: for each metric with top-k values (the primary metric,
exact match), top-1/3/5; `source.<name>`: the primary metric's top-1/3/5 on the inputs of one
source (the report's `by_source`: the CF test split's cornet and nltocf); `syntax_valid_top1`;
`diversity.<key>` (distinct n-grams, pairwise edit distance). The paper's number for the variant's `paper:` row sits beside ours where it has one.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Optional

from codefusion.atomic import write_json_atomic, write_text_atomic
from codefusion.experiment.paper import paper_numbers
from codefusion.experiment.plan import Plan
from codefusion.experiment.stages import read_json

DEFAULT_METRICS = ["primary", "exact_match", "syntax_valid_top1", "diversity.distinct_1", "diversity.distinct_2",
                   "diversity.edit_distance_mean"]
LABELS = {"syntax_valid_top1": "valid top-1"}


def columns_of(report: dict[str, Any], metrics: list[str]) -> dict[str, Optional[float]]:
    """The figures of one evaluate report, by column: `execution_match.top1` ... (None: not computed)."""
    out: dict[str, Optional[float]] = {}
    for name in metrics or DEFAULT_METRICS:
        if name == "syntax_valid_top1":
            out[name] = report.get("syntax_valid_top1")
        elif name.startswith("diversity."):
            value = report.get("diversity", {}).get(name.split(".", 1)[1])
            out[name] = value if isinstance(value, (int, float)) else None
        elif name.startswith("source."):
            group = report.get("by_source", {}).get(name.split(".", 1)[1], {})
            entry = group.get("metrics", {}).get(report.get("primary"), {})
            for k in (1, 3, 5):
                out[f"{name}.top{k}"] = entry.get(f"top{k}")
        else:
            metric = report.get("primary") if name == "primary" else name
            entry = report.get("metrics", {}).get(metric, {})
            for k in (1, 3, 5):
                value = entry.get(f"top{k}") if entry.get("computed", True) is not False else None
                out[f"{'primary' if name == 'primary' else name}.top{k}"] = value
    return out


def collect(plan: Plan) -> dict[str, Any]:
    """{variant: {seeds, per_seed, mean, std, paper, language, primary}} from the evaluate reports."""
    spec = plan.spec
    evaluate = [n for n, s in spec.stages.items() if s.kind == "evaluate"]
    rows: dict[str, Any] = {}
    for variant in spec.variants:
        for stage in evaluate:
            label = variant if len(evaluate) == 1 else f"{variant}/{stage}"
            per_seed: dict[str, dict[str, Optional[float]]] = {}
            language = primary = None
            for seed in spec.seeds:
                run_id = f"{variant}-seed{seed}/{stage}"
                if run_id not in plan.runs:
                    continue
                report = read_json(plan.canonical(run_id).metrics)
                if report is None:
                    continue
                per_seed[str(seed)] = columns_of(report, spec.metrics)
                language, primary = report.get("language"), report.get("primary")
            if not per_seed and not any(f"{variant}-seed{s}/{stage}" in plan.runs for s in spec.seeds):
                continue
            columns = list(next(iter(per_seed.values()))) if per_seed else []
            mean, std = {}, {}
            for c in columns:
                values = [v[c] for v in per_seed.values() if v.get(c) is not None]
                mean[c] = statistics.fmean(values) if values else None
                std[c] = statistics.stdev(values) if len(values) > 1 else None
            row = spec.variants[variant].paper
            tables = (spec.paper_table,) if spec.paper_table else (1, 2, 3, 4, 6)
            rows[label] = {"seeds": sorted(int(s) for s in per_seed), "language": language, "primary": primary,
                           "per_seed": per_seed, "mean": mean, "std": std, "paper_row": row,
                           "paper": paper_numbers(row, language, tables) if row else {}}
    return rows


def _cell(mean: Optional[float], std: Optional[float], scale: float) -> str:
    if mean is None:
        return "—"
    digits = 1 if scale == 1 else 3
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _label(column: str, primary: str) -> str:
    """`primary.top1` -> `execution match top-1`, `diversity.distinct_1` -> `distinct_1`,
    `source.cornet.top1` -> `execution match top-1, cornet`."""
    if column in LABELS:
        return LABELS[column]
    name, _, part = column.partition(".")
    if name == "diversity":
        return part
    if name == "source":
        source, _, k = part.partition(".")
        return f"{primary.replace('_', ' ')} {k.replace('top', 'top-')}, {source}"
    return f"{(primary if name == 'primary' else name).replace('_', ' ')} {part.replace('top', 'top-')}"


def markdown(plan: Plan, rows: dict[str, Any]) -> str:
    spec = plan.spec
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row["mean"] if c not in columns]
    with_paper = {c for row in rows.values() for c in row["paper"]}
    primary = next((r["primary"] for r in rows.values() if r["primary"]), "primary metric")
    head = ["variant", "seeds"]
    for c in columns:
        head.append(_label(c, primary))
        if c in with_paper:
            head.append("paper")
    lines = [f"# {spec.name}", "", *([spec.description.strip(), ""] if spec.description.strip() else []),
             f"Mean ± standard deviation over seeds {', '.join(map(str, spec.seeds))} "
             f"(no ± with one seed); percentages except diversity. Paper: Singh et al. 2023, the row named "
             f"by each variant's `paper:`; — where it has no number.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in rows.items():
        cells = [label, str(len(row["seeds"])) if row["seeds"] else "pending"]
        for c in columns:
            scale = 0.01 if c.startswith("diversity.") else 1
            cells.append(_cell(row["mean"].get(c), row["std"].get(c), scale))
            if c in with_paper:
                value = row["paper"].get(c)
                cells.append("—" if value is None else (f"{value:.2f}" if scale != 1 else f"{value:.1f}"))
        lines.append("| " + " | ".join(cells) + " |")
    missing = [label for label, row in rows.items() if not row["seeds"]]
    if missing:
        lines += ["", f"No evaluate report yet for: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def write_results(plan: Plan) -> tuple[Path, dict[str, Any]]:
    """Write results.json and results.md under the experiment's directory; (md path, rows)."""
    rows = collect(plan)
    write_json_atomic(plan.root / "results.json", {"experiment": plan.spec.name, "source": str(plan.source),
                                                   "variants": rows})
    md = plan.root / "results.md"
    write_text_atomic(md, markdown(plan, rows))
    return md, rows

"""Scoring a whole prediction file and printing the paper's table.

`score_predictions` returns a plain-JSON report (percentages in 0..100):

    language, inputs, candidates, skipped
    primary                      the paper's metric for the language
    metrics[name] = {"top1", "top3", "top5"}   or {"computed": false, "reason": ...}
    syntax_valid_top1            % of first-ranked candidates that parse
    diversity                    mean over inputs of each `diversity()` figure on the top-5
    execution_modes              CF: how execution match was decided per input
    by_source[name] = {"inputs", "metrics", "syntax_valid_top1", "diversity"}
                                 when the rows name two or more `source`s (the CF test split:
                                 cornet and nltocf): every figure above per source, from the
                                 same per-candidate scores as the whole-file figures
    oracle_all                   files with more than 5 candidates per input (sample.py
                                 num_candidates=20): {"k", exact_match[, execution_match]}, the
                                 share of inputs with any of all their candidates right (the
                                 ceiling of any ranking of them; the cheap metrics only)
    template_modes               Bash: the template mode behind each template metric
    seconds                      time per part

Primary metrics: python -> CodeBERTScore F1, bash -> template match, cf -> execution match.
Bash template match and accuracy are scored in both modes of `bash_template`: `template_match`
is the `nl2bash` mode (NL2Bash's own tool, the paper's figure), `template_match_structural` the
`structural` one; `template_modes` says which is which.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from codefusion.evaluation.codebert import (
    DEFAULT_ENCODER,
    Encoder,
    ModelUnavailable,
    codebertscore,
    load_encoder,
)
from codefusion.evaluation.diversity import CachedEncoder, diversity
from codefusion.evaluation.exact import exact_match
from codefusion.evaluation.execution import execution_match_detail
from codefusion.evaluation.predictions import Prediction
from codefusion.evaluation.topk import TOP_KS, mean_top_k
from codefusion.languages.bash_template import Mode, template_accuracy, template_match
from codefusion.languages.syntax import syntax_valid

PRIMARY = {"python": "codebertscore_f1", "bash": "template_match", "cf": "execution_match"}
LABELS = {
    "codebertscore_f1": "CodeBERTScore F1", "codebertscore_f3": "CodeBERTScore F3",
    "template_match": "template match", "template_accuracy": "template accuracy",
    "template_match_structural": "template match", "template_accuracy_structural":
        "template accuracy",
    "execution_match": "execution match", "exact_match": "exact match",
}
DIVERSITY_K = 5
# Bash template metrics: report key -> mode; the first mode is the primary metric's.
TEMPLATE_MODES: dict[str, Mode] = {"": "nl2bash", "_structural": "structural"}


def _topk(per_input: Sequence[Sequence[float]]) -> dict[str, float]:
    return {f"top{k}": 100.0 * v for k, v in mean_top_k(per_input, TOP_KS).items()}


def _per_candidate(records: Sequence[Prediction], metric: Callable[[str, Prediction], float],
                   first: int | None = max(TOP_KS)) -> list[list[float]]:
    return [[float(metric(code, r)) for code in r.candidates[:first]] for r in records]


def _oracle_all(records: Sequence[Prediction], every: dict[str, list[list[float]]]) -> dict[str, Any] | None:
    """Over files holding more than max(TOP_KS) candidates for some input: % of inputs with any
    candidate right, for each metric of `every` (scores of every candidate); None otherwise."""
    k = max((len(r.candidates) for r in records), default=0)
    if k <= max(TOP_KS):
        return None
    return {"k": k, **{name: 100.0 * sum(max(s, default=0.0) for s in scores) / len(records)
                       for name, scores in every.items()}}


def score_predictions(records: Sequence[Prediction], language: str, *,
                      model: str | None = None, encoder: str | Encoder | None = DEFAULT_ENCODER,
                      device: str | None = None) -> dict[str, Any]:
    """Every metric of the paper for `records` in `language` (see the module docstring).

    `model` is the CodeBERTScore model (computed for Python, or for any language when given);
    `encoder` the diversity embedding model (None skips the embedding figures). A model that
    cannot be loaded makes its figures "not computed" with the reason; nothing is estimated.
    """
    seconds: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    clock = time.perf_counter()
    report: dict[str, Any] = {
        "language": language, "inputs": len(records),
        "candidates": sum(len(r.candidates) for r in records), "primary": PRIMARY[language],
        "metrics": metrics, "seconds": seconds,
    }

    per_input: dict[str, list[list[float]]] = {}  # metric -> per input, per candidate
    extras: dict[str, dict[str, Any]] = {}  # metric -> its model, or "not computed" and why
    start = time.perf_counter()
    every: dict[str, list[list[float]]] = {}  # the cheap metrics, every candidate scored once (oracle_all)
    every["exact_match"] = _per_candidate(records, lambda code, r: exact_match(code, r.reference, language), None)
    per_input["exact_match"] = [s[:max(TOP_KS)] for s in every["exact_match"]]
    seconds["exact_match"] = time.perf_counter() - start

    if language == "bash":
        start = time.perf_counter()
        per_input.update(_templates(records))
        report["template_modes"] = {f"{name}{suffix}": mode
                                    for suffix, mode in TEMPLATE_MODES.items()
                                    for name in ("template_match", "template_accuracy")}
        seconds["template_match"] = time.perf_counter() - start
    if language == "cf":
        start = time.perf_counter()
        modes: Counter[str] = Counter()

        def execution(code: str, r: Prediction) -> bool:
            return execution_match_detail(code, r.reference, r.table)[0]
        every["execution_match"] = _per_candidate(records, execution, None)
        per_input["execution_match"] = [s[:max(TOP_KS)] for s in every["execution_match"]]
        for r in records:
            modes[execution_match_detail(r.reference, r.reference, r.table)[1]] += 1
        report["execution_modes"] = dict(modes)
        seconds["execution_match"] = time.perf_counter() - start
    if language == "python" or model is not None:
        start = time.perf_counter()
        scores, extras = _codebertscore(records, language, model, device)
        per_input.update(scores)
        seconds["codebertscore"] = time.perf_counter() - start
    for name in dict.fromkeys([*per_input, *extras]):
        metrics[name] = {**(_topk(per_input[name]) if name in per_input else {}),
                         **extras.get(name, {})}

    oracle = _oracle_all(records, every)
    if oracle:
        report["oracle_all"] = oracle
    start = time.perf_counter()
    valid = [syntax_valid(r.candidates[0] if r.candidates else "", language) for r in records]
    report["syntax_valid_top1"] = _percent(valid)
    seconds["syntax_valid"] = time.perf_counter() - start

    start = time.perf_counter()
    figures, embedding = _diversity_per_input(records, encoder, device)
    report["diversity"] = _mean_diversity(figures, embedding)
    seconds["diversity"] = time.perf_counter() - start
    groups = _by_source(records, per_input, valid, figures, embedding)
    if groups:
        report["by_source"] = groups
    seconds["total"] = time.perf_counter() - clock
    return report


def _percent(flags: Sequence[bool]) -> float:
    return 100.0 * sum(flags) / max(1, len(flags))


def _by_source(records: Sequence[Prediction], per_input: dict[str, list[list[float]]],
               valid: Sequence[bool], figures: Sequence[dict[str, float | None] | None],
               embedding: dict[str, Any] | None) -> dict[str, Any] | None:
    """Every top-k metric, syntactic validity and diversity per `source`, in order of first
    appearance (rows without one: "unlabelled"); None unless the rows name two or more sources."""
    names = [r.source or "unlabelled" for r in records]
    if len(set(names)) < 2:  # no source named, or one source for every row
        return None
    groups: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        rows = [i for i, n in enumerate(names) if n == name]
        groups[name] = {
            "inputs": len(rows),
            "metrics": {m: _topk([values[i] for i in rows]) for m, values in per_input.items()},
            "syntax_valid_top1": _percent([valid[i] for i in rows]),
            "diversity": _mean_diversity([figures[i] for i in rows], embedding),
        }
    return groups


def _templates(records: Sequence[Prediction]) -> dict[str, list[list[float]]]:
    """Template match and accuracy, per input and candidate, in each mode of TEMPLATE_MODES."""
    out: dict[str, list[list[float]]] = {}
    for suffix, mode in TEMPLATE_MODES.items():
        out[f"template_match{suffix}"] = _per_candidate(
            records, lambda code, r: template_match(code, r.reference, mode))
        out[f"template_accuracy{suffix}"] = _per_candidate(
            records, lambda code, r: template_accuracy(code, r.reference, mode))
    return out


def _codebertscore(records: Sequence[Prediction], language: str, model: str | None,
                   device: str | None) -> tuple[dict[str, list[list[float]]], dict[str, Any]]:
    """CodeBERTScore F1 and F3 per input and candidate, scored in one batch over every
    (candidate, reference), and each metric's extra entries: its model, or "not computed"."""
    pairs = [(i, code) for i, r in enumerate(records) for code in r.candidates[:max(TOP_KS)]]
    try:
        scores = codebertscore([code for _, code in pairs],
                               [records[i].reference for i, _ in pairs], language, model=model,
                               device=device)
    except ModelUnavailable as error:
        missing = {"computed": False, "reason": str(error)}
        return {}, {"codebertscore_f1": dict(missing), "codebertscore_f3": dict(missing)}
    values: dict[str, list[list[float]]] = {}
    for key in ("f1", "f3"):
        per_input: list[list[float]] = [[] for _ in records]
        for (i, _), value in zip(pairs, scores[key]):
            per_input[i].append(value)
        values[f"codebertscore_{key}"] = per_input
    return values, {name: {"model": scores["model"]} for name in values}


def _diversity_per_input(records: Sequence[Prediction], encoder: str | Encoder | None,
                         device: str | None) -> tuple[list[dict[str, float | None] | None], dict[str, Any] | None]:
    """Each input's `diversity()` figures on its top-DIVERSITY_K (None for fewer than two
    candidates), and why the embedding figures are missing (None when they were computed)."""
    groups = [r.candidates[:DIVERSITY_K] for r in records]
    cached: CachedEncoder | None = None
    embedding: dict[str, Any] | None = None
    if encoder is None:
        embedding = {"computed": False, "reason": "encoder=none"}
    else:
        try:
            loaded = load_encoder(encoder, device=device) if isinstance(encoder, str) else encoder
            cached = CachedEncoder(loaded)
            cached.prime([c for group in groups if len(group) >= 2 for c in group])
        except ModelUnavailable as error:
            cached, embedding = None, {"computed": False, "reason": str(error)}
    return [diversity(group, encoder=cached) if len(group) >= 2 else None for group in groups], embedding


def _mean_diversity(figures: Sequence[dict[str, float | None] | None],
                    embedding: dict[str, Any] | None) -> dict[str, Any]:
    """Mean of each diversity figure over the inputs with at least two candidates."""
    present = [f for f in figures if f is not None]
    result: dict[str, Any] = {"inputs": len(present), "k": DIVERSITY_K}
    sums: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for figure in present:
        for key, value in figure.items():
            if value is not None:
                sums[key] = sums.get(key, 0.0) + value
                counts[key] += 1
    for key in sorted(sums):
        result[key] = sums[key] / counts[key]
    if embedding is not None:
        result["embedding"] = dict(embedding)
    return result


def label(report: dict[str, Any], name: str) -> str:
    """A metric's name in a table, with its template mode for Bash (`template match, nl2bash`)."""
    mode = report.get("template_modes", {}).get(name)
    return LABELS.get(name, name) + (f", {mode}" if mode else "")


def _cells(entry: dict[str, Any]) -> str:
    if entry.get("computed") is False:
        return f"  not computed: {entry['reason']}"
    return "".join(f"{entry[f'top{k}']:8.1f}" for k in TOP_KS)


def format_table(report: dict[str, Any], source: str = "") -> str:
    """The report as text in the paper's layout (Tables 1, 2, 3 and 6 for one language)."""
    order = [report["primary"]] + sorted(k for k in report["metrics"] if k != report["primary"])
    width = max(30, *(len(label(report, name)) + 12 for name in order))  # room for "  syntactically valid (top-1)"
    lines = [f"CodeFusion evaluation: {report['language']}, {report['inputs']} inputs, "
             f"{report['candidates']} candidates{'  (' + source + ')' if source else ''}",
             f"{'metric':<{width}}{'top-1':>8}{'top-3':>8}{'top-5':>8}"]
    for name in order:
        entry = report["metrics"].get(name)
        if entry is not None:
            tag = " (primary)" if name == report["primary"] else ""
            lines.append(f"{label(report, name) + tag:<{width}}{_cells(entry)}")
    lines.append(f"{'syntactically valid (top-1)':<{width}}{report['syntax_valid_top1']:8.1f} %")
    if "oracle_all" in report:
        oracle = report["oracle_all"]
        lines.append(f"any of all (up to {oracle['k']}) candidates right: "
                     + ", ".join(f"{LABELS[m]} {oracle[m]:.1f}" for m in order if m in oracle))
    for name, group in report.get("by_source", {}).items():
        lines.append(f"source {name} ({group['inputs']} inputs):")
        for metric in order:
            if metric in group["metrics"]:
                lines.append(f"  {label(report, metric):<{width - 2}}{_cells(group['metrics'][metric])}")
        lines.append(f"  {'syntactically valid (top-1)':<{width - 2}}{group['syntax_valid_top1']:8.1f} %")
        div = group.get("diversity", {})
        if div.get("inputs"):
            grams = " / ".join(f"{div.get(f'distinct_{n}', float('nan')):.2f}" for n in range(1, 5))
            lines.append(f"  distinct 1-4-grams, edit distance mean (top-{div['k']})  {grams}, "
                         f"{div.get('edit_distance_mean', float('nan')):.2f}")
    div = report["diversity"]
    if div.get("inputs"):
        grams = " / ".join(f"{div.get(f'distinct_{n}', float('nan')):.2f}" for n in range(1, 5))
        fewer = report["inputs"] - div["inputs"]  # a file written with keep/distinct can hold one program for an input
        lines.append(f"diversity of top-{div['k']} ({div['inputs']} inputs"
                     + (f"; {fewer} with fewer than two candidates left out" if fewer else "") + "):")
        lines.append(f"  distinct 1-4-grams         {grams}")
        if "embedding" in div:
            lines.append(f"  embedding cosine           not computed ({div['embedding']['reason']})")
        else:
            lines.append("  embedding cosine min/max/mean  " + " / ".join(
                f"{div[f'embedding_cosine_{s}']:.2f}" for s in ("min", "max", "mean")))
        lines.append("  edit distance min/max/mean " + " / ".join(
            f"{div[f'edit_distance_{s}']:.2f}" for s in ("min", "max", "mean")))
    if "template_modes" in report:
        lines.append("template modes: nl2bash = NL2Bash's own tool (the paper's metric); "
                     "structural = the parser-independent variant (docs/evaluation.md)")
    if "execution_modes" in report:
        modes = ", ".join(f"{k} {v}" for k, v in sorted(report["execution_modes"].items()))
        lines.append(f"execution match decided by: {modes}")
    if report.get("skipped"):
        lines.append(f"skipped lines: {len(report['skipped'])} (first: {report['skipped'][0]})")
    lines.append(f"scored in {report['seconds']['total']:.1f} s")
    return "\n".join(lines)

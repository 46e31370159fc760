"""The paper's numbers (Singh et al., EMNLP 2023; ../shared/docs/PAPER.md), to print beside ours.

Columns are named as in `codefusion.experiment.results`: `primary.top1` (CodeBERTScore for
Python, template match for Bash, execution match for CF), `exact_match.top1`, `syntax_valid_top1`,
`diversity.distinct_1`, ... A variant says which row it reproduces with `paper: <row>`.
"""
from __future__ import annotations

from typing import Optional

LANGUAGES = ("python", "bash", "cf")

# Table 1: primary metric top-1 / top-3 / top-5 per language.
TABLE1: dict[str, dict[str, tuple[float, float, float]]] = {
    "T5": {"python": (80.4, 82.3, 84.8), "bash": (67.1, 68.9, 70.3), "cf": (71.1, 73.4, 74.6)},
    "CodeT5": {"python": (80.5, 83.1, 85.0), "bash": (67.6, 69.3, 70.5), "cf": (72.7, 75.3, 75.8)},
    "CodeGen": {"python": (80.1, 81.8, 83.7), "bash": (67.2, 69.2, 70.3), "cf": (71.4, 73.7, 75.0)},
    "GPT-3": {"python": (82.5, 83.7, 85.8), "bash": (66.9, 67.7, 68.4), "cf": (70.3, 72.4, 72.8)},
    "Diffusion-LM": {"python": (70.4, 74.3, 76.5), "bash": (59.4, 61.6, 62.0), "cf": (62.4, 65.5, 68.2)},
    "GENIE": {"python": (73.2, 77.1, 80.3), "bash": (60.0, 61.5, 62.3), "cf": (62.9, 66.8, 68.7)},
    "CodeFusion": {"python": (80.7, 86.3, 90.3), "bash": (66.7, 70.2, 72.0), "cf": (72.8, 76.7, 78.5)},
}
# Table 2: diversity of the top-5, averaged over the three tasks (not per language).
TABLE2: dict[str, dict[str, float]] = {
    "CodeFusion": {"distinct_1": 0.53, "distinct_2": 0.65, "distinct_3": 0.74, "distinct_4": 0.81,
                   "embedding_cosine_mean": 0.91, "edit_distance_mean": 0.57},
    "StarCoder": {"distinct_1": 0.32, "distinct_2": 0.48, "distinct_3": 0.56, "distinct_4": 0.61},
}
# Table 3: % of top-1 generations that are syntactically valid.
TABLE3: dict[str, dict[str, float]] = {
    "Diffusion-LM": {"python": 19.5, "bash": 40.4, "cf": 74.3},
    "GENIE": {"python": 24.2, "bash": 54.2, "cf": 78.6},
    "CodeFusion": {"python": 67.6, "bash": 73.4, "cf": 94.5},
}
# Table 4: ablations, primary metric top-1.
TABLE4: dict[str, dict[str, float]] = {
    "no code-generation pre-training": {"python": 70.9, "bash": 52.3, "cf": 64.2},
    "no CPD pre-training": {"python": 76.7, "bash": 61.1, "cf": 68.2},
    "grounding": {"python": 73.5, "bash": 60.5, "cf": 63.2},
    "clamping": {"python": 77.1, "bash": 63.2, "cf": 64.4},
    "full model": {"python": 80.7, "bash": 66.7, "cf": 72.8},
}
# Table 6: exact match top-1 / top-3 / top-5.
TABLE6: dict[str, dict[str, tuple[float, float, float]]] = {
    "CodeFusion": {"python": (5.1, 7.2, 9.0), "bash": (13.5, 15.3, 16.4), "cf": (63.4, 67.6, 69.1)},
}
# Figure 6: Python top-1 CodeBERTScore against the number of diffusion steps T (rows "Figure 6 T=<T>").
FIGURE6: dict[int, float] = {200: 28.7, 400: 48.3, 600: 66.4, 800: 77.1, 1000: 80.5, 1200: 82.7}
ROWS = sorted({*TABLE1, *TABLE2, *TABLE3, *TABLE4, *TABLE6})
ALIASES = {"full model": "CodeFusion"}  # Table 4's full model is Table 1's CodeFusion


def paper_numbers(row: str, language: Optional[str], tables: tuple[int, ...] = (1, 2, 3, 4, 6)) -> dict[str, float]:
    """Every number the paper gives for `row` in `language`, by column name; {} when none."""
    out: dict[str, float] = {}
    names = {row, ALIASES.get(row, row)}
    if row.startswith("Figure 6 T=") and language == "python" and int(row.split("=")[1]) in FIGURE6:
        return {"primary.top1": FIGURE6[int(row.split("=")[1])]}
    for name in names:
        if 4 in tables and name in TABLE4 and language in TABLE4[name]:
            out["primary.top1"] = TABLE4[name][language]
        if 1 in tables and name in TABLE1 and language in TABLE1[name]:
            out.update(zip(("primary.top1", "primary.top3", "primary.top5"), TABLE1[name][language]))
        if 6 in tables and name in TABLE6 and language in TABLE6[name]:
            out.update(zip(("exact_match.top1", "exact_match.top3", "exact_match.top5"), TABLE6[name][language]))
        if 3 in tables and name in TABLE3 and language in TABLE3[name]:
            out["syntax_valid_top1"] = TABLE3[name][language]
        if 2 in tables and name in TABLE2:
            out.update({f"diversity.{k}": v for k, v in TABLE2[name].items()})
    return out

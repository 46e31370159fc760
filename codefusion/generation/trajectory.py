"""Read, plot and print denoising trajectories written by `sample.py ... record_every=M`.

    python -m codefusion.trajectory plot files=[runs/cf/test.trajectory.jsonl] out=fig.png
    python -m codefusion.trajectory plot files=[a.trajectory.jsonl,b.trajectory.jsonl] out=fig.png x=fraction
    python -m codefusion.trajectory plot files=[cf/test.trajectory.jsonl,py/test.trajectory.jsonl] out=fig.png label_by=language
    python -m codefusion.trajectory plot files=[runs/cf/test.trajectory.jsonl] out=fig.png of=both   # x̂0 and x_t
    python -m codefusion.trajectory show file=runs/cf/test.trajectory.jsonl id=12 [candidate=0] [of=x_t]

A trajectory file holds one JSON line per (input, candidate): `id`, `nl`, `reference` (or null),
`language`, `candidate` (rank in the final output, 0 = best), `sampler`, `steps`, `num_timesteps`
and `trajectory`, a list of `{step, t, code, edit_distance}` recorded every M steps and always at
the last: `step` = denoising steps done, `t` = the diffusion timestep the network saw, `code` =
the decoded x̂0 estimate, `edit_distance` = normalised character edit distance to the reference;
and (files written since 2026-12-07) `x_t_code`, `x_t_edit_distance`: the same for the chain's
state after the step, x_t itself, decoded by the same D + H. The two answer different questions:
x̂0 is what the model would output if sampling stopped there (on the models here it is decided
within the first steps); x_t is the state a program emerges from, pure noise at the start and the
output at the end. The paper's Figure 2 starts at 100% edit distance after 0 steps, which only
x_t can give (no x̂0 exists before the first call), so `of=x_t` is the comparable curve.

`plot` draws the mean edit distance against the denoising step (the paper's Figure 2), one line
per file or per language (`of=x0`, the default, `x_t`, or `both`: one line each); `show` prints one
input's program as it emerges, step by step.
Errors: one line `error: ...` on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from codefusion.atomic import write_atomic
from codefusion.config import parse_dotlist
from codefusion.errors import UserError, run_cli

XAxis = Literal["step", "fraction"]
LabelBy = Literal["file", "language"]

# key -> accepted JSON types; `None` in the tuple means the value may be null.
ROW_KEYS: dict[str, tuple[type | None, ...]] = {
    "id": (str, int), "nl": (str,), "reference": (str, None), "candidate": (int,),
    "steps": (int,), "trajectory": (list,),
}
POINT_KEYS: dict[str, tuple[type | None, ...]] = {
    "step": (int,), "t": (int,), "code": (str,), "edit_distance": (int, float, None),
}
STATE_KEYS: dict[str, tuple[type | None, ...]] = {"x_t_code": (str,), "x_t_edit_distance": (int, float, None)}
Of = Literal["x0", "x_t"]
OF_PREFIX: dict[str, str] = {"x0": "", "x_t": "x_t_"}  # which point keys hold that decoding


class TrajectoryError(UserError):
    """An unusable trajectory file or request; the message is one line naming the file."""


def _check_keys(obj: Any, keys: dict[str, tuple[type | None, ...]], where: str) -> None:
    if not isinstance(obj, dict):
        raise TrajectoryError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise TrajectoryError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, types in keys.items():
        value = obj[key]
        if value is None:
            ok = None in types
        else:  # bool is an int subclass in Python, but `true` is no step number
            ok = not isinstance(value, bool) and isinstance(value, tuple(t for t in types if t))
        if not ok:
            raise TrajectoryError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")


def read_trajectories(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a trajectory file, validated; `id` is turned into a string.

    Raises TrajectoryError (file and line named) for a missing file, a line that is not JSON,
    a missing or mistyped key, or recorded steps that are not increasing within 1..steps.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise TrajectoryError(f"cannot read trajectory file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise TrajectoryError(f"{path}:{line}: not UTF-8 (byte {e.start + 1}); sample.py writes UTF-8 "
                              "trajectory files") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise TrajectoryError(f"{where}: not valid JSON ({e.msg})") from None
        _check_keys(row, ROW_KEYS, where)
        if not row["trajectory"]:
            raise TrajectoryError(f"{where}: empty trajectory")
        previous = 0
        for i, point in enumerate(row["trajectory"]):
            _check_keys(point, POINT_KEYS, f"{where}: trajectory[{i}]")
            if any(key in point for key in STATE_KEYS):  # optional (older files have x̂0 only), but whole
                _check_keys(point, STATE_KEYS, f"{where}: trajectory[{i}]")
            if not previous < point["step"] <= row["steps"]:
                raise TrajectoryError(f"{where}: trajectory[{i}] step {point['step']} is not after "
                                      f"step {previous} and within 1..{row['steps']}")
            previous = point["step"]
        row["id"] = str(row["id"])
        rows.append(row)
    if not rows:
        raise TrajectoryError(f"{path}: no trajectory rows")
    return rows


def mean_curve(rows: list[dict[str, Any]], x: XAxis = "step", of: Of = "x0") -> tuple[list[float], list[float]]:
    """Mean normalised edit distance over all rows with a reference, at each recorded x.

    x = "step": denoising steps done; x = "fraction": step / steps, so that runs with different
    step counts share an axis. Rows recorded at different x are averaged over those present there.
    of = "x0": the decoded x̂0 (`edit_distance`); "x_t": the decoded state (`x_t_edit_distance`).
    Raises TrajectoryError when no row has a reference (or a recorded edit distance), or, for
    of = "x_t", when the rows hold no decoded state (a file written before it was recorded).
    """
    key_of = f"{OF_PREFIX[of]}edit_distance"
    sums: dict[float, float] = defaultdict(float)
    counts: dict[float, int] = defaultdict(int)
    for row in rows:
        if row["reference"] is None:
            continue
        for point in row["trajectory"]:
            if key_of not in point:
                raise TrajectoryError(f"id {row['id']}: no decoded x_t in this trajectory (recorded before "
                                      "sample.py wrote it); sample again with record_every=M, or use of=x0")
            if point[key_of] is None:
                continue
            key = point["step"] if x == "step" else round(point["step"] / row["steps"], 9)
            sums[key] += point[key_of]
            counts[key] += 1
    if not counts:
        raise TrajectoryError("no row has a reference and an edit distance; nothing to average")
    xs = sorted(counts)
    return xs, [sums[k] / counts[k] for k in xs]


def _file_label(path: Path) -> str:
    """`runs/cf/test.trajectory.jsonl` -> `test`."""
    stem = path.stem
    return stem.removesuffix(".trajectory") or stem


def plot(files: list[Path], out: Path, label_by: LabelBy = "file", x: XAxis = "step",
         title: str | None = None, of: Sequence[Of] = ("x0",)) -> list[str]:
    """Draw one mean edit-distance curve per file or per language, and per decoding in `of`
    (x̂0, x_t; with both, labels end in " (x̂0)" / " (x_t)"), into `out`; returns the labels.

    The figure is written to a temporary file beside `out` and moved into place.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fmt, formats = out.suffix.lstrip(".").lower() or "png", sorted(FigureCanvasAgg.get_supported_filetypes())
    if fmt not in formats:  # checked before reading anything; matplotlib's own error is a traceback
        raise TrajectoryError(f"out={out}: unknown figure format '.{fmt}'; use one of "
                              + ", ".join(f".{f}" for f in formats))
    for path in files:
        if Path(path).resolve() == out.resolve():
            raise TrajectoryError(f"out={out} is also an input; writing it would destroy the input")
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        rows = read_trajectories(path)
        if label_by == "file":
            groups.setdefault(_file_label(path), []).extend(rows)
        else:
            for row in rows:
                groups.setdefault(row.get("language") or "unknown", []).append(row)
    curves = {}
    for label, rows in groups.items():
        for which in of:
            name = label if len(of) == 1 else f"{label} ({'x̂0' if which == 'x0' else which})"
            try:
                curves[name] = mean_curve(rows, x, which)
            except TrajectoryError as e:
                raise TrajectoryError(f"{label}: {e}") from None
    if not out.parent.is_dir():
        raise TrajectoryError(f"out={out}: its directory does not exist")

    # Agg canvas on a bare Figure: no display, no pyplot global state; imported here so `show` stays fast.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=label)
    ax.set_xlabel("denoising step" if x == "step" else "fraction of denoising steps")
    ax.set_ylabel("normalised edit distance to reference")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    try:
        write_atomic(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=150))
    except OSError as e:
        raise TrajectoryError(f"cannot write out={out}: {e.strerror or e}") from None
    return list(curves)


def show(path: Path, id: str, candidate: int = 0, of: Of = "x0") -> str:
    """One input's trajectory as text: utterance, reference, then step, t, edit distance, code
    (of the decoded x̂0, or of the decoded state x_t)."""
    rows = read_trajectories(path)
    matches = [r for r in rows if r["id"] == id]
    if not matches:
        ids = list(dict.fromkeys(r["id"] for r in rows))
        more = f", ... ({len(ids)} in all)" if len(ids) > 10 else ""
        raise TrajectoryError(f"{path}: unknown id {id!r}; available: {', '.join(ids[:10])}{more}")
    row = next((r for r in matches if r["candidate"] == candidate), None)
    if row is None:
        have = ", ".join(str(r["candidate"]) for r in matches)
        raise TrajectoryError(f"{path}: id {id!r} has no candidate {candidate}; available: {have}")
    prefix = OF_PREFIX[of]
    if f"{prefix}code" not in row["trajectory"][0]:
        raise TrajectoryError(f"{path}: id {id!r} has no decoded x_t (recorded before sample.py wrote it); use of=x0")
    header = f"id {row['id']}, candidate {row['candidate']}"
    if row.get("sampler"):
        header += f", {row['sampler']} {row['steps']} steps"
        if row.get("num_timesteps"):
            header += f" of {row['num_timesteps']}"
    header += ", decoded x̂0" if of == "x0" else ", decoded state x_t"
    reference = "(none)" if row["reference"] is None else row["reference"].replace("\n", "\n" + " " * 11)
    lines = [header, f"nl:        {row['nl']}", f"reference: {reference}", f"{'step':>6} {'t':>6} {'edit':>5}  code"]
    indent = " " * 21  # keeps the lines of multi-line code under the code column
    for p in row["trajectory"]:
        distance = p[f"{prefix}edit_distance"]
        edit = "-" if distance is None else f"{distance:.2f}"
        code = p[f"{prefix}code"].replace("\n", "\n" + indent)
        lines.append(f"{p['step']:>6} {p['t']:>6} {edit:>5}  {code}")
    return "\n".join(lines)


@dataclass
class PlotOptions:
    files: list[str] = field(default_factory=list)  # trajectory JSONL files
    out: str = ""  # figure path (.png, .pdf, .svg)
    label_by: str = "file"  # file (one line per file, its stem) | language (rows pooled)
    x: str = "step"  # step (denoising step) | fraction (of the run's steps)
    of: str = "x0"  # x0 (the decoded x̂0) | x_t (the decoded state, the paper's Figure 2) | both
    title: Optional[str] = None


@dataclass
class ShowOptions:
    file: str = ""  # trajectory JSONL file
    id: str = ""  # the input's id
    candidate: int = 0  # candidate rank (0 = best)
    of: str = "x0"  # x0 (the decoded x̂0) | x_t (the decoded state)


def main(argv: list[str]) -> int:
    """The entry point: `--help` prints the module docstring; a UserError or OSError (a full disk
    at write time) is one line on stderr, status 2."""
    return run_cli(_main, list(sys.argv[1:] if argv is None else argv), usage=__doc__)


def _main(argv: list[str]) -> int:
    """`plot key=value ...` or `show key=value ...` (see the module docstring)."""
    try:
        if not argv or argv[0] not in ("plot", "show"):
            raise TrajectoryError("usage: python -m codefusion.trajectory plot files=[A,...] out=FIG | "
                                  "show file=F id=ID [candidate=0]")
        if argv[0] == "plot":
            p: PlotOptions = parse_dotlist(PlotOptions, argv[1:], TrajectoryError)
            if not p.files or not p.out:
                raise TrajectoryError("plot needs files=[A.trajectory.jsonl,...] and out=FIG.png")
            if p.label_by not in ("file", "language") or p.x not in ("step", "fraction"):
                raise TrajectoryError("label_by must be file or language, x step or fraction")
            if p.of not in ("x0", "x_t", "both"):
                raise TrajectoryError(f"of={p.of} must be x0, x_t or both")
            of: list[Of] = ["x0", "x_t"] if p.of == "both" else [p.of]  # type: ignore[list-item]
            labels = plot([Path(f) for f in p.files], Path(p.out), p.label_by, p.x, p.title, of)  # type: ignore[arg-type]
            print(f"wrote {p.out}: mean edit distance by {p.x}, {len(labels)} curve(s): " + ", ".join(labels))
        else:
            o: ShowOptions = parse_dotlist(ShowOptions, argv[1:], TrajectoryError)
            if not o.file or not o.id:
                raise TrajectoryError("show needs file=F.trajectory.jsonl and id=ID")
            if o.of not in ("x0", "x_t"):
                raise TrajectoryError(f"of={o.of} must be x0 or x_t")
            print(show(Path(o.file), o.id, o.candidate, o.of))  # type: ignore[arg-type]
    except TrajectoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

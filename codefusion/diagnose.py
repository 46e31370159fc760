"""Where does a CodeFusion checkpoint's accuracy come from? The denoising chain, or one call?

    python -m codefusion.diagnose ckpt=PATH [data=DIR split=valid | input=FILE.jsonl] [limit=300]
        [num_candidates=5] [steps=S] [sampler=ddpm|ddim|dpm_solver++] [guidance=W] [seed=0]
        [precision=auto|32|bf16] [out=FILE.json]

Without data= or input= the checkpoint's own data config is read (the quickstart's synthetic CF
rules regenerate from their seed), split `split`. Prints, and writes as JSON (`out`, default
stdout only), for the same inputs:

- exact match (and execution match where the rows carry a CF table) when the decoder D + H reads
  `chain` (the sampler's final x̂0, the normal pipeline; top-1 and oracle top-k), `one_call`
  (the denoiser's x̂0 from a single call at t = T-1 on pure noise), `noise` (fresh N(0, I) in
  place of x̂0), `zeros`, and `truth` (the true L(y): the decoder's ceiling); and `grounding`
  (the chain's x̂0 snapped to the nearest vocabulary embedding, no D/H);
- `q_sample`: one denoiser call from q_sample(L(y), t) for several t (how much signal each noise
  level needs to recover the program); and, per code token (up to the first </s>), how often the
  denoiser's x̂0 snaps to the right embedding against x_t itself (x_t / sqrt(ᾱ_t) snapped, no
  network): `q_sample_token_accuracy`. A denoiser below x_t at small t ignores what x_t says and
  writes what the utterance alone suggests (on a small training set: a memorised program);
- `diversity` over the k candidates: the share of inputs whose k candidates are all the same
  program, distinct-1..4 (code tokens) and the mean pairwise normalised edit distance of their
  characters (`codefusion.evaluate`'s Table 2 measures it on code tokens: the figures differ);
- `trajectory`: the decoded x̂0 after 10%, 25%, 50% and 100% of the steps, over every (input,
  candidate): its mean normalised edit distance to the reference (`trajectory_edit_distance`);
  reference-free, its mean edit distance to that candidate's own final program
  (`trajectory_to_final`) and the share already equal to it (`trajectory_settled`), which show
  when a chain commits even where it commits to another right program than the reference; and
  its exact (and execution) match (`trajectory_exact_match`, `trajectory_execution_match`);
  and the same edit distances and matches for the chain's state x_t itself, decoded by D + H
  (`trajectory_x_t_edit_distance`, `_to_final`, `_settled`, `_exact_match`, `_execution_match`). x̂0 shows when the model
  decides; x_t is the noisy state the paper's Figure 2 most likely decodes (its curves start at
  100% after 0 steps), and it falls however early the model decides;
- `by_source`, when the rows name two or more sources (the CF test split: `cornet`, `nltocf`):
  every decoding's exact and execution match, the per-input diversity figures and the trajectory's
  edit distances to the reference (x̂0 and x_t) for each source apart (`codefusion.evaluate` splits its figures
  the same way). On the CF test split the NLToCF half, which no model here writes, keeps the whole
  split's final edit distance above 0.5; the CORNET half is where a falling trajectory can show.

Exact match compares decoded code with the reference decoded from its (length-n) tokens, as
train.py's held-out evaluation does. Every draw comes from (seed, input index, candidate)
streams, so figures are reproducible and independent of batch_size.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor

from codefusion.config import Weights, parse_dotlist
from codefusion.data.examples import DataError, SplitReport, read_jsonl, source_of, tokenize_split
from codefusion.data.tokenizer import upto_first_eos
from codefusion.diffusion import RowNoise
from codefusion.diffusion.noise import randn
from codefusion.edit_distance import normalized_edit_distance
from codefusion.errors import UserError, run_cli
from codefusion.generation.codefusion import SamplingOptions
from codefusion.generation.contract import decode_code
from codefusion.networks.codefusion import nearest_tokens
from codefusion.precision import autocast, check_precision, describe, resolve_precision

TRAJECTORY_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
TRAJECTORY_FIGURES = ("edit_distance", "input", "to_final", "settled", "exact_match", "execution_match")


@dataclass
class DiagnoseOptions:
    ckpt: str = ""
    data: Optional[str] = None  # DIR holding {split}.jsonl (prepare_benchmarks.py's layout)
    input: Optional[str] = None  # or one JSONL file of {"nl", "code", ["table"]} rows
    split: str = "valid"
    limit: int = 300  # first N inputs (0 = all)
    num_candidates: int = 5
    steps: int = 0  # denoising steps of the chain (0: the checkpoint's eval.sample_steps)
    sampler: Optional[str] = None  # default: the checkpoint's eval.sampler
    guidance: Optional[float] = None  # default: the checkpoint's eval.guidance
    seed: int = 0
    batch_size: int = 50  # inputs per batch (x num_candidates rows)
    weights: Weights = "ema"  # ema | raw
    precision: str = "auto"  # auto (bf16 autocast where the CPU/GPU has native bf16) | 32 | bf16
    # Noise levels of the q_sample probe, as fractions of T-1.
    t_fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 0.85, 0.9, 0.95, 1.0])
    out: Optional[str] = None


class DiagnoseError(UserError):
    """A bad argument or input, reported in one line."""


def parse_options(argv: list[str]) -> DiagnoseOptions:
    """key=value arguments (OmegaConf dotlist, as train.py) -> DiagnoseOptions."""
    opts: DiagnoseOptions = parse_dotlist(DiagnoseOptions, argv, DiagnoseError)
    if not opts.ckpt:
        raise DiagnoseError("ckpt=PATH is required")
    if opts.num_candidates < 1 or opts.batch_size < 1 or opts.limit < 0 or opts.steps < 0:
        raise DiagnoseError("num_candidates and batch_size must be >= 1; limit and steps >= 0")
    try:
        check_precision(opts.precision)
    except UserError as e:
        raise DiagnoseError(str(e)) from None
    if any(not 0.0 <= f <= 1.0 for f in opts.t_fractions):
        raise DiagnoseError("t_fractions must lie in [0, 1]")
    return opts


def load_rows(opts: DiagnoseOptions, cfg: Any) -> list[dict[str, Any]]:
    """(nl, code[, table]) rows: input=FILE, data=DIR/{split}.jsonl, or the checkpoint's own data."""
    report = SplitReport(f"diagnose-{opts.split}")
    if opts.input or opts.data:
        path = Path(opts.input) if opts.input else Path(opts.data or "") / f"{opts.split}.jsonl"
        if not path.is_file():
            raise DataError(f"input file not found: {path}")
        rows = read_jsonl(path, report)
    else:
        from codefusion.data.datamodule import load_split_rows

        if opts.split not in ("train", "valid", "test"):
            raise DiagnoseError(f"split={opts.split} must be train, valid or test")
        rows = load_split_rows(cfg.data, opts.split, report, cfg.pretrain.valid_size)
    report.kept = len(rows)
    if report.malformed:
        print(f"diagnose: {report.line()}", file=sys.stderr)
    rows = rows[: opts.limit] if opts.limit else rows
    if not rows:
        raise DataError("no usable rows (each needs a non-empty nl and code)")
    return rows


class Tally:
    """Exact (and execution) match counts per decoding of the same inputs."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = {}

    def add(self, name: str, values: list[float]) -> None:
        self.hits.setdefault(name, []).extend(values)

    def means(self) -> dict[str, float]:
        return {k: sum(v) / len(v) for k, v in self.hits.items() if v}


def run(opts: DiagnoseOptions) -> dict[str, Any]:
    from codefusion.data.datamodule import collate
    from codefusion.generation.codefusion import load_codefusion
    from codefusion.pretrained import load_model_files

    files = load_model_files(opts.ckpt, opts.weights)
    if files.kind != "codefusion":
        raise DiagnoseError(f"{opts.ckpt} is a {files.kind} baseline; the diagnostic reads CodeFusion checkpoints")
    cfg, generator = load_codefusion(files, opts.ckpt)
    model, process, tok = generator.model, generator.process, files.tokenizer
    T = process.num_timesteps
    steps = opts.steps or cfg.eval.sample_steps
    sampler = opts.sampler or cfg.eval.sampler
    guidance = cfg.eval.guidance if opts.guidance is None else opts.guidance
    record_every = max(1, steps // 20)
    options = SamplingOptions(num_candidates=opts.num_candidates, sampler=sampler, steps=steps,
                              record_every=record_every, keep_tensors=True, guidance=guidance)
    try:
        options.check(T)
    except ValueError as e:
        raise DiagnoseError(str(e)) from None
    precision = resolve_precision(opts.precision, "cpu")  # the diagnostic runs on the CPU
    rows = load_rows(opts, cfg)
    ds = tokenize_split(rows, tok, cfg.data.max_nl_len, cfg.data.max_code_len, "truncate",
                        SplitReport("diagnose"), cfg.data.cache_dir)
    print(f"diagnose: {describe(precision, opts.precision, 'cpu')}", file=sys.stderr)  # after the inputs' errors
    ts = sorted({round(f * (T - 1)) for f in opts.t_fractions})
    exact, execution, diversity = Tally(), Tally(), Tally()
    # The trajectory's figures for each decoding: "" the x̂0, "x_t_" the chain's state. `input`: the
    # edit distance to the reference per input (mean over its k), for the per-source breakdown.
    traj = {which: {name: Tally() for name in TRAJECTORY_FIGURES} for which in ("", "x_t_")}
    token_acc = Tally()  # mean over inputs of the per-input share of code tokens right
    k = opts.num_candidates
    for start in range(0, len(rows), opts.batch_size):
        idx = list(range(start, min(start + opts.batch_size, len(rows))))
        batch = collate([ds[i] for i in idx], tok.pad_token_id, tok.eos_token_id)
        src, mask, y = batch["src_ids"], batch["src_mask"], batch["code_ids"]
        refs = [decode_code(tok, y[j].tolist()) for j in range(len(idx))]
        with autocast(precision, "cpu"):
            gen = generator(src, mask, options, noise_keys=idx, seed=opts.seed)
            decodings, snapped = probe_decodings(model, process, src, mask, y, idx, opts.seed, ts, gen)
        code_mask = upto_first_eos(y, tok.eos_token_id)
        for name, tokens in snapped.items():  # scored per code token, not per program
            token_acc.add(name, (((tokens == y) & code_mask).sum(-1) / code_mask.sum(-1)).tolist())
        cands = [[decode_code(tok, gen.tokens[j, c].tolist()) for c in range(k)] for j in range(len(idx))]
        decodings["chain"] = gen.tokens[:, 0]
        for name, tokens in decodings.items():
            codes = [decode_code(tok, tokens[j].tolist()) for j in range(len(idx))]
            score(exact, execution, name, codes, refs, [rows[i] for i in idx])
        score(exact, execution, f"chain_top{k}", None, refs, [rows[i] for i in idx], cands)
        for j, codes in enumerate(cands):
            diversity.add("identical", [float(len(set(codes)) == 1)])
            for key, value in candidate_diversity(codes).items():
                diversity.add(key, [value])
        pairs = [(j, c) for j in range(len(idx)) for c in range(k)]
        final = gen.trajectory[-1]
        finals = [decode_code(tok, final.tokens[j, c].tolist()) for j, c in pairs]
        for frac in TRAJECTORY_FRACTIONS:
            point = nearest_point(gen.trajectory, frac * steps)
            key = f"{frac:g}"
            for which, tokens in (("", point.tokens), ("x_t_", point.state_tokens)):
                t = traj[which]
                codes = [decode_code(tok, tokens[j, c].tolist()) for j, c in pairs]
                dist = [normalized_edit_distance(code, refs[j]) for code, (j, _) in zip(codes, pairs)]
                t["edit_distance"].add(key, dist)
                t["input"].add(key, [sum(dist[j * k:(j + 1) * k]) / k for j in range(len(idx))])
                t["to_final"].add(key, [normalized_edit_distance(code, end) for code, end in zip(codes, finals)])
                t["settled"].add(key, [float(code == end) for code, end in zip(codes, finals)])
                score(t["exact_match"], t["execution_match"], key, codes, [refs[j] for j, _ in pairs],
                      [rows[idx[j]] for j, _ in pairs])
    result = {
        "ckpt": opts.ckpt, "inputs": len(rows), "num_candidates": k, "sampler": sampler, "steps": steps,
        "guidance": guidance, "num_timesteps": T, "seed": opts.seed, "precision": precision,
        "exact_match": exact.means(), "q_sample_t": ts,
        "q_sample_token_accuracy": {who: {str(t): token_acc.means()[f"snap_{who}_t{t}"] for t in ts}
                                    for who in ("x_t", "denoiser")},
        "diversity": diversity.means(),
    }
    for which, figures in traj.items():
        for name, tally in figures.items():
            if name != "input" and tally.hits:  # no execution match without CF tables
                result[f"trajectory_{which}{name}"] = tally.means()
    if execution.hits:
        result["execution_match"] = execution.means()
    c, o = result["exact_match"]["chain"], result["exact_match"]["one_call"]
    result["chain_minus_one_call"] = c - o
    groups = by_source(rows, {"exact_match": exact, "execution_match": execution, "diversity": diversity,
                              "trajectory_edit_distance": traj[""]["input"],
                              "trajectory_x_t_edit_distance": traj["x_t_"]["input"]})
    if groups:
        result["by_source"] = groups
    return result


def by_source(rows: list[dict[str, Any]], tallies: dict[str, Tally]) -> Optional[dict[str, Any]]:
    """Each per-input figure of `tallies` averaged per source (in order of first appearance; rows
    without one: "unlabelled"); None unless the rows name two or more sources. A figure not
    recorded for every input (a diversity figure some inputs lack) is left out."""
    names = [source_of(row) or "unlabelled" for row in rows]
    if len(set(names)) < 2:  # no source named, or one source for every row
        return None
    groups: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        group: dict[str, Any] = {"inputs": len(idx)}
        for key, tally in tallies.items():
            means = {d: sum(v[i] for i in idx) / len(idx) for d, v in tally.hits.items() if len(v) == len(rows)}
            if means:
                group[key] = means
        groups[name] = group
    return groups


@torch.no_grad()
def probe_decodings(model: Any, process: Any, src: Tensor, mask: Tensor, y: Tensor, idx: list[int], seed: int,
                    ts: list[int], gen: Any) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(B, n) tokens for every probe decoding of one batch (see the module docstring), and the
    q_sample probe's x̂0 and x_t snapped to the nearest embedding (`snap_{denoiser,x_t}_t{t}`)."""
    T = process.num_timesteps
    e_s = model.encode(src, mask)
    x0 = model.embed(y)  # (B, n, d)
    noise = RowNoise([(i, 1000) for i in idx], seed, src.device)  # streams apart from the chain's

    def decode(x: Tensor) -> Tensor:
        return model.decode(x, e_s, mask)[1].argmax(-1)

    def one_call(x_t: Tensor, t: int) -> Tensor:
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long)
        return process.pred_x0(model.denoiser(x_t, t_batch, e_s, mask), x_t, t_batch)

    out = {"one_call": decode(one_call(randn(x0.shape, noise), T - 1)),
           "noise": decode(randn(x0.shape, noise)), "zeros": decode(torch.zeros_like(x0)), "truth": decode(x0)}
    final = gen.trajectory[-1].pred_x0[:, 0]  # (B, n, d): the top-ranked candidate's final x̂0
    embeddings = model.embedding_table()  # (V, d)
    out["grounding"] = nearest_tokens(final, embeddings)
    snapped: dict[str, Tensor] = {}
    for t in ts:
        t_batch = torch.full((x0.shape[0],), t, dtype=torch.long)
        x_t = process.q_sample(x0, t_batch, randn(x0.shape, noise))
        pred = one_call(x_t, t)
        out[f"q_sample_t{t}"] = decode(pred)
        snapped[f"snap_denoiser_t{t}"] = nearest_tokens(pred, embeddings)
        snapped[f"snap_x_t_t{t}"] = nearest_tokens(x_t.float() / float(process.sqrt_alpha_bar[t]), embeddings)
    return out, snapped


def score(exact: Tally, execution: Tally, name: str, codes: Optional[list[str]], refs: list[str],
          rows: list[dict[str, Any]], candidates: Optional[list[list[str]]] = None) -> None:
    """Add one decoding's exact (and, with CF tables, execution) match; with `candidates`, the
    oracle top-k (any of the k)."""
    from codefusion.evaluation import execution_match

    options = candidates or [[c] for c in codes or []]
    exact.add(name, [float(any(c == r for c in cs)) for cs, r in zip(options, refs)])
    if all("table" in row for row in rows):
        execution.add(name, [float(any(execution_match(c, row["code"], row["table"]) for c in cs))
                             for cs, row in zip(options, rows)])


def candidate_diversity(codes: list[str]) -> dict[str, float]:
    """distinct-1..4 over the candidates' code tokens and the mean pairwise edit distance of their
    characters."""
    from itertools import combinations

    from codefusion.evaluation.diversity import code_tokens, distinct_n

    toks = [code_tokens(c) for c in codes]
    out = {f"distinct_{n}": distinct_n(toks, n) for n in (1, 2, 3, 4)}
    pairs = list(combinations(codes, 2))
    if pairs:
        out["edit_distance"] = sum(normalized_edit_distance(a, b) for a, b in pairs) / len(pairs)
    return {k: v for k, v in out.items() if v is not None}


def nearest_point(trajectory: list[Any], step: float) -> Any:
    """The recorded trajectory point closest to `step` denoising steps (the first one at or after it)."""
    after = [p for p in trajectory if p.step >= step - 1e-9]
    return after[0] if after else trajectory[-1]


def format_report(r: dict[str, Any]) -> str:
    em, ex = r["exact_match"], r.get("execution_match", {})
    k = r["num_candidates"]

    def cell(name: str) -> str:
        return f"{em[name]:6.1%}" + (f"  {ex[name]:6.1%}" if name in ex else "")

    lines = [f"{r['inputs']} inputs, {k} candidates, {r['sampler']} {r['steps']} steps (T = {r['num_timesteps']}), "
             f"guidance {r['guidance']:g}, seed {r['seed']}, {'bf16' if r.get('precision') == 'bf16' else 'float32'}",
             "decoder reads            exact" + ("  execution" if ex else "")]
    for name, label in (("chain", "chain x̂0 (top-1)"), (f"chain_top{k}", f"chain x̂0 (top-{k})"),
                        ("one_call", "one call at t = T-1"), ("noise", "fresh noise"), ("zeros", "zeros"),
                        ("truth", "true L(y)"), ("grounding", "grounding (no D/H)")):
        lines.append(f"  {label:22s} {cell(name)}")
    lines.append(f"chain - one call: {100 * r['chain_minus_one_call']:+.1f} points")
    lines.append("one call from q_sample(L(y), t): " + ", ".join(f"t={t} {em[f'q_sample_t{t}']:.1%}" for t in r["q_sample_t"]))
    acc = r["q_sample_token_accuracy"]
    lines.append("code tokens right at q_sample(L(y), t), the denoiser's x̂0 / x_t itself (snapped to the nearest embedding): "
                 + ", ".join(f"t={t} {acc['denoiser'][str(t)]:.0%} / {acc['x_t'][str(t)]:.0%}" for t in r["q_sample_t"]))
    d = r["diversity"]
    lines.append(f"candidates: {d['identical']:.0%} of inputs get {k} identical; distinct-1..4 "
                 + " / ".join(f"{d.get(f'distinct_{n}', 0):.2f}" for n in (1, 2, 3, 4))
                 + f"; mean pairwise edit distance {d.get('edit_distance', 0):.2f}")
    lines.append("trajectory edit distance to the reference: "
                 + ", ".join(f"{float(f):.0%} of steps {v:.3f}" for f, v in r["trajectory_edit_distance"].items()))
    fracs = " / ".join(f"{float(f):.0%}" for f in r["trajectory_to_final"])

    def row(key: str, fmt: str) -> str:
        return " / ".join(format(v, fmt) for v in r[key].values())

    lines.append(f"trajectory at {fracs} of steps: edit distance to its own final program "
                 f"{row('trajectory_to_final', '.3f')}; already the final program {row('trajectory_settled', '.0%')}; "
                 f"exact match {row('trajectory_exact_match', '.1%')}"
                 + (f"; execution match {row('trajectory_execution_match', '.1%')}" if "trajectory_execution_match" in r else ""))
    lines.append(f"the chain's state x_t, decoded, at {fracs} of steps: edit distance to the reference "
                 f"{row('trajectory_x_t_edit_distance', '.3f')}, to the final program {row('trajectory_x_t_to_final', '.3f')}; "
                 f"exact match {row('trajectory_x_t_exact_match', '.1%')}"
                 + (f"; execution match {row('trajectory_x_t_execution_match', '.1%')}"
                    if "trajectory_x_t_execution_match" in r else ""))
    for name, g in r.get("by_source", {}).items():
        gem, gex = g["exact_match"], g.get("execution_match", {})

        def pair(key: str) -> str:
            return f"{gem[key]:.1%}" + (f" / {gex[key]:.1%}" if key in gex else "")

        lines.append(f"source {name} ({g['inputs']} inputs), exact" + (" / execution" if gex else "") + ": "
                     f"chain {pair('chain')}, top-{k} {pair(f'chain_top{k}')}, one call {pair('one_call')}, "
                     f"true L(y) {pair('truth')}; {g['diversity']['identical']:.0%} of inputs get {k} identical; "
                     "trajectory edit distance to the reference "
                     + " / ".join(f"{v:.3f}" for v in g["trajectory_edit_distance"].values())
                     + " (x̂0), " + " / ".join(f"{v:.3f}" for v in g["trajectory_x_t_edit_distance"].values())
                     + f" (x_t) at {fracs} of steps")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    from codefusion.atomic import write_json_atomic

    opts = parse_options(argv)
    if opts.out and Path(opts.out).resolve() == Path(opts.ckpt).resolve():
        raise DiagnoseError("out= is the checkpoint; choose another file")
    result = run(opts)
    print(format_report(result))
    if opts.out:
        write_json_atomic(opts.out, result)
    return 0


def main(argv: list[str]) -> int:
    """`-h/--help/help` prints the usage; a UserError or OSError is one line, status 2."""
    return run_cli(_main, argv, usage=__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""One typed configuration schema for every run.

A run's configuration is the dataclass defaults below, merged with one or more YAML files and
then `key=value` command-line overrides (OmegaConf structured config). An unknown key or a value
of the wrong type stops the run at start-up with a one-line `ConfigError` naming the key.

Defaults are the paper's choices (CodeFusion, EMNLP 2023); every point the paper is silent on is
a field here with its default and the reason written next to it.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from codefusion.errors import UserError

System = Literal["codefusion", "seq2seq", "causal_lm"]
# Which of a checkpoint's weights a loader reads: the exponential moving average (what
# validation, evaluation and sampling use) or the raw trained weights.
Weights = Literal["ema", "raw"]
SYSTEM_NAMES: tuple[str, ...] = ("codefusion", "seq2seq", "causal_lm")  # the registry: codefusion/systems.py


class ConfigError(UserError):
    """A configuration problem, reported to the user in one line."""


@dataclass
class DataConfig:
    """Where the (utterance, code) pairs come from and how they are tokenized."""

    # "synthetic_cf": the embedded generator of NL -> CF-rule pairs (no files needed);
    # "jsonl": DATA_DIR/<language>/{train,valid,test}.jsonl written by data_prep/prepare_benchmarks.py;
    # "pretrain": code only, DATA_DIR/pretrain/<language>.jsonl from data_prep/prepare_pretraining.py
    # (the pre-training tasks of `PretrainConfig`).
    source: Literal["synthetic_cf", "jsonl", "pretrain"] = "jsonl"
    data_dir: Optional[str] = None  # root written by prepare_benchmarks.py (source=jsonl)
    language: Literal["python", "bash", "cf"] = "python"
    synthetic_train: int = 20000  # sizes of the synthetic splits (source=synthetic_cf)
    synthetic_valid: int = 500
    synthetic_test: int = 500
    synthetic_seed: int = 0
    max_nl_len: int = 64  # encoder input length in tokens, incl. </s> (paper: not stated)
    max_code_len: int = 128  # n, the fixed length of the diffused program (paper: 128)
    # Longer examples are either cut to the length ("truncate") or left out ("skip"); both are
    # counted and reported per split, never silent.
    overflow: Literal["truncate", "skip"] = "truncate"
    cache_dir: Optional[str] = None  # tokenized `datasets` cache; default ~/.cache/codefusion
    num_workers: int = 0


@dataclass
class TokenizerConfig:
    """The code/utterance tokenizer (one vocabulary for both, as in CodeT5)."""

    # Hub name (Salesforce/codet5-small) or a local directory holding vocab.json + merges.txt
    # (the CodeT5 BPE files) or a saved tokenizer. The 100 <extra_id_*> sentinels are added so
    # the vocabulary is 32,100 as on the hub.
    name_or_path: Optional[str] = None
    # When name_or_path is null: train a byte-level BPE of this size on the training split
    # (the quickstart's way to need no file outside the project).
    train_vocab_size: int = 2000
    # For that trained BPE: a run of spaces is its own token, so a word copied from the utterance
    # into the code is one token in both (GPT-2's and CodeT5's rule glue the space to the word).
    isolate_spaces: bool = False


@dataclass
class ModelConfig:
    """Network sizes. The paper gives the layer counts and width; the rest is silent."""

    # Encoder E: T5EncoderModel from a hub name or local path; null builds a fresh
    # codet5-small-sized encoder from the fields below (no pretrained weights on these machines).
    encoder_name_or_path: Optional[str] = None
    encoder_d_model: int = 512
    encoder_layers: int = 6
    encoder_heads: int = 8
    encoder_d_ff: int = 2048
    encoder_d_kv: int = 64
    d_model: int = 512  # width of the denoiser N and decoder D (paper: 512)
    # Dimension of the continuous code embedding x0 = L(y). Paper: not stated; 128 follows GENIE
    # and Diffusion-LM, whose low-dimensional embeddings are easier to denoise.
    embed_dim: int = 128
    denoiser_layers: int = 10  # paper: 10
    decoder_layers: int = 6  # paper: 6
    n_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    # Head H shares its weight with the embedding L (logits = D_s . L^T): the decoder is trained
    # to land on L(y), so the nearest embedding by dot product is the natural classifier.
    tie_head: bool = True
    # Self-conditioning (Chen et al. 2022; CDCD, Plaid): the denoiser also reads its previous x̂0
    # estimate beside x_t (zeros when there is none). Training: with probability
    # `train.self_cond_prob` a first no-grad pass supplies it; sampling: each step passes the
    # previous step's x̂0. Paper: not used.
    self_condition: bool = False
    # Per-token L2 norm every code embedding L(y) is rescaled to (null: free, the paper's silence).
    # Fixing it stops L from collapsing towards 0 under the decoder loss, and sets where in the
    # noise schedule the tokens become recognisable (sqrt(embed_dim) = unit variance per dim).
    embed_norm: Optional[float] = None
    # Learned absolute positions (data.max_nl_len of them) added to E_s before the denoiser and
    # decoder read it. T5's encoder has only relative position biases, so a code position must
    # learn from content alone which phrase of the utterance fills it ("the first of two
    # predicates"); an autoregressive decoder knows that from what it has written. Paper: not used.
    context_positions: bool = False


@dataclass
class DiffusionConfig:
    schedule: Literal["sqrt", "linear", "cosine"] = "sqrt"  # paper: sqrt
    num_timesteps: int = 1200  # T (paper: 1200)
    # What the denoiser predicts: "eps" (paper) or "x0" (every peer codebase; see LESSONS.md).
    parameterization: Literal["eps", "x0"] = "eps"
    # How training draws t: "uniform" (paper), "warped" (density ∝ t^(t_power - 1): more training
    # on the noisy steps, where the chain decides the program) or "loss_aware" (importance sampling
    # by the loss's second moment, improved-diffusion / GENIE; re-weighted, so unbiased).
    t_sampling: Literal["uniform", "warped", "loss_aware"] = "uniform"
    t_power: float = 1.0  # t_sampling=warped only; 1 is uniform


@dataclass
class LossConfig:
    """L_t = w_diffusion ||eps_hat - eps|| + w_decoder ||D_s - L(y)|| - w_ce log p(y | D_s)."""

    w_diffusion: float = 1.0
    w_decoder: float = 1.0
    w_ce: float = 1.0
    # Target padding: "include" models the whole fixed-length sequence, pads included (the paper
    # pads to n and cuts generations at the first pad, so pads must be predicted); "exclude"
    # counts only the code tokens and the </s> that ends them.
    target_padding: Literal["include", "exclude"] = "include"
    # The paper: "the noise error trains N; ||D_s - L(y)|| trains D and L". True keeps the
    # decoder and CE terms from back-propagating into the denoiser through pred_x0.
    detach_pred_x0: bool = True


@dataclass
class PretrainConfig:
    """Code-only pre-training (paper §3.2, phase 1), used when data.source=pretrain.

    Each example is, at random, (a) unsupervised generation: E_s is replaced by Gaussian noise
    of the shape the encoded code would have, or (b) code CPD: the code with identifiers and
    keywords masked goes through the encoder and the target is the original code."""

    p_generation: float = 0.5  # probability of task (a); 1 - p is CPD. Paper: "at random"
    mask_ratio: float = 0.3  # CPD: share of maskable spans masked (see codefusion/data/masking.py)
    mask_policy: Literal["token", "span"] = "token"
    valid_size: int = 500  # rows held out of the corpus for validation (every k-th row)
    # Fine-tuning only (data.source=jsonl): the share of each epoch's examples drawn from
    # DATA_DIR/pretrain/<language>.jsonl (the whole corpus, fresh rows every epoch) and trained
    # on the two tasks above, beside the pairs. 0 is the paper's fine-tuning (pairs only).
    mix: float = 0.0


@dataclass
class OptimConfig:
    lr: float = 5e-4  # paper: AdamW, lr 5e-4, no weight decay
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 1000  # paper: not stated
    decay: Literal["linear", "cosine", "constant"] = "linear"  # after warm-up, to 0 at max_steps
    grad_clip: float = 1.0  # paper: not stated
    ema_decay: float = 0.9999  # paper: not stated; EMA weights are used for validation/sampling


@dataclass
class TrainConfig:
    name: str = "codefusion"
    # Run directory; null -> runs/<name>-<time> (the same for every process of a DDP run).
    run_dir: Optional[str] = None
    seed: int = 0
    max_steps: int = 100000
    global_batch_size: int = 64  # paper: 64
    per_device_batch_size: int = 64  # gradient accumulation = global / (per_device * world)
    val_every_n_steps: int = 2000
    limit_val_batches: int = 50  # validation batches per check (loss and token accuracy)
    val_decode_examples: int = 8  # validation examples denoised and printed as text
    val_sample_steps: int = 100  # DDPM steps (respaced, exact) for validation decoding
    # checkpoints/last.ckpt is rewritten (atomically) every this many optimizer steps and at
    # max_steps; SIGTERM / SIGINT / SIGUSR1 also save it before stopping (codefusion/run_guard.py).
    checkpoint_every_n_steps: int = 1000
    # Consecutive steps with a non-finite training loss that stop the run (exit code 3); the
    # last.ckpt of the last finite step is kept. 0 never stops.
    max_nonfinite_steps: int = 5
    monitor: str = "val/loss"  # best checkpoint by this validation metric
    monitor_mode: Literal["min", "max"] = "min"
    # Resume exactly from a train.py checkpoint; "auto": run_dir's checkpoints/last.ckpt when it
    # exists, else start fresh (the setting for SLURM jobs that requeue themselves).
    ckpt_path: Optional[str] = None
    # A run_dir that already holds a run (config.yaml or a checkpoint) is refused unless resuming;
    # true starts over in it, deleting its checkpoints.
    overwrite: bool = False
    init_from: Optional[str] = None  # start from another run's weights (pre-training -> fine-tuning)
    init_from_weights: Weights = "ema"
    # Components that do not train, e.g. [encoder] in pre-training (paper: the encoder only reads
    # the masked code). A tied head shares the embedding's weight: freezing either freezes both.
    freeze: list[str] = field(default_factory=list)
    tensorboard: bool = False
    log_every_n_steps: int = 50
    # Self-conditioning (model.self_condition): share of examples whose denoiser pass reads a
    # first no-grad pass's x̂0 (Chen et al.: 0.5); the others read zeros.
    self_cond_prob: float = 0.5
    # Classifier-free guidance (Ho & Salimans 2022): share of examples whose denoiser reads a
    # learned null context instead of E_s (0 builds no null context; `guidance=w` in sample.py
    # needs it). The decoder always reads E_s.
    cond_dropout: float = 0.0
    # Training on the model's own drafts (ours; the idea of SUNDAE's step-unrolled denoising,
    # Savinov et al. 2022, for a continuous chain): for this share of the examples x_t is noised
    # from the denoiser's no-grad one-call x̂0 (from pure noise at t = T-1) instead of from L(y),
    # the target staying L(y). Sampling hands every step after the first an x_t made from such a
    # draft; trained only on q_sample(L(y), t), the denoiser never learns to correct one.
    # Paper: not used (0).
    draft_prob: float = 0.0


@dataclass
class TrainerConfig:
    """Passed to lightning.Trainer unchanged."""

    accelerator: str = "auto"
    devices: Any = "auto"  # int, list of ids, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for many GPUs or nodes
    precision: str = "32-true"  # "bf16-mixed" for bf16 mixed precision


@dataclass
class EvalConfig:
    """Generation on a held-out split at the end of train.py."""

    split: Literal["none", "valid", "test"] = "none"
    num_examples: int = 200  # held-out examples generated (0 = all)
    sample_steps: int = 1200  # DDPM steps; fewer is a respaced, exact subsequence
    batch_size: int = 64
    show: int = 5  # how many (utterance, generated code) pairs to print
    sampler: str = "ddpm"  # ddpm | ddim | dpm_solver++ (codefusion.diffusion.SAMPLERS)
    guidance: float = 1.0  # classifier-free guidance weight w (1: conditional only; needs train.cond_dropout > 0)
    # auto: bf16 autocast where the device does bf16 natively (codefusion/precision.py) | 32 | bf16
    precision: str = "auto"


@dataclass
class BaselineConfig:
    """Autoregressive baselines (paper Table 1: fine-tuned T5, CodeT5, CodeGen), trained by the
    same train.py on the same data and tokenizer when `system` is seq2seq or causal_lm.

    The paper fine-tunes them with Adam, lr 1e-4, for 100 epochs and takes the top-k from a beam
    of 5 (set in configs/baselines/*.yaml through `optim` and `train`; the fields below are the
    networks and the decoding)."""

    # Hub name or local path of pre-trained weights (Salesforce/codet5-large, t5-large,
    # Salesforce/codegen-350M-mono); null builds a fresh model from the sizes below. Use the
    # model's own tokenizer (`tokenizer.name_or_path`): the embedding is resized to its vocabulary.
    name_or_path: Optional[str] = None
    # Sizes of a fresh model; the defaults are codet5-small's (d 512, 8 heads of 64, FFN 2048).
    d_model: int = 512
    layers: int = 6  # seq2seq: encoder and decoder layers each (codet5-small: 6 + 6); causal_lm: blocks
    heads: int = 8
    d_ff: int = 2048
    d_kv: int = 64  # seq2seq only (GPT-2 heads are d_model / heads wide)
    dropout: float = 0.1  # codet5-small's
    # Decoding (the end-of-training evaluation and the default of sampling). Paper: beam 5, top-k
    # taken from the beam; a beam returns at most num_beams candidates.
    num_beams: int = 5
    num_candidates: int = 5  # candidates per input, ranked best first (paper: top-1/3/5)
    do_sample: bool = False  # true: num_candidates independent samples instead of a beam
    temperature: float = 1.0  # sampling only
    top_p: float = 1.0  # sampling only: nucleus; 1.0 keeps the whole distribution
    # Diverse (group) beam search, Vijayakumar et al. 2016: num_beams split into this many groups,
    # each penalised by `diversity_penalty` per use of a token by earlier groups at the same step.
    # 1 is plain beam search (the paper's setting).
    num_beam_groups: int = 1
    diversity_penalty: float = 0.0
    max_new_tokens: Optional[int] = None  # null: data.max_code_len (n, the length trained on)


@dataclass
class Config:
    # What train.py trains (and a checkpoint holds): "codefusion", or an autoregressive baseline —
    # "seq2seq": T5ForConditionalGeneration (T5, CodeT5, CodeT5+); "causal_lm": a decoder-only LM
    # reading "utterance </s>" and continuing with the code (GPT-2, or CodeGen & co. from
    # `baseline.name_or_path`). Checkpoints from before this key said `baseline.arch: none|...`.
    system: System = "codefusion"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def world_size(self) -> int:
        """Processes that share the global batch: devices per node x nodes."""
        devices = self.trainer.devices
        if isinstance(devices, (list, tuple)):
            n = len(devices)
        elif isinstance(devices, str) and devices.strip() not in ("auto", "-1"):
            parts = [d.strip() for d in devices.split(",") if d.strip()]
            if not parts or not all(d.isdigit() for d in parts) or ("," not in devices and int(parts[0]) == 0):
                raise ConfigError(f"trainer.devices={devices!r}: expected a positive count, a list of device ids "
                                  "([0, 1] or \"0,1\"), or auto")
            n = len(parts) if "," in devices else int(parts[0])
        elif isinstance(devices, int) and devices == 0 or isinstance(devices, bool) or isinstance(devices, float):
            raise ConfigError(f"trainer.devices={devices!r}: expected a positive count, a list of device ids, or auto")
        elif isinstance(devices, int) and devices > 0:
            n = devices
        else:  # "auto" / -1: every visible accelerator, or one CPU process
            import torch

            use_gpu = self.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
            n = torch.cuda.device_count() if use_gpu else 1
        return n * self.trainer.num_nodes

    def grad_accumulation(self) -> int:
        """Gradient accumulation steps that make the global batch from the per-device batch."""
        per_step = self.train.per_device_batch_size * self.world_size()
        if self.train.global_batch_size % per_step:
            raise ConfigError(
                f"train.global_batch_size={self.train.global_batch_size} is not a multiple of "
                f"train.per_device_batch_size x world size = {per_step}"
            )
        return self.train.global_batch_size // per_step

    def validate(self) -> None:
        """Every value's range, and checks that need more than one field (types and names are
        checked by OmegaConf): a bad value is one line before any work."""
        self.validate_ranges()
        positive = {
            "data.max_nl_len": self.data.max_nl_len,
            "data.max_code_len": self.data.max_code_len,
            "diffusion.num_timesteps": self.diffusion.num_timesteps,
            "train.max_steps": self.train.max_steps,
            "train.global_batch_size": self.train.global_batch_size,
            "train.per_device_batch_size": self.train.per_device_batch_size,
            "model.d_model": self.model.d_model,
            "model.embed_dim": self.model.embed_dim,
            "eval.sample_steps": self.eval.sample_steps,
            "train.val_sample_steps": self.train.val_sample_steps,
        }
        for key, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{key} must be positive, got {value}")
        if self.model.d_model % self.model.n_heads:
            raise ConfigError(f"model.d_model={self.model.d_model} is not divisible by model.n_heads={self.model.n_heads}")
        if self.data.source == "jsonl" and not self.data.data_dir:
            raise ConfigError("data.source=jsonl needs data.data_dir (the out= of data_prep/prepare_benchmarks.py)")

        unknown = set(self.train.freeze) - {"encoder", "denoiser", "decoder", "embedding", "head"}
        if unknown:
            raise ConfigError(f"train.freeze: unknown component(s) {sorted(unknown)}; use encoder, denoiser, decoder, embedding, head")
        if not 0.0 <= self.pretrain.p_generation <= 1.0 or not 0.0 <= self.pretrain.mask_ratio <= 1.0:
            raise ConfigError("pretrain.p_generation and pretrain.mask_ratio must be in [0, 1]")
        if self.data.source == "pretrain" and not self.data.data_dir:
            raise ConfigError("data.source=pretrain needs data.data_dir (the out= of data_prep/prepare_pretraining.py)")
        if not 0.0 <= self.pretrain.mix < 1.0:
            raise ConfigError(f"pretrain.mix must be in [0, 1), got {self.pretrain.mix}")
        if self.pretrain.mix > 0 and self.data.source != "jsonl":
            raise ConfigError(f"pretrain.mix={self.pretrain.mix:g} mixes the code-only corpus into fine-tuning on "
                              f"data.source=jsonl; data.source is {self.data.source} (set pretrain.mix=0)")
        if not 0.0 <= self.train.self_cond_prob <= 1.0 or not 0.0 <= self.train.cond_dropout < 1.0:
            raise ConfigError("train.self_cond_prob must be in [0, 1] and train.cond_dropout in [0, 1)")
        if not 0.0 <= self.train.draft_prob <= 1.0:
            raise ConfigError(f"train.draft_prob must be in [0, 1], got {self.train.draft_prob}")
        if self.diffusion.t_power <= 0:
            raise ConfigError(f"diffusion.t_power must be > 0, got {self.diffusion.t_power}")
        if self.model.embed_norm is not None and self.model.embed_norm <= 0:
            raise ConfigError(f"model.embed_norm must be > 0 (or null), got {self.model.embed_norm}")
        if self.eval.guidance != 1.0 and self.train.cond_dropout == 0.0:
            raise ConfigError(f"eval.guidance={self.eval.guidance} needs a null context: set train.cond_dropout > 0")
        from codefusion.diffusion.samplers import check_sampler, check_steps

        try:
            check_sampler(self.eval.sampler)
        except ValueError as e:
            raise ConfigError(f"eval.sampler: {e}") from None
        from codefusion.precision import check_precision

        try:
            check_precision(self.eval.precision, "eval.precision")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        for key, steps in (("eval.sample_steps", self.eval.sample_steps), ("train.val_sample_steps", self.train.val_sample_steps)):
            try:
                check_steps(steps, self.diffusion.num_timesteps)
            except ValueError as e:
                raise ConfigError(f"{key}: {e}") from None
        if not 0.0 <= self.optim.ema_decay < 1.0:
            raise ConfigError(f"optim.ema_decay must be in [0, 1), got {self.optim.ema_decay}")
        self.validate_baseline()
        self.grad_accumulation()

    def validate_ranges(self) -> None:
        """Sizes, counts, rates and probabilities of single fields."""
        m, o, t = self.model, self.optim, self.train
        at_least = {  # key: (value, minimum)
            **{f"model.{k}": (getattr(m, k), 1) for k in ("encoder_d_model", "encoder_layers", "encoder_heads",
                                                          "encoder_d_ff", "encoder_d_kv", "denoiser_layers",
                                                          "decoder_layers", "n_heads", "d_ff")},
            "train.val_every_n_steps": (t.val_every_n_steps, 1), "train.checkpoint_every_n_steps": (t.checkpoint_every_n_steps, 1),
            "train.log_every_n_steps": (t.log_every_n_steps, 1), "train.limit_val_batches": (t.limit_val_batches, 1),
            "train.val_decode_examples": (t.val_decode_examples, 0), "train.max_nonfinite_steps": (t.max_nonfinite_steps, 0),
            "optim.warmup_steps": (o.warmup_steps, 0), "data.num_workers": (self.data.num_workers, 0),
            "eval.batch_size": (self.eval.batch_size, 1), "eval.num_examples": (self.eval.num_examples, 0),
            "eval.show": (self.eval.show, 0), "pretrain.valid_size": (self.pretrain.valid_size, 0),
            "trainer.num_nodes": (self.trainer.num_nodes, 1),
        }
        if self.data.source == "synthetic_cf":
            at_least.update({f"data.synthetic_{k}": (getattr(self.data, f"synthetic_{k}"), 1) for k in ("train", "valid", "test")})
        if self.tokenizer.name_or_path is None:
            from codefusion.data.tokenizer import SPECIAL_TOKENS

            # A byte-level BPE holds the 256 bytes and the special tokens before its first merge.
            at_least["tokenizer.train_vocab_size"] = (self.tokenizer.train_vocab_size, 256 + len(SPECIAL_TOKENS) + 1)
        elif self.tokenizer.isolate_spaces:
            raise ConfigError(f"tokenizer.isolate_spaces applies to the BPE a run trains (tokenizer.name_or_path: null), "
                              f"not to the named tokenizer {self.tokenizer.name_or_path}; drop one of the two")
        for key, (value, low) in at_least.items():
            if value < low:
                raise ConfigError(f"{key} must be >= {low}, got {value}")
        for key, value, ok in (("optim.lr", o.lr, o.lr > 0), ("optim.weight_decay", o.weight_decay, o.weight_decay >= 0),
                               ("optim.grad_clip", o.grad_clip, o.grad_clip >= 0)):
            if not ok:  # (a negative grad_clip used to turn clipping off; 0 is the way to)
                raise ConfigError(f"{key} must be {'> 0' if key == 'optim.lr' else '>= 0'}, got {value}")
        if len(o.betas) != 2 or not all(0.0 <= b < 1.0 for b in o.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {list(o.betas)}")
        for key, p in (("model.dropout", m.dropout), ("baseline.dropout", self.baseline.dropout)):
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"{key} must be in [0, 1), got {p}")
        if t.monitor not in self.validation_metrics():
            raise ConfigError(f"train.monitor={t.monitor!r} is not a metric this run logs; one of "
                              f"{', '.join(self.validation_metrics())}")

    def validation_metrics(self) -> tuple[str, ...]:
        """What validation logs (CodeFusionSystem / BaselineSystem); `train.monitor` is one of them."""
        if self.system != "codefusion":
            decoded: tuple[str, ...] = ("val/decoded_exact_match",)
            names = ("val/loss", "val/token_acc")
        else:
            decoded = ("val/decoded_exact_match", "val/pad_fraction")
            names = ("val/loss", "val/diffusion", "val/decoder", "val/ce", "val/token_acc")
        return names + (decoded if self.train.val_decode_examples > 0 else ())

    def validate_baseline(self) -> None:
        b = self.baseline
        if self.system == "codefusion":
            return
        if self.train.freeze:
            raise ConfigError(f"train.freeze names CodeFusion components; it does not apply to system={self.system}")
        if self.data.source == "pretrain":
            raise ConfigError("data.source=pretrain is CodeFusion's pre-training; baselines train on (nl, code) pairs")
        if self.pretrain.mix > 0:
            raise ConfigError(f"pretrain.mix={self.pretrain.mix:g} mixes CodeFusion's pre-training tasks into "
                              f"fine-tuning; baselines train on (nl, code) pairs only (set pretrain.mix=0)")
        if min(b.d_model, b.layers, b.heads, b.num_beams, b.num_candidates, b.num_beam_groups) <= 0:
            raise ConfigError("baseline.d_model, layers, heads, num_beams, num_candidates and num_beam_groups "
                              "must be positive")
        if not b.name_or_path and b.d_model % b.heads:
            raise ConfigError(f"baseline.d_model={b.d_model} is not divisible by baseline.heads={b.heads}")
        if not b.do_sample and b.num_candidates > b.num_beams:
            raise ConfigError(f"baseline.num_candidates={b.num_candidates} exceeds baseline.num_beams={b.num_beams} "
                              "(a beam returns at most num_beams candidates)")
        if b.num_beams % b.num_beam_groups:
            raise ConfigError(f"baseline.num_beams={b.num_beams} is not divisible by "
                              f"baseline.num_beam_groups={b.num_beam_groups}")
        if b.num_beam_groups > 1 and b.do_sample:
            raise ConfigError("baseline.num_beam_groups > 1 is diverse beam search; it cannot be combined with "
                              "baseline.do_sample")
        if b.temperature <= 0 or not 0 < b.top_p <= 1 or b.diversity_penalty < 0:
            raise ConfigError("baseline.temperature must be > 0, baseline.top_p in (0, 1] and "
                              "baseline.diversity_penalty >= 0")
        if b.max_new_tokens is not None and b.max_new_tokens <= 0:
            raise ConfigError(f"baseline.max_new_tokens must be positive, got {b.max_new_tokens}")


def load_config(yaml_files: list[str] | tuple[str, ...] = (), overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- each YAML file in order <- `key=value` overrides; validated, typed `Config`."""
    merged = OmegaConf.structured(Config)
    for path in yaml_files:
        if not os.path.isfile(path):
            raise ConfigError(f"config file not found: {path}")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.load(path))
        except OmegaConfBaseException as e:
            raise ConfigError(f"{path}: {omegaconf_message(e)}") from None
        except Exception as e:  # YAML syntax errors
            raise ConfigError(f"{path}: cannot parse YAML ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
    try:
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"command line: {omegaconf_message(e)}") from None
    cfg: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
    cfg.validate()
    return cfg


def parse_dotlist(schema: type, argv: list[str], error: type[Exception] = ConfigError) -> Any:
    """key=value arguments -> an instance of the dataclass `schema`, typed by OmegaConf as in
    train.py; a bad argument raises `error` with one line naming it ("unknown key 'x'", "bad
    value for 'steps': ..."). The one command-line grammar of every entry point besides train.py
    (sample.py, codefusion.evaluate, codefusion.diagnose, codefusion.export, ...)."""
    bad = [a for a in argv if "=" not in a]
    if bad:
        raise error(f"argument '{bad[0]}' is not of the form key=value")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as e:
        raise error(omegaconf_message(e).replace("config key", "key")) from None
    return OmegaConf.to_object(merged)


def omegaconf_message(e: OmegaConfBaseException) -> str:
    key = getattr(e, "full_key", None)
    first = str(e).splitlines()[0]
    if "Key '" in first and "not in" in first:
        if key == "baseline.arch":
            return "unknown config key 'baseline.arch': it is now the top-level key `system` (codefusion | seq2seq | causal_lm)"
        return f"unknown config key '{key}'"
    if "Cannot convert 'DictConfig'" in first or "Cannot convert 'ListConfig'" in first:
        # key=value is read as YAML: "a: b" is a mapping, "[a]" a list; quoting keeps it text
        first += f" (the value is read as YAML; to pass it as text, quote it: '{key or 'key'}=\"...\"')"
    return f"bad value for '{key}': {first}" if key else first


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (only str/int/float/bool/None/list) - safe for weights_only checkpoints."""
    return dataclasses.asdict(cfg)


def from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a typed, validated `Config` from `to_dict` output (e.g. from a checkpoint),
    tolerating keys added to the schema since the checkpoint was written and mapping the old
    `baseline.arch` to `system`. ConfigError on a config this code cannot run."""
    d = upgrade_dict(d)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(d))
    except OmegaConfBaseException as e:
        raise ConfigError(f"saved config: {omegaconf_message(e)}") from None
    cfg: Config = OmegaConf.to_object(merged)  # type: ignore[assignment]
    cfg.validate()
    return cfg


def upgrade_dict(d: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict in today's layout: `baseline.arch: none|seq2seq|causal_lm` (before
    the `system` key) becomes `system: codefusion|seq2seq|causal_lm`."""
    baseline = d.get("baseline")
    if isinstance(baseline, dict) and "arch" in baseline:
        baseline = {k: v for k, v in baseline.items() if k != "arch"}
        d = {**d, "baseline": baseline, "system": "codefusion" if d["baseline"]["arch"] == "none" else d["baseline"]["arch"]}
    return d


def save_yaml(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))

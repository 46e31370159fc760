"""Train CodeFusion.

    python train.py CONFIG.yaml [MORE.yaml ...] [key=value ...]

CPU smoke run (synthetic CF rules, a few minutes on 2 cores):
    python train.py configs/quickstart.yaml
One GPU (paper settings for Python; data from data_prep/prepare_benchmarks.py):
    python train.py configs/python.yaml data.data_dir=data trainer.devices=1
Many GPUs on one node (Lightning launches the processes):
    python train.py configs/python.yaml data.data_dir=data trainer.devices=4 trainer.strategy=ddp
    torchrun --nproc_per_node=4 train.py configs/python.yaml data.data_dir=data trainer.devices=4 trainer.strategy=ddp train.run_dir=runs/py
Many nodes under SLURM (srun starts one process per GPU):
    srun python train.py configs/python.yaml trainer.devices=4 trainer.num_nodes=2 trainer.strategy=ddp
Autoregressive baselines (baseline.arch: seq2seq T5/CodeT5, causal_lm GPT-2/CodeGen), same data and run layout:
    python train.py configs/quickstart.yaml configs/baselines/quickstart_seq2seq.yaml
    python train.py configs/baselines/seq2seq_cf.yaml trainer.devices=1
Resume exactly / fine-tune from a pre-trained run:
    python train.py configs/python.yaml train.run_dir=runs/py train.ckpt_path=runs/py/checkpoints/last.ckpt
    python train.py configs/python.yaml train.run_dir=runs/py train.ckpt_path=auto    # resume if there is a last.ckpt
    python train.py configs/python.yaml train.init_from=runs/pretrain-py/checkpoints/last.ckpt

See codefusion/config.py for every key, its default and why.
"""
from __future__ import annotations

import sys

from codefusion.checkpoint import CheckpointError
from codefusion.config import ConfigError, load_config
from codefusion.data.examples import DataError
from codefusion.data.tokenizer import TokenizerError
from codefusion.networks.encoder import EncoderError
from codefusion.run_guard import RunDirError, TrainingStopped

USER_ERRORS = (ConfigError, DataError, TokenizerError, EncoderError, CheckpointError, RunDirError)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    files = [a for a in argv if "=" not in a]
    overrides = [a for a in argv if "=" in a]
    try:
        cfg = load_config(files, overrides)
        from codefusion.training import run

        run(cfg)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:  # a signal (128 + its number) or divergence (3); last.ckpt saved
        print(str(e), file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a full disk, a read-only directory: one line naming the path
        print(f"error: {e.strerror or e}: {e.filename}" if e.filename else f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

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
Autoregressive baselines (system: seq2seq T5/CodeT5, causal_lm GPT-2/CodeGen), same data and run layout:
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

from codefusion.errors import run_cli
from codefusion.training.run_guard import TrainingStopped


def main(argv: list[str]) -> int:
    if not argv:  # the usage, as a mistake
        print(__doc__)
        return 2
    return run_cli(train, argv, usage=__doc__)


def train(argv: list[str]) -> int:
    from codefusion.config import load_config
    from codefusion.training.run import run

    cfg = load_config([a for a in argv if "=" not in a], [a for a in argv if "=" in a])
    try:
        run(cfg)
    except TrainingStopped as e:  # a signal (128 + its number) or divergence (3); last.ckpt saved
        print(str(e), file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    from codefusion.quiet import quiet_third_party

    quiet_third_party()
    sys.exit(main(sys.argv[1:]))

"""Training: the Lightning systems and what train.py does around them.

    run.py        train.py as functions: run directory, tokenizer, data, system, Trainer, evaluation
    base.py       TrainedSystem, what every system shares (AdamW schedule, EMA, per-step seeds, checkpoints)
    system.py     CodeFusionSystem: the only place networks, diffusion process and loss meet
    losses.py     the paper's three loss terms, one function each
    ema.py        exponential moving average of the weights
    run_guard.py  periodic last.ckpt, signals, divergence, the run-directory lock

The baselines' system is codefusion/baselines/system.py; `codefusion.systems` picks one.
"""

"""Ablation experiments as one command: `python -m codefusion.experiment EXPERIMENT.yaml`.

schema.py the experiment file · plan.py variants x seeds x stages -> checked stage runs ·
stages.py one stage run (the real entry point as a subprocess, markers) · local.py / slurm.py the
launchers · progress.py a line per stage · results.py / paper.py / plots.py the tables and plots.
"""

"""Checkpoint files: written atomically, holding only plain data, loadable with weights_only=True.

A checkpoint is Lightning's dict (`state_dict`, optimizer and loop states, `hyper_parameters` =
the resolved config as a plain dict) plus `ema` (the EMA weights) and `codefusion` (format
marker and the tokenizer as a JSON string), so sampling needs nothing but the file.
"""
from __future__ import annotations

import errno
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from codefusion.atomic import write_atomic
from codefusion.errors import UserError

FORMAT = "codefusion-checkpoint-v1"


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, or not CodeFusion's; reported in one line."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to a temporary file in the same directory, fsync, then rename over the target:
    a crash at any point leaves either the previous checkpoint or the new one, never half a file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if isinstance(checkpoint.get("codefusion"), dict):
            checkpoint["codefusion"]["weights_sha256"] = weights_digest(checkpoint)
        atomic_save(checkpoint, path)


def _hash_tensors(h: Any, obj: Any, name: str) -> None:
    """Feed every tensor under `obj` (dicts by sorted key, lists in order) into `h`: its name,
    dtype, shape and bytes."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            _hash_tensors(h, obj[key], f"{name}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _hash_tensors(h, item, f"{name}.{i}")


def weights_digest(checkpoint: dict[str, Any]) -> str:
    """sha256 of the weights a checkpoint carries (`state_dict` and `ema`): saved with it,
    checked by `load_checkpoint`, so flipped bytes are refused instead of sampled from."""
    h = hashlib.sha256()
    for key in ("state_dict", "ema"):
        _hash_tensors(h, checkpoint.get(key), key)
    return h.hexdigest()


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through the one atomic writer (codefusion/atomic.py): a crash leaves the old
    checkpoint; a full disk is one OSError naming the checkpoint."""
    def save(tmp: Path) -> None:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch.save reports a full disk as a RuntimeError
            raise OSError(errno.EIO, str(e).splitlines()[0] if str(e) else type(e).__name__, str(tmp)) from None

    try:
        write_atomic(path, save)
    except OSError as e:
        raise OSError(e.errno or errno.EIO, f"cannot write checkpoint {path}: {e.strerror or e}") from None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a CodeFusion checkpoint safely (weights_only=True), with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: exactly what not to do
        raise CheckpointError(f"refused {path}: it holds Python objects besides tensors and plain data, which "
                              "could run code when loaded; do not load it with weights_only=False unless you "
                              "wrote it yourself") from None
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt or not a torch file): "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(ckpt, dict) or ckpt.get("codefusion", {}).get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a CodeFusion checkpoint (no '{FORMAT}' marker)")
    saved = ckpt["codefusion"].get("weights_sha256")  # absent in checkpoints written before it existed
    if saved is not None and saved != weights_digest(ckpt):
        raise CheckpointError(f"checkpoint {path} is damaged: its weights do not match the sha256 saved with them "
                              "(a disk or copy error); use another checkpoint")
    return ckpt

"""CodeFusion (Singh et al., EMNLP 2023): a diffusion model that generates code from natural language.

    from codefusion import CodeFusionModel
    model = CodeFusionModel.from_pretrained("exports/cf")   # an exported directory, Hub id or .ckpt
    model.generate(["highlight cells greater than 42"], num_candidates=5, steps=100)

The names below are imported on first use, so `import codefusion` stays light (no torch).
"""
from __future__ import annotations

from typing import Any

__all__ = ["CodeFusionModel", "load_model_files"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from codefusion import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'codefusion' has no attribute {name!r}")

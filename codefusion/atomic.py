"""Writing output files atomically: a crash never leaves a half-written file under the real name.

The content goes to a temporary file beside the target (same filesystem), then `os.replace`
renames it; on any error the temporary file is removed. Files get the usual permissions (umask),
unlike `tempfile.mkstemp`'s 0600.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Union


def write_atomic(path: Union[str, Path], write: Callable[[Path], None]) -> None:
    """write(tmp_path) then rename tmp_path to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Union[str, Path], data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: Union[str, Path], rows: list[dict[str, Any]]) -> None:
    """One JSON object per line."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

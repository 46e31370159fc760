"""Writing output files atomically: a crash never leaves a half-written file under the real name.

The content goes to a temporary file beside the target (same filesystem), then `os.replace`
renames it; on any error the temporary file is removed. Files get the usual permissions (umask),
unlike `tempfile.mkstemp`'s 0600.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Optional, Union

from codefusion.errors import UserError


def write_atomic(path: Union[str, Path], write: Callable[[Path], None]) -> None:
    """write(tmp_path), fsync it, then rename tmp_path to `path` — the one atomic writer (text,
    JSON, data splits, checkpoints). An OSError names `path`, not the temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename: a power cut leaves old or new
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # name the real target, not the temporary file, in the one-line error
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def finite_json(data: Any) -> tuple[Any, int]:
    """`data` with every non-finite float (NaN, inf) replaced by None, and how many were: strict
    JSON has no NaN, and a parser that meets one rejects the whole file."""
    if isinstance(data, float) and not math.isfinite(data):
        return None, 1
    if isinstance(data, dict):
        pairs = [(k, finite_json(v)) for k, v in data.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(data, (list, tuple)):
        items = [finite_json(v) for v in data]
        return [v for v, _ in items], sum(n for _, n in items)
    return data, 0


def write_json_atomic(path: Union[str, Path], data: Any) -> int:
    """Strict JSON (non-finite numbers as null); returns how many numbers were non-finite."""
    clean, bad = finite_json(data)
    write_text_atomic(path, json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return bad


def write_jsonl_atomic(path: Union[str, Path], rows: list[dict[str, Any]]) -> int:
    """One strict JSON object per line (non-finite numbers as null); returns how many were."""
    clean, bad = finite_json(rows)
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in clean))
    return bad


class OutputPathError(UserError):
    """An output path that would destroy an input or cannot be written; one line."""


def check_output(path: Union[str, Path], inputs: Iterable[Optional[Union[str, Path]]] = (), key: str = "out") -> None:
    """Before any work: `path` is none of `inputs` (same file, through links too), is not a
    directory, and a file can be created beside it (its folder exists or can be made, is writable
    and has room for a few bytes)."""
    path = Path(path)
    for source in inputs:
        if source and (Path(source).resolve() == path.resolve()
                       or (path.exists() and Path(source).exists() and os.path.samefile(source, path))):
            raise OutputPathError(f"{key}={path} is also an input ({source}); writing it would destroy the input")
    if path.is_dir():
        raise OutputPathError(f"{key}={path} is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe") as f:
            f.write(b"{}\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise OutputPathError(f"cannot write {key}={path}: {e.strerror or e}") from None


def write_dir_atomic(target: Union[str, Path], write: Callable[[Path], None], entries: list[str]) -> None:
    """All or nothing for a folder of outputs: write(staging) fills a fresh staging folder inside
    `target`, then each of `entries` (names directly under staging) replaces the one in `target`.

    A failure while writing (a full disk, a bad row) leaves `target` as it was and removes the
    staging folder. The last entry is the completeness marker (a report): the old one is removed
    before the first swap and the new one moved in last, so a folder without it is known to be
    incomplete. Other files in `target` are left alone.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write(staging)
        missing = [e for e in entries if not (staging / e).exists()]
        if missing:
            raise RuntimeError(f"write_dir_atomic: {', '.join(missing)} not written")
        _remove(target / entries[-1])
        for name in entries:
            old = target / f".{name}.old-{os.getpid()}"
            if (target / name).exists():
                os.replace(target / name, old)
            os.replace(staging / name, target / name)
            _remove(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()

"""One base for every error meant for the user, and the one command-line tail that prints it.

Every entry point ends with `sys.exit(run_cli(main, sys.argv[1:]))`: a `UserError` (a bad key,
path, checkpoint or data row — each subclass names the thing and what to do) or an `OSError`
(a full disk, a read-only directory) becomes one line on stderr and exit status 2; anything else
is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import sys
from collections.abc import Callable


class UserError(ValueError):
    """A problem the user can fix, reported as one line (`error: <message>`).

    A ValueError, so library code that raised ValueError before keeps working."""


class DataError(UserError):
    """A data problem (missing file, unreadable split or row, bad path), reported in one line."""


def os_error_line(e: OSError) -> str:
    """One line for an OSError: `cannot write /out.jsonl: No space left on device` for a full or
    read-only disk, `/in.jsonl: Permission denied` otherwise."""
    what = e.strerror or str(e)
    if not e.filename:
        return what
    if e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG):
        return f"cannot write {e.filename}: {what}"
    return f"{e.filename}: {what}"


HELP_WORDS = ("-h", "--help", "help")


def run_cli(main: Callable[[list[str]], int], argv: list[str], usage: str | None = None) -> int:
    """Run an entry point's `main(argv)`; UserError / OSError -> one line on stderr, status 2.
    With `usage` (the entry point's docstring), `-h`, `--help` or `help` prints it, status 0."""
    if usage is not None and any(a in HELP_WORDS for a in argv):
        print(usage.strip())
        return 0
    try:
        return main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        return 2

"""One line per stage run and state change: queued / running / done / failed / skipped."""
from __future__ import annotations

import sys
import time
from typing import TextIO

STATES = ("queued", "running", "done", "failed", "skipped")


class Progress:
    """Prints `[hh:mm:ss] [ 3/12] ours-seed0/train  running  ...` as states change, and keeps them."""

    def __init__(self, ids: list[str], stream: TextIO = sys.stdout) -> None:
        self.state = dict.fromkeys(ids, "queued")
        self.note: dict[str, str] = {}
        self.stream = stream
        self.width = max((len(i) for i in ids), default=10)
        for run_id in ids:
            self._print(run_id)

    def set(self, run_id: str, state: str, note: str = "") -> None:
        assert state in STATES, state
        self.state[run_id], self.note[run_id] = state, note
        self._print(run_id)

    def _print(self, run_id: str) -> None:
        n = list(self.state).index(run_id) + 1
        note = self.note.get(run_id, "")
        print(f"[{time.strftime('%H:%M:%S')}] [{n:>2}/{len(self.state)}] {run_id:<{self.width}}  "
              f"{self.state[run_id]:<8}{'  ' + note if note else ''}", file=self.stream, flush=True)

    def summary(self) -> str:
        counts = {s: sum(1 for v in self.state.values() if v == s) for s in STATES}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n)

    def failed(self) -> list[str]:
        return [k for k, v in self.state.items() if v == "failed"]

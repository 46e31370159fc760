"""No third-party noise on the console: `quiet_third_party()` is called by the entry points
(train.py, sample.py), never by library code or tests, where warnings should surface."""
from __future__ import annotations

import logging
import warnings

# Lines Lightning prints that tell a user of this codebase nothing they can act on.
NOISE = ("litlogger", "TPU available", "HPU available")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in NOISE)


def quiet_third_party() -> None:
    """Silence Lightning's LitLogger advertisement, its TPU/HPU lines and the `LeafSpec`
    deprecation warning (raised inside Lightning by newer torch, not by our code)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())

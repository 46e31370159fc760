"""The three benchmark languages and the one check every metric makes on its `language` argument."""

from __future__ import annotations

from typing import Literal

Language = Literal["python", "bash", "cf"]
LANGUAGES: tuple[str, ...] = ("python", "bash", "cf")


def check_language(language: str) -> Language:
    """Return `language` lower-cased, or raise ValueError naming the accepted values."""
    name = str(language).strip().lower()
    if name not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    return name  # type: ignore[return-value]

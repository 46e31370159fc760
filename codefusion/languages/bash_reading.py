"""How a template spells what the tree walker finds: the `structural` reading.

`bash_template.py` walks tree-sitter's tree of a command and asks a `Reading` how to write each
thing it meets (a utility, a flag, `find`'s logic, the end of an `-exec`, the order of a
command's words). This class is the `structural` mode: flags belong to their utility
(`ls@-l`), quantities keep their sign (`+Time`), spellings that mean the same are unified
(`head -5` is `head -n 5`, `!` is `-not`, an explicit `-a` is dropped), flags are sorted.
`bash_nl2bash.NL2BashReading` overrides it to behave like NL2Bash's own tool.
"""

from __future__ import annotations

from codefusion.languages.bash_flags import DIGIT_FLAG, SIGNED_TYPES

ARG = "ARG"
# `find` grouping and logic, structural spelling: `!`/`-not` and `-o`/`-or` are one token each;
# `-a`/`-and` means the same as nothing and is dropped (None).
_FIND_LOGIC = {"(": "(", ")": ")", "!": "!", "-not": "!", "-o": "-o", "-or": "-o", ",": ",",
               "-a": None, "-and": None}


class Reading:
    """The structural reading (see the module docstring); subclasses change single spellings."""

    name = "structural"
    # What `xargs` runs when it is given no command (None: nothing is added).
    xargs_default = "echo"

    def prepare(self, code: str) -> str:
        """The command text as this reading parses it."""
        return code

    def utility(self, name: str) -> tuple[str, list[str]]:
        """A utility's name in the template, and flag tokens its spelling implies."""
        return name, []

    def flag(self, utility: str, flag: str, kind: str | None, value: str = "") -> str:
        """`utility@flag:Type`, signed for quantities (`find@-mtime:+Time`)."""
        if kind is None:
            return f"{utility}@{flag}"
        kind = kind.rstrip("?")
        if kind in SIGNED_TYPES and value[:1] in ("+", "-"):
            kind = value[0] + kind
        return f"{utility}@{flag}:{kind}"

    def value(self, utility: str, flag: str, value: str) -> str | None:
        """A token for a flag's argument value, or None when the value is dropped."""
        return None

    def digit_flag(self, utility: str) -> str:
        """`head -5`: the same as `head -n 5`."""
        return self.flag(utility, DIGIT_FLAG[utility], "Number")

    def signal_flag(self, utility: str) -> str:
        """`kill -INT`, `kill -9`: the same as `kill -s INT`."""
        return self.flag(utility, "-s", "Signal")

    def find_logic(self, utility: str, word: str) -> str | None:
        """A token for `find`'s `(`, `)`, `!`, `-not`, `-o`, `-a`...; None drops the word."""
        token = _FIND_LOGIC[word]
        return None if token is None else f"{utility}@{token}"

    def exec_end(self, utility: str, action: str, terminator: str) -> str:
        """The end of `find -exec ...`: `\\;` (once per file) or `+` (files batched)."""
        return f"{utility}@{action}" + ("+" if terminator == "+" else ";")

    def xargs_placeholder(self, flags: list[str], has_command: bool) -> bool:
        """Whether `xargs CMD` is read as `xargs -I {} CMD {}` (adds the flag and an argument)."""
        return False

    def arrange(self, utility: str, words: list[str]) -> list[str]:
        """A simple command's tokens: its flags sorted (their order does not change the command),
        then its positional arguments."""
        flags = sorted(w for w in words if not w.startswith(ARG))
        return [utility] + flags + [w for w in words if w.startswith(ARG)]

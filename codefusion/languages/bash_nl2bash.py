"""NL2Bash's own template match, as its tool behaves: the `nl2bash` mode.

The paper's Bash figure is computed by NL2Bash's evaluation code (GPL, not used or copied here).
This module writes its behaviour, as the project's issue 16 describes it, on the project's own
tree-sitter walker:

- its parser reads a command only when every utility has a synopsis in its grammar
  (`GRAMMAR_UTILITIES`, 115 names) and the command is a plain pipeline or list of them:
  redirections, compound commands, assignments, syntax errors, `sh -c '...'` bodies using
  `$0`/`$1`, and `find` flags its grammar does not know make it fail (`unreadable`). When it
  cannot read either command, the score is the cosine similarity of the two commands'
  whitespace-split words, argument values included (`word_cosine`). (Its template accuracy is
  then false, even for a command against itself; here it is whether the words are equal, so
  that a command always matches itself: the one deliberate difference);
- flags are tokens of their own, not of their utility (`ls -l` and `wc -l` share `-l`), typed by
  their argument without its sign (`-mtime +7` and `-mtime -7` are both `-mtime:Time`);
- every `sudo` is deleted; `egrep` is `grep -E`; `xargs CMD` is `xargs -I {} CMD {}`;
- `find`'s `!` and `-not` are different tokens, `-a`/`-and` is a token, `-o`/`-or` one token;
- `head -5` is not `head -n 5` (nor `kill -9` `kill -s 9`);
- template accuracy keeps the value of `find -type`/`-xtype` (`f` is not `d`) and the written
  order of the flags.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from tree_sitter import Node

from codefusion.languages.bash_flags import FIND_WORDS
from codefusion.languages.bash_reading import ARG, Reading

# The utilities that have a synopsis in NL2Bash's grammar; any other one makes its parser fail.
GRAMMAR_UTILITIES = frozenset("""
apropos awk basename bash bg bind bunzip2 bzcat bzip2 cal cat cd chgrp chmod chown clear column
comm compress cp cpio crontab curl cut date df diff dig dirname du echo egrep env false fg fgrep
file find finger fold grep groups gunzip gzip head history hostname ifconfig info jobs join kill
less ln ls md5 md5sum mkdir mktemp more mount mv nl nohup od paste ping popd ps pstree pushd pwd
read readlink rename rev rm rmdir rsync scp sed seq set sh shopt shred sleep sort source split su
tac tail tar tee time tmux top touch tr tree true uname uncompress uniq w watch wc which who
whoami xargs yes zcat zless
""".split())

# Tree-sitter nodes the parser does not read, by the reason reported.
_UNREAD_NODES = {
    **dict.fromkeys(("file_redirect", "heredoc_redirect", "herestring_redirect"), "redirection"),
    **dict.fromkeys(("for_statement", "c_style_for_statement", "while_statement", "if_statement",
                     "case_statement", "subshell", "compound_statement", "function_definition",
                     "test_command", "negated_command", "declaration_command",
                     "unset_command"), "compound command"),
    "variable_assignment": "assignment",
}
_SUDO = re.compile(r"(?:^|(?<=[\s;|&(`]))sudo(?:\s+|$)")
# `sh -c '... $1 ...'`: a quoted body that reads the positional parameters.
_SH_C_PARAMS = re.compile(r"(?:^|[\s/|;&(`])(?:ba)?sh\s+-c\s+(['\"]).*?\$\{?[0-9@#*]")
# `find` logic that NL2Bash spells as written (`!` and `-not` differ; `-a` is kept).
_FIND_LOGIC = {"(": "\\(", ")": "\\)", "!": "!", "-not": "-not", "-o": "-o", "-or": "-o",
               "-a": "-a", "-and": "-a", ",": ","}
# Flags whose (closed-vocabulary) value template accuracy keeps.
_KEPT_VALUES = {("find", "-type"), ("find", "-xtype")}
_XARGS_REPLACE = ("-I", "-i", "--replace")


class NL2BashReading(Reading):
    """Template spellings of NL2Bash's tool (see the module docstring)."""

    name = "nl2bash"
    xargs_default = None

    def prepare(self, code: str) -> str:
        """Every `sudo` deleted."""
        return _SUDO.sub("", code)

    def utility(self, name: str) -> tuple[str, list[str]]:
        if name == "egrep":
            return "grep", [self.flag("grep", "-E", None)]
        return name, []

    def flag(self, utility: str, flag: str, kind: str | None, value: str = "") -> str:
        """`-flag:Type`: no utility, no sign."""
        return flag if kind is None else f"{flag}:{kind.rstrip('?')}"

    def value(self, utility: str, flag: str, value: str) -> str | None:
        return f"{ARG}:{value}" if (utility, flag) in _KEPT_VALUES else None

    def digit_flag(self, utility: str) -> str:
        return "-NUM:Number"

    def signal_flag(self, utility: str) -> str:
        return "-SIGNAL:Signal"

    def find_logic(self, utility: str, word: str) -> str | None:
        return _FIND_LOGIC[word]

    def exec_end(self, utility: str, action: str, terminator: str) -> str:
        return "+" if terminator == "+" else "\\;"

    def xargs_placeholder(self, flags: list[str], has_command: bool) -> bool:
        return has_command and not any(f.split(":")[0] in _XARGS_REPLACE for f in flags)

    def arrange(self, utility: str, words: list[str]) -> list[str]:
        """As written: NL2Bash's template accuracy is sensitive to flag order."""
        return [utility] + words


def unreadable(root: Node, code: str, utilities: list[str],
               find_flags: list[str]) -> str | None:
    """Why NL2Bash's parser cannot read `code` (None when it can).

    `root` is tree-sitter's tree of the prepared command, `utilities` every utility the walker
    met (nested ones included), `find_flags` every flag word it met in a `find` expression.
    """
    if not code.strip():
        return "empty"
    if root.has_error:
        return "syntax error"
    reason = _unread_node(root)
    if reason is not None:
        return reason
    for utility in utilities:
        if utility not in GRAMMAR_UTILITIES:
            return f"utility {utility}"
    for flag in find_flags:
        if flag not in FIND_WORDS:
            return f"find flag {flag}"
    if _SH_C_PARAMS.search(code):
        return "sh -c body with $0/$1"
    return None


def _unread_node(node: Node) -> str | None:
    """The reason of the first node of `node`'s tree that the parser does not read."""
    stack = [node]
    while stack:
        current = stack.pop()
        reason = _UNREAD_NODES.get(current.type)
        if reason is not None:
            return reason
        stack.extend(current.children)
    return None


def word_cosine(pred: str, ref: str) -> float:
    """Cosine similarity of the bags of whitespace-split words: NL2Bash's score for a pair its
    parser cannot read. Two empty commands score 1.0, an empty one against another 0.0."""
    return bag_cosine(Counter(pred.split()), Counter(ref.split()))


def bag_cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two bags of tokens in [0, 1]; 1.0 for two empty bags."""
    if not a or not b:
        return float(not a and not b)
    dot = sum(count * b[token] for token, count in a.items())
    norm = math.sqrt(sum(c * c for c in a.values()) * sum(c * c for c in b.values()))
    return min(1.0, dot / norm)

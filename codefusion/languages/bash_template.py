"""NL2Bash template match and template accuracy, in two modes, read with tree-sitter-bash.

A command's *template* keeps its structure and drops its argument values:

    find . -mtime +7 -name '*.log' | xargs rm -f
    nl2bash:    find ARG -mtime:Time -name:Pattern | xargs -I:String rm -f ARG
    structural: find find@-mtime:+Time find@-name:Pattern ARG | xargs rm rm@-f

Both modes read the same things:
- utilities by name (`/usr/bin/find` is `find`); commands run by `xargs`, `sudo`, `find -exec`
  and other wrappers are utilities too;
- flags with the type of their argument when it is known (`bash_flags.py`); short clusters split
  (`-la` is `-l`, `-a`; `tar xzf` is `tar -x -z -f`); `kill -INT` is one signal flag;
- operators: pipes, `&&`, `||`, `&`, redirections (`>`, `2>&1`, `<<<`), command and process
  substitution (`$(`, `<(`, backticks read as `$(`), subshells and blocks, `find`'s grouping and
  logic (also unescaped `( ... )`), `-exec ... \\;` versus `-exec ... +` (also `\\+`);
- each positional argument is `ARG`.

The modes (`Mode`) differ in how they spell what they read:
- `nl2bash` (default): the paper's metric, NL2Bash's own tool as it behaves (`bash_nl2bash.py`),
  including the word-cosine fallback for the commands its parser cannot read;
- `structural` (`bash_reading.py`): flags belong to their utility (`ls@-l`), quantities keep
  their sign, equivalent spellings are unified, flags are sorted; no parser-coverage fallback.

`template_match` is the cosine similarity of the two bags of template tokens without the
argument tokens, `template_accuracy` whether the two templates are equal. docs/evaluation.md
lists where the `nl2bash` mode still differs from NL2Bash's tool.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Literal, NamedTuple, get_args

from tree_sitter import Node

from codefusion.languages.bash_flags import (
    DIGIT_FLAG,
    NO_SPLIT,
    SIGNAL_FLAG,
    SIGNALS,
    WRAPPERS,
    flag_type,
)
from codefusion.languages.bash_nl2bash import NL2BashReading, bag_cosine, unreadable, word_cosine
from codefusion.languages.bash_reading import ARG, Reading
from codefusion.languages.syntax import parse

Mode = Literal["nl2bash", "structural"]
MODES: tuple[str, ...] = get_args(Mode)
READINGS: dict[str, Reading] = {"nl2bash": NL2BashReading(), "structural": Reading()}

_FIND_LOGIC = {"(", ")", "!", "-not", "-o", "-or", ",", "-a", "-and"}
_EXEC = {"-exec", "-execdir", "-ok", "-okdir"}
_EXEC_END = {";", "+"}
_OPENERS = {"for", "while", "until", "if", "case", "function", "select", "!"}
_LIST_OPS = {"|", "|&", "&&", "||", "&"}
_REDIRECTS = {"file_redirect", "heredoc_redirect", "herestring_redirect"}
# `tar xzf a.tgz`: old-style keys without a dash, one of them a function letter.
_TAR_KEYS = re.compile(r"[A-Za-z]*[cxtrudA][A-Za-z]*")
# A bare `(` or `)` word (not `\(`, not part of `$(`): bash reads it as a syntax error.
_BARE_PAREN = re.compile(r"(?<=\s)([()])(?=\s|$)")
# What follows a command's head: ("arg", node) to search for substitutions, ("cmd", (nodes,
# extra ARGs)) a nested command, ("exec-end", token) the end of a `find -exec`.
_Tail = list[tuple[str, Any]]


class Read(NamedTuple):
    """One command as a mode reads it."""

    tokens: tuple[str, ...]
    unreadable: str | None  # nl2bash: why NL2Bash's parser cannot read it; None: it can


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace")


def _unquote(word: str) -> str:
    """`'-name'` -> `-name`, `a\\ b` -> `a b`, `\\;` -> `;`: how Bash reads a plain word."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return re.sub(r"\\(.)", r"\1", word) if "\\" in word else word


class _Templater:
    """Builds the template of one parsed command line (see the module docstring)."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.out: list[str] = []
        self.utilities: list[str] = []
        self.find_flags: list[str] = []

    def walk(self, node: Node) -> None:
        """Append the template tokens of `node` and everything under it."""
        kind = node.type
        if kind == "command":
            self.command(node)
        elif kind in ("command_substitution", "process_substitution"):
            opener = "$(" if _text(node).startswith(("$(", "`")) else _text(node)[:2]
            self.out.append(opener)
            self.children(node)
            self.out.append(")")
        elif kind in _REDIRECTS:
            self.redirect(node)
        elif kind == "variable_assignment":
            self.out.append("=")
            self.children(node)
        elif kind in ("subshell", "compound_statement", "test_command"):
            opener = {"subshell": "(", "compound_statement": "{"}.get(kind, "test")
            self.out.append(opener)
            self.children(node)
            self.out.append({"(": ")", "{": "}"}.get(opener, "end-test"))
        elif kind == "test_operator":
            self.out.append("test@" + _text(node))
        else:
            self.children(node)

    def children(self, node: Node) -> None:
        """Walk the named children; keep the anonymous ones that are operators."""
        for child in node.children:
            if child.is_named:
                self.walk(child)
            elif child.type in _LIST_OPS or child.type in _OPENERS:
                self.out.append(child.type)
            elif node.type in ("binary_expression", "unary_expression") and \
                    not child.type.isalnum():
                self.out.append("test@" + child.type)

    def redirect(self, node: Node) -> None:
        """`2>&1`, `>`, `<<<`...: the operator is a token, its target an argument."""
        token, target = "", None
        for child in node.children:
            if child.type == "file_descriptor":
                token += _text(child)
            elif not child.is_named:
                token += child.type
            elif target is None:
                target = child
        if target is not None and token.endswith("&") and target.type == "number":
            token += _text(target)  # `2>&1` duplicates a descriptor: part of the operator
            target = None
        self.out.append(token)
        if target is not None:
            self.walk(target)

    def command(self, node: Node) -> None:
        """A simple command: prefix assignments and redirections, name, words."""
        name: Node | None = None
        words: list[Node] = []
        later: list[Node] = []
        for child in node.children:
            if child.type == "command_name":
                name = child
            elif child.type == "variable_assignment" or child.type in _REDIRECTS:
                later.append(child)
            elif child.is_named and name is not None:
                words.append(child)
        if name is not None:
            plain = name.named_children and name.named_children[0].type == "word"
            utility = _unquote(_text(name)).rsplit("/", 1)[-1] if plain else "$VAR"
            if not plain:
                self.walk(name)
            self.simple(utility, words)
        for child in later:
            self.walk(child)

    def simple(self, utility: str, words: list[Node], extra_args: int = 0) -> None:
        """Template of `utility words...`; nested commands and substitutions follow the head.
        `extra_args` positional arguments are added (`xargs CMD` read as `... CMD {}`)."""
        utility, seq = self.reading.utility(utility)
        self.utilities.append(utility)
        tail: _Tail = []
        texts = [_unquote(_text(w)) for w in words]
        if utility == "tar" and texts and _TAR_KEYS.fullmatch(texts[0]) and \
                words[0].type == "word":
            texts[0] = "-" + texts[0]
        i = 0
        if utility in ("find", "gfind"):
            self.find(utility, words, texts, seq, tail)
            i = len(words)
        options_done = False
        while i < len(words):
            word, node = texts[i], words[i]
            if options_done or not word.startswith("-") or word == "-" or node.type in (
                    "string", "raw_string"):
                if utility in WRAPPERS and not (utility == "env" and "=" in word):
                    if utility == "timeout" and not any(w.startswith(ARG) for w in seq):
                        seq.append(ARG)  # the duration comes before the command
                        i += 1
                        continue
                    tail.append(("cmd", (words[i:], 0)))
                    break
                seq.append(ARG)
                tail.append(("arg", node))
                i += 1
                continue
            if word == "--":
                options_done, i = True, i + 1
                continue
            i = self.option(utility, word, texts, words, i, seq, tail)
        self.finish(utility, seq, tail, extra_args)

    def finish(self, utility: str, seq: list[str], tail: _Tail, extra_args: int) -> None:
        """Emit a simple command's tokens, then what follows its head."""
        has_command = any(kind == "cmd" for kind, _ in tail)
        if utility == "xargs" and self.reading.xargs_placeholder(seq, has_command):
            seq.insert(0, self.reading.flag(utility, "-I", "String", "{}"))
            tail = [(k, (v[0], 1)) if k == "cmd" else (k, v) for k, v in tail]
        elif utility == "xargs" and not has_command and self.reading.xargs_default:
            tail.append(("cmd", self.reading.xargs_default))  # xargs with no command runs echo
        self.out.extend(self.reading.arrange(utility, seq + [ARG] * extra_args))
        for kind, item in tail:
            if kind == "cmd" and isinstance(item, str):
                self.out.append(item)
                self.utilities.append(item)
            elif kind == "cmd":
                nodes, extra = item
                self.simple(_unquote(_text(nodes[0])).rsplit("/", 1)[-1], nodes[1:], extra)
            elif kind == "exec-end":
                self.out.append(item)
            else:
                self.walk(item)  # substitutions inside an argument

    def option(self, utility: str, word: str, texts: list[str], words: list[Node], i: int,
               seq: list[str], tail: _Tail) -> int:
        """Record the option at `words[i]` (and its argument); return the next index."""
        if word.startswith("--"):
            flag, eq, value = word.partition("=")
            kind = flag_type(utility, flag)
            if eq:
                seq.append(self.reading.flag(utility, flag, kind, value))
                tail.append(("arg", words[i]))
                return i + 1
            return self._take(utility, flag, kind, texts, words, i, seq, tail)
        if word[1:].isdigit() and utility in DIGIT_FLAG:
            seq.append(self.reading.digit_flag(utility))
            return i + 1
        if utility in SIGNAL_FLAG and (word[1:].isdigit() or word[1:].removeprefix("SIG")
                                       in SIGNALS):
            seq.append(self.reading.signal_flag(utility))
            return i + 1
        kind = flag_type(utility, word)
        if kind is not None or utility in NO_SPLIT or len(word) == 2 or word[1:].isdigit():
            return self._take(utility, word, kind, texts, words, i, seq, tail)
        for j, letter in enumerate(word[1:], start=1):  # a cluster: -czf out.tgz
            flag = "-" + letter
            kind = flag_type(utility, flag)
            rest = word[j + 1:]
            if kind is None:
                seq.append(self.reading.flag(utility, flag, None))
                continue
            if rest and (not kind.endswith("?") or not rest[0].isalpha()):
                seq.append(self.reading.flag(utility, flag, kind, rest))
                tail.append(("arg", words[i]))
                return i + 1
            if kind.endswith("?"):
                seq.append(self.reading.flag(utility, flag, None))
                continue
            return self._take(utility, flag, kind, texts, words, i, seq, tail)
        return i + 1

    def _take(self, utility: str, flag: str, kind: str | None, texts: list[str],
              words: list[Node], i: int, seq: list[str], tail: _Tail) -> int:
        """A flag that may take the next word as its argument."""
        if kind is None or kind.endswith("?"):
            seq.append(self.reading.flag(utility, flag, None))
            return i + 1
        if i + 1 < len(words):
            value = texts[i + 1]
            seq.append(self.reading.flag(utility, flag, kind, value))
            kept = self.reading.value(utility, flag, value)
            if kept is not None:
                seq.append(kept)
            tail.append(("arg", words[i + 1]))
            return i + 2
        seq.append(self.reading.flag(utility, flag, kind))
        return i + 1

    def find(self, utility: str, words: list[Node], texts: list[str], seq: list[str],
             tail: _Tail) -> None:
        """`find` paths, then its expression."""
        i = 0
        while i < len(words) and not (texts[i].startswith("-") or texts[i] in _FIND_LOGIC):
            seq.append(ARG)
            tail.append(("arg", words[i]))
            i += 1
        while i < len(words):
            word = texts[i]
            if word in _FIND_LOGIC:
                token = self.reading.find_logic(utility, word)
                if token is not None:
                    seq.append(token)
                if word.startswith("-"):
                    self.find_flags.append(word)
                i += 1
            elif word in _EXEC:
                end = i + 1
                while end < len(words) and texts[end] not in _EXEC_END:
                    end += 1
                terminator = texts[end] if end < len(words) else ""
                seq.append(self.reading.flag(utility, word, None))
                self.find_flags.append(word)
                if end > i + 1:
                    tail.append(("cmd", (words[i + 1:end], 0)))
                tail.append(("exec-end", self.reading.exec_end(utility, word, terminator)))
                i = end + 1
            elif word.startswith("-") and len(word) > 1:
                self.find_flags.append(word)
                i = self._take(utility, word, flag_type(utility, word), texts, words, i, seq,
                               tail)
            else:
                seq.append(ARG)
                tail.append(("arg", words[i]))
                i += 1


def _escape_find_parens(code: str) -> str:
    """`find . ( -name a -o -name b )` -> `find . \\( ... \\)`: what the writer meant."""
    return _BARE_PAREN.sub(r"\\\1", code)


def _check_mode(mode: str) -> Reading:
    if mode not in READINGS:
        raise ValueError(f"unknown template mode {mode!r}: use one of {', '.join(MODES)}")
    return READINGS[mode]


@lru_cache(maxsize=131072)
def read(code: str, mode: Mode = "nl2bash") -> Read:
    """The template of a Bash command in `mode`, and (nl2bash) why NL2Bash cannot read it."""
    reading = _check_mode(mode)
    if not isinstance(code, str) or not code.strip():
        return Read((), "empty")
    text = reading.prepare(code)
    root = parse(text, "bash").root_node
    if root.has_error and re.search(r"\bfind\b", text) and _BARE_PAREN.search(text):
        fixed = parse(_escape_find_parens(text), "bash").root_node
        if not fixed.has_error:
            root = fixed
    builder = _Templater(reading)
    try:
        builder.walk(root)
    except RecursionError:
        pass  # thousands of nested `$(`: keep the tokens read so far
    reason = unreadable(root, text, builder.utilities, builder.find_flags) \
        if mode == "nl2bash" else None
    return Read(tuple(builder.out), reason)


def template(code: str, mode: Mode = "nl2bash") -> tuple[str, ...]:
    """The template tokens of a Bash command in `mode` (see the module docstring)."""
    return read(code, mode).tokens


def _bag(tokens: tuple[str, ...]) -> Counter[str]:
    return Counter(t for t in tokens if not t.startswith(ARG))


def template_match(pred: str, ref: str, mode: Mode = "nl2bash") -> float:
    """NL2Bash template-match score in [0, 1]: cosine similarity of the bags of utilities,
    flags (with argument types) and operators of `pred` and `ref`; argument values dropped.

    `nl2bash`: when NL2Bash's parser cannot read either command, the cosine similarity of their
    whitespace-split words instead. Two commands with no tokens at all (empty) score 1.0
    together, 0.0 against any other.
    """
    a, b = read(pred, mode), read(ref, mode)
    if mode == "nl2bash" and (a.unreadable or b.unreadable):
        return word_cosine(" ".join(_words(pred)), " ".join(_words(ref)))
    return bag_cosine(_bag(a.tokens), _bag(b.tokens))


def template_accuracy(pred: str, ref: str, mode: Mode = "nl2bash") -> bool:
    """True when `pred` and `ref` have the same template (argument values aside).

    `nl2bash`: when NL2Bash's parser cannot read either command, whether their whitespace-split
    words are equal, as template match falls back to the words. (NL2Bash's tool counts such a
    pair as a miss even for a command against itself; docs/evaluation.md gives the count.)
    """
    a, b = read(pred, mode), read(ref, mode)
    if mode == "nl2bash" and (a.unreadable or b.unreadable):
        return _words(pred) == _words(ref)
    return a.tokens == b.tokens


def _words(code: str) -> list[str]:
    return code.split() if isinstance(code, str) else []


def nl2bash_unreadable(code: str) -> str | None:
    """Why NL2Bash's parser cannot read `code` (`utility alias`, `redirection`...), or None."""
    return read(code, "nl2bash").unreadable

"""NL2Bash template match, written from its published definition with tree-sitter-bash.

A command's *template* keeps its structure and drops its argument values:

    find . -mtime +7 -name '*.log' | xargs rm -f
    -> find ARG find@-mtime:+Time find@-name:Pattern | xargs rm rm@-f

- utilities are kept by name (`/usr/bin/find` is `find`); commands run by `xargs`, `sudo`,
  `find -exec` and other wrappers are utilities too;
- a flag becomes `utility@flag`, with `:Type` when it takes an argument whose type is known
  (`bash_flags.py`); quantities keep their sign (`+Time`); clusters split (`-la` is `-l`, `-a`);
  flags of one command are sorted, since their order does not change the command;
- operators are kept: pipes, `&&`, `||`, `&`, redirections (`>`, `2>&1`, `<<<`), command and
  process substitution (`$(`, `<(`, backticks read as `$(`), subshells and blocks, `find`'s
  grouping and logic (`find@(`, `find@!`, `find@-o`; an explicit `-a`/`-and` is dropped because
  it means the same as nothing), `-exec ... \\;` versus `-exec ... +`;
- each positional argument is `ARG`.

`template_match` is the cosine similarity of the two bags of template tokens without the `ARG`s,
`template_accuracy` whether the two templates are equal. docs/evaluation.md lists where this
differs from NL2Bash's own (GPL) tool.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Any

from tree_sitter import Node

from codefusion.evaluation.bash_flags import (
    DIGIT_FLAG, NO_SPLIT, SIGNED_TYPES, WRAPPERS, flag_type,
)
from codefusion.evaluation.syntax import parse

ARG = "ARG"
_FIND_GROUP = {"(": "(", "\\(": "(", ")": ")", "\\)": ")", "!": "!", "\\!": "!", "-not": "!",
               "-o": "-o", "-or": "-o", ",": ","}
_FIND_AND = {"-a", "-and"}
_EXEC = {"-exec", "-execdir", "-ok", "-okdir"}
_EXEC_END = {";", "\\;", "';'", '";"', "+"}
_OPENERS = {"for", "while", "until", "if", "case", "function", "select", "!"}
_LIST_OPS = {"|", "|&", "&&", "||", "&"}
_REDIRECTS = {"file_redirect", "heredoc_redirect", "herestring_redirect"}
# What follows a command's head: ("arg", node) to search for substitutions, ("cmd", nodes) a
# nested command, ("exec-end", token) the end of a `find -exec`.
_Tail = list[tuple[str, Any]]


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace")


def _unquote(word: str) -> str:
    """`'-name'` -> `-name`, `a\\ b` -> `a b`: how Bash reads a plain word."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word.replace("\\", "") if "\\" in word and not word.startswith("\\") else word


class _Templater:
    """Builds the template of one parsed command line (see the module docstring)."""

    def __init__(self) -> None:
        self.out: list[str] = []

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

    def simple(self, utility: str, words: list[Node]) -> None:
        """Template of `utility words...`; nested commands and substitutions follow the head."""
        flags: list[str] = []
        positional = 0
        tail: _Tail = []
        texts = [_unquote(_text(w)) for w in words]
        i = 0
        if utility in ("find", "gfind"):
            positional, i = self.find(utility, words, texts, flags, tail), len(words)
        options_done = False
        while i < len(words):
            word, node = texts[i], words[i]
            if options_done or not word.startswith("-") or word == "-" or words[i].type in (
                    "string", "raw_string"):
                if utility in WRAPPERS and not (utility == "env" and "=" in word):
                    if utility == "timeout" and positional == 0:
                        positional, i = 1, i + 1  # the duration comes before the command
                        continue
                    tail.append(("cmd", words[i:]))
                    break
                positional += 1
                tail.append(("arg", node))
                i += 1
                continue
            if word == "--":
                options_done, i = True, i + 1
                continue
            i = self.option(utility, word, words, i, flags, tail)
        if utility == "xargs" and not any(kind == "cmd" for kind, _ in tail):
            tail.append(("cmd", "echo"))  # xargs with no command runs echo
        self.out.extend([utility] + sorted(flags) + [ARG] * positional)
        for kind, item in tail:
            if kind == "cmd" and isinstance(item, str):
                self.out.append(item)
            elif kind == "cmd":
                self.simple(_unquote(_text(item[0])).rsplit("/", 1)[-1], item[1:])
            elif kind == "exec-end":
                self.out.append(item)
            else:
                self.walk(item)  # substitutions inside an argument

    def option(self, utility: str, word: str, words: list[Node], i: int,
               flags: list[str], tail: _Tail) -> int:
        """Record the option at `words[i]` (and its argument); return the next index."""
        if word.startswith("--"):
            flag, eq, value = word.partition("=")
            kind = flag_type(utility, flag)
            if eq:
                flags.append(_typed(utility, flag, kind, value))
                tail.append(("arg", words[i]))
                return i + 1
            return self._take(utility, flag, kind, words, i, flags, tail)
        if word[1:].isdigit() and utility in DIGIT_FLAG:
            flags.append(_typed(utility, DIGIT_FLAG[utility], "Number", word[1:]))
            return i + 1
        kind = flag_type(utility, word)
        if kind is not None or utility in NO_SPLIT or len(word) == 2 or word[1:].isdigit():
            return self._take(utility, word, kind, words, i, flags, tail)
        for j, letter in enumerate(word[1:], start=1):  # a cluster: -czf out.tgz
            flag = "-" + letter
            kind = flag_type(utility, flag)
            rest = word[j + 1:]
            if kind is None:
                flags.append(f"{utility}@{flag}")
                continue
            if rest and (not kind.endswith("?") or not rest[0].isalpha()):
                flags.append(_typed(utility, flag, kind, rest))
                tail.append(("arg", words[i]))
                return i + 1
            if kind.endswith("?"):
                flags.append(f"{utility}@{flag}")
                continue
            return self._take(utility, flag, kind, words, i, flags, tail)
        return i + 1

    def _take(self, utility: str, flag: str, kind: str | None, words: list[Node], i: int,
              flags: list[str], tail: _Tail) -> int:
        """A flag that may take the next word as its argument."""
        if kind is None or kind.endswith("?"):
            flags.append(f"{utility}@{flag}")
            return i + 1
        if i + 1 < len(words):
            flags.append(_typed(utility, flag, kind, _unquote(_text(words[i + 1]))))
            tail.append(("arg", words[i + 1]))
            return i + 2
        flags.append(f"{utility}@{flag}:{kind}")
        return i + 1

    def find(self, utility: str, words: list[Node], texts: list[str], flags: list[str],
             tail: _Tail) -> int:
        """`find` paths, then its expression; returns the number of positional arguments."""
        i = positional = 0
        while i < len(words) and not (texts[i].startswith("-") or texts[i] in _FIND_GROUP):
            tail.append(("arg", words[i]))
            i, positional = i + 1, positional + 1
        while i < len(words):
            word = texts[i]
            if word in _FIND_AND:
                i += 1
            elif word in _FIND_GROUP:
                flags.append(f"{utility}@{_FIND_GROUP[word]}")
                i += 1
            elif word in _EXEC:
                end = i + 1
                while end < len(words) and texts[end] not in _EXEC_END:
                    end += 1
                terminator = texts[end] if end < len(words) else ""
                flags.append(f"{utility}@{word}")
                if end > i + 1:
                    tail.append(("cmd", words[i + 1:end]))
                tail.append(("exec-end", f"{utility}@{word}" + ("+" if terminator == "+"
                                                               else ";")))
                i = end + 1
            elif word.startswith("-") and len(word) > 1:
                i = self._take(utility, word, flag_type(utility, word), words, i, flags, tail)
            else:
                tail.append(("arg", words[i]))
                i, positional = i + 1, positional + 1
        return positional


def _typed(utility: str, flag: str, kind: str | None, value: str) -> str:
    """`utility@flag:Type`, signed for quantities (`find@-mtime:+Time`)."""
    if kind is None:
        return f"{utility}@{flag}"
    kind = kind.rstrip("?")
    if kind in SIGNED_TYPES and value[:1] in ("+", "-"):
        kind = value[0] + kind
    return f"{utility}@{flag}:{kind}"


@lru_cache(maxsize=65536)
def template(code: str) -> tuple[str, ...]:
    """The template tokens of a Bash command (see the module docstring)."""
    if not isinstance(code, str) or not code.strip():
        return ()
    builder = _Templater()
    try:
        builder.walk(parse(code, "bash").root_node)
    except RecursionError:
        pass  # thousands of nested `$(`: keep the tokens read so far
    return tuple(builder.out)


def template_match(pred: str, ref: str) -> float:
    """NL2Bash template-match score in [0, 1]: cosine similarity of the bags of utilities,
    flags (with argument types) and operators of `pred` and `ref`; argument values dropped.
    Two commands with no such tokens at all (empty) score 1.0 together, 0.0 against any other."""
    a = Counter(t for t in template(pred) if t != ARG)
    b = Counter(t for t in template(ref) if t != ARG)
    if not a or not b:
        return float(not a and not b)
    dot = sum(count * b[token] for token, count in a.items())
    norm = math.sqrt(sum(c * c for c in a.values()) * sum(c * c for c in b.values()))
    return min(1.0, dot / norm)


def template_accuracy(pred: str, ref: str) -> bool:
    """True when `pred` and `ref` have the same template (argument values aside)."""
    return template(pred) == template(ref)

"""Syntactic validity (the paper's Table 3): does a generated program parse?

Python and Bash use the tree-sitter grammars (valid = the tree has no ERROR and no MISSING node);
CF rules use the project's own parser (`cf_rules.parse_rule`). tree-sitter is error-tolerant and
grammar-complete for both languages, so it accepts Python 2 `print x` statements (common in
CoNaLa) as well as Python 3; docs/evaluation.md gives the share of gold code each check accepts.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Language as TSLanguage
from tree_sitter import Parser, Tree

from codefusion.languages.cf_rules import is_valid_rule
from codefusion.languages.names import check_language


@cache
def parser(language: str) -> Parser:
    """A tree-sitter parser for `python` or `bash`, built once per process."""
    if language == "python":
        import tree_sitter_python as grammar
    elif language == "bash":
        import tree_sitter_bash as grammar
    else:
        raise ValueError(f"no tree-sitter grammar for {language!r}: use python or bash")
    return Parser(TSLanguage(grammar.language()))


def parse(code: str, language: str) -> Tree:
    """The tree-sitter tree of `code` (`language` is python or bash)."""
    # A lone surrogate (possible in JSON) cannot be encoded: read it as U+FFFD, not a crash.
    return parser(language).parse(code.encode("utf-8", errors="replace"))


def syntax_valid(code: str, language: str) -> bool:
    """True when `code` parses as `language` (python, bash or cf) without any error.

    An empty or whitespace-only program is not valid: a model that emits nothing has not
    produced code.
    """
    language = check_language(language)
    if not isinstance(code, str) or not code.strip():
        return False
    if language == "cf":
        return is_valid_rule(code)
    # `has_error` is set on the root when the tree holds an ERROR or a MISSING node anywhere.
    return not parse(code, language).root_node.has_error

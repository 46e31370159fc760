"""Exact match (the paper's App. C.1) after a light, per-language normalisation.

What counts as "the same program" here, and nothing more:
- python: the token sequence from Python's own tokenizer, so spacing between tokens, comments
  and a trailing newline do not matter, and a string literal is compared by its value (`'a'`
  equals `"a"`; f-strings are compared as written). Indentation still matters. Text the
  tokenizer rejects (an unclosed bracket) falls back to the whitespace rule below.
- bash: runs of spaces, tabs and newlines outside quotes become one space; leading and trailing
  whitespace is dropped. Nothing else changes: `2>` and `2 >` differ in Bash, so spacing next
  to operators is kept.
- cf: both rules are parsed and printed back in canonical form (function-name aliases of the two
  splits such as `top`/`Top` unified, spaces after commas, quoting of text arguments); a rule that
  does not parse falls back to the whitespace rule.
"""

from __future__ import annotations

import ast
import io
import tokenize

from codefusion.languages.cf_rules import RuleSyntaxError, parse_rule, to_source
from codefusion.languages.names import check_language

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER}


def collapse_whitespace(code: str) -> str:
    """Collapse whitespace runs outside single or double quotes into one space; strip ends."""
    out: list[str] = []
    quote: str | None = None
    pending_space = False
    escaped = False
    for ch in code.strip():
        if quote is None and ch.isspace():
            pending_space = True
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        out.append(ch)
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
    return "".join(out)


def _python_tokens(code: str) -> str:
    tokens: list[str] = []
    for tok in tokenize.generate_tokens(io.StringIO(code.strip() + "\n").readline):
        if tok.type in _SKIP:
            continue
        text = tok.string
        if tok.type == tokenize.STRING and "f" not in text[:3].lower():
            try:
                text = repr(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                pass
        if tok.type == tokenize.NEWLINE:
            text = "\n"
        elif tok.type in (tokenize.INDENT, tokenize.DEDENT):
            # The block structure matters, the width of an indent does not.
            text = "<indent>" if tok.type == tokenize.INDENT else "<dedent>"
        tokens.append(text)
    while tokens and tokens[-1] in ("\n", "<dedent>"):  # the program's closing tokens
        tokens.pop()
    return " ".join(tokens)


def normalize(code: str, language: str) -> str:
    """The normalised form that `exact_match` compares (see the module docstring)."""
    language = check_language(language)
    code = code if isinstance(code, str) else ""
    if language == "python":
        try:
            return _python_tokens(code)
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return collapse_whitespace(code)
    if language == "cf":
        try:
            return to_source(parse_rule(code))
        except RuleSyntaxError:
            return collapse_whitespace(code)
    return collapse_whitespace(code)


def exact_match(pred: str, ref: str, language: str) -> bool:
    """True when `pred` and `ref` are the same program after light normalisation."""
    return normalize(pred, language) == normalize(ref, language)

"""The `nl2bash` mode (the default): NL2Bash's own tool as issue 16 describes its behaviour, each
case hand-checked, and against the `structural` mode where the two differ."""

from __future__ import annotations

import math

import pytest

from codefusion.evaluation import template_accuracy, template_match
from codefusion.languages.bash_nl2bash import GRAMMAR_UTILITIES, word_cosine
from codefusion.languages.bash_template import nl2bash_unreadable, template

S = "structural"


def test_grammar_lists_the_115_utilities() -> None:
    assert len(GRAMMAR_UTILITIES) == 115
    assert {"find", "xargs", "egrep", "zless"} <= GRAMMAR_UTILITIES
    assert not {"alias", "sudo", "perl", "ssh", "printf"} & GRAMMAR_UTILITIES


@pytest.mark.parametrize("command, reason", [
    ("alias ll='ls -l'", "utility alias"),
    ("ls | perl -ne 'print'", "utility perl"),
    ("find . -type f | xargs dos2unix", "utility dos2unix"),  # a nested utility too
    ("find . -exec stat {} \\;", "utility stat"),
    ("sort f > out", "redirection"),
    ("find . -name x 2>/dev/null", "redirection"),
    ("x=$(ls)", "assignment"),
    ("for f in *; do echo $f; done", "compound command"),
    ("cd /tmp && for f in *; do echo $f; done", "compound command"),
    ("find . -name 'unterminated", "syntax error"),
    ("find . -exec sh -c 'mv \"$1\" \"$1.bak\"' _ {} \\;", "sh -c body with $0/$1"),
    ("find . -foo", "find flag -foo"),
    ("$CMD -l", "utility $VAR"),
    ("", "empty"),
])
def test_commands_its_parser_cannot_read(command: str, reason: str) -> None:
    assert nl2bash_unreadable(command) == reason


@pytest.mark.parametrize("command", [
    "find . -name '*.txt' | xargs grep -l foo", "ls && cd /tmp", "sh -c 'echo hi'",
    "echo $(pwd)", "diff <(sort a) <(sort b)", "sudo rm -rf /tmp/x", "egrep -r x .",
])
def test_commands_its_parser_reads(command: str) -> None:
    assert nl2bash_unreadable(command) is None


def test_fallback_is_the_cosine_of_whitespace_words() -> None:
    # [alias, ll='ls, -l'] against [alias, la='ls, -a']: one word shared of three each.
    assert template_match("alias ll='ls -l'", "alias la='ls -a'") == pytest.approx(1 / 3)
    assert template_match("alias ll='ls -l'", "alias la='ls -a'", S) == 1.0  # {alias}
    # A redirection: {sort, f, >, out} against {sort, -u, f, >, out2}: 3 / (2 * sqrt(5)).
    assert template_match("sort f > out", "sort -u f > out2") == \
        pytest.approx(3 / (2 * math.sqrt(5)))
    # {sort, >} against {sort, sort@-u, >}: 2 / (sqrt(2) * sqrt(3)).
    assert template_match("sort f > out", "sort -u f > out2", S) == pytest.approx(2 / math.sqrt(6))
    # One unreadable side is enough: [sh, -c, 'echo, $1', x] against [sh, -c, 'echo, hi', x].
    assert template_match("sh -c 'echo $1' x", "sh -c 'echo hi' x") == pytest.approx(4 / 5)
    assert template_match("sh -c 'echo $1' x", "sh -c 'echo hi' x", S) == 1.0
    # A utility outside the grammar against a readable command: [perl, -pi, -e, 's/a/b/', f]
    # against [sed, -i, 's/a/b/', f]: 2 / (sqrt(5) * 2).
    assert template_match("perl -pi -e 's/a/b/' f", "sed -i 's/a/b/' f") == \
        pytest.approx(1 / math.sqrt(5))
    assert template_match("perl -pi -e 's/a/b/' f", "sed -i 's/a/b/' f", S) == 0.0
    # A syntax error: [find, ., -name, 'x] against [find, ., -name, y].
    assert template_match("find . -name 'x", "find . -name y") == pytest.approx(3 / 4)
    # A find flag the grammar does not know: [find, ., -foo] against [find, ., -print].
    assert template_match("find . -foo", "find . -print") == pytest.approx(2 / 3)
    assert word_cosine("", "") == 1.0 and word_cosine("", "ls") == 0.0


def test_fallback_accuracy_compares_the_words() -> None:
    assert template_accuracy("alias ll='ls -l'", "alias  ll='ls -l'")
    assert not template_accuracy("alias ll='ls -l'", "alias la='ls -a'")
    assert template_accuracy("alias ll='ls -l'", "alias la='ls -a'", S)


def test_flags_are_not_their_utility_s() -> None:
    # {ls, -l} against {wc, -l}: the flag token is shared.
    assert template_match("ls -l", "wc -l") == pytest.approx(0.5)
    assert template_match("ls -l", "wc -l", S) == 0.0
    # ... but the argument type is part of it: {head, -n:Number} against {grep, -n, ARG...}.
    assert template_match("head -n 3 f", "grep -n x f") == 0.0


def test_signs_of_quantities_are_dropped() -> None:
    assert template_match("find . -mtime +7", "find . -mtime -7") == 1.0
    assert template_match("find . -size +10M", "find . -size -10M") == 1.0
    assert template_match("find . -mtime +7", "find . -mtime -7", S) == pytest.approx(0.5)


def test_every_sudo_is_deleted() -> None:
    assert template("sudo rm -rf /tmp/x") == template("rm -rf /tmp/y")
    assert template_match("sudo rm -rf /tmp/x", "rm -rf /tmp/y") == 1.0
    assert template_match("ls | sudo xargs rm", "ls | xargs rm") == 1.0
    # {sudo, rm, rm@-r, rm@-f} against {rm, rm@-r, rm@-f}: 3 / (2 * sqrt(3)).
    assert template_match("sudo rm -rf /tmp/x", "rm -rf /tmp/y", S) == \
        pytest.approx(3 / (2 * math.sqrt(3)))


def test_not_and_bang_differ() -> None:
    # {find, !, -name:Pattern} against {find, -not, -name:Pattern}: 2 of 3.
    assert template_match("find . ! -name a", "find . -not -name a") == pytest.approx(2 / 3)
    assert template_match("find . ! -name a", "find . -not -name a", S) == 1.0
    assert template_match("find . -name a -o -name b", "find . -name a -or -name b") == 1.0


def test_find_a_is_kept() -> None:
    # {find, -name, -a, -type} against {find, -name, -type}: 3 / (2 * sqrt(3)).
    assert template_match("find . -name a -a -type f", "find . -name a -type f") == \
        pytest.approx(3 / (2 * math.sqrt(3)))
    assert template_match("find . -name a -a -type f", "find . -name a -type f", S) == 1.0


def test_head_digit_is_not_head_n() -> None:
    # {head, -NUM:Number} against {head, -n:Number}.
    assert template_match("head -5 f", "head -n 5 f") == pytest.approx(0.5)
    assert template_match("head -5 f", "head -20 g") == 1.0
    assert template_match("head -5 f", "head -n 5 f", S) == 1.0


def test_egrep_is_grep_e() -> None:
    assert template("egrep 'a|b' f") == template("grep -E 'a|b' f") == ("grep", "-E", "ARG", "ARG")
    assert template_match("egrep 'a|b' f", "grep -E 'a|b' f") == 1.0
    assert template_match("egrep 'a|b' f", "grep -E 'a|b' f", S) == 0.0


def test_xargs_command_is_xargs_i_placeholder() -> None:
    assert template("ls | xargs rm") == template("ls | xargs -I {} rm {}")
    assert " ".join(template("ls | xargs rm")) == "ls | xargs -I:String rm ARG"
    assert template_accuracy("ls | xargs rm", "ls | xargs -I {} rm {}")
    assert template_match("find . | xargs -n 1 wc -l", "find . | xargs -n 1 -I {} wc -l {}") == 1.0
    # {ls, |, xargs, rm} against {ls, |, xargs, xargs@-I:String, rm}: 4 / (2 * sqrt(5)).
    assert template_match("ls | xargs rm", "ls | xargs -I {} rm {}", S) == \
        pytest.approx(2 / math.sqrt(5))


def test_accuracy_keeps_find_type_and_flag_order() -> None:
    assert not template_accuracy("find . -type f", "find . -type d")
    assert template_match("find . -type f", "find . -type d") == 1.0  # values dropped
    assert template_accuracy("find . -type f", "find . -type d", S)
    assert not template_accuracy("ls -l -a", "ls -a -l")
    assert template_accuracy("ls -l -a /x", "ls -l -a /y")
    assert template_match("ls -l -a", "ls -a -l") == 1.0
    assert template_accuracy("ls -l -a", "ls -a -l", S)


def test_reports_say_which_mode_is_primary() -> None:
    from codefusion.evaluation.compare import render
    from codefusion.evaluation.predictions import Prediction
    from codefusion.evaluation.report import format_table, score_predictions

    # alias: unreadable, word cosine 1/3; egrep/grep -E: 1.0 in nl2bash, 0.0 structurally.
    records = [Prediction(1, "alias la='ls -a'", ["alias ll='ls -l'"]),
               Prediction(2, "grep -E 'a|b' f", ["egrep 'a|b' f"])]
    report = score_predictions(records, "bash", encoder=None)
    assert report["primary"] == "template_match"
    assert report["template_modes"]["template_match"] == "nl2bash"
    assert report["template_modes"]["template_match_structural"] == "structural"
    assert report["metrics"]["template_match"]["top1"] == pytest.approx(100 * (1 / 3 + 1) / 2)
    assert report["metrics"]["template_match_structural"]["top1"] == pytest.approx(50.0)
    assert report["metrics"]["template_accuracy"]["top1"] == pytest.approx(50.0)
    table = format_table(report)
    assert "template match, nl2bash (primary)" in table and "template match, structural" in table
    assert "template modes: nl2bash = NL2Bash's own tool" in table
    assert "primary metric template match, nl2bash" in render(["a"], [report])

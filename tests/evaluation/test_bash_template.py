"""NL2Bash template match and template accuracy on hand-checked commands."""

from __future__ import annotations

import math

import pytest

from codefusion.evaluation import template_accuracy, template_match
from codefusion.evaluation.bash_template import template


@pytest.mark.parametrize("command, expected", [
    ("find . -mtime +7 -name '*.log' | xargs rm -f",
     "find find@-mtime:+Time find@-name:Pattern ARG | xargs rm rm@-f"),
    ("tar -czf out.tgz -C /tmp dir", "tar tar@-C:Path tar@-c tar@-f:Path tar@-z ARG"),
    ("head -5 f", "head head@-n:Number ARG"),
    ("sort -k2,2nr -t, f", "sort sort@-k:Field sort@-t:Delimiter ARG"),
    (r"find / \( -name a -o -name b \) -a -type f",
     "find find@( find@) find@-name:Pattern find@-name:Pattern find@-o find@-type:FileType ARG"),
    ("find . -type f -exec grep -l foo {} +",
     "find find@-exec find@-type:FileType ARG grep grep@-l ARG ARG find@-exec+"),
    (r"find . -name '*.txt' -exec rm {} \;",
     "find find@-exec find@-name:Pattern ARG rm ARG find@-exec;"),
    ("sudo -u bob cat f", "sudo sudo@-u:User cat ARG"),
    ("ls | xargs -I {} mv {} dir", "ls | xargs xargs@-I:String mv ARG ARG"),
    ("find . | xargs", "find ARG | xargs echo"),
    ("awk -F: '{print $1}' /etc/passwd", "awk awk@-F:Delimiter ARG ARG"),
    ("sed -i.bak 's/a/b/g' f", "sed sed@-i:String ARG ARG"),
    ("grep -rn --include='*.py' foo .",
     "grep grep@--include:Pattern grep@-n grep@-r ARG ARG"),
    ("cmd 2>&1 > out", "cmd 2>&1 >"),
    ("x=$(ls | wc -l)", "= $( ls | wc wc@-l )"),
    ("diff <(sort a) <(sort b)", "diff ARG ARG <( sort ARG ) <( sort ARG )"),
    ("echo `pwd` && cd - || exit &", "echo ARG $( pwd ) && cd ARG || exit &"),
    ("[ -f x ] && echo yes", "test test@-f end-test && echo ARG"),
    ("/usr/bin/find -L . -newer ref", "find find@-L find@-newer:Path ARG"),
    ("", ""),
])
def test_templates(command: str, expected: str) -> None:
    assert " ".join(template(command)) == expected


@pytest.mark.parametrize("a, b", [
    ("ls -la /tmp", "ls -a -l /home/user"),  # flag order and clusters, values dropped
    ("head -n 5 file.txt", "head -20 other.txt"),
    ("find . -name '*.c' -a -type f", "find /src -type f -name '*.h'"),  # -a means nothing
    ("tar -zcvf a.tgz d", "tar -c -v -z -f b.tgz e"),
    ("cat a | sort -u > b", "cat x|sort -u >y"),
])
def test_same_template_scores_one(a: str, b: str) -> None:
    assert template_accuracy(a, b)
    assert template_match(a, b) == pytest.approx(1.0)


def test_scores_are_cosines_of_token_bags() -> None:
    # {ls, ls@-l} against {ls, ls@-l, ls@-a}: 2 / (sqrt(2) * sqrt(3)).
    assert template_match("ls -l", "ls -la") == pytest.approx(2 / math.sqrt(6))
    assert template_match("ls -l", "wc -l") == 0.0  # a flag belongs to its utility
    # {find, find@-mtime:+Time} vs {find, find@-mtime:-Time}: the sign of a quantity matters.
    assert template_match("find . -mtime +7", "find . -mtime -7") == pytest.approx(0.5)
    # One extra pipe stage: {cat, |, wc, wc@-l} vs {cat}.
    assert template_match("cat f | wc -l", "cat f") == pytest.approx(1 / 2)
    assert template_match("", "") == 1.0 and template_match("", "ls") == 0.0
    assert template_match("ls", "") == 0.0


def test_long_and_short_spellings_stay_apart() -> None:
    # No synonym table (NL2Bash has none either): `-e` and `--regexp` are different tokens.
    assert template_match("grep -e x f", "grep --regexp=y g") == pytest.approx(0.5)


def test_argument_count_matters_only_to_accuracy() -> None:
    assert template_match("rm a b", "rm a") == 1.0
    assert not template_accuracy("rm a b", "rm a")


def test_broken_commands_are_scored_not_raised() -> None:
    for broken in ("find . -name 'unterminated", "grep <PATTERN> |", ")))", "for do done",
                   "\x00\x01", "a" * 5000):
        score = template_match(broken, "find . -name x")
        assert 0.0 <= score <= 1.0
        assert template_match(broken, broken) == 1.0

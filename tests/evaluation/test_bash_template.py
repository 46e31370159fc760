"""Template match and accuracy in the `structural` mode, and the parser fixes both modes share,
on hand-checked commands (the `nl2bash` mode: test_bash_nl2bash.py)."""

from __future__ import annotations

import math

import pytest

from codefusion.evaluation import template_accuracy, template_match
from codefusion.languages.bash_template import MODES, template

S = "structural"


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
    assert " ".join(template(command, S)) == expected


@pytest.mark.parametrize("a, b", [
    ("ls -la /tmp", "ls -a -l /home/user"),  # flag order and clusters, values dropped
    ("head -n 5 file.txt", "head -20 other.txt"),
    ("find . -name '*.c' -a -type f", "find /src -type f -name '*.h'"),  # -a means nothing
    ("tar -zcvf a.tgz d", "tar -c -v -z -f b.tgz e"),
    ("cat a | sort -u > b", "cat x|sort -u >y"),
])
def test_same_template_scores_one(a: str, b: str) -> None:
    assert template_accuracy(a, b, S)
    assert template_match(a, b, S) == pytest.approx(1.0)


def test_scores_are_cosines_of_token_bags() -> None:
    # {ls, ls@-l} against {ls, ls@-l, ls@-a}: 2 / (sqrt(2) * sqrt(3)).
    assert template_match("ls -l", "ls -la", S) == pytest.approx(2 / math.sqrt(6))
    assert template_match("ls -l", "wc -l", S) == 0.0  # a flag belongs to its utility
    # {find, find@-mtime:+Time} vs {find, find@-mtime:-Time}: the sign of a quantity matters.
    assert template_match("find . -mtime +7", "find . -mtime -7", S) == pytest.approx(0.5)
    # One extra pipe stage: {cat, |, wc, wc@-l} vs {cat}.
    assert template_match("cat f | wc -l", "cat f", S) == pytest.approx(1 / 2)
    assert template_match("", "", S) == 1.0 and template_match("", "ls", S) == 0.0
    assert template_match("ls", "", S) == 0.0


def test_long_and_short_spellings_stay_apart() -> None:
    # No synonym table (NL2Bash has none either): `-e` and `--regexp` are different tokens.
    assert template_match("grep -e x f", "grep --regexp=y g", S) == pytest.approx(0.5)


def test_argument_count_matters_only_to_accuracy() -> None:
    assert template_match("rm a b", "rm a", S) == 1.0
    assert not template_accuracy("rm a b", "rm a", S)


@pytest.mark.parametrize("mode", MODES)
def test_broken_commands_are_scored_not_raised(mode: str) -> None:
    for broken in ("find . -name 'unterminated", "grep <PATTERN> |", ")))", "for do done",
                   "\x00\x01", "a" * 5000):
        score = template_match(broken, "find . -name x", mode)
        assert 0.0 <= score <= 1.0
        assert template_match(broken, broken, mode) == 1.0
        assert template_accuracy(broken, broken, mode)


def test_unknown_mode_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown template mode 'nl2bsh': use one of nl2bash, "
                                         "structural"):
        template_match("ls", "ls", "nl2bsh")  # type: ignore[arg-type]


# The four parser bugs of issue 16, fixed in both modes.

def test_tar_keys_without_a_dash_are_flags() -> None:
    # `tar xzf` was read as three positional arguments; it is `tar -x -z -f FILE`.
    assert " ".join(template("tar xzf a.tgz", S)) == "tar tar@-f:Path tar@-x tar@-z"
    assert " ".join(template("tar xzf a.tgz", "nl2bash")) == "tar -x -z -f:Path"
    assert " ".join(template("tar cvf out.tar dir", S)) == \
        "tar tar@-c tar@-f:Path tar@-v ARG"
    for mode in MODES:
        assert template_match("tar xzf a.tgz", "tar -x -z -f b.tgz", mode) == 1.0
        assert template_accuracy("tar xzf a.tgz", "tar -xzf b.tgz", mode)
    assert " ".join(template("tar archive.tar", S)) == "tar ARG"  # no function letter: a file


def test_escaped_plus_ends_exec_like_plus() -> None:
    plus, escaped, semi = (r"find . -exec grep -l x {} +", r"find . -exec grep -l x {} \+",
                           r"find . -exec grep -l x {} \;")
    assert template(escaped, S)[-1] == "find@-exec+"
    assert template(semi, S)[-1] == "find@-exec;"
    assert template(escaped, "nl2bash")[-1] == "+"
    for mode in MODES:
        assert template(escaped, mode) == template(plus, mode)
    # {find, -exec, grep, -l, +} against {..., \;}: 4 of 5 tokens shared.
    assert template_match(escaped, semi, "nl2bash") == pytest.approx(4 / 5)
    # {find, find@-exec, grep, grep@-l, find@-exec+} against {..., find@-exec;}: 4 of 5.
    assert template_match(escaped, semi, S) == pytest.approx(4 / 5)


def test_kill_signal_is_one_flag() -> None:
    # `kill -INT` was split into -I -N -T.
    assert " ".join(template("kill -INT 1234", S)) == "kill kill@-s:Signal ARG"
    assert template("kill -INT 1234", S) == template("kill -s INT 99", S) == \
        template("kill -9 99", S) == template("kill -SIGKILL 99", S)
    assert " ".join(template("kill -INT 1234", "nl2bash")) == "kill -SIGNAL:Signal ARG"
    assert template_match("kill -INT 1", "kill -9 2", "nl2bash") == 1.0
    assert template_match("kill -INT 1", "kill -l", S) == pytest.approx(0.5)


def test_unescaped_parentheses_in_find_group() -> None:
    bare, escaped = ("find . ( -name '*.c' -o -name '*.h' ) -print",
                     r"find . \( -name '*.c' -o -name '*.h' \) -print")
    assert " ".join(template(bare, S)) == ("find find@( find@) find@-name:Pattern "
                                          "find@-name:Pattern find@-o find@-print ARG")
    assert " ".join(template(bare, "nl2bash")) == \
        r"find ARG \( -name:Pattern -o -name:Pattern \) -print"
    for mode in MODES:
        assert template(bare, mode) == template(escaped, mode)
        assert template_match(bare, escaped, mode) == 1.0

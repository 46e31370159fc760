"""Which flags of the common Bash utilities take an argument, and of what type.

Template match turns `find . -mtime +7 -name '*.log'` into `find`, `find@-mtime:+Time`,
`find@-name:Pattern`: the argument values are dropped but a flag keeps the *type* of its argument.
This table is what makes that possible. It also decides how a short-flag cluster splits
(`tar -czf out.tgz` is `-c -z -f:Path`) and where a flag's argument ends.

The table covers the utilities that appear most in NL2Bash (find, xargs, grep, sort, awk, sed,
cut, head, tail, ...): 93% of the benchmark's 12,607 commands use no other utility. A flag missing from the
table is still counted, untyped, and is assumed to take no argument. Types:
Path, Pattern (glob), Regex, Script (awk/sed/perl program), Number, Size, Time, Permission,
User, Group, FileType, Format, Field, Delimiter, Signal, Command, String.
A type ending in `?` marks an optional argument that can only be attached (`sed -i.bak`,
`xargs -i{}`): it never takes the next word.
"""

from __future__ import annotations

_SPECS: dict[str, str] = {
    "find": "-name:Pattern -iname:Pattern -path:Pattern -ipath:Pattern -wholename:Pattern "
            "-iwholename:Pattern -lname:Pattern -ilname:Pattern -regex:Regex -iregex:Regex "
            "-regextype:String -type:FileType -xtype:FileType -mtime:Time -atime:Time "
            "-ctime:Time -mmin:Time -amin:Time -cmin:Time -used:Time -size:Size "
            "-perm:Permission -user:User -group:Group -uid:Number -gid:Number "
            "-maxdepth:Number -mindepth:Number -newer:Path -anewer:Path -cnewer:Path "
            "-newermt:String -samefile:Path -inum:Number -links:Number -printf:Format "
            "-fprintf:Path -fprint:Path -fprint0:Path -fls:Path -fstype:String "
            "-context:Pattern -newerct:String -newerat:String",
    "grep": "-e:Regex -f:Path -m:Number -A:Number -B:Number -C:Number -d:String -D:String "
            "--regexp:Regex --file:Path --max-count:Number --after-context:Number "
            "--before-context:Number --context:Number --include:Pattern --exclude:Pattern "
            "--exclude-dir:Pattern --exclude-from:Path --color:String? --colour:String? "
            "--label:String --directories:String --devices:String --binary-files:String",
    "xargs": "-I:String -i:String? -n:Number -L:Number -l:Number? -P:Number -d:Delimiter "
             "-E:String -e:String? -s:Number -a:Path --max-args:Number --max-lines:Number "
             "--max-procs:Number --delimiter:Delimiter --replace:String? --arg-file:Path "
             "--eof:String?",
    "sort": "-k:Field -t:Delimiter -o:Path -S:Size -T:Path --key:Field "
            "--field-separator:Delimiter --output:Path --buffer-size:Size "
            "--temporary-directory:Path --parallel:Number --files0-from:Path",
    "awk": "-F:Delimiter -v:String -f:Path --field-separator:Delimiter --assign:String "
           "--file:Path",
    "sed": "-e:Script -f:Path -i:String? -l:Number --expression:Script --file:Path "
           "--in-place:String? --line-length:Number",
    "perl": "-e:Script -E:Script -F:Delimiter -I:Path -M:String -i:String? -l:String? "
            "-0:String?",
    "cut": "-d:Delimiter -f:Field -c:Field -b:Field --delimiter:Delimiter --fields:Field "
           "--characters:Field --bytes:Field --output-delimiter:Delimiter",
    "head": "-n:Number -c:Size --lines:Number --bytes:Size",
    "tail": "-n:Number -c:Size -s:Number --lines:Number --bytes:Size --pid:Number "
            "--sleep-interval:Number",
    "wc": "--files0-from:Path",
    "tr": "",
    "ls": "-I:Pattern -w:Number -T:Number --ignore:Pattern --hide:Pattern --width:Number "
          "--sort:String --time:String --color:String? --format:String "
          "--block-size:Size --time-style:String --indicator-style:String",
    "cp": "-t:Path -S:String --target-directory:Path --suffix:String --backup:String? "
          "--reflink:String? --preserve:String? --sparse:String",
    "mv": "-t:Path -S:String --target-directory:Path --suffix:String --backup:String?",
    "ln": "-t:Path -S:String --target-directory:Path --suffix:String --backup:String?",
    "rm": "",
    "mkdir": "-m:Permission --mode:Permission",
    "chmod": "--reference:Path",
    "chown": "--reference:Path --from:User",
    "chgrp": "--reference:Path",
    "touch": "-d:String -t:String -r:Path --date:String --reference:Path",
    "tar": "-f:Path -C:Path -T:Path -X:Path -I:Command -b:Number -N:String -g:Path "
           "--file:Path --directory:Path --files-from:Path --exclude-from:Path "
           "--exclude:Pattern --use-compress-program:Command --newer:String "
           "--newer-mtime:String --transform:String --strip-components:Number "
           "--owner:User --group:Group --mode:Permission --format:String",
    "du": "-d:Number -B:Size -X:Path -t:Size --max-depth:Number --block-size:Size "
          "--exclude:Pattern --exclude-from:Path --files0-from:Path --threshold:Size "
          "--time-style:String --time:String?",
    "df": "-B:Size -t:String -x:String --block-size:Size --type:String "
          "--exclude-type:String --output:String?",
    "ps": "-o:Format -O:Format -p:Number -u:User -U:User -C:String -g:Group -G:Group "
          "-t:String -k:String --pid:Number --ppid:Number --sort:String --format:Format "
          "--user:User",
    "kill": "-s:Signal -n:Number",
    "killall": "-s:Signal -u:User --signal:Signal --user:User",
    "pkill": "-u:User -U:User -g:Group -P:Number -t:String",
    "pgrep": "-u:User -U:User -g:Group -P:Number -t:String",
    "date": "-d:String -r:Path -f:Path -s:String -I:String? --date:String --reference:Path "
            "--file:Path --set:String --iso-8601:String? --rfc-3339:String",
    "ssh": "-i:Path -p:Number -l:User -o:String -L:String -R:String -D:String -F:Path "
           "-S:Path -O:String -c:String -b:String -e:String -J:String -W:String -w:String "
           "-m:String -Q:String -E:Path -B:String -I:String",
    "scp": "-P:Number -i:Path -o:String -F:Path -l:Number -c:String -S:Command",
    "rsync": "-e:Command -f:String -T:Path --rsh:Command --exclude:Pattern "
             "--include:Pattern --exclude-from:Path --include-from:Path --files-from:Path "
             "--rsync-path:Command --bwlimit:Number --max-size:Size --min-size:Size "
             "--log-file:Path --out-format:Format --filter:String --temp-dir:Path "
             "--backup-dir:Path --chmod:Permission --timeout:Number --compare-dest:Path "
             "--link-dest:Path",
    "split": "-l:Number -b:Size -C:Size -n:String -a:Number --lines:Number --bytes:Size "
             "--line-bytes:Size --number:String --suffix-length:Number "
             "--additional-suffix:String --filter:Command --numeric-suffixes:Number?",
    "read": "-p:String -d:Delimiter -n:Number -N:Number -t:Number -u:Number -a:String "
            "-i:String",
    "uniq": "-f:Number -s:Number -w:Number --skip-fields:Number --skip-chars:Number "
            "--check-chars:Number --all-repeated:String? --group:String?",
    "mount": "-o:String -t:String -L:String -U:String -O:String --types:String "
             "--options:String",
    "paste": "-d:Delimiter --delimiters:Delimiter",
    "join": "-t:Delimiter -1:Field -2:Field -j:Field -o:Format -a:Number -v:Number -e:String",
    "column": "-s:Delimiter -c:Number -o:Delimiter -N:String -R:String",
    "od": "-t:Format -A:String -N:Size -j:Size -w:Number? -S:Number? --format:Format "
          "--address-radix:String --read-bytes:Size --skip-bytes:Size --width:Number?",
    "nl": "-b:String -n:String -s:Delimiter -w:Number -v:Number -i:Number -h:String "
          "-f:String -d:String -l:Number",
    "fold": "-w:Number --width:Number",
    "seq": "-s:Delimiter -f:Format --separator:Delimiter --format:Format",
    "tac": "-s:Delimiter --separator:Delimiter",
    "mktemp": "-p:Path --tmpdir:Path? --suffix:String",
    "ping": "-c:Number -i:Number -I:String -s:Size -t:Number -w:Number -W:Number "
            "-p:String -Q:String -l:Number",
    "curl": "-o:Path -u:User -X:String -H:String -d:String -A:String -e:String -b:String "
            "-c:Path -x:String -T:Path -w:Format -m:Number -r:String -C:String -F:String "
            "-K:Path --output:Path --user:User --request:String --header:String "
            "--data:String --data-urlencode:String --user-agent:String --proxy:String "
            "--proxy-user:User --socks5:String --max-time:Number --connect-timeout:Number "
            "--retry:Number",
    "wget": "-O:Path -o:Path -P:Path -U:String -t:Number -T:Number -w:Number -e:String "
            "-i:Path -A:Pattern -R:Pattern -l:Number -Q:Size --output-document:Path "
            "--user:User --password:String --tries:Number --timeout:Number "
            "--directory-prefix:Path --user-agent:String --limit-rate:Size --header:String "
            "--accept:Pattern --reject:Pattern --level:Number",
    "gzip": "-S:String --suffix:String",
    "zip": "-x:Pattern -i:Pattern -P:String -s:Size -b:Path -n:String",
    "diff": "-x:Pattern -X:Path -U:Number -C:Number -I:Regex -W:Number -S:Path -F:Regex "
            "--exclude:Pattern --exclude-from:Path --unified:Number? --context:Number? "
            "--width:Number --new-line-format:Format --old-line-format:Format "
            "--unchanged-line-format:Format --line-format:Format "
            "--ignore-matching-lines:Regex --label:String",
    "comm": "--output-delimiter:Delimiter",
    "history": "-d:Number",
    "less": "-p:Pattern -x:Number -y:Number -b:Number -h:Number -j:Number -z:Number "
            "-o:Path -P:String -t:String -T:Path",
    "tree": "-L:Number -P:Pattern -I:Pattern -o:Path --filelimit:Number --timefmt:Format "
            "--charset:String -H:String",
    "top": "-n:Number -d:Number -p:Number -u:User -U:User -o:String -s:Number "
           "-stats:Format -pid:Number -l:Number",
    "cpio": "-H:Format -F:Path -O:Path -I:Path -E:Path -R:User -D:Path --format:Format",
    "dig": "-x:String -t:String -p:Number -f:Path -b:String -c:String -q:String -y:String "
           "-k:Path",
    "stat": "-c:Format --format:Format --printf:Format",
    "file": "-m:Path -f:Path -F:Delimiter",
    "basename": "-s:String --suffix:String",
    "crontab": "-u:User",
    "useradd": "-d:Path -g:Group -G:Group -s:Path -u:Number -c:String -e:String",
    "usermod": "-d:Path -g:Group -G:Group -s:Path -u:Number -c:String -l:User",
    "groupadd": "-g:Number",
    "mail": "-s:String -a:Path -c:String -b:String",
    "screen": "-S:String -p:String -c:Path -t:String -e:String -h:Number -s:Path -T:String",
    "tmux": "-t:String -s:String -n:String -c:Path -f:Path -L:String -S:Path",
    "python": "-c:Script -m:String -W:String -X:String",
    "bash": "-c:Script -o:String -O:String",
    "sh": "-c:Script -o:String",
    "set": "-o:String",
    "shopt": "",
    "printf": "-v:String",
    "lsof": "-p:Number -u:User -c:String -i:String? -g:Group -d:String",
    "git": "-C:Path -c:String",
    "ssh-keygen": "-t:String -b:Number -f:Path -C:String -N:String -p:String",
    "openssl": "-in:Path -out:Path",
    "iconv": "-f:String -t:String -o:Path --from-code:String --to-code:String",
    "hexdump": "-n:Number -s:Size -e:Format -f:Path",
    "jq": "--arg:String",
    # Flags of these take no argument; listed so that the table states it.
    **{name: "" for name in (
        "echo cat tee cd pwd dirname readlink which rev yes md5sum sha1sum sha256sum "
        "ifconfig hostname whoami uname who more pstree true false bc source sleep rmdir "
        "jobs groups id clear alias rename cal sync unzip").split()},
    # Wrappers: their own flags, then a whole command (handled in bash_template.py).
    "sudo": "-u:User -g:Group -p:String -C:Number -U:User -h:String?",
    "su": "-c:Command -s:Path --command:Command --session-command:Command --shell:Path",
    "nice": "-n:Number --adjustment:Number",
    "env": "-u:String -C:Path -S:String --unset:String --chdir:Path",
    "time": "-f:Format -o:Path",
    "timeout": "-s:Signal -k:Time --signal:Signal --kill-after:Time",
    "watch": "-n:Number -d:String? --interval:Number --differences:String?",
    "nohup": "",
    "exec": "-a:String",
    "command": "",
    "builtin": "",
    "parallel": "-j:Number -S:String --jobs:Number --sshlogin:String",
}

# Spellings that share a table entry.
_SAME_AS = {
    "egrep": "grep", "fgrep": "grep", "zgrep": "grep", "rgrep": "grep",
    "gawk": "awk", "mawk": "awk", "nawk": "awk", "gsed": "sed", "gfind": "find",
    "bzip2": "gzip", "xz": "gzip", "gunzip": "gzip", "zcat": "gzip", "bunzip2": "gzip",
    "python3": "python", "python2": "python", "zsh": "bash", "ksh": "bash",
}

FLAG_TYPES: dict[str, dict[str, str]] = {
    name: dict(entry.split(":", 1) for entry in spec.split()) for name, spec in _SPECS.items()
}
for _alias, _target in _SAME_AS.items():
    FLAG_TYPES[_alias] = FLAG_TYPES[_target]

# Utilities that run another command given as their trailing words.
WRAPPERS = frozenset({"sudo", "nice", "env", "time", "timeout", "watch", "nohup", "exec",
                      "command", "builtin", "xargs", "parallel"})

# Utilities whose single-dash words are whole options (`find -name`, `java -jar`), never
# clusters of one-letter flags.
NO_SPLIT = frozenset({"find", "gfind", "java", "javac", "gcc", "g++", "cc", "clang", "ffmpeg",
                      "convert", "identify", "xterm", "openssl", "test", "[", "[[", "expr"})

# `head -5` means `head -n 5`: utilities whose all-digit flag is a count for this flag.
DIGIT_FLAG = {"head": "-n", "tail": "-n", "fold": "-w"}

# `kill -INT`, `kill -9`: a signal given as the flag itself, never a cluster of letters.
SIGNAL_FLAG = frozenset({"kill", "pkill", "killall"})
SIGNALS = frozenset(
    "HUP INT QUIT ILL TRAP ABRT IOT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT "
    "STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO POLL PWR SYS".split())

# Every word GNU find reads in its expression (options, tests, actions, operators), plus the
# BSD spellings seen in NL2Bash (`-E`, `-x`, `-s`, `-d`); the nl2bash mode treats any other
# `-word` as a flag NL2Bash's grammar does not know.
FIND_WORDS = frozenset(
    "-H -L -P -D -O -E -x -s -d -daystart -depth -follow -help -ignore_readdir_race -maxdepth "
    "-mindepth -mount -noignore_readdir_race -noleaf -regextype -version -warn -nowarn -xdev "
    "-xautofs -amin -anewer -atime -cmin -cnewer -ctime -empty -executable -false -fstype -gid "
    "-group -ilname -iname -inum -ipath -iregex -iwholename -links -lname -mmin -mtime -name "
    "-newer -nogroup -nouser -path -perm -readable -regex -samefile -size -true -type -uid "
    "-used -user -wholename -writable -xtype -context -delete -exec -execdir -fls -fprint "
    "-fprint0 -fprintf -ls -ok -okdir -print -print0 -printf -prune -quit -not -a -and -o -or "
    "-newermt -newerct -newerat -newermm -neweraa -newercc -newerBt".split())

# Argument types whose sign matters (`-mtime +7` is older than a week, `-mtime -7` newer).
SIGNED_TYPES = frozenset({"Number", "Size", "Time"})


def flag_type(utility: str, flag: str) -> str | None:
    """The argument type of `flag` for `utility` (`Pattern`, `Number?`...), None if it takes
    none or is unknown."""
    return FLAG_TYPES.get(utility, {}).get(flag)

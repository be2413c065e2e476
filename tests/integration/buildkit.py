"""Read BuildKit's plain progress: which steps ran and which came from the cache."""

from __future__ import annotations

import re

_STEP = re.compile(r"^#(\d+) \[(?P<name>[^\]]+)\] (?P<what>.*)$")
# A step's layers being fetched from a cache (--cache-from) or unpacked: "sha256:<digest> 1.66MB /
# 1.66MB 0.0s done", "extracting sha256:<digest> 0.4s done".
_PULL = re.compile(r"^(extracting )?sha256:[0-9a-f]{64}\b")


def steps(log: str) -> dict[str, str]:
    """{"deps 3/3 RUN ...": "CACHED" | "RAN"} for every named step in a plain-progress log.

    A step whose result came from a registry cache prints "CACHED" only sometimes: at other times
    just its layers being pulled and unpacked, then "DONE" (seen with --cache-from type=registry
    on an empty engine). Such a step did not run: it is CACHED too."""
    names: dict[str, str] = {}
    status: dict[str, str] = {}
    pulled: set[str] = set()
    for line in log.splitlines():
        m = _STEP.match(line)
        if m:
            names.setdefault(m.group(1), f"{m.group('name')} {m.group('what')}")
            continue
        num, _, rest = line.partition(" ")
        key = names.get(num.lstrip("#"))
        if key is None:
            continue
        if rest == "CACHED":
            status[key] = "CACHED"
        elif _PULL.match(rest):
            pulled.add(key)
        elif rest.startswith("DONE") and status.get(key) != "CACHED":
            status[key] = "CACHED" if key in pulled else "RAN"
    return status


def ran(log: str, stage: str) -> list[str]:
    return [k for k, v in steps(log).items() if k.split(" ")[0] == stage and v == "RAN"]


def cached(log: str, stage: str) -> list[str]:
    return [k for k, v in steps(log).items() if k.split(" ")[0] == stage and v == "CACHED"]


_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (?P<text>.*)$")


def output(log: str, stage: str) -> list[str]:
    """What the RUN steps of ``stage`` printed ("#12 3.041 text" lines), in order."""
    numbers = {m.group(1) for m in map(_STEP.match, log.splitlines()) if m and m.group("name").split(" ")[0] == stage}
    return [m["text"] for m in map(_OUTPUT.match, log.splitlines()) if m and m.group(1) in numbers]


# Every entry under a tree (argv[1]), one line each: path, mode, owner, then "mtime" in argv[2]
# adds the mtime, then the content hash or link target. Run by the image's own interpreter.
TREE_MANIFEST = """\
import hashlib, os, stat, sys
for top, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(top, name)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            what = "-> " + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(open(p, "rb").read()).hexdigest()
        else:
            what = "dir"
        when = [int(st.st_mtime)] if sys.argv[2:] == ["mtime"] else []
        print(p, oct(st.st_mode), st.st_uid, st.st_gid, *when, what)
"""

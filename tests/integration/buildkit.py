"""Read BuildKit's plain progress: which steps ran and which came from the cache."""

from __future__ import annotations

import re

_STEP = re.compile(r"^#(\d+) \[(?P<name>[^\]]+)\] (?P<what>.*)$")


def steps(log: str) -> dict[str, str]:
    """{"deps 3/3 RUN ...": "CACHED" | "RAN"} for every named step in a plain-progress log."""
    names: dict[str, str] = {}
    status: dict[str, str] = {}
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
        elif rest.startswith("DONE") and status.get(key) != "CACHED":
            status[key] = "RAN"
    return status


def ran(log: str, stage: str) -> list[str]:
    return [k for k, v in steps(log).items() if k.split(" ")[0] == stage and v == "RAN"]


def cached(log: str, stage: str) -> list[str]:
    return [k for k, v in steps(log).items() if k.split(" ")[0] == stage and v == "CACHED"]

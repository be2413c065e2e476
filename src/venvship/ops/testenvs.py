"""Which environments the tests run with: one rule for ``venvship test`` and ``venvship tox``.

The test environments are ``--env`` (repeatable) or the ``test-envs`` setting (default
``["dev"]``). Each must exist: a missing one is refused (exit 4), naming the environment that
holds the test command's tool when exactly one does (the usual case: the project's extra is called
``test``, not ``dev``). When none of the chosen locks pins the tool (``pytest`` for ``python -m
pytest``) but another environment does, that is refused too; when no environment pins it at all
(a runner of the project's own, or one installed another way), a warning says so.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from packaging.utils import canonicalize_name

from .. import lockfile
from ..environments import BUILD_ENV, EnvironmentSet
from ..errors import InputError
from ..settings import Settings

# Standard-library runners need no environment to hold them.
_STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"unittest", "doctest"}
_PYTHON = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?$")
_COMMAND_DISTRIBUTIONS = {"py.test": "pytest"}


@dataclass(frozen=True)
class Selection:
    envs: tuple[str, ...]  # the chosen test environments
    locks: tuple[str, ...]  # what the tests install: main's closure and theirs, bases first
    tool: str | None  # the distribution the test command runs, when venvship can tell
    holders: tuple[str, ...]  # environments whose locks (or inputs) pin the tool
    warning: str | None = None


def tool_of(command: Sequence[str]) -> str | None:
    """The distribution ``command`` needs: ``python -m pytest`` and ``pytest`` need pytest;
    ``python -m unittest`` needs none (None: nothing to check)."""
    if not command:
        return None
    exe = PurePosixPath(command[0]).name
    if _PYTHON.match(exe):
        if len(command) < 3 or command[1] != "-m":
            return None
        exe = command[2].split(".")[0]
    if exe in _STDLIB:
        return None
    return str(canonicalize_name(_COMMAND_DISTRIBUTIONS.get(exe, exe)))


def pinned(settings: Settings, envs: EnvironmentSet, names: Sequence[str]) -> set[str]:
    """Distributions the locks of ``names`` pin (an environment not locked yet: its inputs)."""
    out: set[str] = set()
    for name in names:
        lock = lockfile.read(settings.lock_path(name), name)
        if lock is not None:
            out |= {str(canonicalize_name(n)) for n in lock.versions}
        else:
            out |= {line.name for line in envs.envs[name].lines}
    return out


def _setting_hint(env: str, flag: str | None) -> str:
    setting = f"set test-envs = [\"{env}\"] in [tool.venvship]"
    return f"pass {flag} {env}, or {setting}" if flag else setting


def in_image(settings: Settings, envs: EnvironmentSet) -> list[str]:
    """The test environments the Dockerfile's test stages install (with their closures): the
    ``test-envs`` that exist (a missing one is refused by ``venvship test`` and ``tox``)."""
    return [env for env in settings.tests.envs if env in envs.envs]


def select(settings: Settings, envs: EnvironmentSet, requested: Sequence[str] = (),
           flag: str | None = "--env") -> Selection:
    """The test environments for ``venvship test``, ``venvship tox`` and builds of the test
    stages (the one place). ``flag``: the command's option that names them, for the hints."""
    wanted = list(dict.fromkeys(requested or settings.tests.envs))
    where = "--env" if requested else "test-envs"
    tool = tool_of(settings.tests.command)
    candidates = [n for n in envs.order() if n not in ("main", BUILD_ENV)]
    holders = tuple(n for n in candidates if tool and tool in pinned(settings, envs, envs.closure(n)))
    missing = [e for e in wanted if e not in envs.envs]
    if missing:
        known = ", ".join(sorted(n for n in envs.envs if n != BUILD_ENV)) or "none"
        if len(holders) == 1:
            hint = f"{holders[0]!r} holds {tool}: {_setting_hint(holders[0], flag)}"
        elif holders:
            hint = f"these hold {tool}: {', '.join(holders)}; {_setting_hint(holders[0], flag)}"
        else:
            hint = ("declare the test tools in an environment (requirements/dev.in, a 'dev' "
                    "dependency group or extra) or name yours with test-envs")
        raise InputError(f"no test environment named {missing[0]!r} ({where}; known: {known})", hint=hint)
    locks = tuple(envs.closure("main", *wanted))
    warning = None
    if tool and tool not in pinned(settings, envs, locks):
        chosen = ", ".join(wanted) or "main"
        if holders:
            raise InputError(
                f"the test command runs {tool}, but the test environments ({chosen}) do not hold it",
                hint=f"{holders[0]!r} does: {_setting_hint(holders[0], flag)}" if len(holders) == 1
                else f"these hold it: {', '.join(holders)}; {_setting_hint(holders[0], flag)}",
            )
        warning = (f"the test command runs {tool}, which no environment pins (test environments: "
                   f"{chosen}); it must come from the project or the image")
    return Selection(tuple(wanted), locks, tool, holders, warning)

"""``venvship test``: build the ``test`` stage (main + test locks on the production
interpreter, the app's wheel, its tests) and run the test command in it. Its exit code is the
tests' exit code."""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from ..engine import Engine
from ..environments import EnvironmentSet
from ..settings import Settings
from . import testenvs
from .build import BuildOptions, build


@dataclass(frozen=True)
class SuiteResult:
    image: str
    exit_code: int
    build_seconds: float
    run_seconds: float
    kept: bool = True
    envs: tuple[str, ...] = ()


def image_tag(settings: Settings) -> str:
    """One tag per project directory: re-runs reuse (and replace) it, projects do not collide."""
    slug = re.sub(r"[^a-z0-9]+", "-", settings.project_name.lower()).strip("-") or "app"
    digest = hashlib.sha256(str(settings.project_dir).encode()).hexdigest()[:12]
    return f"venvship-test/{slug}:{digest}"


def command_argv(settings: Settings, args: Sequence[str]) -> list[str]:
    return [*settings.tests.command, *args]


NO_TESTS_COLLECTED = 5  # pytest's exit code when it collected nothing
TEST_DIR_NAMES = ("tests", "test", "testing")


def _dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes?, regex) per .dockerignore line, as BuildKit reads them: '#' comments, '!'
    re-includes, '*' within a path component, '**' across components, leading '/' ignored."""
    out: list[tuple[bool, re.Pattern[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if include else line).lstrip("/")
        if pattern in ("", "."):
            continue
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        out.append((not include, re.compile(f"^{regex}(/.*)?$")))
    return out


def _excluded(path: str, patterns: Sequence[tuple[bool, re.Pattern[str]]]) -> bool:
    result = False
    for excludes, regex in patterns:
        if regex.match(path):
            result = excludes
    return result


def ignored_test_dirs(project: Path) -> list[str]:
    """Test directories of the project whose every Python file (every file, without any)
    .dockerignore keeps out of the build context."""
    ignore = project / ".dockerignore"
    if not ignore.is_file():
        return []
    patterns = _dockerignore_patterns(ignore.read_text(encoding="utf-8", errors="replace"))
    found: list[str] = []
    for name in TEST_DIR_NAMES:
        directory = project / name
        if not directory.is_dir():
            continue
        files = [p.relative_to(project).as_posix() for p in sorted(directory.rglob("*")) if p.is_file()]
        files = ([f for f in files if f.endswith(".py")] or files)[:500]  # the test modules
        if files and all(_excluded(f, patterns) for f in files):
            found.append(name)
    return found


def run_tests(settings: Settings, envs: EnvironmentSet, engine: Engine, *, args: Sequence[str] = (),
              requested: Sequence[str] = (), env_vars: Mapping[str, str] | None = None,
              network: str | None = None, keep_image: bool = False, no_cache: bool = False,
              allow_stale: bool = False, build_stream: IO[str] | None = None, out: IO[str],
              say: Callable[[str], None] = lambda text: None) -> SuiteResult:
    """Build the test stage with the test environments :func:`testenvs.select` picks, run the
    test command in it (with ``env_vars``, on ``network``), and remove the image unless
    ``keep_image``."""
    chosen = testenvs.select(settings, envs, requested)
    if chosen.warning:
        say(f"venvship: warning: {chosen.warning}")
    settings = replace(settings, tests=replace(settings.tests, envs=chosen.envs))
    if network is not None:
        engine.require_network(network)
    tag = image_tag(settings)
    opts = BuildOptions(images=(tag,), target="test", no_cache=no_cache, allow_stale=allow_stale)
    try:
        summary = build(settings, envs, engine, opts, stream=build_stream)
        started = time.monotonic()
        with engine.started(tag, command=command_argv(settings, args), environment=dict(env_vars or {}),
                            **({"network": network} if network else {})) as container:
            for chunk in container.logs(stream=True, follow=True):
                out.write(chunk.decode("utf-8", "replace"))
                out.flush()
            status = container.wait()
    finally:
        if not keep_image:
            engine.remove_image(tag)
    code = int(status.get("StatusCode", 1))
    if code == NO_TESTS_COLLECTED:
        for name in ignored_test_dirs(settings.project_dir):
            say(f"venvship: hint: the tests collected nothing, and .dockerignore keeps {name}/ out of "
                f"the build context, so the test image has no {name}/ (add '!{name}' to .dockerignore)")
    return SuiteResult(tag, code, summary.seconds, time.monotonic() - started, kept=keep_image,
                       envs=chosen.envs)

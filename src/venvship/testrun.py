"""``venvship test``: build the ``test`` stage (main + test locks on the production
interpreter, the app's wheel, its tests) and run the test command in it. Its exit code is the
tests' exit code."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from .build import BuildOptions, build
from .engine import Engine
from .environments import EnvironmentSet
from .settings import Settings


@dataclass(frozen=True)
class SuiteResult:
    image: str
    exit_code: int
    build_seconds: float
    run_seconds: float


def image_tag(settings: Settings) -> str:
    """One tag per project directory: re-runs reuse (and replace) it, projects do not collide."""
    slug = re.sub(r"[^a-z0-9]+", "-", settings.project_name.lower()).strip("-") or "app"
    digest = hashlib.sha256(str(settings.project_dir).encode()).hexdigest()[:12]
    return f"venvship-test/{slug}:{digest}"


def command_argv(settings: Settings, args: Sequence[str]) -> list[str]:
    return [*settings.test_command, *args]


def run_tests(settings: Settings, envs: EnvironmentSet, engine: Engine, *, args: Sequence[str] = (),
              no_cache: bool = False, allow_stale: bool = False,
              build_stream: IO[str] | None = None, out: IO[str]) -> SuiteResult:
    tag = image_tag(settings)
    opts = BuildOptions(images=(tag,), target="test", no_cache=no_cache, allow_stale=allow_stale)
    summary = build(settings, envs, engine, opts, stream=build_stream)
    started = time.monotonic()
    with engine.started(tag, command=command_argv(settings, args)) as container:
        for chunk in container.logs(stream=True, follow=True):
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        status = container.wait()
    code = int(status.get("StatusCode", 1))
    return SuiteResult(tag, code, summary.seconds, time.monotonic() - started)

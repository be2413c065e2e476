"""The command line. Thin: parse, load settings once, call the logic in ``venvship.ops``, print.

This module holds the one typer ``app``, the global options (``--project/-C``, ``--progress``,
``--debug``, ``--version``) and their ``State``. Every command is a function in one of the
modules below, decorated with ``@app.command("NAME")`` on this ``app``; they register as this
module imports them, at its end, in the order ``venvship --help`` lists them. Commands are
grouped by what they act on, a module named like the operation it drives where there is one
(``cli/lock.py`` drives ``ops/lock.py``); ``State.of(ctx)`` gives a command the global options:

- ``lock``: lock (ops.lock)
- ``build``: dockerfile, build, verify (the image: render it, build it, check it)
- ``info``: envs, doctor (read-only reports on the project and on this machine)
- ``export``: export (ops.export)
- ``install``: install, sync (ops.install: the locks in a virtualenv on this host)
- ``testing``: tox, test (the test environments: ops.tox, ops.testrun)
- ``sbom``: sbom (ops.sbom)
- ``ci``: ci (ops.ci)

``parsing`` is how the command line is parsed and shown beyond typer's defaults.
Command modules import the logic inside each command, so ``venvship --help`` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Optional, cast

import typer

from .. import __version__
from ..errors import EXIT_CODES
from .parsing import VenvshipGroup, VenvshipTyper

if TYPE_CHECKING:  # imported where used: `venvship --help` does not load the logic
    from ..engine import Engine
    from ..environments import EnvironmentSet
    from ..settings import Settings

app = VenvshipTyper(
    name="venvship",
    help="From direct dependencies to a production container image: hashed locks compiled "
    "inside the target image, a multi-stage Dockerfile, BuildKit builds, verified images.",
    cls=VenvshipGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
)

Progress = Literal["auto", "plain", "quiet"]
PROGRESS: dict[str, Progress] = {"auto": "auto", "plain": "plain", "quiet": "quiet"}


@dataclass(frozen=True)
class State:
    """The global options (``ctx.obj`` of every command): where the project is, how to show progress."""

    project: Path
    debug: bool
    progress: Progress
    platforms: tuple[str, ...] = ()  # --platform: this run's platforms, in place of the setting

    @staticmethod
    def of(ctx: typer.Context) -> State:
        state = ctx.obj
        if not isinstance(state, State):  # root() sets it before any command runs
            raise TypeError(f"venvship's command context holds {state!r}, not a State")
        return state

    def settings(self, **overrides: str | None) -> Settings:
        """The project's settings, read once; ``overrides``: the command's flags (None: not given).
        They are for this run's platform: the first of --platform, else of the platforms setting,
        else the engine's own (its locks and base image)."""
        from ..settings import load_settings

        return self.on_platform(load_settings(self.project, overrides))

    def on_platform(self, settings: Settings, platform: str | None = None) -> Settings:
        """``settings`` for ``platform`` (default: this run's first); the engine is asked for its
        own platform only when that decides a lock's file name or the base image."""
        from ..settings import ARCH_PLACEHOLDER

        targets = settings.platforms.targets
        platform = platform or (self.platforms[0] if self.platforms else None)
        if (platform is None and not targets and not settings.platforms.base_images
                and ARCH_PLACEHOLDER not in settings.image.base):
            return settings  # the engine's own platform: ENV.txt and base-image as it is
        native = "" if targets else new_engine().platform()
        return settings.for_platform(platform or (targets[0] if targets else native), native)

    def stream(self, quiet: bool = False) -> IO[str] | None:
        """Where long work (builds, the lock stage) shows its progress; None: nowhere."""
        if quiet or self.progress == "quiet":
            return None
        if self.progress == "plain":
            return sys.stderr
        # The operations only write() and flush() their stream (proc.run_streaming).
        return cast("IO[str]", _Condensed(sys.stderr))


class _Condensed:
    """Progress for long work without BuildKit's full log: one line per step, and its outcome."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.steps: dict[str, str] = {}

    def write(self, line: str) -> None:
        text = line.rstrip()
        step, _, rest = text.partition(" ")
        if step.startswith("#") and rest.startswith("[") and not rest.startswith("[internal]"):
            if step not in self.steps:
                self.steps[step] = rest
                self.out.write(f"  {rest[:100]}\n")
        elif step in self.steps and rest == "CACHED":
            self.out.write(f"  {self.steps[step].split(']')[0]}] cached\n")
        elif text.startswith(("ERROR", "error:")) or (step.startswith("#") and rest.startswith("ERROR")):
            self.out.write(text + "\n")

    def flush(self) -> None:
        self.out.flush()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"venvship {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    project: Path = typer.Option(Path("."), "--project", "-C", help="The project's directory (with pyproject.toml)."),
    progress: str = typer.Option(
        "auto", help="Build output: auto (one line per step), plain (full BuildKit log), quiet."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    platform: Optional[str] = typer.Option(
        None, "--platform",
        help="Target platform(s) for this run, e.g. linux/arm64 or linux/amd64,linux/arm64, in place of "
             "the platforms setting: lock compiles each, build builds them, the other commands use the "
             "first one's locks and base image."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    mode = PROGRESS.get(progress)
    if mode is None:
        raise typer.BadParameter("must be auto, plain or quiet", param_hint="--progress")
    from ..settings import parse_platforms

    ctx.obj = State(project, debug, mode, parse_platforms(platform or "", "--platform"))


# Help lines that several commands share.
BASE_IMAGE_HELP = "Use this base image instead of the base-image setting."
RUNTIME_IMAGE_HELP = ('Use this runtime image instead of the runtime-image setting ("minimal": '
                      'FROM scratch plus a root filesystem assembled from the base image).')
NO_CACHE_HELP = "Build every step again (BuildKit's --no-cache)."


def project_envs(settings: Settings) -> EnvironmentSet:
    """The project's environments (the build environment included)."""
    from ..environments import discover

    return discover(settings)


def say(text: str) -> None:
    """A line for the user on stderr (progress, warnings): stdout stays the command's output."""
    typer.echo(text, err=True)


def new_engine() -> Engine:
    """The container engine (nothing is asked of it until a command needs it)."""
    from ..engine import Engine

    return Engine()


# The command modules, in the order `venvship --help` lists their commands (the workflow's).
# isort: off
from . import lock  # noqa: E402, F401
from . import build  # noqa: E402, F401
from . import info  # noqa: E402, F401
from . import export  # noqa: E402, F401
from . import install  # noqa: E402, F401
from . import testing  # noqa: E402, F401
from . import sbom  # noqa: E402, F401
from . import ci  # noqa: E402, F401
# isort: on

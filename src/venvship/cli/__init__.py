"""The command line. Thin: parse, load settings once, call the logic in ``venvship.ops``, print.

This module holds the one typer ``app``, the global options (``--project/-C``, ``--progress``,
``--debug``, ``--version``) and their ``State``. Every command is a function in one of the
modules below, decorated with ``@app.command("NAME")`` on this ``app``; they register as this
module imports them, at its end, in the order ``venvship --help`` lists them. The modules group
commands by the operation they drive (``cli/X.py`` is the command line of ``ops/X.py``):

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
from pathlib import Path
from typing import Any

import typer

from .. import __version__
from ..errors import EXIT_CODES
from .parsing import VenvshipTyper

app = VenvshipTyper(
    name="venvship",
    help="From direct dependencies to a production container image: hashed locks compiled "
    "inside the target image, a multi-stage Dockerfile, BuildKit builds, verified images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
)


class State:
    def __init__(self, project: Path, debug: bool, progress: str) -> None:
        self.project = project
        self.debug = debug
        self.progress = progress

    def settings(self, **overrides: Any) -> Any:
        from ..settings import load_settings

        return load_settings(self.project, overrides)

    def stream(self, quiet: bool = False) -> Any:
        if quiet or self.progress == "quiet":
            return None
        return sys.stderr if self.progress == "plain" else _Condensed(sys.stderr)


class _Condensed:
    """Progress for long work without BuildKit's full log: one line per step, and its outcome."""

    def __init__(self, out: Any) -> None:
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    if progress not in ("auto", "plain", "quiet"):
        raise typer.BadParameter("must be auto, plain or quiet", param_hint="--progress")
    ctx.obj = State(project, debug, progress)


# Help lines that several commands share.
BASE_IMAGE_HELP = "Use this base image instead of the base-image setting."
RUNTIME_IMAGE_HELP = ('Use this runtime image instead of the runtime-image setting ("minimal": '
                      'FROM scratch plus a root filesystem assembled from the base image).')
NO_CACHE_HELP = "Build every step again (BuildKit's --no-cache)."


def project_envs(settings: Any) -> Any:
    """The project's environments (the build environment included)."""
    from ..environments import discover

    return discover(settings)


def say(text: str) -> None:
    """A line for the user on stderr (progress, warnings): stdout stays the command's output."""
    typer.echo(text, err=True)


def new_engine() -> Any:
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

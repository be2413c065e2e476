"""``venvship ci github|gitlab``: print (or --output) a CI pipeline for the project."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from . import State, app


@app.command("ci")
def ci_command(
    ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="github|gitlab", help="The CI service."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o",
        help="Write here instead of stdout (.github/workflows/venvship.yml, .gitlab-ci.yml)."),
    image: Optional[str] = typer.Option(
        None, "--image", metavar="REPOSITORY",
        help="Repository to push, without a tag (default: the service's registry: "
             "ghcr.io/OWNER/REPO, $CI_REGISTRY_IMAGE)."),
    branch: str = typer.Option("main", "--branch", help="Pushes to this branch build --push; others only build."),
    python: str = typer.Option("3.12", "--python", help="The runner's Python version that venvship is installed into."),
    install: str = typer.Option(f"venvship=={__version__}", "--install", metavar="SPEC",
                                help="What pip installs on the runner (a requirement or a URL)."),
) -> None:
    """Print a CI pipeline: lock --check, test, build --push with a registry cache."""
    from ..lockfile import write_atomically
    from ..ops.ci import CiOptions, notes, render

    settings = State.of(ctx).settings()
    text = render(settings, CiOptions(provider=provider, image=image, branch=branch, python=python,
                                      install=install))
    for note in notes(settings):
        typer.echo(f"venvship: note: {note}", err=True)
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically({output.resolve(): text})
        typer.echo(f"wrote {output}", err=True)

"""``venvship export --format tar|deb --output DIR``: the image's venv for servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from . import BASE_IMAGE_HELP, NO_CACHE_HELP, State, app, new_engine, project_envs

_FORMAT_HELP = ("tar (the venv tree; a source-tree app's tree and run wrapper too) or deb "
                "(a Debian package); each with a manifest.")
_VENV_HELP = "Absolute venv path (default: the venv-path setting)."


# Options as defaults, not Annotated[...]: typer releases that still run on Python 3.9 ignore
# Annotated metadata under postponed annotations (an option would silently become --fmt).
@app.command("export")
def export_command(
    ctx: typer.Context,
    fmt: str = typer.Option("tar", "--format", "-f", help=_FORMAT_HELP),
    output: Path = typer.Option(Path("dist"), "--output", "-o", help="Directory for the artefacts."),
    venv_path: Optional[str] = typer.Option(None, "--venv-path", help=_VENV_HELP),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    runtime_image: Optional[str] = typer.Option(
        None, "--runtime-image", help='Use this runtime image instead of the runtime-image setting '
        '("minimal" too: the exported venv is the same).'),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Export from stale locks."),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
) -> None:
    """Export the build stage's venv (and a source-tree app's tree) as a tarball or a .deb."""
    from ..ops import export

    formats = {name: name for name in export.FORMATS}
    if fmt not in formats:
        raise typer.BadParameter(f"must be one of {', '.join(export.FORMATS)}",
                                 param_hint="--format")
    state = State.of(ctx)
    settings = state.settings(venv_path=venv_path, base_image=base_image, runtime_image=runtime_image)
    opts = export.ExportOptions(fmt=formats[fmt], output=output, allow_stale=allow_stale, no_cache=no_cache)
    result = export.export(settings, project_envs(settings), new_engine(), opts,
                           stream=state.stream(quiet or as_json))
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        typer.echo(f"exported {result.artefact} ({len(result.distributions)} distributions, "
                   f"as locked; manifest {result.manifest}) in {result.seconds:.1f} s")
        if result.app_dir:
            typer.echo(f"  with the app's tree at {result.app_dir}; run it with {result.run}")

"""Read-only reports: ``venvship envs`` (the project's environments and where their pins come
from) and ``venvship doctor`` (the engine, BuildKit and base images on this machine)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

import typer

from ..errors import VenvshipError
from . import BASE_IMAGE_HELP, State, app, new_engine, project_envs

if TYPE_CHECKING:
    from ..settings import Settings


@app.command("envs")
def envs_command(ctx: typer.Context) -> None:
    """List environments, what each is layered on, and where it is declared."""
    settings = State.of(ctx).settings()
    found = project_envs(settings)
    named = {"setting": "from the name setting", "pyproject": "from pyproject.toml [project]",
             "backend": "from the build backend's metadata, recorded by venvship lock",
             "directory": "taken from the directory; set name = \"...\" in [tool.venvship]"}
    built = ("built as a package" if settings.package
             else f"a source tree copied to {settings.app_dir}")
    typer.echo(f"app: {settings.project_name} ({named.get(settings.name_source, settings.name_source)});"
               f" {built}: {settings.package_reason}")
    if settings.source == "requirements-txt":
        typer.echo(f"inputs: requirements.txt layout; locks in {settings.requirements_dir}/")
    for name in found.order():
        e = found.envs[name]
        layered = f" (layered on {e.base})" if e.base else ""
        typer.echo(f"{name}{layered}: {len(e.lines)} direct requirement(s) from {e.source}"
                   + _pins_from(settings, name))
        for line in e.lines:  # the override setting's replacements, with what they replace
            if line.origin.endswith("replaced by [tool.venvship] override"):
                typer.echo(f"    {line.requirement} ({line.origin})")


def _pins_from(settings: Settings, env: str) -> str:
    """Where an environment's pins come from: its venvship lock, or the file it adopts them from."""
    from ..environments import BUILD_ENV
    from ..preferences import VENVSHIP_LOCK, for_env

    prefs = for_env(settings.project_dir, settings.requirements_dir, env, first_lock_sources=env != BUILD_ENV)
    if prefs is None:
        return "; not locked yet"
    if prefs.kind == VENVSHIP_LOCK:
        origin = re.search(r"(?m)^# venvship: first-pins-from = (.+)$", prefs.raw or "")
        return f"; locked in {prefs.source}" + (f" (first pins from {origin.group(1)})" if origin else "")
    if prefs.whole_env:
        return (f"; {prefs.source} is not a venvship lock ({prefs.kind}): "
                f"'venvship lock' adopts its {len(prefs.pins)} pin(s)")
    return f"; not locked yet: the first lock keeps the {len(prefs.pins)} pin(s) of {prefs.source}"


@app.command("doctor")
def doctor_command(
    ctx: typer.Context,
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
) -> None:
    """Check the engine, BuildKit and base images, and say what to do about each problem."""
    from ..ops.doctor import diagnose, verdict

    settings = None
    try:
        settings = State.of(ctx).settings(base_image=base_image)
    except VenvshipError as exc:
        typer.echo(f"-- no project settings: {exc.message}")
    findings = diagnose(new_engine(), settings)
    for f in findings:
        typer.echo(f"{'ok' if f.ok else 'PROBLEM'}: {f.what}")
        if f.fix:
            typer.echo(f"    -> {f.fix}")
    error = verdict(findings)
    if error is not None:
        raise error

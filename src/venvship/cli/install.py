"""``venvship install`` and ``sync``: the locked environments (and the project) in a virtualenv
on this host (ops.install). sync is install --sync."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import IO, Any, Optional, get_type_hints

import typer

from . import State, app, project_envs, say


def _raw_stream(state: State) -> IO[str] | None:
    """Tool output (pip, the backend) only with --progress plain: it has no BuildKit steps."""
    return sys.stderr if state.progress == "plain" else None


def _install(state: State, venv: Path, env: list[str], editable: bool, sync: bool,
             force: bool, python: str | None, allow_stale: bool, dry_run: bool) -> None:
    from ..ops.install import InstallOptions, install

    settings = state.settings()
    opts = InstallOptions(venv=venv, envs=tuple(env) or ("main",), editable=editable, sync=sync,
                          force=force, python=python, allow_stale=allow_stale, dry_run=dry_run)
    result = install(settings, project_envs(settings), opts, say=say, stream=_raw_stream(state))
    lines = result.plan.lines(result.installed_before)
    for line in lines:
        typer.echo(line)
    if dry_run:
        plan = result.plan
        verb = (f"{len(plan.install)} to install, {len(plan.uninstall)} to remove to match"
                if plan else "already matches")
        typer.echo(f"{result.venv}: {verb} the locks ({', '.join(result.locks)}); "
                   f"{result.interpreter.describe()} (dry run)")
        return
    removed = f", {len(result.plan.uninstall)} removed" if result.plan.uninstall else ""
    typer.echo(
        f"{result.venv}: {', '.join(result.locks)} installed ({len(result.plan.install)} changed"
        f"{removed}, {len(result.plan.satisfied)} already right), "
        f"{result.project or 'the app is a source tree: not installed into the venv'}; "
        f"{result.interpreter.describe()}; {result.seconds:.1f} s"
    )


# Options as defaults, not Annotated[...]: typer releases that still run on Python 3.9 ignore
# Annotated metadata under postponed annotations (options would silently get other names).
_VENV_HELP = "The virtual environment (created if missing; relative to cwd)."
_ENV_HELP = "Environment to install (repeatable; its bases come along). Default main."
_EDITABLE_HELP = "Install the project editable (PEP 660)."
_FORCE_HELP = "Install locks compiled for another Python version or platform."
_PYTHON_HELP = "Interpreter for a new venv (default: pythonX.Y of the locks, else python3)."
_STALE_HELP = "Go ahead even if the inputs changed since locking."
_DRY_HELP = "Show what would change; change nothing."


@app.command("install")
def install_command(
    ctx: typer.Context,
    venv: Path = typer.Option(..., "--venv", help=_VENV_HELP),
    env: list[str] = typer.Option([], "--env", "-e", help=_ENV_HELP),
    editable: bool = typer.Option(False, "--editable", help=_EDITABLE_HELP),
    sync: bool = typer.Option(False, "--sync", help="Also remove what the locks do not list (not pip)."),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    python: Optional[str] = typer.Option(None, "--python", help=_PYTHON_HELP),
    allow_stale: bool = typer.Option(False, "--allow-stale", help=_STALE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help=_DRY_HELP),
) -> None:
    """Install the locked environments and the project into a virtualenv on this host."""
    _install(State.of(ctx), venv, env, editable, sync, force, python, allow_stale, dry_run)


@app.command("sync")
def sync_command(ctx: typer.Context, **options: Any) -> None:
    """Make a virtualenv match the locks exactly (install --sync): add, change, remove."""
    install_command(ctx, sync=True, **options)


# sync takes install's options but --sync. typer reads a command's options from its signature:
# sync's is install's without that parameter (annotations resolved, for typer on Python 3.9 too).
_hints = get_type_hints(install_command)
sync_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p.replace(annotation=_hints[p.name])
     for p in inspect.signature(install_command).parameters.values() if p.name != "sync"])

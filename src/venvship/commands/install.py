"""``venvship install``, ``sync``, ``tox`` and ``test``: thin wrappers around install.py,
toxini.py and testrun.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer


def _say(text: str) -> None:
    typer.echo(text, err=True)


def _raw_stream(state: Any, quiet: bool = False) -> Any:
    """Tool output (pip, the backend) only with --progress plain: it has no BuildKit steps."""
    return sys.stderr if state.progress == "plain" and not quiet else None


def _install(ctx: typer.Context, venv: Path, env: list[str], editable: bool, sync: bool,
             force: bool, python: str | None, allow_stale: bool, dry_run: bool) -> None:
    from ..environments import discover
    from ..ops.install import InstallOptions, install

    state = ctx.obj
    settings = state.settings()
    opts = InstallOptions(venv=venv, envs=tuple(env) or ("main",), editable=editable, sync=sync,
                          force=force, python=python, allow_stale=allow_stale, dry_run=dry_run)
    result = install(settings, discover(settings), opts, say=_say, stream=_raw_stream(state))
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
def _venv_opt() -> Any:
    return typer.Option(..., "--venv", help="The virtual environment (created if missing; relative to cwd).")


def _env_opt(help_text: str) -> Any:
    return typer.Option([], "--env", "-e", help=help_text)


_ENV_HELP = "Environment to install (repeatable; its bases come along). Default main."
_EDITABLE_HELP = "Install the project editable (PEP 660)."
_FORCE_HELP = "Install locks compiled for another Python version or platform."
_PYTHON_HELP = "Interpreter for a new venv (default: pythonX.Y of the locks, else python3)."
_STALE_HELP = "Go ahead even if the inputs changed since locking."
_DRY_HELP = "Show what would change; change nothing."


def register(app: typer.Typer) -> None:
    @app.command()
    def install(
        ctx: typer.Context,
        venv: Path = _venv_opt(),
        env: list[str] = _env_opt(_ENV_HELP),
        editable: bool = typer.Option(False, "--editable", help=_EDITABLE_HELP),
        sync: bool = typer.Option(False, "--sync", help="Also remove what the locks do not list (not pip)."),
        force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
        python: Optional[str] = typer.Option(None, "--python", help=_PYTHON_HELP),
        allow_stale: bool = typer.Option(False, "--allow-stale", help=_STALE_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help=_DRY_HELP),
    ) -> None:
        """Install the locked environments and the project into a virtualenv on this host."""
        _install(ctx, venv, env, editable, sync, force, python, allow_stale, dry_run)

    @app.command()
    def sync(
        ctx: typer.Context,
        venv: Path = _venv_opt(),
        env: list[str] = _env_opt(_ENV_HELP),
        editable: bool = typer.Option(False, "--editable", help=_EDITABLE_HELP),
        force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
        python: Optional[str] = typer.Option(None, "--python", help=_PYTHON_HELP),
        allow_stale: bool = typer.Option(False, "--allow-stale", help=_STALE_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help=_DRY_HELP),
    ) -> None:
        """Make a virtualenv match the locks exactly (install --sync): add, change, remove."""
        _install(ctx, venv, env, editable, True, force, python, allow_stale, dry_run)

    @app.command()
    def tox(
        ctx: typer.Context,
        write: bool = typer.Option(False, "--write", help="Write or update tox.ini."),
        section: str = typer.Option("testenv", "--section", help="The tox.ini section."),
        env: list[str] = _env_opt("Environments the tests need (default: test-envs)."),
    ) -> None:
        """Print (or --write) a tox 4 section whose deps are the hash-checked locks."""
        from ..environments import discover
        from ..ops.tox import section as make_section
        from ..ops.tox import write as write_ini

        settings = ctx.obj.settings()
        sec = make_section(settings, discover(settings), section, env)
        if sec.warning:
            _say(f"venvship: warning: {sec.warning}")
        if not write:
            sys.stdout.write(sec.text())
            return
        path, changed = write_ini(settings, sec)
        typer.echo(f"{'updated' if changed else 'unchanged'}: {path} [{section}]", err=True)

    @app.command()
    def test(
        ctx: typer.Context,
        args: Optional[list[str]] = typer.Argument(
            None, help="Extra arguments for the test command: venvship test -- -k slow"),
        env: list[str] = _env_opt("Test environment (repeatable; default: the test-envs setting)."),
        env_var: list[str] = typer.Option(
            [], "--env-var", help="KEY=VALUE set in the test container (repeatable)."),
        network: Optional[str] = typer.Option(
            None, "--network", help="Run the test container on this docker network (e.g. a database's)."),
        keep_image: bool = typer.Option(
            False, "--keep-image", help="Keep the test image (removed after the run by default)."),
        base_image: Optional[str] = typer.Option(
            None, "--base-image", help="Use this base image instead of the base-image setting."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Build every step again (BuildKit's --no-cache)."),
        allow_stale: bool = typer.Option(False, "--allow-stale", help="Test even if a lock is stale."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No build progress."),
    ) -> None:
        """Build the test stage (main + test locks, production interpreter) and run the tests in
        it; exits with the tests' exit code."""
        from ..engine import Engine
        from ..environments import discover
        from ..ops.testrun import run_tests
        from ..ops.verify import parse_env_vars

        state = ctx.obj
        settings = state.settings(base_image=base_image)
        env_vars = parse_env_vars(env_var)
        _say(f"building the test stage of {settings.project_name} in {settings.image.base}")
        result = run_tests(settings, discover(settings), Engine(), args=list(args or []), requested=env,
                           env_vars=env_vars, network=network, keep_image=keep_image,
                           no_cache=no_cache, allow_stale=allow_stale,
                           build_stream=state.stream(quiet), out=sys.stdout, say=_say)
        verdict = "passed" if result.exit_code == 0 else f"failed (exit {result.exit_code})"
        where = result.image if result.kept else "the test image (removed; --keep-image keeps it)"
        _say(f"tests {verdict} with {' + '.join(('main', *result.envs))} in {where} "
             f"(build {result.build_seconds:.1f} s, run {result.run_seconds:.1f} s)")
        if result.exit_code:
            raise typer.Exit(result.exit_code)

"""The test environments: ``venvship test`` builds the test stage and runs the tests in it
(ops.testrun); ``venvship tox`` prints a tox section that installs the same locks (ops.tox)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from . import BASE_IMAGE_HELP, NO_CACHE_HELP, State, app, new_engine, project_envs, say


@app.command("tox")
def tox_command(
    ctx: typer.Context,
    write: bool = typer.Option(False, "--write", help="Write or update tox.ini."),
    section: str = typer.Option("testenv", "--section", help="The tox.ini section."),
    env: list[str] = typer.Option([], "--env", "-e", help="Environments the tests need (default: test-envs)."),
) -> None:
    """Print (or --write) a tox 4 section whose deps are the hash-checked locks."""
    from ..ops import tox

    settings = State.of(ctx).settings()
    sec = tox.section(settings, project_envs(settings), section, env)
    if sec.warning:
        say(f"venvship: warning: {sec.warning}")
    if not write:
        sys.stdout.write(sec.text())
        return
    path, changed = tox.write(settings, sec)
    typer.echo(f"{'updated' if changed else 'unchanged'}: {path} [{section}]", err=True)


@app.command("test")
def test_command(
    ctx: typer.Context,
    args: Optional[list[str]] = typer.Argument(
        None, help="Extra arguments for the test command: venvship test -- -k slow"),
    env: list[str] = typer.Option(
        [], "--env", "-e", help="Test environment (repeatable; default: the test-envs setting)."),
    env_var: list[str] = typer.Option(
        [], "--env-var", help="KEY=VALUE set in the test container (repeatable)."),
    network: Optional[str] = typer.Option(
        None, "--network", help="Run the test container on this docker network (e.g. a database's)."),
    keep_image: bool = typer.Option(
        False, "--keep-image", help="Keep the test image (removed after the run by default)."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Test even if a lock is stale."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No build progress."),
) -> None:
    """Build the test stage (main + test locks, production interpreter) and run the tests in \
it; exits with the tests' exit code."""
    from ..ops.testrun import run_tests
    from ..ops.verify import parse_env_vars

    state = State.of(ctx)
    settings = state.settings(base_image=base_image)
    env_vars = parse_env_vars(env_var)
    say(f"building the test stage of {settings.project_name} in {settings.image.base}")
    result = run_tests(settings, project_envs(settings), new_engine(), args=list(args or []), requested=env,
                       env_vars=env_vars, network=network, keep_image=keep_image,
                       no_cache=no_cache, allow_stale=allow_stale,
                       build_stream=state.stream(quiet), out=sys.stdout, say=say)
    verdict = "passed" if result.exit_code == 0 else f"failed (exit {result.exit_code})"
    where = result.image if result.kept else "the test image (removed; --keep-image keeps it)"
    say(f"tests {verdict} with {' + '.join(('main', *result.envs))} in {where} "
        f"(build {result.build_seconds:.1f} s, run {result.run_seconds:.1f} s)")
    if result.exit_code:
        raise typer.Exit(result.exit_code)

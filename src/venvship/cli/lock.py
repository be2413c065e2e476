"""``venvship lock``: compile hashed locks inside the base image, check them, adopt pins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..errors import StaleLockError
from . import State, app, new_engine

if TYPE_CHECKING:
    from ..ops.lock import LockPlan


@app.command("lock")
def lock_command(
    ctx: typer.Context,
    env: list[str] = typer.Option([], "--env", "-e", help="Environment to lock (repeatable). Default: all."),
    check: bool = typer.Option(False, "--check", help="Exit non-zero if a lock is missing or stale; write nothing."),
    upgrade: bool = typer.Option(False, "--upgrade", "-U", help="Upgrade every package in the chosen environments."),
    upgrade_package: list[str] = typer.Option(
        [], "--upgrade-package", "-P", help="Upgrade just this package (repeatable)."
    ),
    base_image: Optional[str] = typer.Option(None, "--base-image", help="Compile for this image's interpreter."),
    resolver: Optional[str] = typer.Option(None, "--resolver", help="uv (default) or pip-tools."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compile and show the changes, write nothing."),
) -> None:
    """Compile hashed locks for every environment, inside the base image, once per platform.

    Platforms: the platforms setting, or --platform; the locks of every platform but the first
    are requirements/ENV.OS-ARCH.txt."""
    from ..lockfile import write_atomically
    from ..ops import lock
    from ..settings import ARCH_PLACEHOLDER, Settings, load_settings

    state = State.of(ctx)
    loaded = load_settings(state.project, {"base_image": base_image, "resolver": resolver})
    engine = new_engine()
    # The engine is asked its platform only when the settings need it before the environments are
    # known, so that bad input (an unknown --env) fails as bad input, engine or not.
    needs_native = bool(state.platforms or loaded.platforms.targets or loaded.platforms.base_images
                        or ARCH_PLACEHOLDER in loaded.image.base)
    native = engine.platform() if needs_native else ""
    first = loaded.for_platform((state.platforms or loaded.target_platforms(native))[0], native) \
        if needs_native else loaded

    record = None
    if not check:  # setup.py, setup.cfg, Poetry: the build backend names the requirements
        from ..metadata import refresh

        record = refresh(first, engine, state.stream())
    from ..environments import discover

    envs = discover(first, metadata=record)
    envs.order(env or None)  # an unknown environment name: InputError, before the engine is asked
    native = native or engine.platform()
    platforms = state.platforms or loaded.target_platforms(native)
    per_platform = [loaded.for_platform(p, native) for p in platforms]
    named = len(platforms) > 1 or platforms[0] != native  # say which platform each line is about
    settings = per_platform[0]
    if check:
        problems = []
        for settings in per_platform:  # every platform's locks
            target = lock.target_of_image(engine, settings)
            prefix = f"{settings.platforms.current}: " if named else ""
            problems += [prefix + p for p in lock.check(settings, envs, env, target)]
        if problems:
            for p in problems:
                typer.echo(f"stale: {p}", err=True)
            raise StaleLockError(f"{len(problems)} lock problem(s); run 'venvship lock'")
        typer.echo("locks are up to date: " + ", ".join(envs.order(env or None))
                   + (f" ({', '.join(platforms)})" if named else ""))
        return
    staged: dict[Path, str] = {}  # every platform's locks are written together, or none
    done: list[tuple[Settings, list[lock.EnvResult]]] = []
    for settings in per_platform:
        plan = lock.make_plan(envs, env, settings, upgrade=upgrade, upgrade_packages=upgrade_package)
        if record is not None:
            from ..metadata import overwritten_sources

            overwritten_sources(settings, record, list(plan.compile))
        where = f" for {settings.platforms.current}" if named else ""
        typer.echo(f"locking {', '.join(plan.compile)}{where} in {settings.image.base} "
                   f"with {settings.lock.resolver}", err=True)
        _say_adopting(plan)
        results = lock.lock(settings, envs, plan, engine, stream=state.stream(), dry_run=dry_run,
                            warn=lambda message: typer.echo(f"venvship: warning: {message}", err=True),
                            record=record if settings is per_platform[0] else None, staged=staged)
        done.append((settings, results))
    if not dry_run:
        write_atomically(staged)
    for settings, results in done:
        for r in results:
            rel = f"{settings.requirements_dir}/{settings.lock_file(r.env)}"
            verb = ("would write" if dry_run else "wrote") if r.changed else "unchanged"
            if r.adoption is not None:  # pins taken from a file venvship did not write: kept vs moved
                typer.echo(f"{r.env}: {len(r.lock.pins)} pinned, {r.adoption.summary()}, {verb} {rel}")
                for line in r.adoption.lines():
                    typer.echo(line)
                continue
            typer.echo(f"{r.env}: {len(r.lock.pins)} pinned, {verb} {rel}")
            for line in r.diff.lines():
                typer.echo(line)


def _say_adopting(plan: LockPlan) -> None:
    """Which pins an adopting lock keeps (stderr), and what it skipped from them."""
    noted: set[str] = set()
    for env, prefs in plan.preferences.items():
        if not prefs.adopted:
            continue
        how = "all may move (--upgrade)" if plan.upgrade_all else "kept unless --upgrade/--upgrade-package"
        kind = f" ({prefs.kind})" if prefs.kind != prefs.source else ""
        typer.echo(f"{env}: adopting {len(prefs.pins)} pin(s) from {prefs.source}{kind} as "
                   f"preferences, {how}", err=True)
        for note in () if prefs.source in noted else prefs.notes:  # once per file
            typer.echo(f"  note: {note}", err=True)
        noted.add(prefs.source)

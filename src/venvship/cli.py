"""The command line. Thin: parse, load settings once, call the logic, print."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from . import __version__
from .cliparse import VenvshipTyper
from .errors import EXIT_CODES, StaleLockError, VenvshipError

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
        from .settings import load_settings

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


BASE_IMAGE_HELP = "Use this base image instead of the base-image setting."
RUNTIME_IMAGE_HELP = ('Use this runtime image instead of the runtime-image setting ("minimal": '
                      'FROM scratch plus a root filesystem assembled from the base image).')
NO_CACHE_HELP = "Build every step again (BuildKit's --no-cache)."


def _envs(settings: Any) -> Any:
    from .environments import discover

    return discover(settings)


def _engine() -> Any:
    from .engine import Engine

    return Engine()


# ---- lock -------------------------------------------------------------------------------
@app.command()
def lock(
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
    """Compile hashed locks for every environment, inside the base image."""
    from .ops import lock as locking

    state: State = ctx.obj
    settings = state.settings(base_image=base_image, resolver=resolver)
    engine = _engine()
    record = None
    if not check:  # setup.py, setup.cfg, Poetry: the build backend names the requirements
        from .metadata import refresh

        record = refresh(settings, engine, state.stream())
    from .environments import discover

    envs = discover(settings, metadata=record)
    if check:
        target = locking.target_of_image(engine, settings)
        problems = locking.check(settings, envs, env, target)
        if problems:
            for p in problems:
                typer.echo(f"stale: {p}", err=True)
            raise StaleLockError(f"{len(problems)} lock problem(s); run 'venvship lock'")
        typer.echo("locks are up to date: " + ", ".join(envs.order(env or None)))
        return
    plan = locking.make_plan(envs, env, settings, upgrade=upgrade, upgrade_packages=upgrade_package)
    if record is not None:
        from .metadata import overwritten_sources

        overwritten_sources(settings, record, list(plan.compile))
    typer.echo(f"locking {', '.join(plan.compile)} in {settings.image.base} with {settings.lock.resolver}", err=True)
    _say_adopting(plan)
    results = locking.lock(settings, envs, plan, engine, stream=state.stream(), dry_run=dry_run,
                           warn=lambda message: typer.echo(f"venvship: warning: {message}", err=True),
                           record=record)
    for r in results:
        rel = f"{settings.requirements_dir}/{r.env}.txt"
        verb = ("would write" if dry_run else "wrote") if r.changed else "unchanged"
        if r.adoption is not None:  # pins taken from a file venvship did not write: kept vs moved
            typer.echo(f"{r.env}: {len(r.lock.pins)} pinned, {r.adoption.summary()}, {verb} {rel}")
            for line in r.adoption.lines():
                typer.echo(line)
            continue
        typer.echo(f"{r.env}: {len(r.lock.pins)} pinned, {verb} {rel}")
        for line in r.diff.lines():
            typer.echo(line)


def _say_adopting(plan: Any) -> None:
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


# ---- dockerfile -------------------------------------------------------------------------
@app.command()
def dockerfile(
    ctx: typer.Context,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    runtime_image: Optional[str] = typer.Option(None, "--runtime-image", help=RUNTIME_IMAGE_HELP),
    venv_path: Optional[str] = typer.Option(
        None, "--venv-path", help="Absolute venv path in the image (default /app)."
    ),
) -> None:
    """Render the multi-stage Dockerfile (venvship dockerfile > Dockerfile)."""
    from .lockfile import write_atomically
    from .render import render_dockerfile

    settings = ctx.obj.settings(base_image=base_image, runtime_image=runtime_image, venv_path=venv_path)
    text = render_dockerfile(settings, _envs(settings))
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically({output.resolve(): text})
        typer.echo(f"wrote {output}", err=True)


# ---- build ------------------------------------------------------------------------------
@app.command()
def build(
    ctx: typer.Context,
    image: list[str] = typer.Option([], "--image", "-t", help="Tag for the image (repeatable)."),
    target: str = typer.Option("runtime", "--target", help="Stage to build."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    runtime_image: Optional[str] = typer.Option(None, "--runtime-image", help=RUNTIME_IMAGE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    platform: Optional[str] = typer.Option(None, "--platform", help="Target platform, e.g. linux/amd64."),
    push: bool = typer.Option(False, "--push", help="Push the tags after the image passed verify."),
    builder: Optional[str] = typer.Option(None, "--builder", help="buildx builder instance."),
    cache_from: list[str] = typer.Option([], "--cache-from", help="BuildKit cache source (repeatable)."),
    cache_to: list[str] = typer.Option([], "--cache-to", help="BuildKit cache destination (repeatable)."),
    build_arg: list[str] = typer.Option([], "--build-arg", help="A build argument (repeatable)."),
    secret: list[str] = typer.Option([], "--secret", help="A BuildKit secret (repeatable)."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Build even if a lock is stale."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Verify the image after building."),
    env_var: list[str] = typer.Option(
        [], "--env-var", help="KEY=VALUE set in the container the verification runs (repeatable)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
    check_reproducible: bool = typer.Option(
        False, "--check-reproducible",
        help="Build again with --no-cache and compare the image ids; name what differs (exit 19)."),
) -> None:
    """Build the image with BuildKit, then verify it."""
    from .ops import build as building

    state: State = ctx.obj
    settings = state.settings(base_image=base_image, runtime_image=runtime_image)
    images = tuple(image) or settings.image.tags or (building.default_image(settings),)
    from .ops.verify import parse_env_vars

    parse_env_vars(env_var)  # a malformed KEY=VALUE fails before the build, not after
    opts = building.BuildOptions(
        images=images, target=target, no_cache=no_cache, platform=platform, push=push,
        builder=builder, cache_from=tuple(cache_from), cache_to=tuple(cache_to),
        build_args=building.parse_build_args(build_arg), secrets=tuple(secret), allow_stale=allow_stale,
    )
    engine = _engine()
    envs = _envs(settings)
    if target in ("test", "test-deps"):  # the test stages: the same test environments as 'venvship test'
        from dataclasses import replace

        from .ops.testenvs import select

        settings = replace(settings, tests=replace(settings.tests, envs=select(settings, envs, flag=None).envs))
    options = building.VerifyOptions(env_vars=parse_env_vars(env_var))

    def check(ref: str) -> float:
        return float(building.verify(settings, engine, ref, envs=envs, options=options))

    # verify runs on the new image before any tag moves or anything is pushed (build.publish_plan)
    summary = building.build(settings, envs, engine, opts, stream=state.stream(quiet or as_json),
                             check=check if verify and target == "runtime" else None)
    reproduced = None
    if check_reproducible and summary.image_id:
        from .ops import repro

        reproduced = repro.check(settings, envs, engine, opts, summary.image_id,
                                 stream=state.stream(quiet or as_json))
    if as_json:
        data = summary.as_json()
        if reproduced is not None:
            data["reproducible"] = {"image_id": reproduced.image_id, "seconds": round(reproduced.seconds, 3)}
        typer.echo(json.dumps(data, indent=2))
    else:
        if reproduced is not None:
            typer.echo(f"reproducible: a --no-cache build gave the same image id in {reproduced.seconds:.1f} s",
                       err=True)
        size = f", {summary.size / 1e6:.1f} MB" if summary.size else ""
        typer.echo(f"built {', '.join(images)} ({summary.image_id}{size}) in {summary.seconds:.1f} s"
                   + ("; verified" if summary.verified else "")
                   + (f"; pushed {', '.join(summary.pushed)}" if summary.pushed else ""))


@app.command()
def verify(
    ctx: typer.Context,
    image: str = typer.Argument(..., help="Image to check."),
    env_var: list[str] = typer.Option(
        [], "--env-var", help="KEY=VALUE set in the containers the checks run (repeatable)."
    ),
    start: bool = typer.Option(
        False, "--start", help="Also run the image's command: healthy (or up, or exit 0) within the timeout."
    ),
    start_timeout: float = typer.Option(
        30.0, "--start-timeout", min=1.0, help="Seconds --start waits for the health check (default 30)."
    ),
    runtime_image: Optional[str] = typer.Option(None, "--runtime-image", help=RUNTIME_IMAGE_HELP),
) -> None:
    """Check a built image: locked distributions, entry points, command, imports, shared libraries,
    non-root, no compiler; with --start, that it starts and serves."""
    from .ops import verify as verifying

    settings = ctx.obj.settings(runtime_image=runtime_image)
    options = verifying.VerifyOptions(env_vars=verifying.parse_env_vars(env_var), start=start,
                                      start_timeout=start_timeout)
    seconds = verifying.verify(settings, _engine(), image, envs=_envs(settings), options=options)
    started = "; started" if start else ""
    typer.echo(f"{image}: verified in {seconds:.1f} s (distributions equal the locks{started})")


# ---- environments -------------------------------------------------------------------------
@app.command()
def envs(ctx: typer.Context) -> None:
    """List environments, what each is layered on, and where it is declared."""
    settings = ctx.obj.settings()
    found = _envs(settings)
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


def _pins_from(settings: Any, env: str) -> str:
    """Where an environment's pins come from: its venvship lock, or the file it adopts them from."""
    from .environments import BUILD_ENV
    from .preferences import VENVSHIP_LOCK, for_env

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


# ---- doctor -------------------------------------------------------------------------------
@app.command()
def doctor(
    ctx: typer.Context,
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
) -> None:
    """Check the engine, BuildKit and base images, and say what to do about each problem."""
    from .ops.doctor import diagnose, verdict

    settings = None
    try:
        settings = ctx.obj.settings(base_image=base_image)
    except VenvshipError as exc:
        typer.echo(f"-- no project settings: {exc.message}")
    findings = diagnose(_engine(), settings)
    for f in findings:
        typer.echo(f"{'ok' if f.ok else 'PROBLEM'}: {f.what}")
        if f.fix:
            typer.echo(f"    -> {f.fix}")
    error = verdict(findings)
    if error is not None:
        raise error


def _register_command_modules() -> None:
    import importlib

    from .commands import MODULES

    for name in MODULES:
        importlib.import_module(f".commands.{name}", __package__).register(app)


_register_command_modules()

"""The image: ``venvship dockerfile`` renders it, ``build`` builds it with BuildKit (then
verifies it), ``verify`` checks a built one. One module, because build runs verify's checks."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from . import BASE_IMAGE_HELP, NO_CACHE_HELP, RUNTIME_IMAGE_HELP, State, app, new_engine, project_envs

if TYPE_CHECKING:
    from ..environments import EnvironmentSet
    from ..ops.build import BuildOptions
    from ..ops.verify import VerifyOptions
    from ..settings import Settings


@app.command("dockerfile")
def dockerfile_command(
    ctx: typer.Context,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    runtime_image: Optional[str] = typer.Option(None, "--runtime-image", help=RUNTIME_IMAGE_HELP),
    venv_path: Optional[str] = typer.Option(
        None, "--venv-path", help="Absolute venv path in the image (default /app)."
    ),
) -> None:
    """Render the multi-stage Dockerfile (venvship dockerfile > Dockerfile)."""
    from ..lockfile import write_atomically
    from ..render import render_dockerfile

    settings = State.of(ctx).settings(base_image=base_image, runtime_image=runtime_image, venv_path=venv_path)
    text = render_dockerfile(settings, project_envs(settings), committed=True)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically({output.resolve(): text})
        typer.echo(f"wrote {output}", err=True)


@app.command("build")
def build_command(
    ctx: typer.Context,
    image: list[str] = typer.Option([], "--image", "-t", help="Tag for the image (repeatable)."),
    target: str = typer.Option("runtime", "--target", help="Stage to build."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help=BASE_IMAGE_HELP),
    runtime_image: Optional[str] = typer.Option(None, "--runtime-image", help=RUNTIME_IMAGE_HELP),
    no_cache: bool = typer.Option(False, "--no-cache", help=NO_CACHE_HELP),
    push: bool = typer.Option(False, "--push", help="Push the tags after the image passed verify."),
    builder: Optional[str] = typer.Option(None, "--builder", help="buildx builder instance."),
    cache_from: list[str] = typer.Option([], "--cache-from", help="BuildKit cache source (repeatable)."),
    cache_to: list[str] = typer.Option([], "--cache-to", help="BuildKit cache destination (repeatable)."),
    build_arg: list[str] = typer.Option([], "--build-arg", help="A build argument (repeatable)."),
    secret: list[str] = typer.Option([], "--secret", help="A BuildKit secret (repeatable)."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Build even if a lock is stale."),
    verify_image: bool = typer.Option(True, "--verify/--no-verify", help="Verify the image after building."),
    env_var: list[str] = typer.Option(
        [], "--env-var", help="KEY=VALUE set in the container the verification runs (repeatable)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
    check_reproducible: bool = typer.Option(
        False, "--check-reproducible",
        help="Build again with --no-cache and compare the image ids; name what differs (exit 19)."),
) -> None:
    """Build the image with BuildKit, then verify it.

    For another platform: venvship --platform linux/arm64 build (its locks and base image)."""
    from ..ops import build, verify

    state = State.of(ctx)
    settings = state.settings(base_image=base_image, runtime_image=runtime_image)
    platform = ",".join(state.platforms) or None
    if len(state.platforms) > 1 and verify_image and target == "runtime":
        # several platforms, each verified: one build per platform, then the manifest list
        _build_each_platform(
            state, {"base_image": base_image, "runtime_image": runtime_image}, image, push,
            verify.VerifyOptions(env_vars=verify.parse_env_vars(env_var)),
            build.BuildOptions(no_cache=no_cache, push=push, builder=builder, cache_from=tuple(cache_from),
                               cache_to=tuple(cache_to), build_args=build.parse_build_args(build_arg),
                               secrets=tuple(secret), allow_stale=allow_stale),
            quiet or as_json, as_json)
        return
    build.check_platforms(settings, state.platforms)
    images = tuple(image) or settings.image.tags or (build.default_image(settings),)
    env_vars = verify.parse_env_vars(env_var)  # a malformed KEY=VALUE fails before the build, not after
    opts = build.BuildOptions(
        images=images, target=target, no_cache=no_cache, platform=platform, push=push,
        builder=builder, cache_from=tuple(cache_from), cache_to=tuple(cache_to),
        build_args=build.parse_build_args(build_arg), secrets=tuple(secret), allow_stale=allow_stale,
    )
    engine = new_engine()
    envs = project_envs(settings)
    if target in ("test", "test-deps"):  # the test stages: the same test environments as 'venvship test'
        from dataclasses import replace

        from ..ops.testenvs import select

        settings = replace(settings, tests=replace(settings.tests, envs=select(settings, envs, flag=None).envs))
    options = verify.VerifyOptions(env_vars=env_vars)

    def check(ref: str) -> float:
        return verify.verify(settings, engine, ref, envs=envs, options=options)

    # verify runs on the new image before any tag moves or anything is pushed (build.publish_plan)
    summary = build.build(settings, envs, engine, opts, stream=state.stream(quiet or as_json),
                          check=check if verify_image and target == "runtime" else None)
    reproduced = None
    if check_reproducible and summary.image_id:
        from ..ops import repro

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


@app.command("verify")
def verify_command(
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
    """Check a built image: locked distributions, entry points, command, imports, shared libraries, \
non-root, no compiler; with --start, that it starts and serves."""
    from ..ops import verify

    settings = State.of(ctx).settings(runtime_image=runtime_image)
    options = verify.VerifyOptions(env_vars=verify.parse_env_vars(env_var), start=start,
                                   start_timeout=start_timeout)
    seconds = verify.verify(settings, new_engine(), image, envs=project_envs(settings), options=options)
    started = "; started" if start else ""
    typer.echo(f"{image}: verified in {seconds:.1f} s (distributions equal the locks{started})")


def _build_each_platform(state: State, overrides: dict[str, str | None], image: list[str], push: bool,
                         options: VerifyOptions, opts: BuildOptions, quiet: bool, as_json: bool) -> None:
    """build --platform A,B (with verify): each platform built with its own locks and base
    image, verified (under emulation when foreign), tagged TAG-OS-ARCH; with --push, pushed only
    when all passed, and TAG made the manifest list of them."""
    from ..ops import build, verify
    from ..settings import load_settings

    engine = new_engine()
    loaded = load_settings(state.project, overrides)
    builds = []
    for platform in state.platforms:
        one = state.on_platform(loaded, platform)
        envs = project_envs(one)

        def check(ref: str, one: Settings = one, envs: EnvironmentSet = envs) -> float:
            return float(verify.verify(one, engine, ref, envs=envs, options=options))

        builds.append(build.PlatformBuild(one, envs, check))
    images = tuple(image) or loaded.image.tags or (build.default_image(loaded),)
    summaries = build.build_each_platform(builds, engine, replace(opts, images=images), stream=state.stream(quiet))
    if as_json:
        typer.echo(json.dumps({"platforms": {b.settings.platforms.current: s.as_json()
                                             for b, s in zip(builds, summaries)},
                               "manifest_lists": list(images) if push else []}, indent=2))
        return
    for b, s in zip(builds, summaries):
        typer.echo(f"built {', '.join(s.tags)} ({b.settings.platforms.current}, {s.image_id}) in {s.seconds:.1f} s"
                   + ("; verified" if s.verified else "") + ("; pushed" if s.pushed else ""))
    if push:
        typer.echo(f"pushed the manifest list {', '.join(images)} ({', '.join(state.platforms)})")

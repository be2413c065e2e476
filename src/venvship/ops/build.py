"""``venvship build``: plan the build and run it (the image is then checked by :mod:`venvship.ops.verify`)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from packaging.version import Version

from .. import freshness
from ..engine import BuildRequest, Engine, Secret, validate_reference
from ..environments import BUILD_ENV, EnvironmentSet
from ..errors import ConfigError, StaleLockError, VerifyError
from ..render import FIXED_EPOCH, GROUPS_CONTEXT, cross_install, render_dockerfile, split_group_locks, uses_scm_version
from ..settings import Settings, build_command_values, read_pyproject
from . import lock, testenvs

DEFAULT_DOCKERIGNORE = """\
# venvship's default, used when the project has no .dockerignore
.git
.hg
.venv
venv
.tox
.nox
.mypy_cache
.pytest_cache
.ruff_cache
**/__pycache__
**/*.pyc
*.egg-info
build
dist
# local secrets: a source-tree app's context is copied into the image
.env
.env.*
"""


@dataclass(frozen=True)
class BuildOptions:
    images: tuple[str, ...] = ()
    target: str = "runtime"
    no_cache: bool = False
    platform: str | None = None
    push: bool = False
    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # "id=NAME,src=PATH", as docker takes them
    allow_stale: bool = False
    output: str | None = None


def platform_tag(ref: str, platform: str) -> str:
    """REG/app:1.2 -> REG/app:1.2-linux-arm64: one platform's image, the manifest list's part."""
    from ..engine import split_tag

    name, tag = split_tag(ref)
    return f"{name}:{tag}-{platform.replace('/', '-')}"


def platform_cache(entries: Sequence[str], platform: str) -> tuple[str, ...]:
    """--cache-from/--cache-to of one platform's build: a registry cache's ref gets the
    platform's tag (REG/cache:app -> REG/cache:app-linux-arm64), so the platforms' builds do not
    overwrite each other's cache."""
    out = []
    for entry in entries:
        parts = entry.split(",")
        if "type=registry" in parts:
            parts = [f"ref={platform_tag(p[4:], platform)}" if p.startswith("ref=") else p for p in parts]
        out.append(",".join(parts))
    return tuple(out)


@dataclass(frozen=True)
class PlatformBuild:
    """One platform of a build of several platforms, and what it gives."""

    settings: Settings  # that platform's: its locks and base image
    envs: EnvironmentSet
    check: Callable[[str], float] | None  # verify, run under emulation for a foreign platform


def build_each_platform(builds: Sequence[PlatformBuild], engine: Engine, opts: BuildOptions, *,
                        stream: IO[str] | None) -> list[BuildSummary]:
    """A build of several platforms as one build per platform (the classic image store holds one
    platform a tag): each with its own locks and base image, tagged TAG-OS-ARCH and verified; only
    when every platform passed are they pushed, and with --push the manifest list TAG is made of
    them ('docker buildx imagetools create'). Nothing is pushed if any platform fails."""
    summaries = []
    for one in builds:
        platform = one.settings.platforms.current
        own = replace(opts, platform=platform, push=False,
                      images=tuple(platform_tag(ref, platform) for ref in opts.images),
                      cache_from=platform_cache(opts.cache_from, platform),
                      cache_to=platform_cache(opts.cache_to, platform))
        summaries.append(build(one.settings, one.envs, engine, own, stream=stream, check=one.check))
    if not opts.push:
        return summaries
    pushed = []
    for summary in summaries:
        for ref in summary.tags:
            engine.push(ref, stream=stream)
        pushed.append(replace(summary, pushed=summary.tags))
    for ref in opts.images:
        engine.create_index(ref, [platform_tag(ref, one.settings.platforms.current) for one in builds],
                            stream=stream)
    return pushed


def check_platforms(settings: Settings, platforms: Sequence[str]) -> None:
    """One build of several platforms installs one set of locks: refuse it when another of
    them has locks of its own (ENV.OS-ARCH.txt)."""
    for platform in platforms[1:]:
        own = sorted(settings.requirements_path.glob(f"*.{platform.replace('/', '-')}.txt"))
        if own:
            raise ConfigError(
                f"--platform {','.join(platforms)}: {platform} has locks of its own "
                f"({settings.requirements_dir}/{own[0].name}), one build of several platforms would "
                f"install {platforms[0]}'s",
                hint="build each platform on its own: venvship --platform " + platform + " build",
            )


def with_build_platform(settings: Settings, engine: Engine) -> Settings:
    """A foreign platform's settings with the engine's own platform (the build platform) filled
    in, so that the Dockerfile can install the venv there (render.cross_install); others as given."""
    p = settings.platforms
    if not p.current or p.native or p.foreign_install != "build-platform" or len(p.targets) < 2:
        return settings
    return replace(settings, platforms=replace(p, native=engine.platform()))


def default_image(settings: Settings) -> str:
    """The tag 'build' uses when none is given: the app's name as an image name (a directory
    called 'My Site' gives my-site:latest)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", settings.project_name.lower()).strip("._-") or "app"
    return f"{name}:latest"


def parse_secret(spec: str) -> Secret:
    parts = dict(p.split("=", 1) for p in spec.split(",") if "=" in p)
    if "id" not in parts or not ({"src", "source"} & parts.keys()):
        raise ConfigError(f"--secret {spec!r}: expected id=NAME,src=PATH")
    src = Path(parts.get("src") or parts["source"]).expanduser()
    if not src.is_file():
        raise ConfigError(f"--secret {spec!r}: {src} is not a readable file")
    return Secret(parts["id"], src)


def parse_build_args(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--build-arg {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _git(project: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def scm_version(settings: Settings, data: Mapping[str, Any]) -> str | None:
    """The version a VCS-tag backend would compute, determined on the host (.git is not sent)."""
    if not uses_scm_version(dict(data)):
        return None
    forced = os.environ.get("SETUPTOOLS_SCM_PRETEND_VERSION")
    if forced:
        return forced
    described = _git(settings.project_dir, "describe", "--tags", "--long", "--match", "*[0-9]*")
    if described is None:
        raise ConfigError(
            "the build backend takes its version from git tags, but no tag is reachable",
            hint="tag a release, or set SETUPTOOLS_SCM_PRETEND_VERSION",
        )
    tag, distance, node = described.rsplit("-", 2)
    version = Version(tag.lstrip("vV"))
    if distance == "0":
        return str(version)
    release = list(version.release) + [0] * (3 - len(version.release))
    release[-1] += 1
    return f"{'.'.join(map(str, release))}.dev{distance}+{node}"


# Without git and without SOURCE_DATE_EPOCH: venvship's fixed epoch, 1980-01-01T00:00:00Z. Not a
# file's mtime (a fresh copy of the project gets new mtimes), and lock files carry no time.
FALLBACK_EPOCH = FIXED_EPOCH


def source_date_epoch(settings: Settings) -> tuple[int, str]:
    """(SOURCE_DATE_EPOCH, where it came from): the environment's, else the last commit's time,
    else :data:`FALLBACK_EPOCH`."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        if not value.isdigit():
            raise ConfigError(f"SOURCE_DATE_EPOCH={value!r}: expected a number of seconds since 1970")
        return int(value), "the environment's SOURCE_DATE_EPOCH"
    committed = _git(settings.project_dir, "log", "-1", "--format=%ct")
    if committed and committed.isdigit():
        return int(committed), "the last commit's time"
    return FALLBACK_EPOCH, "1980-01-01, venvship's fixed value (no git commit, no SOURCE_DATE_EPOCH)"


def base_image_args(attrs: Mapping[str, Any]) -> dict[str, str]:
    """The runtime stage's base image for the OCI base labels and the SBOM: its registry digest,
    else (built locally, never pushed or pulled) its image id, and which of the two it is.
    On the containerd image store every image, pulled or built here, lists its own manifest
    digest in RepoDigests and has it as its id: that digest is 'manifest-digest' (the engine does
    not say whether a registry holds it), never claimed as a registry's."""
    image_id = str(attrs.get("Id", ""))
    digests = [str(d) for d in attrs.get("RepoDigests") or [] if "@sha256:" in str(d)]
    if image_id and any(d.rpartition("@")[2] == image_id for d in digests):
        return {"VENVSHIP_BASE_DIGEST": image_id, "VENVSHIP_BASE_DIGEST_KIND": "manifest-digest"}
    if digests:
        return {"VENVSHIP_BASE_DIGEST": sorted(digests)[0].rpartition("@")[2],
                "VENVSHIP_BASE_DIGEST_KIND": "registry-digest"}
    return {"VENVSHIP_BASE_DIGEST": image_id, "VENVSHIP_BASE_DIGEST_KIND": "local-image-id"}


def label_args(settings: Settings) -> dict[str, str]:
    """OCI label values: deterministic for a commit (SOURCE_DATE_EPOCH, else commit time)."""
    args: dict[str, str] = {}
    revision = _git(settings.project_dir, "rev-parse", "HEAD")
    if revision:
        args["VENVSHIP_REVISION"] = revision
    epoch, _ = source_date_epoch(settings)
    args["SOURCE_DATE_EPOCH"] = str(epoch)
    args["VENVSHIP_CREATED"] = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    remote = _git(settings.project_dir, "config", "--get", "remote.origin.url")
    if remote and "@" not in remote:  # never put credentials in a label
        args["VENVSHIP_SOURCE"] = remote
    if settings.project_version:
        args["VENVSHIP_VERSION"] = settings.project_version
    return args


def needed_envs(settings: Settings, envs: EnvironmentSet, target: str) -> list[str]:
    """Every lock the target installs: main's closure (whatever main is layered on too), the
    build lock, and for the test stages the test environments' closures."""
    names = ["main", BUILD_ENV]
    if target in ("test", "test-deps"):
        names += testenvs.in_image(settings, envs)
    return envs.closure(*names)


def ensure_fresh(settings: Settings, envs: EnvironmentSet, engine: Engine, target: str) -> None:
    names = needed_envs(settings, envs, target)
    problems = lock.check(settings, envs, names, lock.target_if_changed(engine, settings, envs, names))
    if problems:
        raise StaleLockError(
            f"refusing to build from a stale lock: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            hint="run 'venvship lock' (or pass --allow-stale)",
        )


def check_locks_intact(settings: Settings, envs: EnvironmentSet, target: str) -> None:
    """Every lock the build installs is pinned, hashed and as 'venvship lock' wrote it, with or
    without --allow-stale (which only excuses changed inputs). LockIntegrityError names the
    distribution or the file."""
    damaged = freshness.judge(settings, envs, needed_envs(settings, envs, target)).first(freshness.Damaged)
    if isinstance(damaged, freshness.Damaged):
        raise damaged.error


def prepare_context(settings: Settings, envs: EnvironmentSet, workdir: Path) -> Path:
    """The Dockerfile in WORKDIR, and beside it the layer groups' split locks (render.GROUPS_CONTEXT:
    build_request passes that directory as the named context replacing the layer-groups stage)."""
    dockerfile = workdir / "Dockerfile"
    dockerfile.write_text(render_dockerfile(settings, envs))
    for name, data in split_group_locks(settings, envs).items():
        path = workdir / GROUPS_CONTEXT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if not (settings.project_dir / ".dockerignore").exists():
        # BuildKit reads <Dockerfile>.dockerignore when the context has no .dockerignore.
        (workdir / "Dockerfile.dockerignore").write_text(DEFAULT_DOCKERIGNORE)
    return dockerfile


def build_request(settings: Settings, opts: BuildOptions, dockerfile: Path) -> BuildRequest:
    for ref in opts.images:
        validate_reference(ref)
    validate_reference(settings.image.base, "base image")
    validate_reference(settings.image.effective_runtime, "runtime image")
    args = {"BASE_IMAGE": settings.image.base, "RUNTIME_IMAGE": settings.image.effective_runtime,
            **label_args(settings)}
    version = scm_version(settings, read_pyproject(settings.project_dir))
    if version:
        args["VENVSHIP_APP_VERSION"] = version
        args.setdefault("VENVSHIP_VERSION", version)
    args.update(opts.build_args)
    platform = opts.platform or settings.platforms.current or None  # export, test: the settings' platform
    extra_secrets: tuple[Secret, ...] = ()
    if settings.build.command_env and not settings.package and opts.target not in ("test", "test-deps"):
        # build-command-env: a secret file the build-commands step sources; never a build arg
        env_file = dockerfile.parent / "venvship-build-env"
        env_file.touch(mode=0o600)
        values = sorted(build_command_values(settings).items())
        env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values))
        extra_secrets = (Secret("venvship_build_env", env_file),)
    groups = dockerfile.parent / GROUPS_CONTEXT
    return BuildRequest(
        context=settings.project_dir, dockerfile=dockerfile, target=opts.target, tags=opts.images,
        output=opts.output, build_args=args,
        build_contexts={GROUPS_CONTEXT: groups} if groups.is_dir() else {},
        secrets=lock.ca_secrets(settings) + extra_secrets + tuple(parse_secret(s) for s in opts.secrets),
        no_cache=opts.no_cache, platform=platform, push=opts.push, builder=opts.builder,
        cache_from=opts.cache_from, cache_to=opts.cache_to,
    )


@dataclass(frozen=True)
class BuildSummary:
    image_id: str | None
    tags: tuple[str, ...]
    digest: str | None
    size: int | None
    seconds: float
    target: str
    verified: bool = False
    verify_seconds: float | None = None
    pushed: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id, "tags": list(self.tags), "digest": self.digest,
            "size": self.size, "target": self.target, "verified": self.verified,
            "pushed": list(self.pushed),
            "timings": {"build_seconds": round(self.seconds, 3),
                        "verify_seconds": None if self.verify_seconds is None else round(self.verify_seconds, 3)},
        }


# ---- safe tags: build to a scratch tag, verify, then move the requested tags and push ------------
SCRATCH_REPOSITORY = "venvship-unverified"


@dataclass(frozen=True)
class Step:
    """One effect of a build, in the order :func:`build` carries them out."""

    action: str  # build | verify | tag | push | untag
    ref: str


def scratch_tag(settings: Settings) -> str:
    """A tag of this build alone: the image is built and verified under it, then it is removed."""
    slug = re.sub(r"[^a-z0-9]+", "-", settings.project_name.lower()).strip("-") or "app"
    return f"{SCRATCH_REPOSITORY}/{slug}:{uuid.uuid4().hex[:16]}"


def direct_push(opts: BuildOptions) -> bool:
    """A multi-platform push cannot be loaded into the engine first: BuildKit pushes it itself
    (only with --no-verify, see :func:`build`)."""
    return opts.push and "," in (opts.platform or "")


def publish_plan(opts: BuildOptions, scratch: str, *, verify: bool) -> list[Step]:
    """What ``build`` does, in order (pure). The requested tags are touched, and anything pushed,
    only after the image built under ``scratch`` passed verification."""
    if direct_push(opts):
        return [Step("build", t) for t in opts.images[:1]]
    steps = [Step("build", scratch)]
    if verify:
        steps.append(Step("verify", scratch))
    steps += [Step("tag", t) for t in opts.images]
    if opts.push:
        steps += [Step("push", t) for t in opts.images]
    steps.append(Step("untag", scratch))
    return steps


def _tags_before(engine: Engine, refs: Sequence[str]) -> dict[str, str | None]:
    before: dict[str, str | None] = {}
    for ref in refs:
        attrs = engine.image(ref)
        before[ref] = str(attrs["Id"]) if attrs else None
    return before


def _unchanged(before: Mapping[str, str | None]) -> str:
    return "; ".join(f"{ref} still names {old[:19]}" if old else f"{ref} was not created"
                     for ref, old in before.items())


def build(settings: Settings, envs: EnvironmentSet, engine: Engine, opts: BuildOptions, *,
          stream: IO[str] | None, check: Callable[[str], float] | None = None) -> BuildSummary:
    """Build; with ``check`` (verify), run it on the new image before any requested tag moves or
    anything is pushed. A failed check leaves every tag as it was and says so (VerifyError)."""
    for ref in opts.images:  # what needs no engine first: a typo fails fast, daemon or not
        validate_reference(ref)
    if direct_push(opts) and check is not None:
        raise ConfigError(
            f"--platform {opts.platform} --push: BuildKit pushes a multi-platform image itself, so it "
            "cannot be verified before it is pushed (the command line builds and verifies each platform first)",
            hint="build, verify and push one platform at a time (--platform linux/arm64 --push --image "
                 "REG/app:1.2-arm64, ...), then assemble the manifest list with 'docker buildx imagetools "
                 "create -t REG/app:1.2 REG/app:1.2-amd64 REG/app:1.2-arm64'; or pass --no-verify to push it "
                 "unverified, on an engine with the containerd image store (scripts/setup-docker --containerd-store)",
        )
    check_locks_intact(settings, envs, opts.target)
    engine.check()
    engine.frontend()
    settings = with_build_platform(settings, engine)
    runtime_base = engine.require_image(settings.image.base, "base image")
    cross = cross_install(settings, envs.closure("main"))
    if cross:  # the venv is installed on the build platform, in its base image
        engine.require_image(cross["base_image"], f"base image of the build platform ({cross['platform']})")
    if settings.image.effective_runtime != settings.image.base:
        runtime_base = engine.require_image(settings.image.effective_runtime, "runtime image")
    opts = replace(opts, build_args={**base_image_args(runtime_base), **opts.build_args})
    if not opts.allow_stale:
        ensure_fresh(settings, envs, engine, opts.target)
    scratch = scratch_tag(settings)
    plan = publish_plan(opts, scratch, verify=check is not None)
    before = _tags_before(engine, opts.images) if not direct_push(opts) else {}
    verify_seconds: float | None = None
    result = None
    pushed: list[str] = []
    try:
        for step in plan:
            if step.action == "build":
                built = opts if direct_push(opts) else replace(opts, images=(step.ref,), push=False)
                with tempfile.TemporaryDirectory(prefix="venvship-") as tmp:
                    dockerfile = prepare_context(settings, envs, Path(tmp))
                    result = engine.build(build_request(settings, built, dockerfile), stream=stream)
            elif step.action == "verify":
                assert check is not None
                try:
                    verify_seconds = check(step.ref)
                except VerifyError as exc:
                    reason = exc.message.replace(f"{step.ref}: ", "", 1).replace(step.ref, "the new image")
                    image = (result.image_id or "")[:19] if result else ""
                    raise VerifyError(
                        f"the new image {image} failed verification, no tag moved: {reason}",
                        hint=f"{_unchanged(before)}; fix the image and build again "
                             "(--no-verify and another tag let you look inside it)",
                    ) from None
            elif step.action == "tag":
                engine.tag(scratch, step.ref)
            elif step.action == "push":
                engine.push(step.ref, stream=stream)
                pushed.append(step.ref)
    finally:
        if not direct_push(opts):
            engine.remove_image(scratch)  # only the scratch tag when the image has others
    assert result is not None
    size = digest = None
    image_id = result.image_id
    if result.image_id and not direct_push(opts):
        # The iidfile holds the config digest: the image's id on the classic store. The containerd
        # store knows an image by its manifest digest (containerimage.digest): its id there.
        manifest = str(result.metadata.get("containerimage.digest") or "")
        attrs = engine.image(result.image_id) or (engine.image(manifest) if manifest else None)
        if attrs:
            image_id = str(attrs.get("Id") or image_id)
            size = int(attrs.get("Size", 0))
            digest = (attrs.get("RepoDigests") or [None])[0]
    digest = digest or result.metadata.get("containerimage.digest")
    return BuildSummary(image_id, opts.images, digest, size, result.seconds, opts.target,
                        verified=verify_seconds is not None, verify_seconds=verify_seconds,
                        pushed=tuple(pushed) if not direct_push(opts) else opts.images)

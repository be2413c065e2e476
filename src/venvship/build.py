"""``venvship build``: plan the build and run it (the image is then checked by :mod:`venvship.verify`)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from packaging.version import Version

from . import lock as locking
from . import lockfile
from .engine import BuildRequest, Engine, Secret, validate_reference
from .environments import BUILD_ENV, EnvironmentSet
from .errors import ConfigError, StaleLockError
from .render import render_dockerfile, uses_scm_version
from .settings import Settings, read_pyproject
from .verify import VerifyOptions as VerifyOptions  # re-exported: build runs verify
from .verify import verify as verify

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


def label_args(settings: Settings) -> dict[str, str]:
    """OCI label values: deterministic for a commit (SOURCE_DATE_EPOCH, else commit time)."""
    args: dict[str, str] = {}
    revision = _git(settings.project_dir, "rev-parse", "HEAD")
    if revision:
        args["VENVSHIP_REVISION"] = revision
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or _git(settings.project_dir, "log", "-1", "--format=%ct")
    if epoch and epoch.isdigit():
        args["VENVSHIP_CREATED"] = datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
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
        names += [env for env in settings.test_envs if env in envs.envs]
    return envs.closure(*names)


def ensure_fresh(settings: Settings, envs: EnvironmentSet, engine: Engine, target: str) -> None:
    names = needed_envs(settings, envs, target)
    problems = locking.check(settings, envs, names, locking.target_if_changed(engine, settings, envs, names))
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
    for env in needed_envs(settings, envs, target):
        lock = lockfile.read(settings.lock_path(env), env)
        if lock is not None:
            lockfile.check_integrity(lock, f"{settings.requirements_dir}/{env}.txt")


def prepare_context(settings: Settings, envs: EnvironmentSet, workdir: Path) -> Path:
    dockerfile = workdir / "Dockerfile"
    dockerfile.write_text(render_dockerfile(settings, envs))
    if not (settings.project_dir / ".dockerignore").exists():
        # BuildKit reads <Dockerfile>.dockerignore when the context has no .dockerignore.
        (workdir / "Dockerfile.dockerignore").write_text(DEFAULT_DOCKERIGNORE)
    return dockerfile


def build_request(settings: Settings, envs: EnvironmentSet, opts: BuildOptions, dockerfile: Path) -> BuildRequest:
    for ref in opts.images:
        validate_reference(ref)
    validate_reference(settings.base_image, "base image")
    validate_reference(settings.effective_runtime_image, "runtime image")
    args = {"BASE_IMAGE": settings.base_image, "RUNTIME_IMAGE": settings.effective_runtime_image,
            **label_args(settings)}
    version = scm_version(settings, read_pyproject(settings.project_dir))
    if version:
        args["VENVSHIP_APP_VERSION"] = version
        args.setdefault("VENVSHIP_VERSION", version)
    args.update(opts.build_args)
    return BuildRequest(
        context=settings.project_dir, dockerfile=dockerfile, target=opts.target, tags=opts.images,
        output=opts.output, build_args=args,
        secrets=locking.ca_secrets(settings) + tuple(parse_secret(s) for s in opts.secrets),
        no_cache=opts.no_cache, platform=opts.platform, push=opts.push, builder=opts.builder,
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

    def as_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id, "tags": list(self.tags), "digest": self.digest,
            "size": self.size, "target": self.target, "verified": self.verified,
            "timings": {"build_seconds": round(self.seconds, 3),
                        "verify_seconds": None if self.verify_seconds is None else round(self.verify_seconds, 3)},
        }


def build(settings: Settings, envs: EnvironmentSet, engine: Engine, opts: BuildOptions, *,
          stream: IO[str] | None) -> BuildSummary:
    for ref in opts.images:  # what needs no engine first: a typo fails fast, daemon or not
        validate_reference(ref)
    check_locks_intact(settings, envs, opts.target)
    engine.client()
    engine.frontend()
    engine.require_image(settings.base_image, "base image")
    if settings.effective_runtime_image != settings.base_image:
        engine.require_image(settings.effective_runtime_image, "runtime image")
    if not opts.allow_stale:
        ensure_fresh(settings, envs, engine, opts.target)
    with tempfile.TemporaryDirectory(prefix="venvship-") as tmp:
        dockerfile = prepare_context(settings, envs, Path(tmp))
        req = build_request(settings, envs, opts, dockerfile)
        result = engine.build(req, stream=stream)
    size = digest = None
    if result.image_id and not opts.push:
        attrs = engine.image(result.image_id)
        if attrs:
            size = int(attrs.get("Size", 0))
            digest = (attrs.get("RepoDigests") or [None])[0]
    digest = digest or result.metadata.get("containerimage.digest")
    return BuildSummary(result.image_id, opts.images, digest, size, result.seconds, opts.target)

"""``venvship build`` and ``venvship verify``: plan the build, run it, check the image."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from . import lock as locking
from . import lockfile
from .engine import BuildRequest, Engine, Secret, validate_reference
from .environments import BUILD_ENV, EnvironmentSet
from .errors import ConfigError, StaleLockError, VerifyError
from .probes import MARKERS_PY
from .render import render_dockerfile
from .settings import Settings, read_pyproject

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
SCM_BACKENDS = ("setuptools-scm", "setuptools_scm", "hatch-vcs", "hatch_vcs")


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
    requires = " ".join(data.get("build-system", {}).get("requires", [])).lower()
    if not any(b in requires for b in SCM_BACKENDS):
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


# ---- verify ----------------------------------------------------------------------------------
VERIFY_PY = MARKERS_PY + r"""
import importlib, importlib.metadata as md, json, os, platform, shutil, sys
module = sys.argv[1] if len(sys.argv) > 1 else ""
prefix = os.path.realpath(sys.prefix)
dists, requires = {}, {}
for d in md.distributions():
    path = os.path.realpath(str(d.locate_file("")))
    if not path.startswith(prefix + os.sep):
        continue
    name = d.metadata["Name"]
    dists[name] = d.version
    requires[name] = list(d.requires or [])
err = None
if module:
    try:
        importlib.import_module(module)
    except Exception as exc:
        err = "%s: %s" % (type(exc).__name__, exc)
env = markers()
compilers = sorted({c for c in ("cc", "gcc", "g++", "c++", "clang", "tcc", "x86_64-linux-gnu-gcc") if shutil.which(c)})
print(json.dumps({"prefix": sys.prefix, "executable": sys.executable, "python": platform.python_version(),
                  "uid": os.getuid(), "dists": dists, "requires": requires, "import_error": err,
                  "markers": env, "compilers": compilers}))
"""


def verify_report(data: Mapping[str, Any], settings: Settings, main_lock: lockfile.Lock,
                  project_name: str, app_module: str) -> list[str]:
    """Every way the image breaks its promises (pure; ``data`` is VERIFY_PY's output)."""
    problems: list[str] = []
    venv = settings.venv_path.rstrip("/")
    if os.path.normpath(data["prefix"]) != venv:
        problems.append(f"the interpreter's prefix is {data['prefix']}, expected {venv}")
    problems += lockfile.venv_mismatches(main_lock, data["dists"], project_name, data["markers"],
                                         data["python"], "installed")
    all_installed = {canonicalize_name(k): v for k, v in data["dists"].items()}
    markers = dict(data["markers"])
    for dist, reqs in data["requires"].items():
        for text in reqs:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({**markers, "extra": ""}):
                continue
            have = all_installed.get(canonicalize_name(req.name))
            if have is None:
                problems.append(f"{dist} requires {text}, which is not installed")
            elif req.specifier and not req.specifier.contains(have, prereleases=True):
                problems.append(f"{dist} requires {text}, but {req.name} {have} is installed")
    if data.get("import_error"):
        problems.append(f"'import {app_module}' fails: {data['import_error']}")
    if int(data["uid"]) == 0:
        problems.append("the image runs as root")
    if data.get("compilers"):
        problems.append("compilers in the runtime image: " + ", ".join(data["compilers"]))
    return problems


def app_module_name(settings: Settings) -> str:
    return settings.app_module or settings.project_name.replace("-", "_").lower()


def verify(settings: Settings, engine: Engine, image: str) -> float:
    validate_reference(image)
    engine.require_image(image)
    main_lock = lockfile.read(settings.lock_path("main"), "main")
    if main_lock is None:
        raise VerifyError("requirements/main.txt is missing: nothing to verify against")
    started = time.monotonic()
    module = app_module_name(settings)
    code, out = engine.run(image, ["-c", VERIFY_PY, module],
                           entrypoint=[f"{settings.venv_path.rstrip('/')}/bin/python"])
    if code != 0:
        raise VerifyError(f"the venv's interpreter does not run in {image}: {out.strip()[-300:]}")
    data = json.loads(out.strip().splitlines()[-1])
    problems = verify_report(data, settings, main_lock, settings.project_name, module)
    if problems:
        more = f" (+{len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""
        raise VerifyError(f"{image}: {problems[0]}{more}")
    return time.monotonic() - started

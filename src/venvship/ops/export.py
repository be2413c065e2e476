"""``venvship export``: the build stage's venv as a tarball or a Debian package.

The Dockerfile's ``export-tar`` / ``export-deb`` stages (templates/export.j2) start FROM the
same ``build`` stage as the image, so the venv comes from the same interpreter, path and locks
(a source-tree app's tree at app-dir too, after its build-commands: see :func:`app_spec`).
They run :mod:`venvship.export_script` (handed over, with the package spec, in the named build
context ``venvship-export``) with the venv's interpreter and leave the artefact and its manifest
in ``/out``; BuildKit's local exporter hands them to the host. Everything that
only depends on settings and pyproject.toml (names, maintainer, Depends) is decided here, pure;
what only the container knows (architecture, the Python it runs, the app's built version) is
decided there.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, get_args

from .. import lockfile
from ..engine import Engine
from ..environments import EnvironmentSet
from ..errors import BuildError, ConfigError, ExportError
from ..export_script import DEB_VERSION, ERROR_PREFIX
from ..interpreter import PROBE_FILE, probe_source
from ..render import default_command
from ..settings import Settings, read_pyproject
from .build import BuildOptions, build_request, ensure_fresh, prepare_context, with_build_platform

Format = Literal["tar", "deb"]
FORMATS: tuple[Format, ...] = get_args(Format)
TARGETS = {"tar": "export-tar", "deb": "export-deb"}
EXPORT_CONTEXT = "venvship-export"  # the named build context templates/export.j2 copies from
PLACEHOLDER_EMAIL = "root@localhost"
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_MAINTAINER = re.compile(r"^[^<>,\n]+ <[^<>@\s]+@[^<>\s]+>$")
_RELATION = re.compile(
    r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?"
    r"(?:\s*\(\s*(?:<<|<=|=|>=|>>)\s*[A-Za-z0-9.+~:-]+\s*\))?"
    r"(?:\s*\[[^\]\n]+\])?$"
)
_SCRIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


# ---- pure: names, defaults, the spec the container reads -----------------------------------
def debian_name(project: str) -> str:
    """A Debian package name from a Python project name: lower case, ``_`` -> ``-``."""
    name = re.sub(r"[^a-z0-9+.-]+", "-", project.lower().replace("_", "-")).strip("-.+")
    return name if len(name) >= 2 else f"{name}-app" if name else "app"


def _people(project: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    people = project.get(key)
    return [p for p in people if isinstance(p, Mapping)] if isinstance(people, list) else []


def default_maintainer(project_name: str, project: Mapping[str, Any]) -> str:
    """The first of [project] maintainers, then authors, with an email; else a placeholder."""
    for person in _people(project, "maintainers") + _people(project, "authors"):
        email = str(person.get("email") or "").strip()
        if "@" in email and not any(c in email for c in "<>, \n"):
            who = re.sub(r"[<>,]", "", " ".join(str(person.get("name") or "").split())).strip()
            return f"{who or project_name + ' maintainers'} <{email}>"
    return f"{project_name} maintainers <{PLACEHOLDER_EMAIL}>"


def homepage(project: Mapping[str, Any]) -> str:
    urls = project.get("urls")
    if isinstance(urls, Mapping):
        for key, value in urls.items():
            if str(key).lower().replace("-", "").replace("_", "") in ("homepage", "home"):
                return str(value).strip()
    return ""


def run_environment(settings: Settings) -> list[tuple[str, str]]:
    """The runtime image's ENV for a source-tree app, in the image's order (pure)."""
    venv = settings.image.venv_path.rstrip("/") or "/app"
    return [("PATH", f"{venv}/bin:$PATH"), ("VIRTUAL_ENV", venv), ("LANG", "C.UTF-8"),
            ("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1"),
            ("PYTHONPATH", settings.app_dir.rstrip("/")), *sorted(settings.runtime.env.items())]


def app_spec(settings: Settings, data: Mapping[str, Any], deb_name: str) -> dict[str, Any] | None:
    """A source-tree app (nothing to build): its tree at app-dir, and what the runtime image
    sets for running it, which the artefact's run wrapper sets too (pure). None for a package."""
    if settings.package:
        return None
    entrypoint, command = default_command(settings, dict(data))
    return {
        "dir": settings.app_dir.rstrip("/"),
        "version": settings.project_version,
        "env": [list(pair) for pair in run_environment(settings)],
        "workdir": settings.runtime.workdir,
        "entrypoint": list(entrypoint),
        "command": list(command),
        # the wrapper: outside the venv (which stays the image's, file for file) and the tree
        "run": {"tar": f"/usr/local/bin/{debian_name(settings.project_name)}",
                "deb": f"/usr/bin/{deb_name}"},
    }


def deb_spec(settings: Settings, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the export stages need to know about the project and the package (pure)."""
    project = data.get("project", {})
    project = project if isinstance(project, Mapping) else {}
    scripts = project.get("scripts", {})
    description = str(project.get("description") or "").strip()
    deb_name = settings.deb.name or debian_name(settings.project_name)
    return {
        "app": app_spec(settings, data, deb_name),
        "project": settings.project_name,
        "venv_path": settings.image.venv_path.rstrip("/") or "/app",
        "deb": {
            "name": deb_name,
            "version": settings.deb.version or None,
            "maintainer": settings.deb.maintainer
            or default_maintainer(settings.project_name, project),
            "description": settings.deb.description
            or (description.splitlines()[0] if description else "")
            or f"{settings.project_name} (Python application)",
            "homepage": homepage(project),
            "depends": list(dict.fromkeys([*settings.runtime.packages, *settings.deb.depends])),
            "python_depends": settings.deb.python_depends,
            "links": sorted(scripts)
            if settings.deb.link_entry_points and isinstance(scripts, Mapping) else [],
        },
    }


def context_files(spec: Mapping[str, Any]) -> dict[str, str]:
    """The named build context ``venvship-export``: the export script, the probe it describes the
    venv with, and the spec it reads."""
    script = (Path(__file__).parent.parent / "export_script.py").read_text(encoding="utf-8")
    return {"export_script.py": script, PROBE_FILE: probe_source(),
            "spec.json": json.dumps(spec, indent=2, sort_keys=True) + "\n"}


def check_deb_spec(spec: Mapping[str, Any]) -> list[str]:
    """Everything wrong with the package settings (pure)."""
    deb = spec["deb"]
    problems = []
    if not _DEB_NAME.match(deb["name"]):
        problems.append(f"deb-name {deb['name']!r} is not a Debian package name "
                        "(lower case letters, digits, '+', '-', '.'; two characters or more)")
    if deb["version"] is not None and not DEB_VERSION.match(deb["version"]):
        problems.append(f"deb-version {deb['version']!r} is not a Debian version")
    app = spec.get("app")
    if app is not None and deb["version"] is None and not app["version"]:
        problems.append(f"{spec['project']} is a source tree with no version ([project] version): "
                        'set deb-version (e.g. deb-version = "1.0") in [tool.venvship]')
    if not _MAINTAINER.match(deb["maintainer"]):
        problems.append(f"deb-maintainer {deb['maintainer']!r} must look like 'Name <email>'")
    if "\n" in deb["description"] or not deb["description"].strip():
        problems.append("deb-description must be one non-empty line")
    for dep in deb["depends"]:
        if not all(_RELATION.match(alt.strip()) for alt in dep.split("|")):
            problems.append(f"deb-depends / runtime-packages: {dep!r} is not a Debian dependency")
    python = deb["python_depends"]
    if python not in ("auto", "none") and not all(
        _RELATION.match(alt.strip()) for d in python.split(",") for alt in d.split("|")
    ):
        problems.append(f"deb-python-depends {python!r}: expected auto, none or dependencies")
    for script in deb["links"]:
        if not _SCRIPT.match(script):
            problems.append(f"entry point {script!r} cannot be linked into /usr/bin")
    return problems


def compare_manifest(manifest: Mapping[str, Any], lock: lockfile.Lock,
                     project_name: str) -> list[str]:
    """How the exported venv differs from the main lock (plus the app itself). Pure."""
    return lockfile.venv_mismatches(lock, manifest["distributions"], project_name,
                                    manifest.get("markers", {}), manifest.get("python"), "in the venv")


def failure_reason(log: str) -> str | None:
    """The export script's own error line in a BuildKit log, if it printed one."""
    found = None
    for line in log.splitlines():
        _, sep, rest = line.partition(ERROR_PREFIX)
        if sep:
            found = rest.strip()
    return found


def _more(problems: Sequence[str]) -> str:
    return f" (+{len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""


# ---- effects --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportOptions:
    fmt: Format = "tar"
    output: Path = Path("dist")
    allow_stale: bool = False
    no_cache: bool = False


@dataclass(frozen=True)
class ExportResult:
    """What ``venvship export`` made: the artefact, its manifest (JSON, beside it), the
    distributions it holds (name -> version) and the seconds it took."""

    fmt: Format
    artefact: Path
    manifest: Path
    distributions: Mapping[str, str]
    seconds: float
    app_dir: str | None = None  # a source-tree app: its tree, and the wrapper that runs it
    run: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.fmt, "artefact": str(self.artefact), "manifest": str(self.manifest),
            "distributions": dict(self.distributions), "app_dir": self.app_dir, "run": self.run,
            "timings": {"export_seconds": round(self.seconds, 3)},
        }


class _Tee:
    """Keeps the build log (for the export script's error line) while streaming progress."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out
        self.lines: list[str] = []

    def write(self, line: str) -> int:
        self.lines.append(line)
        if self.out is not None:
            self.out.write(line)
        return len(line)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()


def _collect(outdir: Path, fmt: Format) -> tuple[Path, Path]:
    suffix = ".deb" if fmt == "deb" else ".tar.gz"
    artefacts = sorted(outdir.glob(f"*{suffix}"))
    manifests = sorted(outdir.glob("*.manifest.json"))
    if len(artefacts) != 1 or len(manifests) != 1:
        raise ExportError(f"the export stage left {[p.name for p in outdir.iterdir()]}, "
                          f"expected one {suffix} and one manifest")
    return artefacts[0], manifests[0]


def _publish(files: Sequence[Path], dest: Path) -> list[Path]:
    try:
        dest.mkdir(parents=True, exist_ok=True)
        out = []
        for src in files:
            target = dest / src.name
            if target.is_dir():
                raise ExportError(f"{target} is a directory")
            target.unlink(missing_ok=True)
            shutil.move(str(src), str(target))
            out.append(target)
        return out
    except OSError as exc:
        raise ExportError(f"cannot write to {dest}: {exc.strerror or exc}") from None


def export(settings: Settings, envs: EnvironmentSet, engine: Engine, opts: ExportOptions, *,
           stream: IO[str] | None) -> ExportResult:
    if opts.fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {opts.fmt!r}")
    spec = deb_spec(settings, read_pyproject(settings.project_dir))
    if opts.fmt == "deb":
        problems = check_deb_spec(spec)
        if problems:
            raise ConfigError(problems[0] + _more(problems))
    chain = envs.closure("main")  # main and whatever it is layered on: all of it is installed
    locks: list[lockfile.Lock] = []
    for name in chain:
        lock_ = lockfile.read(settings.lock_path(name), name)
        if lock_ is None:
            raise ExportError(f"{settings.requirements_dir}/{name}.txt is missing",
                              hint="run 'venvship lock' first")
        locks.append(lock_)
    main_lock = lockfile.combine(locks)
    lock_names = " + ".join(f"{settings.requirements_dir}/{settings.lock_file(n)}" for n in chain)
    target = TARGETS[opts.fmt]
    engine.client()
    engine.frontend()
    settings = with_build_platform(settings, engine)
    engine.require_image(settings.image.base, "base image")
    if not opts.allow_stale:
        ensure_fresh(settings, envs, engine, target)
    with tempfile.TemporaryDirectory(prefix="venvship-export-") as tmp:
        outdir, files = Path(tmp) / "out", Path(tmp) / "export-context"
        files.mkdir()
        for name, text in context_files(spec).items():
            (files / name).write_text(text, encoding="utf-8")
        dockerfile = prepare_context(settings, envs, Path(tmp))
        req = build_request(settings, BuildOptions(
            target=target, no_cache=opts.no_cache, output=f"type=local,dest={outdir}",
        ), dockerfile)
        req = replace(req, build_contexts={**req.build_contexts, EXPORT_CONTEXT: files})
        tee = _Tee(stream)
        started = time.monotonic()
        try:
            engine.build(req, stream=tee)  # type: ignore[arg-type]
        except BuildError:
            reason = failure_reason("".join(tee.lines))
            if reason:
                raise ExportError(f"{opts.fmt} export failed: {reason}") from None
            raise
        seconds = time.monotonic() - started
        artefact, manifest_path = _collect(outdir, opts.fmt)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        # a source-tree app is no distribution in the venv: exactly the locks then
        problems = compare_manifest(manifest, main_lock,
                                    settings.project_name if settings.package else "")
        if problems:
            raise ExportError(
                f"the exported venv does not match {lock_names}: "
                + problems[0] + _more(problems),
                hint="run 'venvship lock', or build without --allow-stale",
            )
        artefact, manifest_path = _publish([artefact, manifest_path], opts.output)
    return ExportResult(opts.fmt, artefact, manifest_path, dict(manifest["distributions"]), seconds,
                        manifest.get("app_dir"), manifest.get("run"))

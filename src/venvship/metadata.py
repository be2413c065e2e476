"""The project's own metadata (name, version, Requires-Dist, extras), read the standard way.

A complete static ``[project]`` table (a name, and ``dependencies`` / ``optional-dependencies``
not listed in ``dynamic``) is used as it is. Otherwise (setup.py, setup.cfg, Poetry's
``[tool.poetry]``, a dynamic dependency list) the project's PEP 517 backend answers in the lock
stage (``prepare_metadata_for_build_wheel``, else a built wheel's METADATA), and ``venvship lock``
records its answer in ``<requirements-dir>/project-metadata.json``, next to the locks. Every
other command reads that record, without a container; the record names the files that define
the metadata with their SHA-256, so ``lock --check`` notices when one changes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .layers import SIZES_NAME

RECORD_NAME = "project-metadata.json"

_LOCK_MARK = "# venvship: env ="
# Not tracked as metadata sources: code (a version read from a module: no lock depends on the
# version) and prose (a long description), so a release or a README edit needs no new lock.
_NOT_REQUIREMENTS = (".py", ".pyc", ".md", ".rst")
_PROSE = re.compile(r"^(readme|changelog|changes|history|license|licence|copying|authors|notice)\b", re.I)


@dataclass(frozen=True)
class Record:
    """The backend's answer, as recorded by ``venvship lock``."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    provides_extra: tuple[str, ...]
    backend: str
    sources: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256

    def text(self) -> str:
        return json.dumps({
            "comment": "Written by 'venvship lock' from the project's build backend; do not edit.",
            "name": self.name,
            "version": self.version,
            "backend": self.backend,
            "requires-dist": list(self.requires_dist),
            "provides-extra": list(self.provides_extra),
            "sources": dict(sorted(self.sources.items())),
        }, indent=2) + "\n"

    def project_table(self, declared: Mapping[str, Any]) -> dict[str, Any]:
        """A ``[project]``-shaped table: main's requirements and one list per extra."""
        deps, extras = split_requires_dist(self.requires_dist, self.provides_extra)
        return {**declared, "name": self.name, "version": self.version, "dependencies": deps,
                "optional-dependencies": extras}


def record_path(project_dir: Path, requirements_dir: str) -> Path:
    return project_dir / requirements_dir / RECORD_NAME


def read_record(project_dir: Path, requirements_dir: str) -> Record | None:
    path = record_path(project_dir, requirements_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Record(str(data["name"]), str(data.get("version", "")),
                      tuple(data.get("requires-dist", ())), tuple(data.get("provides-extra", ())),
                      str(data.get("backend", "")), dict(data.get("sources", {})))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def has_backend(project_dir: Path, data: Mapping[str, Any]) -> bool:
    """Whether a PEP 517 backend builds the project (declared, or setuptools' legacy default
    for a setup.py / setup.cfg)."""
    return ("build-system" in data or (project_dir / "setup.py").is_file()
            or (project_dir / "setup.cfg").is_file())


def is_static(data: Mapping[str, Any]) -> bool:
    """A ``[project]`` table with a name whose dependency lists are not left to the backend.
    A dynamic version alone does not need the backend: locks do not depend on it."""
    project = data.get("project")
    if not isinstance(project, dict) or not project.get("name"):
        return False
    dynamic = set(project.get("dynamic", []))
    return not dynamic & {"dependencies", "optional-dependencies"}


def needs_backend(project_dir: Path, data: Mapping[str, Any], settings: Any = None) -> bool:
    """Whether the backend must be asked; never for an app with nothing to build (package = false)."""
    if settings is not None and not getattr(settings, "package", True):
        return False
    return not is_static(data) and has_backend(project_dir, data)


# ---- which files define the metadata ------------------------------------------------------
def source_files(project_dir: Path, data: Mapping[str, Any], requirements_dir: str) -> list[str]:
    """pyproject.toml, setup.py, setup.cfg, and the files they are known to read: string
    literals of setup.py naming existing files (or, ending in '/', every file of a directory),
    ``file:`` directives of setup.cfg, ``[tool.setuptools.dynamic]`` files, and the ``files`` of
    hatch metadata hooks. Code, prose and venvship's own outputs are never sources."""
    found: list[str] = [n for n in ("pyproject.toml", "setup.py", "setup.cfg") if (project_dir / n).is_file()]

    def add(rel: str) -> None:
        rel = rel.strip()
        rel = rel[2:] if rel.startswith("./") else rel
        if not rel or rel.startswith("/") or ".." in Path(rel).parts or "\n" in rel:
            return
        path = project_dir / rel
        if rel.endswith("/") and path.is_dir():
            for child in sorted(path.iterdir()):
                add(str(child.relative_to(project_dir)))
            return
        if (path.is_file() and rel not in found and path.suffix not in _NOT_REQUIREMENTS
                and not _PROSE.match(path.name) and not _is_venvship_output(path, requirements_dir, project_dir)):
            found.append(rel)

    setup_py = project_dir / "setup.py"
    if setup_py.is_file():
        try:
            tree = ast.parse(setup_py.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
                    add(node.value)
    setup_cfg = project_dir / "setup.cfg"
    if setup_cfg.is_file():
        text = setup_cfg.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"=\s*file:\s*([^\n]+)", text):
            for item in re.split(r"[,\s]+", m.group(1)):
                add(item)
    dynamic = data.get("tool", {}).get("setuptools", {}).get("dynamic", {})
    for value in _walk(dynamic):
        if isinstance(value, dict):
            files = value.get("file", [])
            for item in [files] if isinstance(files, str) else files:
                add(str(item))
    hooks = data.get("tool", {}).get("hatch", {}).get("metadata", {}).get("hooks", {})
    for value in _walk(hooks):
        if isinstance(value, dict):
            for key in ("files", "filename", "path"):
                items = value.get(key, [])
                for item in [items] if isinstance(items, str) else items if isinstance(items, list) else []:
                    add(str(item))
    return found


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    return out


def _is_venvship_output(path: Path, requirements_dir: str, project_dir: Path) -> bool:
    if path.parent != project_dir / requirements_dir:
        return False
    if (path.name in (RECORD_NAME, SIZES_NAME) or path.name.startswith("pylock.")
            or (path.name.startswith("wheel-sizes.") and path.suffix == ".list")):  # another platform's
        return True
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(_LOCK_MARK) or _LOCK_MARK in fh.read(4000)
    except OSError:
        return False


def hash_sources(project_dir: Path, files: list[str]) -> dict[str, str]:
    """SHA-256 of each file; of pyproject.toml, of its parsed content without [tool.venvship]
    (venvship's own settings never change what the backend answers)."""
    out: dict[str, str] = {}
    for rel in files:
        blob = (project_dir / rel).read_bytes()
        if rel == "pyproject.toml":
            try:
                data = tomllib.loads(blob.decode("utf-8"))
                data.get("tool", {}).pop("venvship", None)
                blob = json.dumps(data, sort_keys=True, default=str).encode()
            except (UnicodeDecodeError, tomllib.TOMLDecodeError):
                pass
        out[rel] = hashlib.sha256(blob).hexdigest()
    return out


def changed_sources(project_dir: Path, data: Mapping[str, Any], requirements_dir: str,
                    record: Record) -> list[str]:
    """Files defining the metadata that changed, appeared or went away since the record."""
    now = hash_sources(project_dir, source_files(project_dir, data, requirements_dir))
    changed = [rel for rel, digest in record.sources.items() if now.get(rel) != digest]
    return changed + [rel for rel in now if rel not in record.sources]


# ---- Requires-Dist -> environments ----------------------------------------------------------
def split_requires_dist(requires: tuple[str, ...] | list[str],
                        extras: tuple[str, ...] | list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Main's requirements and each extra's, with the ``extra == "x"`` clause taken out."""
    main: list[str] = []
    by_extra: dict[str, list[str]] = {canonicalize_name(e): [] for e in extras}
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            main.append(text)  # environments.parse_requirement names it
            continue
        extra, rest = _take_extra(req.marker)
        req.marker = rest
        if extra is None:
            main.append(str(req))
        else:
            by_extra.setdefault(canonicalize_name(extra), []).append(str(req))
    return main, by_extra


def _take_extra(marker: Marker | None) -> tuple[str | None, Marker | None]:
    """(the extra a marker selects, the marker without that clause) for ``extra == "x"`` joined
    to the rest with ``and`` (what setuptools, hatchling, flit, poetry-core and pdm write)."""
    if marker is None:
        return None, None
    items: list[Any] = list(marker._markers)

    def unwrap(item: Any) -> Any:
        while isinstance(item, list) and len(item) == 1:
            item = item[0]
        return item

    if "or" in items:
        return None, marker
    extra = None
    kept: list[Any] = []
    for item in items:
        atom = unwrap(item)
        if isinstance(atom, tuple) and len(atom) == 3 and str(atom[0]) == "extra" and str(atom[1]) == "==":
            extra = str(atom[2])
            continue
        if item == "and":
            continue
        kept.append(item)
    if extra is None:
        return None, marker
    if not kept:
        return extra, None
    joined: list[Any] = []
    for item in kept:
        if joined:
            joined.append("and")
        joined.append(item)
    from packaging.markers import _format_marker  # packaging's own renderer

    return extra, Marker(_format_marker(joined))


# ---- asking the backend, in the lock stage ---------------------------------------------------
def metadata_script(settings: Any, backend: tuple[str, str], scm_version: str | None) -> str:
    """The lock stage's script for one question: the project's metadata. The backend (the
    [build-system] requires, then what get_requires_for_build_wheel adds) is installed into a
    throwaway venv for this question only; the build lock is compiled afterwards, as always."""
    import os
    import shlex

    from . import resources
    from .ops.lock import resolver_exports  # lock imports environments, which imports this module
    from .render import render_script

    flags = [*settings.binary_args(), *settings.index_args("uv")]
    return render_script(
        resources.METADATA_SH,
        comment="Generated by venvship for 'venvship lock': the project's metadata, from its backend.",
        exports=resolver_exports(os.environ),
        scm_version=shlex.quote(scm_version) if scm_version else None,
        install=("/opt/venvship/tools/bin/uv pip install --quiet --python /tmp/venvship-meta/bin/python "
                 + " ".join(shlex.quote(f) for f in flags)),
        hook=('/tmp/venvship-meta/bin/python "$IN/requires_hook.py" '
              f"{shlex.quote(backend[0])} {shlex.quote(backend[1])}"),
    )


def ask_backend(settings: Any, data: Mapping[str, Any], engine: Any, stream: Any) -> Record:
    """Run the backend's metadata hook in the lock stage (the target image); the answer, with
    the SHA-256 of every file that defines it."""
    import tempfile

    from .environments import BUILD_ENV, Environment, EnvironmentSet, build_requirements
    from .errors import ConfigError, ResolutionError
    from .ops.build import scm_version
    from .ops.lock import hook_script, run_lock_stage
    from .render import build_backend

    backend = build_backend(dict(data))
    build_env = build_requirements(settings, dict(data))
    envs = EnvironmentSet({"main": Environment("main", (), "pyproject.toml"), BUILD_ENV: build_env})
    try:
        version = scm_version(settings, data)
    except ConfigError:  # no tag: the version is not what is asked here
        version = "0"
    files = source_files(settings.project_dir, data, settings.requirements_dir)
    sources = hash_sources(settings.project_dir, files)
    with tempfile.TemporaryDirectory(prefix="venvship-metadata-") as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        (inputs / "lock.sh").write_text(metadata_script(settings, backend, version))
        (inputs / "build.in").write_text(build_env.input_text())
        (inputs / "requires_hook.py").write_text(hook_script())
        outdir = run_lock_stage(settings, envs, engine, Path(tmp), inputs, True, stream)
        rc = (outdir / "metadata.rc").read_text().strip() if (outdir / "metadata.rc").exists() else ""
        answer = outdir / "metadata.json"
        if rc != "0" or not answer.is_file():
            log = (outdir / "metadata.log").read_text(errors="replace") if (outdir / "metadata.log").exists() else ""
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            why = lines[-1][:400] if lines else "no output"
            raise ResolutionError(
                f"the build backend {backend[0]} could not give the project's metadata: {why}",
                hint="venvship asks it in the lock stage, in the project's tree as the build context "
                "sends it (.dockerignore applies); 'venvship --progress plain lock' shows the log",
            )
        got = json.loads(answer.read_text())
    if not got.get("name"):
        raise ResolutionError(f"the build backend {backend[0]} gave no project name")
    return Record(str(got["name"]), str(got.get("version", "")), tuple(got.get("requires-dist", [])),
                  tuple(got.get("provides-extra", [])), backend[0], sources)


# ---- what the other commands see --------------------------------------------------------------
def declared_by(project_dir: Path, data: Mapping[str, Any]) -> str:
    backend = data.get("build-system", {}).get("build-backend", "setuptools.build_meta:__legacy__")
    if (project_dir / "setup.py").is_file():
        where = "setup.py"
    elif "poetry" in data.get("tool", {}):
        where = "pyproject.toml [tool.poetry]"
    elif (project_dir / "setup.cfg").is_file() and "project" not in data:
        where = "setup.cfg"
    else:
        where = "pyproject.toml (dynamic)"
    return f"{where} via {backend}"


def effective_pyproject(settings: Any, data: dict[str, Any],
                        record: Record | None = None) -> tuple[dict[str, Any], str | None, bool]:
    """(pyproject data with ``[project]`` from the backend's recorded answer, a label saying where
    the requirements come from or None for a static table, whether the answer is still missing)."""
    if not needs_backend(settings.project_dir, data, settings):
        return data, None, False
    label = declared_by(settings.project_dir, data)
    record = record or read_record(settings.project_dir, settings.requirements_dir)
    if record is None:
        return data, f"{label} (not read yet: run venvship lock)", True
    project = record.project_table(data.get("project", {}))
    return {**data, "project": project}, f"{label}, recorded in {settings.requirements_dir}/{RECORD_NAME}", False


def overwritten_sources(settings: Any, record: Record | None, names: list[str]) -> None:
    """Refuse to write a lock over a file the metadata is read from (flower's setup.py reads
    requirements/test.txt, the 'test' extra's lock path)."""
    from .errors import ConfigError

    for name in names:
        rel = f"{settings.requirements_dir}/{name}.txt"
        if record is not None and rel in record.sources:
            raise ConfigError(
                f"the {name!r} lock would overwrite {rel}, which the project's metadata is read from",
                hint="keep venvship's locks apart: requirements-dir = \"locks\" in [tool.venvship]",
            )


def problems(settings: Any) -> list[str]:
    """Why the recorded metadata is missing or stale (lock --check, build): no container."""
    from .settings import read_pyproject

    data = read_pyproject(settings.project_dir)
    if not needs_backend(settings.project_dir, data, settings):
        return []
    rel = f"{settings.requirements_dir}/{RECORD_NAME}"
    record = read_record(settings.project_dir, settings.requirements_dir)
    if record is None:
        return [f"project metadata: {rel} is missing ({declared_by(settings.project_dir, data)})"]
    changed = changed_sources(settings.project_dir, data, settings.requirements_dir, record)
    if changed:
        return [f"project metadata: {', '.join(changed)} changed since {rel} was recorded"]
    return []


def refresh(settings: Any, engine: Any, stream: Any) -> Record | None:
    """The backend's answer for ``venvship lock``: the record when it is current, else asked
    anew (None for a static [project] table)."""
    from .settings import read_pyproject

    data = read_pyproject(settings.project_dir)
    if not needs_backend(settings.project_dir, data, settings):
        return None
    record = read_record(settings.project_dir, settings.requirements_dir)
    if record is not None and not changed_sources(settings.project_dir, data, settings.requirements_dir, record):
        return record
    return ask_backend(settings, data, engine, stream)

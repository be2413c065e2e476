"""Resolver preferences: pins the resolver keeps unless told to upgrade.

The resolver (``uv pip compile`` or ``pip-compile``) prefers the pins already in its output
file. venvship seeds that file before every compile (see lock.lock_script) with one of:

* the environment's own venvship lock (``requirements/<env>.txt`` with a venvship header):
  the usual case, stable locks from run to run;
* a lock venvship did not write (``requirements/<env>.txt`` without a venvship header, for
  example ``pip-compile`` / ``uv pip compile`` output without ``--generate-hashes``): its pins
  are adopted, and hashes added;
* on the first lock of an environment only (no ``requirements/<env>.txt`` yet), another
  tool's lock in the project directory: ``uv.lock``, ``poetry.lock``, ``pylock.<env>.toml``
  or ``pylock.toml`` (PEP 751), first found in that order.

``--upgrade`` ignores them all; ``--upgrade-package NAME`` moves only NAME. Pure: reads files,
never writes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import InputError
from .lockfile import HEADER_PREFIX, logical_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VENVSHIP_LOCK = "venvship lock"
FOREIGN_FILES = ("uv.lock", "poetry.lock", "pylock.toml")  # first found wins; pylock.<env>.toml first


@dataclass(frozen=True)
class PreferredPin:
    name: str  # canonical
    version: str
    marker: str | None = None  # evaluated by the resolver in the target interpreter

    def line(self) -> str:
        return f"{self.name}=={self.version}" + (f" ; {self.marker}" if self.marker else "") + "\n"


@dataclass(frozen=True)
class Preferences:
    """Pins to seed one environment's resolver output file with."""

    source: str  # the user's path: "uv.lock", "requirements/main.txt"
    kind: str  # VENVSHIP_LOCK, "un-hashed lock", "lock without a venvship header", "uv.lock", ...
    pins: tuple[PreferredPin, ...] = ()
    notes: tuple[str, ...] = ()  # entries skipped, and why
    whole_env: bool = False  # the file is this environment's own lock: a pin missing now was removed
    raw: str | None = None  # a venvship lock is handed over byte for byte

    @property
    def adopted(self) -> bool:
        """Pins from a file venvship did not write (the summary says kept vs moved)."""
        return self.kind != VENVSHIP_LOCK

    def text(self, resolver: str = "uv") -> str:
        """What the resolver's output file holds before it runs.

        uv evaluates each preference's markers in the target interpreter and keeps the ones that
        fit, so a package split by markers is passed as every version with its markers.
        pip-compile keeps one existing pin per name (the last) and drops it when its markers do
        not fit: it gets the highest version of each name, without markers.
        """
        if self.raw is not None:
            return self.raw
        head = f"# venvship: preferences from {self.source}\n"
        pins = sorted(self.pins, key=lambda p: (p.name, p.version))
        if resolver == "pip-tools":
            pins = [PreferredPin(n, _highest(vs)) for n, vs in sorted(self.versions().items())]
        return head + "".join(p.line() for p in pins)

    def versions(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for pin in self.pins:
            out.setdefault(pin.name, set()).add(pin.version)
        return out


@dataclass(frozen=True)
class Adoption:
    """How a new lock compares with the pins it was seeded with."""

    source: str
    kept: tuple[str, ...] = ()
    moved: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (preferred, locked)
    new: dict[str, str] = field(default_factory=dict)  # locked, no preference for it
    removed: dict[str, str] = field(default_factory=dict)  # preferred (own lock), not locked now

    def summary(self) -> str:
        return f"{len(self.kept)} kept from {self.source}, {len(self.moved)} moved"

    def lines(self) -> list[str]:
        out = []
        for name, (a, b) in sorted(self.moved.items()):
            try:
                up = Version(b) > Version(a)
            except InvalidVersion:
                up = b > a
            out.append(f"  {'↑' if up else '↓'} {name} {a} -> {b} (moved from {self.source})")
        out += [f"  + {n} {v}" for n, v in sorted(self.new.items())]
        out += [f"  - {n} {v}" for n, v in sorted(self.removed.items())]
        return out


def compare(prefs: Preferences, locked: Mapping[str, str]) -> Adoption:
    """Kept: locked at a preferred version. Moved: preferred at another version."""
    wanted = prefs.versions()
    kept = tuple(sorted(n for n, v in locked.items() if v in wanted.get(n, ())))
    moved = {n: (_highest(wanted[n]), v) for n, v in locked.items() if n in wanted and v not in wanted[n]}
    new = {n: v for n, v in locked.items() if n not in wanted}
    removed = ({n: _highest(vs) for n, vs in wanted.items() if n not in locked} if prefs.whole_env else {})
    return Adoption(prefs.source, kept, moved, new, removed)


def _highest(versions: Iterable[str]) -> str:
    def key(v: str) -> tuple[int, Any]:
        try:
            return (1, Version(v))
        except InvalidVersion:
            return (0, v)

    return max(versions, key=key)


def _clean_marker(text: str | None) -> str | None:
    """A marker the resolver can evaluate, or None (then the pin applies everywhere)."""
    if not text:
        return None
    text = text.strip()
    if "dependency_groups" in text or re.search(r"\bextras\b", text):  # PEP 751 extensions
        return None
    try:
        return str(Marker(text))
    except InvalidMarker:
        return None


# ---- requirement files venvship did not write ------------------------------------------------
# an exact pin as other tools write it ('==' or '===', spaces allowed), and a hash option
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>.+?))?\s*$"
)
_HASH = re.compile(r"--hash[= ]\S+")


def has_venvship_header(text: str) -> bool:
    return any(line.startswith(HEADER_PREFIX) for line in text.splitlines())


def from_requirements_text(text: str, source: str) -> Preferences:
    """Pins of a requirements file (pip-compile / uv pip compile / pip freeze output), hashes or not.

    Lines that are not exact ``==`` pins (options, includes, ``-e``, direct references, ranges)
    are skipped with a note: they are not preferences.
    """
    pins: list[PreferredPin] = []
    notes: list[str] = []
    hashed = False
    # comments blanked (line numbers kept), then continuations joined as in a lock
    uncommented = "\n".join("" if raw.lstrip().startswith("#") else raw.split(" #", 1)[0]
                            for raw in text.splitlines())
    for number, line, _ in logical_lines(uncommented):
        if _HASH.search(line):
            hashed = True
        req = _HASH.sub("", line).strip()
        if req.startswith("-"):
            continue  # options, -r/-c includes, -e: not pins
        match = _PIN.match(req)
        if not match:
            notes.append(f"{source}:{number}: {req!r} is not an exact pin; not a preference")
            continue
        pins.append(PreferredPin(canonicalize_name(match["name"]), match["version"],
                                 _clean_marker(match["marker"])))
    kind = "lock without a venvship header" if hashed else "un-hashed lock"
    return Preferences(source, kind, tuple(pins), tuple(notes), whole_env=True)


# ---- other tools' lock files ------------------------------------------------------------------
def _load_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source} is not valid TOML: {exc}") from None


def from_uv_lock(data: Mapping[str, Any], source: str = "uv.lock") -> Preferences:
    """Registry packages of a uv.lock; the project and its editable/virtual/path members are not.

    A package locked at several versions split by markers (``resolution-markers``) gives one
    preference per version with those markers; the resolver, running in the target
    interpreter, keeps the one whose markers fit it.
    """
    pins: list[PreferredPin] = []
    notes: list[str] = []
    for pkg in data.get("package", []):
        if not isinstance(pkg, dict) or "name" not in pkg:
            continue
        name = canonicalize_name(str(pkg["name"]))
        src = pkg.get("source", {}) if isinstance(pkg.get("source"), dict) else {}
        if any(k in src for k in ("editable", "virtual", "directory", "path")):
            continue  # the project itself or a workspace member: venvship installs the app
        if "version" not in pkg:
            continue
        if "registry" not in src:
            kind = next(iter(src), "unknown")
            notes.append(f"{source}: {name} comes from a {kind} source, not an index; not a preference")
            continue
        markers = [str(m) for m in pkg.get("resolution-markers", []) if isinstance(m, str)]
        marker = _clean_marker(" or ".join(f"({m})" for m in markers)) if markers else None
        pins.append(PreferredPin(name, str(pkg["version"]), marker))
    return Preferences(source, "uv.lock", tuple(pins), tuple(notes))


def from_poetry_lock(data: Mapping[str, Any], source: str = "poetry.lock") -> Preferences:
    """``[[package]]`` name/version of a poetry.lock. Packages from git, a URL, a file or a
    directory are skipped with a note (they are not index releases)."""
    pins: list[PreferredPin] = []
    notes: list[str] = []
    for pkg in data.get("package", []):
        if not isinstance(pkg, dict) or "name" not in pkg or "version" not in pkg:
            continue
        name = canonicalize_name(str(pkg["name"]))
        src = pkg.get("source", {}) if isinstance(pkg.get("source"), dict) else {}
        kind = str(src.get("type", ""))
        if kind and kind not in ("legacy", "pypi"):
            where = f" {src.get('url')}" if src.get("url") else ""
            notes.append(f"{source}: {name} {pkg['version']} comes from {kind}{where}, not an index;"
                         " not a preference")
            continue
        markers = pkg.get("markers")
        marker = _clean_marker(markers) if isinstance(markers, str) else None
        pins.append(PreferredPin(name, str(pkg["version"]), marker))
    return Preferences(source, "poetry.lock", tuple(pins), tuple(notes))


def from_pylock(data: Mapping[str, Any], source: str = "pylock.toml") -> Preferences:
    """PEP 751 ``[[packages]]`` with a version from an index (wheels or sdist); VCS, directory
    and archive sources are skipped with a note."""
    pins: list[PreferredPin] = []
    notes: list[str] = []
    for pkg in data.get("packages", []):
        if not isinstance(pkg, dict) or "name" not in pkg:
            continue
        name = canonicalize_name(str(pkg["name"]))
        other = next((k for k in ("vcs", "directory", "archive") if k in pkg), None)
        if other is not None or "version" not in pkg:
            notes.append(f"{source}: {name} comes from a {other or 'source without a version'};"
                         " not a preference")
            continue
        pins.append(PreferredPin(name, str(pkg["version"]), _clean_marker(pkg.get("marker"))))
    return Preferences(source, "pylock.toml", tuple(pins), tuple(notes))


_READERS = {"uv.lock": from_uv_lock, "poetry.lock": from_poetry_lock, "pylock.toml": from_pylock}


def foreign_file(project_dir: Path, env: str) -> Path | None:
    """The other tool's lock an environment's first lock takes its pins from, if any."""
    candidates = [project_dir / name for name in FOREIGN_FILES]
    candidates.insert(2, project_dir / f"pylock.{env}.toml")
    return next((p for p in candidates if p.is_file()), None)


def from_foreign_file(path: Path) -> Preferences:
    source = path.name
    data = _load_toml(path, source)
    reader = from_pylock if source.startswith("pylock.") else _READERS[source]
    return reader(data, source)


def for_env(project_dir: Path, requirements_dir: str, env: str, *, first_lock_sources: bool = True
            ) -> Preferences | None:
    """The preferences an environment's next compile starts from, or None.

    ``first_lock_sources``: whether other tools' lock files count (not for the build
    environment, whose backend those files do not lock).
    """
    rel = f"{requirements_dir}/{env}.txt"
    path = project_dir / requirements_dir / f"{env}.txt"
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {rel}: {exc}") from None
        if has_venvship_header(text):
            return Preferences(rel, VENVSHIP_LOCK, raw=text, whole_env=True)
        return from_requirements_text(text, rel)
    if not first_lock_sources:
        return None
    other = foreign_file(project_dir, env)
    return from_foreign_file(other) if other is not None else None

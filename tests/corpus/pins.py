"""Pins of an app's own lock (uv.lock, poetry.lock, a pinned requirements.txt) and of the locks
venvship wrote, compared: which pins were kept and which moved."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.9/3.10
    import tomli as tomllib  # type: ignore[no-redef]

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def app_lock_pins(path: Path) -> dict[str, set[str]]:
    """name -> versions in the app's lock (uv.lock may hold several versions of one name)."""
    pins: dict[str, set[str]] = {}
    if path.name in ("uv.lock", "poetry.lock", "pylock.toml") or path.suffix == ".toml" or path.suffix == ".lock":
        data = tomllib.loads(path.read_text())
        for pkg in data.get("package", data.get("packages", [])):
            source = pkg.get("source", {})
            if isinstance(source, dict) and ("editable" in source or "virtual" in source):
                continue  # the project itself
            if "version" in pkg:
                pins.setdefault(normalize(pkg["name"]), set()).add(str(pkg["version"]))
        return pins
    for line in path.read_text().splitlines():
        m = _PIN.match(line)
        if m:
            pins.setdefault(normalize(m.group(1)), set()).add(m.group(2))
    return pins


def venvship_lock_files(root: Path, before: set[str]) -> list[Path]:
    """Lock files venvship wrote (new files with its header), the build lock excluded."""
    found = []
    for p in sorted(root.rglob("*.txt")):
        rel = str(p.relative_to(root))
        if rel in before or not p.is_file():
            continue
        head = p.read_text(errors="replace")[:2000]
        m = re.search(r"^# venvship: env = (\S+)", head, re.M)
        if m and m.group(1) != "build":
            found.append(p)
    return found


def venvship_pins(files: list[Path]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for f in files:
        for line in f.read_text().splitlines():
            m = _PIN.match(line)
            if m:
                pins[normalize(m.group(1))] = m.group(2)
    return pins


def _same(version: str, versions: set[str]) -> bool:
    """PEP 440 equality (4.6 == 4.6.0), falling back to the strings."""
    try:
        return Version(version) in {Version(v) for v in versions}
    except InvalidVersion:
        return version in versions


def compare(theirs: dict[str, set[str]], ours: dict[str, str]) -> dict[str, object]:
    kept = sorted(n for n in ours if n in theirs and _same(ours[n], theirs[n]))
    moved = {n: {"app": sorted(theirs[n]), "venvship": ours[n]}
             for n in sorted(ours) if n in theirs and not _same(ours[n], theirs[n])}
    return {
        "kept": len(kept),
        "moved": moved,
        "only_in_app_lock": sorted(n for n in theirs if n not in ours),
        "only_in_venvship": sorted(n for n in ours if n not in theirs),
    }

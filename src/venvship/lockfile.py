"""Lock files: requirements format with exact pins and hashes, under a venvship header.

Pure functions only (parse, render, diff); :func:`write_atomically` is the one effect.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import LockIntegrityError

HEADER_PREFIX = "# venvship:"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*$"
)
_HASH = re.compile(r"--hash=(?P<algo>sha256):(?P<digest>[0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    hashes: tuple[str, ...]
    marker: str | None = None
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lock:
    env: str
    header: Mapping[str, str]
    pins: Mapping[str, Pin]
    body: str

    @property
    def versions(self) -> dict[str, str]:
        return {name: pin.version for name, pin in self.pins.items()}

    def body_sha256(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


@dataclass(frozen=True)
class Diff:
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)
    downgraded: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.upgraded or self.downgraded)

    def lines(self) -> list[str]:
        out = [f"  + {n} {v}" for n, v in sorted(self.added.items())]
        out += [f"  - {n} {v}" for n, v in sorted(self.removed.items())]
        out += [f"  ↑ {n} {a} -> {b}" for n, (a, b) in sorted(self.upgraded.items())]
        out += [f"  ↓ {n} {a} -> {b}" for n, (a, b) in sorted(self.downgraded.items())]
        return out


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> Diff:
    """What changed between two {name: version} maps."""
    result = Diff()
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None and b is not None:
            result.added[name] = b
        elif b is None and a is not None:
            result.removed[name] = a
        elif a is not None and b is not None and a != b:
            try:
                up = Version(b) > Version(a)
            except InvalidVersion:
                up = b > a
            (result.upgraded if up else result.downgraded)[name] = (a, b)
    return result


def logical_lines(text: str) -> list[tuple[int, str, list[str]]]:
    """Join backslash continuations; keep '# via' comments that follow a requirement."""
    out: list[tuple[int, str, list[str]]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and stripped.startswith("#"):
            via = stripped.lstrip("#").strip()
            if out and (via.startswith("via") or raw.startswith("    #")):
                out[-1][2].append(via.removeprefix("via").strip())
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        if buf.strip():
            out.append((start, buf.strip(), []))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip(), []))
    return out


def parse(text: str, env: str, path: str = "") -> Lock:
    """Parse a lock. Raises LockIntegrityError for anything not pinned and hashed."""
    where = path or f"{env} lock"
    header: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    last = -1  # the body is everything after the last header line (the banner is not body)
    for index, raw in enumerate(lines):
        if raw.startswith(HEADER_PREFIX):
            key, _, value = raw[len(HEADER_PREFIX):].strip().partition("=")
            header[key.strip()] = value.strip()
            last = index
    body = "".join(lines[last + 1:])
    pins: dict[str, Pin] = {}
    for body_line, line, via in logical_lines(body):
        number = body_line + last + 1  # messages name the line in the file, header included
        if line.startswith("-"):
            if line.startswith(("--index-url", "--extra-index-url", "--find-links", "--no-binary",
                                "--only-binary")):
                continue
            raise LockIntegrityError(f"{where}:{number}: unexpected option {line.split()[0]!r}")
        hashes = tuple(f"{m['algo']}:{m['digest']}" for m in _HASH.finditer(line))
        req = _HASH.sub("", line).strip()
        match = _PIN.match(req)
        if not match:
            raise LockIntegrityError(
                f"{where}:{number}: {req!r} is not an exact '==' pin",
                hint="locks are written by 'venvship lock'; do not edit them by hand",
            )
        name = canonicalize_name(match["name"])
        if not hashes:
            raise LockIntegrityError(
                f"{where}:{number}: {name}=={match['version']} has no hash",
                hint=None if header else "this file was not written by venvship (no venvship header): "
                "'venvship lock' adopts its pins as they are and adds hashes",
            )
        marker = match["marker"].strip() if match["marker"] else None
        if marker:
            try:
                Marker(marker)
            except InvalidMarker:
                raise LockIntegrityError(f"{where}:{number}: bad marker {marker!r}") from None
        if name in pins:
            raise LockIntegrityError(f"{where}:{number}: {name} is pinned twice")
        pins[name] = Pin(name, match["version"], hashes, marker, tuple(v for v in via if v))
    return Lock(env, header, pins, body)


def combine(locks: list[Lock]) -> Lock:
    """One lock holding the pins of a chain of layered locks (bases first), for comparing a venv
    that has the whole chain installed. The header is the top lock's."""
    if not locks:
        raise ValueError("combine() needs at least one lock")
    pins: dict[str, Pin] = {}
    for lock in locks:
        pins.update(lock.pins)
    top = locks[-1]
    return Lock(top.env, top.header, pins, "".join(lock.body for lock in locks))


def venv_mismatches(lock: Lock, dists: Mapping[str, str], project_name: str,
                    markers: Mapping[str, str], python: str | None, where: str) -> list[str]:
    """How a venv's distributions (and interpreter) differ from ``lock`` plus the app (none
    expected when ``project_name`` is empty: an app copied as a source tree). Pure.

    ``where`` words the finding: "installed" (an image) or "in the venv" (an export).
    """
    problems: list[str] = []
    installed = {canonicalize_name(k): str(v) for k, v in dists.items()}
    if project_name and installed.pop(canonicalize_name(project_name), None) is None:
        problems.append(f"the app {project_name} is not {where}")
    env = {**markers, "extra": ""}
    expected: dict[str, str] = {}
    for name, pin in lock.pins.items():
        try:
            applies = pin.marker is None or Marker(pin.marker).evaluate(env)
        except InvalidMarker:
            applies = True
        if applies:
            expected[name] = pin.version
    problems += [f"missing: {n}=={expected[n]}" for n in sorted(set(expected) - set(installed))]
    problems += [f"not in the lock: {n}=={installed[n]}" for n in sorted(set(installed) - set(expected))]
    problems += [f"{n}: {installed[n]} {where}, {expected[n]} locked"
                 for n in sorted(set(installed) & set(expected)) if installed[n] != expected[n]]
    locked_python = lock.header.get("python", "").split(" ")[-1]
    if locked_python and python and python != locked_python:
        problems.append(f"Python {python} {where}, the lock was compiled for {locked_python}")
    return problems


def check_integrity(lock: Lock, where: str) -> None:
    """A lock whose body does not match the hash in its header was edited by hand."""
    recorded = lock.header.get("body-sha256")
    if recorded is None:
        raise LockIntegrityError(
            f"{where} has no venvship header", hint="run 'venvship lock' to (re)create it"
        )
    if recorded != lock.body_sha256():
        raise LockIntegrityError(
            f"{where} was changed after it was generated (body hash mismatch)",
            hint="locks are written by 'venvship lock'; revert the edit or re-lock",
        )


def render(env: str, header: Mapping[str, str], body: str) -> str:
    """The full lock text: a readable banner, machine-readable header lines, then the body."""
    body = body if body.endswith("\n") or not body else body + "\n"
    banner = (
        f"# This file is generated by 'venvship lock' for the {env!r} environment.\n"
        "# Do not edit it: change the inputs and run 'venvship lock' again.\n"
    )
    fields = dict(header)
    fields["body-sha256"] = hashlib.sha256(body.encode()).hexdigest()
    meta = "".join(f"{HEADER_PREFIX} {k} = {v}\n" for k, v in fields.items())
    return banner + meta + body


def read(path: Path, env: str) -> Lock | None:
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockIntegrityError(f"cannot read {path}: {exc}") from None
    return parse(text, env, str(path))


def write_atomically(files: Mapping[Path, str]) -> None:
    """Write every file or none: all contents go to temporary files first, then renames.

    A failure before the renames leaves every target byte for byte as it was.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, content in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            if target.exists():
                os.chmod(tmp, target.stat().st_mode & 0o777)
            else:
                os.chmod(tmp, 0o644)
        for tmp, target in staged:
            os.replace(tmp, target)
        staged.clear()
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

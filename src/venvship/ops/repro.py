"""``venvship build --check-reproducible``: build again with --no-cache and compare the image ids;
on a difference, ``docker save`` both images and name the first layer that differs and the files
in it that differ (path, size, mode, mtime, sha256)."""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..engine import Engine
from ..errors import ReproducibilityError

if TYPE_CHECKING:
    from ..environments import EnvironmentSet
    from ..settings import Settings
    from .build import BuildOptions

MAX_FILES = 12


@dataclass(frozen=True)
class Entry:
    """One tar member of a layer, as far as the image id is concerned."""

    path: str
    kind: str  # file, dir, symlink, hardlink, other
    size: int
    mode: int
    mtime: int
    owner: str  # uid:gid
    digest: str  # sha256 of a file's content, a link's target, else ""

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        what = f"sha256 {self.digest[:12]}" if self.kind == "file" else (
            f"-> {self.digest}" if self.kind in ("symlink", "hardlink") else self.kind)
        return f"size {self.size}, mode {self.mode:o}, mtime {when}, owner {self.owner}, {what}"


def layer_entries(archive: tarfile.TarFile) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for member in archive:
        name = member.name.lstrip("./") or "/"
        if member.isfile():
            handle = archive.extractfile(member)
            digest = hashlib.sha256(handle.read() if handle is not None else b"").hexdigest()
            kind = "file"
        elif member.issym() or member.islnk():
            digest, kind = member.linkname, "symlink" if member.issym() else "hardlink"
        else:
            digest, kind = "", "dir" if member.isdir() else "other"
        entries[name] = Entry(name, kind, member.size, member.mode, int(member.mtime),
                              f"{member.uid}:{member.gid}", digest)
    return entries


def entry_differences(a: Mapping[str, Entry], b: Mapping[str, Entry]) -> list[str]:
    """The members of two layers that differ, one line each (pure)."""
    lines: list[str] = []
    for path in sorted(set(a) | set(b)):
        left, right = a.get(path), b.get(path)
        if left == right:
            continue
        if left is None or right is None:
            only = "second" if left is None else "first"
            entry = right if left is None else left
            assert entry is not None
            lines.append(f"/{path}: only in the {only} build ({entry.describe()})")
        else:
            lines.append(f"/{path}: {left.describe()} | {right.describe()}")
    return lines


@dataclass(frozen=True)
class Saved:
    """An image as ``docker save`` wrote it: its config and its layer tarballs, bottom first."""

    archive: Path
    config: dict[str, Any]
    layers: list[str]  # member names of the layer tarballs in ``archive``

    @property
    def diff_ids(self) -> list[str]:
        return [str(d) for d in (self.config.get("rootfs") or {}).get("diff_ids") or []]

    def created_by(self, index: int) -> str:
        """The Dockerfile instruction that made layer ``index`` (from the history)."""
        layered = [h for h in self.config.get("history") or [] if not h.get("empty_layer")]
        if index < len(layered):
            return str(layered[index].get("created_by", "")).replace("/bin/sh -c ", "").strip()[:160]
        return "?"

    def entries(self, index: int) -> dict[str, Entry]:
        with tarfile.open(self.archive) as outer:
            handle = outer.extractfile(self.layers[index])
            assert handle is not None
            with tarfile.open(fileobj=handle) as layer:
                return layer_entries(layer)


def save(engine: Engine, image: str, directory: Path) -> Saved:
    path = directory / f"{uuid.uuid4().hex}.tar"
    with path.open("wb") as out:
        for chunk in engine.client().images.get(image).save(named=False):
            out.write(chunk)
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(archive.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return Saved(path, config, list(manifest[0]["Layers"]))


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Where two image configs with the same layers differ (pure)."""
    lines = [f"{key}: {json.dumps(a.get(key))[:120]} | {json.dumps(b.get(key))[:120]}"
             for key in sorted(set(a) | set(b)) if key not in ("config", "history") and a.get(key) != b.get(key)]
    ca, cb = a.get("config") or {}, b.get("config") or {}
    lines += [f"config.{key}: {json.dumps(ca.get(key))[:120]} | {json.dumps(cb.get(key))[:120]}"
              for key in sorted(set(ca) | set(cb)) if ca.get(key) != cb.get(key)]
    ha, hb = a.get("history") or [], b.get("history") or []
    for i, (x, y) in enumerate(zip(ha, hb)):
        if x != y:
            lines.append(f"history[{i}] ({str(x.get('created_by', ''))[:80]}): {json.dumps(x)[:160]} | "
                         f"{json.dumps(y)[:160]}")
    return lines


def explain(first: Saved, second: Saved) -> str:
    """What differs between two saved images: the first differing layer and its files, else the
    config."""
    a, b = first.diff_ids, second.diff_ids
    for index in range(max(len(a), len(b))):
        if index < len(a) and index < len(b) and a[index] == b[index]:
            continue
        if index >= len(a) or index >= len(b):
            return f"the second build has {len(b)} layers, the first {len(a)}"
        lines = entry_differences(first.entries(index), second.entries(index))
        shown = "".join(f"\n  {line}" for line in lines[:MAX_FILES])
        more = f"\n  (+{len(lines) - MAX_FILES} more)" if len(lines) > MAX_FILES else ""
        return (f"layer {index + 1} of {len(a)} differs ({first.created_by(index)}): "
                f"{len(lines)} file(s) differ (first build | second build):{shown}{more}")
    lines = config_differences(first.config, second.config)
    return "the layers are identical; the image configs differ:" + "".join(f"\n  {line}" for line in lines[:MAX_FILES])


@dataclass(frozen=True)
class Outcome:
    image_id: str
    seconds: float


def check(settings: Settings, envs: EnvironmentSet, engine: Engine, opts: BuildOptions, image_id: str, *,
          stream: IO[str] | None) -> Outcome:
    """Build ``opts`` again with --no-cache (no verify, no push, a tag of its own, removed after)
    and compare with ``image_id``; ReproducibilityError names what differs."""
    from .build import build

    started = time.monotonic()
    tag = f"venvship-repro/{uuid.uuid4().hex[:12]}:second"
    again = replace(opts, images=(tag,), no_cache=True, push=False, output=None)
    try:
        summary = build(settings, envs, engine, again, stream=stream, check=None)
        second = summary.image_id or ""
        if second == image_id:
            return Outcome(second, time.monotonic() - started)
        with tempfile.TemporaryDirectory(prefix="venvship-repro-") as tmp:
            report = explain(save(engine, image_id, Path(tmp)), save(engine, second, Path(tmp)))
    finally:
        engine.remove_image(tag)
    raise ReproducibilityError(
        f"not reproducible: a --no-cache build gave {second[:19]}, the first {image_id[:19]}; {report}",
        hint="clamp the mtimes of what that step writes (README 'Reproducible images')",
    )


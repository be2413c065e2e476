"""A foreign platform's venv installed two ways, side by side in one run (issue 18):

- build-platform: uv on the engine's own platform with --python-platform (stages cross-*, the
  default, foreign-install = "build-platform");
- emulated: uv in the target's base image under QEMU (foreign-install = "emulated").

Each trial builds the target 'deps' with the install stages re-run (--no-cache-filter; everything
else, the tools stages too, from the cache) and uv's cache warm; the two ways alternate, so load on
the machine falls on both. Prints each trial, the medians of the whole build and of the install
steps (BuildKit's own step times), and whether the two venvs are the same file for file.

    flock /tmp/venvship-docker.lock .venv/bin/python benchmarks/foreign_install.py PROJECT \\
        [--platform linux/arm64] [--pairs 5]

PROJECT must have locks for its platforms (the engine's own among them): venvship lock.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from venvship.engine import Engine
from venvship.environments import discover
from venvship.ops.build import BuildOptions, build_request, prepare_context, with_build_platform
from venvship.render import cross_install
from venvship.settings import Settings, load_settings

WAYS = ("build-platform", "emulated")
_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")
_STEP = re.compile(r"^#(\d+) \[(?P<name>[^\]]+)\] (?P<what>.*)$")


def install_seconds(log: str, stages: set[str]) -> float:
    """The summed time of the RUN steps of ``stages`` (BuildKit's "#N DONE Xs"); layer groups'
    steps run in parallel, so with groups the sum exceeds the time they took."""
    names: dict[str, str] = {}
    total = 0.0
    for line in log.splitlines():
        m = _STEP.match(line)
        if m and m.group("what").startswith("RUN"):
            words = m.group("name").split(" ")
            if stages & set(words[:2]):
                names[m.group(1)] = m.group("name")
        d = _DONE.match(line)
        if d and d.group(1) in names:
            total += float(d.group(2))
    return total


def settings_for(project: Path, platform: str, way: str, engine: Engine) -> Settings:
    loaded = load_settings(project, {"foreign_install": way})
    native = engine.platform()
    return with_build_platform(loaded.for_platform(platform, native), engine)


def install_stages(dockerfile: str) -> set[str]:
    """The stages that make the venv: deps-NAME (groups, deps-venv) or deps itself."""
    named = set(re.findall(r"^FROM \S+ AS (deps-[\w.-]+)$", dockerfile, re.M))
    return named or {"deps"}


def venv_digest(engine: Engine, settings: Settings, dockerfile: Path, tmp: Path) -> str:
    """One sha256 over the venv's files (names, modes, mtimes, bytes, symlink targets) of a deps build."""
    out = tmp / "venv-out"
    req = build_request(settings, BuildOptions(target="deps", output=f"type=local,dest={out}"), dockerfile)
    engine.build(req, stream=None)
    venv = out / settings.image.venv_path.strip("/")
    digest = hashlib.sha256()
    for path in sorted(venv.rglob("*")):
        digest.update(str(path.relative_to(venv)).encode() + b"\0")
        digest.update(f"{path.lstat().st_mode:o} {path.lstat().st_mtime_ns}".encode() + b"\0")
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--platform", default="linux/arm64")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    engine = Engine()
    with tempfile.TemporaryDirectory(prefix="venvship-foreign-") as tmp:
        plans = {}
        for way in WAYS:
            settings = settings_for(args.project.resolve(), args.platform, way, engine)
            envs = discover(settings)
            if way == "build-platform" and cross_install(settings, envs.closure("main")) is None:
                print(f"{args.platform}'s venv would be installed under emulation anyway (see README, "
                      "Multi-platform): lock the engine's own platform too", file=sys.stderr)
                return 2
            workdir = Path(tmp) / way
            workdir.mkdir()
            dockerfile = prepare_context(settings, envs, workdir)
            plans[way] = (settings, dockerfile, install_stages(dockerfile.read_text()))
        # the first builds also warm the tools stages and uv's cache for the trials
        digests = {way: venv_digest(engine, s, d, Path(tmp)) for way, (s, d, _) in plans.items()}
        times: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
        for trial in range(args.pairs):
            for way in (WAYS if trial % 2 == 0 else WAYS[::-1]):
                settings, dockerfile, stages = plans[way]
                req = replace(build_request(settings, BuildOptions(target="deps"), dockerfile),
                              no_cache_filter=tuple(sorted(stages | {"deps"})))
                started = time.monotonic()
                result = engine.build(req, stream=None)
                wall = time.monotonic() - started
                steps = install_seconds(result.log, stages)
                times[way].append((wall, steps))
                print(f"trial {trial + 1} {way}: build {wall:.2f} s, install steps {steps:.2f} s", flush=True)
        for way in WAYS:
            walls, steps = zip(*times[way])
            print(f"{way}: build median {statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f}), "
                  f"install steps (summed) median {statistics.median(steps):.2f} s ({min(steps):.2f}-{max(steps):.2f})")
        same = digests["build-platform"] == digests["emulated"]
        print(f"venvs the same file for file: {'yes' if same else 'NO'} ({digests['emulated'][:16]})")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""``venvship doctor``: is everything there to lock and build? Plain words, and what to do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import (
    BuildKitUnavailableError,
    DockerUnavailableError,
    ImageError,
    VenvshipError,
)
from ..settings import Settings

LOCAL_PREFIX = "venvship-local/python"
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"
# What only the containerd image store does (the classic store refuses it):
NEEDS_CONTAINERD = ("build --platform with several platforms in one build",
                    "--cache-to type=registry (registry cache export)")
# Debian architecture names (base images, setup-docker) for machine names (uname -m)
MACHINE_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
                "s390x": "s390x", "riscv64": "riscv64"}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""
    error: type[VenvshipError] = VenvshipError  # what a failed finding exits with


def verdict(findings: list[Finding]) -> VenvshipError | None:
    """The error for the first problem (its exit code is doctor's), or None when all is well."""
    bad = [f for f in findings if not f.ok]
    if not bad:
        return None
    return bad[0].error(f"{len(bad)} problem(s) found; the first: {bad[0].what}")


def image_store(info: Mapping[str, Any]) -> str:
    """'containerd' when the engine keeps images in containerd (daemon.json features
    containerd-snapshotter), else 'classic' (graph drivers such as overlay2)."""
    for entry in info.get("DriverStatus") or ():
        if len(entry) == 2 and entry[0] == "driver-type" and entry[1] == CONTAINERD_SNAPSHOTTER:
            return "containerd"
    return "classic"


def store_finding(info: Mapping[str, Any]) -> Finding:
    store = image_store(info)
    driver = info.get("Driver", "?")
    if store == "containerd":
        return Finding(True, f"image store: containerd ({driver} snapshotter): multi-platform builds "
                             "and registry cache export are available")
    return Finding(True, f"image store: classic ({driver}); one tag holds one platform. Needs the "
                         "containerd store: " + "; ".join(NEEDS_CONTAINERD),
                   "for those, an engine with the containerd store: 'sudo scripts/setup-docker "
                   "--containerd-store' (daemon.json {\"features\": {\"containerd-snapshotter\": true}})")


def foreign_images(images: Sequence[Mapping[str, Any]], native_arch: str) -> list[tuple[str, str]]:
    """(tag, architecture) of the local images built for another architecture, sorted."""
    out = []
    for attrs in images:
        arch = str(attrs.get("Architecture", ""))
        if arch and arch != native_arch:
            out += [(tag, arch) for tag in attrs.get("RepoTags") or () if not tag.endswith(":<none>")]
    return sorted(out)


def binfmt_state(directory: Path = BINFMT_DIR) -> str:
    """What this host's binfmt_misc says about arm64 (meaningful for a local engine only)."""
    entry = directory / "qemu-aarch64"
    if not (directory / "register").exists():
        return "binfmt_misc is not mounted"
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        return "qemu-aarch64 is not registered with binfmt_misc"
    flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
    state = lines[0].strip() if lines else "?"
    return f"qemu-aarch64 {state} in binfmt_misc (flags {flags or 'none'})"


def emulation_findings(engine: Engine, native_arch: str, wanted: Sequence[str]) -> list[Finding]:
    """Whether containers of another architecture run on this engine (QEMU user emulation):
    one is started from a local foreign image. ``wanted``: foreign platforms the settings name
    (emulation is a problem only then)."""
    needed = bool(wanted)
    fix = "sudo scripts/setup-docker --multiarch (qemu-user-static, binfmt_misc, arm64 base images)"
    images = [i.attrs for i in engine.client().images.list()]
    foreign = foreign_images(images, native_arch)
    endpoint = engine.endpoint()
    host = f"; this host: {binfmt_state()}" if endpoint.source == "default" else ""
    if not foreign:
        return [Finding(not needed, "emulation of other platforms: untested, no local image of another "
                                    f"architecture{host}", fix, ImageError)]
    tag, arch = foreign[0]
    try:
        code, out = engine.run(tag, ["uname", "-m"], entrypoint=[], timeout=120)
    except VenvshipError as exc:
        code, out = 1, exc.message
    machine = out.strip().splitlines()[-1] if out.strip() else ""
    works = code == 0 and MACHINE_ARCH.get(machine, machine) == arch
    what = (f"emulation of {arch} works ({tag} runs, uname -m says {machine})" if works
            else f"emulation of {arch} does not work: {tag} fails ({out.strip()[-200:] or code}){host}")
    return [Finding(works or not needed, what, "" if works else fix, ImageError)]


def diagnose(engine: Engine, settings: Settings | None) -> list[Finding]:
    findings: list[Finding] = []
    try:
        version = engine.ping()
        endpoint = engine.endpoint()
        where = "" if endpoint.source == "default" else f" at {endpoint.host} ({endpoint.source})"
        findings.append(Finding(True, f"Docker engine{where} answers (server {version.get('Version', '?')}, "
                                      f"API {version.get('ApiVersion', '?')})"))
    except VenvshipError as exc:
        findings.append(Finding(False, f"Docker engine: {exc.message}",
                                "start it: 'sudo scripts/setup-docker --engine' on Debian, or set DOCKER_HOST",
                                DockerUnavailableError))
        return findings
    try:
        frontend = engine.frontend()
        detail = engine.buildx_version() if frontend == "buildx" else "DOCKER_BUILDKIT=1 docker build"
        findings.append(Finding(True, f"BuildKit usable via {frontend} ({detail})"))
    except VenvshipError as exc:
        findings.append(Finding(False, f"BuildKit: {exc.message}", exc.hint or "", BuildKitUnavailableError))
    info: dict[str, Any] = engine.client().info()
    findings.append(store_finding(info))
    native_arch = MACHINE_ARCH.get(str(info.get("Architecture", "")), str(info.get("Architecture", "")))
    wanted = [p for p in (settings.platforms.targets if settings is not None else ())
              if p.split("/")[1:2] != [native_arch]]  # foreign platforms the settings lock for
    findings += emulation_findings(engine, native_arch, wanted)
    images = sorted(
        tag for image in engine.client().images.list(name=LOCAL_PREFIX) for tag in image.tags
    )
    if images:
        findings.append(Finding(True, "local base images: " + ", ".join(images)))
    else:
        findings.append(Finding(True, "no local venvship base images",
                                "without a registry, build them: scripts/setup-docker"))
    if settings is not None:
        present = engine.image(settings.image.base) is not None
        findings.append(Finding(present, f"configured base image {settings.image.base}: "
                                         + ("present" if present else "missing"),
                                "" if present else "pull it, or build a local one (scripts/setup-docker) "
                                "and set base-image", ImageError))
        ca = settings.index.ca_bundle_path()
        findings.append(Finding(True, f"CA bundle passed to builds as a secret: {ca or 'none'}"))
    return findings

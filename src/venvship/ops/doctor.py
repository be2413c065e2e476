"""``venvship doctor``: is everything there to lock and build? Plain words, and what to do."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import Engine
from ..errors import (
    BuildKitUnavailableError,
    DockerUnavailableError,
    ImageError,
    VenvshipError,
)
from ..settings import Settings

LOCAL_PREFIX = "venvship-local/python"


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

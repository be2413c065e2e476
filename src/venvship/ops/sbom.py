"""The image's SBOM: where it is, reading it back, checking it, converting it to SPDX.

The SBOM itself is written in the build (stage ``sbom``) by the CycloneDX project's
``cyclonedx-py requirements`` from the image's locks (the main closure): each pin with its
version, purl and the lock's sha256 hashes (on the component's ``distribution`` reference); the
runtime image gets it at :data:`SBOM_PATH` as a ``COPY --link`` layer, outside the venv, and the
label ``io.venvship.sbom`` names that path.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from packaging.utils import canonicalize_name

from .. import __version__
from ..engine import Engine, validate_reference
from ..errors import ConfigError, ImageError

SBOM_PATH = "/usr/share/venvship/sbom.cdx.json"
SBOM_LABEL = "io.venvship.sbom"
FORMATS = ("cyclonedx-json", "spdx-json")


def read_from_image(engine: Engine, image: str) -> tuple[dict[str, Any], str]:
    """(the CycloneDX document, its path) from ``image``, as its label names it."""
    validate_reference(image)
    attrs = engine.require_image(image)
    path = ((attrs.get("Config") or {}).get("Labels") or {}).get(SBOM_LABEL)
    if not path:
        raise ImageError(f"{image} carries no SBOM (no {SBOM_LABEL} label)",
                         hint="rebuild it with this venvship ('venvship build')")
    data = read_file(engine, image, path)
    if data is None:
        raise ImageError(f"{image}: its SBOM {path} is missing from the image")
    try:
        document: dict[str, Any] = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"{image}: its SBOM {path} is not JSON: {exc}") from None
    return document, path


def read_file(engine: Engine, image: str, path: str) -> bytes | None:
    """A regular file's bytes from ``image`` (a created, never started, container), else None."""
    import docker.errors

    container = engine.client().containers.create(image, entrypoint=["true"], command=[])
    try:
        try:
            bits, _ = container.get_archive(path)
        except docker.errors.NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as archive:
            member = next((m for m in archive if m.isfile()), None)
            handle = archive.extractfile(member) if member is not None else None
            return handle.read() if handle is not None else None
    finally:
        container.remove(force=True)


# ---- what the SBOM says (pure) -----------------------------------------------------------------
def distributions(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{canonical name: {version, hashes, environment, licenses}} of the SBOM's Python packages."""
    out: dict[str, dict[str, Any]] = {}
    for component in document.get("components") or []:
        purl = str(component.get("purl") or "")
        if not purl.startswith("pkg:pypi/"):
            continue
        props = {p.get("name"): p.get("value") for p in component.get("properties") or []}
        out[canonicalize_name(str(component["name"]))] = {
            "version": str(component.get("version")),
            "hashes": _sha256s(component),
            "environment": props.get("venvship:environment"),
            "licenses": [_licence_text(lic) for lic in component.get("licenses") or []],
        }
    return out


def _sha256s(component: Mapping[str, Any]) -> list[str]:
    """The component's sha256 hashes: its own, and those of its distribution references (where
    cyclonedx-py puts a lock's --hash values)."""
    refs = [r for r in component.get("externalReferences") or [] if r.get("type") == "distribution"]
    entries = [*(component.get("hashes") or []), *(h for r in refs for h in r.get("hashes") or [])]
    return sorted({str(h["content"]) for h in entries if h.get("alg") == "SHA-256"})


def _licence_text(entry: Mapping[str, Any]) -> str:
    if "expression" in entry:
        return str(entry["expression"])
    lic = entry.get("license") or {}
    return str(lic.get("id") or lic.get("name") or "")


def mismatches(document: Mapping[str, Any], installed: Mapping[str, str], app: str) -> list[str]:
    """How the SBOM and the venv disagree: a distribution installed but not listed, listed but not
    installed, or listed with another version (``installed``: {name: version}; ``app``, the
    project's own distribution, is the SBOM's subject, not one of its components)."""
    listed = {name: d["version"] for name, d in distributions(document).items()}
    have = {canonicalize_name(n): v for n, v in installed.items() if canonicalize_name(n) != canonicalize_name(app)}
    problems = [f"the SBOM does not list {n} {have[n]}, which is installed" for n in sorted(set(have) - set(listed))]
    problems += [f"the SBOM lists {n} {listed[n]}, which is not installed" for n in sorted(set(listed) - set(have))]
    problems += [f"the SBOM lists {n} {listed[n]}, but {have[n]} is installed"
                 for n in sorted(set(have) & set(listed)) if have[n] != listed[n]]
    return problems


# ---- SPDX ----------------------------------------------------------------------------------
def _spdx_id(text: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


def to_spdx(document: Mapping[str, Any]) -> str:
    """The CycloneDX document as SPDX 2.3 JSON, written and validated by spdx-tools."""
    try:
        from license_expression import ExpressionError, get_spdx_licensing
        from spdx_tools.spdx.model import (
            Actor,
            ActorType,
            Checksum,
            ChecksumAlgorithm,
            CreationInfo,
            Document,
            ExternalPackageRef,
            ExternalPackageRefCategory,
            Package,
            PackagePurpose,
            Relationship,
            RelationshipType,
            SpdxNoAssertion,
        )
        from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream
    except ImportError:
        raise ConfigError("--format spdx-json needs spdx-tools, which is not installed",
                          hint="pip install 'venvship[spdx]'") from None
    licensing = get_spdx_licensing()

    def declared(licences: list[Any]) -> tuple[Any, str | None]:
        texts = [_licence_text(lic) for lic in licences]
        if not texts:
            return SpdxNoAssertion(), None
        try:
            parsed = licensing.parse(" AND ".join(f"({t})" for t in texts), validate=True, strict=True)
        except ExpressionError:  # a licence name, not an SPDX identifier or expression
            return SpdxNoAssertion(), "declared as: " + "; ".join(texts)
        return parsed, None

    metadata = document.get("metadata") or {}
    subject = metadata.get("component") or {"name": "app"}
    created = datetime.fromisoformat(str(metadata.get("timestamp", "1970-01-01T00:00:00+00:00")))
    # cyclonedx-py's reproducible output has no serial number: then one derived from the content
    content = json.dumps(document, sort_keys=True).encode()
    serial = (str(document.get("serialNumber") or "").rpartition(":")[2]
              or str(uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(content).hexdigest())))
    info = CreationInfo(
        spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name=f"{subject['name']} image",
        document_namespace=f"https://spdx.org/spdxdocs/venvship/{subject['name']}-{serial}",
        creators=[Actor(ActorType.TOOL, f"venvship-{__version__}")], created=created,
        creator_comment="Converted by venvship from the image's CycloneDX SBOM.",
    )
    app_licence, app_comment = declared(subject.get("licenses") or [])
    app = Package(_spdx_id("app-" + subject["name"]), subject["name"], SpdxNoAssertion(),
                  version=subject.get("version"), files_analyzed=False, license_declared=app_licence,
                  license_comment=app_comment, primary_package_purpose=PackagePurpose.APPLICATION)
    packages = [app]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, app.spdx_id)]
    for component in document.get("components") or []:
        if component.get("type") == "container":
            base = Package(_spdx_id("base-" + component["name"]), component["name"], SpdxNoAssertion(),
                           version=component.get("version"), files_analyzed=False,
                           primary_package_purpose=PackagePurpose.CONTAINER,
                           comment="; ".join(f"{p['name']}={p['value']}" for p in component.get("properties") or []))
            packages.append(base)
            relationships.append(Relationship(app.spdx_id, RelationshipType.DESCENDANT_OF, base.spdx_id))
            continue
        licence, comment = declared(component.get("licenses") or [])
        props = {p["name"]: p["value"] for p in component.get("properties") or []}
        package = Package(
            _spdx_id(f"pypi-{component['name']}-{component.get('version')}"), component["name"], SpdxNoAssertion(),
            version=component.get("version"), files_analyzed=False, license_declared=licence,
            license_comment=comment, primary_package_purpose=PackagePurpose.LIBRARY,
            checksums=[Checksum(ChecksumAlgorithm.SHA256, h) for h in _sha256s(component)],
            external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl",
                                                    component["purl"])] if component.get("purl") else [],
            comment="; ".join(f"{k}={v}" for k, v in sorted(props.items())) or None,
        )
        packages.append(package)
        relationships.append(Relationship(app.spdx_id, RelationshipType.DEPENDS_ON, package.spdx_id))
    out = io.StringIO()
    write_document_to_stream(Document(info, packages=packages, relationships=relationships), out, validate=True)
    return out.getvalue() + "\n"


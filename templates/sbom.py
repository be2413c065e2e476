"""venvship: the CycloneDX SBOM of the image, written in the build (stage "sbom") by the CycloneDX
project library (cyclonedx-python-lib, hash-checked from tools/sbom.txt of venvship).

From the locks: every pinned distribution (name, version, purl, the sha256 hashes of the lock, its
environment and lock file). From the installed metadata of the venv: the licence of each
(License-Expression, else a one-line License field, else the licence classifiers) and the app.
From build arguments: the base image of the runtime stage (name; registry digest, else local image
id, and which of the two) and SOURCE_DATE_EPOCH, the timestamp of the SBOM. The serial number is
derived from all of these: two builds of the same inputs write byte-identical SBOMs.
Usage: python sbom.py --venv DIR --lock ENV=FILE [...] --app NAME --out FILE
"""
import argparse
import glob
import hashlib
import os
import re
import sys
import uuid
from datetime import datetime, timezone
from importlib import metadata

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

NAMESPACE = uuid.UUID("6f0d3c8e-8d6c-5b8e-9a8e-76656e767368")  # fixed: serial numbers are uuid5 in it
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)\s*(;.*)?$")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path):
    """[(name, version, marker or None, [sha256, ...])] from a hashed requirements file."""
    pins, logical = [], ""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    for raw in lines + [""]:
        line = raw.strip()
        if line.startswith("#") and not logical:
            continue
        logical += " " + line.rstrip("\\").strip()
        if line.endswith("\\"):
            continue
        text = logical.strip()
        logical = ""
        if not text or text.startswith("-"):
            continue
        requirement = HASH.sub("", text).strip()
        match = PIN.match(requirement)
        if match is None:
            sys.exit("venvship sbom: %s: not a pinned requirement: %s" % (path, requirement))
        marker = (match.group(3) or "").lstrip("; ").strip() or None
        pins.append((canonical(match.group(1)), match.group(2), marker, HASH.findall(text)))
    return pins


def licences(dist, factory):
    """(licences, where they came from): License-Expression, a one-line License, classifiers."""
    meta = dist.metadata
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return [factory.make_from_string(expression)], "License-Expression"
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 100 and text.upper() not in ("UNKNOWN", "NONE"):
        return [factory.make_from_string(text)], "License"
    names = [c.split("::")[-1].strip() for c in (meta.get_all("Classifier") or [])
             if c.startswith("License ::") and c.count("::") >= 2]
    if names:
        return [factory.make_with_name(n) for n in sorted(set(names))], "Classifier"
    return [], None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--venv", required=True)
    parser.add_argument("--lock", action="append", default=[], help="ENV=FILE, bases first")
    parser.add_argument("--requirements-dir", default="requirements")
    parser.add_argument("--app", required=True)
    parser.add_argument("--app-version", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    base_name = os.environ.get("VENVSHIP_BASE_NAME") or "unknown"
    base_digest = os.environ.get("VENVSHIP_BASE_DIGEST") or ""
    base_kind = os.environ.get("VENVSHIP_BASE_DIGEST_KIND") or ("unknown" if not base_digest else "registry-digest")
    site = glob.glob(os.path.join(args.venv, "lib", "python*", "site-packages"))
    installed = {}
    for dist in metadata.distributions(path=site):
        installed.setdefault(canonical(dist.metadata["Name"]), dist)

    factory = LicenseFactory()
    seed = hashlib.sha256()
    components, seen = [], set()
    for spec in args.lock:
        env, _, path = spec.partition("=")
        with open(path, "rb") as handle:
            seed.update(handle.read())
        for name, version, marker, hashes in read_lock(path):
            if name in seen:
                continue
            dist = installed.get(name)
            if dist is None and marker is not None:
                continue  # its marker leaves it out for this interpreter: not installed, not listed
            if dist is None or dist.version != version:
                have = "not installed" if dist is None else "%s is installed" % dist.version
                sys.exit("venvship sbom: %s==%s is locked in %s but %s" % (name, version, path, have))
            seen.add(name)
            found, source = licences(dist, factory)
            purl = PackageURL(type="pypi", name=name, version=version)
            properties = [Property(name="venvship:environment", value=env),
                          Property(name="venvship:lock", value="%s/%s.txt" % (args.requirements_dir, env))]
            if source:
                properties.append(Property(name="venvship:license-source", value=source))
            components.append(Component(
                name=name, version=version, type=ComponentType.LIBRARY, purl=purl, bom_ref=str(purl),
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h) for h in hashes],
                licenses=found, properties=properties))

    app = installed.get(canonical(args.app))
    app_version = app.version if app is not None else (args.app_version or None)
    base = Component(
        name=base_name, version=base_digest or None, type=ComponentType.CONTAINER, bom_ref="base-image",
        properties=[Property(name="venvship:base-image-digest-kind", value=base_kind)])
    root = Component(
        name=args.app, version=app_version, type=ComponentType.APPLICATION, bom_ref="app",
        licenses=licences(app, factory)[0] if app is not None else [])
    for value in (base_name, base_digest, base_kind, args.app, app_version or ""):
        seed.update(b"\0" + value.encode())
    bom = Bom(serial_number=uuid.uuid5(NAMESPACE, seed.hexdigest()))
    bom.metadata.timestamp = datetime.fromtimestamp(epoch, timezone.utc)
    bom.metadata.component = root
    bom.metadata.properties.add(Property(name="venvship:source-date-epoch", value=str(epoch)))
    bom.components.add(base)
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, [base, *components])
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.utime(args.out, (epoch, epoch))


if __name__ == "__main__":
    main()

"""The SBOM: what venvship reads from the one the image carries (written in the build by the
CycloneDX project's cyclonedx-py from the locks), its schema validity, the SPDX conversion, and the
pure checks verify runs.

data/hello-app.cdx.json is cyclonedx-py 7.5.0's output for examples/hello-app, made as the sbom
stage makes it (regenerate after a lock or tools change):
  cd examples/hello-app && SOURCE_DATE_EPOCH=1700000000 cyclonedx-py requirements \
    --output-reproducible --sv 1.6 --of JSON --no-validate --mc-type application \
    --pyproject pyproject.toml -o ../../tests/unit/data/hello-app.cdx.json requirements/main.txt
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import ROOT
from venvship import lockfile
from venvship.ops import build, sbom

DOCUMENT = Path(__file__).parent / "data" / "hello-app.cdx.json"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


def locked() -> dict[str, tuple[str, list[str]]]:
    lock = lockfile.read(ROOT / "examples" / "hello-app" / "requirements" / "main.txt", "main")
    assert lock is not None
    return {name: (pin.version, sorted(h.removeprefix("sha256:") for h in pin.hashes))
            for name, pin in lock.pins.items()}


def test_the_sbom_validates_against_the_cyclonedx_schema() -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(DOCUMENT.read_text())
    assert error is None, error
    assert document()["specVersion"] == "1.6"
    assert document()["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"  # SOURCE_DATE_EPOCH
    assert "serialNumber" not in document()  # reproducible: nothing random


def test_the_sbom_lists_the_lock_with_its_hashes_and_the_app_as_its_subject() -> None:
    listed = sbom.distributions(document())
    assert {n: (d["version"], d["hashes"]) for n, d in listed.items()} == locked()
    subject = document()["metadata"]["component"]
    assert (subject["name"], subject["version"], subject["type"]) == ("hello-app", "1.2.0", "application")


def test_spdx_conversion_is_valid_spdx_with_the_same_packages(tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    out = tmp_path / "sbom.spdx.json"
    out.write_text(sbom.to_spdx(document()))
    parsed = parse_file(str(out))
    assert validate_full_spdx_document(parsed) == []
    pins = locked()
    libraries = {p.name: p for p in parsed.packages if p.name in pins}
    assert set(libraries) == set(pins)
    assert sorted(c.value for c in libraries["jinja2"].checksums) == pins["jinja2"][1]
    assert sbom.to_spdx(document()) == out.read_text()  # deterministic too


def test_mismatches_name_missing_extra_and_other_versions() -> None:
    document = {"components": [
        {"name": "flask", "version": "3.1.3", "purl": "pkg:pypi/flask@3.1.3", "type": "library"},
        {"name": "click", "version": "8.1.0", "purl": "pkg:pypi/click@8.1.0", "type": "library"},
        {"name": "gone", "version": "1.0", "purl": "pkg:pypi/gone@1.0", "type": "library"},
        {"name": "venvship-local/python:3.11-bookworm", "type": "container"},
    ]}
    installed = {"Flask": "3.1.3", "click": "8.5.1", "Werkzeug": "3.1.0", "hello-app": "1.2.0"}
    assert sbom.mismatches(document, installed, "hello-app") == [
        "the SBOM does not list werkzeug 3.1.0, which is installed",
        "the SBOM lists gone 1.0, which is not installed",
        "the SBOM lists click 8.1.0, but 8.5.1 is installed",
    ]
    assert sbom.mismatches(document, {"flask": "3.1.3", "click": "8.1.0", "gone": "1.0"}, "") == []


def test_base_image_args_say_whether_they_are_a_registry_digest_or_an_image_id() -> None:
    local = build.base_image_args({"Id": "sha256:" + "1" * 64, "RepoDigests": []})
    assert local == {"VENVSHIP_BASE_DIGEST": "sha256:" + "1" * 64, "VENVSHIP_BASE_DIGEST_KIND": "local-image-id"}
    pulled = build.base_image_args({"Id": "sha256:" + "1" * 64,
                                    "RepoDigests": ["python@sha256:" + "2" * 64]})
    assert pulled == {"VENVSHIP_BASE_DIGEST": "sha256:" + "2" * 64, "VENVSHIP_BASE_DIGEST_KIND": "registry-digest"}

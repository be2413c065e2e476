"""The SBOM: templates/sbom.py (the in-build generator, run here in-process against this venv's
own installed distributions), its schema validity, reproducibility, the SPDX conversion, and the
pure checks verify runs."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import load_script
from venvship.ops import build, sbom
from venvship.render import builtin_template_dir

VENV = Path(sys.prefix)
# Distributions of this very venv, with made-up lock hashes: the generator reads versions and
# licences from the installed metadata, hashes from the lock.
PINNED = ("jinja2", "markupsafe", "packaging", "pyyaml")


def generator() -> ModuleType:
    return load_script(builtin_template_dir() / "sbom.py", "venvship_sbom")


def write_lock(path: Path, extra: str = "") -> dict[str, tuple[str, list[str]]]:
    pins: dict[str, tuple[str, list[str]]] = {}
    lines = ["# venvship: env = main"]
    for i, name in enumerate(PINNED):
        version = metadata.version(name)
        hashes = [f"{i:x}" * 64, f"{i + 8:x}" * 64]
        pins[name] = (version, sorted(hashes))
        lines += [f"{name}=={version} \\", *(f"    --hash=sha256:{h} \\" for h in hashes[:-1]),
                  f"    --hash=sha256:{hashes[-1]}", "    # via -r requirements/main.in"]
    path.write_text("\n".join(lines) + "\n" + extra)
    return pins


def generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock: Path, epoch: str = "1700000000",
             out: str = "out/sbom.cdx.json") -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    monkeypatch.setenv("VENVSHIP_BASE_NAME", "venvship-local/python:3.11-bookworm")
    monkeypatch.setenv("VENVSHIP_BASE_DIGEST", "sha256:" + "ab" * 32)
    monkeypatch.setenv("VENVSHIP_BASE_DIGEST_KIND", "local-image-id")
    target = tmp_path / out
    monkeypatch.setattr(sys, "argv", ["sbom.py", "--venv", str(VENV), "--lock", f"main={lock}",
                                      "--app", "venvship", "--out", str(target)])
    generator().main()
    return target


def test_the_sbom_validates_against_the_cyclonedx_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "main.txt"
    write_lock(lock)
    text = generate(tmp_path, monkeypatch, lock).read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"  # SOURCE_DATE_EPOCH


def test_the_sbom_lists_the_lock_with_its_hashes_licences_and_the_base_image(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "main.txt"
    pins = write_lock(lock, extra='absent==1.0 ; python_version < "3.0" \\\n    --hash=sha256:' + "c" * 64 + "\n")
    document = json.loads(generate(tmp_path, monkeypatch, lock).read_text())
    listed = sbom.distributions(document)
    assert {n: (d["version"], d["hashes"]) for n, d in listed.items()} == pins  # the marker-excluded pin is not listed
    assert all(d["environment"] == "main" for d in listed.values())
    assert listed["markupsafe"]["licenses"] and listed["jinja2"]["licenses"]  # from the installed metadata
    purls = {c["name"]: c.get("purl") for c in document["components"]}
    assert purls["jinja2"] == f"pkg:pypi/jinja2@{metadata.version('jinja2')}"
    base = next(c for c in document["components"] if c["type"] == "container")
    assert (base["name"], base["version"]) == ("venvship-local/python:3.11-bookworm", "sha256:" + "ab" * 32)
    assert base["properties"] == [{"name": "venvship:base-image-digest-kind", "value": "local-image-id"}]
    assert document["metadata"]["component"]["name"] == "venvship"


def test_the_sbom_is_reproducible_and_its_serial_follows_its_inputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "main.txt"
    write_lock(lock)
    first = generate(tmp_path, monkeypatch, lock, out="a/sbom.json")
    second = generate(tmp_path, monkeypatch, lock, out="b/sbom.json")
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_mtime == 1700000000  # the file itself carries SOURCE_DATE_EPOCH
    write_lock(lock, extra="# another lock body\n")
    third = generate(tmp_path, monkeypatch, lock, out="c/sbom.json")
    assert json.loads(third.read_text())["serialNumber"] != json.loads(first.read_text())["serialNumber"]


def test_a_locked_distribution_that_is_not_installed_fails_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "main.txt"
    write_lock(lock, extra="not-installed-here==1.0 \\\n    --hash=sha256:" + "d" * 64 + "\n")
    with pytest.raises(SystemExit, match="not-installed-here==1.0 is locked in .* but not installed"):
        generate(tmp_path, monkeypatch, lock)


def test_spdx_conversion_is_valid_spdx_with_the_same_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    lock = tmp_path / "main.txt"
    pins = write_lock(lock)
    document = json.loads(generate(tmp_path, monkeypatch, lock).read_text())
    out = tmp_path / "sbom.spdx.json"
    out.write_text(sbom.to_spdx(document))
    parsed = parse_file(str(out))
    assert validate_full_spdx_document(parsed) == []
    libraries = {p.name: p for p in parsed.packages if p.name in pins}
    assert set(libraries) == set(pins)
    assert sorted(c.value for c in libraries["jinja2"].checksums) == pins["jinja2"][1]
    assert sbom.to_spdx(document) == out.read_text()  # deterministic too


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

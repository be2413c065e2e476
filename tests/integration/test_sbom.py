"""The SBOM a built image carries (real build of examples/hello-app, written by cyclonedx-py in the
build): exactly the lock's distributions with their hashes, valid CycloneDX 1.6, the base image
labels, `venvship sbom` in both formats, and verify failing on an SBOM that does not match the venv."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import copy_example_to, run_cli
from tests.integration import second_engine
from venvship import lockfile
from venvship.engine import Engine
from venvship.ops import sbom

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, engine: Engine):  # type: ignore[no-untyped-def]
    project = copy_example_to(tmp_path_factory.mktemp("sbom") / "hello-app")
    tag = f"venvship-test/sbom:{uuid.uuid4().hex[:12]}"
    result = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    yield project, tag
    engine.remove_image(tag)


def test_the_sbom_lists_exactly_the_locked_distributions_with_their_hashes(built, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    project, tag = built
    document, path = sbom.read_from_image(engine, tag)
    assert path == sbom.SBOM_PATH
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is None
    lock = lockfile.read(project / "requirements" / "main.txt", "main")
    assert lock is not None
    listed = sbom.distributions(document)
    assert {n: (d["version"], d["hashes"]) for n, d in listed.items()} == {
        name: (pin.version, sorted(h.removeprefix("sha256:") for h in pin.hashes)) for name, pin in lock.pins.items()}
    assert document["metadata"]["component"]["name"] == "hello-app"  # the app is the subject, not a component
    # the base image is named by the labels (the SBOM lists Python distributions only)
    base = engine.image("venvship-local/python:3.11-bookworm")
    assert base is not None
    labels = engine.image(tag)["Config"]["Labels"]  # type: ignore[index]
    assert labels["org.opencontainers.image.base.name"] == "venvship-local/python:3.11-bookworm"
    assert labels["org.opencontainers.image.base.digest"] == base["Id"]
    # built here: no registry digest; on the containerd store its id is its own manifest digest
    kind = "manifest-digest" if second_engine.containerd_store(engine) else "local-image-id"
    assert labels["io.venvship.base.digest-kind"] == kind


def test_venvship_sbom_prints_cyclonedx_and_writes_spdx(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, tag = built
    result = run_cli("sbom", tag)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bomFormat"] == "CycloneDX"
    out = tmp_path / "sbom.spdx.json"
    result = run_cli("sbom", tag, "--format", "spdx-json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    spdx = json.loads(out.read_text())
    assert spdx["spdxVersion"] == "SPDX-2.3"
    assert {p["name"] for p in spdx["packages"]} >= {"flask", "werkzeug", "jinja2", "markupsafe"}
    missing = run_cli("sbom", "venvship-local/python:3.11-bookworm")
    assert missing.returncode == 12 and "carries no SBOM" in missing.stderr


def test_verify_fails_on_an_sbom_that_does_not_match_the_venv(project: Path, engine: Engine) -> None:
    templates = project / ".venvship" / "templates"
    templates.mkdir(parents=True)
    (templates / "Dockerfile.j2").write_text(
        '{% extends "venvship/Dockerfile.j2" %}\n{% block sbom %}{{ super() }}\n'
        "RUN sed -i 's/\"name\": \"blinker\"/\"name\": \"blinker-renamed\"/' /opt/venvship/sbom{{ sbom_path }}"
        "\n{% endblock %}\n")
    tag = f"venvship-test/sbom-bad:{uuid.uuid4().hex[:12]}"
    result = run_cli("--progress", "quiet", "build", "--image", tag, cwd=project)
    try:
        assert result.returncode == 14, result.stderr[-3000:]
        assert "the SBOM does not list blinker 1.9.0, which is installed" in result.stderr
        assert "the SBOM lists blinker-renamed" in result.stderr
    finally:
        engine.remove_image(tag)

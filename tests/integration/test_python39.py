"""venvship itself on the oldest Python it supports (3.9, Debian bullseye): the unit suite and
every command's options, with whatever typer/click versions pip picks there."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PY39, ROOT

pytestmark = pytest.mark.docker


def test_unit_suite_and_cli_on_python_39(engine) -> None:  # type: ignore[no-untyped-def]
    from venvship.engine import BuildRequest, Secret
    from venvship.settings import load_settings

    ca = load_settings(ROOT / "examples" / "hello-app", environ={}).index.ca_bundle_path()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp) / "src"
        ctx.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], capture_output=True, check=True).stdout
        for name in filter(None, archive.decode().split("\0")):
            src = ROOT / name
            if src.is_file():
                (ctx / name).parent.mkdir(parents=True, exist_ok=True)
                (ctx / name).write_bytes(src.read_bytes())
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(
            f"FROM {PY39} AS check\nCOPY . /src\nWORKDIR /src\n"
            "RUN --mount=type=secret,id=ca,required=false python3 -m venv /v \\\n"
            " && if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \\\n"
            " && /v/bin/pip install -q --upgrade pip && /v/bin/pip install -q '.[test]'\n"
            "RUN /v/bin/python -m pytest tests/unit -q -p no:cacheprovider > /report.txt 2>&1; echo $? > /rc \\\n"
            " && for c in lock dockerfile build verify envs doctor install sync tox test export; do \\\n"
            "      /v/bin/venvship $c --help >> /help.txt 2>&1 || echo \"help failed: $c\" >> /help.txt; done\n"
            "FROM scratch\nCOPY --from=check /report.txt /rc /help.txt /\n"
        )
        engine.build(BuildRequest(context=ctx, dockerfile=dockerfile, output=f"type=local,dest={tmp}/out",
                                  secrets=(Secret("ca", ca),) if ca else ()))
        out = Path(tmp) / "out"
        report, rc, helps = (out / "report.txt").read_text(), (out / "rc").read_text().strip(), (out / "help.txt").read_text()
    assert rc == "0", report[-3000:]
    assert "help failed" not in helps
    for option in ("--format", "--venv", "--upgrade-package", "--image", "--editable", "--write"):
        assert option in helps, f"{option} missing from --help on Python 3.9"
    assert "--fmt" not in helps

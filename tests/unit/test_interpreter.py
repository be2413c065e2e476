"""One interpreter description: templates/probe.py's answer and a lock header, read as one type."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import default_environment

from tests.conftest import EXAMPLES
from venvship import lockfile
from venvship.interpreter import Interpreter, parse_answer, probe_source
from venvship.render import builtin_template_dir

ROOT = Path(__file__).resolve().parents[2]


def probe_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("probe", builtin_template_dir() / "probe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_is_one_packaged_file_with_both_modes() -> None:
    text = probe_source()
    assert text == (ROOT / "templates" / "probe.py").read_text(encoding="utf-8")
    assert "def interpreter():" in text and "def verify(config):" in text and "venvship-verify: " in text


def test_the_probe_describes_this_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    probe = probe_module()
    probe.main([])  # no arguments: one JSON line, as the lock stage and install read it
    interp = Interpreter.from_probe(parse_answer("noise before\n" + capsys.readouterr().out), "python3")
    assert interp.python == ".".join(map(str, sys.version_info[:3]))
    assert interp.implementation == sys.implementation.name and interp.sys_platform == sys.platform
    assert interp.command == "python3" and interp.executable == sys.executable
    assert dict(interp.markers) == dict(default_environment())  # what packaging evaluates markers with
    assert interp.in_venv == (sys.prefix != sys.base_prefix)
    if interp.in_venv:  # the test venv: its distributions, canonical names
        assert interp.dists["packaging"] and "jinja2" in interp.dists


def test_installed_lists_the_prefix_only(tmp_path: Path) -> None:
    probe = probe_module()
    assert list(probe.installed(str(tmp_path))) == []
    here = {d.metadata["Name"] for d in probe.installed(sys.prefix)}
    if sys.prefix != sys.base_prefix:
        assert "packaging" in here
    # a venv that is not on sys.path (export reads the image's venv so; unit tests a fake one)
    site = Path(sysconfig.get_paths(vars={"base": str(tmp_path), "platbase": str(tmp_path)})["purelib"])
    for name in ("Flask-3.1.3", "flask-3.1.3"):  # one distribution, however spelled
        (site / f"{name}.dist-info").mkdir(parents=True)
        (site / f"{name}.dist-info" / "METADATA").write_text(f"Name: {name[:5]}\nVersion: 3.1.3\n")
    assert [(d.metadata["Name"].lower(), d.version) for d in probe.installed(str(tmp_path))] == [("flask", "3.1.3")]


def test_a_lock_header_is_an_interpreter() -> None:
    main = lockfile.read(EXAMPLES / "hello-app" / "requirements" / "main.txt", "main")
    assert main is not None
    target = Interpreter.from_header(main.header)
    assert target is not None
    assert (target.series, target.system) == (("cpython", "3.11"), ("linux", "x86_64"))
    assert target.header() == {k: main.header[k] for k in ("python", "platform")}
    assert Interpreter.from_header({}) is None
    assert Interpreter.from_header({"python": "cpython 3.11.2"}) is None


def test_the_probe_answer_and_the_header_agree() -> None:
    answer = {"implementation": "cpython", "python": "3.11.2", "sys_platform": "linux", "machine": "aarch64",
              "platform": "linux-aarch64", "dists": {"Flask": "3.1.3", "zope.interface": "7.0"},
              "uid": 0}  # verify's extra keys are ignored
    interp = Interpreter.from_probe(answer)
    assert interp.dists == {"flask": "3.1.3", "zope-interface": "7.0"}
    assert interp.header() == {"python": "cpython 3.11.2", "platform": "linux aarch64 (linux-aarch64)"}
    assert Interpreter.from_header(interp.header()) == Interpreter("cpython", "3.11.2", "linux", "aarch64",
                                                                   "linux-aarch64")
    assert interp.minor == "3.11" and interp.describe() == "cpython 3.11.2 on linux aarch64"

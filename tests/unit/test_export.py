"""venvship export: the pure parts (names, control file, Depends, manifests) and the tarball."""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import sysconfig
import tarfile
from functools import cmp_to_key
from pathlib import Path

import pytest
from packaging.version import Version

from venvship import export_script as script
from venvship import lockfile
from venvship.environments import discover
from venvship.errors import ConfigError
from venvship.interpreter import probe_source
from venvship.ops import export
from venvship.render import render_dockerfile
from venvship.settings import load_settings

HASH = "--hash=sha256:" + "0" * 64


def _project(tmp_path: Path, extra: str = "", project: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core"]\nbuild-backend = "flit_core.buildapi"\n'
        '[project]\nname = "My_App"\nversion = "2.0rc1"\n'
        'description = "Does things.\\nSecond line."\n' + project
        + '[project.scripts]\nmy-app = "my_app:main"\nmy-admin = "my_app:admin"\n'
        '[tool.venvship]\nbase-image = "venvship-local/python:3.11-bookworm"\n' + extra
    )
    return tmp_path


# ---- names, defaults and the spec --------------------------------------------------------
@pytest.mark.parametrize(("project", "expected"), [
    ("hello-app", "hello-app"), ("My_App", "my-app"), ("zope.interface", "zope.interface"),
    ("x", "x-app"), ("__", "app"), ("-Odd_Name.", "odd-name"),
])
def test_debian_name(project: str, expected: str) -> None:
    assert export.debian_name(project) == expected
    assert re.match(r"^[a-z0-9][a-z0-9+.-]+$", export.debian_name(project))


def test_default_maintainer_prefers_maintainers_then_authors() -> None:
    both = {"authors": [{"name": "Ann", "email": "ann@example.org"}],
            "maintainers": [{"name": "Max"}, {"name": "Moe <x>", "email": "moe@example.org"}]}
    assert export.default_maintainer("p", both) == "Moe x <moe@example.org>"
    maintainer = export.default_maintainer
    assert maintainer("p", {"authors": both["authors"]}) == "Ann <ann@example.org>"
    assert maintainer("p", {"authors": [{"email": "a@b.c"}]}) == "p maintainers <a@b.c>"
    assert maintainer("p", {"authors": [{"name": "Doe, Jo", "email": "jo@x.org"}]}) == "Doe Jo <jo@x.org>"
    assert maintainer("p", {"authors": "nonsense"}) == "p maintainers <root@localhost>"


def test_deb_spec_defaults_from_project_metadata(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, 'runtime-packages = ["libpq5"]\n'), environ={})
    spec = export.deb_spec(settings, {"project": {
        "description": "Does things.\nSecond line.", "scripts": {"b": "m:f"},
        "urls": {"Homepage": "https://example.org"}}})
    assert spec == {
        "project": "My_App", "venv_path": "/app", "app": None,
        "deb": {"name": "my-app", "version": None,
                "maintainer": "My_App maintainers <root@localhost>",
                "description": "Does things.", "homepage": "https://example.org",
                "depends": ["libpq5"], "python_depends": "auto", "links": []},
    }
    assert export.check_deb_spec(spec) == []


def test_deb_spec_settings_override_everything(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, (
        'venv-path = "/opt/venvs/my-app/"\ndeb-name = "acme-my-app"\n'
        'deb-version = "1:2.0~rc1-3"\ndeb-maintainer = "Ops <ops@example.org>"\n'
        'deb-description = "The app"\n'
        'deb-depends = ["libpq5 (>= 15)", "curl | wget"]\nruntime-packages = ["libpq5 (>= 15)"]\n'
        'deb-python-depends = "python3.11"\ndeb-link-entry-points = true\n'
    )), environ={})
    scripts = {"my-app": "a:b", "my-admin": "a:c"}
    spec = export.deb_spec(settings, {"project": {"scripts": scripts}})
    assert spec["venv_path"] == "/opt/venvs/my-app"
    assert spec["deb"] == {
        "name": "acme-my-app", "version": "1:2.0~rc1-3", "maintainer": "Ops <ops@example.org>",
        "description": "The app", "homepage": "", "depends": ["libpq5 (>= 15)", "curl | wget"],
        "python_depends": "python3.11", "links": ["my-admin", "my-app"],
    }
    assert export.check_deb_spec(spec) == []


def test_bad_deb_settings_are_reported_each(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, (
        'deb-name = "My App"\ndeb-version = "v1"\ndeb-maintainer = "nobody"\n'
        'deb-depends = ["libpq5 >= 15"]\ndeb-python-depends = "python 3"\n'
    )), environ={})
    problems = export.check_deb_spec(export.deb_spec(settings, {}))
    assert [p.split(" ")[0] for p in problems] == [
        "deb-name", "deb-version", "deb-maintainer", "deb-depends", "deb-python-depends"]


def test_deb_settings_have_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="deb-link-entry-points must be true or false"):
        load_settings(_project(tmp_path, 'deb-link-entry-points = "maybe"\n'), environ={})
    with pytest.raises(ConfigError, match="deb-depends must be a list"):
        load_settings(_project(tmp_path, "deb-depends = 3\n"), environ={})


def test_the_dockerfile_has_export_stages(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path, 'venv-path = "/opt/venvs/my-app"\n'), environ={})
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "main.in").write_text("flask\n")
    text = render_dockerfile(settings, discover(settings))
    stages = ("export-base", "export-tar-build", "export-tar", "export-deb-build", "export-deb")
    for stage in stages:
        assert re.search(rf"^FROM \S+ AS {stage}$", text, re.M), stage
    assert set(export.TARGETS.values()) <= set(stages)
    assert text.index("AS export-deb\n") < text.index("AS runtime\n")
    # the merged venv plus the app's files: with layer groups the build stage starts from an empty venv
    assert "FROM deps AS export-base\nCOPY --from=build /opt/venvship/app/ /opt/venvs/my-app/\n" in text
    assert f"COPY --from={export.EXPORT_CONTEXT} . /opt/venvship/export/" in text
    assert "RUN /opt/venvs/my-app/bin/python /opt/venvship/export/export_script.py deb" in text


def test_the_export_context_holds_the_script_the_probe_and_the_spec(tmp_path: Path) -> None:
    settings = load_settings(_project(tmp_path), environ={})
    spec = export.deb_spec(settings, {})
    files = export.context_files(spec)
    assert sorted(files) == ["export_script.py", "probe.py", "spec.json"]
    assert json.loads(files["spec.json"]) == spec
    assert files["export_script.py"] == Path(script.__file__).read_text()
    assert files["probe.py"] == probe_source()  # the manifest's interpreter and distributions


# ---- Debian versions, Depends, the control file --------------------------------------------
def _dpkg_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_cmp_part(a: str, b: str) -> int:
    """dpkg's verrevcmp, for the upstream part (what debian_version produces)."""
    while a or b:
        ia = len(a) - len(a.lstrip("".join(chr(c) for c in range(256) if not chr(c).isdigit())))
        na, a = a[:ia], a[ia:]
        ib = len(b) - len(b.lstrip("".join(chr(c) for c in range(256) if not chr(c).isdigit())))
        nb, b = b[:ib], b[ib:]
        for x, y in zip(na + "\0" * len(nb), nb + "\0" * len(na)):
            ox = 0 if x == "\0" else _dpkg_order(x)
            oy = 0 if y == "\0" else _dpkg_order(y)
            if ox != oy:
                return ox - oy
        da = len(a) - len(a.lstrip("0123456789"))
        db = len(b) - len(b.lstrip("0123456789"))
        va, a = int(a[:da] or 0), a[da:]
        vb, b = int(b[:db] or 0), b[db:]
        if va != vb:
            return va - vb
    return 0


def _dpkg_cmp(a: str, b: str) -> int:
    ea, _, a = a.rpartition(":")
    eb, _, b = b.rpartition(":")
    return int(ea or 0) - int(eb or 0) or _dpkg_cmp_part(a, b)


@pytest.mark.parametrize(("pep440", "debian"), [
    ("1.2.0", "1.2.0"), ("1.0rc1", "1.0~rc1"), ("1.0a2", "1.0~a2"), ("1.0.post3", "1.0+post3"),
    ("1.0.dev4", "1.0~~dev4"), ("1.0b1.dev2", "1.0~b1~~dev2"), ("2!1.0", "2:1.0"),
    ("1.0+local.7", "1.0+local.7"), ("0!3", "3"),
])
def test_debian_version(pep440: str, debian: str) -> None:
    assert script.debian_version(pep440) == debian
    assert script.DEB_VERSION.match(debian)


def test_debian_versions_sort_like_pep440() -> None:
    versions = ["1.0.dev1", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0",
                "1.0.post1.dev1", "1.0.post1", "1.0.1", "1.1.dev1", "1.1", "10.0", "1!0.1"]
    assert sorted(versions, key=Version) == versions
    converted = [script.debian_version(v) for v in versions]
    assert sorted(converted, key=cmp_to_key(_dpkg_cmp)) == converted


def test_versions_debian_cannot_order_are_refused() -> None:
    with pytest.raises(script.ExportFailure, match="set deb-version"):
        script.debian_version("1.0-SNAPSHOT")


def test_python_depends() -> None:
    assert script.python_depends((3, 11), unversioned=False) == ["python3.11"]
    assert script.python_depends((3, 9, 2), unversioned=True) == [
        "python3.9", "python3 (>= 3.9~)", "python3 (<< 3.10)"]


def test_control_file() -> None:
    spec = {"project": "hello-app", "venv_path": "/opt/venvs/hello-app", "python": "3.11.2",
            "deb": {"name": "hello-app", "maintainer": "Ops <ops@example.org>",
                    "description": "A   small service", "homepage": ""}}
    text = script.deb_control(spec, "1.2.0", "amd64", 5125,
                              ["python3.11", "python3 (>= 3.11~)", "libpq5", "python3.11"])
    assert text == (
        "Package: hello-app\nVersion: 1.2.0\nArchitecture: amd64\n"
        "Maintainer: Ops <ops@example.org>\nInstalled-Size: 5125\n"
        "Depends: python3.11, python3 (>= 3.11~), libpq5\nSection: python\n"
        "Priority: optional\nDescription: A small service\n"
        " The Python virtual environment of hello-app at /opt/venvs/hello-app,\n"
        " built by venvship from the hash-checked locks (Python 3.11.2).\n"
    )


def test_description_paragraphs_and_control_errors() -> None:
    assert script.format_description("x" * 100, "a\n\nb") == "x" * 79 + "\n a\n .\n b"
    assert script.control_text([("A", "1"), ("B", ""), ("C", "x\n y")]) == "A: 1\nC: x\n y\n"
    with pytest.raises(script.ExportFailure):
        script.control_text([("Description", "x\n\n y")])


def test_postrm_removes_the_venv_quoted() -> None:
    text = script.postrm_text("/opt/venvs/it's")
    assert text.startswith("#!/bin/sh\n")
    assert "        rm -rf '/opt/venvs/it'\"'\"'s'\n" in text
    assert "remove|purge)" in text


def test_deb_file_name_drops_the_epoch() -> None:
    name = script.deb_file_name("hello-app", "1:1.2.0~rc1", "arm64")
    assert name == "hello-app_1.2.0~rc1_arm64.deb"


# ---- manifests against the lock ----------------------------------------------------------
def _lock(tmp_path: Path) -> lockfile.Lock:
    path = tmp_path / "main.txt"
    path.write_text(
        "# venvship: python = cpython 3.11.2\n"
        f"flask==3.1.3 \\\n    {HASH}\n"
        f"markupsafe==3.0.4 \\\n    {HASH}\n"
        f"tzdata==2025.2 ; sys_platform == \"win32\" \\\n    {HASH}\n"
    )
    lock = lockfile.read(path, "main")
    assert lock is not None
    return lock


def _manifest(**dists: str) -> dict[str, object]:
    return {"python": "3.11.2", "distributions": dists,
            "markers": {"sys_platform": "linux", "python_version": "3.11"}}


def test_manifest_equal_to_the_lock(tmp_path: Path) -> None:
    manifest = _manifest(**{"Flask": "3.1.3", "MarkupSafe": "3.0.4", "hello_app": "1.2.0"})
    assert export.compare_manifest(manifest, _lock(tmp_path), "hello-app") == []


def test_manifest_differences(tmp_path: Path) -> None:
    manifest = _manifest(flask="3.1.2", six="1.17.0", tzdata="2025.2")
    manifest["python"] = "3.11.4"
    assert export.compare_manifest(manifest, _lock(tmp_path), "hello-app") == [
        "the app hello-app is not in the venv",
        "missing: markupsafe==3.0.4",
        "not in the lock: six==1.17.0",
        "not in the lock: tzdata==2025.2",
        "flask: 3.1.2 in the venv, 3.1.3 locked",
        "Python 3.11.4 in the venv, the lock was compiled for 3.11.2",
    ]


def test_failure_reason_is_the_scripts_last_error_line() -> None:
    log = ("#12 0.3 venvship-export: error: first\n#12 0.4 venvship-export: error: the real one\n"
           "ERROR: failed to solve: exit code: 1\n")
    assert export.failure_reason(log) == "the real one"
    assert export.failure_reason("ERROR: failed to solve\n") is None


# ---- the tarball, from a fake venv (file I/O only) -----------------------------------------
def _fake_venv(root: Path) -> Path:
    venv = root / "opt" / "venvs" / "demo"
    scheme = sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})
    site = Path(scheme["purelib"])
    for name, version in (("demo", "1.0rc1"), ("Flask", "3.1.3")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (venv / "bin").mkdir()
    (venv / "bin" / "demo").write_text("#!/bin/sh\n")
    (venv / "bin" / "demo").chmod(0o755)
    (venv / ".lock").write_text("")
    (venv / ".lock").chmod(0o666)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "lib64").symlink_to("lib")
    return venv


def test_tarball_is_sorted_root_owned_and_reproducible(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "root")
    spec = {"project": "demo", "venv_path": str(venv), "deb": {}}
    script.export_tar(spec, str(tmp_path / "a"))
    script.export_tar(spec, str(tmp_path / "b"))
    name = "demo-1.0rc1-" + os.uname().machine + ".tar.gz"
    data = (tmp_path / "a" / name).read_bytes()
    assert data == (tmp_path / "b" / name).read_bytes()
    assert gzip.decompress(data)  # a plain gzip stream
    with tarfile.open(tmp_path / "a" / name) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    prefix = str(venv).lstrip("/")
    assert names == sorted(names) and names[0] == prefix
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    by_name = {m.name: m for m in members}
    assert by_name[f"{prefix}/.lock"].mode == 0o644
    assert by_name[f"{prefix}/bin/demo"].mode == 0o755
    assert by_name[f"{prefix}/lib64"].issym() and by_name[f"{prefix}/lib64"].linkname == "lib"
    assert not any(n.startswith(f"{prefix}/lib64/") for n in names)
    stem = "demo-1.0rc1-" + os.uname().machine
    manifest = json.loads((tmp_path / "a" / f"{stem}.manifest.json").read_text())
    assert manifest["distributions"] == {"demo": "1.0rc1", "flask": "3.1.3"}
    assert manifest["format"] == "tar"
    assert (manifest["artefact"], manifest["venv_path"]) == (name, str(venv))


def test_tarball_needs_the_app_in_the_venv(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "root")
    with pytest.raises(script.ExportFailure, match="the app other is not installed"):
        script.export_tar({"project": "other", "venv_path": str(venv)}, str(tmp_path / "o"))


def test_script_reports_failures_on_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    venv = _fake_venv(tmp_path / "root")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"project": "other", "venv_path": str(venv), "deb": {}}))
    assert script.main(["tar", str(spec), str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err == (
        f"venvship-export: error: the app other is not installed in {venv}\n")
    assert script.main(["zip", str(spec), "o"]) == 2


def test_interpreter_chain_follows_links_out_of_the_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    usr = tmp_path / "usr" / "bin"
    usr.mkdir(parents=True)
    (usr / "python3.11").write_text("")
    (usr / "python3").symlink_to("python3.11")
    (venv / "bin" / "python3").symlink_to(usr / "python3")
    (venv / "bin" / "python").symlink_to("python3")
    assert script.interpreter_chain(str(venv)) == [str(usr / "python3"), str(usr / "python3.11")]


# ---- the command line ----------------------------------------------------------------------
def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from venvship.__main__ import main

    assert main(["export", "--format", "zip"]) == 2
    assert "--format" in capsys.readouterr().err


def test_bad_package_settings_fail_before_any_build(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from venvship.__main__ import main

    project = _project(tmp_path, 'deb-maintainer = "nobody"\n')
    (project / "requirements").mkdir()
    (project / "requirements" / "main.in").write_text("flask\n")
    assert main(["-C", str(project), "export", "--format", "deb"]) == ConfigError.exit_code
    assert "deb-maintainer 'nobody' must look like 'Name <email>'" in capsys.readouterr().err
    assert not (project / "dist").exists()


# ---- source-tree apps: the venv plus the tree, and a run wrapper ----------------------------
def _tree_project(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "manage.py").write_text("print('hi')\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.venvship]\nbase-image = "venvship-local/python:3.11-bookworm"\nname = "My_Site"\n'
        'command = ["gunicorn", "app:app"]\nenv = {GREETING = "it\'s $HOME"}\n' + extra)
    return tmp_path


def test_a_source_tree_app_spec_carries_the_images_run_settings(tmp_path: Path) -> None:
    settings = load_settings(_tree_project(tmp_path), environ={})
    assert not settings.package
    spec = export.deb_spec(settings, {})
    assert spec["app"] == {
        "dir": "/srv/app", "version": None, "workdir": "/srv/app",
        "env": [["PATH", "/app/bin:$PATH"], ["VIRTUAL_ENV", "/app"], ["LANG", "C.UTF-8"],
                ["PYTHONDONTWRITEBYTECODE", "1"], ["PYTHONUNBUFFERED", "1"],
                ["PYTHONPATH", "/srv/app"], ["GREETING", "it's $HOME"]],
        "entrypoint": [], "command": ["gunicorn", "app:app"],
        "run": {"tar": "/usr/local/bin/my-site", "deb": "/usr/bin/my-site"},
    }
    assert json.loads(export.context_files(spec)["spec.json"]) == spec
    # a package has no tree to ship: the spec says so
    (tmp_path / "p").mkdir()
    assert export.deb_spec(load_settings(_project(tmp_path / "p"), environ={}), {})["app"] is None


def test_a_source_tree_deb_needs_a_version(tmp_path: Path) -> None:
    settings = load_settings(_tree_project(tmp_path), environ={})
    problems = export.check_deb_spec(export.deb_spec(settings, {}))
    assert len(problems) == 1 and "set deb-version" in problems[0]
    settings = load_settings(_tree_project(tmp_path, 'deb-version = "1.0"\n'), environ={})
    assert export.check_deb_spec(export.deb_spec(settings, {})) == []


def test_the_run_wrapper_sets_what_the_image_sets() -> None:
    app = {"dir": "/srv/app", "workdir": "/srv/app", "entrypoint": [], "command": ["gunicorn", "a:b"],
           "env": [["PATH", "/app/bin:$PATH"], ["PYTHONPATH", "/srv/app"], ["GREETING", "it's $HOME"]]}
    text = script.wrapper_text("site", app)
    assert text.startswith("#!/bin/sh\n")
    assert text.endswith(
        "PATH=/app/bin:\"$PATH\"\nPYTHONPATH=/srv/app\nGREETING='it'\"'\"'s $HOME'\n"
        "export PATH PYTHONPATH GREETING\ncd /srv/app\n"
        'if [ "$#" -eq 0 ]; then set -- gunicorn a:b; fi\nexec "$@"\n')
    entry = script.wrapper_text("site", {**app, "entrypoint": ["/app/bin/site", "--x"], "command": []})
    assert entry.endswith('cd /srv/app\nexec /app/bin/site --x "$@"\n')


def test_postrm_of_a_source_tree_removes_the_tree_too() -> None:
    assert "        rm -rf /app /srv/app\n" in script.postrm_text("/app", "/srv/app")


def test_tarball_of_a_source_tree_holds_venv_tree_and_wrapper(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "root")
    tree = tmp_path / "root" / "srv" / "app"
    (tree / "static").mkdir(parents=True)
    (tree / "manage.py").write_text("print('hi')\n")
    (tree / "static" / "x.css").write_text("")
    (tree / "static" / "x.css").chmod(0o666)
    app = {"dir": str(tree), "version": None, "workdir": str(tree), "entrypoint": [],
           "command": ["python", "manage.py"], "env": [["PYTHONPATH", str(tree)]],
           "run": {"tar": "/usr/local/bin/demo", "deb": "/usr/bin/demo"}}
    spec = {"project": "demo", "venv_path": str(venv), "deb": {}, "app": app}
    script.export_tar(spec, str(tmp_path / "a"))
    script.export_tar(spec, str(tmp_path / "b"))
    name = f"demo-{os.uname().machine}.tar.gz"  # no version: none is named
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a" / name) as tar:
        members = {m.name: m for m in tar.getmembers()}
        wrapper = tar.extractfile("usr/local/bin/demo")
        assert wrapper is not None and wrapper.read().decode() == script.wrapper_text("demo", app)
    top = str(tree).lstrip("/")
    assert {f"{top}/manage.py", f"{top}/static/x.css", str(venv).lstrip("/") + "/.lock"} <= set(members)
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
    assert members[f"{top}/static/x.css"].mode == 0o644  # not writable but by root
    assert members["usr/local/bin/demo"].mode == 0o755
    manifest = json.loads((tmp_path / "a" / f"demo-{os.uname().machine}.manifest.json").read_text())
    assert manifest["distributions"] == {"demo": "1.0rc1", "flask": "3.1.3"}  # the venv's, as is
    assert (manifest["app_dir"], manifest["run"], manifest["version"]) == (str(tree), "/usr/local/bin/demo", "")

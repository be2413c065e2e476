"""``venvship lock`` against the real engine, the real base images and real PyPI."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PY39, PY311, copy_example_to, one_error, snapshot
from tests.integration.conftest import lock, versions
from venvship import lockfile

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def locked_39(tmp_path_factory: pytest.TempPathFactory) -> Path:

    dest = copy_example_to(tmp_path_factory.mktemp("py39") / "hello-app")
    for txt in (dest / "requirements").glob("*.txt"):
        txt.unlink()
    result = lock(dest, "--base-image", PY39)
    assert result.returncode == 0, result.stderr
    return dest


def test_markers_are_evaluated_by_the_target_interpreter(locked_39: Path, copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    for txt in (project / "requirements").glob("*.txt"):
        txt.unlink()
    result = lock(project, "--base-image", PY311)
    assert result.returncode == 0, result.stderr
    dev39, dev311 = versions(locked_39, "dev"), versions(project, "dev")
    for only_39 in ("tomli", "exceptiongroup"):
        assert only_39 in dev39, f"{only_39} missing from the 3.9 dev lock"
        assert only_39 not in dev311, f"{only_39} should not be in the 3.11 dev lock"
    header39 = lockfile.read(locked_39 / "requirements/dev.txt", "dev")
    assert header39 is not None and header39.header["python"].startswith("cpython 3.9.")
    assert header39.header["base-image"] == PY39
    # the output names every environment and what was added
    assert "main:" in result.stdout and "+ flask" in result.stdout


def test_layered_locks_install_together_with_main_pins(locked_39: Path, engine) -> None:  # type: ignore[no-untyped-def]
    """pip install --require-hashes -r main.txt -r dev.txt in the base image, pins equal main's."""
    from venvship.engine import BuildRequest, Secret
    from venvship.settings import load_settings

    settings = load_settings(locked_39, environ={})
    ca = settings.index.ca_bundle_path()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        for env in ("main", "dev"):
            (ctx / f"{env}.txt").write_bytes((locked_39 / "requirements" / f"{env}.txt").read_bytes())
        (ctx / "Dockerfile").write_text(
            f"FROM {PY39} AS install\nCOPY main.txt dev.txt /r/\n"
            "RUN --mount=type=secret,id=ca,required=false python3 -m venv /v \\\n"
            " && if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \\\n"
            " && /v/bin/pip install --no-cache-dir --require-hashes -r /r/main.txt -r /r/dev.txt \\\n"
            " && /v/bin/python -c \"import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))\" > /freeze.json\n"
            "FROM scratch\nCOPY --from=install /freeze.json /\n"
        )
        engine.build(BuildRequest(context=ctx, dockerfile=ctx / "Dockerfile", output=f"type=local,dest={ctx}/out",
                                  secrets=(Secret("ca", ca),) if ca else ()))
        from packaging.utils import canonicalize_name

        raw = json.loads((ctx / "out" / "freeze.json").read_text())
        installed = {canonicalize_name(k): v for k, v in raw.items()}
    main = versions(locked_39, "main")
    for name, version in main.items():
        assert installed.get(name) == version, f"{name}: installed {installed.get(name)}, main pins {version}"
    shared = set(main) & set(versions(locked_39, "dev"))
    assert {"flask", "werkzeug"} <= shared


def failed_lock(project: Path, code: int) -> str:
    """'venvship lock' failing with exit ``code`` and leaving requirements/ byte for byte; its stderr."""
    before = snapshot(project / "requirements")
    result = lock(project)
    assert result.returncode == code, result.stderr
    assert snapshot(project / "requirements") == before
    return result.stderr


def test_conflict_between_main_and_dev_is_clear_and_writes_nothing(project: Path) -> None:
    (project / "requirements/dev.in").write_text("-c main.txt\npytest\nflask<3\n")
    error = one_error(failed_lock(project, 6))
    assert "'dev' requires flask<3 (requirements/dev.in:3)" in error
    assert re.search(r"'main' pins flask==3\.\d+\.\d+ \(requirements/main\.txt", error)


def test_unknown_package_fails_and_keeps_locks(project: Path) -> None:
    (project / "requirements/main.in").write_text("flask\nvenvship-no-such-package-4c1e\n")
    stderr = failed_lock(project, 5)
    assert "venvship-no-such-package-4c1e" in stderr and "Traceback" not in stderr


def test_check_catches_each_stale_case(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    ok = lock(project, "--check")
    assert ok.returncode == 0, ok.stderr

    # 1. inputs changed
    (project / "requirements/main.in").write_text("flask>=3.0\nitsdangerous\n")
    result = lock(project, "--check")
    assert result.returncode == 7 and "main: inputs changed" in result.stderr
    assert "dev: inputs changed" in result.stderr  # layered on main: stale too
    (project / "requirements/main.in").write_bytes(before_in := (Path(__file__).resolve().parents[2] / "examples/hello-app/requirements/main.in").read_bytes())
    del before_in
    # 2. compiled for another Python than the base image's
    result = lock(project, "--check", "--base-image", PY39)
    assert result.returncode == 7 and "compiled for Python cpython 3.11" in result.stderr
    # 3. layered pins diverge (a lock rewritten consistently, so only divergence is wrong)
    dev_path = project / "requirements/dev.txt"
    dev = lockfile.read(dev_path, "dev")
    assert dev is not None
    flask = dev.pins["flask"].version
    body = dev.body.replace(f"flask=={flask}", "flask==3.0.0")
    dev_path.write_text(lockfile.render("dev", dict(dev.header), body))
    result = lock(project, "--check")
    assert result.returncode == 7 and f"dev: pins flask==3.0.0 but main pins {flask}" in result.stderr
    # 4. edited by hand / missing
    dev_path.write_text(dev_path.read_text().replace("flask==3.0.0", "flask==3.0.1"))
    result = lock(project, "--check")
    assert result.returncode == 7 and "changed after it was generated" in result.stderr
    dev_path.unlink()
    result = lock(project, "--check")
    assert result.returncode == 7 and "dev: requirements/dev.txt is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_upgrade_shows_what_changed(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    (project / "requirements/main.in").write_text("flask>=3.0,<3.1\n")
    first = lock(project, "--env", "main")
    assert first.returncode == 0, first.stderr
    old = versions(project, "main")["flask"]
    assert old.startswith("3.0.")
    (project / "requirements/main.in").write_text("flask>=3.0\n")
    kept = lock(project, "--env", "main")  # relaxing an input keeps the existing pin
    assert kept.returncode == 0 and versions(project, "main")["flask"] == old
    upgraded = lock(project, "--upgrade-package", "flask")
    assert upgraded.returncode == 0, upgraded.stderr
    new = versions(project, "main")["flask"]
    assert new != old
    assert f"↑ flask {old} -> {new}" in upgraded.stdout
    # the wheel sizes the layer plan needs are recorded with the locks, for the new pins too
    from venvship import layers

    sizes = layers.read_sizes(project / "requirements" / "wheel-sizes.list")
    assert {n: v for n, (v, _size) in sizes.items()} == versions(project, "main")
    assert all(size is not None and size > 1000 for _v, size in sizes.values()), sizes
    assert lock(project, "--check").returncode == 0


def test_pip_tools_resolver_gives_the_same_pins(copy_example) -> None:  # type: ignore[no-untyped-def]
    project = copy_example()
    expected = {env: versions(project, env) for env in ("main", "dev", "build")}
    for txt in (project / "requirements").glob("*.txt"):
        txt.unlink()
    result = lock(project, "--resolver", "pip-tools")
    assert result.returncode == 0, result.stderr
    header = lockfile.read(project / "requirements/main.txt", "main")
    assert header is not None and header.header["resolver"].startswith("pip-compile")
    for env, pins in expected.items():
        got = versions(project, env)
        assert set(got) == set(pins), env


def test_pylock_toml_next_to_the_requirements_lock(copy_example) -> None:  # type: ignore[no-untyped-def]
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = copy_example()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "pylock = true\n")
    result = lock(project, "--env", "main")
    assert result.returncode == 0, result.stderr
    data = tomllib.loads((project / "requirements/pylock.main.toml").read_text())
    assert data["lock-version"] == "1.0"
    assert {p["name"]: p["version"] for p in data["packages"]} == versions(project, "main")
    sizes = (project / "requirements/wheel-sizes.list").read_text()  # taken from that file: no second pass
    assert f"flask=={versions(project, 'main')['flask']} " in sizes and " -\n" not in sizes


def test_check_after_lock_for_another_base_image_names_the_setting(locked_39: Path) -> None:
    """Issue 13 item 9: 'lock --base-image X' then 'lock --check' says how to make X the setting."""
    result = lock(locked_39, "--check")
    assert result.returncode == 7
    assert f'compiled for base image {PY39} (lock --base-image), settings say {PY311}: to keep these ' \
        f'locks, set base-image = "{PY39}" in [tool.venvship]' in result.stderr, result.stderr
    assert lock(locked_39, "--check", "--base-image", PY39).returncode == 0

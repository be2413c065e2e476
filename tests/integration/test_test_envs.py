"""'venvship test' and 'venvship tox' on a project whose test environment is called 'test', not
'dev' (issue 14, tests in the image): refused with the right name in the hint; with --env test the
tests run, reach a service on --network with settings from --env-var, and the image is removed;
tests kept out by .dockerignore are named when nothing was collected."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PY311, copy_example_to, one_error, run_cli

pytestmark = pytest.mark.docker

SERVICE_TEST = '''\
import os
import urllib.request


def test_settings_and_the_service_on_the_network():
    assert os.environ["VSP_SETTING"] == "from --env-var"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the service
    with opener.open(os.environ["VSP_SERVICE_URL"], timeout=20) as answer:
        assert answer.status == 200
'''


@pytest.fixture(scope="module")
def hello_test_env(tmp_path_factory: pytest.TempPathFactory, engine) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """hello-app with its test tools in 'test' (requirements/test.in), no 'dev'."""
    from venvship.ops.testrun import image_tag
    from venvship.settings import load_settings

    dest = copy_example_to(tmp_path_factory.mktemp("test-envs") / "hello-app")
    (dest / "requirements" / "dev.in").rename(dest / "requirements" / "test.in")
    (dest / "requirements" / "dev.txt").unlink()
    locked = run_cli("lock", "--env", "test", cwd=dest)
    assert locked.returncode == 0, locked.stderr[-3000:]
    yield dest
    engine.remove_image(image_tag(load_settings(dest, environ={})))


@pytest.fixture
def service(engine) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A network of this test's own and an HTTP server on it: (network, url)."""
    client = engine.client()
    name = f"vsp-net-{uuid.uuid4().hex[:10]}"
    network = client.networks.create(name)
    server = client.containers.run(PY311, ["python3", "-m", "http.server", "8000"], detach=True,
                                   name=f"vsp-svc-{uuid.uuid4().hex[:10]}", network=name)
    try:
        yield name, f"http://{server.name}:8000/"
    finally:
        server.remove(force=True)
        network.remove()


def test_test_refuses_a_missing_dev_env_and_names_test(hello_test_env: Path) -> None:
    result = run_cli("test", "--quiet", cwd=hello_test_env)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "no test environment named 'dev'" in one_error(result.stderr)
    assert "venvship: hint: 'test' holds pytest: pass --env test" in result.stderr


def test_tox_refuses_the_same_and_writes_the_test_lock_when_asked(hello_test_env: Path) -> None:
    refused = run_cli("tox", cwd=hello_test_env)
    assert refused.returncode == 4 and "'test' holds pytest" in refused.stderr, refused.stderr
    wrote = run_cli("tox", "--env", "test", "--write", cwd=hello_test_env)
    assert wrote.returncode == 0, wrote.stderr
    ini = (hello_test_env / "tox.ini").read_text()
    assert "-r requirements/main.txt" in ini and "-r requirements/test.txt" in ini
    tox = subprocess.run([sys.executable, "-m", "tox", "run", "-e", "py"], cwd=hello_test_env,
                         capture_output=True, text=True, timeout=900)
    assert tox.returncode == 0, tox.stdout[-3000:] + tox.stderr[-2000:]
    assert " passed" in tox.stdout and "No module named pytest" not in tox.stdout
    (hello_test_env / "tox.ini").unlink()
    shutil.rmtree(hello_test_env / ".tox", ignore_errors=True)


def test_env_vars_and_network_reach_the_tests_and_the_image_is_removed(
        hello_test_env: Path, service: tuple[str, str], engine) -> None:  # type: ignore[no-untyped-def]
    from venvship.ops.testrun import image_tag
    from venvship.settings import load_settings

    network, url = service
    tag = image_tag(load_settings(hello_test_env, environ={}))
    (hello_test_env / "tests" / "test_service.py").write_text(SERVICE_TEST)
    try:
        result = run_cli("test", "--quiet", "--env", "test", "--network", network,
                         "--env-var", "VSP_SETTING=from --env-var", "--env-var", f"VSP_SERVICE_URL={url}",
                         cwd=hello_test_env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "3 passed" in result.stdout, result.stdout[-3000:]
        assert "tests passed with main + test" in result.stderr
        assert engine.image(tag) is None, "the test image was left behind"

        kept = run_cli("test", "--quiet", "--env", "test", "--keep-image", "--", "-k", "index", cwd=hello_test_env)
        assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-2000:]
        assert engine.image(tag) is not None

        no_network = run_cli("test", "--quiet", "--env", "test", "--network", f"{network}-absent", cwd=hello_test_env)
        assert no_network.returncode == 3 and "no network of that name" in one_error(no_network.stderr)
    finally:
        (hello_test_env / "tests" / "test_service.py").unlink()


def test_nothing_collected_names_the_dockerignore_line(hello_test_env: Path) -> None:
    ignore = hello_test_env / ".dockerignore"
    before = ignore.read_text()
    ignore.write_text(before + "tests\n")
    try:
        result = run_cli("test", "--quiet", "--env", "test", cwd=hello_test_env)
        assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-2000:]
        assert ".dockerignore keeps tests/ out of the build context" in result.stderr
    finally:
        ignore.write_text(before)

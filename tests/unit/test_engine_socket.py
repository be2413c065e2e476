"""The engine calls of a no-op build over a unix socket without the docker SDK (issue 17): against
an in-process HTTP server on a socket file, what each call sends and how each answer is read."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from venvship.engine import Engine
from venvship.errors import DockerUnavailableError, ImageError

IMAGE = {"Id": "sha256:" + "a" * 64, "RepoTags": ["venvship-test/app:1"], "Size": 1}


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _answer(self, status: int, body: object) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        if self.path == "/_ping":
            self._answer(200, b"OK")
        elif self.path == "/images/venvship-test/app:1/json":
            self._answer(200, IMAGE)
        elif self.path.startswith("/images/broken"):
            self._answer(500, {"message": "engine trouble"})
        elif self.command == "POST" and self.path.startswith("/images/venvship-test/app:1/tag?"):
            self._answer(201, b"")
        else:
            self._answer(404, {"message": "No such image"})

    do_GET = do_POST = do_DELETE = _route

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) client address


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    sock = tmp_path / "engine.sock"
    server = _Server(str(sock), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    _Handler.seen = []
    try:
        yield Engine("docker")
    finally:
        server.shutdown()
        server.server_close()


def test_inspect_tag_untag_over_the_socket_without_the_sdk(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "docker" or m.startswith("docker.")]:
        monkeypatch.delitem(sys.modules, name)
    assert engine.image("venvship-test/app:1") == IMAGE
    assert engine.image("venvship-test/absent:1") is None
    engine.tag("venvship-test/app:1", "registry:5000/team/app:2")
    engine.remove_image("venvship-test/absent:1")  # already gone: nothing to do
    assert not [m for m in sys.modules if m == "docker" or m.startswith("docker.")]
    assert _Handler.seen == [
        "GET /_ping",  # asked once per Engine
        "GET /images/venvship-test/app:1/json",
        "GET /images/venvship-test/absent:1/json",
        "POST /images/venvship-test/app:1/tag?repo=registry%3A5000%2Fteam%2Fapp&tag=2",
        "DELETE /images/venvship-test/absent:1?force=1",
    ]


def test_the_engines_own_words_on_an_error(engine: Engine) -> None:
    with pytest.raises(ImageError, match="cannot inspect image 'broken:1': 500 engine trouble"):
        engine.image("broken:1")
    with pytest.raises(ImageError, match="cannot tag venvship-test/absent:1 as app:2: 404 No such image"):
        engine.tag("venvship-test/absent:1", "app:2")
    with pytest.raises(ImageError, match="cannot remove image 'broken:1': 500 engine trouble"):
        engine.remove_image("broken:1")


def test_no_socket_is_an_engine_that_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    with pytest.raises(DockerUnavailableError, match="the Docker engine does not answer at unix://"):
        Engine("docker").check()
    with pytest.raises(DockerUnavailableError):
        Engine("docker").image("app:1")

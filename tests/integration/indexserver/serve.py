"""A local package index for venvship's integration tests: the real pypiserver app over HTTPS.

Environment:
  VSP_PORT             port (default 8443)
  VSP_TLS_CERT/KEY     server certificate and key; the server waits until both files exist
                       (the test writes them once it knows the container's address)
  VSP_USER/PASSWORD    when set, every request needs HTTP basic auth (pypiserver's htpasswd)

Faults, switched at run time by writing one word into /srv/mode (read on every request):
  index   serve the packages (default)
  500     answer every request with 500 Internal Server Error
  hang    accept the request and never answer
  drop N TEXT   a flaky proxy: the first N downloads of each file whose path contains TEXT send
          the headers and half the body, then the connection is closed (counted per mode line:
          writing the same line again does not restart the count)
Every request is logged to stderr as one 'vsp-request ...' line ('vsp-request dropped PATH' for
a dropped download).
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

MODE_FILE = Path("/srv/mode")
_drops: dict[tuple[str, str], int] = {}
_drops_lock = threading.Lock()


class Dropped(Exception):
    """Raised mid-body: wsgiref then closes the connection short of its Content-Length."""


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request, client_address):  # type: ignore[no-untyped-def]
        # The TLS handshake happens here, in the connection's own thread: a client that is slow
        # to say hello must not hold up everyone else's accept().
        if self.tls is not None:
            request.settimeout(30)
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)


class Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"vsp-request {format % args}\n")
        sys.stderr.flush()


def mode() -> str:
    try:
        return MODE_FILE.read_text().strip() or "index"
    except OSError:
        return "index"


def with_faults(app):  # type: ignore[no-untyped-def]
    def faulty(environ, start_response):  # type: ignore[no-untyped-def]
        current = mode()
        if current == "500":
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"broken on purpose\n"]
        if current == "hang":
            sys.stderr.write(f"vsp-request hanging {environ.get('PATH_INFO')}\n")
            sys.stderr.flush()
            threading.Event().wait()
        words = current.split()
        path = environ.get("PATH_INFO", "")
        if words[0] == "drop" and len(words) == 3 and words[2] in path:
            with _drops_lock:
                seen = _drops.get((current, path), 0)
                _drops[(current, path)] = seen + 1
            if seen < int(words[1]):
                return dropped(app(environ, start_response), path)
        return app(environ, start_response)

    return faulty


def dropped(result, path):  # type: ignore[no-untyped-def]
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    sys.stderr.write(f"vsp-request dropped {path} after {len(body) // 2} of {len(body)} bytes\n")
    sys.stderr.flush()
    yield body[: len(body) // 2]
    raise Dropped(path)


def pypi_app():  # type: ignore[no-untyped-def]
    import pypiserver

    kwargs: dict[str, object] = {"roots": ["/packages"], "disable_fallback": True}
    user, password = os.environ.get("VSP_USER"), os.environ.get("VSP_PASSWORD")
    if user and password:
        from passlib.apache import HtpasswdFile

        htpasswd = HtpasswdFile("/srv/htpasswd", new=True)
        htpasswd.set_password(user, password)
        htpasswd.save()
        kwargs.update(password_file="/srv/htpasswd", authenticate=["download", "list", "update"])
    else:
        kwargs.update(password_file=".", authenticate=[])
    return pypiserver.app(**kwargs)


def tls_context() -> ssl.SSLContext | None:
    cert, key = os.environ.get("VSP_TLS_CERT"), os.environ.get("VSP_TLS_KEY")
    if not cert or not key:
        return None
    while not (Path(cert).is_file() and Path(key).is_file()):
        time.sleep(0.1)
    time.sleep(0.2)  # the archive holding both is being extracted
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    port = int(os.environ.get("VSP_PORT", "8443"))
    server = make_server("", port, with_faults(pypi_app()), server_class=Server, handler_class=Handler)
    context = tls_context()
    server.tls = context
    print(f"vsp-ready {'https' if context else 'http'} {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""All container work goes through :class:`Engine`.

Builds go through the docker CLI (``docker buildx build``, or the classic client with
``DOCKER_BUILDKIT=1``): the SDK cannot drive BuildKit. The SDK does what it does well:
ping, inspect, run, remove.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import (
    INDEX_UNREACHABLE,
    BuildError,
    BuildKitUnavailableError,
    ConfigError,
    DockerUnavailableError,
    ImageError,
    ImageStoreError,
    IndexUnavailableError,
    PushError,
)
from .proc import run_streaming

# A reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
_REFERENCE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def validate_reference(ref: str, what: str = "image") -> str:
    if not ref or len(ref) > 255 or not _REFERENCE.match(ref):
        raise ImageError(f"{what} reference {ref!r} is not valid")
    return ref


@dataclass(frozen=True)
class Secret:
    id: str
    src: Path


@dataclass(frozen=True)
class BuildRequest:
    """Everything one ``docker build`` needs; :meth:`Engine.build_argv` turns it into argv."""

    context: Path
    dockerfile: Path
    target: str | None = None
    tags: tuple[str, ...] = ()
    output: str | None = None  # e.g. "type=local,dest=/tmp/x"; None: --load when tagging
    build_args: Mapping[str, str] = field(default_factory=dict)
    build_contexts: Mapping[str, Path] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()
    platform: str | None = None
    push: bool = False
    builder: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    progress: str = "plain"
    metadata_file: Path | None = None
    iidfile: Path | None = None


@dataclass(frozen=True)
class BuildResult:
    log: str
    seconds: float
    image_id: str | None
    metadata: Mapping[str, Any]


DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Endpoint:
    """Where the docker CLI sends its requests, resolved as the CLI does (cli/command/cli.go):
    DOCKER_HOST (the 'default' context), else the context named by DOCKER_CONTEXT, else the
    config file's ``currentContext``, else 'default'. The SDK client is made from this, so it
    reaches the same daemon as ``docker buildx build`` whatever the docker SDK's version."""

    host: str
    source: str  # "default", "DOCKER_HOST", "context NAME (DOCKER_CONTEXT)", "context NAME (FILE)"
    tls_dir: Path | None = None  # the context's ca.pem/cert.pem/key.pem, when it has them
    skip_tls_verify: bool = False

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.DockerClient``."""
        if not self.source.startswith("context "):
            from docker.utils import kwargs_from_env  # DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH

            kwargs: dict[str, Any] = kwargs_from_env()
            kwargs.setdefault("base_url", self.host)
        else:
            kwargs = {"base_url": self.host}
            if self.tls_dir is not None:
                from docker.tls import TLSConfig

                ca, cert, key = (self.tls_dir / n for n in ("ca.pem", "cert.pem", "key.pem"))
                kwargs["tls"] = TLSConfig(
                    client_cert=(str(cert), str(key)) if cert.is_file() and key.is_file() else None,
                    ca_cert=str(ca) if ca.is_file() else None, verify=not self.skip_tls_verify)
            elif self.host.startswith("tcp://"):
                kwargs["tls"] = False
        if str(kwargs.get("base_url", "")).startswith("ssh://"):
            kwargs["use_ssh_client"] = True  # the ssh binary, as the CLI does (no paramiko needed)
        return kwargs


def _api_client_class() -> Any:
    import docker

    class ApiClient(docker.APIClient):  # type: ignore[misc]
        """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own CA
        (psf/requests#3829), so a TLS engine with its own CA (a context's ca.pem,
        DOCKER_CERT_PATH) failed verification wherever a proxy's bundle is exported. The
        engine's CA wins, as it does for the docker CLI."""

        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                       cert: Any) -> Any:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if isinstance(self.verify, str):
                settings["verify"] = self.verify
            return settings

    return ApiClient


def docker_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")


def docker_endpoint(environ: Mapping[str, str] | None = None) -> Endpoint:
    """The CLI's endpoint from the environment and the context store (file reads only: no
    'docker context inspect', which costs a process start on every command)."""
    import hashlib

    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST")
    config_dir = docker_config_dir(env)
    config_file = config_dir / "config.json"
    name, origin = env.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT"
    if not name:
        try:
            config = json.loads(config_file.read_text())
        except FileNotFoundError:
            config = {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the docker client's config {config_file}: {_short(exc)}") from None
        name = str(config.get("currentContext") or "") if isinstance(config, dict) else ""
        origin = str(config_file)
    if not name or name == "default":
        return Endpoint(DEFAULT_HOST, "default")
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_file = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
        docker_ep = meta["Endpoints"]["docker"]
        host = str(docker_ep["Host"])
    except FileNotFoundError:
        raise ConfigError(f"docker context {name!r} (from {origin}) does not exist",
                          hint="'docker context ls' lists the contexts; 'docker context use default' "
                               "goes back to the local engine") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"docker context {name!r} (from {origin}): cannot read {meta_file}: {_short(exc)}") from None
    tls_dir = config_dir / "contexts" / "tls" / digest / "docker"
    return Endpoint(host, f"context {name} ({origin})", tls_dir if tls_dir.is_dir() else None,
                    bool(docker_ep.get("SkipTLSVerify", False)))


class SocketAPI:
    """The engine's API over its unix socket with the standard library, for the calls a no-op
    build makes (ping, inspect, tag, untag): the docker SDK and requests (about 45 ms of imports)
    are loaded only by what needs them (run, containers, a TLS or ssh engine)."""

    def __init__(self, path: str, timeout: float = 120) -> None:
        self.path = path
        self.timeout = timeout

    def request(self, method: str, path: str, query: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """(HTTP status, body); OSError when the socket does not answer."""
        import http.client
        import socket
        from urllib.parse import urlencode

        conn = http.client.HTTPConnection("localhost", timeout=self.timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            conn.sock = sock
            conn.request(method, path + (f"?{urlencode(query)}" if query else ""))
            response = conn.getresponse()
            return response.status, response.read()
        except http.client.HTTPException as exc:
            raise OSError(f"{exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()
            sock.close()

    @staticmethod
    def message(body: bytes) -> str:
        """The engine's own words from an error body ({"message": ...})."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return body.decode("utf-8", "replace").strip()[:300]
        return str(data.get("message", "") if isinstance(data, dict) else data)[:300]


def _quoted(ref: str) -> str:
    from urllib.parse import quote

    return quote(ref, safe="/:@")


class Engine:
    """The Docker engine: availability, BuildKit builds, and SDK access."""

    def __init__(self, docker_bin: str | None = None) -> None:
        self.docker_bin = docker_bin or os.environ.get("VENVSHIP_DOCKER") or "docker"
        self._client: Any = None
        self._endpoint: Endpoint | None = None
        self._frontend: str | None = None
        self._buildx: Path | None = None  # the buildx plugin, run directly (frontend())
        self._answered = False

    # ---- availability -----------------------------------------------------------------
    def endpoint(self) -> Endpoint:
        """The daemon the docker CLI talks to (DOCKER_HOST, else the current docker context)."""
        if self._endpoint is None:
            self._endpoint = docker_endpoint()
        return self._endpoint

    def socket_api(self) -> SocketAPI | None:
        """The engine's unix socket, when it is reached by one (None: TCP, TLS or ssh: the SDK)."""
        host = self.endpoint().host
        return SocketAPI(host[len("unix://"):]) if host.startswith("unix://") else None

    def check(self) -> None:
        """DockerUnavailableError unless the engine answers (asked once per Engine)."""
        if self._answered or self._client is not None:
            return
        api = self.socket_api()
        if api is None:
            self.client()
            return
        try:
            status, body = api.request("GET", "/_ping")
            if status != 200:
                raise OSError(f"{status} {api.message(body)}")
        except OSError as exc:
            self._unavailable(exc)
        self._answered = True

    def _unavailable(self, exc: BaseException) -> None:
        endpoint = self.endpoint()
        where = "" if endpoint.source == "default" else f" at {endpoint.host} ({endpoint.source})"
        raise DockerUnavailableError(
            f"the Docker engine does not answer{where}: {_short(exc)}",
            hint="start it (scripts/setup-docker does, on Debian), or choose another engine "
                 "with DOCKER_HOST or 'docker context use'",
        ) from None

    def client(self) -> Any:
        if self._client is None:
            import docker  # local import: `venvship --help` should not pay for it

            endpoint = self.endpoint()
            try:
                client = docker.DockerClient.__new__(docker.DockerClient)
                client.api = _api_client_class()(timeout=120, **endpoint.client_kwargs())
                client.ping()
            except Exception as exc:  # docker raises several unrelated types here
                self._unavailable(exc)
            self._client = client
        return self._client

    def ping(self) -> dict[str, Any]:
        """The engine's version answer (GET /version): over the unix socket without the docker SDK
        (its import is most of 50 ms `venvship lock` spent asking the platform), else the SDK."""
        api = self.socket_api()
        if api is not None:
            self.check()
            try:
                status, body = api.request("GET", "/version")
                if status == 200:
                    answer: dict[str, Any] = json.loads(body)
                    return answer
            except (OSError, ValueError):
                pass  # the SDK says why, in its words
        info: dict[str, Any] = self.client().version()
        return info

    def platform(self) -> str:
        """The engine's own platform, as --platform names it: "linux/amd64"."""
        info = self.ping()
        return f"{info.get('Os', 'linux')}/{info.get('Arch', 'amd64')}"

    def frontend(self) -> str:
        """'buildx', or 'classic' (``DOCKER_BUILDKIT=1 docker build``). Raises if neither."""
        if self._frontend is not None:
            return self._frontend
        if shutil.which(self.docker_bin) is None:
            raise BuildKitUnavailableError(f"no docker client ({self.docker_bin!r}) on PATH")
        forced = os.environ.get("VENVSHIP_BUILDKIT_FRONTEND")
        if forced in ("buildx", "classic"):
            self._frontend = forced
            return forced
        if forced == "none":  # lets tests and users simulate a client without BuildKit
            raise BuildKitUnavailableError("BuildKit is disabled (VENVSHIP_BUILDKIT_FRONTEND=none)")
        plugin = buildx_plugin_file()
        if plugin is not None:  # where the CLI looks: no 50 ms probe on every build
            if self.docker_bin == "docker" and not _extra_plugin_dirs():
                # the very plugin `docker buildx` would run, without the docker CLI in front of
                # it (about 40 ms a build): it reads DOCKER_HOST, DOCKER_CONTEXT and the docker
                # config as the CLI does, so it reaches the same engine
                self._buildx = plugin
            self._frontend = "buildx"
            return "buildx"
        probe = subprocess.run([self.docker_bin, "buildx", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            self._frontend = "buildx"
            return "buildx"
        probe = subprocess.run(
            [self.docker_bin, "build", "--help"], capture_output=True, text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
        )
        if probe.returncode == 0 and "--secret" in probe.stdout:
            self._frontend = "classic"
            return "classic"
        raise BuildKitUnavailableError(
            "neither 'docker buildx' nor a BuildKit-capable 'docker build' is available",
            hint="install the buildx plugin into ~/.docker/cli-plugins (scripts/setup-docker does)",
        )

    def buildx_version(self) -> str | None:
        probe = subprocess.run([self.docker_bin, "buildx", "version"], capture_output=True, text=True)
        return probe.stdout.strip() if probe.returncode == 0 else None

    # ---- builds ------------------------------------------------------------------------
    def build_argv(self, req: BuildRequest, frontend: str) -> list[str]:
        """The docker command line for ``req`` (pure: no I/O)."""
        if frontend == "buildx" and self._buildx is not None:
            argv = [str(self._buildx), "build"]
        else:
            argv = [self.docker_bin]
            argv += ["buildx", "build"] if frontend == "buildx" else ["build"]
        if frontend == "buildx" and req.builder:
            argv += ["--builder", req.builder]
        argv += ["--file", str(req.dockerfile), f"--progress={req.progress}"]
        if req.target:
            argv += ["--target", req.target]
        for tag in req.tags:
            argv += ["--tag", tag]
        if req.output:
            argv += ["--output", req.output]
        elif req.push:
            argv += ["--push"]
        elif req.tags and frontend == "buildx":
            argv += ["--load"]
        for key, value in sorted(req.build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for name, path in sorted(req.build_contexts.items()):
            argv += ["--build-context", f"{name}={path}"]
        for secret in req.secrets:
            argv += ["--secret", f"id={secret.id},src={secret.src}"]
        for key, value in sorted(req.labels.items()):
            argv += ["--label", f"{key}={value}"]
        if req.no_cache:
            argv += ["--no-cache"]
        for stage in req.no_cache_filter:
            argv += [f"--no-cache-filter={stage}"]
        if req.platform:
            argv += ["--platform", req.platform]
        for src in req.cache_from:
            argv += ["--cache-from", src]
        for dst in req.cache_to:
            argv += ["--cache-to", dst]
        if req.metadata_file and frontend == "buildx":
            argv += ["--metadata-file", str(req.metadata_file)]
        if req.iidfile:
            argv += ["--iidfile", str(req.iidfile)]
        argv.append(str(req.context))
        return argv

    def build(self, req: BuildRequest, *, stream: IO[str] | None = None) -> BuildResult:
        """Run a BuildKit build. Output streams to ``stream`` (progress) and is kept for errors."""
        self.check()  # a clear error when the daemon is down, before the CLI's own
        frontend = self.frontend()
        with tempfile.TemporaryDirectory(prefix="venvship-build-") as tmp:
            req = _with_files(req, Path(tmp))
            argv = self.build_argv(req, frontend)
            env = {"DOCKER_BUILDKIT": "1", "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
            started = time.monotonic()
            rc, log = run_streaming(argv, stream=stream, env=env)
            seconds = time.monotonic() - started
            if rc != 0:
                raise _build_error(log, req)
            image_id = None
            if req.iidfile and req.iidfile.exists():
                image_id = req.iidfile.read_text().strip() or None
            metadata: dict[str, Any] = {}
            if req.metadata_file and req.metadata_file.exists():
                metadata = json.loads(req.metadata_file.read_text() or "{}")
            return BuildResult(log, seconds, image_id, metadata)

    # ---- SDK ------------------------------------------------------------------------------
    def image(self, ref: str) -> dict[str, Any] | None:
        api = self.socket_api()
        if api is not None:
            self.check()
            try:
                status, body = api.request("GET", f"/images/{_quoted(ref)}/json")
            except OSError as exc:
                raise ImageError(f"cannot inspect image {ref!r}: {_short(exc)}") from None
            if status == 404:
                return None
            if status != 200:
                raise ImageError(f"cannot inspect image {ref!r}: {status} {api.message(body)}")
            attrs: dict[str, Any] = json.loads(body)
            return attrs
        import docker.errors

        try:
            found: dict[str, Any] = self.client().images.get(ref).attrs
            return found
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise ImageError(f"cannot inspect image {ref!r}: {_short(exc)}") from None

    def require_image(self, ref: str, what: str = "image") -> dict[str, Any]:
        validate_reference(ref, what)
        attrs = self.image(ref)
        if attrs is None:
            raise ImageError(
                f"{what} {ref!r} is not present in the engine",
                hint="build or load it first ('venvship doctor' lists local base images)",
            )
        return attrs

    def run(self, image: str, command: Sequence[str], *, entrypoint: Sequence[str] | None = None,
            user: str | None = None, environment: Mapping[str, str] | None = None,
            timeout: float = 600) -> tuple[int, str]:
        """Run a container to completion; returns (exit code, combined output). Always removed."""
        import docker.errors

        client = self.client()
        container = client.containers.create(
            image, command=list(command), entrypoint=list(entrypoint) if entrypoint is not None else None,
            user=user, environment=dict(environment or {}), network_disabled=False, detach=True,
        )
        try:
            try:
                container.start()
            except docker.errors.APIError as exc:  # e.g. the program is not in the image
                program = (list(entrypoint or []) + list(command))[:1]
                reason = _api_reason(exc)
                raise ImageError(f"cannot run {' '.join(program) or 'the image'} in {image}: {reason}",
                                 hint=NO_EMULATION_HINT if "exec format error" in reason
                                 else "is it an image built by venvship with these settings (venv-path)?") from None
            result = container.wait(timeout=timeout)
            output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            return int(result.get("StatusCode", 1)), output
        finally:
            container.remove(force=True)

    @contextmanager
    def started(self, image: str, **kwargs: Any) -> Iterator[Any]:
        container = self.client().containers.run(image, detach=True, **kwargs)
        try:
            yield container
        finally:
            container.remove(force=True)

    def require_network(self, name: str) -> None:
        """ConfigError when the engine has no network ``name`` (before anything is built)."""
        import docker.errors

        try:
            self.client().networks.get(name)
        except docker.errors.NotFound:
            raise ConfigError(f"--network {name}: the engine has no network of that name",
                              hint="'docker network ls' lists them; 'docker network create NAME' makes one") from None
        except docker.errors.APIError as exc:
            raise ConfigError(f"--network {name}: {_short(exc)}") from None

    def tag(self, image: str, ref: str) -> None:
        """Point the tag ``ref`` at ``image`` (an id or another reference), as 'docker tag' does."""
        repository, tag = split_tag(validate_reference(ref))
        api = self.socket_api()
        if api is not None:
            self.check()
            try:
                status, body = api.request("POST", f"/images/{_quoted(image)}/tag", {"repo": repository, "tag": tag})
            except OSError as exc:
                raise ImageError(f"cannot tag {image} as {ref}: {_short(exc)}") from None
            if status not in (200, 201):
                raise ImageError(f"cannot tag {image} as {ref}: {status} {api.message(body)}")
            return
        import docker.errors

        try:
            if not self.client().images.get(image).tag(repository, tag):
                raise ImageError(f"cannot tag {image} as {ref}")
        except docker.errors.APIError as exc:
            raise ImageError(f"cannot tag {image} as {ref}: {_short(exc)}") from None

    def push(self, ref: str, *, stream: IO[str] | None = None) -> str:
        """'docker push ref'; returns its output. PushError (exit 18) when it fails."""
        rc, log = run_streaming([self.docker_bin, "push", validate_reference(ref)], stream=stream)
        if rc != 0:
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            raise PushError(f"docker push {ref} failed: {(lines or ['no output'])[-1][:300]}",
                            hint="check the registry name and your login ('docker login REGISTRY')")
        return log

    def create_index(self, ref: str, sources: Sequence[str], *, stream: IO[str] | None = None) -> str:
        """'docker buildx imagetools create -t REF SOURCES...': a manifest list in the registry made
        of images already pushed there (one per platform). PushError (exit 18) when it fails."""
        argv = [self.docker_bin, "buildx", "imagetools", "create", "-t", validate_reference(ref),
                *(validate_reference(s) for s in sources)]
        rc, log = run_streaming(argv, stream=stream)
        if rc != 0:
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            raise PushError(f"docker buildx imagetools create -t {ref} failed: {(lines or ['no output'])[-1][:300]}",
                            hint="every platform's image was pushed under its own tag; check the registry")
        return log

    def remove_image(self, ref: str) -> None:
        api = self.socket_api()
        if api is not None:
            self.check()
            try:
                status, body = api.request("DELETE", f"/images/{_quoted(ref)}", {"force": "1"})
            except OSError as exc:
                raise ImageError(f"cannot remove image {ref!r}: {_short(exc)}") from None
            if status not in (200, 404):
                raise ImageError(f"cannot remove image {ref!r}: {status} {api.message(body)}")
            return
        import docker.errors

        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client().images.remove(ref, force=True)


# Where the docker CLI looks for plugins after $DOCKER_CONFIG/cli-plugins (cli/cli-plugins/manager).
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
)


def split_tag(ref: str) -> tuple[str, str]:
    """('registry:5000/app', '1.2') from 'registry:5000/app:1.2'; the tag defaults to 'latest'."""
    name, _, digest = ref.partition("@")
    if digest:
        raise ImageError(f"{ref!r} names a digest, not a tag")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"


def buildx_plugin_file() -> Path | None:
    """The buildx plugin the docker CLI would run, if it sits in one of the standard places
    (``None``: not there, which may still mean a client with buildx built in, so probe)."""
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for directory in (config / "cli-plugins", *map(Path, SYSTEM_PLUGIN_DIRS)):
        candidate = directory / "docker-buildx"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _extra_plugin_dirs() -> bool:
    """Whether the docker config names plugin directories of its own (cliPluginsExtraDirs, which
    the CLI searches first): then `docker buildx` may run another plugin than buildx_plugin_file's."""
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable: leave the choice to the CLI
    return not isinstance(data, dict) or "cliPluginsExtraDirs" in data


def _with_files(req: BuildRequest, tmp: Path) -> BuildRequest:
    from dataclasses import replace

    return replace(
        req,
        iidfile=req.iidfile or (tmp / "iid" if req.tags else None),
        metadata_file=req.metadata_file or tmp / "metadata.json",
    )


def _api_reason(exc: Any) -> str:
    """The engine's own words from an APIError ('exec: "/app/bin/python": stat …: no such file')."""
    text = str(getattr(exc, "explanation", "") or exc)
    found = re.search(r'exec: .*?(?=: unknown$|$)', text)
    return (found.group(0) if found else text)[:300]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:300] if text else exc.__class__.__name__


_STEP_NAME = re.compile(r"^#(\d+) \[(?P<name>[^\]]+)\] ")
_STEP_FAILED = re.compile(r"^#(\d+) ERROR: ")
_STEP_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (?P<text>.*)$")
# How the tools in a step say why they failed: uv's 'error:' and 'cause:' ('Caused by:' in older
# versions), pip's 'ERROR:', venvship's own scripts' 'venvship: error:'.
_TOOL_ERROR = re.compile(r"^\s*(error:|cause:|caused by:|ERROR:|venvship: error:)", re.IGNORECASE)


def _failed_step(log: str) -> tuple[str, list[str]]:
    """The failing BuildKit step's name and its own output lines (("", []) when none failed)."""
    lines = log.splitlines()
    failed = next((m.group(1) for m in map(_STEP_FAILED.match, lines) if m), None)
    if failed is None:
        return "", []
    name = next((m["name"] for m in map(_STEP_NAME.match, lines) if m and m.group(1) == failed), "?")
    return name, [m["text"] for m in map(_STEP_OUTPUT.match, lines) if m and m.group(1) == failed]


# What BuildKit's docker driver says when the engine's classic image store cannot do a thing
# (buildx's driver/docker: "Cache export is not supported for the docker driver.", and the same
# for multi-platform builds); the containerd image store does both.
_STORE_REFUSES = re.compile(r"(Cache export|Multi-platform build|Multiple platforms feature) is (currently )?not "
                            r"supported for the docker driver", re.IGNORECASE)


NO_EMULATION_HINT = ("the image is for another platform and this engine cannot run it: set up QEMU user "
                     "emulation (sudo scripts/setup-docker --multiarch); 'venvship doctor' says whether it works")


def _build_error(log: str, req: BuildRequest) -> BuildError | IndexUnavailableError | ImageStoreError:
    """ImageStoreError (exit 20) when the engine's image store refused the request (cache export,
    several platforms); IndexUnavailableError (exit 16) when the failing step could not reach the
    package index, whichever step it was (the tools stage included); BuildError (exit 13) otherwise."""
    refused = _STORE_REFUSES.search(log)
    if refused:
        cache = refused.group(1).lower() == "cache export"
        what = (f"--cache-to {' '.join(req.cache_to)}: registry cache export" if cache
                else f"--platform {req.platform}: a multi-platform image")
        return ImageStoreError(f"{what} needs an engine with the containerd image store (this engine uses the "
                               "classic store, and BuildKit's docker driver refuses it)",
                               hint="run the engine with the containerd image store ('scripts/setup-docker "
                                    "--containerd-store'; 'venvship doctor' names the store in use), or build "
                                    "with a docker-container builder (--builder)")
    message = _build_failure(log, req)
    if any(INDEX_UNREACHABLE.search(line) for line in _failed_step(log)[1]):
        return IndexUnavailableError(f"the package index is unavailable: {message}",
                                     hint="check the index (index-url, proxy, CA bundle) and run it again")
    if "exec format error" in log:  # a RUN step of another platform, and no emulation
        return BuildError(message, hint=NO_EMULATION_HINT)
    return BuildError(message, hint="run with --progress=plain for the full log")


def _build_failure(log: str, req: BuildRequest) -> str:
    """A one-line reason from BuildKit's log: what the failing step's tool said (which names the
    distribution, e.g. a hash mismatch), else BuildKit's 'ERROR:' line, else the last line."""
    stage = f" (target {req.target})" if req.target else ""
    name, output = _failed_step(log)
    said = [text.strip() for text in output if _TOOL_ERROR.match(text)]
    if said:
        return f"docker build failed{stage} in [{name}]: {' '.join(said)[:500]}"
    errors = [ln.strip() for ln in log.splitlines() if "ERROR:" in ln or ln.startswith("error:")]
    reason = errors[-1] if errors else (log.strip().splitlines() or ["unknown error"])[-1]
    reason = re.sub(r"^#\d+\s+", "", reason)
    return f"docker build failed{stage}: {reason[:500]}"


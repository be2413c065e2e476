"""A second Docker engine beside the first, as a remote engine would be: its own socket, data
root, exec root, pid file and bridge, started in its own mount namespace with a private /tmp
(so it cannot see the host's temporary files: a command that bind-mounts a host path, or hands
the engine a host file name, fails against it).

The bridge is this module's own (a /24 of BRIDGE_NETS, used for nothing else) with iptables rules of its
own for it (masquerade out, replies in); the second dockerd runs with --iptables=false so it
never touches the first engine's chains. When it stops, :func:`first_engine_works` checks that
the first engine still has its docker0 bridge and still runs a container (issue 18: once, after
a second dockerd ran and stopped, the first engine's docker0 was gone).

With ``containerd_store=True`` it runs with the containerd image store (``{"features":
{"containerd-snapshotter": true}}`` in its own daemon.json): registry cache export and
multi-platform images need it; the first engine keeps the classic store.

Needs root, dockerd, unshare, ip and iptables (scripts/setup-docker's machine).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# 10.213.77.0/24 … 10.213.92.0/24: this fixture's bridges only, one per running second engine
# (chosen under a lock file, so two test runs at once each get their own).
BRIDGE_NETS = tuple(f"10.213.{n}" for n in range(77, 93))
DOCKERD = "/usr/sbin/dockerd"


@dataclass(frozen=True)
class SecondEngine:
    host: str  # unix:///run/venvship-e2-XXXX/docker.sock
    tcp: str  # tcp://127.0.0.1:PORT: the same engine over loopback TCP, TLS with client certificates
    tls: Path  # ca.pem, and client/cert.pem + client/key.pem that the engine accepts
    pid: int
    root: Path  # data root
    bridge: str
    containerd_store: bool = False

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, timeout: float = 300,
               input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env={**os.environ, "DOCKER_HOST": self.host},
                              capture_output=True, check=check, timeout=timeout, input=input)

    def sees(self, path: Path) -> bool:
        """Whether ``path`` exists in the engine's own mount namespace."""
        probe = subprocess.run(["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", "test", "-e", str(path)])
        return probe.returncode == 0


def unavailable() -> str | None:
    """Why a second engine cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "a second dockerd needs root"
    for tool in (DOCKERD, "unshare", "nsenter", "ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def containerd_store(engine) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``engine`` (venvship.engine.Engine: the engine under test, which DOCKER_HOST may
    name) keeps its images in the containerd store: a second engine whose image ids are compared
    with its ids must run the same store (ids differ between the stores)."""
    from venvship.ops.doctor import image_store

    return image_store(engine.client().info()) == "containerd"


def _free_net() -> str | None:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    return next((net for net in BRIDGE_NETS if f"{net}." not in routes), None)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificates(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (tests' localindex)."""
    from tests.integration import localindex

    localindex.make_ca(directory)
    localindex.server_cert(directory, "127.0.0.1", directory / "server")
    client = directory / "client"
    client.mkdir()
    (client / "ext.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for argv in (["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=venvship-test-client", "-keyout",
                  "key.pem", "-out", "req.csr"],
                 ["x509", "-req", "-in", "req.csr", "-CA", str(directory / "ca.pem"), "-CAkey",
                  str(directory / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "cert.pem"]):
        subprocess.run(["openssl", *argv], cwd=client, check=True, capture_output=True)
    return directory


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


def _pool(prefix: str) -> str:
    """The address pool of the networks the engine creates ('docker network create'): 10.214.N.0/24
    beside the bridge's 10.213.N.0/24, so its own rules can name them before they exist."""
    return prefix.replace("10.213.", "10.214.", 1) + ".0/24"


def _iptables_rules(bridge: str, prefix: str) -> list[tuple[str, ...]]:
    """(table, chain, rule...) for the bridge: NAT out, forwarding out and replies back, and
    between its own containers (a build's RUN reaching a test's index server on the same bridge:
    with br_netfilter, bridged traffic passes FORWARD, whose policy the first engine sets to DROP)."""
    net = f"{prefix}.0/24"
    return [
        ("nat", "POSTROUTING", "-s", net, "!", "-o", bridge, "-j", "MASQUERADE"),
        ("filter", "FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"),
        ("filter", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"),
        # the networks it creates (a test's service network): the same, by address (their bridges
        # are named by the engine); with --iptables=false the engine adds no rule of its own
        ("nat", "POSTROUTING", "-s", _pool(prefix), "!", "-d", _pool(prefix), "-j", "MASQUERADE"),
        ("filter", "FORWARD", "-s", _pool(prefix), "-j", "ACCEPT"),
        ("filter", "FORWARD", "-d", _pool(prefix), "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
         "-j", "ACCEPT"),
        ("filter", "FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
    ]


@contextlib.contextmanager
def running(images: Sequence[str] = (), *, start_timeout: float = 60,
            containerd_store: bool = False) -> Iterator[SecondEngine]:
    """Start the second engine (with the containerd image store when ``containerd_store``), load
    ``images`` into it from the first (docker save | docker load), yield it; stop it and remove everything it made, then check the first engine still works."""
    token = uuid.uuid4().hex[:6]
    bridge = f"vse2br{token}"
    run_dir = Path(f"/run/venvship-e2-{token}")
    data_root = Path(f"/var/tmp/venvship-e2-{token}")
    sock = run_dir / "docker.sock"
    log_file = data_root.with_suffix(".log")
    run_dir.mkdir(mode=0o700)
    data_root.mkdir(mode=0o700)
    added: list[tuple[str, ...]] = []
    proc: subprocess.Popen[bytes] | None = None
    try:
        with open("/run/venvship-e2.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            prefix = _free_net()
            if prefix is None:
                raise RuntimeError(f"every bridge network of {BRIDGE_NETS[0]}-{BRIDGE_NETS[-1]}.0/24 is in use")
            _sh("ip", "link", "add", bridge, "type", "bridge")
            _sh("ip", "addr", "add", f"{prefix}.1/24", "dev", bridge)
        _sh("ip", "link", "set", bridge, "up")
        rules = _iptables_rules(bridge, prefix)
        for table, chain, *rule in rules:
            _sh("iptables", "-t", table, "-I", chain, "1", *rule)
            added.append((table, chain, *rule))
        tcp = f"tcp://127.0.0.1:{_free_port()}"
        tls = _certificates(run_dir / "tls")
        dockerd = [
            DOCKERD, "--host", f"unix://{sock}", "--host", tcp, "--tlsverify", "--tlscacert", str(tls / "ca.pem"),
            "--tlscert", str(tls / "server" / "cert.pem"), "--tlskey", str(tls / "server" / "key.pem"), "--data-root", str(data_root / "data"),
            "--exec-root", str(run_dir / "exec"), "--pidfile", str(run_dir / "docker.pid"),
            "--bridge", bridge, "--iptables=false", "--ip6tables=false", "--ip-forward=false",
            "--default-address-pool", f"base={_pool(prefix)},size=28",
            "--containerd-namespace", f"vse2-{token}", "--containerd-plugins-namespace", f"vse2p-{token}",
        ]
        config = run_dir / "daemon.json"  # its own, never /etc/docker/daemon.json (the first engine's)
        config.write_text(json.dumps({"features": {"containerd-snapshotter": containerd_store}}) + "\n")
        dockerd += ["--config-file", str(config)]
        script = 'mount -t tmpfs -o mode=1777 venvship-e2-tmp /tmp && exec "$@"'
        with log_file.open("wb") as log:
            proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                     "sh", "-c", script, "sh", *dockerd],
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        engine = SecondEngine(f"unix://{sock}", tcp, tls, proc.pid, data_root / "data", bridge, containerd_store)
        deadline = time.monotonic() + start_timeout
        while engine.docker("version", check=False, timeout=10).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the second dockerd did not start:\n{log_file.read_text()[-3000:]}")
            time.sleep(0.5)
        for image in images:
            saved = subprocess.run(["docker", "save", image], capture_output=True, check=True, timeout=300)
            engine.docker("load", input=saved.stdout)
        if containerd_store:
            status = engine.docker("info", "--format", "{{json .DriverStatus}}").stdout.decode()
            assert "io.containerd.snapshotter" in status, f"the containerd image store is not in use: {status}"
        yield engine
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for table, chain, *rule in reversed(added):
            subprocess.run(["iptables", "-t", table, "-D", chain, *rule], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(data_root, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            log_file.unlink()
    first_engine_works()


def first_engine_works(image: str = "venvship-local/debian:bookworm") -> None:
    """The first engine still has its docker0 bridge and still runs a container on it."""
    link = subprocess.run(["ip", "-4", "-br", "addr", "show", "docker0"], capture_output=True, text=True)
    assert link.returncode == 0, f"the first engine's docker0 bridge is gone: {link.stderr.strip()}"
    assert "docker0" in link.stdout and "/" in link.stdout, f"docker0 has no address: {link.stdout}"
    run = subprocess.run(["docker", "run", "--rm", "--network", "bridge", image, "cat", "/proc/net/route"],
                         env={k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the first engine cannot run a container after the second stopped: {run.stderr}"
    assert "eth0" in run.stdout, run.stdout

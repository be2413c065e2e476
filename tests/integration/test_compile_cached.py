"""templates/compile_cached.py against uv itself, for real: in each base image, real wheels from
the index (pygments, rich, jinja2, numpy, pandas, future with its Python 2 files that do not
compile, setuptools with its .pth file and entry points) and one made here for the corner cases
(a source that does not compile, one in Latin-1, a file named exactly ".py", a stale .pyc the
wheel ships, frozenset constants, a .pth, entry points, .data/purelib) are installed once by
`uv pip install --compile-bytecode` and once by uv without it plus the script: with an empty cache,
with the cache warm, and after a bump (idna 3.7 -> 3.10) with the cache warm. Every tree is the
same byte for byte (content, mode, links). The builds run in BuildKit with the cache mount the
Dockerfile's group stages use (its own id a run)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PY39, PY311, PY313
from tests.integration import buildkit
from venvship import resources
from venvship.engine import Engine
from venvship.settings import load_settings

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


CORNER_FILES = {
    "cornercase/__init__.py": "from cornercase.frozen import kinds\n",
    "cornercase/frozen.py": (
        "def kinds(x):\n    return x in {\"alpha\", \"beta\", \"gamma\", \"delta\", 1.5, b\"raw\"}\n"
        "NAMES = frozenset({\"one\", \"two\", \"three\"})\nBIG = 10 ** 30\n"
    ),
    "cornercase/py2.py": "print \"this is Python 2\"\n",
    "cornercase/broken.py": "def broken(:\n    pass\n",
    "cornercase/latin.py": "# -*- coding: latin-1 -*-\nNAME = \"caf\xe9\"\n",
    "cornercase/.py": "X = 1\n",
    "cornercase/sub/deep.py": "import os\nPATH = os.sep.join([\"a\", \"b\"])\n",
    "cornercase/__pycache__/stale.cpython-311.pyc": "not bytecode at all",
    "cornercase/stale.py": "STALE = False\n",
    "cornercase-data.pth": "import os; os.environ.setdefault(\"CORNERCASE_PTH\", \"1\")\n",
}


def corner_wheel(dest: Path) -> Path:
    """cornercase-1.0-py3-none-any.whl: the files above, a .data/purelib module, a console script."""
    files = {name: text.encode("latin-1") for name, text in CORNER_FILES.items()}
    files["cornercase-1.0.data/purelib/cornerdata.py"] = b"DATA = True\n"
    info = "cornercase-1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: cornercase\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: venvship-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\ncornercase = cornercase.frozen:kinds\n"
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = dest / "cornercase-1.0-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in files.items():
            whl.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    path.write_bytes(buf.getvalue())
    return path


def dockerfile(cache_id: str) -> str:
    tools = "--mount=type=bind,from=fetch,source=/opt/tools,target=/opt/tools --mount=type=bind,from=fetch,source=/w,target=/w"
    cache = f"--mount=type=cache,target=/root/.cache/venvship-pyc,id={cache_id},sharing=shared"
    install = "/opt/tools/bin/uv pip install --python /app/bin/python --no-deps --offline --no-cache"

    def stage(name: str, wheels: str, compiled: bool, after: str = "") -> str:
        wait = f" --mount=type=bind,from={after},source=/out,target=/after" if after else ""
        flags = "--compile-bytecode " if compiled else ""
        script = "" if compiled else (" && /app/bin/python /opt/compile_cached.py --cache /root/.cache/venvship-pyc"
                                      " 2> /out/log")
        return (f"FROM env AS {name}\n"
                f"RUN {tools}{'' if compiled else ' ' + cache}{wait} \\\n"
                f"    mkdir /out && {install} {flags}-r /w/{wheels}.txt{script} \\\n"
                f" && python3 /opt/manifest.py /app > /out/manifest\n")

    return (
        "ARG BASE_IMAGE\n"
        "FROM ${BASE_IMAGE} AS fetch\n"
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt "
        "PYTHONDONTWRITEBYTECODE=1\n"
        "COPY uv.txt cornercase-1.0-py3-none-any.whl /ctx/\n"
        "RUN --mount=type=secret,id=venvship_ca,target=/etc/ssl/certs/ca-certificates.crt,required=false \\\n"
        "    python3 -m venv /opt/tools && P=\"/opt/tools/bin/python -m pip --disable-pip-version-check -q\" \\\n"
        " && $P install --require-hashes --no-deps --only-binary :all: -r /ctx/uv.txt \\\n"
        " && $P download --only-binary :all: -d /w/common pygments rich jinja2 numpy pandas future setuptools \\\n"
        " && $P download --no-deps --only-binary :all: -d /w/a idna==3.7 \\\n"
        " && $P download --no-deps --only-binary :all: -d /w/b idna==3.10 \\\n"
        " && rm -f /w/common/idna-* && cp /ctx/cornercase-1.0-py3-none-any.whl /w/common/ \\\n"
        " && for s in a b; do for w in /w/common/*.whl /w/$s/*.whl; do \\\n"
        "        echo \"$w\"; done > /w/$s.txt; done\n"
        "\n"
        "FROM ${BASE_IMAGE} AS env\n"
        "ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy "
        "PYC_INVALIDATION_MODE=CHECKED_HASH\n"
        "COPY compile_cached.py manifest.py /opt/\n"
        f"RUN python3 -m venv --without-pip /app && echo {cache_id} > /opt/run-id\n"  # BuildKit keys no cache id
        "\n"
        + stage("uv-a", "a", True) + "\n"
        + stage("cold-a", "a", False) + "\n"
        + stage("warm-a", "a", False, after="cold-a") + "\n"
        + stage("uv-b", "b", True) + "\n"
        + stage("warm-b", "b", False, after="cold-a") + "\n"
        "FROM scratch AS out\n"
        + "".join(f"COPY --from={s} /out/ /{s}/\n" for s in ("uv-a", "cold-a", "warm-a", "uv-b", "warm-b"))
    )


def prune_run(run_id: str) -> None:
    """Remove what this run left in BuildKit: its cache mount and its stages' records (the env
    stage names the id; every install stage is made on top of it), children first."""
    out = subprocess.run(["docker", "buildx", "du", "--verbose"], capture_output=True, text=True).stdout
    records: dict[str, tuple[str, str]] = {}
    current = ""
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key == "ID":
            current = value.strip().rstrip("*")
            records[current] = ("", "")
        elif current and key in ("Parent", "Parents"):
            records[current] = (value.strip(), records[current][1])
        elif current and key == "Description":
            records[current] = (records[current][0], value.strip())
    chosen = [rid for rid, (_, description) in records.items() if run_id in description]
    while True:
        more = [rid for rid, (parents, _) in records.items() if rid not in chosen
                and set(re.split(r"[\s,]+", parents)) & set(chosen)]
        if not more:
            break
        chosen += more
    if chosen:
        subprocess.run(["docker", "buildx", "prune", "--force", "--filter", "id=" + "|".join(reversed(chosen))],
                       capture_output=True)


def summary(log: str) -> tuple[int, int, int]:
    """(files, from the cache, compiled) from the script's line."""
    m = re.search(r"bytecode of (\d+) files: (\d+) from the cache, (\d+) compiled", log)
    assert m, log
    return int(m[1]), int(m[2]), int(m[3])


@pytest.mark.parametrize("base", [PY311, PY313])
def test_cached_bytecode_is_what_uv_compiles(base: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(resources.path("compile_cached.py"), ctx / "compile_cached.py")
    (ctx / "manifest.py").write_text(buildkit.TREE_MANIFEST)
    (ctx / "uv.txt").write_text(resources.tool_lock(resources.TOOLS_UV))
    corner_wheel(ctx)
    cache_id = f"venvship-pyc-test-{uuid.uuid4().hex[:12]}"
    (ctx / "Dockerfile").write_text(dockerfile(cache_id))
    ca = load_settings(ROOT, environ={}).index.ca_bundle_path()
    secret = ["--secret", f"id=venvship_ca,src={ca}"] if ca else []
    out = tmp_path / "out"
    try:
        done = subprocess.run(["docker", "buildx", "build", "--progress", "plain", *secret, "--build-arg",
                               f"BASE_IMAGE={base}", "--output", f"type=local,dest={out}", str(ctx)],
                              capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-4000:]
    finally:
        prune_run(cache_id)
    trees = {s: (out / s / "manifest").read_text().splitlines() for s in ("uv-a", "cold-a", "warm-a", "uv-b", "warm-b")}
    assert len(trees["uv-a"]) > 3000
    pycs = [line for line in trees["uv-a"] if ".pyc " in line]
    assert len(pycs) > 1000
    # the corner cases are what uv makes of them: no .pyc for what does not compile or is named
    # ".py", a .pyc for the Latin-1 source, the shipped stale .pyc compiled over
    names = {line.split()[0].rsplit("/", 1)[-1] for line in pycs}
    assert {"frozen", "latin", "deep", "stale"} <= {n.split(".")[0] for n in names}
    assert not {n for n in names if n.startswith(("py2.", "broken."))} and not any("/.cpython" in p for p in pycs)
    assert any("/future/backports/test/" in p for p in trees["uv-a"])
    assert trees["cold-a"] == trees["uv-a"]
    assert trees["warm-a"] == trees["uv-a"]
    assert trees["warm-b"] == trees["uv-b"]
    assert trees["uv-b"] != trees["uv-a"]
    sources = [line.split()[0] for line in trees["uv-a"] if line.split()[0].endswith(".py")]
    files, hits, compiled = summary((out / "cold-a" / "log").read_text())
    assert (files, hits) == (len(sources) - 1, 0)  # all but the one named ".py"
    files, hits, never = summary((out / "warm-a" / "log").read_text())
    # what does not compile, and the .pyc the wheel shipped (compiled as uv does, never cached)
    assert hits == len(pycs) - 1 and never == files - hits  # the shipped stale.cpython-311.pyc
    idna = [line for line in trees["uv-b"] if "/site-packages/idna/" in line and line.split()[0].endswith(".py")]
    files, hits, compiled = summary((out / "warm-b" / "log").read_text())
    assert len(idna) > 3 and compiled == never + len(idna)  # only idna's sources compiled again


def test_an_older_interpreter_is_refused_and_left_alone(engine: Engine) -> None:
    """On 3.9 the bytes of a .pyc depend on the compiling process (marshal), not only on the source:
    the script writes nothing and says so; the Dockerfile keeps uv --compile-bytecode there."""
    script = resources.text(resources.COMPILE_CACHED)
    code, out = engine.run(PY39, ["-c", "python3 -m venv --without-pip /v && mkdir -p /v/lib/python3.9/site-packages/p "
                                  "&& echo X=1 > /v/lib/python3.9/site-packages/p/m.py "
                                  "&& /v/bin/python -c \"$0\" --cache /tmp/c; echo rc=$?; find /v -name *.pyc; "
                                  "test -e /tmp/c || echo no-cache",
                                  script], entrypoint=["/bin/sh"])
    assert code == 0, out
    assert "needs CPython 3.11 or later (this is cpython 3.9." in out and "rc=3" in out and "no-cache" in out
    assert ".pyc" not in out

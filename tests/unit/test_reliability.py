"""The pure pieces behind the reliability suite (tests/integration/test_bad_input.py, test_faults.py,
test_hashes.py, test_reproducible.py): error lines that name the culprit, the resolver's timeouts
reaching the lock stage, interrupts, and the template flags that close the sdist gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvship import lockfile
from venvship.__main__ import _interrupted_by
from venvship.engine import BuildRequest, _build_failure
from venvship.errors import LockIntegrityError

UV_HASH_FAILURE = """\
#9 [deps 2/2] RUN --mount=type=secret,id=venvship_ca,required=false     uv pip install ...
#9 0.512 Using Python 3.11.2 environment at: /app
#9 0.733 error: Failed to download `vsp-beta==1.0`
#9 0.733   cause: Hash mismatch for `vsp-beta==1.0`
#9 0.733
#9 0.733 Expected:
#9 0.733   sha256:0000000000000000000000000000000000000000000000000000000000000000
#10 [build-env 2/2] RUN true
#10 CANCELED
#9 ERROR: process "/bin/sh -c ... uv pip install ..." did not complete successfully: exit code: 1
------
ERROR: failed to solve: process "/bin/sh -c ... uv pip install ..." did not complete successfully: exit code: 1
"""


def test_build_failure_quotes_the_failing_steps_own_error() -> None:
    msg = _build_failure(UV_HASH_FAILURE, BuildRequest(context=Path("."), dockerfile=Path("D"), target="runtime"))
    assert msg == ("docker build failed (target runtime) in [deps 2/2]: error: Failed to download "
                   "`vsp-beta==1.0` cause: Hash mismatch for `vsp-beta==1.0`")


def test_build_failure_without_tool_output_keeps_buildkits_line() -> None:
    log = "#4 [x 1/1] RUN false\n#4 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"
    msg = _build_failure(log, BuildRequest(context=Path("."), dockerfile=Path("D")))
    assert msg == 'docker build failed: ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1'


def test_lock_errors_name_the_line_in_the_file() -> None:
    text = lockfile.render("main", {"env": "main"}, "click==8.1.7 \\\n    --hash=sha256:" + "a" * 64
                           + "\nflask==3.1.3\n")
    number = text.splitlines().index("flask==3.1.3") + 1
    with pytest.raises(LockIntegrityError, match=rf"^main.txt:{number}: flask==3.1.3 has no hash$"):
        lockfile.parse(text, "main", "main.txt")


def test_resolver_timeouts_reach_the_lock_stage(project: Path) -> None:
    from venvship.environments import discover
    from venvship.ops.lock import lock_script, make_plan
    from venvship.settings import load_settings

    settings = load_settings(project, environ={})
    envs = discover(settings)
    plan = make_plan(envs, [], settings)
    script = lock_script(settings, envs, plan, environ={"UV_HTTP_TIMEOUT": "3", "UV_HTTP_RETRIES": "0",
                                                         "PIP_DEFAULT_TIMEOUT": "5; rm -rf /", "HOME": "/x"})
    assert "export UV_HTTP_TIMEOUT=3\n" in script and "export UV_HTTP_RETRIES=0\n" in script
    assert "export PIP_DEFAULT_TIMEOUT='5; rm -rf /'\n" in script  # quoted, never run
    assert "HOME" not in script
    assert "UV_HTTP_TIMEOUT" not in lock_script(settings, envs, plan, environ={})


def test_a_lost_dns_answer_costs_the_lock_stage_1_s_not_5(project: Path) -> None:
    """large-app's warm locks stalled 5 s at random, the bare resolver run too: a DNS answer lost
    behind the engine's NAT, asked again after glibc's default timeout (5 s). The lock stage asks
    again after 1 s; the host's RES_OPTIONS, when set, is the one that counts (exported after)."""
    from venvship.environments import discover
    from venvship.ops.lock import lock_script, make_plan
    from venvship.settings import load_settings

    settings = load_settings(project, environ={})
    envs = discover(settings)
    plan = make_plan(envs, [], settings)
    script = lock_script(settings, envs, plan, environ={})
    assert 'export RES_OPTIONS="timeout:1 attempts:3"\n' in script
    own = lock_script(settings, envs, plan, environ={"RES_OPTIONS": "timeout:2 rotate"})
    assert own.index("export RES_OPTIONS='timeout:2 rotate'") > own.index('export RES_OPTIONS="timeout:1')


def test_allowed_sdists_are_rebuilt_with_every_build_dependency_hashed(project: Path) -> None:
    from venvship.environments import discover
    from venvship.render import render_dockerfile
    from venvship.settings import load_settings

    plain = load_settings(project, environ={})
    assert "--require-build-hashes" not in render_dockerfile(plain, discover(plain))
    sdist = load_settings(project, {"allow_sdist": ("markupsafe",)}, environ={})
    text = render_dockerfile(sdist, discover(sdist))
    commands = text.replace("\\\n", " ").splitlines()  # continuation lines joined
    installs = [ln for ln in commands if "--compile-bytecode" in ln and "--only-binary :all:" in ln]
    assert len(installs) == 3, text  # build-env, deps, test-deps
    for line in installs:
        assert "--no-binary markupsafe --refresh-package markupsafe" in line
        assert "--build-constraint /opt/venvship/locks/build.txt --require-build-hashes" in line


def test_bytecode_is_hash_based_and_the_app_has_no_install_time_metadata(project: Path) -> None:
    from venvship.environments import discover
    from venvship.render import render_dockerfile
    from venvship.settings import load_settings

    settings = load_settings(project, environ={})
    text = render_dockerfile(settings, discover(settings))
    assert "PYC_INVALIDATION_MODE=CHECKED_HASH" in text
    assert "UV_NO_INSTALLER_METADATA=1 /opt/venvship/tools/bin/uv pip install" in text


def test_interrupts_are_recognised_through_typer() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemExit(130) from exc
    except SystemExit as exit_:
        assert _interrupted_by(exit_)
    assert not _interrupted_by(SystemExit(130))


class _FakeEngine:
    """Stands in for the engine: 'runs' the lock stage by writing what it would export."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id  # None: echo the build's own run id back
        self.requests: list[object] = []

    def require_image(self, ref: str, what: str = "image") -> dict[str, str]:
        return {"Id": "sha256:" + "0" * 64}

    def build(self, req, *, stream=None):  # type: ignore[no-untyped-def]
        self.requests.append(req)
        out = Path(req.output.split("dest=", 1)[1])
        out.mkdir(parents=True)
        (out / "target.json").write_text('{"implementation": "cpython", "python": "3.11.2", "sys_platform": "linux", "machine": "x86_64"}')
        (out / "resolver.txt").write_text("uv 0.13.9\n")
        run_id = req.build_args["VENVSHIP_LOCK_RUN"] if self.run_id is None else self.run_id
        (out / "run-id").write_text(run_id + "\n")


def test_lock_refuses_output_from_an_earlier_run(project: Path, tmp_path: Path) -> None:
    from venvship.environments import discover
    from venvship.errors import BuildError
    from venvship.ops.lock import make_plan, run_compile
    from venvship.settings import load_settings

    settings = load_settings(project, {"ca_bundle": "none"}, environ={})
    envs = discover(settings)
    plan = make_plan(envs, [], settings)
    fresh = _FakeEngine(None)
    run_compile(settings, envs, plan, fresh, tmp_path / "a", None)  # type: ignore[arg-type]
    run_ids = [fresh.requests[0].build_args["VENVSHIP_LOCK_RUN"]]  # type: ignore[attr-defined]
    run_compile(settings, envs, plan, fresh, tmp_path / "b", None)  # type: ignore[arg-type]
    run_ids.append(fresh.requests[1].build_args["VENVSHIP_LOCK_RUN"])  # type: ignore[attr-defined]
    assert len(set(run_ids)) == 2 and all(len(r) == 32 for r in run_ids)
    with pytest.raises(BuildError, match="output of an earlier run"):
        run_compile(settings, envs, plan, _FakeEngine(run_ids[0]), tmp_path / "c", None)  # type: ignore[arg-type]


PIP_INDEX_DOWN = """\
#6 [tools 1/1] RUN --mount=type=secret,id=venvship_ca,required=false     mkdir -p /opt/venvship ...
#6 2.101 WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at \
0x7f3c>: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/uv/
#6 9.870 ERROR: Could not find a version that satisfies the requirement uv==0.13.9 (from versions: none)
#6 9.871 ERROR: No matching distribution found for uv==0.13.9
#6 ERROR: process "/bin/sh -c ..." did not complete successfully: exit code: 1
"""


def test_a_step_that_cannot_reach_the_index_is_exit_16_whichever_step_it_is() -> None:
    from venvship.engine import _build_error
    from venvship.errors import BuildError, IndexUnavailableError

    req = BuildRequest(context=Path("."), dockerfile=Path("D"), target="lock-export")
    err = _build_error(PIP_INDEX_DOWN, req)
    assert isinstance(err, IndexUnavailableError) and err.exit_code == 16
    assert err.message == ("the package index is unavailable: docker build failed (target lock-export) in "
                           "[tools 1/1]: ERROR: Could not find a version that satisfies the requirement "
                           "uv==0.13.9 (from versions: none) ERROR: No matching distribution found for uv==0.13.9")
    # a hash mismatch, or a retry warning printed by a step that did not fail, is a build error
    assert type(_build_error(UV_HASH_FAILURE, req)) is BuildError
    elsewhere = PIP_INDEX_DOWN.replace("#6 2.101", "#5 2.101")
    assert type(_build_error(elsewhere, req)) is BuildError

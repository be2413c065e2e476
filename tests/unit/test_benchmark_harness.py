"""The pure parts of benchmarks/run.py: log parsing, cache-mount namespacing, derived inputs."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, load_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script(ROOT / "benchmarks" / "run.py", "venvship_bench_run", register=True)


PLAIN_LOG = """\
#5 [deps 2/2] RUN --mount=type=cache,target=/root/.cache/uv,id=x \
uv pip install -r /opt/venvship/locks/main.txt
#5 CACHED

#9 [build 3/3] RUN python build.py
#9 0.412 built app-1.0-py3-none-any.whl
#9 DONE 0.6s

#12 exporting to image
#12 DONE 0.3s
"""


def test_parse_steps_reads_cached_and_timed_steps(bench: ModuleType) -> None:
    steps = bench.parse_steps(PLAIN_LOG)
    by_name = {s.name.split(" RUN")[0]: s for s in steps}
    assert by_name["[deps 2/2]"].cached and by_name["[deps 2/2]"].seconds is None
    assert by_name["[build 3/3]"].seconds == 0.6 and not by_name["[build 3/3]"].cached
    assert [s.name for s in bench.executed(steps)] == ["[build 3/3] RUN python build.py", "exporting to image"]


def test_dependency_steps_are_recognised(bench: ModuleType) -> None:
    assert bench.DEP_STEP.search("[deps 2/2] RUN uv pip install")
    assert bench.DEP_STEP.search("[base 6/7] RUN python -m pip install -r requirements.txt")
    assert bench.DEP_STEP.search("[builder 5/7] RUN uv sync --locked --no-install-project --no-dev")
    assert not bench.DEP_STEP.search("[build 3/3] RUN /opt/venvship/build-env/bin/python wheel.py")
    assert not bench.DEP_STEP.search("[builder 7/7] RUN uv sync --locked --no-editable --no-dev")


@pytest.mark.parametrize("variant", ["naive", "docker-init", "uv-multistage"])
def test_every_cache_mount_gets_the_trial_namespace(bench: ModuleType, variant: str) -> None:
    text = (ROOT / "benchmarks" / "dockerfiles" / f"{variant}.Dockerfile").read_text()
    out = bench.namespace_cache_mounts(text, "ns-1-")
    mounts = re.findall(r"--mount=type=cache\S*", out)
    assert len(mounts) == text.count("--mount=type=cache")
    assert all(",id=ns-1-/root/.cache/" in m for m in mounts)


def test_handwritten_dockerfiles_take_the_ca_as_a_secret_only(bench: ModuleType) -> None:
    for variant in ("naive", "docker-init", "uv-multistage"):
        text = (ROOT / "benchmarks" / "dockerfiles" / f"{variant}.Dockerfile").read_text()
        assert "--mount=type=secret,id=venvship_ca" in text
        assert "ca-certificates.crt" not in text
        assert not text.startswith("# syntax=")  # no frontend pull: there is no registry


def test_short_drops_mounts_and_ca_plumbing(bench: ModuleType) -> None:
    name = ("[build 3/3] RUN --mount=type=secret,id=venvship_ca,required=false if [ -f "
            "/run/secrets/venvship_ca ]; then export SSL_CERT_FILE=/run/secrets/venvship_ca; fi "
            "&& python build.py")
    assert bench.short(name) == "[build 3/3] RUN python build.py"


def test_big_app_is_the_larger_app_the_issue_asks_for(bench: ModuleType) -> None:
    project = ROOT / "examples" / "big-app"
    lock = bench.main_lock(project)
    assert 40 <= len(lock.pins) <= 60
    assert "markupsafe" in lock.pins
    settings = bench.read_settings(project)
    assert settings.index.allow_sdist == ("markupsafe",) and "gcc" in settings.build.packages


def test_derived_inputs_pin_what_venvship_locked(bench: ModuleType) -> None:
    project = ROOT / "examples" / "big-app"
    pins = bench.main_lock(project).versions
    reqs = bench.requirements_txt(project)
    assert "--hash" not in reqs and "--no-binary markupsafe" in reqs
    for name, version in pins.items():
        assert re.search(rf"^{re.escape(name)}=={re.escape(version)}\b", reqs, re.M), name
    pyproject = bench.uv_pyproject(project)
    assert 'no-binary-package = ["markupsafe"]' in pyproject
    assert all(f'"{n}=={v}"' in pyproject for n, v in pins.items())
    assert '"fastapi>=0.115"' in pyproject and 'requires-python = ">=3.11"' in pyproject


DU = """\
ID:		marker1
Parent:		basetop
Description:	mount / from exec /bin/sh -c echo venvship-bench-ab12-big-app-venvship-0 > /etc/venvship-bench-trial

ID:		loaded1
Parent:		basetop
Description:	from local

ID:		run1*
Parent:		loaded1
Description:	mount / from exec /bin/sh -c uv pip install

ID:		run2
Parent:		run1
Description:	mount / from exec /bin/sh -c echo ho

ID:		other
Parent:		basetop
Description:	mount / from exec /bin/sh -c somebody else's build

ID:		otherloaded
Parent:		elsewhere
Description:	from local

ID:		lockrun
Parent:		tools
Description:	mount / from exec /bin/sh -c sh /venvship/in/lock.sh && echo "5e1f" > /venvship/out/run-id

ID:		lockcopy
Parent:
Description:	copy /venvship/out/ /
"""


def test_a_trial_prunes_the_records_built_on_its_own_base_and_nothing_else(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness filled the disk twice: trials left their build-cache records behind."""
    monkeypatch.setattr(bench, "run", lambda argv, **kw: type("P", (), {"stdout": DU})())
    records = bench.cache_records()
    assert records["run1"] == {"parent": "loaded1", "description": "mount / from exec /bin/sh -c uv pip install"}
    before = {"basetop", "tools", "elsewhere"}
    mine = bench.trial_records(before, records, "venvship-bench-ab12-big-app-venvship-0")
    assert set(mine) == {"marker1", "loaded1", "run1", "run2"}
    assert mine.index("run2") < mine.index("run1") < mine.index("loaded1")  # children first
    assert bench.trial_records(before | {"loaded1", "marker1"}, records, "venvship-bench-ab12-big-app-venvship-0") \
        == []  # made before the trial: not its own
    assert sorted(bench.lock_records(before, records)) == ["lockcopy", "lockrun"]
    calls: list[list[str]] = []
    monkeypatch.setattr(bench, "run", lambda argv, **kw: calls.append(argv))
    bench.prune_records([f"r{i}" for i in range(45)])
    assert len(calls) == 2 and calls[0][-1] == "id=" + "|".join(f"r{i}" for i in range(40))


def test_large_app_is_big_apps_source_with_its_own_requirements(bench: ModuleType, tmp_path: Path) -> None:
    app = bench.APPS["large-app"]
    assert not (app.path / "src").exists()  # no copy of big-app's source in the repository
    tree = app.tree(tmp_path / "large-app")
    big = ROOT / "examples" / "big-app"
    for rel in ("src/big_app/app.py", "tests/test_app.py", app.source_file):
        assert (tree / rel).read_bytes() == (big / rel).read_bytes()
    assert (tree / "requirements" / "main.txt").read_bytes() == (app.path / "requirements" / "main.txt").read_bytes()
    assert "pandas" in (tree / "requirements" / "main.in").read_text()
    assert bench.read_settings(tree).project_name == "large-app"
    assert len(bench.main_lock(tree).pins) >= 100 and "numpy" in bench.main_lock(tree).pins


def test_the_noop_profile_names_what_a_noop_build_does_now(bench: ModuleType) -> None:
    prof = {"wall": 0.9, "cli_build": 0.6, "buildx": 0.2, "lock_freshness_check": 0.01, "engine_checks": 0.02,
            "dockerfile": 0.03, "verify": 0.05, "tags": 0.02, "image_inspect_after": 0.01}
    text = bench.noop_profile_text(prof)
    assert "with verify" in text and "verify 0.05 s" in text and "the rest 0.26 s" in text
    assert "Engine.client" not in text and "client" not in bench.Trial.profile_noop.__code__.co_consts
    assert "0.30 s" in text  # the interpreter and imports


def test_the_parts_of_separate_runs_make_one_report_that_names_each_run(bench: ModuleType) -> None:
    def raw(command: str, git: str, **parts: object) -> dict[str, object]:
        return {"command": command, "date": "2026-11-27 22:00 UTC", "apps": ["big-app"], "repeat": 1,
                "machine": {"git": git, "image_store": "classic image store"}, "setups": [{"app": "big-app"}],
                "trials": [], "locks": [], "runtime_sizes": [], **parts}

    locks = raw("python benchmarks/run.py --no-builds", "aaa", locks=[{"app": "big-app"}])
    builds = raw("python benchmarks/run.py --no-locks", "bbb", trials=[{"app": "big-app"}], repeat=2)
    merged = bench.merge_raw([locks, builds])
    assert merged["locks"] == locks["locks"] and merged["trials"] == builds["trials"] and merged["repeat"] == 2
    assert [r["parts"] for r in merged["runs"]] == ["big-app: locks", "big-app: builds"]
    hello = raw("python benchmarks/run.py --apps hello-app", "ccc", apps=["hello-app"],
                setups=[{"app": "hello-app"}], trials=[{"app": "hello-app"}], locks=[{"app": "hello-app"}])
    merged = bench.merge_raw([builds, hello])
    assert merged["apps"] == ["hello-app", "big-app"] and len(merged["trials"]) == len(merged["setups"]) == 2
    assert bench.merge_raw([locks]) is locks


def test_the_layered_bump_floor_stacks_the_groups_the_plan_puts_above_the_bumped_one(
        bench: ModuleType, tmp_path: Path) -> None:
    groups = [{"name": "numpy", "members": ["numpy"]}, {"name": "rare-0", "members": ["idna", "markupsafe", "six"]},
              {"name": "rare-1", "members": ["markupsafe"]}, {"name": "often-0", "members": ["anyio", "certifi"]}]
    # above rare-0: rare-1 (only a distribution built from source: dropped) and often-0
    assert bench.groups_above(groups, ["MarkupSafe"], "idna") == [["anyio", "certifi"]]
    assert bench.groups_above(groups, [], "numpy") == [["idna", "markupsafe", "six"], ["markupsafe"],
                                                       ["anyio", "certifi"]]
    assert bench.groups_above(groups, [], "certifi") == []
    assert bench.groups_above(groups, [], "not-locked") == []
    floor = (ROOT / "benchmarks" / "dockerfiles" / "bump-floor.Dockerfile").read_text()
    above = bench.groups_above(groups, ["markupsafe"], "numpy")
    assert above == [["idna", "six"], ["anyio", "certifi"]]  # rare-1 holds only an sdist: no layer
    text = bench.layered_floor_dockerfile(floor, "numpy", len(above))
    # the floor's own stages unchanged, then one stage a group above, then the image: dep, above-0, above-1
    assert floor.rpartition("FROM ${BASE_IMAGE}\n")[0] in text
    assert re.findall(r"^FROM \$\{BASE_IMAGE\} AS (above-\d+)$", text, re.M) == ["above-0", "above-1"]
    assert text.endswith("FROM ${BASE_IMAGE}\nCOPY --link --from=dep /app /app\n"
                         "COPY --link --from=above-0 /app /app\nCOPY --link --from=above-1 /app /app\n")
    assert text.count("--require-hashes --no-deps --only-binary :all: --compile-bytecode") == 3
    assert not bench.groups_above(groups, ["markupsafe"], "certifi")  # nothing above: the plain floor is it


def test_the_noop_target_is_the_median_of_paired_differences(bench: ModuleType) -> None:
    def trial(ours: list[float], plain: list[float]) -> dict[str, object]:
        return {"app": "big-app", "variant": "venvship", "noop_pairs": {"venvship": ours, "buildx": plain}}

    data = {"trials": [trial([0.5, 0.6, 0.4], [0.3, 0.3, 0.3]), trial([0.9], [0.2]),
                       {"app": "big-app", "variant": "uv-multistage"}]}
    [(target, measured, met, _evidence)] = bench.noop_target(data, "big-app")
    assert "verify included" in target and "+ 0.3 s" in target
    assert measured.startswith("+0.25 s (+0.10–+0.70): 0.55 s against 0.30 s, 4 pairs")
    assert met is True
    data["trials"].append(trial([1.0, 1.0], [0.2, 0.2]))
    assert bench.noop_target(data, "big-app")[0][2] is False  # median difference 0.6 s
    assert bench.noop_target({"trials": []}, "big-app") == []

"""Layer groups (layers.py): a pure function of the locks and the recorded sizes; deterministic,
bounded and stable under a bump. Property-style: many seeded random locks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from venvship import layers, lockfile
from venvship.interpreter import Interpreter
from venvship.lockfile import Pin

BIG_APP = Path(__file__).resolve().parents[2] / "examples" / "big-app" / "requirements" / "main.txt"
TARGET = Interpreter("cpython", "3.11.2", "linux", "x86_64", "linux-x86_64")


def random_lock(rng: random.Random, n: int) -> tuple[dict[str, Pin], dict[str, tuple[str, int | None]]]:
    pins: dict[str, Pin] = {}
    sizes: dict[str, tuple[str, int | None]] = {}
    for i in range(n):
        name = f"dist-{rng.randrange(10**6)}-{i}"
        version = f"{rng.choice([0, 1, 2, 3, 2024])}.{rng.randrange(20)}.{rng.randrange(5)}"
        via = ("-r requirements/main.in",) if rng.random() < 0.3 else (f"dist-{rng.randrange(99)}",)
        pins[name] = Pin(name, version, ("sha256:" + "a" * 64,), None, via)
        size = rng.choice([None, rng.randrange(10_000, 400_000), rng.randrange(10_000, 40_000_000)])
        sizes[name] = (version, size)
    return pins, sizes


def bump(pin: Pin, rng: random.Random) -> Pin:
    """A new patch or minor release: same name, same major version."""
    major, minor, patch = ([*pin.version.split("."), "0", "0"])[:3]
    new = f"{major}.{minor}.{int(patch) + 1}" if rng.random() < 0.5 else f"{major}.{int(minor) + 1}.0"
    return Pin(pin.name, new, ("sha256:" + "b" * 64,), pin.marker, pin.via)


def membership(groups: tuple[layers.Group, ...]) -> dict[str, str]:
    return {m: g.name for g in groups for m in g.members}


@pytest.mark.parametrize("seed", range(40))
def test_plan_is_a_bounded_partition_and_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    pins, sizes = random_lock(rng, rng.randrange(1, 180))
    groups = layers.plan(pins, sizes)
    assert groups == layers.plan(dict(reversed(list(pins.items()))), dict(sizes))  # order-free
    names = [m for g in groups for m in g.members]
    assert sorted(names) == sorted(pins)  # every pin in exactly one group
    assert len(groups) <= layers.MAX_LARGE + 2 * layers.BUCKETS
    assert all(g.members for g in groups)
    assert len({g.name for g in groups}) == len(groups)
    if len(pins) < layers.MIN_GROUPED:
        assert [g.name for g in groups] == ["all"]
        return
    large = [g for g in groups if g.large]
    assert all(len(g.members) == 1 for g in large)
    assert groups[:len(large)] == tuple(large)  # large first, then rare, then often
    tiers = [g.name.split("-")[0] for g in groups if not g.large]
    assert tiers == sorted(tiers, key=lambda t: t == "often")


@pytest.mark.parametrize("seed", range(40))
def test_one_bump_moves_no_other_distribution(seed: int) -> None:
    rng = random.Random(1000 + seed)
    pins, sizes = random_lock(rng, rng.randrange(2, 150))
    before = membership(layers.plan(pins, sizes))
    name = rng.choice(sorted(pins))
    new = bump(pins[name], rng)
    pins2 = {**pins, name: new}
    sizes2 = {**sizes, name: (new.version, sizes[name][1])}
    after = membership(layers.plan(pins2, sizes2))
    moved = {n for n in pins if before[n] != after[n]}
    assert moved <= {name}
    # the bumped pin keeps its group too unless it is one of the largest (the cap)
    large = sum(1 for n in pins if (sizes[n][1] or 0) >= layers.LARGE_BYTES)
    if large <= layers.MAX_LARGE:
        assert not moved


def test_large_distributions_get_their_own_group_and_unknown_sizes_do_not() -> None:
    pin = lambda n, v="1.2.3", via=("x",): Pin(n, v, ("sha256:" + "c" * 64,), None, via)  # noqa: E731
    pins = {"numpy": pin("numpy"), "idna": pin("idna"), "mystery": pin("mystery"), "old": pin("old"),
            **{f"filler-{i}": pin(f"filler-{i}") for i in range(layers.MIN_GROUPED)}}
    sizes = {"numpy": ("1.2.3", 16_000_000), "idna": ("1.2.3", 70_000), "mystery": ("1.2.3", None),
             "old": ("1.0", 9_000_000)}  # recorded for another version: not trusted
    groups = layers.plan(pins, sizes)
    assert [g.name for g in groups if g.large] == ["numpy"]
    assert groups[0].size == 16_000_000
    assert membership(groups)["old"] != "old"


def test_cap_keeps_the_largest() -> None:
    pins = {f"d{i}": Pin(f"d{i}", "1.0", ("sha256:" + "d" * 64,), None, ("x",)) for i in range(20)}
    sizes = {f"d{i}": ("1.0", 2_000_000 + i if i < 12 else 1000) for i in range(20)}
    large = [g.name for g in layers.plan(pins, sizes) if g.large]
    assert sorted(large) == sorted(f"d{i}" for i in range(4, 12))


def test_tiers() -> None:
    def pin(version: str, via: tuple[str, ...]) -> Pin:
        return Pin("x", version, (), None, via)
    assert layers.tier(pin("2.1", ("-r requirements/main.in",))) == "rare"  # a constraint added
    assert layers.tier(pin("2.1", ("pyproject.toml [project.dependencies]",))) == "rare"  # moves nothing
    assert layers.tier(pin("0.9", ("flask",))) == "often"
    assert layers.tier(pin("2024.8.30", ("requests",))) == "often"
    assert layers.tier(pin("3.1", ("flask", "-c requirements/main.txt"))) == "rare"


def test_big_app_lock_plan() -> None:
    lock = lockfile.read(BIG_APP, "main")
    assert lock is not None
    groups = layers.plan(lock.pins, {})
    assert sorted(m for g in groups for m in g.members) == sorted(lock.pins)
    assert not any(g.large for g in groups)  # no sizes recorded: small groups only
    assert 2 <= len(groups) <= 2 * layers.BUCKETS


def test_sizes_file_round_trip_and_problems() -> None:
    sizes = {"numpy": ("2.3.1", 16_000_000), "markupsafe": ("3.0.4", None)}
    text = layers.sizes_text(sizes, "linux x86_64")
    assert layers.parse_sizes(text) == sizes
    pins = {"numpy": Pin("numpy", "2.3.1", ()), "markupsafe": Pin("markupsafe", "3.0.4", ())}
    assert layers.problems(pins, sizes, "requirements/wheel-sizes.list") == []
    bumped = {**pins, "numpy": Pin("numpy", "2.3.2", ())}
    (problem,) = layers.problems(bumped, sizes, "requirements/wheel-sizes.list")
    assert "numpy==2.3.2" in problem and "venvship lock" in problem
    (problem,) = layers.problems({"numpy": pins["numpy"]}, sizes, "requirements/wheel-sizes.list")
    assert "markupsafe (not locked)" in problem


def test_sizes_from_pylock_pick_the_target_wheel() -> None:
    data = {"packages": [
        {"name": "NumPy", "version": "2.3.1", "sdist": {"size": 20_000_000}, "wheels": [
            {"name": "numpy-2.3.1-cp311-cp311-manylinux_2_28_x86_64.whl", "size": 16_000_000},
            {"name": "numpy-2.3.1-cp311-cp311-musllinux_1_2_x86_64.whl", "size": 17_000_000},
            {"name": "numpy-2.3.1-cp312-cp312-manylinux_2_28_x86_64.whl", "size": 18_000_000},
            {"name": "numpy-2.3.1-cp311-cp311-manylinux_2_28_aarch64.whl", "size": 19_000_000},
            {"name": "numpy-2.3.1-cp311-cp311-win_amd64.whl", "size": 21_000_000},
        ]},
        {"name": "idna", "version": "3.20",
         "wheels": [{"url": "https://files.example/idna-3.20-py3-none-any.whl", "size": 69583}]},
        {"name": "pydantic-core", "version": "2.1", "wheels": [
            {"name": "pydantic_core-2.1-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
             "size": 2_000_000}]},
        {"name": "markupsafe", "version": "3.0.4", "sdist": {"size": 80_000}, "wheels": []},
        {"name": "nosize", "version": "1.0", "wheels": [{"name": "nosize-1.0-py3-none-any.whl"}]},
    ]}
    assert layers.sizes_from_pylock(data, TARGET) == {
        "numpy": ("2.3.1", 16_000_000), "idna": ("3.20", 69583), "pydantic-core": ("2.1", 2_000_000),
        "markupsafe": ("3.0.4", 80_000), "nosize": ("1.0", None)}


# ---- recorded by 'venvship lock', checked by 'lock --check' -------------------------------
@pytest.fixture
def big_app(tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "big-app"
    shutil.copytree(BIG_APP.parents[1], dest)
    return dest


def test_lock_stage_asks_for_sizes_of_the_main_closure_only_when_a_pin_is_new(big_app: Path) -> None:
    from venvship.environments import discover
    from venvship.ops.lock import lock_script, make_plan, write_inputs
    from venvship.settings import load_settings

    settings = load_settings(big_app, environ={})
    envs = discover(settings)
    plan = make_plan(envs, [], settings)
    script = lock_script(settings, envs, plan, environ={})
    assert script.count("sizes_env main ") == 1 and "sizes_env dev" not in script
    assert "--format pylock.toml --output-file $OUT/pylock.sizes-main.toml $IN/main.in" in script
    (big_app / "requirements" / "wheel-sizes.list").write_text(layers.sizes_text({"idna": ("3.20", 1)}, "linux x86_64"))
    write_inputs(big_app / "in", settings, envs, plan)
    assert (big_app / "in" / "sizes-known.txt").read_text() == "idna==3.20\n"


def test_sizes_file_after_a_lock_and_check(big_app: Path, tmp_path: Path) -> None:
    from venvship.environments import discover
    from venvship.ops.lock import EnvResult, check, sizes_file
    from venvship.settings import load_settings

    settings = load_settings(big_app, environ={})
    envs = discover(settings)
    main = lockfile.read(settings.lock_path("main"), "main")
    assert main is not None
    out = tmp_path / "out"
    out.mkdir()
    (out / "pylock.sizes-main.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "idna"\nversion = "3.20"\n'
        'wheels = [{ name = "idna-3.20-py3-none-any.whl", size = 69583 }]\n')
    result = EnvResult("main", "", main, lockfile.diff({}, {}), False)
    recorded = layers.read_sizes(big_app / "requirements" / "wheel-sizes.list")  # the example's, committed
    assert recorded["anyio"][1], "sizes recorded before are reused for the same version"
    assert layers.parse_sizes(sizes_file(settings, envs, [result], out, TARGET) or "")["anyio"] == recorded["anyio"]
    (big_app / "requirements" / "wheel-sizes.list").unlink()
    warned: list[str] = []
    text = sizes_file(settings, envs, [result], out, TARGET, warned.append)
    assert text is not None and not warned
    sizes = layers.parse_sizes(text)
    assert sorted(sizes) == sorted(main.pins) and sizes["idna"] == ("3.20", 69583)
    assert sizes["anyio"] == (main.pins["anyio"].version, None)
    assert sizes_file(settings, envs, [], out, TARGET) is None  # main not locked this run: untouched
    assert check(settings, envs, ["main"], None) == []  # no sizes file: nothing to match
    path = big_app / "requirements" / "wheel-sizes.list"
    path.write_text(text)
    assert check(settings, envs, ["main"], None) == []
    path.write_text(text.replace("idna==3.20", "idna==3.19"))
    (problem,) = check(settings, envs, ["main"], None)
    assert problem.startswith("requirements/wheel-sizes.list does not match the locks (idna==3.20)")
    (out / "sizes-main.failed").write_text("failed\n")
    sizes_file(settings, envs, [result], out, TARGET, warned.append)
    assert warned and "were not recorded" in warned[0]


def test_a_small_venv_is_one_group() -> None:
    pins = {f"d{i}": Pin(f"d{i}", "1.0", ("sha256:" + "e" * 64,), None, ("x",)) for i in range(5)}
    (group,) = layers.plan(pins, {"d0": ("1.0", 50_000_000)})
    assert group.name == "all" and group.members == tuple(sorted(pins)) and not group.large
    assert layers.plan({}, {}) == ()


def test_the_dockerfile_has_a_stage_and_a_layer_a_group(big_app: Path) -> None:
    from dataclasses import replace

    from venvship.environments import discover
    from venvship.render import layer_groups, render_dockerfile
    from venvship.settings import load_settings

    settings = load_settings(big_app, environ={})
    envs = discover(settings)
    groups = layer_groups(settings, envs.closure("main"))
    assert len(groups) > 1 and [g["sdist"] for g in groups if "markupsafe" in g["members"]] == [True]
    text = render_dockerfile(settings, envs)
    stages = {chunk.split("\n", 1)[0]: chunk for chunk in text.split("\nFROM ")}
    for g in groups:
        base = "venv-base" if g["sdist"] else "base"
        assert f"FROM {base} AS deps-{g['name']}\n" in text
        assert text.count(f"COPY --link --from=deps-{g['name']} /app /app\n") == 2  # deps and runtime
        assert f"        {g['name']}:{','.join(g['members'])} \\\n" in text
        stage = stages[f"{base} AS deps-{g['name']}"]
        assert "id=venvship_ca" in stage and "--mount=type=cache,target=/root/.cache/uv,id=venvship-uv,sharing=shared" in stage
        assert "--require-hashes" in stage and "--offline" not in stage
        if g["sdist"]:  # FROM the venv with the build tools, with the build lock
            assert "--build-constraint" in stage and "--no-binary markupsafe" in stage
            # uv compiles an sdist group's bytecode itself (no cache)
            assert "--compile-bytecode" in stage and "compile_cached" not in stage and not g["bytecode_cache"]
        else:
            # the bytecode: uv installs without it, then compile_cached.py (CPython 3.11: the lock's
            # interpreter) writes the same files from the shared cache, compiling only new sources
            assert g["bytecode_cache"] and "--compile-bytecode" not in stage
            assert ("--mount=type=bind,from=bytecode-script,source=/opt/venvship/compile_cached.py,"
                    "target=/opt/venvship/compile_cached.py \\\n") in stage
            assert "--mount=type=cache,target=/root/.cache/venvship-pyc,id=venvship-pyc,sharing=shared \\\n" in stage
            assert stage.index("/opt/venvship/tools/bin/uv pip install") < stage.index(
                " && /app/bin/python /opt/venvship/compile_cached.py --cache /root/.cache/venvship-pyc \\\n")
            # its root is the base image, its inputs are mounted: BuildKit content-hashes the root of
            # a step with a secret mount, and keeps that hash only for an image's root (docs/dockerfile.md)
            assert "\nCOPY " not in stage and "--mount=type=bind,from=tools,source=/opt/venvship/tools," in stage
            assert (f"--mount=type=bind,from=layer-groups,source=/opt/venvship/groups/{g['name']}.txt,"
                    f"target=/opt/venvship/locks/{g['name']}.txt") in stage
            assert "--build-constraint" not in stage and "--no-binary" not in stage
            assert ("xargs rm -f < /tmp/venv-files" in stage) == (g is not groups[0])
    assert " AS wheels" not in text  # no step fetches for all groups: a bump fetches only its new wheel
    script = stages["base AS bytecode-script"]
    assert script.count("printf ") == 1 and script.endswith("> /opt/venvship/compile_cached.py\n")
    assert "def compile_like_uv(path, mode):" in script and "What uv 0.13.9 does" not in script  # docstring left out
    assert "venv-base AS build" in stages and "build-base AS sbom" in stages
    assert "is locked but in no layer group" in text
    off = replace(settings, image=replace(settings.image, layer_groups=False))
    assert layer_groups(off, ["main"]) == [] and "AS deps-" not in render_dockerfile(off, envs)
    (big_app / "requirements" / "main.txt").unlink()  # before the first lock: one deps stage
    assert layer_groups(settings, ["main"]) == []


def test_an_interpreter_before_3_11_keeps_uvs_own_bytecode(big_app: Path) -> None:
    """Before CPython 3.11 a .pyc's bytes depend on the process that compiled it (marshal): the
    groups keep uv --compile-bytecode and the Dockerfile has no bytecode cache."""
    from venvship.environments import discover
    from venvship.render import bytecode_cacheable, layer_groups, render_dockerfile
    from venvship.settings import load_settings

    assert bytecode_cacheable("cpython 3.11.2") and bytecode_cacheable("cpython 3.13.0")
    assert not bytecode_cacheable("cpython 3.10.14") and not bytecode_cacheable("cpython 3.9.2")
    assert not bytecode_cacheable("pypy 3.11.0") and not bytecode_cacheable("") and not bytecode_cacheable("cpython x")
    main = big_app / "requirements" / "main.txt"
    main.write_text(main.read_text().replace("# venvship: python = cpython 3.11.2\n", "# venvship: python = cpython 3.9.2\n", 1))
    settings = load_settings(big_app, environ={})
    envs = discover(settings)
    groups = layer_groups(settings, envs.closure("main"))
    assert len(groups) > 1 and not any(g["bytecode_cache"] for g in groups)
    text = render_dockerfile(settings, envs)
    assert "compile_cached" not in text and "venvship-pyc" not in text and "bytecode-script" not in text
    assert text.count("--require-hashes --no-deps --compile-bytecode") >= len(groups)


def test_the_host_split_is_each_groups_pins_and_the_build_hands_it_over(
        big_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """render.split_group_locks: the layer-groups stage's files (test_layer_groups compares them
    with the stage's own output byte for byte), passed by the build as the named context that
    replaces the stage."""
    from dataclasses import replace

    from venvship.environments import discover
    from venvship.ops import build
    from venvship.ops.build import BuildOptions, build_request, prepare_context
    from venvship.render import GROUPS_CONTEXT, layer_groups, split_group_locks
    from venvship.settings import load_settings

    monkeypatch.setattr(build, "label_args", lambda settings: {})  # git: not in a unit test

    settings = load_settings(big_app, environ={})
    envs = discover(settings)
    groups = layer_groups(settings, envs.closure("main"))
    files = split_group_locks(settings, envs)
    lock = lockfile.read(big_app / "requirements" / "main.txt", "main")
    assert lock is not None
    assert set(files) == {f"opt/venvship/groups/{g['name']}.txt" for g in groups} | {"opt/venvship/groups/build.txt"}
    assert files["opt/venvship/groups/build.txt"] == (big_app / "requirements" / "build.txt").read_bytes()
    for g in groups:
        text = files[f"opt/venvship/groups/{g['name']}.txt"].decode()
        named = [line.split("==")[0] for line in text.splitlines() if not line.startswith(" ")]
        assert sorted(named) == sorted(g["members"])
        for name in g["members"]:
            assert all(f"--hash={h}" in text for h in lock.pins[name].hashes)
    (tmp_path / "work").mkdir()
    dockerfile = prepare_context(settings, envs, tmp_path / "work")
    req = build_request(settings, BuildOptions(images=("app:1",)), dockerfile)
    assert req.build_contexts == {GROUPS_CONTEXT: tmp_path / "work" / GROUPS_CONTEXT}
    assert (tmp_path / "work" / GROUPS_CONTEXT / "opt/venvship/groups/rare-0.txt").read_bytes() == \
        files["opt/venvship/groups/rare-0.txt"]
    off = replace(settings, image=replace(settings.image, layer_groups=False))
    assert split_group_locks(off, envs) == {}
    other = tmp_path / "other"
    other.mkdir()
    assert build_request(off, BuildOptions(images=("app:1",)), prepare_context(off, envs, other)).build_contexts == {}

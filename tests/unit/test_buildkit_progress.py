"""The integration tests' reader of BuildKit's plain progress (tests/integration/buildkit.py)."""

from __future__ import annotations

from tests.integration import buildkit

RUN = "[deps 2/2] RUN uv pip install -r main.txt"
D1, D2 = "91e8b98da5c2e624245d8b67a663b94bfaf205255e63083b0c1f41801b668a55", "3" * 64


def test_a_step_that_printed_cached_is_cached_and_one_that_ran_is_ran() -> None:
    log = f"#9 {RUN}\n#9 CACHED\n#12 [build 2/2] RUN uv build\n#12 0.3 Built hello_app\n#12 DONE 1.2s\n"
    assert buildkit.steps(log) == {"deps 2/2 RUN uv pip install -r main.txt": "CACHED",
                                   "build 2/2 RUN uv build": "RAN"}


def test_a_step_whose_layers_came_from_a_registry_cache_without_a_cached_line_did_not_run() -> None:
    # As BuildKit printed it on an empty engine with --cache-from type=registry: no "CACHED" line.
    log = (f"#11 {RUN}\n#11 sha256:{D1} 7.06kB / 7.06kB 0.0s done\n#11 sha256:{D2} 1.66MB / 1.66MB 0.0s done\n"
           f"#11 DONE 0.1s\n#11 {RUN}\n#11 extracting sha256:{D1} 0.0s done\n#11 extracting sha256:{D2} 0.4s done\n"
           "#11 DONE 0.6s\n")
    assert buildkit.ran(log, "deps") == []
    assert buildkit.cached(log, "deps") == ["deps 2/2 RUN uv pip install -r main.txt"]

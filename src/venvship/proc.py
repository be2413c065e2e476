"""Run a child process, streaming its output while keeping it for error messages."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


def run_streaming(argv: Sequence[str], *, stream: IO[str] | None = None,
                  env: Mapping[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """(exit code, combined stdout+stderr). On Ctrl-C/SIGTERM the child is stopped first.

    Raises OSError when the program cannot be started.
    """
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", cwd=cwd, env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if stream is not None:
                stream.write(line)
                stream.flush()
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    return rc, "".join(lines)

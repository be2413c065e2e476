"""Python snippets run by a target interpreter (in an image or on a host) to describe itself."""

from __future__ import annotations

# Defines markers(): PEP 508 environment markers, as packaging.markers.default_environment()
# computes them, without needing packaging in the target.
MARKERS_PY = r"""
def markers():
    import os, platform, sys
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": platform.python_version(),
        "os_name": os.name, "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(), "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
    }
"""

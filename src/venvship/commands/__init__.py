"""Commands that live in their own modules. Each module has ``register(app)``.

cli.py imports every module listed in MODULES and calls its ``register``.
"""

MODULES = (
    "export",  # venvship export --format tar|deb
    "install",  # venvship install / sync / tox / test
    "sbom",  # venvship sbom IMAGE
    "ci",  # venvship ci github|gitlab
)

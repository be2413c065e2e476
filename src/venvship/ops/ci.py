"""``venvship ci github|gitlab``: a CI pipeline running ``lock --check``, ``test`` and ``build
--push`` with a registry build cache (pure: settings in, YAML text out; written with PyYAML).

The shell steps use only shell variables (IMAGE, CACHE), set from the CI service's own
variables, so each can also be run on a workstation (tests/integration/test_ci.py does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from .. import __version__
from ..errors import ConfigError
from ..settings import Settings

PROVIDERS = ("github", "gitlab")
DEFAULT_PATHS = {"github": ".github/workflows/venvship.yml", "gitlab": ".gitlab-ci.yml"}

LOCK_CHECK = "venvship lock --check"
TEST = "venvship test"
# The registry cache: mode=max keeps the dependency stages' layers, so a runner with an empty
# cache rebuilds a source-only change without re-running them.
BUILD_PUSH = ('venvship build --push --image "$IMAGE" --cache-from "type=registry,ref=$CACHE" '
              '--cache-to "type=registry,ref=$CACHE,mode=max"')
BUILD_ONLY = 'venvship build --image "$IMAGE" --cache-from "type=registry,ref=$CACHE"'


@dataclass(frozen=True)
class CiOptions:
    provider: str
    image: str | None = None  # the repository pushed to (no tag); default: the service's registry
    branch: str = "main"  # pushes to this branch build --push; other events build and verify only
    python: str = "3.12"  # the runner's Python that venvship is installed into
    install: str = f"venvship=={__version__}"  # what pip installs


def _on_platforms(settings: Settings, command: str) -> str:
    """``command`` for every platform of the platforms setting (venvship --platform A,B build:
    one verified build per platform, then the manifest list)."""
    targets = settings.platforms.targets
    if len(targets) > 1 and command.startswith("venvship build"):
        return f"venvship --platform {','.join(targets)} " + command.removeprefix("venvship ")
    return command


def needs_emulation(settings: Settings) -> bool:
    """Whether the runners (amd64) must run another platform's containers: lock --check runs each
    platform's base image, build verifies each platform's image."""
    return any(p != "linux/amd64" for p in settings.platforms.targets)


def notes(settings: Settings) -> list[str]:
    """What the user must know before the pipeline can pass (printed to stderr)."""
    out = []
    if settings.image.base.startswith("venvship-local/"):
        out.append(f"base-image {settings.image.base} is a local image (scripts/setup-docker): a CI runner "
                   f"cannot pull it; set base-image to an image in a registry the runner can reach")
    return out


def render(settings: Settings, opts: CiOptions) -> str:
    if opts.provider not in PROVIDERS:
        raise ConfigError(f"unknown CI service {opts.provider!r}: choose {' or '.join(PROVIDERS)}")
    if opts.image is not None and (":" in opts.image.rsplit("/", 1)[-1] or "@" in opts.image):
        raise ConfigError(f"--image {opts.image!r}: name the repository without a tag (the pipeline tags "
                          f"each image with its commit)")
    data = _github(settings, opts) if opts.provider == "github" else _gitlab(settings, opts)
    header = (f"# {opts.provider} pipeline for {settings.project_name}, written by 'venvship ci {opts.provider}' "
              f"(venvship {__version__}).\n"
              f"# Regenerate rather than edit: venvship ci {opts.provider} -o {DEFAULT_PATHS[opts.provider]}\n"
              f"# Base image: {settings.image.base} (the runner must be able to pull it).\n")
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)


def _github(settings: Settings, opts: CiOptions) -> dict[str, Any]:
    repo = opts.image or "ghcr.io/${GITHUB_REPOSITORY,,}"  # ghcr wants lower case
    names = (f'repo="{repo}"\n'
             'echo "IMAGE=$repo:${GITHUB_SHA::12}" >> "$GITHUB_ENV"\n'
             'echo "CACHE=$repo:buildcache" >> "$GITHUB_ENV"\n')
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": opts.python}},
        # A docker-container builder: the runner's docker driver cannot export a registry cache.
        *([{"name": "QEMU for the other platforms", "uses": "docker/setup-qemu-action@v3"}]
          if needs_emulation(settings) else []),
        {"name": "BuildKit builder that can export a registry cache", "uses": "docker/setup-buildx-action@v3"},
        {"name": "Registry login", "uses": "docker/login-action@v3",
         "with": {"registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}"}},
        {"name": "Install venvship", "run": f'python -m pip install "{opts.install}"'},
        {"name": "Image and cache names", "shell": "bash", "run": names},
        {"name": "Locks are up to date", "run": LOCK_CHECK},
        {"name": "Tests in the image", "run": TEST},
        {"name": "Build and verify", "if": "github.event_name != 'push'",
         "run": _on_platforms(settings, BUILD_ONLY)},
        {"name": "Build, verify, push (registry cache)", "if": "github.event_name == 'push'",
         "run": _on_platforms(settings, BUILD_PUSH)},
    ]
    return {
        "name": "venvship",
        "on": {"push": {"branches": [opts.branch]}, "pull_request": {}},
        "permissions": {"contents": "read", "packages": "write"},
        "jobs": {"image": {"runs-on": "ubuntu-latest", "timeout-minutes": 60, "steps": steps}},
    }


def _gitlab(settings: Settings, opts: CiOptions) -> dict[str, Any]:
    repo = opts.image or "$CI_REGISTRY_IMAGE"
    return {
        "stages": ["check", "test", "build"],
        "variables": {
            # docker:dind with TLS (GitLab's documented set-up); venvship follows DOCKER_HOST.
            "DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_CERTDIR": "/certs",
            "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client",
            "IMAGE": f"{repo}:$CI_COMMIT_SHORT_SHA", "CACHE": f"{repo}:buildcache",
        },
        "default": {
            "image": "docker:27",
            "services": [{"name": "docker:27-dind", "alias": "docker"}],
            "before_script": [
                "apk add --no-cache python3 git",
                "python3 -m venv /opt/venvship",
                f'/opt/venvship/bin/pip install "{opts.install}"',
                'export PATH="/opt/venvship/bin:$PATH"',
                # QEMU user emulation in the dind engine's kernel, for the other platforms
                *(["docker run --privileged --rm tonistiigi/binfmt --install all"]
                  if needs_emulation(settings) else []),
            ],
        },
        "lock-check": {"stage": "check", "script": [LOCK_CHECK]},
        "test": {"stage": "test", "script": [TEST]},
        "build": {
            "stage": "build",
            "script": [
                'echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"',
                # dind's docker driver cannot export a registry cache: a docker-container builder can.
                "docker buildx create --use --driver docker-container --name venvship",
                _on_platforms(settings, BUILD_PUSH),
            ],
            "rules": [{"if": f'$CI_COMMIT_BRANCH == "{opts.branch}"'}],
        },
        "build-verify": {
            "stage": "build",
            "script": [_on_platforms(settings, BUILD_ONLY)],
            "rules": [{"if": f'$CI_COMMIT_BRANCH != "{opts.branch}"'}],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (readable shell scripts)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

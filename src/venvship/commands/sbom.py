"""``venvship sbom IMAGE [--format cyclonedx-json|spdx-json] [--output FILE]``: the image's SBOM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

_FORMAT_HELP = "cyclonedx-json (the SBOM as the image carries it) or spdx-json (converted, SPDX 2.3)."


def sbom(
    image: str = typer.Argument(..., help="Image whose SBOM to print."),
    fmt: str = typer.Option("cyclonedx-json", "--format", "-f", help=_FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write it to FILE, not standard output."),
) -> None:
    """Print the SBOM an image built by venvship carries (/usr/share/venvship/sbom.cdx.json)."""
    from ..engine import Engine
    from ..errors import ConfigError
    from ..ops import sbom as sboms

    if fmt not in sboms.FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(sboms.FORMATS)}", param_hint="--format")
    document, _ = sboms.read_from_image(Engine(), image)
    text = json.dumps(document, indent=2) + "\n" if fmt == "cyclonedx-json" else sboms.to_spdx(document)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({fmt}, {len(sboms.distributions(document))} distributions)", err=True)


def register(app: Any) -> None:
    app.command("sbom")(sbom)

"""``venvship sbom IMAGE [--format cyclonedx-json|spdx-json] [--output FILE]``: the image's SBOM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from . import app, new_engine

_FORMAT_HELP = "cyclonedx-json (the SBOM as the image carries it) or spdx-json (converted, SPDX 2.3)."


@app.command("sbom")
def sbom_command(
    image: str = typer.Argument(..., help="Image whose SBOM to print."),
    fmt: str = typer.Option("cyclonedx-json", "--format", "-f", help=_FORMAT_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write it to FILE, not standard output."),
) -> None:
    """Print the SBOM an image built by venvship carries (/usr/share/venvship/sbom.cdx.json)."""
    from ..errors import ConfigError
    from ..ops import sbom

    if fmt not in sbom.FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(sbom.FORMATS)}", param_hint="--format")
    document, _ = sbom.read_from_image(new_engine(), image)
    text = json.dumps(document, indent=2) + "\n" if fmt == "cyclonedx-json" else sbom.to_spdx(document)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({fmt}, {len(sbom.distributions(document))} distributions)", err=True)

"""What venvship does: one module per operation, called by the CLI (``venvship.cli``)."""

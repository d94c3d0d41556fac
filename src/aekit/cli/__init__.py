"""The ``aekit`` command line: one module per command, each a thin wrapper."""

from aekit.cli.main import cli, main

__all__ = ["cli", "main"]

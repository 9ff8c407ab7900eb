"""The `porch-embedded` command line."""

from porch_embedded.cli._main import main

__all__ = ["main"]

"""The `porch-embedded` command line."""

from porch_embedded.cli._main import main
from porch_embedded.cli._porchctl import porchctl_main

__all__ = ["main", "porchctl_main"]

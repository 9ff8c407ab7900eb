"""The only writer: object semantics, package lifecycle, tasks, approval, registration."""

from porch_embedded.engine._engine import Engine
from porch_embedded.engine._objects import ObjectService, invalid

__all__ = ["Engine", "ObjectService", "invalid"]

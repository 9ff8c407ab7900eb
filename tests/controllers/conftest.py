"""Fixtures of the controller tests: a server with its controllers and a real git server
(tests/engine/conftest.py, on each store), and for PackageVariantSets a published blueprint."""

from __future__ import annotations

import pytest

from tests.controllers.variant_sets import VariantSets
from tests.engine.conftest import Porch, git_server, new_store_url, porch, postgres_run_database, store_kind

__all__ = ["git_server", "new_store_url", "porch", "postgres_run_database", "sets", "store_kind"]


@pytest.fixture
async def sets(porch: Porch) -> VariantSets:
    """PackageVariantSets of ``porch``, whose ``blueprints`` repository publishes basens v1."""
    helper = VariantSets(porch)
    await helper.blueprint()
    return helper

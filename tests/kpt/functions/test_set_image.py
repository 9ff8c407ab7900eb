"""set-image against the catalog's cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch_embedded.kpt.functions._set_image import split_image


@pytest.mark.parametrize(
    "case",
    ["advanced", "digest", "imperative", "simple", "no-image-name", "no-newName-or-newTag", "set-image-with-same-name"],
)
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("set-image", case).check()


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("nginx", ("nginx", "", "")),
        ("nginx:1.2", ("nginx", "1.2", "")),
        ("localhost:5000/nginx:1.2", ("localhost:5000/nginx", "1.2", "")),
        ("nginx@sha256:abc", ("nginx", "", "sha256:abc")),
        ("nginx:1.2@sha256:abc", ("nginx", "1.2", "sha256:abc")),
    ],
)
def test_split_image(image: str, parts: tuple[str, str, str]) -> None:
    assert split_image(image) == parts

"""The Kptfile (kpt.dev/v1): parsing, strict validation with kpt's messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_IMAGE_PREFIX", "PipelineFunction", "Selector"]

DEFAULT_IMAGE_PREFIX = "ghcr.io/kptdev/krm-functions-catalog/"


@dataclass(frozen=True)
class Selector:
    """One entry of a step's ``selectors`` or ``exclude``: all non-empty fields must match."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineFunction:
    """One step of ``pipeline.mutators`` or ``pipeline.validators``.

    ``image`` is the reference as written in the Kptfile; ``resolved_image`` is what
    kpt runs and records in results (catalog prefix added when the name has no
    ``/``, ``:latest`` when untagged).
    """

    image: str = ""
    exec: str = ""
    name: str = ""
    tag: str = ""
    config_map: Mapping[str, str] | None = None
    config_path: str = ""
    selectors: tuple[Selector, ...] = ()
    exclude: tuple[Selector, ...] = ()

    @property
    def resolved_image(self) -> str:
        """The image kpt would run: default catalog prefix and ``:latest`` added as needed."""
        image = self.image
        if not image:
            return ""
        if "/" not in image:
            image = DEFAULT_IMAGE_PREFIX + image
        last = image.rsplit("/", 1)[-1]
        if self.tag:
            base = image.split("@", 1)[0]
            base_last = base.rsplit("/", 1)[-1]
            if ":" in base_last:
                base = base[: base.rfind(":")]
            return f"{base}:{self.tag}"
        if ":" not in last and "@" not in last:
            image += ":latest"
        return image

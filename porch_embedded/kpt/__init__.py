"""The kpt package model, pure and I/O-free.

A package is a mapping of slash-separated relative file path to text, exactly the
``resources`` map of Porch's PackageRevisionResources. This layer parses Kptfiles,
reads and writes package resources, builds ResourceLists and renders pipelines by
calling an injected ``FunctionEvaluator``.
"""

from porch_embedded.kpt._evaluation import FunctionEvaluator, FunctionOutput
from porch_embedded.kpt._kptfile import DEFAULT_IMAGE_PREFIX, PipelineFunction, Selector

__all__ = [
    "DEFAULT_IMAGE_PREFIX",
    "FunctionEvaluator",
    "FunctionOutput",
    "PipelineFunction",
    "Selector",
]

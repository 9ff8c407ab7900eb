"""The kpt package model, pure and I/O-free.

A package is a mapping of slash-separated relative file path to text, exactly the
``resources`` map of Porch's PackageRevisionResources. This layer parses Kptfiles,
reads and writes package resources, builds ResourceLists and renders pipelines by
calling an injected ``FunctionEvaluator``, and upgrades a package with kpt's three-way
merge (``merge_package``), compares two packages by file and by resource
(``diff_packages``) and lists what an edit breaks (``check_package``). Catalog functions that run in-process live
in ``porch_embedded.kpt.functions``.
"""

from porch_embedded.kpt._check import FileProblem, check_package
from porch_embedded.kpt._diff import (
    MAX_DIFF_LINES,
    DiffLine,
    FileChange,
    Hunk,
    PackageDiff,
    ResourceChange,
    ResourceKey,
    SplitRow,
    TextDiff,
    diff_packages,
    diff_text,
)
from porch_embedded.kpt._evaluation import FunctionEvaluator, FunctionOutput, InProcessEvaluator, InProcessOutput
from porch_embedded.kpt._kptfile import (
    DEFAULT_IMAGE_PREFIX,
    KPTFILE,
    Condition,
    Kptfile,
    PipelineFunction,
    Selector,
    kptfile_from_object,
    parse_kptfile,
    read_kptfile,
)
from porch_embedded.kpt._package import (
    PACKAGE_CONTEXT,
    PackageError,
    Resource,
    is_resource_file,
    package_context,
    package_dirs,
    read_resources,
    write_resources,
)
from porch_embedded.kpt._resourcelist import UPSTREAM_IDENTIFIER
from porch_embedded.kpt._render import RenderResult, eval_function, render, selector_matches
from porch_embedded.kpt._resourcelist import (
    INTERNAL_ANNOTATIONS,
    FunctionOutputError,
    FunctionResult,
    FunctionResultList,
    build_resource_list,
    config_map,
    parse_resource_list,
    read_resource_list,
    resource_list_object,
)
from porch_embedded.kpt._update import (
    COPY_MERGE,
    FAST_FORWARD,
    FORCE_DELETE_REPLACE,
    RESOURCE_MERGE,
    STRATEGIES,
    merge_package,
)
from porch_embedded.kpt._yaml import (
    YamlError,
    dump_document as dump_yaml,
    load_document as load_yaml,
    new_map,
    parse_yaml,
    split_documents,
    to_plain,
)

__all__ = [
    "MAX_DIFF_LINES",
    "DiffLine",
    "FileChange",
    "FileProblem",
    "Hunk",
    "PackageDiff",
    "ResourceChange",
    "ResourceKey",
    "SplitRow",
    "TextDiff",
    "check_package",
    "diff_packages",
    "diff_text",
    "COPY_MERGE",
    "FAST_FORWARD",
    "FORCE_DELETE_REPLACE",
    "RESOURCE_MERGE",
    "STRATEGIES",
    "UPSTREAM_IDENTIFIER",
    "DEFAULT_IMAGE_PREFIX",
    "INTERNAL_ANNOTATIONS",
    "KPTFILE",
    "PACKAGE_CONTEXT",
    "Condition",
    "FunctionEvaluator",
    "FunctionOutput",
    "FunctionOutputError",
    "InProcessEvaluator",
    "InProcessOutput",
    "FunctionResult",
    "FunctionResultList",
    "Kptfile",
    "PackageError",
    "PipelineFunction",
    "RenderResult",
    "Resource",
    "Selector",
    "YamlError",
    "build_resource_list",
    "config_map",
    "dump_yaml",
    "eval_function",
    "is_resource_file",
    "kptfile_from_object",
    "load_yaml",
    "merge_package",
    "new_map",
    "package_context",
    "package_dirs",
    "parse_kptfile",
    "read_kptfile",
    "parse_resource_list",
    "read_resource_list",
    "resource_list_object",
    "parse_yaml",
    "read_resources",
    "render",
    "selector_matches",
    "split_documents",
    "to_plain",
    "write_resources",
]

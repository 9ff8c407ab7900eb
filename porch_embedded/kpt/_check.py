"""Checking an edited package before it is saved: every problem at once, per file.

A save goes through the render, which stops at the first broken file with one message.
An editor wants the whole list up front, each problem with its file (and the field or
line where kpt names one): YAML that does not parse, a document that is not KRM, a
Kptfile kpt would refuse (in kpt's own words, from ``_kptfile``). Pure and I/O-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from porch_embedded.errors import StatusError
from porch_embedded.kpt._kptfile import KPTFILE, parse_kptfile
from porch_embedded.kpt._package import _Ignore, in_git, is_resource_file, krm_error
from porch_embedded.kpt._yaml import YamlError, load_document, split_documents

__all__ = ["FileProblem", "check_package"]


@dataclass(frozen=True)
class FileProblem:
    """One reason a file cannot be saved as it is; ``field`` names the Kptfile field when kpt names one."""

    path: str
    message: str
    field: str = ""


def check_package(files: Mapping[str, str]) -> list[FileProblem]:
    """Every problem of ``files`` kpt would refuse, in path order; empty when the package reads cleanly."""
    problems: list[FileProblem] = []
    ignore = _Ignore(files)
    for path in sorted(files):
        if in_git(path) or not is_resource_file(path) or ignore.ignored(path):
            continue
        base = path.rsplit("/", 1)[-1]
        if base == KPTFILE:
            try:
                parse_kptfile(files[path], path)
            except StatusError as error:
                field = error.causes[0].field if error.causes else ""
                problems.append(FileProblem(path, error.message, field or ""))
            continue
        texts = [files[path]] if path.endswith(".json") else split_documents(files[path])
        for number, text in enumerate(texts, start=1):
            where = f"document {number}: " if len(texts) > 1 else ""
            try:
                obj = load_document(text)
            except YamlError as exc:
                problems.append(FileProblem(path, f"{where}{exc}"))
                continue
            if obj is None:
                continue
            reason = krm_error(obj, path)
            if reason:
                problems.append(FileProblem(path, f"{where}not a KRM resource: {reason}"))
    return problems

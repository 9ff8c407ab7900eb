"""``read_kptfile`` (libyaml, for reading) gives exactly what ``parse_kptfile`` (ruamel) gives.

Where the two YAML readers could disagree (YAML 1.1 against 1.2 scalars, duplicate keys,
several documents, errors), it must fall back, so the result and any error are the same.
"""

from __future__ import annotations

import pytest

from porch_embedded.errors import StatusError
from porch_embedded.kpt import parse_kptfile, read_kptfile
from porch_embedded.kpt import _kptfile

HEAD = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"
TEXTS = [
    HEAD + "  annotations:\n    config.kubernetes.io/local-config: \"true\"\ninfo:\n  description: d\n",
    HEAD + "  labels:\n    plain: text\n    yes11: on\n    octal12: 0o17\n    exp12: 1e3\n    quoted: \"1e3\"\n",
    HEAD + "  name: twice\n",
    HEAD + "---\napiVersion: v1\nkind: ConfigMap\n",
    HEAD + "info:\n  readinessGates:\n  - conditionType: ready\nstatus:\n  conditions:\n  - type: ready\n"
           "    status: \"True\"\n    reason: r\n",
    HEAD + "upstream:\n  type: git\n  git: {repo: r, directory: d, ref: main}\nupstreamLock:\n  type: git\n"
           "  git: {repo: r, directory: d, ref: main, commit: abc}\n",
    HEAD + "pipeline:\n  mutators:\n  - image: set-labels:v0.1\n    configMap:\n      replicas: 3\n",
    HEAD + "base: &b {x: y}\ninfo:\n  <<: *b\n",
    HEAD + "unknownField: x\n",
    "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata: [\n",
    "",
]


def outcome(read: object, text: str) -> object:
    try:
        return read(text)  # type: ignore[operator]
    except StatusError as error:
        return type(error).__name__, error.message


@pytest.mark.parametrize("text", TEXTS)
def test_reading_a_kptfile_gives_what_parsing_gives(text: str) -> None:
    assert outcome(read_kptfile, text) == outcome(parse_kptfile, text)


def test_a_kptfile_of_text_alone_is_read_without_ruamel(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(text: str, path: str = "Kptfile") -> object:
        raise AssertionError("took the round-trip parser")

    monkeypatch.setattr(_kptfile, "parse_kptfile", refused)
    assert read_kptfile(TEXTS[0]).annotations == {"config.kubernetes.io/local-config": "true"}
    with pytest.raises(AssertionError):
        read_kptfile(TEXTS[1])  # "on" is a boolean to libyaml: only ruamel reads it as YAML 1.2 does

"""ensure-name-substring against the catalog's cases, plus the config forms they leave out.

The catalog cases all run ``kpt fn eval -- prepend=prod-`` (or ``append=-prod``); their
``diff.patch`` files are the fixed image's (krm-functions-catalog PR #1285): resources stay
in their files. The EnsureNameSubstring form, additional name fields, name references and
depends-on parsing are pinned inline below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch_embedded.kpt.functions import run_builtin
from porch_embedded.kpt.functions._ensure_name_substring import ensure_name_substring, with_substring

CASES = ["advanced", "depends-on", "imperative", "legacy-config", "local-config", "prefix", "suffix"]


@pytest.mark.parametrize("case", CASES)
def test_catalog_case(catalog_case: Callable[..., Any], case: str) -> None:
    catalog_case("ensure-name-substring", case).check()


def test_output_items_keep_path_index_and_id_annotations() -> None:
    notes = (
        "      internal.config.kubernetes.io/path: resources.yaml\n"
        "      internal.config.kubernetes.io/index: '1'\n"
        "      internal.config.kubernetes.io/id: '3'\n"
        "      internal.config.kubernetes.io/seqindent: wide\n"
    )
    text = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm\n    annotations:\n" + notes
        + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: f\n  data:\n    prepend: p-\n"
    )
    output = run_builtin(ensure_name_substring, text.encode())
    assert output.exit_code == 0
    assert "name: p-cm" in output.stdout.decode()
    assert notes in output.stdout.decode()


@pytest.mark.parametrize(
    ("name", "substring", "mode", "expected"),
    [
        ("app", "dev-", "prepend", "dev-app"),
        ("app", "-dev", "append", "app-dev"),
        ("dev-app", "dev-", "prepend", "dev-app"),
        ("my-dev-app", "dev-", "prepend", "my-dev-app"),
        ("app-dev", "-dev", "append", "app-dev"),
    ],
)
def test_substring_is_added_once(name: str, substring: str, mode: str, expected: str) -> None:
    assert with_substring(name, substring, mode) == expected


ADVANCED_CONFIG = """\
apiVersion: fn.kpt.dev/v1alpha1
kind: EnsureNameSubstring
metadata:
  name: my-config
substring: prod-
editMode: prepend
additionalNameFields:
- group: dev.example.com
  version: v1
  kind: MyResource
  path: spec/name
"""


def test_ensure_name_substring_kind_updates_additional_name_fields(builtin_call: Callable[..., Any]) -> None:
    run = builtin_call(
        "ensure-name-substring",
        "apiVersion: dev.example.com/v1\nkind: MyResource\nmetadata:\n  name: the-cr\nspec:\n  name: foo\n"
        "---\napiVersion: dev.example.com/v2\nkind: MyResource\nmetadata:\n  name: other\nspec:\n  name: bar\n",
        ADVANCED_CONFIG,
    )
    assert "name: prod-the-cr" in run.text and "name: prod-foo" in run.text
    assert "name: prod-other" in run.text and "name: bar" in run.text  # v2 is not selected
    assert run.results == []


def test_legacy_field_specs_and_append_mode(builtin_call: Callable[..., Any]) -> None:
    config = (
        "apiVersion: fn.kpt.dev/v1alpha1\nkind: EnsureNameSubstring\nmetadata:\n  name: c\n"
        "editMode: append\nsubstring: -prod\nfieldSpecs:\n- kind: MyResource\n  path: spec/name\n"
        "- kind: MyResource\n  path: spec/alias\n  create: true\n"
    )
    run = builtin_call("ensure-name-substring", "apiVersion: x/v1\nkind: MyResource\nmetadata:\n  name: a\nspec:\n  name: b\n", config)
    assert run.text.splitlines()[3:] == ["  name: a-prod", "spec:", "  name: b-prod", "  alias: -prod"]


@pytest.mark.parametrize("kind", ["Namespace", "CustomResourceDefinition", "APIService"])
def test_skipped_kinds_keep_their_names(builtin_call: Callable[..., Any], kind: str) -> None:
    run = builtin_call("ensure-name-substring", f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: keep\n", {"data": {"prepend": "p-"}})
    assert "name: keep" in run.text


def test_kptfile_keeps_its_name(builtin_call: Callable[..., Any]) -> None:
    run = builtin_call("ensure-name-substring", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n", {"data": {"prepend": "p-"}})
    assert "name: pkg" in run.text


REFERENCES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: a
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: a
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: a
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: a
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: a
spec:
  template:
    spec:
      serviceAccountName: sa
      volumes:
      - name: v
        configMap:
          name: cm
      containers:
      - name: c
        envFrom:
        - configMapRef:
            name: cm
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: other-ns
  namespace: b
spec:
  template:
    spec:
      volumes:
      - name: v
        configMap:
          name: cm
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: a
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: reader
subjects:
- kind: ServiceAccount
  name: sa
  namespace: a
- kind: ServiceAccount
  name: sa
  namespace: elsewhere
- kind: User
  name: sa
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: hook
webhooks:
- name: w
  clientConfig:
    service:
      name: svc
      namespace: a
"""


def test_name_references_follow_kustomize_rules(builtin_call: Callable[..., Any]) -> None:
    run = builtin_call("ensure-name-substring", REFERENCES, {"data": {"append": "-x"}})
    docs = run.text.split("---\n")
    web, other, binding, hook = docs[4], docs[5], docs[6], docs[7]
    assert "serviceAccountName: sa-x" in web
    assert web.count("name: cm-x") == 2
    assert "name: cm\n" in other  # a ConfigMap of another namespace is not this one
    assert "kind: ClusterRole\n  name: reader\n" in binding  # roleRef names a ClusterRole, the Role was renamed
    assert binding.count("name: sa-x") == 1 and "  name: sa\n  namespace: elsewhere" in binding
    assert "kind: User\n  name: sa\n" in binding
    assert "name: svc-x\n      namespace: a" in hook


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("apps/namespaces/a/Deployment/web", "apps/namespaces/a/Deployment/p-web"),
        ("apps/namespaces/a/Deployment/gone", "apps/namespaces/a/Deployment/gone"),
        ("/namespaces/a/ConfigMap/cm", "/namespaces/a/ConfigMap/p-cm"),
        ("/Namespace/a", "/Namespace/a"),
        ("apps/namespaces/a/Deployment/web,/namespaces/a/ConfigMap/cm", "apps/namespaces/a/Deployment/p-web,/namespaces/a/ConfigMap/p-cm"),
        ("x/apps/namespaces/a/Deployment/web", "x/apps/namespaces/a/Deployment/web"),
        ("apps/oops/a/Deployment/web", "apps/oops/a/Deployment/web"),
    ],
)
def test_depends_on_points_at_renamed_resources_only(builtin_call: Callable[..., Any], annotation: str, expected: str) -> None:
    documents = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: a\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: a\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n"
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\n  annotations:\n    config.kubernetes.io/depends-on: {annotation}\n"
    )
    run = builtin_call("ensure-name-substring", documents, {"data": {"prepend": "p-"}})
    assert f"config.kubernetes.io/depends-on: {expected}\n" in run.text


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"data": {"prepend": "a-", "append": "-b"}}, "exactly one key"),
        ({"data": {"suffix": "-b"}}, "exactly one key"),
        ({"data": {"prepend": ""}}, "must not be empty"),
        ("apiVersion: fn.kpt.dev/v1alpha1\nkind: EnsureNameSubstring\nmetadata:\n  name: c\n", "must not be empty"),
        ("apiVersion: fn.kpt.dev/v1alpha1\nkind: EnsureNameSubstring\nmetadata:\n  name: c\nsubstring: a\neditMode: middle\n", "editMode"),
        ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n", "unknown functionConfig kind"),
        (None, "functionConfig is missing"),
    ],
)
def test_bad_config_fails_with_an_error_result(config: Any, message: str) -> None:
    if isinstance(config, dict):
        data = "\n".join(f"    {key}: {value!r}" for key, value in config["data"].items())
        config = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: function-input\ndata:\n{data}\n"
    text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n"
    if config is not None:
        text += "functionConfig:\n" + "".join(f"  {line}\n" for line in config.splitlines())
    output = run_builtin(ensure_name_substring, text.encode())
    assert output.exit_code == 1
    assert message in output.stderr

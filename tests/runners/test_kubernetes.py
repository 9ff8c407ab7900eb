"""KubernetesJobRunner against the apiserver double (tests/parts/kube_double.py).

The double answers as a real kube-apiserver does and runs pods with podman; these
tests pin what the runner sends (ConfigMap, Job, owner reference, cleanup) and how
it reads the cluster's answers (401, 404 namespace, 409 name taken, image pull
back-off). No real cluster is involved.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from porch_embedded.errors import RequestEntityTooLarge, ServiceUnavailable
from porch_embedded.runners import FunctionCall
from porch_embedded.runners._kubernetes import KubernetesJobRunner
from tests.parts.fn_images import FnImages
from tests.parts.kube_double import KubeDoubleHandle
from tests.runners.conftest import RESOURCE_LIST, containers_named, job_settings


def leftovers(handle: KubeDoubleHandle) -> dict[str, list[str]]:
    return {res: [o["metadata"]["name"] for o in handle.double.objects_of(res)]
            for res in ("jobs", "pods", "configmaps")}


NOTHING = {"jobs": [], "pods": [], "configmaps": []}


async def test_job_gets_the_resource_list_limits_and_service_account_and_is_cleaned_up(
    kube_double: KubeDoubleHandle, fn_images: FnImages,
) -> None:
    runner = KubernetesJobRunner(job_settings(kube_double, fn_images), timeout_s=60.0)
    output = await runner.run(FunctionCall(image=fn_images.local["identity"]), RESOURCE_LIST)
    assert (output.exit_code, output.stdout) == (0, RESOURCE_LIST)

    sent = {(r.method, r.path.rsplit("/", 1)[-1]): r for r in kube_double.double.requests}
    configmap = sent[("POST", "configmaps")].body
    job = sent[("POST", "jobs")].body
    name = configmap["metadata"]["name"]
    assert configmap["data"] == {"resources.yaml": RESOURCE_LIST.decode()}
    assert job["metadata"] == {**job["metadata"], "name": name, "namespace": "porch-fn-system"}
    spec = job["spec"]
    assert (spec["backoffLimit"], 0 < spec["activeDeadlineSeconds"] <= 60) == (0, True)
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "porch-fn"
    assert pod["restartPolicy"] == "Never"
    assert {"name": "input", "configMap": {"name": name}} in pod["volumes"]
    assert pod["containers"][0]["image"] == fn_images.local["identity"]
    assert pod["containers"][0]["command"][-1] == "/bin/fn"
    owner = sent[("PATCH", name)]
    assert owner.body["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert leftovers(kube_double) == NOTHING


async def test_missing_namespace_is_service_unavailable(kube_double: KubeDoubleHandle, fn_images: FnImages) -> None:
    settings = replace(job_settings(kube_double, fn_images), namespace="no-such-namespace")
    with pytest.raises(ServiceUnavailable, match='namespaces "no-such-namespace" not found'):
        await KubernetesJobRunner(settings).run(FunctionCall(image=fn_images.local["identity"]), RESOURCE_LIST)
    assert leftovers(kube_double) == NOTHING


async def test_wrong_credentials_are_service_unavailable(
    kube_double: KubeDoubleHandle, fn_images: FnImages, tmp_path: Path,
) -> None:
    config = json.loads(kube_double.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "wrong"
    wrong = tmp_path / "wrong-kubeconfig"
    wrong.write_text(json.dumps(config))
    settings = replace(job_settings(kube_double, fn_images), kubeconfig=wrong)
    with pytest.raises(ServiceUnavailable, match="401"):
        await KubernetesJobRunner(settings).run(FunctionCall(image=fn_images.local["identity"]), RESOURCE_LIST)


async def test_a_taken_name_is_retried_with_a_new_one(kube_double: KubeDoubleHandle, fn_images: FnImages) -> None:
    kube_double.double.create("configmaps", "porch-fn-system", {"metadata": {"name": "porch-fn-taken"}, "data": {}})
    runner = KubernetesJobRunner(job_settings(kube_double, fn_images))
    names = iter(["porch-fn-taken", "porch-fn-fresh"])
    runner.new_name = lambda: next(names)
    output = await runner.run(FunctionCall(image=fn_images.local["identity"]), RESOURCE_LIST)
    assert output.exit_code == 0
    assert [r.status for r in kube_double.double.requests if r.method == "POST"] == [409, 201, 201]
    assert leftovers(kube_double) == {**NOTHING, "configmaps": ["porch-fn-taken"]}


async def test_image_the_kubelet_cannot_pull_is_service_unavailable(
    kube_double: KubeDoubleHandle, fn_images: FnImages,
) -> None:
    runner = KubernetesJobRunner(job_settings(kube_double, fn_images), timeout_s=20.0)
    with pytest.raises(ServiceUnavailable, match="ImagePullBackOff"):
        await runner.run(FunctionCall(image="localhost/porch-embedded-test/never-built:v0"), RESOURCE_LIST)
    assert leftovers(kube_double) == NOTHING


async def test_resource_list_larger_than_a_configmap_is_refused_before_any_request(
    kube_double: KubeDoubleHandle, fn_images: FnImages,
) -> None:
    runner = KubernetesJobRunner(job_settings(kube_double, fn_images))
    with pytest.raises(RequestEntityTooLarge, match="ConfigMap"):
        await runner.run(FunctionCall(image=fn_images.local["identity"]), b"x" * (2 * 1024 * 1024))
    assert kube_double.double.requests == []


async def test_caller_cancellation_deletes_the_job_and_stops_its_pod(
    kube_double: KubeDoubleHandle, fn_images: FnImages, containers_conf: Path,
) -> None:
    runner = KubernetesJobRunner(job_settings(kube_double, fn_images), timeout_s=60.0)
    kubelet_prefix = kube_double.double.kubelet.prefix  # type: ignore[attr-defined]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.run, FunctionCall(image=fn_images.local["sleep"]), RESOURCE_LIST)
        while not any(p["status"]["phase"] == "Running" for p in kube_double.double.objects_of("pods")):
            await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert leftovers(kube_double) == NOTHING
    assert containers_named(kubelet_prefix, containers_conf) == []

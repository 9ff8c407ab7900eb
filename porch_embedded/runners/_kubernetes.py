"""KubernetesJobRunner: one function call is one Job in the cluster.

Tested only against a contract double: no Kubernetes cluster can be had where this
was written, so tests/parts/kube_double.py stands in for the kube-apiserver (plus a
job controller and a kubelet that runs the pod's containers with podman), answering
the endpoints used here with the real apiserver's status codes and JSON shapes.
Behaviour against a real cluster (admission, quotas, log rotation, eviction) is not
exercised by the test suite.

The call, step by step: a ConfigMap holds the ResourceList; a Job (backoffLimit 0,
activeDeadlineSeconds from the call's budget, ttlSecondsAfterFinished as a backstop)
runs the function image with the ConfigMap mounted. Its command is a wrapper: an
init container copies a static busybox out of ``wrapper_image`` into an emptyDir,
and the function container runs ``busybox sh -c WRAPPER <entrypoint>``, which feeds
the mounted ResourceList to the entrypoint on stdin, caps stdout with ``head``, and
then prints stdout and stderr base64-framed with their sizes and the exit code, so
the two streams (which pod logs interleave) come back apart and a log cut short is
detected. The ConfigMap is owned by the Job (ownerReferences) so the cluster's
garbage collector removes it if this process dies; otherwise the runner deletes
Job, pods and ConfigMap itself, shielded, whatever happened.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import trio

from porch_embedded.errors import BadRequest, RequestEntityTooLarge, ServiceUnavailable
from porch_embedded.kpt import FunctionOutput
from porch_embedded.runners._protocol import FunctionCall, call_budget_s
from porch_embedded.runners._settings import JobSettings

__all__ = ["KubernetesJobRunner", "WRAPPER_SCRIPT", "job_manifest"]

T = TypeVar("T")

# A ConfigMap's data is limited to 1 MiB by the apiserver (etcd's request limit).
MAX_CONFIGMAP_BYTES = 1024 * 1024 - 4096
_LABEL = "fn.porch.kpt.dev/run"
_IMAGE_ANNOTATION = "fn.porch.kpt.dev/image"
_CONTAINER = "function"
_CLEANUP_BUDGET_S = 30.0
# Waiting reasons after which the kubelet will not start the container by itself.
_HOPELESS = {"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError"}

# Runs as `busybox sh -c WRAPPER porch-fn <entrypoint...>` inside the function image.
WRAPPER_SCRIPT = r"""
B=/porch-fn/bin/busybox
W=/porch-fn/work
{ "$@" </porch-fn/input/resources.yaml 2>"$W/stderr"; echo $? >"$W/rc"; } | "$B" head -c "$PORCH_FN_MAX_OUTPUT" >"$W/stdout"
rc=$("$B" cat "$W/rc" 2>/dev/null || echo 1)
echo "porch-fn:stdout:$("$B" wc -c <"$W/stdout")"
"$B" base64 "$W/stdout"
echo "porch-fn:stderr:$("$B" head -c "$PORCH_FN_MAX_STDERR" "$W/stderr" | "$B" wc -c)"
"$B" head -c "$PORCH_FN_MAX_STDERR" "$W/stderr" | "$B" base64
echo "porch-fn:exit:$rc"
exit "$rc"
""".strip()
_FRAME = re.compile(
    r"porch-fn:stdout:\s*(?P<out_len>\d+)\n(?P<out>[A-Za-z0-9+/=\n]*?)"
    r"porch-fn:stderr:\s*(?P<err_len>\d+)\n(?P<err>[A-Za-z0-9+/=\n]*?)"
    r"porch-fn:exit:(?P<rc>\d+)\s*\Z",
    re.S,
)


class KubernetesJobRunner:
    """Runs any image as a Kubernetes Job (FunctionRunner), via the official client.

    Blocking client calls run in worker threads behind a limiter, each bounded by
    ``request_timeout_s``; they are never abandoned, so every object created is
    known and deleted. The deadline is the call's budget (as for podman): the Job
    gets it as activeDeadlineSeconds and we stop waiting shortly after it. A
    function's failure, deadline or output past the cap comes back as exit code
    and stderr; an unusable cluster (unreachable, forbidden, no such namespace), an
    image the kubelet cannot pull, or a ResourceList over a ConfigMap's 1 MiB raise
    ServiceUnavailable or RequestEntityTooLarge.
    """

    def __init__(
        self,
        settings: JobSettings = JobSettings(),
        *,
        timeout_s: float = 300.0,
        reserve_s: float = 2.0,
        max_output_bytes: int = 32 * 1024 * 1024,
        max_stderr_bytes: int = 1024 * 1024,
        grace_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self._timeout_s = timeout_s
        self._reserve_s = reserve_s
        self._max_output = max_output_bytes
        self._max_stderr = max_stderr_bytes
        self._grace_s = grace_s
        self._limiter = trio.CapacityLimiter(settings.max_parallel)
        self._client_lock = trio.Lock()
        self._api: Any = None
        self.new_name: Callable[[], str] = lambda: f"porch-fn-{secrets.token_hex(5)}"

    def accepts(self, image: str) -> bool:
        return bool(image.strip()) and not image.startswith(("exec:", "/", "."))

    async def run(self, call: FunctionCall, resource_list: bytes) -> FunctionOutput:
        if len(resource_list) > MAX_CONFIGMAP_BYTES:
            raise RequestEntityTooLarge(
                f"the ResourceList for {call.image} is {len(resource_list)} bytes, more than a "
                f"ConfigMap holds ({MAX_CONFIGMAP_BYTES}); run large packages with the podman runner"
            )
        try:
            text = resource_list.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the ResourceList for {call.image} is not UTF-8 text") from exc
        budget = call_budget_s(call, self._timeout_s, self._reserve_s)
        max_output = min(self._max_output, call.max_output_bytes or self._max_output)
        api = await self._client()
        created: list[tuple[str, str]] = []  # (resource, name) of what we made, to delete
        try:
            with trio.move_on_after(budget + self._grace_s) as scope:
                return await self._run_job(api, call.image, text, budget, max_output, created)
            assert scope.cancelled_caught
            return FunctionOutput(
                stdout=b"", exit_code=124,
                stderr=f"function {call.image} did not finish within {budget:.1f} s as a Kubernetes "
                "Job and was stopped\n",
            )
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_BUDGET_S):
                for resource, name in reversed(created):
                    await self._delete(api, resource, name)

    async def _run_job(
        self, api: _Api, image: str, text: str, budget: float, max_output: int,
        created: list[tuple[str, str]],
    ) -> FunctionOutput:
        ns = self.settings.namespace
        for attempt in range(3):
            name = self.new_name()
            try:
                await self._call(api.core.create_namespaced_config_map, ns, api.models.V1ConfigMap.from_dict({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {_LABEL: name}},
                    "data": {"resources.yaml": text},
                }), what=f"create ConfigMap {ns}/{name}")
                created.append(("configmaps", name))  # no checkpoint since the call returned
                break
            except _AlreadyExists:
                if attempt == 2:
                    raise ServiceUnavailable(f"kubernetes: ConfigMap names in {ns} keep colliding") from None
        manifest = job_manifest(
            self.settings, name=name, image=image, deadline_s=max(1, math.ceil(budget)),
            max_output=max_output, max_stderr=self._max_stderr,
        )
        job = await self._call(
            api.batch.create_namespaced_job, ns, api.models.V1Job.from_dict(manifest),
            what=f"create Job {ns}/{name}",
        )
        created.append(("jobs", name))
        await self._call(
            api.core.patch_namespaced_config_map, name, ns,
            {"metadata": {"ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job.metadata.uid,
                "blockOwnerDeletion": False,
            }]}},
            _content_type="application/merge-patch+json",
            what=f"make Job {ns}/{name} own its ConfigMap",
        )
        job_done = await self._wait(api, name, image)
        pod = await self._pod(api, name)
        logs = ""
        if pod is not None and _container_started(pod):
            logs = await self._call(
                api.core.read_namespaced_pod_log, pod.metadata.name, ns, container=_CONTAINER,
                limit_bytes=(max_output + self._max_stderr) * 4 // 3 + 64 * 1024,
                what=f"read the logs of pod {ns}/{pod.metadata.name}",
            )
        return _parse_output(logs, job_done, pod, image, max_output)

    async def _wait(self, api: _Api, name: str, image: str) -> Any:
        """Poll the Job until it has finished; fail fast when its image cannot be pulled."""
        ns = self.settings.namespace
        while True:
            job = await self._call(
                api.batch.read_namespaced_job_status, name, ns, what=f"read Job {ns}/{name}",
            )
            if _job_finished(job):
                return job
            pod = await self._pod(api, name)
            waiting = _waiting_reason(pod)
            if waiting is not None and waiting[0] in _HOPELESS:
                raise ServiceUnavailable(
                    f"kubernetes cannot start function image {image}: {waiting[0]}"
                    + (f": {waiting[1]}" if waiting[1] else "")
                )
            await trio.sleep(self.settings.poll_interval_s)

    async def _pod(self, api: _Api, name: str) -> Any:
        ns = self.settings.namespace
        pods = await self._call(
            api.core.list_namespaced_pod, ns, label_selector=f"job-name={name}",
            what=f"list the pods of Job {ns}/{name}",
        )
        items = sorted(pods.items or (), key=lambda p: str(p.metadata.creation_timestamp or ""))
        return items[-1] if items else None

    async def _delete(self, api: _Api, resource: str, name: str) -> None:
        """Delete what one run created: a Job with its pods, or a ConfigMap; 404 is fine."""
        ns = self.settings.namespace
        deletes = (
            partial(api.batch.delete_namespaced_job, name, ns, propagation_policy="Background"),
            partial(api.core.delete_collection_namespaced_pod, ns, label_selector=f"job-name={name}"),
        ) if resource == "jobs" else (partial(api.core.delete_namespaced_config_map, name, ns),)
        for delete in deletes:
            try:
                await self._call(delete, what=f"clean up function run {ns}/{name}")
            except (_NotFound, ServiceUnavailable):
                pass  # gone already, or ttlSecondsAfterFinished and the GC will do it

    async def _call(self, fn: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T:
        """One blocking client call in a worker thread, its errors translated once."""
        kwargs.setdefault("_request_timeout", self.settings.request_timeout_s)
        return await trio.to_thread.run_sync(
            partial(_translated, fn, *args, what=what, **kwargs), limiter=self._limiter,
        )

    async def _client(self) -> _Api:
        async with self._client_lock:
            if self._api is None:
                self._api = await trio.to_thread.run_sync(_Api.load_blocking, self.settings)
            return self._api


class _Api:
    """The official client's API objects for one configuration."""

    def __init__(self, client: Any) -> None:
        from kubernetes import client as models

        self.models = models
        self.core = models.CoreV1Api(client)
        self.batch = models.BatchV1Api(client)

    @classmethod
    def load_blocking(cls, settings: JobSettings) -> _Api:
        """Read the kubeconfig (or the in-cluster service account); blocking file I/O."""
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            if settings.kubeconfig is None:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return cls(client.ApiClient(configuration))
            return cls(config.new_client_from_config(
                config_file=str(settings.kubeconfig), context=settings.context, persist_config=False,
            ))
        except (ConfigException, OSError) as exc:
            where = settings.kubeconfig or "the in-cluster service account"
            raise ServiceUnavailable(f"cannot configure the kubernetes client from {where}: {exc}") from exc


class _NotFound(ServiceUnavailable):
    """404 from the apiserver (kept apart so cleanup can ignore it)."""


class _AlreadyExists(ServiceUnavailable):
    """409 AlreadyExists on create (a name collision: retried with a new name)."""


def _translated(fn: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T:
    """Call ``fn`` (blocking), turning client and transport errors into ServiceUnavailable."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        detail = _status_message(exc.body) or str(exc.reason or "")
        message = f"kubernetes refused to {what}: {exc.status} {detail}".rstrip()
        if exc.status == 404:
            raise _NotFound(message + " (does the namespace exist?)") from exc
        if exc.status == 409:
            raise _AlreadyExists(message) from exc
        if exc.status in (401, 403):
            raise ServiceUnavailable(message + " (check the service account's RBAC)") from exc
        raise ServiceUnavailable(message) from exc
    except HTTPError as exc:
        raise ServiceUnavailable(f"cannot reach the kubernetes API to {what}: {type(exc).__name__}") from exc
    except ValueError as exc:  # pydantic's ValidationError: an answer the client cannot read
        raise ServiceUnavailable(f"the kubernetes API's answer to {what} does not parse: {exc}") from exc


def _status_message(body: str | None) -> str:
    import json

    try:
        return str(json.loads(body or "").get("message", ""))
    except (ValueError, AttributeError):
        return ""


def job_manifest(
    settings: JobSettings, *, name: str, image: str, deadline_s: int, max_output: int, max_stderr: int,
) -> dict[str, Any]:
    """The Job that runs ``image`` once over the ResourceList in ConfigMap ``name``."""
    entrypoint = settings.entrypoints.get(image) or settings.entrypoints.get(
        re.sub(r"(@.*|:[^/:]*)$", "", image)
    ) or settings.default_entrypoint
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = {
        "limits": {"memory": settings.memory, "cpu": settings.cpu},
        "requests": {"memory": settings.memory, "cpu": settings.cpu},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [{
            "name": "install-wrapper", "image": settings.wrapper_image,
            "imagePullPolicy": settings.image_pull_policy,
            "command": ["/bin/busybox", "cp", "/bin/busybox", "/porch-fn/bin/busybox"],
            "volumeMounts": [{"name": "bin", "mountPath": "/porch-fn/bin"}],
            "securityContext": restricted,
            "resources": {"limits": {"memory": "32Mi", "cpu": "100m"}},
        }],
        "containers": [{
            "name": _CONTAINER, "image": image, "imagePullPolicy": settings.image_pull_policy,
            "command": ["/porch-fn/bin/busybox", "sh", "-c", WRAPPER_SCRIPT, "porch-fn", *entrypoint],
            "env": [
                {"name": "PORCH_FN_MAX_OUTPUT", "value": str(max_output + 1)},
                {"name": "PORCH_FN_MAX_STDERR", "value": str(max_stderr)},
            ],
            "volumeMounts": [
                {"name": "input", "mountPath": "/porch-fn/input", "readOnly": True},
                {"name": "bin", "mountPath": "/porch-fn/bin", "readOnly": True},
                {"name": "work", "mountPath": "/porch-fn/work"},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
            "securityContext": restricted,
            "resources": resources,
        }],
        "volumes": [
            {"name": "input", "configMap": {"name": name}},
            {"name": "bin", "emptyDir": {"sizeLimit": "16Mi"}},
            {"name": "work", "emptyDir": {"sizeLimit": str(max_output + max_stderr + 1024 * 1024)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in settings.image_pull_secrets]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name, "namespace": settings.namespace,
            "labels": {_LABEL: name}, "annotations": {_IMAGE_ANNOTATION: image},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": settings.ttl_after_finished_s,
            "template": {"metadata": {"labels": {_LABEL: name}}, "spec": pod_spec},
        },
    }


def _job_finished(job: Any) -> bool:
    status = job.status
    if status is None:
        return False
    for condition in status.conditions or ():
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return True
    return False


def _job_failure(job: Any) -> str:
    for condition in (job.status.conditions if job.status else None) or ():
        if condition.type == "Failed" and condition.status == "True":
            return f"{condition.reason or 'Failed'}: {condition.message or ''}".rstrip(": ")
    return ""


def _container(pod: Any) -> Any:
    for status in (pod.status.container_statuses if pod and pod.status else None) or ():
        if status.name == _CONTAINER:
            return status
    return None


def _container_started(pod: Any) -> bool:
    status = _container(pod)
    return status is not None and status.state is not None and (
        status.state.running is not None or status.state.terminated is not None
    )


def _waiting_reason(pod: Any) -> tuple[str, str] | None:
    statuses = [
        *((pod.status.init_container_statuses or ()) if pod and pod.status else ()),
        *((pod.status.container_statuses or ()) if pod and pod.status else ()),
    ]
    for status in statuses:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return waiting.reason, waiting.message or ""
    return None


def _parse_output(logs: str, job: Any, pod: Any, image: str, max_output: int) -> FunctionOutput:
    """Unframe the wrapper's log into stdout, stderr and exit code; explain anything else."""
    match = _FRAME.search(logs)
    if match is not None:
        try:
            stdout = base64.b64decode(match["out"])
            stderr = base64.b64decode(match["err"])
        except binascii.Error:
            match = None
        else:
            if len(stdout) == int(match["out_len"]) and len(stderr) == int(match["err_len"]):
                if len(stdout) > max_output:
                    return FunctionOutput(
                        stdout=b"", exit_code=1,
                        stderr=stderr.decode("utf-8", "replace")
                        + f"function {image} wrote more than {max_output} bytes to stdout and was stopped\n",
                    )
                return FunctionOutput(
                    stdout=stdout, stderr=stderr.decode("utf-8", "replace"), exit_code=int(match["rc"]),
                )
            return FunctionOutput(stdout=b"", exit_code=1, stderr=(
                f"the output of function {image} came back cut short from the pod log "
                "(kubelet log rotation? raise containerLogMaxSize or use the podman runner)\n"
            ))
    reasons = [r for r in (_job_failure(job), _terminated_reason(pod)) if r]
    why = "; ".join(reasons) or "it ended without reporting its output"
    code = _terminated_code(pod)
    return FunctionOutput(
        stdout=b"", exit_code=124 if "DeadlineExceeded" in why else (code or 1),
        stderr=f"function {image} failed as a Kubernetes Job: {why}\n",
    )


def _terminated_reason(pod: Any) -> str:
    status = _container(pod)
    terminated = status.state.terminated if status is not None and status.state else None
    if terminated is None:
        return ""
    return f"container {terminated.reason or 'terminated'} (exit code {terminated.exit_code})"


def _terminated_code(pod: Any) -> int:
    status = _container(pod)
    terminated = status.state.terminated if status is not None and status.state else None
    return int(terminated.exit_code) if terminated is not None and terminated.exit_code else 0

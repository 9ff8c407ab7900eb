"""A recorded-contract double of the kube-apiserver: NOT a Kubernetes API server.

No cluster can be had on the test machines, so this small HTTPS server on
127.0.0.1 answers the endpoints porch-embedded uses the way a real apiserver does,
with the request and response bodies of the Kubernetes API reference. It is a double:
no admission, no RBAC of its own, no etcd, one process.

For aggregated mode it answers TokenReview and SubjectAccessReview (201, ``status``
filled from ``user_tokens`` and the ``authorize`` policy; every review recorded),
custom resources of the CRDs installed with ``install_crds`` (create validated
against the CRD's openAPIV3Schema, get, list with resourceVersion, watch as a chunked
stream of JSON event lines from a resourceVersion, an ERROR event with a 410 Expired
Status below ``compacted_rv`` (recorded as 410), update with 409 on a stale resourceVersion, the status
subresource by PUT and merge PATCH (status only, validated), field selectors on metadata.name and
metadata.namespace, deletion held by finalizers (deletionTimestamp set, removed once an update
releases the last one), garbage collection of owned objects), ConfigMaps, Secrets (create, get) and
coordination.k8s.io Leases (create with 409
AlreadyExists, get, update with 409 Conflict on a stale resourceVersion, delete).

For the Job runner it answers:
bearer-token auth (401 Status otherwise), ConfigMaps and Jobs created with 201 (409
AlreadyExists on a taken name, 404 when the namespace does not exist), get, merge
patch, delete (200 Status, with garbage collection of owned objects), pod list and
delete-collection by label selector, and ``pods/{name}/log`` (400 while the
container is waiting). Every request is recorded in ``requests``.

It also plays the job controller and the kubelet: a created Job gets one pod
(labels ``job-name``, ``controller-uid``; ownerReference to the Job), whose
containers a ``Kubelet`` runs. ``PodmanKubelet`` runs them for real with podman —
init containers first, volumes (configMap, emptyDir) as bind mounts, the pod's
user, read-only root, no network — and enforces ``activeDeadlineSeconds``; an image
it does not have stays ``ErrImagePull`` then ``ImagePullBackOff`` until the Job's
deadline, as a kubelet would. Job and pod status use the real shapes
(conditions Complete/Failed with reasons, containerStatuses.state).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateAuthority",
    "FrontProxy",
    "KubeDouble",
    "NoKubelet",
    "PodmanKubelet",
    "Recorded",
    "kube_double",
    "start_front_proxy",
    "start_kube_double",
]

Json = dict[str, Any]
_ROUTES = (
    re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>configmaps|pods|secrets)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log|status))?$"),
    re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/(?P<res>jobs)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"),
    re.compile(r"^/apis/coordination.k8s.io/v1/namespaces/(?P<ns>[^/]+)/(?P<res>leases)(?:/(?P<name>[^/]+))?(?P<sub>)$"),
)
_CUSTOM_ROUTE = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
                           r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$")
_REVIEWS = {
    "/apis/authentication.k8s.io/v1/tokenreviews": "TokenReview",
    "/apis/authorization.k8s.io/v1/subjectaccessreviews": "SubjectAccessReview",
}
_KINDS = {"configmaps": ("v1", "ConfigMap", ""), "pods": ("v1", "Pod", ""), "jobs": ("batch/v1", "Job", "batch"),
          "secrets": ("v1", "Secret", ""), "leases": ("coordination.k8s.io/v1", "Lease", "coordination.k8s.io")}


@dataclass(frozen=True)
class Recorded:
    """One request as the double saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


class StatusReply(Exception):
    """Answer with a metav1.Status of this code and reason."""

    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def body(self) -> Json:
        return {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": self.details, "code": self.code,
        }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _check_fields(selector: str) -> None:
    """400 for a field selector naming a field other than metadata.name and metadata.namespace."""
    for requirement in filter(None, selector.split(",")):
        key = requirement.replace("!=", "=").partition("=")[0].strip()
        if key not in ("metadata.name", "metadata.namespace"):
            raise StatusReply(400, "BadRequest", f'"{key}" is not a known field selector: only "metadata.name", '
                              f'"metadata.namespace"')


def _fields_match(obj: Json, selector: str) -> bool:
    """A field selector of ``metadata.name`` / ``metadata.namespace`` equalities (``=``, ``==``, ``!=``),
    the fields every resource supports; the reader role of the authentication ConfigMap
    allows list and watch only by ``metadata.name``."""
    metadata = obj.get("metadata") or {}
    for requirement in filter(None, selector.split(",")):
        negate = "!=" in requirement
        field_name, _, value = requirement.replace("!=", "=").replace("==", "=").partition("=")
        key = field_name.strip()
        if (metadata.get(key.split(".", 1)[1], "") == value.strip()) == negate:
            return False
    return True


def _matches(obj: Json, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for requirement in filter(None, selector.split(",")):
        key, _, value = requirement.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


class Kubelet:
    """Runs a pod's containers; subclasses decide how."""

    def run_pod(self, double: KubeDouble, ns: str, pod_name: str, deadline: float | None) -> None:
        raise NotImplementedError

    def pod_deleted(self, ns: str, pod_name: str) -> None:
        """The pod was deleted: stop its containers."""

    def stop(self) -> None:
        """Stop everything still running (the double is shutting down)."""


class KubeDouble:
    """The apiserver double's state: objects, namespaces, recorded requests, pod runs."""

    def __init__(self, kubelet: Kubelet, *, token: str, namespaces: set[str]) -> None:
        self.kubelet = kubelet
        self.token = token
        self.namespaces = set(namespaces)
        self.objects: dict[tuple[str, str, str], Json] = {}
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self.volume_root = Path(tempfile.mkdtemp(prefix="kube-double-"))
        self._rv = 0
        self._threads: list[threading.Thread] = []
        self.url = ""
        self.ca_pem = b""
        self._server: ThreadingHTTPServer | None = None
        self.kinds: dict[str, tuple[str, str, str]] = dict(_KINDS)
        self.crds: dict[str, Json] = {}
        """Installed CRDs by plural: their resources are served as custom resources."""
        self.events: list[tuple[int, str, str, Json]] = []
        """(resourceVersion, type, resource, object) of every change, for watches."""
        self.compacted_rv = 0
        """Watches from a resourceVersion below this get 410 Expired, as after etcd compaction."""
        self.changed = threading.Condition(self.lock)
        self.stopping = False
        self.user_tokens: dict[str, Json] = {}
        """TokenReview's table: token -> user ({username, uid, groups, extra})."""
        self.authorize: Callable[[Json], tuple[bool, bool, str]] = _masters_only
        """SubjectAccessReview's policy: spec -> (allowed, denied, reason)."""
        self.reviews: list[Json] = []
        """Every TokenReview and SubjectAccessReview request body, in order."""
        self.before_request: Callable[[str, str, Any], None] | None = None
        """Called with (method, path, body) before each request is answered: tests make the
        cluster change at that moment (another writer), as a real cluster may."""

    def install_crds(self, crds: list[Json]) -> None:
        """Serve the custom resources of ``crds`` (apiextensions.k8s.io/v1 objects)."""
        with self.lock:
            for crd in crds:
                spec = crd["spec"]
                version = next(v for v in spec["versions"] if v.get("storage"))
                self.crds[spec["names"]["plural"]] = crd
                self.kinds[spec["names"]["plural"]] = (f'{spec["group"]}/{version["name"]}',
                                                       spec["names"]["kind"], spec["group"])

    def _changed(self, kind: str, res: str, obj: Json) -> None:
        self.events.append((int(obj["metadata"]["resourceVersion"]), kind, res, json.loads(json.dumps(obj))))
        self.changed.notify_all()

    def put(self, res: str, ns: str, body: Json) -> Json:
        """Create or replace an object as a client with full rights would (tests set the scene)."""
        with self.lock:
            name = body["metadata"]["name"]
            current = self.objects.get((res, ns, name))
            if current is None:
                return self.create(res, ns, json.loads(json.dumps(body)))
            return self.replace(res, ns, name, json.loads(json.dumps(body)), check_rv=False)

    def replace(self, res: str, ns: str, name: str, body: Json, *, sub: str = "", check_rv: bool = True) -> Json:
        """PUT: optimistic concurrency on metadata.resourceVersion; the status subresource
        changes only status and the main resource never does (when the CRD declares it)."""
        with self.lock:
            current = self.objects.get((res, ns, name))
            group = self.kinds[res][2]
            qualified = f'{res}{"." + group if group else ""}'
            if current is None:
                raise StatusReply(404, "NotFound", f'{qualified} "{name}" not found',
                                  {"name": name, "group": group, "kind": res})
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if check_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise StatusReply(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the '
                                  f"object has been modified; please apply your changes to the latest version "
                                  f"and try again", {"name": name, "group": group, "kind": res})
            has_status = "status" in ((self._crd_version(res) or {}).get("subresources") or {})
            if sub == "status":
                new = json.loads(json.dumps(current))
                new["status"] = body.get("status")
                self._validate(res, new)
            else:
                new = body
                sent = body.get("metadata") or {}
                new["metadata"] = dict(current["metadata"])
                for key in ("labels", "annotations", "finalizers", "ownerReferences"):
                    if sent.get(key):  # a PUT replaces these whole: absent or empty is none
                        new["metadata"][key] = sent[key]
                    else:
                        new["metadata"].pop(key, None)
                if has_status:
                    new["status"] = current.get("status")
                    if new.get("status") is None:
                        new.pop("status")
                    if new.get("spec") != current.get("spec"):
                        new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
                self._validate(res, new)
            new["apiVersion"], new["kind"] = self.kinds[res][0], self.kinds[res][1]
            new["metadata"]["resourceVersion"] = self._next_rv()
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                # The last finalizer released: the deletion waiting on it completes.
                del self.objects[(res, ns, name)]
                self._changed("DELETED", res, new)
                return json.loads(json.dumps(new))
            self.objects[(res, ns, name)] = new
            self._changed("MODIFIED", res, new)
            return json.loads(json.dumps(new))

    def _crd_version(self, res: str) -> Json | None:
        crd = self.crds.get(res)
        return next(v for v in crd["spec"]["versions"] if v.get("storage")) if crd else None

    def _validate(self, res: str, obj: Json) -> None:
        """Custom resources are checked against their CRD's schema, as the apiserver does (422)."""
        version = self._crd_version(res)
        if version is None:
            return
        import jsonschema  # the apiserver's structural schema validation, near enough for a double

        schema = version["schema"]["openAPIV3Schema"]
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            kind = self.kinds[res][1]
            causes = [{"reason": "FieldValueInvalid", "message": e.message,
                       "field": ".".join(str(p) for p in e.path)} for e in errors]
            raise StatusReply(422, "Invalid", f'{kind}.{self.kinds[res][2]} "{obj["metadata"].get("name", "")}" '
                              f"is invalid: " + ", ".join(f'{c["field"]}: {c["message"]}' for c in causes),
                              {"name": obj["metadata"].get("name", ""), "group": self.kinds[res][2],
                               "kind": kind, "causes": causes})

    # -- store ---------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def get(self, res: str, ns: str, name: str) -> Json | None:
        with self.lock:
            obj = self.objects.get((res, ns, name))
            return json.loads(json.dumps(obj)) if obj is not None else None

    def objects_of(self, res: str) -> list[Json]:
        with self.lock:
            return [json.loads(json.dumps(o)) for (r, _, _), o in self.objects.items() if r == res]

    def update(self, res: str, ns: str, name: str, change: Callable[[Json], None]) -> None:
        with self.lock:
            obj = self.objects.get((res, ns, name))
            if obj is None:
                return
            change(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._changed("MODIFIED", res, obj)

    def create(self, res: str, ns: str, body: Json) -> Json:
        with self.lock:
            if ns not in self.namespaces:
                raise StatusReply(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
            meta = body.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise StatusReply(422, "Invalid", f"{self.kinds[res][1]} is invalid: metadata.name: Required value")
            if (res, ns, name) in self.objects:
                group = self.kinds[res][2]
                raise StatusReply(
                    409, "AlreadyExists", f'{res}{"." + group if group else ""} "{name}" already exists',
                    {"name": name, "group": group, "kind": res},
                )
            api_version, kind, _ = self.kinds[res]
            body["apiVersion"], body["kind"] = api_version, kind
            if res in self.crds:
                meta["generation"] = 1
                if "status" in (self._crd_version(res) or {}).get("subresources", {}):
                    body.pop("status", None)
                self._validate(res, body)
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=self._next_rv())
            self.objects[(res, ns, name)] = body
            self._changed("ADDED", res, body)
            if res == "jobs":
                body["status"] = {}
                self._start(ns, name, body)
            return json.loads(json.dumps(body))

    def delete(self, res: str, ns: str, name: str, propagation: str = "Background") -> Json:
        with self.lock:
            obj = self.objects.get((res, ns, name))
            if obj is None:
                group = self.kinds[res][2]
                raise StatusReply(404, "NotFound", f'{res}{"." + group if group else ""} "{name}" not found',
                                  {"name": name, "group": group, "kind": res})
            if obj["metadata"].get("finalizers"):
                # Finalizers hold the object: it is marked (once) and answered as it now is (200).
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = _now()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    obj["metadata"]["resourceVersion"] = self._next_rv()
                    self._changed("MODIFIED", res, obj)
                return json.loads(json.dumps(obj))
            del self.objects[(res, ns, name)]
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._changed("DELETED", res, obj)
            if res == "pods":
                self.kubelet.pod_deleted(ns, name)
            if propagation != "Orphan":
                uid = obj["metadata"]["uid"]
                for key, other in list(self.objects.items()):
                    owners = other["metadata"].get("ownerReferences") or ()
                    if any(owner.get("uid") == uid for owner in owners):
                        self.delete(key[0], key[1], key[2], propagation)
        return {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": self.kinds[res][2], "kind": res, "uid": obj["metadata"]["uid"]},
        }

    # -- job controller --------------------------------------------------------------
    def _start(self, ns: str, job_name: str, job: Json) -> None:
        pod_name = f"{job_name}-{secrets.token_hex(3)[:5]}"
        template = json.loads(json.dumps(job["spec"]["template"]))
        labels = dict(template.get("metadata", {}).get("labels") or {})
        uid = job["metadata"]["uid"]
        labels.update({
            "job-name": job_name, "batch.kubernetes.io/job-name": job_name,
            "controller-uid": uid, "batch.kubernetes.io/controller-uid": uid,
        })
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod_name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                "creationTimestamp": _now(), "resourceVersion": self._next_rv(),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": uid,
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": template["spec"],
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [_waiting(c["name"], c["image"], "PodInitializing")
                                          for c in template["spec"].get("initContainers") or ()],
                "containerStatuses": [_waiting(c["name"], c["image"], "PodInitializing")
                                      for c in template["spec"]["containers"]],
            },
        }
        self.objects[("pods", ns, pod_name)] = pod
        job["status"] = {"active": 1, "startTime": _now()}
        active = job["spec"].get("activeDeadlineSeconds")
        deadline = time.monotonic() + active if active else None
        thread = threading.Thread(target=self._run, args=(ns, job_name, pod_name, deadline), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, ns: str, job_name: str, pod_name: str, deadline: float | None) -> None:
        self.kubelet.run_pod(self, ns, pod_name, deadline)
        pod = self.get("pods", ns, pod_name)
        if pod is None:
            return
        state = next((s["state"] for s in pod["status"]["containerStatuses"]), {})
        terminated = state.get("terminated")
        timed_out = deadline is not None and time.monotonic() >= deadline and (
            terminated is None or terminated.get("exitCode") == 137)

        def finish(job: Json) -> None:
            status = job.setdefault("status", {})
            status.pop("active", None)
            if terminated is not None and terminated["exitCode"] == 0 and not timed_out:
                status["succeeded"] = 1
                status["completionTime"] = _now()
                status["conditions"] = [_condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                                        _condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]
            elif timed_out:
                status["failed"] = 1
                status["conditions"] = [_condition("FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline"),
                                        _condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")]
            else:
                status["failed"] = 1
                status["conditions"] = [_condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                                        _condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]

        self.update("jobs", ns, job_name, finish)

    def materialize_volumes(self, ns: str, pod: Json) -> dict[str, Path]:
        """Host directories for the pod's volumes (configMap files, empty dirs)."""
        root = self.volume_root / pod["metadata"]["name"]
        dirs: dict[str, Path] = {}
        for volume in pod["spec"].get("volumes") or ():
            path = root / volume["name"]
            path.mkdir(parents=True)
            path.chmod(0o777)
            if "configMap" in volume:
                cm = self.get("configmaps", ns, volume["configMap"]["name"]) or {}
                for key, value in (cm.get("data") or {}).items():
                    (path / key).write_text(value)
                for key, value in (cm.get("binaryData") or {}).items():
                    (path / key).write_bytes(base64.b64decode(value))
                path.chmod(0o755)
            dirs[volume["name"]] = path
        return dirs

    # -- lifecycle -------------------------------------------------------------------
    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.kubelet.stop()
        for thread in self._threads:
            thread.join(30)
        shutil.rmtree(self.volume_root, ignore_errors=True)


def _masters_only(spec: Json) -> tuple[bool, bool, str]:
    """The default SubjectAccessReview policy: members of system:masters only, no opinion otherwise."""
    if "system:masters" in (spec.get("groups") or ()):
        return True, False, ""
    return False, False, ""


def _waiting(name: str, image: str, reason: str, message: str = "") -> Json:
    waiting = {"reason": reason}
    if message:
        waiting["message"] = message
    return {"name": name, "image": image, "imageID": "", "lastState": {}, "ready": False, "restartCount": 0,
            "started": False, "state": {"waiting": waiting}}


def _condition(kind: str, reason: str, message: str) -> Json:
    now = _now()
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": now, "lastTransitionTime": now}


class PodmanKubelet(Kubelet):
    """Runs pod containers with podman, as the pod spec says (see the module docstring)."""

    def __init__(self, containers_conf: Path) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(containers_conf)}
        self.prefix = f"kube-double-{secrets.token_hex(3)}"
        self._running: dict[str, str] = {}  # container name -> pod name
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def _set_status(self, double: KubeDouble, ns: str, pod_name: str, group: str, name: str, state: Json,
                    phase: str | None = None) -> None:
        def change(pod: Json) -> None:
            for status in pod["status"].get(group) or ():
                if status["name"] == name:
                    status["state"] = state
            if phase:
                pod["status"]["phase"] = phase
        double.update("pods", ns, pod_name, change)

    def run_pod(self, double: KubeDouble, ns: str, pod_name: str, deadline: float | None) -> None:
        pod = double.get("pods", ns, pod_name)
        assert pod is not None
        dirs = double.materialize_volumes(ns, pod)
        security = pod["spec"].get("securityContext") or {}
        steps = [("initContainerStatuses", c) for c in pod["spec"].get("initContainers") or ()]
        steps += [("containerStatuses", c) for c in pod["spec"]["containers"]]
        for group, container in steps:
            image = container["image"]
            if subprocess.run(["podman", "image", "exists", image], env=self.env).returncode != 0:
                self._set_status(double, ns, pod_name, group, container["name"], {"waiting": {
                    "reason": "ErrImagePull", "message": f'failed to pull and unpack image "{image}"'}})
                self._stopping.wait(0.5)
                self._set_status(double, ns, pod_name, group, container["name"], {"waiting": {
                    "reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}})
                while (deadline is None or time.monotonic() < deadline) and not self._stopping.is_set():
                    if double.get("pods", ns, pod_name) is None:
                        return
                    self._stopping.wait(0.1)
                return
            name = f"{self.prefix}-{secrets.token_hex(4)}"
            argv = ["podman", "run", "--rm", "--name", name, "--network=none", "--log-driver=none",
                    "--pull=never", "--user", str(security.get("runAsUser", 65534))]
            if (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
                argv.append("--read-only")
            memory = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            if memory:
                argv += ["--memory", memory.replace("Mi", "m").replace("Gi", "g")]
            for mount in container.get("volumeMounts") or ():
                suffix = ":ro" if mount.get("readOnly") else ""
                argv += ["-v", f"{dirs[mount['name']]}:{mount['mountPath']}{suffix}"]
            for env in container.get("env") or ():
                argv += ["-e", f"{env['name']}={env['value']}"]
            command = [*(container.get("command") or ()), *(container.get("args") or ())]
            if command:
                argv += ["--entrypoint", command[0], image, *command[1:]]
            else:
                argv.append(image)
            started = _now()
            self._set_status(double, ns, pod_name, group, container["name"],
                             {"running": {"startedAt": started}}, phase="Running" if group == "containerStatuses" else None)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._running[name] = pod_name
                process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=self.env)
            try:
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0.01)
                logs, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(name)
                logs, _ = process.communicate()
            finally:
                with self._lock:
                    self._running.pop(name, None)
            code = process.returncode
            double.update("pods", ns, pod_name, lambda pod, c=container["name"], l=logs: pod.setdefault("logs", {}).__setitem__(c, l.decode("utf-8", "replace")))
            terminated = {"exitCode": 137 if code < 0 else code, "reason": "Completed" if code == 0 else "Error",
                          "startedAt": started, "finishedAt": _now()}
            last = group == "containerStatuses"
            self._set_status(double, ns, pod_name, group, container["name"], {"terminated": terminated},
                             phase=("Succeeded" if code == 0 else "Failed") if last or code != 0 else None)
            if code != 0:
                return

    def kill(self, name: str) -> None:
        subprocess.run(["podman", "kill", "--signal", "KILL", name], capture_output=True, env=self.env)
        subprocess.run(["podman", "rm", "--force", "--ignore", "--time", "0", name], capture_output=True, env=self.env)

    def pod_deleted(self, ns: str, pod_name: str) -> None:
        with self._lock:
            names = [name for name, pod in self._running.items() if pod == pod_name]
        for name in names:
            self.kill(name)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            running = list(self._running)
        for name in running:
            self.kill(name)


def _handler(double: KubeDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            code, reply, content_type = 500, {}, "application/json"
            try:
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    raise StatusReply(401, "Unauthorized", "Unauthorized")
                if double.before_request is not None:
                    double.before_request(self.command, url.path, body)
                if (query.get("watch") or [""])[0] in ("1", "true"):
                    code = self._watch(url.path, query)
                    with double.lock:
                        double.requests.append(Recorded(self.command, url.path, query, body, code))
                    return
                code, reply, content_type = self._route(url.path, query, body)
            except StatusReply as status:
                code, reply = status.code, status.body()
            finally:
                with double.lock:
                    double.requests.append(Recorded(self.command, url.path, query, body, code))
            self._reply(code, reply, content_type)

        def _review(self, kind: str, body: Any) -> Json:
            if self.command != "POST" or not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
                raise StatusReply(400, "BadRequest", f"expected a {kind} with a spec")
            with double.lock:
                double.reviews.append(json.loads(json.dumps(body)))
            spec = body["spec"]
            if kind == "TokenReview":
                user = double.user_tokens.get(spec.get("token", ""))
                status: Json = {"authenticated": True, "user": user, "audiences": spec.get("audiences") or []} \
                    if user else {"authenticated": False, "user": {}}
            else:
                allowed, denied, reason = double.authorize(spec)
                status = {"allowed": allowed, **({"denied": True} if denied else {}),
                          **({"reason": reason} if reason else {})}
            return {"apiVersion": body.get("apiVersion"), "kind": kind, "metadata": {"creationTimestamp": None},
                    "spec": spec, "status": status}

        def _match(self, path: str) -> tuple[str, str | None, str | None, str | None]:
            """(resource, namespace, name, subresource) of a path the double serves."""
            match = next((m for m in (r.match(path) for r in _ROUTES) if m), None)
            if match is None:
                custom = _CUSTOM_ROUTE.match(path)
                if custom is None or custom["res"] not in double.crds:
                    raise StatusReply(404, "NotFound", "the server could not find the requested resource")
                return custom["res"], custom["ns"], custom["name"], custom["sub"]
            return match["res"], match["ns"], match["name"], match["sub"]

        def _watch(self, path: str, query: dict[str, list[str]]) -> int:
            """A watch: JSON event lines, chunked, from resourceVersion until timeoutSeconds."""
            res, ns, name, _ = self._match(path)
            fields = (query.get("fieldSelector") or [""])[0]
            _check_fields(fields)  # a bad selector is a 400 Status, before the watch's 200
            since = int((query.get("resourceVersion") or ["0"])[0] or 0)
            timeout = float((query.get("timeoutSeconds") or ["30"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with double.lock:
                expired = bool(since) and since < double.compacted_rv
            if expired:
                # As the apiserver's watch cache answers: 200, then one ERROR event with a 410 Status.
                status = StatusReply(410, "Expired", f"too old resource version: {since} ({double.compacted_rv})")
                line = json.dumps({"type": "ERROR", "object": status.body()}).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n0\r\n\r\n")
                self.close_connection = True
                return 410
            ends = time.monotonic() + timeout
            sent = since
            try:
                while True:
                    with double.lock:
                        batch = [(rv, kind, obj) for rv, kind, r, obj in double.events
                                 if rv > sent and r == res and (ns is None or obj["metadata"].get("namespace") == ns)
                                 and _fields_match(obj, fields)]
                        if not batch:
                            left = ends - time.monotonic()
                            if left <= 0 or double.stopping:
                                break
                            double.changed.wait(left)
                            continue
                    for rv, kind, obj in batch:
                        line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                        sent = rv
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            self.close_connection = True
            return 200

        def _route(self, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
            if path in _REVIEWS:
                return 201, self._review(_REVIEWS[path], body), "application/json"
            res, ns, name, sub = self._match(path)
            method = self.command
            if ns is None:
                if method != "GET" or name is not None:
                    raise StatusReply(405, "MethodNotAllowed", f"{method} is not supported on {res} of all namespaces")
                with double.lock:
                    items = json.loads(json.dumps([o for (r, _, _), o in double.objects.items() if r == res]))
                api_version, kind, _ = double.kinds[res]
                return 200, {"apiVersion": api_version, "kind": f"{kind}List",
                             "metadata": {"resourceVersion": str(double._rv)}, "items": items}, "application/json"
            if method == "PUT" and name is not None:
                if not isinstance(body, dict):
                    raise StatusReply(400, "BadRequest", "the body must be an object")
                return 200, double.replace(res, ns, name, body, sub=sub or ""), "application/json"
            selector = (query.get("labelSelector") or [""])[0]
            fields = (query.get("fieldSelector") or [""])[0]
            _check_fields(fields)
            if name is None:
                if method == "POST" and res != "pods":
                    return 201, double.create(res, ns, body or {}), "application/json"
                if method in ("GET", "DELETE"):
                    with double.lock:
                        items = [o for (r, n, _), o in double.objects.items()
                                 if r == res and n == ns and _matches(o, selector) and _fields_match(o, fields)]
                        items = json.loads(json.dumps(items))
                        if method == "DELETE":
                            for item in items:
                                double.delete(res, ns, item["metadata"]["name"])
                    for item in items:
                        item.pop("logs", None)
                    api_version, kind, _ = double.kinds[res]
                    return 200, {"apiVersion": api_version, "kind": f"{kind}List",
                                 "metadata": {"resourceVersion": str(double._rv)}, "items": items}, "application/json"
                raise StatusReply(405, "MethodNotAllowed", f"{method} is not supported on {res}")
            obj = double.get(res, ns, name)
            group = double.kinds[res][2]
            missing = StatusReply(404, "NotFound", f'{res}{"." + group if group else ""} "{name}" not found',
                                  {"name": name, "group": group, "kind": res})
            if method == "GET" and sub == "log":
                if obj is None:
                    raise missing
                container = (query.get("container") or [obj["spec"]["containers"][0]["name"]])[0]
                state = next((s["state"] for s in obj["status"]["containerStatuses"] if s["name"] == container), {})
                if "waiting" in state:
                    raise StatusReply(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                                      f'{state["waiting"].get("reason", "")}')
                logs = (obj.get("logs") or {}).get(container, "").encode()
                limit = int((query.get("limitBytes") or ["0"])[0])
                return 200, logs[:limit] if limit else logs, "text/plain"
            if method == "GET":
                if obj is None:
                    raise missing
                obj.pop("logs", None)
                return 200, obj, "application/json"
            if method == "PATCH":
                if obj is None:
                    raise missing
                content_type = self.headers.get("Content-Type", "")
                if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                    raise StatusReply(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
                with double.lock:
                    current = double.objects[(res, ns, name)]
                    sent_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
                    if sent_rv is not None and sent_rv != current["metadata"]["resourceVersion"]:
                        # A resourceVersion in a patch is a precondition, as in a PUT.
                        raise StatusReply(409, "Conflict", f'Operation cannot be fulfilled on {res}'
                                          f'{"." + group if group else ""} "{name}": the object has been modified; '
                                          f"please apply your changes to the latest version and try again",
                                          {"name": name, "group": group, "kind": res})
                    patched = _merge_patch(current, body)
                    if "status" in ((double._crd_version(res) or {}).get("subresources") or {}):
                        # The status subresource patches status only; the main resource never does.
                        if sub == "status":
                            patched = {**json.loads(json.dumps(current)), "status": patched.get("status")}
                        else:
                            patched["status"] = current.get("status")
                            if patched["status"] is None:
                                patched.pop("status")
                            if patched.get("spec") != current.get("spec"):
                                patched["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
                        double._validate(res, patched)
                    patched["metadata"]["resourceVersion"] = double._next_rv()
                    double.objects[(res, ns, name)] = patched
                    double._changed("MODIFIED", res, patched)
                    return 200, json.loads(json.dumps(patched)), "application/json"
            if method == "DELETE":
                propagation = (query.get("propagationPolicy") or [(body or {}).get("propagationPolicy") or "Background"])[0]
                return 200, double.delete(res, ns, name, propagation), "application/json"
            raise StatusReply(405, "MethodNotAllowed", f"{method} is not supported")

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    return Handler


def _self_signed(directory: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-double")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "tls.crt").write_bytes(cert_pem)
    (directory / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return directory / "tls.crt", directory / "tls.key", cert_pem


def _serve_https(directory: Path, handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str, bytes]:
    """Serve ``handler`` on https://127.0.0.1 with a fresh self-signed certificate (in a thread)."""
    cert, key, cert_pem = _self_signed(directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}", cert_pem


def start_kube_double(directory: Path, kubelet: Kubelet, *, namespaces: set[str]) -> tuple[KubeDouble, Path]:
    """Start the double on 127.0.0.1 (HTTPS); returns it and a kubeconfig pointing at it."""
    double = KubeDouble(kubelet, token=secrets.token_urlsafe(16), namespaces=namespaces)
    double._server, double.url, double.ca_pem = _serve_https(directory, _handler(double))
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "double",
        "clusters": [{"name": "double", "cluster": {
            "server": double.url, "certificate-authority-data": base64.b64encode(double.ca_pem).decode()}}],
        "users": [{"name": "runner", "user": {"token": double.token}}],
        "contexts": [{"name": "double", "context": {"cluster": "double", "user": "runner"}}],
    }))
    return double, kubeconfig


@dataclass
class KubeDoubleHandle:
    """A running double and the kubeconfig that reaches it."""

    double: KubeDouble
    kubeconfig: Path
    namespace: str = "porch-fn-system"
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def kube_double(tmp_path: Path, containers_conf: Path) -> Iterator[KubeDoubleHandle]:
    """A fresh apiserver double (namespace porch-fn-system) with a podman kubelet; always stopped."""
    kubelet = PodmanKubelet(containers_conf)
    double, kubeconfig = start_kube_double(tmp_path, kubelet, namespaces={"porch-fn-system"})
    try:
        yield KubeDoubleHandle(double, kubeconfig)
    finally:
        double.stop()


class NoKubelet(Kubelet):
    """For doubles that run no pods: a Job's pod stays Pending."""

    def run_pod(self, double: KubeDouble, ns: str, pod_name: str, deadline: float | None) -> None:
        return None


@dataclass(frozen=True)
class CertificateAuthority:
    """A test CA on disk that issues client certificates (CN = user, O = groups)."""

    cert_file: Path
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, directory: Path, name: str) -> CertificateAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_file = directory / f"{name}.crt"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(cert_file, key, certificate)

    def issue(self, directory: Path, common_name: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A client certificate (clientAuth) and its key, as files: (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = directory / f"{self.certificate.subject.rfc4514_string().replace('=', '-')}-{common_name}"
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file


_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host",
                          "authorization", "proxy-authorization", "te", "trailer", "upgrade"})


@dataclass
class FrontProxy:
    """Plays the kube-apiserver's aggregator in front of porch-embedded (a double too).

    Callers (kubectl) authenticate to it with a bearer token of ``users``; it drops their
    Authorization and any X-Remote-* they sent, and forwards the request over TLS with the
    front-proxy client certificate, naming the user in X-Remote-User, one X-Remote-Group
    per group and X-Remote-Extra-<escaped key> per extra value, as the aggregator does.
    Responses (watches included) stream back unchanged. Not an apiserver: no discovery
    merging, no RBAC of its own.
    """

    backend: str
    backend_ca: Path
    client_cert: tuple[Path, Path]
    users: dict[str, Json] = field(default_factory=dict)
    """token -> {"username", "groups", "extra"}."""
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    ca_pem: bytes = b""

    def kubeconfig(self, directory: Path, token: str) -> Path:
        path = directory / f"aggregator-{secrets.token_hex(3)}.kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "aggregator",
            "clusters": [{"name": "aggregator", "cluster": {
                "server": self.url, "certificate-authority-data": base64.b64encode(self.ca_pem).decode()}}],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [{"name": "aggregator", "context": {"cluster": "aggregator", "user": "user",
                                                            "namespace": "default"}}],
        }))
        return path


def _front_proxy_handler(proxy: FrontProxy) -> type[BaseHTTPRequestHandler]:
    import httpx
    from urllib.parse import quote

    context = ssl.create_default_context(cafile=str(proxy.backend_ca))
    context.load_cert_chain(str(proxy.client_cert[0]), str(proxy.client_cert[1]))
    client = httpx.Client(verify=context, timeout=httpx.Timeout(30, read=None))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            """The request body, by Content-Length or chunked (kubectl streams files chunked)."""
            if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def _handle(self) -> None:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            user = proxy.users.get(token) if scheme.lower() == "bearer" else None
            body = self._body()
            if user is None:
                data = json.dumps(StatusReply(401, "Unauthorized", "Unauthorized").body()).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            headers = [(k, v) for k, v in self.headers.items()
                       if k.lower() not in _HOP_HEADERS and not k.lower().startswith("x-remote-")]
            headers.append(("X-Remote-User", user["username"]))
            headers += [("X-Remote-Group", group) for group in user.get("groups") or ()]
            for key, values in (user.get("extra") or {}).items():
                headers += [(f"X-Remote-Extra-{quote(key, safe='')}", value) for value in values]
            request = client.build_request(self.command, proxy.backend + self.path, headers=headers, content=body)
            response = client.send(request, stream=True)
            try:
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in response.iter_raw():
                        if chunk:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
            finally:
                response.close()

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _handle

    return Handler


def start_front_proxy(directory: Path, backend: str, backend_ca: Path, client_cert: tuple[Path, Path]) -> FrontProxy:
    """Start the aggregator double on https://127.0.0.1 (kubectl sends tokens over TLS only)."""
    proxy = FrontProxy(backend, backend_ca, client_cert)
    directory.mkdir(parents=True, exist_ok=True)
    proxy._server, proxy.url, proxy.ca_pem = _serve_https(directory, _front_proxy_handler(proxy))
    return proxy

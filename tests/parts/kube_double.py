"""A recorded-contract double of the kube-apiserver, for the Kubernetes Job runner.

No cluster can be had on the test machines, so this small HTTPS server on
127.0.0.1 answers the endpoints the Job runner uses the way a real apiserver does:
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

__all__ = ["KubeDouble", "PodmanKubelet", "Recorded", "kube_double", "start_kube_double"]

Json = dict[str, Any]
_ROUTES = (
    re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>configmaps|pods)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log|status))?$"),
    re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/(?P<res>jobs)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"),
)
_KINDS = {"configmaps": ("v1", "ConfigMap", ""), "pods": ("v1", "Pod", ""), "jobs": ("batch/v1", "Job", "batch")}


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

    def create(self, res: str, ns: str, body: Json) -> Json:
        with self.lock:
            if ns not in self.namespaces:
                raise StatusReply(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
            meta = body.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise StatusReply(422, "Invalid", f"{_KINDS[res][1]} is invalid: metadata.name: Required value")
            if (res, ns, name) in self.objects:
                group = _KINDS[res][2]
                raise StatusReply(
                    409, "AlreadyExists", f'{res}{"." + group if group else ""} "{name}" already exists',
                    {"name": name, "group": group, "kind": res},
                )
            api_version, kind, _ = _KINDS[res]
            body["apiVersion"], body["kind"] = api_version, kind
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=self._next_rv())
            self.objects[(res, ns, name)] = body
            if res == "jobs":
                body["status"] = {}
                self._start(ns, name, body)
            return json.loads(json.dumps(body))

    def delete(self, res: str, ns: str, name: str, propagation: str = "Background") -> Json:
        with self.lock:
            obj = self.objects.pop((res, ns, name), None)
            if obj is None:
                group = _KINDS[res][2]
                raise StatusReply(404, "NotFound", f'{res}{"." + group if group else ""} "{name}" not found',
                                  {"name": name, "group": group, "kind": res})
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
            "details": {"name": name, "group": _KINDS[res][2], "kind": res, "uid": obj["metadata"]["uid"]},
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
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.kubelet.stop()
        for thread in self._threads:
            thread.join(30)
        shutil.rmtree(self.volume_root, ignore_errors=True)


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
                code, reply, content_type = self._route(url.path, query, body)
            except StatusReply as status:
                code, reply = status.code, status.body()
            finally:
                with double.lock:
                    double.requests.append(Recorded(self.command, url.path, query, body, code))
            self._reply(code, reply, content_type)

        def _route(self, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, str]:
            match = next((m for m in (r.match(path) for r in _ROUTES) if m), None)
            if match is None:
                raise StatusReply(404, "NotFound", "the server could not find the requested resource")
            ns, res, name, sub = match["ns"], match["res"], match["name"], match["sub"]
            method = self.command
            selector = (query.get("labelSelector") or [""])[0]
            if name is None:
                if method == "POST" and res in ("configmaps", "jobs"):
                    return 201, double.create(res, ns, body or {}), "application/json"
                if method in ("GET", "DELETE"):
                    with double.lock:
                        items = [o for (r, n, _), o in double.objects.items()
                                 if r == res and n == ns and _matches(o, selector)]
                        items = json.loads(json.dumps(items))
                        if method == "DELETE":
                            for item in items:
                                double.delete(res, ns, item["metadata"]["name"])
                    for item in items:
                        item.pop("logs", None)
                    api_version, kind, _ = _KINDS[res]
                    return 200, {"apiVersion": api_version, "kind": f"{kind}List",
                                 "metadata": {"resourceVersion": str(double._rv)}, "items": items}, "application/json"
                raise StatusReply(405, "MethodNotAllowed", f"{method} is not supported on {res}")
            obj = double.get(res, ns, name)
            group = _KINDS[res][2]
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
                    patched = _merge_patch(current, body)
                    patched["metadata"]["resourceVersion"] = double._next_rv()
                    double.objects[(res, ns, name)] = patched
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


def start_kube_double(directory: Path, kubelet: Kubelet, *, namespaces: set[str]) -> tuple[KubeDouble, Path]:
    """Start the double on 127.0.0.1 (HTTPS); returns it and a kubeconfig pointing at it."""
    double = KubeDouble(kubelet, token=secrets.token_urlsafe(16), namespaces=namespaces)
    cert, key, cert_pem = _self_signed(directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    double._server = server
    double.url = f"https://127.0.0.1:{server.server_address[1]}"
    double.ca_pem = cert_pem
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "double",
        "clusters": [{"name": "double", "cluster": {
            "server": double.url, "certificate-authority-data": base64.b64encode(cert_pem).decode()}}],
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

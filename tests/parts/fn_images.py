"""KRM function images built locally from a static-busybox rootfs, and pushed to a registry.

No internet is needed: each image is a tar of static busybox (with applet
symlinks), a shell-script KRM function at /bin/fn (the entrypoint), an
/etc/passwd with nobody, a /tmp of mode 1777 (``--read-only`` keeps the image's
mode) and a /scratch of mode 1777 (writable for anyone unless the root is read-only:
``--read-only`` mounts no tmpfs there), imported with ``podman import``. Every image runs as nobody (``USER
65534``) except ``probe``, which runs as root unless the runner says otherwise, so
that its report shows the runner's own confinement. Built once per session, pushed to the
session's registry with its credentials, and removed (local and pulled copies)
at the end. ``containers_conf`` is the podman configuration this host needs
(runc, no default ulimits) and is used for every podman call of the tests.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.parts.registry import Registry

__all__ = ["FnImages", "build_rootfs", "containers_conf", "fn_images", "podman_env"]

# Images without a USER of their own (they run as root by default).
ROOT_BY_DEFAULT = frozenset({"probe"})
APPLETS = ("sh", "cat", "sed", "sleep", "nc", "id", "touch", "yes", "echo", "cp", "head", "wc", "base64")

# name -> shell script; every function reads its whole stdin first, as real ones do.
SCRIPTS: Mapping[str, str] = {
    "identity": "exec cat\n",
    "add-label": "exec sed 's/^  metadata:$/  metadata:\\n    labels:\\n      fn: sed/'\n",
    "fail": "cat >/dev/null\necho 'set-thing: the functionConfig has no data.thing' >&2\nexit 1\n",
    "sleep": "cat >/dev/null\nexec sleep 3600\n",
    "flood": "cat >/dev/null\nexec yes 'kind: ConfigMap-flood-flood-flood-flood-flood'\n",
    "invalid-yaml": "cat >/dev/null\necho 'items: [unclosed: {'\n",
    # Reports what confines it. It runs as root unless told otherwise (its image sets
    # no USER), writes to /scratch (writable for anyone unless the root is read-only), connects
    # to the "probe-target: HOST:PORT" its functionConfig names (a listener on the host's
    # loopback, which a container on the host's network reaches), and reads its cgroup limits (v1, or v2's files).
    "probe": (
        "input=$(cat)\n"
        "target=$(printf '%s\\n' \"$input\" | sed -n 's/^ *probe-target: *//p')\n"
        "echo \"uid=$(id -u)\" >&2\n"
        "if touch /scratch/probe 2>/dev/null; then echo rootfs=writable >&2; else echo rootfs=readonly >&2; fi\n"
        "if echo x | nc -w 2 \"${target%:*}\" \"${target##*:}\" >/dev/null 2>&1; then echo network=reached >&2;"
        " else echo network=none >&2; fi\n"
        "cg=/sys/fs/cgroup\n"
        "if [ -f $cg/memory.max ]; then\n"
        "  echo \"memory=$(cat $cg/memory.max) pids=$(cat $cg/pids.max) cpu=$(sed 's# #/#' $cg/cpu.max)\" >&2\n"
        "else\n"
        "  echo \"memory=$(cat $cg/memory/memory.limit_in_bytes) pids=$(cat $cg/pids/pids.max)"
        " cpu=$(cat $cg/cpu/cpu.cfs_quota_us)/$(cat $cg/cpu/cpu.cfs_period_us)\" >&2\n"
        "fi\n"
        "printf 'apiVersion: config.kubernetes.io/v1\\nkind: ResourceList\\nitems: []\\n'\n"
    ),
}


@dataclass(frozen=True)
class FnImages:
    """The test function images: ``local[name]`` in local storage, ``remote[name]`` in the registry."""

    local: dict[str, str] = field(default_factory=dict)
    remote: dict[str, str] = field(default_factory=dict)
    scripts_dir: Path = Path()


def podman_env(conf: Path) -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@pytest.fixture(scope="session")
def containers_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The containers.conf podman needs on this host (runc, no default ulimits)."""
    path = tmp_path_factory.mktemp("podman") / "containers.conf"
    path.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
    return path


def build_rootfs(directory: Path, script: str) -> Path:
    """A rootfs tar next to ``directory`` (``<directory>.tar``) with busybox and /bin/fn = ``script``."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tar_path = directory.with_suffix(".tar")

    def info(name: str, kind: bytes, mode: int, **extra: object) -> tarfile.TarInfo:
        item = tarfile.TarInfo(name)
        item.type, item.mode = kind, mode
        for key, value in extra.items():
            setattr(item, key, value)
        return item

    with tarfile.open(tar_path, "w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("scratch", 0o1777), ("dev", 0o755)):
            tar.addfile(info(name, tarfile.DIRTYPE, mode))
        tar.add(busybox, "bin/busybox")
        for applet in APPLETS:
            tar.addfile(info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, linkname="busybox"))
        for name, text, mode in (
            ("bin/fn", "#!/bin/sh\n" + script, 0o755),
            ("etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n", 0o644),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644),
        ):
            data = text.encode()
            item = info(name, tarfile.REGTYPE, mode, size=len(data))
            tar.addfile(item, io.BytesIO(data))
    return tar_path


@pytest.fixture(scope="session")
def fn_images(
    tmp_path_factory: pytest.TempPathFactory, containers_conf: Path, oci_registry: Registry,
) -> Iterator[FnImages]:
    """Every function in SCRIPTS as a local image and as an image in the session's registry."""
    env = podman_env(containers_conf)
    work = tmp_path_factory.mktemp("fn-images")
    tag = secrets.token_hex(4)
    images = FnImages(scripts_dir=work)
    try:
        for name, script in SCRIPTS.items():
            tar_path = build_rootfs(work / name, script)
            local = f"localhost/porch-embedded-test/fn-{name}:{tag}"
            user = [] if name in ROOT_BY_DEFAULT else ["--change", "USER 65534"]
            subprocess.run(
                ["podman", "import", "--quiet", "--change", 'ENTRYPOINT ["/bin/fn"]', *user,
                 str(tar_path), local],
                check=True, capture_output=True, env=env,
            )
            images.local[name] = local
            remote = oci_registry.image(f"porch-embedded-test/fn-{name}", tag)
            subprocess.run(
                ["podman", "push", "--quiet", "--tls-verify=false",
                 "--authfile", str(oci_registry.auth_file), local, remote],
                check=True, capture_output=True, env=env,
            )
            images.remote[name] = remote
        yield images
    finally:
        everything = [*images.local.values(), *images.remote.values()]
        subprocess.run(["podman", "rmi", "--force", "--ignore", *everything], capture_output=True, env=env)

"""PodmanRunner against real podman: confinement, registry pulls, cancellation, no orphans."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trio
import trio.testing

from porch_embedded.errors import ServiceUnavailable
from porch_embedded.runners import PodmanSettings
from porch_embedded.runners._podman import PodmanRunner, registry_host
from tests.parts.fn_images import FnImages, podman_env
from tests.parts.registry import Registry
from tests.runners.conftest import RESOURCE_LIST, containers_named, run_image


@dataclass
class ProbeTarget:
    """A listener on the host's loopback that a container sharing the host's network reaches."""

    address: str  # HOST:PORT, given to the probe in its functionConfig
    connections: int = 0

    def resource_list(self) -> bytes:
        return (b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n"
                b"  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: probe\n"
                b"  data:\n    probe-target: " + self.address.encode() + b"\n")


@pytest.fixture
def host_network_conf(containers_conf: Path, tmp_path: Path) -> Path:
    """This host's containers.conf, with containers on the host's network unless told otherwise.

    With it a container that is not given ``--network=none`` reaches the host's loopback,
    so a runner that lost the flag is caught by a listener on 127.0.0.1 (no traffic ever
    leaves loopback); with the flag, the container has only a ``lo`` of its own.
    """
    conf = tmp_path / "containers-host-network.conf"
    conf.write_text(containers_conf.read_text().replace("[containers]\n", '[containers]\nnetns = "host"\n', 1))
    return conf


@pytest.fixture
async def probe_target(nursery: trio.Nursery) -> ProbeTarget:
    """A listener on the host's 127.0.0.1, counting connections."""
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen()
    target = ProbeTarget(f"127.0.0.1:{sock.getsockname()[1]}")

    async def accept() -> None:
        with sock:
            while True:
                connection, _ = await sock.accept()
                target.connections += 1
                connection.close()

    nursery.start_soon(accept)
    return target


async def test_function_runs_as_nobody_without_network_on_a_read_only_root_within_limits(
    fn_images: FnImages, podman_settings: PodmanSettings, probe_target: ProbeTarget, host_network_conf: Path,
) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="never", cpus=0.5, containers_conf=host_network_conf))
    output = await run_image(runner, fn_images.local["probe"], probe_target.resource_list())
    assert output.exit_code == 0, output.stderr
    await trio.testing.wait_all_tasks_blocked()  # the listener has taken any connection
    assert output.stderr.split() == [
        "uid=65534", "rootfs=readonly", "network=none",
        f"memory={64 * 1024 * 1024}", "pids=64", "cpu=50000/100000",
    ]
    assert probe_target.connections == 0


async def test_the_probe_sees_an_unconfined_container_as_unconfined(
    fn_images: FnImages, podman_settings: PodmanSettings, probe_target: ProbeTarget, host_network_conf: Path,
) -> None:
    """The probe itself can tell: as root, on a writable root, reaching the listener, unlimited."""
    ran = await trio.run_process(
        ["podman", "run", "--rm", "--interactive", "--pull=never", "--log-driver=none",
         "--name", f"{podman_settings.name_prefix}-open", fn_images.local["probe"]],
        stdin=probe_target.resource_list(), capture_stdout=True, capture_stderr=True,
        env=podman_env(host_network_conf),
    )
    report = ran.stderr.decode().split()
    await trio.testing.wait_all_tasks_blocked()  # the listener has taken the connection
    assert report[:3] == ["uid=0", "rootfs=writable", "network=reached"]
    assert f"memory={64 * 1024 * 1024}" not in report and "pids=64" not in report
    assert "cpu=50000/100000" not in report
    assert probe_target.connections == 1


async def test_image_is_pulled_from_a_private_registry_with_the_auth_file(
    fn_images: FnImages, podman_settings: PodmanSettings, containers_conf: Path,
) -> None:
    image = fn_images.remote["identity"]
    subprocess.run(["podman", "rmi", "--force", "--ignore", image], check=True, capture_output=True,
                   env=podman_env(containers_conf))
    runner = PodmanRunner(podman_settings)
    first = await run_image(runner, image)
    second = await run_image(runner, image)
    assert first.stdout == second.stdout == RESOURCE_LIST
    assert image in runner._present


async def test_pull_policy_always_pulls_again_and_still_runs(
    fn_images: FnImages, podman_settings: PodmanSettings,
) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="always"))
    for _ in range(2):
        output = await run_image(runner, fn_images.remote["add-label"])
        assert output.exit_code == 0 and b"fn: sed" in output.stdout


async def test_pull_without_credentials_is_refused_for_lack_of_them_and_works_with_them(
    fn_images: FnImages, podman_settings: PodmanSettings,
) -> None:
    image = fn_images.remote["identity"]  # exists in the registry, which requires basic auth
    anonymous = PodmanRunner(replace(podman_settings, auth_file=None, pull_policy="always"))
    with pytest.raises(ServiceUnavailable, match=f"cannot pull function image {image}: .*unauthorized") as refused:
        await run_image(anonymous, image)
    assert "manifest unknown" not in str(refused.value)
    authorized = PodmanRunner(replace(podman_settings, pull_policy="always"))
    assert (await run_image(authorized, image)).stdout == RESOURCE_LIST


async def test_missing_image_with_pull_policy_never_cannot_start(podman_settings: PodmanSettings) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="never"))
    with pytest.raises(ServiceUnavailable, match="podman could not start function image"):
        await run_image(runner, "localhost/porch-embedded-test/never-built:v0")


async def test_caller_cancellation_kills_the_container(
    fn_images: FnImages, podman_settings: PodmanSettings, containers_conf: Path,
) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="never"))
    async with trio.open_nursery() as nursery:
        async def run_and_forget() -> None:
            await run_image(runner, fn_images.local["sleep"])
            raise AssertionError("the sleeping function returned")

        nursery.start_soon(run_and_forget)
        while not containers_named(podman_settings.name_prefix, containers_conf):
            await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    # podman_settings asserts that no container with the prefix is left


async def test_caller_deadline_yields_a_result_before_it_fires(
    fn_images: FnImages, podman_settings: PodmanSettings,
) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="never"), timeout_s=300.0, reserve_s=1.0)
    with trio.fail_after(4):
        output = await run_image(runner, fn_images.local["sleep"])
    assert output.exit_code == 124 and "did not finish within" in output.stderr


async def test_concurrent_calls_each_get_their_own_output(
    fn_images: FnImages, podman_settings: PodmanSettings,
) -> None:
    runner = PodmanRunner(replace(podman_settings, pull_policy="never", max_parallel=2))
    outputs: list[bytes] = []

    async def one(index: int) -> None:
        resource_list = RESOURCE_LIST.replace(b"name: a", f"name: a{index}".encode())
        output = await run_image(runner, fn_images.local["identity"], resource_list)
        outputs.append(output.stdout)

    async with trio.open_nursery() as nursery:
        for index in range(4):
            nursery.start_soon(one, index)
    assert sorted(outputs) == sorted(RESOURCE_LIST.replace(b"name: a", f"name: a{i}".encode()) for i in range(4))


async def test_missing_podman_binary_is_service_unavailable(podman_settings: PodmanSettings) -> None:
    runner = PodmanRunner(replace(podman_settings, path="/nonexistent/podman", pull_policy="never"))
    with pytest.raises(ServiceUnavailable, match="cannot start podman"):
        await run_image(runner, "localhost/anything:v1")


@pytest.mark.parametrize(("image", "host"), [
    ("127.0.0.1:5000/fn/x:v1", "127.0.0.1:5000"),
    ("localhost/fn:v1", "localhost"),
    ("ghcr.io/kptdev/krm-functions-catalog/set-labels:v0.2", "ghcr.io"),
    ("busybox:1.36", None),
    ("library/busybox", None),
])
def test_registry_host_of_an_image_reference(image: str, host: str | None) -> None:
    assert registry_host(image) == host


def test_loopback_registries_are_contacted_without_tls_verification() -> None:
    runner = PodmanRunner(PodmanSettings(insecure_registries=("registry.lan:5000",)))
    assert runner._insecure("127.0.0.1:5000/fn:v1")
    assert runner._insecure("localhost:5000/fn:v1")
    assert runner._insecure("registry.lan:5000/fn:v1")
    assert not runner._insecure("ghcr.io/kptdev/fn:v1")

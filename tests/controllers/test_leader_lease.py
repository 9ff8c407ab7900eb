"""ClusterLeases: controller leader election by a coordination.k8s.io Lease.

Against the kube-apiserver double (tests/parts/kube_double.py), which keeps Leases with
resourceVersions and answers a stale update with 409, as the apiserver does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from porch_embedded.controllers import ClusterLeases, run_while_leader
from porch_embedded.engine import ClusterClient
from tests.parts.kube_double import KubeDouble, NoKubelet, start_kube_double

LEASE = "porch-embedded-controllers"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeDouble, ClusterClient]]:
    double, kubeconfig = start_kube_double(tmp_path, NoKubelet(), namespaces={"porch-system"})
    try:
        yield double, ClusterClient(kubeconfig)
    finally:
        double.stop()


async def test_one_replica_holds_the_lease_until_it_releases_it(cluster: tuple[KubeDouble, ClusterClient]) -> None:
    double, client = cluster
    first, second = ClusterLeases(client, "porch-system"), ClusterLeases(client, "porch-system")
    assert await first.acquire_lease(LEASE, "replica-a", 10)
    assert not await second.acquire_lease(LEASE, "replica-b", 10)
    assert await first.acquire_lease(LEASE, "replica-a", 10)
    lease = double.get("leases", "porch-system", LEASE)
    assert lease is not None and lease["spec"]["holderIdentity"] == "replica-a"
    assert lease["spec"]["leaseDurationSeconds"] == 10 and lease["spec"]["leaseTransitions"] == 0

    await first.release_lease(LEASE, "replica-a")
    assert await second.acquire_lease(LEASE, "replica-b", 10)
    lease = double.get("leases", "porch-system", LEASE)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "replica-b" and lease["spec"]["leaseTransitions"] == 1


async def test_a_lease_not_renewed_for_its_duration_is_taken_by_one_replica_only(
        cluster: tuple[KubeDouble, ClusterClient]) -> None:
    double, client = cluster
    assert await ClusterLeases(client, "porch-system").acquire_lease(LEASE, "gone", 1)
    others = [ClusterLeases(client, "porch-system") for _ in range(3)]
    for other in others:
        assert not await other.acquire_lease(LEASE, "waiting", 1)  # each sees the record once
    await trio.sleep(1.2)  # the holder does not renew
    won: list[bool] = []

    async def campaign(index: int) -> None:
        won.append(await others[index].acquire_lease(LEASE, f"replica-{index}", 1))

    async with trio.open_nursery() as nursery:
        for index in range(3):
            nursery.start_soon(campaign, index)
    assert won.count(True) == 1
    lease = double.get("leases", "porch-system", LEASE)
    assert lease is not None and lease["spec"]["holderIdentity"].startswith("replica-")


async def test_work_runs_only_on_the_leader(cluster: tuple[KubeDouble, ClusterClient]) -> None:
    double, client = cluster
    running: list[str] = []

    async def work(name: str) -> None:
        running.append(name)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        for name in ("a", "b"):
            await nursery.start(run_while_leader, ClusterLeases(client, "porch-system"), LEASE, name, 5.0,
                                lambda name=name: work(name))
        with trio.fail_after(30):
            while len([r for r in double.requests if r.path.endswith(f"/leases/{LEASE}")]) < 2 or not running:
                await trio.sleep(0.05)
        assert len(running) == 1
        holder = double.get("leases", "porch-system", LEASE)
        assert holder is not None and holder["spec"]["holderIdentity"] == running[0]
        nursery.cancel_scope.cancel()
    lease = double.get("leases", "porch-system", LEASE)
    assert lease is not None and lease["spec"]["holderIdentity"] == ""

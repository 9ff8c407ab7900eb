"""An external git push of a new tag shows up in a running `kubectl get packagerevisions --watch`."""

from __future__ import annotations

import os
import subprocess

import trio

from tests.engine.conftest import Porch
from tests.parts.git_server import package_files


async def test_external_tag_appears_in_kubectl_watch(porch: Porch) -> None:
    seeder = porch.git.create_repo("watched")
    seeder.commit(package_files("app"), tags=["app/v1"])
    await porch.register("watched")
    environment = {**os.environ, "KUBECONFIG": str(porch.server.kubeconfig), "HOME": str(porch.server.data_dir)}
    lines: list[str] = []
    async with trio.open_nursery() as nursery:
        process = await nursery.start(lambda task_status: trio.run_process(
            ["kubectl", "get", "packagerevisions", "--watch", "--request-timeout=0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment, check=False,
            task_status=task_status))
        buffer = b""

        async def read_until(name: str) -> None:
            nonlocal buffer
            while not any(line.split()[0] == name for line in lines[1:]):
                buffer += await process.stdout.receive_some()
                *complete, buffer = buffer.split(b"\n")
                lines.extend(line.decode() for line in complete if line.strip())

        with trio.fail_after(20):
            await read_until("watched.app.v1")
        seeder.commit(package_files("app", extra={"extra.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                                                "  name: extra\n"}), tags=["app/v2"])
        await porch.sync_now("watched")
        with trio.fail_after(20):
            await read_until("watched.app.v2")
        process.kill()
    header = lines[0].split()
    assert header == ["NAME", "PACKAGE", "WORKSPACENAME", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY"]
    new_row = next(line.split() for line in lines if line.split()[0] == "watched.app.v2")
    assert new_row == ["watched.app.v2", "app", "v2", "2", "true", "Published", "watched"]

"""Builtin set-namespace (in-process) against the same transformation in a podman container.

Run from the repository root: ``.venv/bin/python bench/functions_bench.py``. Needs podman
and busybox-static; builds a throwaway busybox image whose function is a ``sed`` script
that adds ``namespace: prod`` under each item's ``metadata.name`` (what set-namespace does
to these ConfigMaps), runs both on packages of 10, 1,000 and 10,000 resources, and prints
median wall times and the container/builtin ratio. Timings are printed, never asserted.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from porch_embedded.kpt import dump_yaml, parse_yaml  # noqa: E402
from porch_embedded.kpt.functions import builtin_for  # noqa: E402
from porch_embedded.runners import FunctionCall, PodmanSettings  # noqa: E402
from porch_embedded.runners._builtin import BuiltinRunner  # noqa: E402
from porch_embedded.runners._podman import PodmanRunner  # noqa: E402
from tests.parts.fn_images import build_rootfs  # noqa: E402

BUILTIN_IMAGE = "ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1"
SED_SCRIPT = "exec sed 's/^    name: \\(cm-[0-9]*\\)$/    name: \\1\\n    namespace: prod/'\n"
SIZES = (10, 1_000, 10_000)
REPEATS = {10: 7, 1_000: 5, 10_000: 3}


def resource_list(count: int) -> bytes:
    items = "".join(
        f"- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n  data:\n    key: value-{i}\n"
        for i in range(count)
    )
    return (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + items
        + "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: fn-config\n"
        "  data:\n    namespace: prod\n"
    ).encode()


async def median_s(runner: object, image: str, data: bytes, repeats: int, count: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = await runner.run(FunctionCall(image=image), data)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        assert output.exit_code == 0, output.stderr
        assert output.stdout.count(b"namespace: prod") >= count, "transformation did not happen"
    return statistics.median(times)


async def main() -> None:
    if builtin_for(BUILTIN_IMAGE) is None:
        print("set-namespace is not registered as a builtin; nothing to compare")
        return
    work = Path(tempfile.mkdtemp(prefix="functions-bench-"))
    conf = work / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    image = f"localhost/porch-embedded-bench/set-namespace-sed:{secrets.token_hex(4)}"
    subprocess.run(
        ["podman", "import", "--quiet", "--change", 'ENTRYPOINT ["/bin/fn"]', "--change", "USER 65534",
         str(build_rootfs(work / "fn", SED_SCRIPT)), image],
        check=True, capture_output=True, env=env,
    )
    try:
        builtin = BuiltinRunner()
        podman = PodmanRunner(PodmanSettings(containers_conf=conf, pull_policy="never", memory="512m"))
        print("set-namespace: builtin (in-process, worker thread) vs podman container (busybox sed)")
        print(f"{'resources':>10} {'RL bytes':>10} {'builtin s':>10} {'(yaml rt s)':>12} {'podman s':>10} "
              f"{'podman/builtin':>15}")
        for count in SIZES:
            data = resource_list(count)
            b = await median_s(builtin, BUILTIN_IMAGE, data, REPEATS[count], count)
            p = await median_s(podman, image, data, REPEATS[count], count)
            start = time.perf_counter()
            dump_yaml(parse_yaml(data))
            rt = time.perf_counter() - start
            print(f"{count:>10} {len(data):>10} {b:>10.4f} {rt:>12.4f} {p:>10.4f} {p / b:>15.2f}")
        print("(medians; the container does a plain-text sed, the builtin a full ruamel.yaml round trip,")
        print(" whose parse + dump alone is the 'yaml rt' column: it, not the function, is the builtin's cost)")
    finally:
        subprocess.run(["podman", "rmi", "--force", "--ignore", image], capture_output=True, env=env)


if __name__ == "__main__":
    trio.run(main)

"""Render benchmark: a Kptfile pipeline of two builtin functions over packages of growing size.

Renders packages of N ConfigMaps with set-labels then set-namespace, in-process, the
way the server does (builtins on ResourceList objects), and the way a container
runtime would see it (the ResourceList serialised to YAML and parsed back around
every step). Prints seconds per render and per resource. Nothing is asserted.

    python bench/render_bench.py [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from porch_embedded.kpt import FunctionOutput, PipelineFunction, render  # noqa: E402
from porch_embedded.runners import RunnerSettings, build_function_runner  # noqa: E402

KPTFILE = """\
apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: bench
pipeline:
  mutators:
    - image: set-labels:v0.2.0
      configMap:
        tier: backend
    - image: set-namespace:v0.4.1
      configMap:
        namespace: prod
"""


def package(size: int) -> dict[str, str]:
    files = {"Kptfile": KPTFILE}
    for index in range(size):
        files[f"configmaps/cm-{index:05d}.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{index} # comment kept\n"
            f"data:\n  key: value-{index}\n")
    return files


async def main(sizes: list[int]) -> None:
    chain = build_function_runner(RunnerSettings(kind="none"))

    async def bytes_only(function: PipelineFunction, resource_list: bytes) -> FunctionOutput:
        return await chain(function, resource_list)

    print("render of N ConfigMaps with set-labels and set-namespace (builtins), seconds")
    print(f"{'N':>7} {'objects (server)':>18} {'per resource':>14} {'YAML bytes':>12} {'ratio':>7}")
    for size in sizes:
        files = package(size)
        started = time.perf_counter()
        result = await render(files, chain)
        objects = time.perf_counter() - started
        assert result.error is None, result.error
        started = time.perf_counter()
        await render(files, bytes_only)
        serialised = time.perf_counter() - started
        print(f"{size:>7} {objects:>18.3f} {objects / size * 1000:>11.2f} ms {serialised:>12.3f} "
              f"{serialised / objects:>6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    arguments = parser.parse_args()
    trio.run(main, [int(s) for s in arguments.sizes.split(",")])

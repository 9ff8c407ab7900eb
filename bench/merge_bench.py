"""Merge benchmark: upgrading a package of N resources with kpt's resource-merge.

Builds an old upstream of N Deployments, a new upstream that changes the image of 10%
of them, and a local package (as a clone writes it: every resource carries the
upstream-identifier annotation) that changes 10% too, then times ``merge_package`` (pure,
in-process: the cost an upgrade adds before render and commit). Changes: "disjoint"
(local changes the replicas of other resources), "overlap" (local changes the replicas
of the same resources: a line-wise merge suffices), "clash" (local changes the same
image line: upstream wins), "insert" (upstream also inserts a label before local's
changed line's neighbours, which kpt appends at the end: the full field-level merge with
ruamel runs for every changed resource). Two layouts: one resource
per file, and 100 resources per file. Prints seconds (best and median of the
repetitions); nothing is asserted.

    python bench/merge_bench.py [--sizes 10,1000,10000] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from porch_embedded.kpt import merge_package  # noqa: E402

KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: bench\n"


def deployment(index: int, image: str, replicas: int, tier: bool = False) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{index} # comment kept\n"
        f"  labels:\n{'    tier: web' + chr(10) if tier else ''}    app: app-{index}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n"
        f"      app: app-{index}\n  template:\n    metadata:\n      labels:\n        app: app-{index}\n"
        f"    spec:\n      containers:\n      - name: app\n        image: {image} # kpt-set: ${{image}}\n"
        f"        ports:\n        - containerPort: 8080\n        env:\n        - name: LEVEL\n          value: info\n"
    )


def cloned(index: int, text: str) -> str:
    """The resource as a clone writes it: with the upstream-identifier annotation."""
    return text.replace("# comment kept\n", "# comment kept\n  annotations:\n"
                        f"    internal.kpt.dev/upstream-identifier: apps|Deployment|default|app-{index}\n", 1)


def trees(size: int, per_file: int, mode: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(original, updated, local): upstream changes every 10th resource, local another (or the same) 10th."""
    docs: dict[str, list[tuple[str, str, str]]] = {}
    for index in range(size):
        upstream_changed = index % 10 == 0
        local_changed = index % 10 == (5 if mode == "disjoint" else 0)  # overlap, clash, insert: the same 10%
        local_image = "app:1.1" if local_changed and mode == "clash" else "app:1.0"
        texts = (
            deployment(index, "app:1.0", 1),
            deployment(index, "app:2.0" if upstream_changed else "app:1.0", 1, upstream_changed and mode == "insert"),
            cloned(index, deployment(index, local_image, 3 if local_changed and mode != "clash" else 1)),
        )
        docs.setdefault(f"apps/part-{index // per_file:05d}.yaml", []).append(texts)
    out: tuple[dict[str, str], dict[str, str], dict[str, str]] = ({"Kptfile": KPTFILE}, {"Kptfile": KPTFILE},
                                                                  {"Kptfile": KPTFILE})
    for path, group in docs.items():
        for side in range(3):
            out[side][path] = "---\n".join(texts[side] for texts in group)
    return out


def main(sizes: list[int], reps: int) -> None:
    print(f"{'resources':>9} {'layout':>14} {'changes':>9} {'best s':>8} {'median s':>9} {'ms/resource':>11}")
    for size in sizes:
        for per_file in (1, 100):
            for mode in ("disjoint", "overlap", "clash", "insert"):
                original, updated, local = trees(size, per_file, mode)
                samples = []
                for _ in range(1 if size >= 10_000 else reps):
                    start = time.perf_counter()
                    merge_package(original, updated, local)
                    samples.append(time.perf_counter() - start)
                layout = "1/file" if per_file == 1 else f"{per_file}/file"
                best, median = min(samples), statistics.median(samples)
                print(f"{size:>9} {layout:>14} {mode:>9} {best:>8.3f} "
                      f"{median:>9.3f} {best / size * 1000:>11.3f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    main([int(s) for s in args.sizes.split(",")], args.reps)

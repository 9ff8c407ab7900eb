"""Diff benchmark: ``diff_packages`` (by file and by resource) over packages of N ConfigMaps.

The old package holds N ConfigMaps of 20 keys each, one per file; the new one changes a
value in every fifth and moves every seventh to another directory (the moved ones that
also change are one "moved" change with a content diff). Times the pure comparison
(what the dashboard's diff page costs besides reading both sides from the store), CPU
seconds, best and median of the repetitions; nothing is asserted.

    python bench/diff_bench.py [--sizes 100,500,2000] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from porch_embedded.kpt import diff_packages  # noqa: E402

KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: bench\n"


def config_map(index: int, color: str) -> str:
    data = "".join(f"  key{k}: value{k}-{color}\n" for k in range(20))
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{index}\n  namespace: ns-{index % 10}\n"
            f"data:\n{data}")


def packages(size: int) -> tuple[dict[str, str], dict[str, str]]:
    old, new = {"Kptfile": KPTFILE}, {"Kptfile": KPTFILE}
    for i in range(size):
        old[f"cm/{i}.yaml"] = config_map(i, "blue")
        new[f"moved/{i}.yaml" if i % 7 == 0 else f"cm/{i}.yaml"] = config_map(i, "green" if i % 5 == 0 else "blue")
    return old, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"{'resources':>10} {'files changed':>14} {'resources changed':>18} {'lines':>7} {'best s':>8} "
          f"{'median s':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        old, new = packages(size)
        times = []
        for _ in range(args.reps):
            start = time.process_time()
            diff = diff_packages(old, new)
            times.append(time.process_time() - start)
        print(f"{size:>10} {len(diff.files):>14} {len(diff.resources):>18} {diff.size:>7} {min(times):>8.3f} "
              f"{statistics.median(times):>9.3f}")


if __name__ == "__main__":
    main()

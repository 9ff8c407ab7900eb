"""Size and time to ready of the built binaries (`make binary`): printed, never asserted.

For each binary given: its size, then the time from exec to the first 200 from
/readyz over HTTPS, on a fresh data directory (first start: it makes its CA, serving
certificate, admin token and SQLite store) and on a restart of that directory. The
one-file binary unpacks itself into $TMPDIR at every start; the static one first
unpacks the one-file binary and its libc, so it starts slower. Last, the cost of one
porchctl command through the binary (``repo get`` against that server: a process start,
unpacking included, one request, the table), which the porchctl tests pay once per
command, in wall time and in CPU time of the process tree.

    python bench/binary_start.py dist/porch-embedded-static dist/porch-embedded \
        [--porchctl dist/porchctl/porchctl] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts.server import BINARY_ENV, start_server_process  # noqa: E402


def time_to_ready(data_dir: Path) -> float:
    """Seconds from starting the server to its first ready answer (polled every 0.1 s)."""
    started = time.monotonic()
    server = start_server_process(data_dir, ["--function-runner", "none"])
    elapsed = time.monotonic() - started
    server.stop()
    return elapsed


def porchctl_cost(command: Path, data_dir: Path, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``COMMAND repo get`` against a server (the binary under test) on ``data_dir``."""
    server = start_server_process(data_dir, ["--function-runner", "none"])
    walls, cpus = [], []
    try:
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            subprocess.run([str(command), "repo", "get", "--kubeconfig", str(data_dir / "kubeconfig")],
                           check=True, capture_output=True)
            walls.append(time.monotonic() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    finally:
        server.stop()
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", type=Path)
    parser.add_argument("--porchctl", type=Path, help="also the cost of one command of this porchctl build")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for binary in args.binaries:
        os.environ[BINARY_ENV] = str(binary)
        first, restart = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                first.append(time_to_ready(Path(tmp) / "data"))
                restart.append(time_to_ready(Path(tmp) / "data"))
        print(f"{binary}: {binary.stat().st_size / 1e6:.1f} MB; time to ready (median of {args.runs}): "
              f"first start {statistics.median(first):.2f} s, restart {statistics.median(restart):.2f} s")
        for command in (binary, *([args.porchctl] if args.porchctl else [])):
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu = porchctl_cost(command, Path(tmp) / "data", max(args.runs, 3))
            print(f"{command}: one porchctl command (repo get, median of {max(args.runs, 3)}): "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU")
        args.porchctl = None  # measured once, beside the first binary


if __name__ == "__main__":
    main()

"""Size and time to ready of the built binaries (`make binary`): printed, never asserted.

For each binary given: its size, then the time from exec to the first 200 from
/readyz over HTTPS, on a fresh data directory (first start: it makes its CA, serving
certificate, admin token and SQLite store) and on a restart of that directory. The
one-file binary unpacks itself into $TMPDIR at every start; the static one first
unpacks the one-file binary and its libc, so it starts slower.

    python bench/binary_start.py dist/porch-embedded-static dist/porch-embedded [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", type=Path)
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


if __name__ == "__main__":
    main()

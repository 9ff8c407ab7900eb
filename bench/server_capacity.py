"""Server-only request capacity, measured with wrk so that no Python client shares the CPU.

Starts ``porch-embedded serve --disable-controllers`` as a child process, creates a
few Repository objects, then runs wrk (Debian package ``wrk``; ``scripts/setup
--system`` installs it) against three endpoints with 8 connections for 10 seconds
each: ``/version`` (the HTTPS and HTTP baseline), a GET of one Repository, and a
list of 100 Repositories. Prints requests per second and p50/p99 latencies.

    python bench/server_capacity.py [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parts.server import ServerProcess, free_port  # noqa: E402

COLLECTION = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"


def wrk(url: str, token: str, seconds: int, connections: int) -> tuple[str, str, str]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", output)
    return (rate.group(1) if rate else "?", p50.group(1) if p50 else "?", p99.group(1) if p99 else "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/setup --system (or apt-get install wrk)")
    with tempfile.TemporaryDirectory() as temporary:
        data = Path(temporary) / "data"
        server = ServerProcess(data, free_port())
        server.start(["--log-level", "WARNING", "--disable-controllers"])
        try:
            token = (data / "admin-token").read_text().strip()
            context = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
            with httpx.Client(base_url=server.url, verify=context, headers={"Authorization": f"Bearer {token}"}) as http:
                for index in range(100):
                    http.post(COLLECTION, json={
                        "metadata": {"name": f"repo-{index:03d}"},
                        "spec": {"type": "git", "git": {"repo": f"http://127.0.0.1:1/repo-{index}.git"}}})
            print(f"porch-embedded server capacity: wrk, {args.connections} connections, {args.seconds} s each")
            for label, path in (("GET /version", "/version"), ("GET one Repository", f"{COLLECTION}/repo-007"),
                                ("LIST 100 Repositories", COLLECTION)):
                rate, p50, p99 = wrk(server.url + path, token, args.seconds, args.connections)
                print(f"{label:<24} {rate:>9} req/s  p50 {p50:>8}  p99 {p99:>8}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()

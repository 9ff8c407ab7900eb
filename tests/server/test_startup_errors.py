"""A start that cannot succeed says what to fix in one line and exits non-zero.

Each case runs ``porch-embedded serve`` as a subprocess, as an operator or a service
manager would: the output holds one ``porch-embedded...`` line naming the problem and
no traceback or exception group, unless ``--log-level DEBUG`` asks for them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.parts.server import free_port


def serve(data_dir: Path, *extra: str, listen: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "porch_embedded", "serve", "--data-dir", str(data_dir), "--function-runner", "none",
         "--listen", listen or f"127.0.0.1:{free_port()}", *extra],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )


def one_line(done: subprocess.CompletedProcess[str], *fragments: str, code: int = 1) -> str:
    """The run failed with ``code`` and said so in one line holding every fragment; nothing else but logs."""
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output and "ExceptionGroup" not in output and "+-+" not in output, output
    said = [line for line in done.stderr.splitlines() if line.startswith("porch-embedded")]
    assert len(said) == 1, output
    for fragment in fragments:
        assert fragment in said[0], said[0]
    return said[0]


def test_a_store_made_with_another_encryption_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.Popen(
        [sys.executable, "-m", "porch_embedded", "serve", "--data-dir", str(data), "--function-runner", "none",
         "--listen", f"127.0.0.1:{free_port()}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (data / "kubeconfig").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    (data / "store.key").unlink()
    one_line(serve(data), "created with a different encryption key", "start with the key it was created with",
             "--store-key-file")


def test_an_unreachable_database(tmp_path: Path) -> None:
    closed = free_port()
    one_line(serve(tmp_path / "data", "--store", f"postgresql://porch@127.0.0.1:{closed}/porch"),
             f"127.0.0.1:{closed}/porch", "Connection refused", "check that PostgreSQL runs there")


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line(serve(tmp_path / "data", listen=f"127.0.0.1:{port}"),
                 f"cannot serve on 127.0.0.1:{port}", "in use", "--listen")


def test_unreadable_tls_files(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    one_line(serve(tmp_path / "data", "--tls-cert-file", str(missing), "--tls-private-key-file", str(missing)),
             f"cannot read --tls-cert-file {missing}", "No such file", code=2)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    one_line(serve(tmp_path / "data", "--tls-cert-file", str(garbage), "--tls-private-key-file", str(garbage)),
             "--tls-cert-file", "not a PEM certificate and its unencrypted private key", code=2)
    one_line(serve(tmp_path / "data", "--client-ca-file", str(garbage)),
             f"--client-ca-file {garbage} does not hold a PEM certificate", code=2)


@pytest.mark.parametrize(("flag", "value", "said"), [
    ("--max-request-body-bytes", "lots", "invalid int value: 'lots'"),
    ("--sync-interval", "0", "must be above zero"),
    ("--listen", "localhost", "expected HOST:PORT"),
    ("--listen", "127.0.0.1:70000", "port up to 65535"),
    ("--function-runner", "docker", "invalid choice: 'docker'"),
])
def test_a_bad_flag_value(tmp_path: Path, flag: str, value: str, said: str) -> None:
    done = subprocess.run([sys.executable, "-m", "porch_embedded", "serve", "--data-dir", str(tmp_path / "data"),
                           flag, value], capture_output=True, text=True, timeout=60)
    line = one_line(done, flag, said, "see porch-embedded serve --help", code=2)
    assert done.stderr == line + "\n"


def test_debug_logging_shows_the_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(tmp_path / "data", "--log-level", "DEBUG", listen=f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "Address already in use" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith(f"porch-embedded: cannot serve on 127.0.0.1:{port}")

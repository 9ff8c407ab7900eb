"""The PostgreSQL password reaches libpq from a file or PGPASSWORD, and nowhere else.

``serve --store-password-file`` (or PGPASSWORD) keeps the password out of the command
line, so ``ps`` cannot show it; when the database cannot be reached, the error names
the host, port and database and never the password, whether it came from the file, the
environment or (against advice) the URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.parts.server import free_port

PASSWORD = "pg-Pa55word-never-shown-9f2c"


def serve(tmp_path: Path, store_url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "porch_embedded", "serve", "--data-dir", str(tmp_path / "data"),
         "--listen", f"127.0.0.1:{free_port()}", "--store", store_url, *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def test_an_unreachable_database_is_named_without_the_password(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    secret_file = tmp_path / "pgpass"
    secret_file.write_text(PASSWORD + "\n")
    runs = [
        serve(tmp_path, f"postgresql://porch@127.0.0.1:{closed}/porch", "--store-password-file", str(secret_file)),
        serve(tmp_path, f"postgresql://porch@127.0.0.1:{closed}/porch", env={"PGPASSWORD": PASSWORD}),
        serve(tmp_path, f"postgresql://porch:{PASSWORD}@127.0.0.1:{closed}/porch"),
    ]
    for done in runs:
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert f"127.0.0.1:{closed}/porch" in output, output
        assert PASSWORD not in output, output


def test_a_missing_password_file_is_refused_by_name(tmp_path: Path) -> None:
    done = serve(tmp_path, "postgresql://porch@127.0.0.1:5432/porch", "--store-password-file",
                 str(tmp_path / "absent"))
    assert done.returncode == 2
    assert "--store-password-file" in done.stderr and str(tmp_path / "absent") in done.stderr

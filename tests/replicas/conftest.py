"""Real ``porch-embedded serve`` processes on one PostgreSQL store, and clients for them.

Each replica has its own data directory and port; all of them share the store (one fresh
schema in the run's random database), the store encryption key file, the token file and
the serving certificate, as replicas behind one Service would. ``Replica.client`` speaks
to one of them as the shared admin token.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from porch_embedded.api import ensure_pki
from tests.parts.git_server import git_server
from tests.parts.postgres import create_schema, drop_schema, postgres_run_database, schema_url
from tests.parts.server import ServerProcess, free_port

__all__ = ["Lease", "Replica", "Replicas", "git_server", "postgres_run_database", "replicas", "shared_store"]

TOKEN = "replica-admin-token-5b1e7c"
REPOSITORIES = "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories"
REVISIONS = "/apis/porch.kpt.dev/v1alpha1/namespaces/default/packagerevisions"
LEASE = "porch-embedded-controllers"


@dataclass(frozen=True)
class SharedStore:
    """One PostgreSQL store (a schema) and the files every replica on it shares."""

    url: str
    key_file: Path
    token_file: Path
    cert_file: Path
    key_pem_file: Path
    ca_file: Path

    def args(self, store_url: str | None = None) -> list[str]:
        """The serve flags that put a replica on this store (``store_url`` overrides, e.g. a proxy)."""
        return ["--store", store_url or self.url, "--store-key-file", str(self.key_file),
                "--token-auth-file", str(self.token_file),
                "--tls-cert-file", str(self.cert_file), "--tls-private-key-file", str(self.key_pem_file)]

    def lease_holder(self) -> str | None:
        """Who holds the controller lease now (by the database's clock), or None."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT holder FROM porch_leases WHERE name = %s AND expires_at > clock_timestamp()",
                               (LEASE,)).fetchone()
        return None if row is None else str(row[0])

    def lease(self) -> Lease | None:
        """The controller lease row as it is (held or lapsed), or None if never taken."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT holder, acquired_at, expires_at FROM porch_leases WHERE name = %s",
                               (LEASE,)).fetchone()
        return None if row is None else Lease(str(row[0]), row[1], row[2])

    def database_clock(self) -> dt.datetime:
        """The database's clock now: the one that stamps the lease rows."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Lease:
    """One row of porch_leases: who took it when (by the database's clock), and when it lapses."""

    holder: str
    acquired_at: dt.datetime
    expires_at: dt.datetime


@pytest.fixture
def shared_store(tmp_path: Path, postgres_run_database: str) -> Iterator[SharedStore]:
    """A fresh schema plus a shared key file, token file and serving certificate."""
    schema = create_schema(postgres_run_database)
    shared = tmp_path / "shared"
    shared.mkdir()
    pki = ensure_pki(shared / "pki")
    token_file = shared / "tokens.csv"
    token_file.write_text(f'{TOKEN},replica-admin,replica-admin,"system:masters"\n')
    try:
        yield SharedStore(schema_url(postgres_run_database, schema), shared / "store.key", token_file,
                          pki.serving_cert, pki.serving_key, pki.ca_cert)
    finally:
        drop_schema(postgres_run_database, schema)


@dataclass
class Replica:
    """One replica process and how to talk to it."""

    name: str
    process: ServerProcess
    store: SharedStore

    @property
    def url(self) -> str:
        return self.process.url

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout,
                            verify=ssl.create_default_context(cafile=str(self.store.ca_file)))

    def async_client(self, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout,
                                 verify=ssl.create_default_context(cafile=str(self.store.ca_file)))

    def log(self) -> str:
        path = self.process.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def holder_id(self) -> str | None:
        """The lease holder id this replica logged when it became leader, if it ever did."""
        found = re.findall(r"(\S+) holds the porch-embedded-controllers lease", self.log())
        return found[-1] if found else None

    def alive(self) -> bool:
        return self.process.process is not None and self.process.process.poll() is None


@dataclass
class Replicas:
    """Three (or more) replicas on one store."""

    store: SharedStore
    members: list[Replica]

    def __getitem__(self, index: int) -> Replica:
        return self.members[index]

    def leader(self, timeout_s: float = 30, exclude: Sequence[Replica] = ()) -> Replica:
        """The live replica that holds the controller lease (per the lease row and its log)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            holder = self.store.lease_holder()
            for replica in self.members:
                if replica in exclude or not replica.alive():
                    continue
                if holder is not None and replica.holder_id() == holder:
                    return replica
            time.sleep(0.1)
        raise AssertionError(f"no replica became the controller leader within {timeout_s} s "
                             f"(lease row holder: {self.store.lease_holder()!r})")


def start_replica(tmp_path: Path, store: SharedStore, name: str, extra: Sequence[str] = (),
                  store_url: str | None = None) -> Replica:
    """Start ``porch-embedded serve`` as a replica on ``store``; ready when /readyz says so."""
    process = ServerProcess(tmp_path / name, free_port(), ca_file=store.ca_file)
    process.start([*store.args(store_url), "--function-runner", "none", "--log-level", "INFO", *extra])
    return Replica(name, process, store)


@pytest.fixture
def replicas(tmp_path: Path, shared_store: SharedStore) -> Iterator[Replicas]:
    """Three replicas on one store, each on its own port; always stopped."""
    members: list[Replica] = []
    try:
        for name in ("a", "b", "c"):
            members.append(start_replica(tmp_path, shared_store, name, ["--sync-interval", "3600"]))
        yield Replicas(shared_store, members)
    finally:
        for replica in members:
            replica.process.stop()


def status_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a response, with the code in the assertion message if it is not JSON."""
    try:
        return dict(response.json())
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} without a JSON body: {response.text[:300]}") from exc

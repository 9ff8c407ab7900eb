"""`porch-embedded store ...`: offline operations on a deployment's store.

``store migrate`` moves a stopped deployment from its SQLite file to PostgreSQL (objects,
watch history and the resourceVersion counter), after which every replica is started
with ``--store postgresql://...`` and the same ``store.key``. It talks to the databases
directly, through the store layer, since no server may be running on the source.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import trio

from porch_embedded.errors import StatusError
from porch_embedded.kinds import ALL_KINDS
from porch_embedded.store import migrate_store

__all__ = ["add_store_commands", "run_store_command"]


def add_store_commands(subparsers: Any) -> None:
    """Add ``store`` and its verbs to the ``porch-embedded`` subcommands (argparse's subparsers)."""
    store = subparsers.add_parser("store", help="offline operations on the store (cache database)")
    verbs = store.add_subparsers(dest="store_command", required=True)
    migrate = verbs.add_parser(
        "migrate", help="copy a stopped deployment's SQLite store into an empty PostgreSQL database",
        description="Copy every object, the retained watch history (so watches resume) and the "
                    "resourceVersion counter from a stopped deployment's SQLite store into an empty "
                    "PostgreSQL database, in one transaction. The source is only read; a non-empty "
                    "target is refused and left as it was. Then start the servers with "
                    "--store postgresql://... and the same store.key.")
    migrate.add_argument("--from", dest="source", required=True, metavar="sqlite:///PATH",
                         help="the SQLite store, e.g. sqlite:///DATA/store.db (stop its server first)")
    migrate.add_argument("--to", dest="target", required=True, metavar="postgresql://USER@HOST:PORT/DB",
                         help="the empty PostgreSQL database; put no password in it")
    migrate.add_argument("--to-password-file", type=Path, metavar="FILE",
                         help="file holding the PostgreSQL password (default: $PGPASSWORD, if set)")
    migrate.add_argument("--key-file", type=Path, required=True, metavar="DATA/store.key",
                         help="the deployment's store encryption key; the target is sealed with it too")


def run_store_command(args: argparse.Namespace) -> int:
    """Run a parsed ``store`` command; the exit status (0 done, 1 refused or failed)."""
    if args.store_command == "migrate":
        return _migrate(args)
    raise AssertionError(f"unhandled store command {args.store_command!r}")  # argparse requires one


def _migrate(args: argparse.Namespace) -> int:
    try:
        key = _read_secret(args.key_file, "--key-file")
        password = (_read_secret(args.to_password_file, "--to-password-file").decode()
                    if args.to_password_file is not None else os.environ.get("PGPASSWORD") or None)
    except OSError as error:
        print(f"porch-embedded: {error}", file=sys.stderr)
        return 1
    sealed = {kind.resource: kind.sealed_fields for kind in ALL_KINDS if kind.sealed_fields}
    try:
        report = trio.run(lambda: migrate_store(args.source, args.target, encryption_key=key,
                                                sealed_fields=sealed, password=password))
    except StatusError as error:
        print(f"porch-embedded: {error.message}", file=sys.stderr)
        return 1
    print(f"copied {report.objects} objects and {report.events} watch events into {report.target}; "
          f"resourceVersion continues after {report.resource_version}, watches resume from "
          f"{report.events_floor}")
    return 0


def _read_secret(path: Path, flag: str) -> bytes:
    """A secret file's contents without the trailing newline; OSError says which flag is wrong."""
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise OSError(f"cannot read {flag} {path}: {error.strerror or error}") from error

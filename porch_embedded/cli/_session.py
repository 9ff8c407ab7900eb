"""What every porchctl-style command shares: its streams, its client, its error formats.

porchctl prints a failed command as ``Error: <message> `` (note the trailing space)
and exits 1; commands over several names report each failure as
``<name> failed (<message>)`` and end with ``Error: errors:`` and the messages
indented. Progress goes to stderr only when stderr is a terminal, so scripted output
stays byte-identical to porchctl's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from porch_embedded.client import PorchClient, load_kubeconfig
from porch_embedded.errors import StatusError

__all__ = ["CommandError", "FlagError", "Io", "MultiError", "Session", "for_each_name"]


@dataclass(frozen=True)
class Io:
    """The three streams a command reads and writes."""

    stdin: TextIO
    stdout: TextIO
    stderr: TextIO


class CommandError(Exception):
    """A command failed; printed as porchctl does: ``Error: <message> ``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FlagError(CommandError):
    """Flags that cannot go together; printed as kubectl's ``error: <message>``."""


class MultiError(CommandError):
    """Several names failed; printed as ``Error: errors:`` and one indented line each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("errors:\n  " + "\n  ".join(messages))
        self.messages = messages


@dataclass
class Session:
    """One command run: parsed flags, streams, and a client made on first use."""

    args: argparse.Namespace
    io: Io
    _client: PorchClient | None = field(default=None, repr=False)

    @property
    def client(self) -> PorchClient:
        """The API client from --kubeconfig/--context/--namespace/--server (or the defaults)."""
        if self._client is None:
            kubeconfig = getattr(self.args, "kubeconfig", None)
            config = load_kubeconfig(Path(kubeconfig) if kubeconfig else None,
                                     context=getattr(self.args, "context", None) or None,
                                     namespace=getattr(self.args, "namespace", None) or None,
                                     server=getattr(self.args, "server", None) or None)
            self._client = PorchClient(config)
        return self._client

    @property
    def namespace(self) -> str:
        return self.client.config.namespace

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def out(self, line: str) -> None:
        """One line on stdout."""
        self.io.stdout.write(line + "\n")

    def err(self, line: str) -> None:
        """One line on stderr."""
        self.io.stderr.write(line + "\n")

    def progress(self, text: str) -> None:
        """Show what a long operation is doing, on a terminal only; ``""`` clears it."""
        isatty = getattr(self.io.stderr, "isatty", None)
        if isatty is not None and isatty():
            self.io.stderr.write("\r\033[K" + text)
            self.io.stderr.flush()


def for_each_name(session: Session, names: Iterable[str], action: Callable[[str], None]) -> None:
    """Run ``action`` on every name, reporting failures as porchctl does, and raise MultiError at the end."""
    failures: list[str] = []
    for name in names:
        try:
            action(name)
        except (CommandError, StatusError) as error:
            session.err(f"{name} failed ({error.message})")
            failures.append(error.message)
    if failures:
        raise MultiError(failures)

"""The porchctl-compatible commands: ``rpkg`` and ``repo``, under ``porch-embedded`` or as ``porchctl``.

``add_porchctl_commands`` hangs them on the ``porch-embedded`` parser; ``porchctl_main``
is the ``porchctl`` entry point, the same commands at the top level. Both end in
``run_parsed``, which turns failures into porchctl's output and exit codes:
0 on success, 1 on any failure (flag errors included, as cobra does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from porch_embedded import __version__
from porch_embedded.cli._output import OutputError
from porch_embedded.cli._repo import add_repo_verbs
from porch_embedded.cli._rpkg import add_rpkg_verbs
from porch_embedded.cli._session import STREAMS, CommandError, FlagError, Io, Session
from porch_embedded.errors import StatusError

__all__ = ["PORCHCTL_COMMANDS", "add_porchctl_commands", "porchctl_main", "run_parsed"]

PORCHCTL_COMMANDS = frozenset({"rpkg", "rpackage", "repo", "repository"})


def _streams() -> Io:
    return STREAMS.get() or Io.system()


class PorchctlParser(argparse.ArgumentParser):
    """An argparse parser that reports flag errors as porchctl does (``Error: ...``, exit 1)."""

    def error(self, message: str) -> NoReturn:
        stderr = _streams().stderr
        stderr.write(f"Error: {message}\nRun '{self.prog} --help' for usage.\n")
        raise SystemExit(1)

    def print_help(self, file: TextIO | None = None) -> None:
        super().print_help(file or _streams().stdout)

    def print_usage(self, file: TextIO | None = None) -> None:
        super().print_usage(file or _streams().stdout)


def _common_flags() -> argparse.ArgumentParser:
    """The global flags, accepted before or after the verb (defaults suppressed so positions don't clash)."""
    common = argparse.ArgumentParser(add_help=False)
    flags = common.add_argument_group("global flags")
    flags.add_argument("--kubeconfig", default=argparse.SUPPRESS,
                       help="path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    flags.add_argument("-n", "--namespace", default=argparse.SUPPRESS,
                       help="namespace of the request (default: the context's namespace)")
    flags.add_argument("--context", default=argparse.SUPPRESS, help="the kubeconfig context to use")
    flags.add_argument("-s", "--server", default=argparse.SUPPRESS, help="the address of the API server")
    return common


def add_porchctl_commands(commands: Any) -> None:
    """Add ``rpkg`` (alias ``rpackage``) and ``repo`` (alias ``repository``) to a subparsers action."""
    common = _common_flags()
    rpkg = commands.add_parser("rpkg", aliases=["rpackage"], parents=[common], help="manage package revisions",
                               description="Manage packages and revisions (versions) of these packages.")
    add_rpkg_verbs(rpkg.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=PorchctlParser),
                   common)
    repo = commands.add_parser("repo", aliases=["repository"], parents=[common], help="manage package repositories",
                               description="Manage package repositories.")
    add_repo_verbs(repo.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=PorchctlParser),
                   common)


def run_parsed(args: argparse.Namespace, io: Io | None = None) -> int:
    """Run a parsed ``rpkg``/``repo`` command; print failures as porchctl does; return the exit code."""
    io = io or _streams()
    session = Session(args, io)
    try:
        args.handler(session)
    except FlagError as error:
        io.stderr.write(f"error: {error.message}\n")
        return 1
    except CommandError as error:
        io.stderr.write(f"Error: {error.message} \n")
        return 1
    except StatusError as error:
        io.stderr.write(f"Error: {error.message} \n")
        return 1
    except OutputError as error:
        io.stderr.write(f"error: {error}\n")
        return 1
    finally:
        session.close()
    return 0


def porchctl_main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
                  stderr: TextIO | None = None) -> int:
    """The ``porchctl`` command: ``rpkg`` and ``repo`` at the top level, porchctl's flags and exit codes.

    Streams default to the process's; tests pass their own (the call is then safe in
    a worker thread next to an in-process server).
    """
    io = Io(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    token = STREAMS.set(io)
    try:
        parser = PorchctlParser(prog="porchctl", parents=[_common_flags()],
                                description="porchctl: manage package revisions and repositories of a Porch "
                                            "API server (porch-embedded).")
        parser.add_argument("--version", action="version", version=f"porchctl (porch-embedded) {__version__}")
        add_porchctl_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                                    parser_class=PorchctlParser))
        try:
            args = parser.parse_args(argv)
        except SystemExit as done:
            return int(done.code or 0) if not isinstance(done.code, str) else 1
        return run_parsed(args, io)
    finally:
        STREAMS.reset(token)

"""The porchctl-compatible commands: ``rpkg`` and ``repo``, under ``porch-embedded`` or as ``porchctl``.

Both entry points build one cobra-style tree (``_command``) whose root is named after
the program, so ``porchctl rpkg pull NAME -n NS DIR`` and ``porch-embedded rpkg pull
NAME -n NS DIR`` parse alike. ``run_porchctl`` turns failures into porchctl's output
and exit codes: 0 on success, 1 on any failure (flag errors included, as cobra does).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from porch_embedded import __version__
from porch_embedded.cli._command import Command, Flag, ParseError, parse_command_line, strip_flags
from porch_embedded.cli._output import OutputError
from porch_embedded.errors import StatusError

if TYPE_CHECKING:
    from porch_embedded.cli._session import Io, Session

# The verbs and their HTTP client (httpx) are imported when a porchctl command runs, not when
# ``porch-embedded serve`` starts: the server never needs them, and they are a tenth of its start.

__all__ = ["PORCHCTL_COMMANDS", "add_porchctl_commands", "is_porchctl_command", "porchctl_main", "run_porchctl"]

PORCHCTL_COMMANDS = frozenset({"rpkg", "rpackage", "repo", "repository"})

RPKG_SUMMARY = "Manage packages and revisions (versions) of these packages."
REPO_SUMMARY = "Manage package repositories."

KUBE_FLAGS = [
    Flag("kubeconfig", help="Path to the kubeconfig file to use for CLI requests."),
    Flag("namespace", shorthand="n", help="If present, the namespace scope for this CLI request"),
    Flag("context", help="The name of the kubeconfig context to use"),
    Flag("server", shorthand="s", help="The address and port of the Kubernetes API server"),
]
"""The connection flags porchctl takes from kubectl, persistent on ``rpkg`` and ``repo``."""


def _print_version(session: Session) -> None:
    session.out(f"Version: {__version__}")


def porchctl_tree(program: str) -> Command:
    """The command tree: ``rpkg`` and ``repo`` with their verbs, and ``version``, under ``program``."""
    from porch_embedded.cli._repo import repo_commands
    from porch_embedded.cli._rpkg import rpkg_commands

    root = Command(program, "Manage porch repositories and packages",
                   long="Manage Porch repositories and the package revisions within them, over the API of a "
                        "Porch server (porch-embedded).")
    rpkg = Command("rpkg", RPKG_SUMMARY, long=RPKG_SUMMARY, aliases=("rpackage",), persistent=list(KUBE_FLAGS))
    rpkg.add(*rpkg_commands())
    repo = Command("repo", REPO_SUMMARY, long=REPO_SUMMARY, aliases=("repository",), persistent=list(KUBE_FLAGS))
    repo.add(*repo_commands())
    root.add(repo, rpkg, Command("version", f"Print the version number of {program}", run=_print_version))
    return root


def is_porchctl_command(program: str, argv: Sequence[str]) -> bool:
    """Whether ``argv`` names ``rpkg`` or ``repo`` the way cobra finds commands (flags may come first)."""
    if PORCHCTL_COMMANDS.isdisjoint(argv):
        return False  # no word of it names one: spare building the command tree
    words = strip_flags(argv, porchctl_tree(program))
    return bool(words) and words[0] in PORCHCTL_COMMANDS


def add_porchctl_commands(commands: Any) -> None:
    """List ``rpkg`` and ``repo`` in the ``porch-embedded`` argparse help; ``main`` runs them with run_porchctl."""
    commands.add_parser("rpkg", aliases=["rpackage"], help="manage package revisions (porchctl rpkg)", add_help=False)
    commands.add_parser("repo", aliases=["repository"], help="manage package repositories (porchctl repo)",
                        add_help=False)


def run_porchctl(program: str, argv: Sequence[str], io: Io) -> int:
    """Parse ``argv`` as porchctl does, run the command, print failures as porchctl does; the exit code.

    Flag and command-line errors print as ``error: <message>``; a failed command as
    ``Error: <message> `` (kpt's format, trailing space included).
    """
    from porch_embedded.cli._session import CommandError, FlagError, Session

    try:
        parsed = parse_command_line(porchctl_tree(program), argv)
    except ParseError as error:
        io.stderr.write(f"error: {error.message}\n")
        return 1
    if parsed.help:
        io.stdout.write(parsed.command.help())
        return 0
    if parsed.command.run is None:
        io.stderr.write(parsed.command.usage())
        return 0
    session = Session(parsed.values, io)
    try:
        parsed.command.run(session)
    except FlagError as error:
        io.stderr.write(f"error: {error.message}\n")
        return 1
    except (CommandError, StatusError) as error:
        io.stderr.write(f"Error: {error.message} \n")
        return 1
    except OutputError as error:
        io.stderr.write(f"error: {error}\n")
        return 1
    finally:
        session.close()
    return 0


def porchctl_main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
                  stderr: TextIO | None = None, program: str = "porchctl") -> int:
    """The ``porchctl`` command: ``rpkg`` and ``repo`` at the top level, porchctl's flags and exit codes.

    Streams default to the process's; tests pass their own (the call is then safe in
    a worker thread next to an in-process server).
    """
    from porch_embedded.cli._session import Io

    io = Io(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    return run_porchctl(program, list(sys.argv[1:] if argv is None else argv), io)

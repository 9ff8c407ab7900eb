"""Command trees parsed as cobra and pflag parse them, so porchctl command lines work unchanged.

porchctl is a cobra program; scripts written for it rely on cobra's rules, which
argparse does not follow:

- flags go anywhere among the positional arguments, and ``--`` ends the flags;
- a boolean flag takes ``--flag``, ``--flag=true`` or ``--flag=false`` (any value Go's
  strconv.ParseBool accepts: 1, t, T, TRUE, true, True and their false forms), but never
  a separate ``--flag false`` (that ``false`` is a positional argument);
- other flags take ``--flag=value``, ``--flag value``, ``-fvalue``, ``-f value`` or ``-f=value``,
  and several boolean shorthands combine (``-Ao yaml``);
- ``_`` and ``-`` are the same in flag names (``--all_namespaces``), as kubectl normalises them;
- persistent flags of a parent command (``--namespace``) are accepted after any of its
  sub-commands, and also before the sub-command's name.

Parse failures carry pflag's and cobra's messages; porchctl prints them as
``error: <message>`` and exits 1.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Command", "Flag", "ParseError", "Parsed", "parse_command_line", "strip_flags"]

FlagKind = Literal["string", "bool", "int", "int64", "strings"]
_INT64 = 1 << 63


class ParseError(Exception):
    """A command line cobra or pflag would refuse; the message is theirs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _quote(text: str) -> str:
    """Go's %q for the ASCII a command line holds."""
    return json.dumps(text, ensure_ascii=False)


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool, with its error text."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"strconv.ParseBool: parsing {_quote(value)}: invalid syntax")


def parse_int(value: str) -> int:
    """Go's strconv.ParseInt(value, 0, 64): decimal, 0x, 0o, 0b or leading-0 octal; underscores between digits."""
    body = value[1:] if value[:1] in ("+", "-") else value
    lowered = body.lower()
    base, digits = 10, body
    if lowered.startswith(("0x", "0o", "0b")):
        base, digits = {"x": 16, "o": 8, "b": 2}[lowered[1]], body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:]
    try:
        if not digits or not digits.strip("_") or digits != digits.strip() or "__" in digits or \
                digits.endswith("_") or (digits.startswith("_") and base == 10):
            raise ValueError
        number = int(digits.replace("_", ""), base)
    except ValueError:
        raise ValueError(f"strconv.ParseInt: parsing {_quote(value)}: invalid syntax") from None
    number = -number if value.startswith("-") else number
    if not -_INT64 <= number < _INT64:
        raise ValueError(f"strconv.ParseInt: parsing {_quote(value)}: value out of range")
    return number


@dataclass(frozen=True)
class Flag:
    """One pflag flag: its long name, kind, default, optional one-letter shorthand."""

    name: str
    kind: FlagKind = "string"
    default: Any = ""
    help: str = ""
    shorthand: str = ""

    @property
    def dest(self) -> str:
        """The attribute the parsed value is stored under."""
        return self.name.replace("-", "_")

    @property
    def takes_value(self) -> bool:
        """False for booleans, which pflag sets to true when given without ``=value``."""
        return self.kind != "bool"

    def convert(self, value: str, current: Any, changed: bool) -> Any:
        if self.kind == "bool":
            return parse_bool(value)
        if self.kind in ("int", "int64"):
            return parse_int(value)
        if self.kind == "strings":
            items = next(csv.reader([value])) if value else []
            return [*current, *items] if changed else items
        return value

    def usage_line(self) -> tuple[str, str]:
        """The two halves of the flag's line in help: ``  -n, --namespace string`` and its text."""
        left = f"  -{self.shorthand}, --{self.name}" if self.shorthand else f"      --{self.name}"
        if self.kind != "bool":
            left += " " + {"strings": "strings", "int": "int", "int64": "int"}.get(self.kind, "string")
        text = self.help
        if self.kind == "string" and self.default:
            text += f" (default {_quote(self.default)})"
        elif self.kind in ("int", "int64") and self.default:
            text += f" (default {self.default})"
        elif self.kind == "bool" and self.default:
            text += " (default true)"
        return left, text


HELP_NAME = "help"


@dataclass
class Command:
    """A cobra command: a verb with flags and a runner, or a group of sub-commands."""

    use: str
    short: str
    long: str = ""
    example: str = ""
    aliases: tuple[str, ...] = ()
    flags: list[Flag] = field(default_factory=list)
    persistent: list[Flag] = field(default_factory=list)
    run: Callable[..., None] | None = None
    commands: list[Command] = field(default_factory=list)
    parent: Command | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.use.split()[0]

    @property
    def path(self) -> str:
        return f"{self.parent.path} {self.name}" if self.parent else self.name

    def add(self, *children: Command) -> None:
        for child in children:
            child.parent = self
            self.commands.append(child)

    def child(self, name: str) -> Command | None:
        return next((c for c in self.commands if name == c.name or name in c.aliases), None)

    def _help_flag(self) -> Flag:
        return Flag(HELP_NAME, "bool", False, f"help for {self.name}", "h")

    def local_flags(self) -> list[Flag]:
        return [*self.flags, *self.persistent, self._help_flag()]

    def inherited_flags(self) -> list[Flag]:
        flags: list[Flag] = []
        ancestor = self.parent
        while ancestor is not None:
            flags.extend(ancestor.persistent)
            ancestor = ancestor.parent
        return flags

    def all_flags(self) -> list[Flag]:
        return [*self.local_flags(), *self.inherited_flags()]

    # -- help, in cobra's layout -------------------------------------------------------------

    def usage(self) -> str:
        """cobra's usage text: use line, aliases, examples, sub-commands, flags."""
        parts = ["Usage:"]
        if self.run is not None:
            use = self.use.split(maxsplit=1)
            line = " ".join([self.path, *use[1:]])
            parts.append(f"\n  {line}" + ("" if "[flags]" in line else " [flags]"))
        if self.commands:
            parts.append(f"\n  {self.path} [command]")
        if self.aliases:
            parts.append("\n\nAliases:\n  " + ", ".join([self.name, *self.aliases]))
        if self.example:
            parts.append("\n\nExamples:\n" + self.example.rstrip("\n"))
        if self.commands:
            width = max(len(c.name) for c in self.commands)
            parts.append("\n\nAvailable Commands:")
            for command in sorted(self.commands, key=lambda c: c.name):
                parts.append(f"\n  {command.name.ljust(width)} {command.short}")
        for title, flags in (("Flags", self.local_flags()), ("Global Flags", self.inherited_flags())):
            if flags:
                parts.append(f"\n\n{title}:\n" + _flag_usages(flags))
        if self.commands:
            parts.append(f'\n\nUse "{self.path} [command] --help" for more information about a command.')
        return "".join(parts) + "\n"

    def help(self) -> str:
        """cobra's help text: the long description, a blank line, the usage."""
        text = (self.long or self.short).rstrip()
        return (text + "\n\n" if text else "") + self.usage()


def _flag_usages(flags: Sequence[Flag]) -> str:
    lines = [flag.usage_line() for flag in sorted(flags, key=lambda f: f.name)]
    width = max(len(left) for left, _ in lines)
    return "\n".join(f"{left.ljust(width)}   {text}".rstrip() for left, text in lines)


def _normalise(name: str) -> str:
    return name.replace("_", "-")


def _lookup(flags: Sequence[Flag], name: str) -> Flag | None:
    wanted = _normalise(name)
    return next((f for f in flags if f.name == wanted), None)


def _short(flags: Sequence[Flag], letter: str) -> Flag | None:
    return next((f for f in flags if f.shorthand == letter), None)


def strip_flags(args: Sequence[str], command: Command) -> list[str]:
    """cobra's stripFlags: the words that may name sub-commands (a flag it does not know takes a value)."""
    flags = command.all_flags()
    words: list[str] = []
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "--":
            break
        long_with_value = word.startswith("--") and "=" not in word and not _is_bool(_lookup(flags, word[2:]))
        short_with_value = (word.startswith("-") and "=" not in word and len(word) == 2
                            and not _is_bool(_short(flags, word[1:])))
        if long_with_value or short_with_value:
            if len(rest) <= 1:
                break
            rest.pop(0)
        elif word and not word.startswith("-"):
            words.append(word)
    return words


def _is_bool(flag: Flag | None) -> bool:
    return flag is not None and not flag.takes_value


def _minus_first(args: Sequence[str], word: str, command: Command) -> list[str]:
    """cobra's argsMinusFirstX: ``args`` without the first ``word`` that is not a flag's value."""
    flags = command.all_flags()
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            break
        if ((arg.startswith("--") and "=" not in arg and not _is_bool(_lookup(flags, arg[2:])))
                or (arg.startswith("-") and "=" not in arg and len(arg) == 2 and not _is_bool(_short(flags, arg[1:])))):
            position += 2
            continue
        if not arg.startswith("-") and arg == word:
            return [*args[:position], *args[position + 1:]]
        position += 1
    return list(args)


@dataclass
class Parsed:
    """The command a command line names and its values: flags by dest, ``args`` (positional), ``changed`` (given)."""

    command: Command
    values: argparse.Namespace
    help: bool = False


def _find(root: Command, args: Sequence[str]) -> tuple[Command, list[str]]:
    command, rest = root, list(args)
    while True:
        words = strip_flags(rest, command)
        if not words:
            break
        following = command.child(words[0])
        if following is None:
            break
        rest = _minus_first(rest, words[0], command)
        command = following
    if command.parent is None and command.commands:
        stray = strip_flags(rest, command)
        if stray and stray[0] != HELP_NAME:
            raise ParseError(f"unknown command {_quote(stray[0])} for {_quote(command.path)}")
    return command, rest


def _parse_flags(command: Command, args: Sequence[str]) -> tuple[dict[str, Any], list[str], set[str]]:
    """pflag's parseArgs with interspersed flags: values by dest, the positional arguments, the flags given."""
    flags = command.all_flags()
    values: dict[str, Any] = {f.dest: list(f.default) if isinstance(f.default, list) else f.default for f in flags}
    changed: set[str] = set()
    positionals: list[str] = []
    rest = list(args)

    def set_flag(flag: Flag, value: str) -> None:
        try:
            values[flag.dest] = flag.convert(value, values[flag.dest], flag.dest in changed)
        except ValueError as error:
            shown = f"-{flag.shorthand}, --{flag.name}" if flag.shorthand else f"--{flag.name}"
            raise ParseError(f"invalid argument {_quote(value)} for {_quote(shown)} flag: {error}") from None
        changed.add(flag.dest)

    while rest:
        word = rest.pop(0)
        if len(word) < 2 or word[0] != "-":
            positionals.append(word)
            continue
        if word == "--":
            positionals.extend(rest)
            break
        if word[1] == "-":
            name, has_value, value = word[2:].partition("=")
            if not word[2:] or word[2] in "-=":
                raise ParseError(f"bad flag syntax: {word}")
            flag = _lookup(flags, name)
            if flag is None:
                raise ParseError(f"unknown flag: --{name}")
            if not has_value:
                if not flag.takes_value:
                    value = "true"
                elif rest:
                    value = rest.pop(0)
                else:
                    raise ParseError(f"flag needs an argument: --{name}")
            set_flag(flag, value)
            continue
        shorthands = word[1:]
        while shorthands:
            letter = shorthands[0]
            flag = _short(flags, letter)
            if flag is None:
                raise ParseError(f"unknown shorthand flag: '{letter}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, shorthands = shorthands[2:], ""
            elif not flag.takes_value:
                value, shorthands = "true", shorthands[1:]
            elif len(shorthands) > 1:
                value, shorthands = shorthands[1:], ""
            elif rest:
                value, shorthands = rest.pop(0), ""
            else:
                raise ParseError(f"flag needs an argument: '{letter}' in -{shorthands}")
            set_flag(flag, value)
    return values, positionals, changed


def parse_command_line(root: Command, args: Sequence[str]) -> Parsed:
    """Find the command ``args`` name and parse its flags, as cobra's Execute does.

    ``help COMMAND...`` and ``-h``/``--help`` ask for that command's help. Raises
    ParseError with cobra's or pflag's message.
    """
    command, rest = _find(root, args)
    words = strip_flags(rest, command)
    if command.parent is None and words[:1] == [HELP_NAME]:
        target = root
        for word in words[1:]:
            following = target.child(word)
            if following is None:
                break
            target = following
        return Parsed(target, argparse.Namespace(args=[], changed=frozenset()), help=True)
    values, positionals, changed = _parse_flags(command, rest)
    shown_help = bool(values.pop(HELP_NAME, False))
    return Parsed(command, argparse.Namespace(**values, args=positionals, changed=frozenset(changed)),
                  help=shown_help)


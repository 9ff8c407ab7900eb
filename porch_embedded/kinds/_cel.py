"""CEL expressions of a PackageVariantSet template: compiled, checked and evaluated to strings.

Porch compiles each expression with cel-go in an environment that declares exactly the
variables its controller provides (``repoDefault``, ``packageDefault``, ``upstream``,
``target``, ``repository``), so a typo in a variable name fails at compile time; and it
turns the value into a string or fails. cel-python has no declarations, so the
undeclared-reference check walks the parse tree here, and reports with cel-go's wording
(``ERROR: <input>:L:C: undeclared reference to 'x' (in container '')`` and the caret
lines), so a manifest's error reads the same on both servers.

Pure and I/O-free: the admission check (kinds) and the controller (evaluation) share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import celpy
    from lark import Tree

__all__ = ["CEL_VARIABLES", "CelError", "cel_compile_error", "evaluate_string"]

CEL_VARIABLES = ("repoDefault", "packageDefault", "upstream", "target", "repository")
"""The variables a template expression may name, as Porch's render.go declares them."""

_TYPE_IDENTIFIERS = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
                               "type", "dyn"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _cel_type_names() -> dict[type, str]:
    import celpy.celtypes as celtypes

    return {celtypes.IntType: "Int", celtypes.UintType: "Uint", celtypes.DoubleType: "Double",
            celtypes.BoolType: "Bool", celtypes.BytesType: "Bytes", celtypes.ListType: "List",
            celtypes.MapType: "Map", type(None): "Null"}


class CelError(ValueError):
    """An expression that does not compile, fails to evaluate, or gives no string."""


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    """The one CEL environment, built on first use: building it compiles cel-python's Lark grammar
    (a third of a second), which a server that never meets a CEL expression should not pay at start;
    cel-python itself (with pendulum and lark, about 40 ms) is imported here for the same reason."""
    import celpy

    return celpy.Environment()


@lru_cache(maxsize=1024)
def _compile(expression: str) -> celpy.Runner:
    """Parse, check declarations, and build a runner; cached, since a set renders per target."""
    import celpy

    try:
        tree = _environment().compile(expression)
    except celpy.CELParseError as error:
        detail = " ".join(str(error).split())
        raise CelError(f"ERROR: <input>: Syntax error: {detail}") from None
    undeclared = _undeclared(tree, frozenset())
    if undeclared is not None:
        line, column, name = undeclared
        lines = expression.splitlines() or [""]
        caret = "." * (column - 1) + "^"
        raise CelError(f"ERROR: <input>:{line}:{column}: undeclared reference to '{name}' (in container '')\n"
                       f" | {lines[line - 1]}\n | {caret}")
    return _environment().program(tree)


def _undeclared(tree: Tree[Any], bound: frozenset[str]) -> tuple[int, int, str] | None:
    """The first identifier the expression reads that is neither declared nor bound by a macro."""
    from lark import Token, Tree

    if tree.data == "member_dot_arg" and len(tree.children) >= 3:
        method = tree.children[1]
        arguments = tree.children[2]
        if isinstance(method, Token) and str(method) in _MACROS and isinstance(arguments, Tree) \
                and arguments.children:
            variable = _single_identifier(arguments.children[0])
            if variable is not None:
                found = _undeclared_in(tree.children[0], bound)
                if found is not None:
                    return found
                for child in arguments.children[1:]:
                    found = _undeclared_in(child, bound | {variable})
                    if found is not None:
                        return found
                return None
    if tree.data == "primary" and tree.children and isinstance(tree.children[0], Tree) \
            and tree.children[0].data == "ident":
        token = tree.children[0].children[0]
        name = str(token)
        if name not in CEL_VARIABLES and name not in bound and name not in _TYPE_IDENTIFIERS:
            return (getattr(token, "line", 1) or 1, getattr(token, "column", 1) or 1, name)
        return None
    for child in tree.children:
        found = _undeclared_in(child, bound)
        if found is not None:
            return found
    return None


def _undeclared_in(node: Any, bound: frozenset[str]) -> tuple[int, int, str] | None:
    from lark import Tree

    return _undeclared(node, bound) if isinstance(node, Tree) else None


def _single_identifier(node: Any) -> str | None:
    """The name when ``node`` (a macro's first argument) is a bare identifier."""
    from lark import Tree

    while isinstance(node, Tree):
        if node.data == "ident":
            return str(node.children[0])
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def cel_compile_error(expression: str) -> str | None:
    """Why ``expression`` does not compile in a template's environment, or None when it does."""
    try:
        _compile(expression)
    except CelError as error:
        return str(error)
    return None


def evaluate_string(expression: str, variables: Mapping[str, Any]) -> str:
    """Evaluate ``expression`` over plain JSON ``variables``; the result must be a string.

    Raises CelError with the reason, as Porch's evalExpr reports it: a compile error, an
    evaluation error (``no such key: x``), or a value that is not a string.
    """
    import celpy

    program = _compile(expression)
    activation = {name: celpy.json_to_cel(value) for name, value in variables.items()}
    try:
        value = program.evaluate(activation)
    except celpy.CELEvalError as error:
        raise CelError(_eval_message(error)) from None
    if isinstance(value, celpy.CELEvalError):
        raise CelError(_eval_message(value))
    if isinstance(value, str):
        return str(value)
    type_name = next((name for cls, name in _cel_type_names().items() if isinstance(value, cls)),
                     type(value).__name__)
    raise CelError(f"type conversion error from {type_name} to 'string'")


def _eval_message(error: celpy.CELEvalError) -> str:
    """cel-go's words for the common failures (``no such key: k``), else cel-python's."""
    arguments = error.args
    if len(arguments) >= 3 and arguments[0] == "no such key" and arguments[2]:
        return f"no such key: {arguments[2][0]}"
    if arguments and isinstance(arguments[0], str) and arguments[0].startswith("no such member in mapping: "):
        return "no such key: " + arguments[0].removeprefix("no such member in mapping: ").strip("'")
    return str(arguments[0]) if arguments else str(error)

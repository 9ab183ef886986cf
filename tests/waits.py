"""What a wait that ran out was waiting for, for its message."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable


def describe(predicate: Callable[[], object]) -> str:
    """What `predicate` checks, for a timeout's message: a lambda's own source, else the function's name."""
    name = getattr(predicate, "__qualname__", "") or repr(predicate)
    if "<lambda>" not in name:
        return name
    try:
        lines, start = inspect.getsourcelines(predicate)
    except (OSError, TypeError):  # no source
        return name
    source = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda in the middle of a longer statement
        return " ".join(source.split())
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
    first_line = getattr(getattr(predicate, "__code__", None), "co_firstlineno", start)
    mine = [node for node in lambdas if node.lineno + start - 1 == first_line] or lambdas
    return (ast.get_source_segment(source, mine[0].body) if mine else None) or name

"""Rule-set expressions (the pandas syntax of config/rulesets) rewritten as XForm XPath.

So the phone's preliminary summary is computed from the very rules the pipeline applies: one
definition in config, two evaluators. Only the small grammar the rule sets use is accepted:
and/or/not, comparisons, `in`/`not in` a named list, + - * /, numbers and strings, field names
and `@parameters`. Anything else raises `ValueError` naming the construct.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable

_PARAM = re.compile(r"@(\w+)")
_PARAM_PREFIX = "__param_"
_OPS = {ast.Eq: "=", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "div"}


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true()" if value else "false()"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if "'" in text:
        raise ValueError(f"a quote inside a text value is not supported: {text!r}")
    return f"'{text}'"


class _Translator:
    def __init__(self, parameters: dict, reference: Callable[[str], str], boolean: Callable[[str], tuple[str, str] | None]) -> None:
        self.parameters, self.reference, self.boolean = parameters, reference, boolean

    def param(self, node: ast.AST) -> Any | None:
        if isinstance(node, ast.Name) and node.id.startswith(_PARAM_PREFIX):
            name = node.id.removeprefix(_PARAM_PREFIX)
            if name not in self.parameters:
                raise ValueError(f"unknown parameter @{name}")
            return self.parameters[name]
        return None

    def value(self, node: ast.AST) -> str:
        """An operand in a comparison or arithmetic."""
        param = self.param(node)
        if param is not None:
            return _literal(param)
        if isinstance(node, ast.Name):
            return self.reference(node.id)
        if isinstance(node, ast.Constant):
            return _literal(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return f"({self.value(node.left)} {_ARITH[type(node.op)]} {self.value(node.right)})"
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            return f"number({self.condition(node)})"  # a true/false used as 1/0
        raise ValueError(f"unsupported expression: {ast.unparse(node)}")

    def condition(self, node: ast.AST) -> str:
        """A true/false expression. A yes/no answer standing alone means "answered yes"."""
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.condition(v) for v in node.values) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = node.operand
            if isinstance(inner, ast.Name) and self.boolean(inner.id):
                return self.boolean(inner.id)[1]  # "answered no": unanswered is neither yes nor no
            return f"not({self.condition(inner)})"
        if isinstance(node, ast.Name) and self.boolean(node.id):
            return self.boolean(node.id)[0]
        if isinstance(node, ast.Compare):
            parts, left = [], node.left
            for op, right in zip(node.ops, node.comparators):
                parts.append(self.compare(left, op, right))
                left = right
            return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"
        raise ValueError(f"unsupported condition: {ast.unparse(node)}")

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> str:
        if isinstance(op, (ast.In, ast.NotIn)):
            options = self.param(right)
            if not isinstance(options, list):
                raise ValueError(f"'in' needs a named list parameter: {ast.unparse(right)}")
            subject = self.value(left)
            test = "(" + " or ".join(f"{subject} = {_literal(o)}" for o in options) + ")" if options else "false()"
            return test if isinstance(op, ast.In) else f"not{test}" if options else "true()"
        if type(op) not in _OPS:
            raise ValueError(f"unsupported comparison {type(op).__name__}")
        return f"{self.value(left)} {_OPS[type(op)]} {self.value(right)}"


def to_xpath(expression: str, parameters: dict, reference: Callable[[str], str],
             boolean: Callable[[str], tuple[str, str] | None]) -> str:
    """Translate one rule expression to an XPath condition.

    `reference(name)` gives the XPath of a field; `boolean(name)` gives, for a yes/no answer, the
    XPath of "yes" and of "no" (None for other fields).
    """
    source = " ".join(expression.split())
    try:
        tree = ast.parse(_PARAM.sub(lambda m: _PARAM_PREFIX + m.group(1), source), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a valid expression: {source!r} ({exc.msg})") from None
    return _Translator(parameters, reference, boolean).condition(tree.body)

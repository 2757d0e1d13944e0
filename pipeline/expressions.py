"""A rule set's expressions (config/rulesets/*.yaml) evaluated over a household or member table.

The expressions are pandas `eval` expressions: ``age < 16 and child_nutrition in @malnourished``.
`pandas.eval` parses an expression anew at every call, ~4 ms each: a commune's review evaluates a
dozen indicators once, and the facts of a province's detail file evaluate them again for every
part of 25,000 households, so the parsing cost more than the arithmetic. Here an expression is
parsed once (Python's own `ast`) and its tree walked with the same Series operators pandas' python
engine applies: ``and``/``or``/``not`` are ``&``/``|``/``~``, a chained comparison is the ``&`` of
its links, ``in``/``not in`` are `isin`, and so is ``==``/``!=`` with a text, as pandas rewrites it.
Anything else (calls, attributes, datetime columns, whose constants pandas converts, a name it
would resolve otherwise, operations on constants alone, which pandas folds its own way) and any
error is left to `pandas.eval` itself: an expression means what it means to pandas, and a bad one
fails with pandas' own message. tests/test_expressions.py holds the two to the same values.
"""

from __future__ import annotations

import ast
import functools
import io
import operator
import re
import tokenize
from typing import Any

import pandas as pd

_PARAMETER = "__rasoat_parameter_"  # what an @name becomes in the parsed tree

_IDENTIFIER = re.compile(r"(?<![@\w.'\"])([A-Za-z_][A-Za-z0-9_]*)(?![\w'\"(])")
_KEYWORDS = {"and", "or", "not", "in", "True", "False", "None", "is"}

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
           ast.BitAnd: operator.and_, ast.BitOr: operator.or_}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_UNARY = {ast.Not: operator.invert, ast.Invert: operator.invert, ast.USub: operator.neg, ast.UAdd: operator.pos}


def names_readable(expression: str) -> bool:
    """Whether `used_columns` finds every column the expression names: not when a name is
    backquoted or not ASCII (then a caller uses the whole frame)."""
    return "`" not in expression and expression.isascii()


def used_columns(expression: str, frame: pd.DataFrame) -> list[str]:
    """The frame's columns an expression uses, in order of appearance (no @parameters; see `names_readable`)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", " ".join(expression.split()))
    seen: list[str] = []
    for name in _IDENTIFIER.findall(text):
        if name not in _KEYWORDS and name in frame.columns and name not in seen:
            seen.append(name)
    return seen


def evaluate_expression(frame: pd.DataFrame, expression: str, parameters: dict):
    """`frame.eval(expression, engine="python", local_dict=parameters)`, the same values, with the
    expression parsed once (see the module's note). Backquoted or non-ASCII names: pandas itself."""
    tree = _parsed(expression) if names_readable(expression) else None
    if tree is not None:
        try:
            return _walk(tree, frame, parameters)
        except Exception:  # noqa: BLE001 - left to pandas (_LeftToPandas), or an error pandas names its own way
            pass
    if names_readable(expression):
        frame = frame[used_columns(expression, frame)]  # pandas resolves every column of the frame otherwise
    return frame.eval(expression, engine="python", local_dict=parameters)


def flags(frame: pd.DataFrame, expression: str, parameters: dict) -> pd.Series:
    """Whether the expression holds, per row, as bool: a missing (unknown) result is False. Line
    breaks (YAML's folded text keeps them) read as spaces: pandas reads one line."""
    result = evaluate_expression(frame, " ".join(expression.split()), parameters)
    if not isinstance(result, pd.Series):  # a constant expression
        result = pd.Series(result, index=frame.index)
    if result.dtype == bool:
        return result
    if isinstance(result.dtype, pd.BooleanDtype):  # the general conversion below, in one step
        return pd.Series(result.to_numpy(dtype=bool, na_value=False), index=result.index)
    return result.astype("boolean").fillna(False).astype(bool)


class _LeftToPandas(Exception):
    """The expression (or this frame's columns for it) is one for `pandas.eval` itself."""


_PANDAS_TOKENS = {(tokenize.OP, "&"): (tokenize.NAME, "and"), (tokenize.OP, "|"): (tokenize.NAME, "or"),
                  (tokenize.OP, "="): (tokenize.OP, "==")}


@functools.lru_cache(maxsize=512)
def _parsed(expression: str) -> ast.expr | None:
    """The expression's tree, each ``@name`` a name marked as a parameter, its tokens read as pandas
    reads them; None when Python cannot read it."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(" ".join(expression.split())).readline))
        out, k = [], 0
        while k < len(tokens):
            token = tokens[k]
            if token.type == tokenize.OP and token.string == "@" and k + 1 < len(tokens) and tokens[k + 1].type == tokenize.NAME:
                out.append((tokenize.NAME, _PARAMETER + tokens[k + 1].string))
                k += 2
                continue
            # as pandas reads the tokens: & and | are `and` and `or` (their precedence too), = is ==
            out.append(_PANDAS_TOKENS.get((token.type, token.string), (token.type, token.string)))
            k += 1
        return ast.parse(tokenize.untokenize(out).strip(), mode="eval").body
    except (SyntaxError, tokenize.TokenError, ValueError):
        return None


def _walk(node: ast.expr, frame: pd.DataFrame, parameters: dict) -> Any:
    if isinstance(node, ast.Name):
        if node.id.startswith(_PARAMETER):
            name = node.id.removeprefix(_PARAMETER)
            if name not in parameters:
                raise _LeftToPandas
            return parameters[name]
        if node.id not in frame.columns or not frame.columns.is_unique:
            raise _LeftToPandas  # not a column (or a name on two): pandas resolves it its own way
        column = frame[node.id]
        if column.dtype.kind in "mM" or column.dtype == "float32" or isinstance(column.dtype, pd.DatetimeTZDtype):
            raise _LeftToPandas  # pandas converts the constants compared with dates, and with float32 columns
        return column
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float, str))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_constant(e) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        return functools.reduce(combine, _all_columns(_walk(v, frame, parameters) for v in node.values))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](*_columns_in([_walk(node.operand, frame, parameters)]))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        operands = [_walk(node.left, frame, parameters), _walk(node.right, frame, parameters)]
        left, right = _all_columns(operands) if isinstance(node.op, (ast.BitAnd, ast.BitOr)) else _columns_in(operands)
        if not isinstance(node.op, (ast.BitAnd, ast.BitOr)) and (_is_text(left) or _is_text(right)):
            raise _LeftToPandas  # pandas refuses arithmetic on text columns
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left, result = _walk(node.left, frame, parameters), None
        for op, right_node in zip(node.ops, node.comparators):
            right = _walk(right_node, frame, parameters)
            link = _compared(op, *_columns_in([left, right]))
            result = link if result is None else result & link
            left = right
        return result
    raise _LeftToPandas


def _columns_in(operands) -> list:
    """The operands, when one at least is a column: pandas folds constants its own way (to it ``'a' == 'a'`` is False)."""
    operands = list(operands)
    if not any(isinstance(v, pd.Series) for v in operands):
        raise _LeftToPandas
    return operands


def _all_columns(operands) -> list:
    """The operands of ``and``/``or``, when all are columns: pandas refuses a constant among them
    unless both sides are booleans ("cannot evaluate scalar only bool ops")."""
    operands = list(operands)
    if not all(isinstance(v, pd.Series) for v in operands):
        raise _LeftToPandas
    return operands


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, pd.Series) and (value.dtype == object or pd.api.types.is_string_dtype(value.dtype)))


def _listed(value: Any) -> bool:
    return pd.api.types.is_list_like(value) and not isinstance(value, pd.Series)


def _constant(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    raise _LeftToPandas


def _compared(op: ast.cmpop, left: Any, right: Any) -> Any:
    if isinstance(op, (ast.In, ast.NotIn)):
        if not isinstance(left, pd.Series) or not _listed(right):
            raise _LeftToPandas
        found = left.isin(right)
        return ~found if isinstance(op, ast.NotIn) else found
    if type(op) not in _COMPARE or _listed(left) or _listed(right):
        raise _LeftToPandas  # `x == [..]` is a membership test to pandas; `is` is not a pandas operator
    if isinstance(op, (ast.Eq, ast.NotEq)) and (isinstance(left, str) or isinstance(right, str)):
        # to pandas `x == 'a'` is `x in ['a']`: a missing value is unequal, not unknown
        column, text = (left, right) if isinstance(right, str) else (right, left)
        found = column.isin([text])
        return ~found if isinstance(op, ast.NotEq) else found
    return _COMPARE[type(op)](left, right)

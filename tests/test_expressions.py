"""A rule set's expressions mean what they mean to `pandas.eval`: the parsed-once evaluator gives
the same values, and fails where pandas fails."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasoat.pipeline import expressions
from rasoat.pipeline.expressions import evaluate_expression
from rasoat.settings import load_settings

PARAMETERS = {"limit": 16, "share": 0.5, "kinds": ["a", "b"], "none": [], "word": "a"}
NUMBERS = ["n", "nn", "x", "xx"]
FLAGS = ["flag", "maybe", "boxed"]
TEXTS = ["t", "s"]


@st.composite
def tables(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 6))
    ints = st.integers(-3, 20)
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    texts = st.sampled_from(["a", "b", "c", "a b", "ã"])
    return pd.DataFrame({
        "n": pd.Series(draw(st.lists(ints, min_size=rows, max_size=rows)), dtype="int64"),
        "nn": pd.Series(draw(st.lists(maybe(ints), min_size=rows, max_size=rows)), dtype="Int64"),
        "x": pd.Series(draw(st.lists(maybe(st.floats(-5, 20)), min_size=rows, max_size=rows)), dtype="float64"),
        "xx": pd.Series(draw(st.lists(maybe(st.floats(-5, 20)), min_size=rows, max_size=rows)), dtype="Float64"),
        "flag": pd.Series(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=bool),
        "maybe": pd.Series(draw(st.lists(maybe(st.booleans()), min_size=rows, max_size=rows)), dtype="boolean"),
        "boxed": pd.Series(draw(st.lists(maybe(st.booleans()), min_size=rows, max_size=rows)), dtype=object),
        "t": pd.Series(draw(st.lists(maybe(texts), min_size=rows, max_size=rows)), dtype=object),
        "s": pd.Series(draw(st.lists(maybe(texts), min_size=rows, max_size=rows)), dtype="str"),
    })


def _number():
    return st.one_of(st.sampled_from(NUMBERS), st.sampled_from(["0", "3", "16", "2.5", "@limit", "@share", "-1"]))


def _arithmetic(inner):
    return st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")


def _comparison():
    number = st.recursive(_number(), _arithmetic, max_leaves=3)
    text = st.one_of(st.sampled_from(TEXTS), st.sampled_from(["'a'", "'ã'", "@word", "'@limit'"]))
    compare = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    listed = st.sampled_from(["['a', 'b']", "@kinds", "@none", "('c',)", "[1, 2]", "@word", "'ab'", "t"])
    return st.one_of(
        st.tuples(number, compare, number).map(" ".join),
        st.tuples(number, compare, number, compare, number).map(" ".join),  # chained
        st.tuples(text, st.sampled_from(["==", "!="]), text).map(" ".join),
        st.tuples(st.sampled_from([*TEXTS, *NUMBERS, "'a'"]), st.sampled_from(["in", "not in", "==", "!="]), listed).map(" ".join),
        st.sampled_from(FLAGS),
        st.sampled_from(["True", "False", "nothing_here", "@missing", "t is None", "abs(x) > 1", "t.str.len() > 1"]),
    )


def _logic(inner):
    return st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "&", "|"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"not ({e})"),
        inner.map(lambda e: f"~({e})"),
    )


EXPRESSIONS = st.recursive(_comparison(), _logic, max_leaves=5)


def _outcome(evaluate):
    try:
        return "value", evaluate()
    except Exception as exc:  # noqa: BLE001 - which error is compared below
        return "error", exc


def _same(mine, theirs) -> None:
    if isinstance(theirs, pd.Series):
        pd.testing.assert_series_equal(mine, theirs)
    elif isinstance(theirs, (np.ndarray, pd.api.extensions.ExtensionArray)):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    else:
        assert type(mine) is type(theirs) and (mine == theirs or (mine != mine and theirs != theirs))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=tables(), expression=EXPRESSIONS)
def test_an_expression_has_the_value_pandas_gives_it(frame, expression):
    with np.errstate(all="ignore"):
        theirs = _outcome(lambda: frame.eval(expression, engine="python", local_dict=PARAMETERS))
        mine = _outcome(lambda: evaluate_expression(frame, expression, PARAMETERS))
    assert mine[0] == theirs[0], (expression, mine, theirs)
    if theirs[0] == "value":
        _same(mine[1], theirs[1])
    else:
        assert type(mine[1]) is type(theirs[1]), (expression, mine, theirs)


def test_a_string_holding_an_at_sign_stays_a_string():
    frame = pd.DataFrame({"t": ["@limit", "x"]})
    assert evaluate_expression(frame, "t == '@limit'", PARAMETERS).tolist() == [True, False]


@pytest.mark.parametrize("year", [2026, 2027])
def test_the_bundled_rule_sets_are_evaluated_without_pandas_parsing_them(year):
    """The point of the evaluator: every bundled expression is walked, none handed to `pandas.eval`."""
    ruleset = load_settings().ruleset_for(year)
    for indicator in ruleset.indicators:
        expression = " ".join((indicator.household if indicator.kind == "household" else indicator.member).split())
        tree = expressions._parsed(expression)
        assert tree is not None, expression
        names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not n.id.startswith(expressions._PARAMETER)]
        frame = pd.DataFrame({name: pd.Series([1, 2], dtype="Int64") for name in names})
        expressions._walk(tree, frame, ruleset.parameters)  # raises _LeftToPandas where pandas would be asked

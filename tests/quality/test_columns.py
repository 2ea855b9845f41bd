"""A rule judged over columns (a year's report) answers what it answers department-year by
department-year (app.quality.judge), for any formulas, operators, missing strategies, figures and
qualifiers: the report's fast path is checked against the reference it replaces."""

import os
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.formula import parse
from app.quality import intervals
from app.quality.columns import judge_all, judge_columns
from app.quality.intervals import DECIMAL_INF, Interval
from app.quality.judge import Figure, Parsed, judge
from app.quality.models import Importance, Missing, Operator

CODES = ("a", "b", "c")
VALUES = [Decimal(v) for v in ("0", "1", "-2", "3", "0.3", "7.25", "100", "-0.5", "12345.678901")]
QUALIFIERS = ("exact", "exact", "at_least", "more_than", "approximately")


def _formulas() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from([f"#{{{c}}}" for c in CODES]),
        st.sampled_from(["0", "1", "2", "1.5", "3", "0.1"]),
    )
    return st.recursive(
        leaf,
        lambda inner: (
            st.tuples(inner, st.sampled_from("+-*/"), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
            | inner.map(lambda f: f"-{f}")
        ),
        max_leaves=5,
    )


_figure = st.tuples(st.sampled_from(VALUES), st.sampled_from(QUALIFIERS))
_department = st.dictionaries(st.sampled_from(CODES), _figure, max_size=3)


# A fixed sequence in the suite; `make fuzz` (FUZZ_EXAMPLES set) explores afresh, at length.
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")) * 6 if "FUZZ_EXAMPLES" in os.environ else 300,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
)
@given(
    left=_formulas(),
    right=_formulas(),
    operator=st.sampled_from(list(Operator)),
    missing=st.sampled_from(list(Missing)),
    departments=st.lists(_department, max_size=12),
    data=st.data(),
)
def test_a_rule_over_columns_answers_as_one_department_at_a_time(
    left: str,
    right: str,
    operator: Operator,
    missing: Missing,
    departments: list[dict[str, Figure]],
    data: st.DataObject,
) -> None:
    rule = Parsed(
        id=1,
        code="r",
        left=parse(left),
        operator=operator,
        right=parse(right),
        importance=Importance.medium,
        missing=missing,
    )
    assert judge_all(rule, departments) == [judge(rule, figures) for figures in departments]
    # some of the department-years only (a report's departments with a figure), from columns
    some = sorted(data.draw(st.sets(st.sampled_from(range(len(departments)))))) if departments else []
    values = {c: [figures[c][0] if c in figures else None for figures in departments] for c in CODES}
    qualifiers = {c: [figures[c][1] if c in figures else None for figures in departments] for c in CODES}
    assert judge_columns(rule, values, qualifiers, some) == [judge(rule, departments[k]) for k in some]


_END = st.sampled_from(VALUES)


@st.composite
def _interval(draw: st.DrawFn) -> Interval:
    lo, hi = sorted((draw(_END), draw(_END)))
    if lo == hi:
        return Interval(lo, hi)
    return Interval(
        draw(st.sampled_from([lo, -DECIMAL_INF])),
        draw(st.sampled_from([hi, DECIMAL_INF])),
        draw(st.booleans()),
        draw(st.booleans()),
    )


@settings(max_examples=500, deadline=None, derandomize=True)
@given(a=_interval(), c=_END)
def test_a_product_by_a_point_is_the_product_of_every_end(a: Interval, c: Decimal) -> None:
    point = Interval(c, c)
    a = a if a.lo != a.hi else Interval(a.lo, a.hi)  # a point is closed
    expected = intervals._products(a, point)
    assert intervals._mul(a, point) == expected
    assert intervals._mul(point, a) == intervals._products(point, a) == expected

"""The formula grammar and its exact evaluation, against hand-worked answers."""

from decimal import Decimal
from fractions import Fraction

import pytest

from app.core.formula import FormulaError, parse, round_places

FIGURES = {
    "free-seals": Decimal(1584),
    "new-firms-sealed": Decimal(528),
    "a": Decimal("0.1"),
    "z": Decimal(0),
}


@pytest.mark.parametrize(
    ("text", "operands", "value"),
    [
        ("#{free-seals} / #{new-firms-sealed}", ("free-seals", "new-firms-sealed"), Decimal("3.000000")),
        ("200 / 3", (), Decimal("66.666667")),  # 66.6666666...: the 7th decimal rounds up
        ("-200 / 3", (), Decimal("-66.666667")),  # half away from zero on both sides
        ("0.0000005", (), Decimal("0.000001")),
        ("-0.0000005", (), Decimal("-0.000001")),
        ("0.00000049", (), Decimal("0.000000")),
        ("#{a} + #{a} + #{a}", ("a",), Decimal("0.300000")),  # exact: no 0.30000000000000004
        ("(#{a} + 0.2) * 10", ("a",), Decimal("3.000000")),
        ("#{a} * 10 / 3 * 3", ("a",), Decimal("1.000000")),  # fractions: no 0.9999999
        (
            "#{new-firms-sealed} - #{free-seals} * 2",
            ("new-firms-sealed", "free-seals"),
            Decimal("-2640.000000"),
        ),
        ("-(#{a})", ("a",), Decimal("-0.100000")),
        ("#{a} / #{z}", ("a", "z"), None),  # division by zero: no value
        ("#{a} / (#{a} - #{a})", ("a",), None),
        ("#{a} * #{missing}", ("a", "missing"), None),  # a missing operand: no value
        ("123456789012345678.123456 * 1", (), Decimal("123456789012345678.123456")),
    ],
)
def test_values(text: str, operands: tuple[str, ...], value: Decimal | None) -> None:
    formula = parse(text)
    assert formula.operands == operands
    assert formula.value(FIGURES) == value


def test_operands_once_in_order() -> None:
    assert parse("#{b} + #{a} * #{b} - #{ a }").operands == ("b", "a")


def test_exact_fraction_and_rounding() -> None:
    assert parse("1 / 3").evaluate({}) == Fraction(1, 3)
    assert round_places(Fraction(5, 2), 0) == Decimal(3)
    assert round_places(Fraction(-5, 2), 0) == Decimal(-3)
    assert round_places(Fraction(1, 8), 2) == Decimal("0.13")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("#{a} ** 2", "+ - * /"),
        ("#{a} // 2", "+ - * /"),
        ("#{a} % 2", "%"),
        ("abs(#{a})", "numbers"),
        ("__import__('os')", "'"),
        ("#{A}", "not an indicator code"),
        ("#{}", "not an indicator code"),
        ("1e5", "not a decimal number"),
        ("1_000", "not a decimal number"),
        ("#{a}, #{b}", ","),
        ("#{a} +", "syntax error"),
        ("(#{a}", "syntax error"),
        ("a", "write indicators as #{code}"),
        ("_op0_", "write indicators as #{code}"),
        ("#{a}#", "#{code}"),
        ("#{a}{", "#{code}"),
        ("True", "T"),
        ("()", "numbers"),
        ("#{a} if 1 else 2", "numbers"),
        ("#{a} < 2", "<"),
        ("x" * 1001, "at most 1000"),
    ],
)
def test_refused(text: str, says: str) -> None:
    with pytest.raises(FormulaError, match=None) as refused:
        parse(text)
    assert says in str(refused.value)

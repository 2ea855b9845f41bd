"""What a value must be for its indicator's value_type."""

from decimal import Decimal

from app.indicators.models import ValueType

_RULES: dict[ValueType, str] = {
    ValueType.count: "a count must be a whole number of 0 or more",
    ValueType.amount: "",
    ValueType.percent: "a percent must be between 0 and 100",
    ValueType.rank: "a rank must be a whole number of 1 or more",
    ValueType.boolean: "a boolean must be 0 or 1",
}


def violation(value_type: ValueType, value: Decimal) -> str | None:
    """The rule the value breaks, in words, or None when it fits."""
    if value_type is ValueType.amount:
        ok = True
    elif value_type is ValueType.percent:
        ok = 0 <= value <= 100
    else:
        whole = value == value.to_integral_value()
        if value_type is ValueType.count:
            ok = whole and value >= 0
        elif value_type is ValueType.rank:
            ok = whole and value >= 1
        else:
            ok = value in (0, 1)
    return None if ok else _RULES[value_type]


def future_year_message(last_year: int) -> str:
    """Why a year after `last_year` (Settings.last_open_year) takes no observations."""
    return (
        f"observations may not be for a year after {last_year} "
        "(the current year, plus INDICATORS_OPEN_FUTURE_YEARS)"
    )

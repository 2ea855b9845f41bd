"""Fields every domain's schemas share: codes, years, free text, exact values."""

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from app.core.text import CONTROL_PATTERN

YEAR_MIN, YEAR_MAX = 1900, 2100
CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]


def whole_number(value: object) -> object:
    """A JSON number with nothing after the point (`2021.0`) as the integer it is: JSON Schema's
    `integer` admits it, so a client generated from the document may send it. Booleans and text
    stay refused (the fields are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, strict=True), BeforeValidator(whole_number)]
# Free text (names, descriptions, units, notes, sources, reasons): no control character but tab and
# line breaks (app.core.text), so that every text held can be written into CSV and a workbook. The
# pattern is in the OpenAPI; a refusal is a 422 naming the field (type string_pattern_mismatch).
Text = Annotated[str, StringConstraints(pattern=CONTROL_PATTERN)]
REASON_MAX = 500
Reason = Annotated[
    Text | None,
    Field(
        default=None, max_length=REASON_MAX, description="why: kept in the history with the version it makes"
    ),
]


def not_null(schema: dict[str, Any]) -> None:
    """The JSON schema of a PATCH field that may be left out but never sent as null (the service
    refuses null, naming the field): its type without the null, and no default of null."""
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", "") is None:
        del schema["default"]


MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 6
_INTEGER_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
_FRACTION_STEP = Decimal(1).scaleb(-MAX_FRACTION_DIGITS)


def parse_value(raw: object) -> Decimal:
    """A JSON number (or a spreadsheet cell's text) as an exact decimal within the contract's bounds."""
    if isinstance(raw, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().replace(",", "") if raw.strip() else ""
        if not text:
            raise ValueError("must be a number, got an empty value")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"must be a number, got {raw!r}") from None
    else:
        raise ValueError(f"must be a number, not {type(raw).__name__}")
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) >= _INTEGER_LIMIT:
        raise ValueError(f"at most {MAX_INTEGER_DIGITS} digits before the decimal point")
    if value != value.quantize(_FRACTION_STEP):
        raise ValueError(f"at most {MAX_FRACTION_DIGITS} digits after the decimal point")
    return value + 0 if value == 0 else value  # -0 becomes 0


def _json_number_only(raw: object) -> Decimal:
    if isinstance(raw, str):
        raise ValueError("must be a JSON number, not a string")
    return parse_value(raw)


Value = Annotated[
    Decimal,
    PlainValidator(_json_number_only),
    WithJsonSchema(
        {
            "type": "number",
            "description": "exact decimal: up to 18 digits before the point and 6 after",
            "exclusiveMinimum": -(10**MAX_INTEGER_DIGITS),
            "exclusiveMaximum": 10**MAX_INTEGER_DIGITS,
        }
    ),
]

# An exact decimal in an answer: written as a JSON number with its own digits (see app.core.json).
Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]


def required_when(field: str, value: str, then: str) -> dict[str, Any]:
    """JSON schema (2020-12, as OpenAPI 3.1 has it) for a rule a model's validator enforces: `then`
    is required, and not null, when `field` is `value`."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {"required": [then], "properties": {then: {"not": {"type": "null"}}}},
    }


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

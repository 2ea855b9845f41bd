"""Types every domain's schemas share: codes, years, exact values, pages."""

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, WithJsonSchema

from app.celltables import YEAR_MAX, YEAR_MIN
from app.problems import BadRequest

CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, strict=True)]

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
    WithJsonSchema({"type": "number", "description": "exact decimal: 18 digits, 6 after the point"}),
]

# An exact decimal in an answer: written as a JSON number with its own digits (see app.jsonio).
Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]

T = TypeVar("T")


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Field(ge=1, le=1000)]


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[int] | type[str] | None = None) -> Any:
    """The key an `encode_cursor` cursor holds; 400 for anything else, including a key of another
    `kind` than the list pages by (ids and versions are ints, codes are strings)."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise BadRequest("The cursor is not one this service gave out") from None
    forged = (
        (kind is not None and type(key) is not kind)
        or (type(key) is int and not 0 <= key < 2**62)
        or "\x00" in str(key)  # PostgreSQL cannot compare with it
    )
    if forged:
        raise BadRequest("The cursor is not one this service gave out")
    return key


class _HasCode(Protocol):
    code: str


C = TypeVar("C", bound=_HasCode)


def page_by_code(items: list[C], limit: int) -> "Page[C]":
    """A page of a list in code order: a full page points on to the next."""
    return Page(items=items, next_cursor=encode_cursor(items[-1].code) if len(items) == limit else None)

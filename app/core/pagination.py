"""Pages of a list: `{"items": [...], "next_cursor": ...}`, a limit, and opaque cursors."""

import base64
import binascii
from typing import Annotated, Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel, Field

from app.core.problems import BadRequest

T = TypeVar("T")


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

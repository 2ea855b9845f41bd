"""HTTP helpers every router shares: ETags, conditional requests and CSV answers."""

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.core.json import decimal_text, dumps
from app.core.problems import NotAcceptable, PreconditionFailed


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag.removeprefix("W/") in candidates


def conditional(
    request: Request,
    body: bytes,
    *,
    etag: str | None = None,
    media_type: str = "application/json",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """An answer with an ETag, or 304 when the client's If-None-Match already has it."""
    etag = etag or etag_of(body)
    all_headers = {"ETag": etag, **(headers or {})}
    inm = request.headers.get("if-none-match")
    if inm is not None and _matches(inm, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, status_code=status_code, media_type=media_type, headers=all_headers)


def json_etag(request: Request, content: Any, *, etag: str | None = None, status_code: int = 200) -> Response:
    return conditional(request, dumps(content), etag=etag, status_code=status_code)


def check_if_match(request: Request, current_etag: str | None) -> None:
    """A write with If-Match proceeds only while the resource still has that ETag (412 otherwise)."""
    header = request.headers.get("if-match")
    if header is not None and (current_etag is None or not _matches(header, current_etag)):
        raise PreconditionFailed(
            "The resource has changed since you read it (If-Match does not match); nothing was written"
            if current_etag
            else "The resource does not exist, so If-Match cannot match; nothing was written"
        )
    inm = request.headers.get("if-none-match")
    if inm is not None and current_etag is not None and _matches(inm, current_etag):
        raise PreconditionFailed("The resource exists (If-None-Match); nothing was written")


def wants_csv(request: Request, format: str | None = None) -> bool:
    if format is not None:
        if format not in ("json", "csv", "xlsx"):
            raise NotAcceptable(f"Unknown format {format!r}; use json, csv or xlsx")
        return format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV, header first; decimals digit for digit as in JSON, null as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode()


def csv_etag(request: Request, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV answer with an ETag (304 when If-None-Match has it); it varies with Accept."""
    body = csv_bytes(header, rows)
    return conditional(request, body, media_type=CSV_MEDIA_TYPE, headers={"Vary": "Accept"})

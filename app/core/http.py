"""HTTP helpers every router shares: ETags and conditional requests (files: app.core.tables)."""

import hashlib
from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.core.json import dumps
from app.core.problems import PreconditionFailed


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

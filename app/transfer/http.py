"""What the batch routes share: the raw body, a batch run from it, and bodies described in OpenAPI."""

import io
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.auth.principal import Principal
from app.core.config import Settings
from app.core.json import json_response
from app.transfer import batch
from app.transfer import formats as files


async def _raw_body(request: Request) -> bytes:
    return await request.body()


# Read before the session is opened: SQLite's write lock is not held while a slow client uploads.
RawBody = Annotated[bytes, Depends(_raw_body)]


def inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A JSON schema with its $defs written in place: openapi_extra cannot add components."""
    if defs is None and isinstance(schema, dict):
        defs = schema.pop("$defs", {})
    if isinstance(schema, dict):
        if "$ref" in schema:
            return inline(dict((defs or {})[schema["$ref"].rsplit("/", 1)[1]]), defs)
        return {k: inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline(v, defs) for v in schema]
    return schema


def batch_body(model: type[BaseModel]) -> dict[str, Any]:
    """A batch route's request body in OpenAPI: the JSON document, CSV text or a workbook."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline(model.model_json_schema())},
                "text/csv": {"schema": {"type": "string"}},
                files.XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


def run_batch(
    request: Request,
    body: bytes,
    session: Session,
    actor: Principal,
    settings: Settings,
    *,
    dry_run: bool,
    atomic: bool,
    layout: files.Layout,
    cells: batch.Cells,
) -> Response:
    """Read the body in its Content-Type's format and run it as one batch: the summary as JSON."""
    kind = files.kind_of(request.headers.get("content-type"))
    reading = files.read(kind, io.BytesIO(body), dry_run=dry_run, atomic=atomic, layout=layout)
    summary = batch.run(
        session,
        rows=reading.rows,
        actor=actor,
        dry_run=reading.dry_run,
        atomic=reading.atomic,
        strict=kind == "json",
        max_rows=settings.max_batch_rows,
        cells=cells,
        last_year=settings.last_open_year(),  # figures only: targets may be for any year
    )
    return json_response(summary.body())

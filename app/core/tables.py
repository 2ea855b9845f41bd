"""Lists and reports as files: JSON by default, `?format=csv` or `Accept: text/csv` for UTF-8 CSV with
a BOM (what Excel and WPS need to read Chinese), `?format=xlsx` for a workbook. The header row is the
JSON field names; decimals keep their digits; text is written so that no stored text fails an export.
"""

import csv
import datetime as dt
import io
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.core.http import conditional
from app.core.json import decimal_text, dumps
from app.core.problems import NotAcceptable
from app.core.text import printable

Format = Literal["json", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("json", "csv", "xlsx")
BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXACT_DIGITS = 15  # what a spreadsheet number holds exactly; longer figures are written as text
LIST_SEPARATOR = ";"
# For a route's `responses=`: the OpenAPI then lists the file formats beside JSON.
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}
# The same for a report with an ETag, which answers 304 to a matching If-None-Match.
FILES_OR_304: dict[int | str, dict[str, Any]] = {
    **FILE_RESPONSES,
    304: {"description": "Not modified: If-None-Match has the current ETag"},
}

# A route's `format` parameter: checked by requested_format (406 for another value, not 422), so the
# schema lists the formats itself.
FormatQuery = Annotated[
    str | None,
    Query(
        description="json (the default), csv (UTF-8 with a BOM) or xlsx: every matching row as a file, "
        "unpaged (limit and cursor are then ignored); `Accept: text/csv` asks for CSV too",
        json_schema_extra={"enum": list(FORMATS)},
    ),
]


def requested_format(request: Request, format: str | None = None) -> Format:
    """`?format=` wins; else `Accept: text/csv` (without JSON beside it) asks for CSV."""
    if format is not None:
        if format not in FORMATS:
            raise NotAcceptable(f"Unknown format {format!r}; use json, csv or xlsx")
        return format
    accept = request.headers.get("accept", "")
    if "text/csv" in accept and "application/json" not in accept:
        return "csv"
    if XLSX_MEDIA_TYPE in accept and "application/json" not in accept:
        return "xlsx"
    return "json"


def time_text(value: dt.datetime | dt.date) -> str:
    """A time as the JSON answer writes it ("2026-11-28T09:00:00Z"): spreadsheets hold no zone."""
    return dumps(value).decode()[1:-1]


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dt.date):
        return time_text(value)
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> bytes:
    """CSV, header first, lines ended CRLF (RFC 4180); null is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return ((BOM if bom else "") + buffer.getvalue()).encode()


def sheet_number(value: Decimal) -> int | float | str:
    """A figure as a spreadsheet cell: a number when a sheet can hold it exactly, else its digits."""
    if value == value.to_integral_value() and abs(value) < 10**EXACT_DIGITS:
        return int(value)
    if len(value.normalize().as_tuple().digits) <= EXACT_DIGITS:
        return float(value)  # <= 15 significant digits: repr() gives the same digits back
    return decimal_text(value)


def sheet_text(sheet: Any, text: str | None) -> Any:
    """Free text as a sheet cell: always a string, control characters replaced. openpyxl makes a
    formula of any text that starts with "=", which a spreadsheet would run, and refuses control
    characters (IllegalCharacterError)."""
    if text is None:
        return None
    text = printable(text)
    if not text.startswith("="):
        return text
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


def sheet_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return sheet_number(value)
    if isinstance(value, str):
        return sheet_text(sheet, str(value))  # str(): an enum member as its plain value
    if isinstance(value, dt.date):
        return time_text(value)
    return value


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or as `Model | None`; None for anything else."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def columns(schema: type[BaseModel], prefix: str = "") -> tuple[str, ...]:
    """The header of a file of `schema` items: its JSON field names, a nested object's fields
    flattened with the object's name as prefix (`target_operator`)."""
    names: list[str] = []
    for name, field in schema.model_fields.items():
        nested = _model_of(field.annotation)
        names.extend(columns(nested, f"{prefix}{name}_") if nested else (f"{prefix}{name}",))
    return tuple(names)


def _flatten(item: Mapping[str, Any], schema: type[BaseModel], into: list[Any]) -> None:
    for name, field in schema.model_fields.items():
        value = item.get(name)
        nested = _model_of(field.annotation)
        if nested is not None:
            _flatten(value if isinstance(value, Mapping) else {}, nested, into)
        elif isinstance(value, list | tuple):
            into.append(LIST_SEPARATOR.join(str(csv_cell(v)) for v in value))
        else:
            into.append(value)


def flat_rows(schema: type[BaseModel], items: Iterable[BaseModel | Mapping[str, Any]]) -> list[list[Any]]:
    """Items (models or their dicts) as rows under `columns(schema)`; lists joined with ";"."""
    rows = []
    for item in items:
        row: list[Any] = []
        _flatten(item.model_dump() if isinstance(item, BaseModel) else item, schema, row)
        rows.append(row)
    return rows


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "data") -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(printable(title)[:31] or "data")
    sheet.append(list(header))
    for row in rows:
        sheet.append([sheet_cell(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def table(
    request: Request,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    format: Format,
    name: str,
) -> Response:
    """A list or report as CSV or a workbook, with an ETag (304 when If-None-Match has it)."""
    if format == "xlsx":
        body = xlsx_bytes(header, rows, title=name)
        media_type, suffix = XLSX_MEDIA_TYPE, "xlsx"
    else:
        body = csv_bytes(header, rows)
        media_type, suffix = CSV_MEDIA_TYPE, "csv"
    disposition = f'attachment; filename="{name}.{suffix}"'
    return conditional(
        request, body, media_type=media_type, headers={"Vary": "Accept", "Content-Disposition": disposition}
    )


def model_table(
    request: Request,
    schema: type[BaseModel],
    items: Iterable[BaseModel | Mapping[str, Any]],
    *,
    format: Format,
    name: str,
) -> Response:
    """A list of `schema` items as a file: header `columns(schema)`, one row per item."""
    return table(request, columns(schema), flat_rows(schema, items), format=format, name=name)

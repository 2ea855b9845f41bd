"""Batch bodies as rows: a JSON document, a CSV file (UTF-8, UTF-8 with BOM or GB 18030) or a workbook.

A `Layout` names a batch's columns: observations (`OBSERVATIONS`) or targets (`TARGETS`). Every
reader yields `(row, values)` with `values` in the layout's field order (MISSING where a JSON
object has no such key), or a `BadRow` for an item that is not a row at all. `row` is what a
person sees: for CSV and sheets the row number a spreadsheet program shows (the header is row 1,
the first data row 2), for JSON the position in the list from 1.

A workbook's cells are read as they show (app.transfer.workbooks).
"""

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import IO, Any, Final, Literal, NamedTuple

from app.core.problems import FieldError, InvalidValue, UnsupportedMediaType
from app.transfer import workbooks

FIELDS: Final = ("indicator", "department", "year", "value", "qualifier", "note", "source")
HEADER_ZH: Final = ("指标", "部门", "年度", "数值", "限定", "备注", "来源")
TARGET_FIELDS: Final = ("indicator", "department", "year", "operator", "value", "upper", "note", "source")
TARGET_HEADER_ZH: Final = ("指标", "部门", "年度", "方式", "目标值", "上限", "备注", "来源")
# The display columns of our own templates, English and Chinese: skipped on import.
DISPLAY: Final = frozenset(
    {"indicator_name", "department_name", "unit", "previous_value", "previous_target"}
    | {"指标名称", "部门名称", "单位", "上年数值", "上年目标"}
)

JSON = "application/json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Kind = Literal["json", "csv", "xlsx"]
KINDS: Final[dict[str, Kind]] = {JSON: "json", CSV: "csv", XLSX: "xlsx"}

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003) and other compound documents


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
Values = tuple[Any, ...]


@dataclass(frozen=True)
class BadRow:
    row: int
    loc: tuple[str, ...]
    msg: str
    type: str


Row = tuple[int, Values] | BadRow


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of batch, and the key of a JSON batch's list."""

    key: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    header_zh: tuple[str, ...]
    pick: Callable[[Callable[[str, Any], Any]], Values]  # a JSON object's values by its `get`

    @property
    def aliases(self) -> dict[str, str]:
        """The Chinese header offices write, to the field each column is."""
        return {**dict(zip(self.header_zh, self.fields, strict=True)), "年份": "year"}

    def header_text(self) -> str:
        optional = self.fields[len(self.required) :]
        zh = self.header_zh
        return (
            f"{','.join(self.required)}[,{','.join(optional)}] "
            f"(or {','.join(zh[: len(self.required)])}[,{','.join(zh[len(self.required) :])}])"
        )


def _observation(get: Callable[[str, Any], Any]) -> Values:
    # Written out rather than looped over the fields: this runs once per row of a JSON batch.
    return (
        get("indicator", MISSING),
        get("department", MISSING),
        get("year", MISSING),
        get("value", MISSING),
        get("qualifier", MISSING),
        get("note", MISSING),
        get("source", MISSING),
    )


def _target(get: Callable[[str, Any], Any]) -> Values:
    return tuple(get(field, MISSING) for field in TARGET_FIELDS)


OBSERVATIONS: Final = Layout("observations", FIELDS, FIELDS[:4], HEADER_ZH, _observation)
TARGETS: Final = Layout("targets", TARGET_FIELDS, TARGET_FIELDS[:5], TARGET_HEADER_ZH, _target)


def kind_of(content_type: str | None) -> Kind:
    """JSON, CSV or a workbook, from the Content-Type; anything else is 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind = KINDS.get(media)
    if kind is None:
        raise UnsupportedMediaType(
            f"A batch is {JSON}, {CSV} or an .xlsx workbook ({XLSX}), not {media or 'an untyped body'}"
        )
    return kind


def sniff(kind: Kind, head: bytes) -> None:
    """Refuse a body that is plainly not what its Content-Type says (415), before parsing it."""
    said = {"json": "JSON", "csv": "CSV", "xlsx": "an .xlsx workbook"}[kind]
    found = None
    if head.startswith(_OLE2):
        found = "an .xls (Excel 97-2003) workbook; save it as .xlsx"
    elif head.startswith(_ZIP) and kind != "xlsx":
        found = f"a zip file (an .xlsx workbook?); send workbooks as {XLSX}"
    elif kind == "xlsx" and not head.startswith(_ZIP):
        found = "not a zip file, so not an .xlsx workbook"
    elif kind == "csv" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        found = f"JSON; send it as {JSON}"
    if found is not None:
        raise UnsupportedMediaType(f"The body is {found}, but its Content-Type says {said}")


# --- JSON -------------------------------------------------------------------------------------------


def json_batch(document: Any, layout: Layout = OBSERVATIONS) -> tuple[list[Any], bool | None, bool | None]:
    """The rows of a JSON batch and its dry_run and atomic flags (None when not given)."""
    key = layout.key
    if not isinstance(document, dict):
        raise InvalidValue(
            f'A JSON batch is an object: {{"{key}": [...], "dry_run": false, "atomic": true}}',
            errors=[FieldError(["body"], "must be an object", "dict_type")],
        )
    errors = [
        FieldError(["body", name], f"unknown field; a batch has {key}, dry_run and atomic", "extra")
        for name in document
        if name not in (key, "dry_run", "atomic")
    ]
    observations = document.get(key, MISSING)
    if observations is MISSING:
        errors.append(FieldError(["body", key], "required", "missing"))
    elif not isinstance(observations, list):
        errors.append(FieldError(["body", key], f"must be a list of {key}", "list_type"))
    flags: list[bool | None] = []
    for name in ("dry_run", "atomic"):
        flag = document.get(name, MISSING)
        if flag is not MISSING and not isinstance(flag, bool):
            errors.append(FieldError(["body", name], "must be true or false", "bool_type"))
        flags.append(flag if isinstance(flag, bool) else None)
    if errors:
        raise InvalidValue("The batch document is not valid", errors=errors)
    return observations, flags[0], flags[1]


def json_rows(items: Iterable[Any], layout: Layout = OBSERVATIONS) -> Iterator[Row]:
    fieldset = frozenset(layout.fields)
    pick = layout.pick
    wanted = f"must be an object with {', '.join(layout.required)}"
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            yield BadRow(n, (), wanted, "dict_type")
            continue
        if not item.keys() <= fieldset:
            extra = sorted(str(k) for k in item.keys() - fieldset)
            yield BadRow(n, (extra[0],), f"unknown field(s) {', '.join(extra)}", "extra_forbidden")
            continue
        yield n, pick(item.get)


# --- headers ----------------------------------------------------------------------------------------


def columns(header: Sequence[Any], layout: Layout = OBSERVATIONS) -> list[int | None]:
    """For each of the layout's fields, its column index in the header (None for an absent optional one)."""
    found: dict[str, int] = {}
    errors: list[FieldError] = []
    aliases, fields = layout.aliases, layout.fields
    for index, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip().lstrip("\ufeff").strip()
        key = aliases.get(name) or name.lower()
        if not name or key in DISPLAY or name in DISPLAY:
            continue
        if key not in fields:
            errors.append(FieldError(["header", index + 1], f"unknown column {name!r}", "unknown_column"))
        elif key in found:
            errors.append(FieldError(["header", index + 1], f"column {key!r} appears twice", "duplicate"))
        else:
            found[key] = index
    errors += [
        FieldError(["header", field], f"required column {field!r} is missing", "missing")
        for field in layout.required
        if field not in found
    ]
    if errors:
        raise InvalidValue(f"The header must name the columns {layout.header_text()}", errors=errors)
    return [found.get(f) for f in fields]


def _table_rows(lines: Iterator[tuple[int, Sequence[Any]]], empty: Any, layout: Layout) -> Iterator[Row]:
    """The rows of a table whose first line is the header, each with its number as a spreadsheet
    shows it; blank lines keep their number, unread."""
    first = next(lines, None)
    if first is None:
        raise InvalidValue(
            "The file is empty: it needs a header line",
            errors=[FieldError(["header"], "missing", "missing")],
        )
    index = columns(first[1], layout)
    width = max(i for i in index if i is not None) + 1
    # Absent optional columns read the cell one past the widest column, always `empty`.
    pick = itemgetter(*(width if i is None else i for i in index))
    for n, line in lines:
        if len(line) == width:
            values = pick([*line, empty])
        else:
            values = pick([*line[:width], *([empty] * (width + 1 - min(len(line), width)))])
        if not any(values) and all(v is None or v == "" for v in values):
            continue  # a blank line (0 is not blank)
        yield n, values


# --- CSV --------------------------------------------------------------------------------------------


def detect_file_encoding(handle: IO[bytes], block: int = 1 << 20) -> str:
    """The encoding of a whole file, read once in blocks: utf-8-sig when strictly UTF-8, else gb18030
    (which covers GBK); 415 for a file holding NUL bytes, which is binary, not CSV text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    try:
        while chunk := handle.read(block):
            if b"\x00" in chunk:
                raise UnsupportedMediaType("The body holds NUL bytes: it is binary, not CSV text")
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    finally:
        handle.seek(0)
    return "utf-8-sig" if utf8 else "gb18030"


def csv_rows(text: IO[str], layout: Layout = OBSERVATIONS) -> Iterator[Row]:
    """Rows of CSV text, streamed; a record's number is its row in a spreadsheet program (a quoted
    line break does not start a new one)."""
    try:
        yield from _table_rows(enumerate(csv.reader(text), 1), "", layout)
    except csv.Error as exc:
        raise InvalidValue(
            f"The CSV cannot be read: {exc}", errors=[FieldError(["body"], str(exc), "csv")]
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidValue(
            f"The CSV is neither UTF-8 nor GB 18030/GBK text (bytes {exc.object[exc.start : exc.end]!r})",
            errors=[FieldError(["body"], "undecodable text", "encoding")],
        ) from None


# --- workbooks --------------------------------------------------------------------------------------


def xlsx_rows(source: IO[bytes], layout: Layout = OBSERVATIONS) -> Iterator[Row]:
    """Rows of the first sheet of an .xlsx workbook, streamed, each cell as it shows (see workbooks)."""
    return _table_rows(workbooks.lines(source), None, layout)


def json_document(body: bytes) -> Any:
    """The body as JSON with exact numbers; 422 naming the problem when it is not JSON.

    app.core.json.loads scans a body character by character for its nesting depth, which costs more
    than the parse itself for a batch of 100,000 rows; the parser's own recursion limit is the
    guard here, and a batch deeper than three levels is refused by its shape anyway.
    """
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        message = "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN and Infinity
        message = str(exc)
    raise InvalidValue(
        f"The body is not valid JSON: {message}", errors=[FieldError(["body"], message, "json_invalid")]
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


# --- one reader for every format --------------------------------------------------------------------


class Reading(NamedTuple):
    """A batch as read: its rows, streamed, and the options it runs with."""

    rows: Iterator[Row]
    dry_run: bool
    atomic: bool


def read(
    kind: Kind,
    source: IO[bytes],
    *,
    dry_run: bool = False,
    atomic: bool = True,
    layout: Layout = OBSERVATIONS,
) -> Reading:
    """The rows of a batch in `kind` from `source`, a request's body or a file on disk, which must stay
    open while the rows are read; HTTP and `indicators import` both read through here.

    The options given beside the body (the query string, the command line) and a JSON batch's own
    `dry_run` and `atomic` combine by one rule: a dry run asked for by either is a dry run (nothing is
    written that anyone asked not to write), and the batch's own `atomic`, where it says one, wins.
    """
    sniff(kind, source.read(16))
    source.seek(0)
    if kind == "json":
        items, own_dry_run, own_atomic = json_batch(json_document(source.read()), layout)
        return Reading(
            json_rows(items, layout),
            dry_run=dry_run or bool(own_dry_run),
            atomic=atomic if own_atomic is None else own_atomic,
        )
    if kind == "csv":
        text = io.TextIOWrapper(source, encoding=detect_file_encoding(source), newline="")
        return Reading(_closing_with(csv_rows(text, layout), text), dry_run, atomic)
    return Reading(xlsx_rows(source, layout), dry_run, atomic)


def _closing_with(rows: Iterator[Row], text: io.TextIOWrapper) -> Iterator[Row]:
    """The rows, keeping their text wrapper alive while they are read: were the rows its only owner,
    its end would close the source under the caller."""
    try:
        yield from rows
    finally:
        text.detach()

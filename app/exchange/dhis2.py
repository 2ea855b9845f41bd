"""DHIS2 data value sets out (JSON and CSV) and in (read into the rows of an observation batch).

DHIS2's CSV has no header names it depends on: columns are read by position, the first line being the
header, as DHIS2 itself reads them: dataelement, period, orgunit, categoryoptioncombo,
attributeoptioncombo, value, storedby, lastupdated, comment, followup, deleted. This service keeps
no disaggregations, so the two option combos are written empty and not read.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Final

from sqlalchemy.orm import Session

from app.core.json import decimal_text
from app.core.problems import FieldError, InvalidValue, UnsupportedMediaType
from app.core.tables import time_text
from app.exchange import figures
from app.observations.schemas import ObservationRead
from app.transfer.formats import MISSING, BadRow, Row, json_document

CSV_HEADER: Final = (
    "dataelement",
    "period",
    "orgunit",
    "categoryoptioncombo",
    "attributeoptioncombo",
    "value",
    "storedby",
    "lastupdated",
    "comment",
    "followup",
    "deleted",
)
_YEAR = re.compile(r"[0-9]{4}")
PERIOD_MSG = (
    "only yearly periods are held (such as 2021): figures are kept per year, not per quarter, month or week"
)
# A data value as read: (dataElement, period, orgUnit, value, comment), each as written.
Raw = tuple[Any, Any, Any, Any, Any]


# --- out --------------------------------------------------------------------------------------------


def _data_value(o: ObservationRead) -> dict[str, Any]:
    return {
        "dataElement": o.indicator,
        "period": str(o.year),
        "orgUnit": o.department,
        "value": decimal_text(o.value),
        "storedBy": o.updated_by,
        "lastUpdated": time_text(o.updated_at) if o.updated_at is not None else None,
        "comment": o.note,
        "followup": False,
    }


def json_body(session: Session, wanted: figures.Wanted) -> dict[str, Any]:
    return {"dataValues": [_data_value(o) for o in figures.read(session, wanted)]}


def csv_bytes(session: Session, wanted: figures.Wanted) -> bytes:
    """UTF-8 without a BOM: DHIS2 and the scripts that feed it read it as it is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for o in figures.read(session, wanted):
        value = _data_value(o)
        writer.writerow(
            (
                o.indicator,
                o.year,
                o.department,
                "",
                "",
                value["value"],
                o.updated_by or "",
                value["lastUpdated"] or "",
                o.note or "",
                "false",
                "false",
            )
        )
    return buffer.getvalue().encode()


# --- in ---------------------------------------------------------------------------------------------


def _text(raw: Any) -> Any:
    return raw.strip() if isinstance(raw, str) else raw


def _period(n: int, raw: Any) -> int | BadRow:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if raw is None or raw is MISSING or (isinstance(raw, str) and not raw.strip()):
        return BadRow(n, ("period",), "required", "missing")
    if not isinstance(raw, str) or not _YEAR.fullmatch(raw.strip()):
        return BadRow(n, ("period",), f"{raw!r}: {PERIOD_MSG}", "period_not_yearly")
    return int(raw.strip())


def rows(raws: list[Raw], *, deleting: bool) -> Iterator[Row]:
    """The batch rows of data values: (indicator, department, year, value, qualifier, note, source).
    A deletion's value is not read (DHIS2 reads none): 1, which every value type takes, stands in."""
    for n, (element, period, unit, value, comment) in enumerate(raws, 1):
        year = _period(n, period)
        if isinstance(year, BadRow):
            yield year
            continue
        if deleting:
            value = 1
        yield n, (_text(element), _text(unit), year, value, MISSING, comment, MISSING)


def read_json(body: bytes) -> list[Raw]:
    document = json_document(body)
    if not isinstance(document, dict) or not isinstance(document.get("dataValues"), list):
        raise InvalidValue(
            'A data value set is an object: {"dataValues": [{"dataElement", "period", "orgUnit", "value"}]}',
            errors=[FieldError(["body", "dataValues"], "required: a list of data values", "missing")],
        )
    _check_types(document)
    period, unit = document.get("period"), document.get("orgUnit")
    raws: list[Raw] = []
    for item in document["dataValues"]:
        raws.append(
            (
                item.get("dataElement"),
                item.get("period", period),
                item.get("orgUnit", unit),
                item.get("value"),
                item.get("comment"),
            )
        )
    return raws


_TEXT = (str, type(None))
_NUMBER = (str, int, Decimal, type(None))
_Kinds = tuple[type, ...]
_SET: Final[dict[str, _Kinds]] = {"dataSet": _TEXT, "period": _TEXT, "orgUnit": _TEXT, "dataValues": (list,)}
_VALUE: Final[dict[str, _Kinds]] = {
    "dataElement": (str,),
    "period": _TEXT,
    "orgUnit": _TEXT,
    "categoryOptionCombo": _TEXT,
    "attributeOptionCombo": _TEXT,
    "value": _NUMBER,
    "comment": _TEXT,
    "storedBy": _TEXT,
    "lastUpdated": _TEXT,
    "created": _TEXT,
    "followup": (bool, type(None)),
    "deleted": (bool, type(None)),
}


def _check_types(document: dict[str, Any]) -> None:
    """422 naming the field for a document that is not a data value set (wrong types, unknown fields):
    a value that is wrong only for its indicator is a conflict of its own, not this."""
    errors: list[FieldError] = []
    for name, raw in document.items():
        wanted = _SET.get(name)
        if wanted is None or not isinstance(raw, wanted) or isinstance(raw, bool):
            errors.append(FieldError(["body", name], "unknown field or wrong type", "type"))
    for index, item in enumerate(document["dataValues"]):
        if not isinstance(item, dict):
            errors.append(FieldError(["body", "dataValues", index], "must be an object", "dict_type"))
            continue
        for name, raw in item.items():
            kinds = _VALUE.get(name)
            wrong = kinds is None or not isinstance(raw, kinds)
            if wrong or (isinstance(raw, bool) and bool not in (kinds or ())):
                errors.append(
                    FieldError(["body", "dataValues", index, name], "unknown field or wrong type", "type")
                )
        if "dataElement" not in item:
            errors.append(FieldError(["body", "dataValues", index, "dataElement"], "required", "missing"))
        if len(errors) >= 100:
            break
    if errors:
        raise InvalidValue("The body is not a DHIS2 data value set", errors=errors)


def read_csv(body: bytes) -> list[Raw]:
    try:
        text = codecs.decode(body, "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValue(
            "A DHIS2 CSV is UTF-8 text", errors=[FieldError(["body"], str(exc), "encoding")]
        ) from None
    if "\x00" in text:
        raise UnsupportedMediaType("The body holds NUL bytes: it is binary, not CSV text")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidValue(
            f"The CSV cannot be read: {exc}", errors=[FieldError(["body"], str(exc), "csv")]
        ) from None
    if not lines or len(lines[0]) < 6:
        wanted = ",".join(CSV_HEADER[:6])
        raise InvalidValue(
            f"A DHIS2 CSV starts with its header line: {wanted}[,storedby,lastupdated,comment,...]",
            errors=[FieldError(["body", "header"], f"expected at least {wanted}", "header")],
        )
    raws: list[Raw] = []
    for line in lines[1:]:  # the first line is the header, whatever it says (as DHIS2 reads it)
        if not any(cell.strip() for cell in line):
            continue
        cells = [*line, *[""] * (len(CSV_HEADER) - len(line))]
        raws.append((cells[0], cells[1], cells[2], cells[5], cells[8] or None))
    return raws

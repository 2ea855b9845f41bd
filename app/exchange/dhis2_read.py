"""DHIS2 data value sets in: a body read into the rows of an observation batch, streamed.

The rows are made as the batch asks for them, each in one step (no list of every data value, no
second pass), so that a large import is checked chunk by chunk while the chunk before is stored, as
an observation batch is. What a conflict must quote as sent (`raws`) is read again for the few data
values that have one.

DHIS2's CSV has no header names it depends on: columns are read by position, the first line being the
header, as DHIS2 itself reads them: dataelement, period, orgunit, categoryoptioncombo,
attributeoptioncombo, value, storedby, lastupdated, comment, followup, deleted. The two option
combos (this service keeps no disaggregations) and the columns after `comment` are not read.
"""

import codecs
import csv
import io
import re
from collections.abc import Collection, Iterator
from decimal import Decimal
from typing import Any, Final

from app.core.problems import FieldError, InvalidValue, UnsupportedMediaType
from app.exchange.dhis2 import CSV_HEADER
from app.transfer.formats import MISSING, BadRow, Row, json_document

_YEAR = re.compile(r"[0-9]{4}")
PERIOD_MSG = (
    "only yearly periods are held (such as 2021): figures are kept per year, not per quarter, month or week"
)
# A data value as read: (dataElement, period, orgUnit, value, comment), each as written.
Raw = tuple[Any, Any, Any, Any, Any]
_WIDTH = 9  # the CSV columns read: up to `comment`


def _period(n: int, raw: Any) -> int | BadRow:
    # The usual period, four ASCII digits, is read in the caller; this names what is wrong otherwise.
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if raw is None or raw is MISSING or (isinstance(raw, str) and not raw.strip()):
        return BadRow(n, ("period",), "required", "missing")
    if not isinstance(raw, str) or not _YEAR.fullmatch(raw.strip()):
        return BadRow(n, ("period",), f"{raw!r}: {PERIOD_MSG}", "period_not_yearly")
    return int(raw.strip())


class ValueSet:
    """A data value set as read: `rows()` for the batch, then `counted()` and `raws()` for the summary.

    A row is (n, (indicator, department, year, value, qualifier, note, source)), n counting the data
    values from 1; the indicator and the department as sent (the batch's checks trim them). A
    deletion's value is not read (DHIS2 reads none): 1, which every value type takes, stands in.
    """

    def rows(self, *, deleting: bool) -> Iterator[Row]:
        raise NotImplementedError

    def raws(self, indexes: Collection[int]) -> dict[int, Raw]:
        """The data values at these indexes (from 0), as sent."""
        raise NotImplementedError

    def counted(self) -> int:
        """How many data values the body holds, whether or not the batch read them all."""
        raise NotImplementedError


class JsonSet(ValueSet):
    def __init__(self, body: bytes) -> None:
        document = json_document(body)
        if not isinstance(document, dict) or not isinstance(document.get("dataValues"), list):
            raise InvalidValue(
                "A data value set is an object: "
                '{"dataValues": [{"dataElement", "period", "orgUnit", "value"}]}',
                errors=[FieldError(["body", "dataValues"], "required: a list of data values", "missing")],
            )
        _check_types(document)
        self.items: list[dict[str, Any]] = document["dataValues"]
        self.period, self.unit = document.get("period"), document.get("orgUnit")

    def rows(self, *, deleting: bool) -> Iterator[Row]:
        period, unit = self.period, self.unit
        n = 0
        for item in self.items:
            n += 1
            get = item.get
            raw = get("period", period)
            if type(raw) is str and len(raw) == 4 and raw.isdigit() and raw.isascii():
                year: int | BadRow = int(raw)
            else:
                year = _period(n, raw)
                if type(year) is BadRow:
                    yield year
                    continue
            value = 1 if deleting else get("value")
            yield n, (get("dataElement"), get("orgUnit", unit), year, value, MISSING, get("comment"), MISSING)

    def raws(self, indexes: Collection[int]) -> dict[int, Raw]:
        found = {}
        for index in indexes:
            if 0 <= index < len(self.items):
                get = self.items[index].get
                found[index] = (
                    get("dataElement"),
                    get("period", self.period),
                    get("orgUnit", self.unit),
                    get("value"),
                    get("comment"),
                )
        return found

    def counted(self) -> int:
        return len(self.items)


class CsvSet(ValueSet):
    def __init__(self, body: bytes) -> None:
        try:
            self.text = codecs.decode(body, "utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidValue(
                "A DHIS2 CSV is UTF-8 text", errors=[FieldError(["body"], str(exc), "encoding")]
            ) from None
        if "\x00" in self.text:
            raise UnsupportedMediaType("The body holds NUL bytes: it is binary, not CSV text")
        header = next(self._records(), None)
        if header is None or len(header) < 6:
            wanted = ",".join(CSV_HEADER[:6])
            raise InvalidValue(
                f"A DHIS2 CSV starts with its header line: {wanted}[,storedby,lastupdated,comment,...]",
                errors=[FieldError(["body", "header"], f"expected at least {wanted}", "header")],
            )
        self.count, self.done = 0, False

    def _records(self) -> Iterator[list[str]]:
        try:
            yield from csv.reader(io.StringIO(self.text, newline=""))
        except csv.Error as exc:
            raise InvalidValue(
                f"The CSV cannot be read: {exc}", errors=[FieldError(["body"], str(exc), "csv")]
            ) from None

    def _lines(self) -> Iterator[list[str]]:
        """The data values' lines, each at least as wide as `comment`: the first line is the header,
        whatever it says (as DHIS2 reads it), and blank lines are no data values."""
        records = self._records()
        next(records)
        for line in records:
            if not line or ((not line[0] or line[0].isspace()) and not any(cell.strip() for cell in line)):
                continue
            if len(line) < _WIDTH:
                line += [""] * (_WIDTH - len(line))
            yield line

    def rows(self, *, deleting: bool) -> Iterator[Row]:
        n = 0
        for line in self._lines():
            n += 1
            raw = line[1]
            if len(raw) == 4 and raw.isdigit() and raw.isascii():
                year: int | BadRow = int(raw)
            else:
                year = _period(n, raw)
                if type(year) is BadRow:
                    yield year
                    continue
            value = 1 if deleting else line[5]
            yield n, (line[0], line[2], year, value, MISSING, line[8] or None, MISSING)
        self.count, self.done = n, True

    def raws(self, indexes: Collection[int]) -> dict[int, Raw]:
        wanted = set(indexes)
        found: dict[int, Raw] = {}
        if not wanted:
            return found
        for index, line in enumerate(self._lines()):
            if index in wanted:
                found[index] = (line[0], line[1], line[2], line[5], line[8] or None)
                if len(found) == len(wanted):
                    break
        return found

    def counted(self) -> int:
        if not self.done:
            self.count, self.done = sum(1 for _ in self._lines()), True
        return self.count


def read(kind: str, body: bytes) -> ValueSet:
    """The body (`kind` json or csv) as a data value set; 422 naming the field when it is none."""
    return JsonSet(body) if kind == "json" else CsvSet(body)


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
# What a JSON document holds is exactly one of these types (json_document reads decimals as Decimal),
# so each field's check is one set lookup: the types that are its kinds, a bool only where it says so.
_JSON_TYPES = (dict, list, str, int, bool, Decimal, type(None))
_VALUE_TYPES: Final[dict[str, frozenset[type]]] = {
    name: frozenset(t for t in _JSON_TYPES if issubclass(t, kinds) and (t is not bool or bool in kinds))
    for name, kinds in _VALUE.items()
}


def _check_types(document: dict[str, Any]) -> None:
    """422 naming the field for a document that is not a data value set (wrong types, unknown fields):
    a value that is wrong only for its indicator is a conflict of its own, not this."""
    errors: list[FieldError] = []
    for name, raw in document.items():
        wanted = _SET.get(name)
        if wanted is None or not isinstance(raw, wanted) or isinstance(raw, bool):
            errors.append(FieldError(["body", name], "unknown field or wrong type", "type"))
    types, nothing = _VALUE_TYPES, frozenset[type]()
    for index, item in enumerate(document["dataValues"]):
        if type(item) is not dict:
            errors.append(FieldError(["body", "dataValues", index], "must be an object", "dict_type"))
            continue
        for name, raw in item.items():
            if type(raw) not in types.get(name, nothing):
                errors.append(
                    FieldError(["body", "dataValues", index, name], "unknown field or wrong type", "type")
                )
        if "dataElement" not in item:
            errors.append(FieldError(["body", "dataValues", index, "dataElement"], "required", "missing"))
        if len(errors) >= 100:
            break
    if errors:
        raise InvalidValue("The body is not a DHIS2 data value set", errors=errors)

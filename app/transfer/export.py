"""Observations out as files a clerk can edit and send back: CSV and .xlsx.

Every file has the import header (indicator,department,year,value,qualifier,note,source), so an
export edited and imported again changes exactly the rows that were edited.
"""

import csv
import io
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.cells.key import CellFilters
from app.core.json import decimal_text
from app.core.problems import InvalidValue
from app.core.tables import BOM, csv_cell, sheet_number, sheet_text
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations import derived
from app.observations.models import Observation
from app.transfer.formats import FIELDS

SHEET_ROWS = 1_048_576  # Excel's limit, header included
_BATCH = 2000


def _query(filters: CellFilters) -> "Select[*tuple[Any, ...]]":
    query = (
        select(
            Indicator.code,
            Department.code,
            Observation.year,
            Observation.value,
            Observation.qualifier,
            Observation.note,
            Observation.source,
        )
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .join(Department, Department.id == Observation.department_id)
        .order_by(Department.code, Indicator.code, Observation.year)
    )
    return filters.apply(query, Observation)


def rows(
    session: Session, filters: CellFilters, indicator: Indicator | None = None
) -> Iterator[Sequence[Any]]:
    """Every matching observation in import-column order, streamed from the database; then (v2) the
    derived figures, computed, unless the filter names a stored indicator. `indicator` is the one
    filtered by, if any."""
    computed = None if indicator is None else derived.of(session, indicator)
    if computed is None:
        result = session.execute(_query(filters).execution_options(yield_per=_BATCH))
        for partition in result.partitions():
            yield from partition
        if indicator is not None:
            return
    wanted = [computed] if computed is not None else derived.catalogue(session)
    for i, d, y, figure in derived.page(session, wanted, filters=filters, limit=None, after=None)[0]:
        yield i, d, y, figure.value, figure.qualifier.value, None, None


def csv_chunks(session: Session, filters: CellFilters, indicator: Indicator | None = None) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so that Excel and WPS read the Chinese right), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    yield (BOM + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    for count, (i, d, y, value, q, note, source) in enumerate(rows(session, filters, indicator), 1):
        writer.writerow((i, d, y, decimal_text(value), q, csv_cell(note), csv_cell(source)))
        if count % _BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def xlsx_file(session: Session, filters: CellFilters, indicator: Indicator | None = None) -> IO[bytes]:
    """The matching observations as a one-sheet workbook, in a temporary file positioned at 0."""
    from openpyxl import Workbook

    count = session.scalar(filters.apply(select(func.count()).select_from(Observation), Observation)) or 0
    if count >= SHEET_ROWS:
        raise InvalidValue(
            f"{count} observations do not fit in one sheet ({SHEET_ROWS - 1} rows at most); "
            "narrow the filters or ask for CSV"
        )
    book = Workbook(write_only=True)
    sheet = book.create_sheet("observations")
    sheet.append(FIELDS)
    for i, d, y, value, q, note, source in rows(session, filters, indicator):
        sheet.append((i, d, y, sheet_number(value), q, sheet_text(sheet, note), sheet_text(sheet, source)))
    out = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - the answer closes it
    book.save(out)
    out.seek(0)
    return out

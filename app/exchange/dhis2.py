"""DHIS2 data value sets out, as JSON and as CSV (they come in through app.exchange.dhis2_read).

DHIS2's CSV columns: dataelement, period, orgunit, categoryoptioncombo, attributeoptioncombo, value,
storedby, lastupdated, comment, followup, deleted. This service keeps no disaggregations, so the two
option combos are written empty.
"""

import csv
import io
from typing import Any, Final

from sqlalchemy.orm import Session

from app.core.json import decimal_text
from app.core.tables import time_text
from app.exchange import figures
from app.observations.schemas import ObservationRead

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

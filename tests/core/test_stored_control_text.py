"""Text stored before control characters were refused (written here below the API) still comes out of
every format: 200, each refused character written as U+FFFD (app.core.text.printable)."""

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.text import has_control
from app.indicators.models import Indicator
from app.observations.models import Observation
from app.targets.models import Target
from tests.helpers import Tokens, bom_stripped

NAME, NOTE, UNIT = "压缩\u0007时限", "备注\u0007\u001b", "%\u0085"
SHOWN_NAME, SHOWN_NOTE, SHOWN_UNIT = "压缩\ufffd时限", "备注\ufffd\ufffd", "%\ufffd"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def bells(session: Session) -> None:
    """An indicator's name, description and unit, a figure's and a target's note holding control
    characters."""
    indicator_id = session.query(Indicator.id).filter(Indicator.code == "deadline-compression").scalar()
    session.execute(
        update(Indicator).where(Indicator.id == indicator_id).values(name=NAME, description=NOTE, unit=UNIT)
    )
    session.execute(update(Observation).where(Observation.indicator_id == indicator_id).values(note=NOTE))
    session.execute(update(Target).where(Target.indicator_id == indicator_id).values(note=NOTE))
    session.commit()


def _texts(response: object) -> str:
    """Every cell of every sheet of a workbook answer, as one text."""
    book = load_workbook(io.BytesIO(response.content), read_only=True)  # type: ignore[attr-defined]
    return "\n".join(
        str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row
    )


# (path, Accept, a text the answer must hold): series and compliance choose their format by Accept on
# main; compliance's rows hold no free text, only the cell.
PATHS = [
    ("/api/v1/templates/zone.xlsx?year=2021", None, SHOWN_NAME),
    ("/api/v1/observations?format=xlsx&indicator=deadline-compression", None, SHOWN_NOTE),
    ("/api/v1/observations?format=csv&indicator=deadline-compression", None, SHOWN_NOTE),
    ("/api/v1/series?indicator=deadline-compression", "text/csv", SHOWN_UNIT),
    ("/api/v1/series?indicator=deadline-compression", XLSX, SHOWN_UNIT),
    ("/api/v1/compliance?year=2021&indicator=deadline-compression", "text/csv", "deadline-compression"),
    ("/api/v1/compliance?year=2021&indicator=deadline-compression", XLSX, "deadline-compression"),
]


@pytest.mark.parametrize(("path", "accept", "shown"), PATHS)
def test_stored_control_characters_come_out_replaced(
    session_client: TestClient, auth: Tokens, bells: None, path: str, accept: str | None, shown: str
) -> None:
    headers = {**auth["commission"], **({"Accept": accept} if accept else {})}
    r = session_client.get(path, headers=headers)
    assert r.status_code == 200, r.text[:500]
    workbook = "xlsx" in path or accept == XLSX
    assert r.headers["content-type"].startswith(XLSX if workbook else "text/csv")
    text = _texts(r) if workbook else bom_stripped(r)
    assert not has_control(text), text[:1000]
    assert shown in text, text[:1000]

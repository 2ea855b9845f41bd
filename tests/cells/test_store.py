"""app.cells.CellStore: a writer that loses the race to create a cell updates the winner's instead."""

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cells.store import Outcome
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import Observation, ObservationRevision, Qualifier
from app.observations.service import STORE


def _figure(value: str) -> dict[str, Any]:
    return {"value": Decimal(value), "qualifier": Qualifier.exact, "note": None, "source": None}


def test_a_cell_created_between_the_read_and_the_insert_is_updated(session: Session) -> None:
    indicator = session.scalars(select(Indicator).where(Indicator.code == "legal-lectures")).one()
    department = session.scalars(select(Department).where(Department.code == "zone")).one()
    key = {"indicator_id": indicator.id, "department_id": department.id, "year": 2031}
    seen: list[int | None] = []

    def another_writer_gets_there_first(current: Any) -> None:
        # Called once the cell was looked up (and found missing): another writer creates it now,
        # before this one inserts, as a concurrent transaction committing in between would.
        seen.append(None if current is None else current.version)
        if current is None:
            STORE.put(session, key=key, data=_figure("10"), actor="other")

    row, outcome, _ = STORE.put(
        session, key=key, data=_figure("12"), actor="late", precondition=another_writer_gets_there_first
    )

    assert seen == [None, 1]  # missing at first; then the winner's row, checked again
    assert outcome is Outcome.updated
    assert (row.version, row.value, row.updated_by) == (2, Decimal("12"), "late")
    stored = session.scalars(select(Observation).filter_by(**key)).one()
    assert (stored.version, stored.value) == (2, Decimal("12"))
    history = session.scalars(
        select(ObservationRevision).filter_by(**key).order_by(ObservationRevision.version)
    ).all()
    assert [(r.version, r.action, r.value_after, r.changed_by) for r in history] == [
        (1, "create", Decimal("10"), "other"),
        (2, "update", Decimal("12"), "late"),
    ]

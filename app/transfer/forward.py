"""Targets copied forward: a year's targets set again for another year, as a targets batch would set
them, so that the answer is the same import summary and every target written gets its history."""

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.departments.models import Department
from app.indicators.models import Indicator
from app.targets.models import Target
from app.transfer import batch
from app.transfer.checks import Summary
from app.transfer.formats import Row


def copy(
    session: Session,
    *,
    actor: Principal,
    from_year: int,
    to_year: int,
    department_id: int | None = None,
    indicator_id: int | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
) -> Summary:
    """Set `from_year`'s targets (of one department or indicator, if given) for `to_year`. A target
    already set for `to_year` stays as it is and is counted `unchanged`, unless `overwrite`."""
    query = (
        select(
            Target.indicator_id,
            Target.department_id,
            Indicator.code,
            Department.code,
            Target.operator,
            Target.value,
            Target.upper,
            Target.note,
            Target.source,
        )
        .join(Indicator, Indicator.id == Target.indicator_id)
        .join(Department, Department.id == Target.department_id)
        .where(Target.year == from_year)
        .order_by(Department.code, Indicator.code)
    )
    if department_id is not None:
        query = query.where(Target.department_id == department_id)
    if indicator_id is not None:
        query = query.where(Target.indicator_id == indicator_id)
    found = session.execute(query).all()
    kept: set[tuple[int, int]] = set()
    if not overwrite:
        kept = {
            (i, d)
            for i, d in session.execute(
                select(Target.indicator_id, Target.department_id).where(Target.year == to_year)
            )
        }

    def rows() -> Iterator[Row]:
        for n, (i, d, indicator, department, operator, value, upper, note, source) in enumerate(found, 1):
            if (i, d) not in kept:
                yield n, (indicator, department, to_year, operator.value, value, upper, note, source)

    summary = batch.run(
        session, rows=rows(), actor=actor, dry_run=dry_run, atomic=True, strict=True, cells=batch.TARGETS
    )
    summary.unchanged += sum(1 for i, d, *_ in found if (i, d) in kept)
    return summary

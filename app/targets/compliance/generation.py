"""What a year's compliance answer depends on, as markers one cheap query reads (app.core.memo).

Every write of a figure or a target, one at a time, in a batch, a delete or a DHIS2 import, leaves a
revision (app.cells.store, app.transfer.strategies): the highest revision ids move. A derived
indicator's figures come from its operands' revisions, and a change of its formula stamps the
indicator's `updated_at`. The catalogue (codes, sections, the department tree) changes only through
rows stamped `updated_at`, or rows added or deleted: their count and the sum of the stamps move.
"""

from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.core.db.rows import DriverQuery
from app.core.memo import fingerprint, instants, query
from app.departments.models import Department
from app.indicators.models import Indicator
from app.observations.models import ObservationRevision
from app.targets.models import TargetRevision


def catalogue(dialect: str) -> list[ColumnElement[Any]]:
    """The markers of the indicators and the departments."""
    return [
        select(fingerprint(func.count(), instants(model.updated_at, dialect)))
        .select_from(model)
        .scalar_subquery()
        for model in (Indicator, Department)
    ]


def cells() -> list[ColumnElement[Any]]:
    """The markers of the figures and the targets."""
    return [select(func.max(m.id)).scalar_subquery() for m in (ObservationRevision, TargetRevision)]


@lru_cache(maxsize=8)
def _query(dialect: str, token: bool) -> DriverQuery:
    """Built once per dialect (app.core.memo.query), with the reader's token's check last or not."""
    return query([*cells(), *catalogue(dialect), *([tokens.TOKEN_USE] if token else [])], dialect)


def generation(session: Session, token_hash: str | None = None) -> tuple[tuple[Any, ...], bool]:
    """The generation; with `token_hash` the reader's token is checked by the same statement."""
    return tokens.generation_checked(session, _query, {}, token_hash)

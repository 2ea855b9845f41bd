"""What a year's completeness answer depends on, as markers one cheap query reads (app.core.memo).

The figures (their revisions) and the catalogue, as for compliance; the assignments, which carry no
stamp: their count, highest id and two sums weighted by id move when one is added, deleted or its
years change (a scan of the table, a few ms for 100,000); the approvals: every step adds an
approval_action row; the period's last day of the year asked, read as is. Today's date is part of
the key (whether a department is late depends on it).
"""

from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.core.db.rows import DriverQuery
from app.core.memo import fingerprint, query
from app.reporting.models import Approval, ApprovalAction, Assignment, Period
from app.targets.compliance.generation import catalogue, cells


def _assignments() -> ColumnElement[Any]:
    """In one scan of the table."""
    marker = fingerprint(
        func.count(),
        func.max(Assignment.id),
        func.sum(Assignment.id * Assignment.from_year),
        func.sum(Assignment.id * func.coalesce(Assignment.to_year, 0)),
    )
    return select(marker).select_from(Assignment).scalar_subquery()


@lru_cache(maxsize=8)
def _query(dialect: str, token: bool) -> DriverQuery:
    """Built once per dialect, the year a parameter (app.core.memo.query), with the reader's
    token's check last or not."""
    markers = [
        *cells()[:1],  # the figures; targets play no part
        *catalogue(dialect),
        _assignments(),
        select(func.max(ApprovalAction.id)).scalar_subquery(),
        select(func.count()).select_from(Approval).scalar_subquery(),
        select(Period.closes).where(Period.year == bindparam("year")).scalar_subquery(),
        *([tokens.TOKEN_USE] if token else []),
    ]
    return query(markers, dialect)


def generation(session: Session, year: int, token_hash: str | None = None) -> tuple[tuple[Any, ...], bool]:
    """The generation; with `token_hash` the reader's token is checked by the same statement."""
    return tokens.generation_checked(session, _query, {"year": year}, token_hash)

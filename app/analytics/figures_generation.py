"""What a comparison depends on, as markers one cheap query reads (app.core.memo).

The figures (every write leaves a revision: the highest id moves) and the catalogue (the
indicators' codes, directions and formulas, the departments' codes), as for compliance
(app.targets.compliance.generation); targets play no part.
"""

from functools import lru_cache
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.core.memo import generation as read_generation
from app.core.memo import query
from app.targets.compliance.generation import catalogue, cells


@lru_cache(maxsize=4)
def _query(dialect: str) -> "Select[Any]":
    return query([*cells()[:1], *catalogue(dialect)], dialect)


def generation(session: Session) -> tuple[tuple[Any, ...], bool]:
    return read_generation(session, _query(session.get_bind().dialect.name))

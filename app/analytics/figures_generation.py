"""What a comparison depends on, as markers one cheap query reads (app.core.memo).

The figures (every write leaves a revision: the highest id moves) and the catalogue (the
indicators' codes, directions and formulas, the departments' codes), as for compliance
(app.targets.compliance.generation); targets play no part.
"""

from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from app.auth import tokens
from app.core.db.rows import DriverQuery
from app.core.memo import query
from app.targets.compliance.generation import catalogue, cells


@lru_cache(maxsize=8)
def _query(dialect: str, token: bool) -> DriverQuery:
    return query([*cells()[:1], *catalogue(dialect), *([tokens.TOKEN_USE] if token else [])], dialect)


def generation(session: Session, token_hash: str | None = None) -> tuple[tuple[Any, ...], bool]:
    """The generation; with `token_hash` the reader's token is checked by the same statement."""
    return tokens.generation_checked(session, _query, {}, token_hash)

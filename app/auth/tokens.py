"""Tokens: random secrets handed out once and kept only as SHA-256 hashes."""

import builtins
import hashlib
import secrets
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.orm import Session

from app.auth.models import DEPARTMENT, ApiToken, Role
from app.auth.principal import Principal
from app.auth.schemas import TokenCreate, TokenRead
from app.core.db.types import utcnow
from app.core.problems import Conflict, FieldError, InvalidValue, NotFound, Unauthorized

PREFIX = "ind_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The live token whose secret hashes to `token_hash`: what every request's token check looks for, here
# and in the queries that check a token themselves (app.cells.http).
PRESENTED = and_(ApiToken.token_hash == bindparam("token_hash"), ApiToken.live())

# Built once: every request runs it, and building a statement costs more than running it.
_AUTHENTICATE = (
    select(ApiToken.name, ApiToken.role, ApiToken.department_id, DEPARTMENT.c.code)
    .outerjoin(DEPARTMENT, DEPARTMENT.c.id == ApiToken.department_id)
    .where(PRESENTED)
)


_AUTHENTICATE_SQL: dict[str, str] = {}  # by dialect: the statement compiled once

# Whether the token hashed into `token_hash` is known and not revoked: a column that a viewer's read
# of one statement adds to its query, so that authenticating it costs no round trip of its own
# (app.auth.dependencies.read_token).
TOKEN_VALID = (exists().where(PRESENTED)).label("token_valid")
UNKNOWN_TOKEN = "The token is unknown or revoked"


def check_token(session: Session, token_hash: str) -> None:
    """401 unless the token is known and not revoked (where a read's own query could not say)."""
    if not session.connection().execute(select(TOKEN_VALID), {"token_hash": token_hash}).scalar():
        raise Unauthorized(UNKNOWN_TOKEN)


def authenticate(session: Session, secret: str) -> Principal | None:
    # Every authenticated request runs this, so it goes straight to the driver with SQL compiled
    # once: SQLAlchemy's execution machinery would cost more than the indexed lookup itself. A
    # failure of the driver is classified by app.core.db.retry like any other (retry, 503).
    connection = session.connection()
    dialect = connection.dialect
    sql = _AUTHENTICATE_SQL.get(dialect.name)
    if sql is None:
        sql = _AUTHENTICATE_SQL[dialect.name] = str(_AUTHENTICATE.compile(dialect=dialect))
    token_hash = hash_secret(secret)
    params = (token_hash,) if dialect.paramstyle == "qmark" else {"token_hash": token_hash}
    driver: Any = connection.connection.driver_connection
    row = driver.execute(sql, params).fetchone()
    if row is None:
        return None
    name, role, department_id, department_code = row
    return Principal(name, Role(role), department_id, department_code)


def create(session: Session, *, data: TokenCreate, actor: str) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned here and stored nowhere."""
    department_id = None
    if data.department is not None:
        department_id = session.scalar(select(DEPARTMENT.c.id).where(DEPARTMENT.c.code == data.department))
        if department_id is None:
            raise InvalidValue(
                f"No department with code {data.department!r}",
                errors=[FieldError(["body", "department"], f"unknown department {data.department!r}")],
            )
    elif data.role is Role.clerk:
        raise InvalidValue(
            "A clerk's token needs the department it writes for",
            errors=[FieldError(["body", "department"], "required for the clerk role", "missing")],
        )
    if find_live(session, data.name) is not None:
        raise Conflict(f"A live token named {data.name!r} exists; revoke it first")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=data.name,
        role=data.role,
        department_id=department_id,
        token_hash=hash_secret(secret),
        created_by=actor,
    )
    session.add(token)
    session.flush()
    return token, secret


def find_live(session: Session, name: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.name == name, ApiToken.live()))


def revoke(session: Session, *, name: str) -> None:
    result = session.execute(
        update(ApiToken).where(ApiToken.name == name, ApiToken.live()).values(revoked_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"No live token named {name!r}")


def list(session: Session, *, include_revoked: bool = False) -> builtins.list[TokenRead]:
    query = (
        select(ApiToken, DEPARTMENT.c.code)
        .outerjoin(DEPARTMENT, DEPARTMENT.c.id == ApiToken.department_id)
        .order_by(ApiToken.name, ApiToken.id)
    )
    if not include_revoked:
        query = query.where(ApiToken.live())
    return [read(token, code) for token, code in session.execute(query).all()]


def read(token: ApiToken, department_code: str | None) -> TokenRead:
    return TokenRead(
        name=token.name,
        role=token.role,
        department=department_code,
        created_at=token.created_at,
        created_by=token.created_by,
        revoked_at=token.revoked_at,
    )


def has_live_admin(session: Session) -> bool:
    return session.scalar(select(ApiToken.id).where(ApiToken.role == Role.admin, ApiToken.live())) is not None


def ensure_admin(session: Session) -> str | None:
    """On a database with no live admin token, make one and return its secret (shown once)."""
    if has_live_admin(session):
        return None
    name = "admin"
    n = 1
    while find_live(session, name) is not None:
        n += 1
        name = f"admin-{n}"
    _, secret = create(session, data=TokenCreate(name=name, role=Role.admin), actor="system")
    return secret

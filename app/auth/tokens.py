"""Tokens: random secrets handed out once and kept only as SHA-256 hashes."""

import builtins
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, bindparam, case, literal_column, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from app.audit import service as audit
from app.audit.models import AuditAction
from app.auth.models import DEPARTMENT, ApiToken, Role
from app.auth.principal import Principal
from app.auth.schemas import TokenCreate, TokenRead, WhoAmI
from app.core.db import engine as engines
from app.core.db import retry
from app.core.db.rows import DriverQuery
from app.core.db.session import holds_write_lock
from app.core.db.types import UTCDateTime, utcnow
from app.core.memo import generation as read_generation
from app.core.problems import Conflict, FieldError, InvalidValue, NotFound, Unauthorized

PREFIX = "ind_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The live, unexpired token whose secret hashes to `token_hash`: what every request's token check
# looks for, here and in the queries that check a token themselves (app.cells.http).
PRESENTED = and_(ApiToken.token_hash == bindparam("token_hash"), ApiToken.live(), ApiToken.unexpired())


class _HourAgo(FunctionElement[dt.datetime]):
    """The database's clock an hour ago (USE_RECORDED_EVERY), in the form its times are stored in."""

    inherit_cache = True
    type = UTCDateTime()


@compiles(_HourAgo, "sqlite")
def _hour_ago_sqlite(element: _HourAgo, compiler: Any, **kw: Any) -> str:
    return "datetime('now', '-1 hour')"  # UTC, compared as the text SQLite keeps times in


@compiles(_HourAgo)
def _hour_ago(element: _HourAgo, compiler: Any, **kw: Any) -> str:
    return "(CURRENT_TIMESTAMP - INTERVAL '1 hour')"


# "Last used" is kept to the hour: a request records it only when its token check finds the use
# recorded more than an hour ago, so that requests do not each cost a write. The check says so in
# a flag the database computes from the stored value (1: recorded within the hour), so that no
# request converts a time.
USE_RECORDED_EVERY = dt.timedelta(hours=1)
RECENTLY_USED = case(
    (ApiToken.last_used_at > _HourAgo(), literal_column("1")), else_=literal_column("0")
).label("recently_used")

# Built once: every request runs it, and building a statement costs more than running it.
_AUTHENTICATE = (
    select(ApiToken.name, ApiToken.role, ApiToken.department_id, DEPARTMENT.c.code, RECENTLY_USED)
    .outerjoin(DEPARTMENT, DEPARTMENT.c.id == ApiToken.department_id)
    .where(PRESENTED)
)


_AUTHENTICATE_SQL: dict[str, str] = {}  # by dialect: the statement compiled once

# The token hashed into `token_hash`: 1 when in force and its use recorded within the hour, 0 when in
# force, NULL when not (unknown, revoked or expired). A column that a viewer's read of one statement
# adds to its query, so that authenticating it costs no round trip of its own
# (app.auth.dependencies.read_token).
TOKEN_USE = select(RECENTLY_USED).where(PRESENTED).scalar_subquery().label("token_use")
UNKNOWN_TOKEN = "The token is unknown or revoked"

# Waiting for no lock: on PostgreSQL a row another request is recording the use of is skipped (SQLite
# has no FOR UPDATE, and seen() asks it not to wait).
_RECORD_USE = (
    update(ApiToken)
    .where(
        ApiToken.id.in_(
            select(ApiToken.id)
            .where(ApiToken.token_hash == bindparam("used_hash"))
            .with_for_update(skip_locked=True)
        )
    )
    .values(last_used_at=bindparam("now", type_=UTCDateTime()))
)


def seen(session: Session, token_hash: str, recently_used: object) -> None:
    """Record that the token was used now, unless its token check found its use recorded within the
    hour (`recently_used`, RECENTLY_USED as loaded).

    In the request's own transaction: a request that fails records nothing, and the next one records
    it. A read never waits for the write: on SQLite, where it does not hold the write lock, a busy
    database leaves the use for a later request to record; on PostgreSQL a row being recorded by
    another request is skipped (a conflict with one that committed since the read's snapshot is a
    serialization failure, and the request runs again: app.core.db.retry)."""
    if recently_used:
        return
    connection = session.connection()
    params = {"used_hash": token_hash, "now": utcnow()}
    if connection.dialect.name != "sqlite" or holds_write_lock(session):
        connection.execute(_RECORD_USE, params)
        return
    driver: Any = connection.connection.driver_connection
    driver.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute(_RECORD_USE, params)
    except OperationalError as exc:
        if retry.classify(exc) != "retry":
            raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={engines.SQLITE_BUSY_TIMEOUT_MS}")


def refusal(session: Session, token_hash: str) -> Unauthorized:
    """The 401 for a token its check did not find in force: whether it expired, or is unknown or
    revoked."""
    expired = (
        session.connection()
        .execute(
            select(ApiToken.expires_at).where(
                ApiToken.token_hash == token_hash, ApiToken.live(), ApiToken.expires_at.is_not(None)
            )
        )
        .scalar()
    )
    if expired is not None:
        return Unauthorized(f"The token expired at {expired.isoformat()}; ask for a new one")
    return Unauthorized(UNKNOWN_TOKEN)


def in_force(session: Session, token_hash: str, use: object) -> None:
    """A token checked by a read's own statement, TOKEN_USE among its columns (`use`, as loaded):
    401 when that found it not in force, else its use recorded (seen)."""
    if use is None:
        raise refusal(session, token_hash)
    seen(session, token_hash, use)


def check_token(session: Session, token_hash: str) -> None:
    """401 unless the token is in force (where a read's own query could not say)."""
    in_force(
        session,
        token_hash,
        session.connection().execute(select(TOKEN_USE), {"token_hash": token_hash}).scalar(),
    )


def generation_checked(
    session: Session,
    query: Callable[[str, bool], DriverQuery],
    params: dict[str, Any],
    token_hash: str | None,
) -> tuple[tuple[Any, ...], bool]:
    """A memo's generation (app.core.memo), read by the one statement `query(dialect, token)` builds;
    with `token_hash` that statement's last marker is TOKEN_USE, and the reader's token is checked by
    it (in_force): the generation without it."""
    dialect = session.get_bind().dialect.name
    if token_hash is None:
        return read_generation(session, query(dialect, False), params)
    marks, quiet = read_generation(session, query(dialect, True), {**params, "token_hash": token_hash})
    in_force(session, token_hash, marks[-1])
    return marks[:-1], quiet


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> dt.timedelta:
    """`30m`, `12h`, `90d` as a timedelta; ValueError for anything else."""
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration: a number and m, h or d, as 30m, 12h, 90d")
    return dt.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


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
    name, role, department_id, department_code, recently_used = row
    seen(session, token_hash, recently_used)
    return Principal(name, Role(role), department_id, department_code)


_WHOAMI = (
    select(ApiToken.name, ApiToken.role, DEPARTMENT.c.code, ApiToken.expires_at, RECENTLY_USED)
    .outerjoin(DEPARTMENT, DEPARTMENT.c.id == ApiToken.department_id)
    .where(PRESENTED)
)


def whoami(session: Session, secret: str) -> WhoAmI:
    """The token in force whose secret this is; 401 otherwise."""
    token_hash = hash_secret(secret)
    row = session.connection().execute(_WHOAMI, {"token_hash": token_hash}).first()
    if row is None:
        raise refusal(session, token_hash)
    seen(session, token_hash, row.recently_used)
    return WhoAmI(name=row.name, role=row.role, department=row.code, expires_at=row.expires_at)


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
        expires_at=None if data.expires_in is None else expiry(data.expires_in),
    )
    session.add(token)
    session.flush()
    return token, secret


def expiry(expires_in: str) -> dt.datetime:
    """When a token made now to last `expires_in` expires, to the second (as its JSON says it)."""
    return (utcnow() + duration(expires_in)).replace(microsecond=0)


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
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
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
    data = TokenCreate(name=name, role=Role.admin)
    _, secret = create(session, data=data, actor="system")
    audit.record(session, actor="system", action=AuditAction.token_create, target=name, detail=data)
    return secret

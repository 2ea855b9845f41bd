"""The CurrentPrincipal dependency: who sent the request, and whether their role suffices."""

from collections.abc import Awaitable, Callable
from typing import Annotated, NamedTuple

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import Role
from app.auth.principal import ANONYMOUS, Principal
from app.core.config import Settings, current_settings
from app.core.db.session import READ_METHODS, get_session, take_write_lock
from app.core.problems import Forbidden, Problem, Unauthorized
from app.core.threads import in_thread

SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer(request: Request) -> str | None:
    """The request's bearer token; None without an Authorization header, 401 for another scheme."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return credentials.strip()


# The role each dependency demands, so that the OpenAPI document declares 403 only where it can happen.
REQUIRED_ROLES: dict[Callable[..., Awaitable[object]], Role] = {}


class _Deferred(NamedTuple):
    """A token left to the route's own query (read_token, write_token), for refusal_first."""

    session: Session
    secret: str
    role: Role


_DEFERRED = "indicators_deferred_token"


def _defer(request: Request, session: Session, secret: str, role: Role) -> None:
    request.scope[_DEFERRED] = _Deferred(session, secret, role)


def check_role(principal: Principal, role: Role) -> None:
    if not principal.has(role):
        raise Forbidden(f"This needs the {role} role; token {principal.name!r} is {principal.role}")


def _authorized(session: Session, secret: str, role: Role) -> Principal:
    """The token's holder: 401 when it is unknown, revoked or expired, 403 when its role is below `role`."""
    principal = tokens.authenticate(session, secret)
    if principal is None:
        raise tokens.refusal(session, tokens.hash_secret(secret))
    check_role(principal, role)
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    # Async: no thread hop for public reads, nor for a read's token lookup.
    async def dependency(
        request: Request, session: SessionDep, settings: Annotated[Settings, Depends(current_settings)]
    ) -> Principal:
        secret = bearer(request)
        if secret is None:
            if role is Role.viewer and settings.public_read:
                return ANONYMOUS
            raise Unauthorized("A bearer token is required")
        if request.method not in READ_METHODS:
            # A write's one possible wait, for SQLite's write lock, comes first and off the loop
            # when it must (take_write_lock).
            await take_write_lock(session)
        # The lookup of one indexed row then waits on no lock (WAL readers or the write lock held on
        # SQLite, MVCC on PostgreSQL), so it runs right here: a worker thread costs more than it.
        return _authorized(session, secret, role)

    REQUIRED_ROLES[dependency] = role
    return dependency


async def read_token(
    request: Request, session: SessionDep, settings: Annotated[Settings, Depends(current_settings)]
) -> str | None:
    """A viewer's read whose one query checks the token itself (app.auth.tokens.TOKEN_VALID): the
    token's hash for that query to check, None under public read; 401 at once without a token.
    The lookup then costs no round trip of its own."""
    secret = bearer(request)
    if secret is None:
        if settings.public_read:
            return None
        raise Unauthorized("A bearer token is required")
    _defer(request, session, secret, Role.viewer)
    return tokens.hash_secret(secret)


REQUIRED_ROLES[read_token] = Role.viewer


def check_reader(session: Session, token_hash: str | None) -> None:
    """read_token's token checked where the read's own statement does not check it (a file, a range,
    the general case); nothing to check under public read (None)."""
    if token_hash is not None:
        tokens.check_token(session, token_hash)


class ReaderFirst:
    """`with ReaderFirst(session, token):` around what may refuse a read (read_token) before its
    statement runs, a 406 or a 422 of the route's own: the token is checked first, as Viewer's would
    have been, so that who may not read learns that first. A class, not a generator: the series and
    compliance enter it on every request."""

    __slots__ = ("session", "token_hash")

    def __init__(self, session: Session, token_hash: str | None) -> None:
        self.session, self.token_hash = session, token_hash

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Problem):
            check_reader(self.session, self.token_hash)  # its 401 takes the refusal's place


class WriteToken(NamedTuple):
    """A write's token, checked by the query that resolves the cell written
    (app.cells.http.write_cell): its hash, and the role it needs."""

    hash: str
    role: Role


def write_token(role: Role) -> Callable[..., Awaitable[WriteToken]]:
    """A one-cell write whose first query checks its token, with the cell's path and the current
    row: 401 at once without a token.

    On PostgreSQL the lookup then costs no round trip of its own (PUT one observation made six:
    BEGIN, the token, the path, the current row, the change, COMMIT; now four)."""

    async def dependency(request: Request, session: SessionDep) -> WriteToken:
        secret = bearer(request)
        if secret is None:
            raise Unauthorized("A bearer token is required")
        await take_write_lock(session)  # as require's: a write's one wait comes first
        _defer(request, session, secret, role)
        return WriteToken(tokens.hash_secret(secret), role)

    REQUIRED_ROLES[dependency] = role
    return dependency


async def refusal_first(request: Request) -> Problem | None:
    """The 401 or 403 due to a request found invalid (422) before its route could check its token
    (read_token, write_token): who may not call a route learns that first, as from every other
    route. Asked of the request's own session, whose unit of work has ended; it ends this one too."""
    deferred: _Deferred | None = request.scope.get(_DEFERRED)
    if deferred is None:
        return None

    def check() -> Problem | None:
        session = deferred.session
        try:
            # A read: on SQLite not in the BEGIN IMMEDIATE the session's writes begin with.
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            _authorized(session, deferred.secret, deferred.role)
        except (Unauthorized, Forbidden) as refused:
            return refused
        finally:
            session.rollback()
        return None

    return await in_thread(check)


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
# For a read that passes it to its query: any known token may read, as Viewer lets any role read.
ViewerToken = Annotated[str | None, Depends(read_token)]
Clerk = Annotated[Principal, Depends(require(Role.clerk))]
Commission = Annotated[Principal, Depends(require(Role.commission))]
# A one-cell write by a clerk or the commission, its token checked by the write's first query.
ClerkToken = Annotated[WriteToken, Depends(write_token(Role.clerk))]
CommissionToken = Annotated[WriteToken, Depends(write_token(Role.commission))]
Admin = Annotated[Principal, Depends(require(Role.admin))]

import datetime as dt
import enum

from sqlalchemy import ColumnElement, ForeignKey, Index, Integer, String, column, func, or_, table, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db.types import Base, UTCDateTime, str_enum, utcnow


class Role(enum.StrEnum):
    viewer = "viewer"
    clerk = "clerk"
    commission = "commission"
    admin = "admin"

    @property
    def level(self) -> int:
        return _LEVELS[self]


_LEVELS = {Role.viewer: 0, Role.clerk: 1, Role.commission: 2, Role.admin: 3}


class ApiToken(Base):
    """A bearer token; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # None: it never expires. Once past, the token is refused (401) as a revoked one is.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # When it was last used, to the hour: recorded at most once an hour (app.auth.tokens.seen).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @classmethod
    def live(cls) -> ColumnElement[bool]:
        """The condition a token in force meets: it has not been revoked."""
        return cls.revoked_at.is_(None)

    @classmethod
    def unexpired(cls) -> ColumnElement[bool]:
        """The condition a token that has not expired meets, by the database's clock (UTC)."""
        return or_(cls.expires_at.is_(None), cls.expires_at > func.current_timestamp())

    # A name is unique among live tokens, so a revoked clerk's token can be re-issued under its name.
    __table_args__ = (
        Index(
            "uq_api_token_live_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


# The department a clerk's token writes for, named as its foreign key names it: auth lies below the
# catalogue whose routes it guards, so it reads the department's code without importing its model.
DEPARTMENT = table("department", column("id", Integer), column("code", String))

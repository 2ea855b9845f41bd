import datetime as dt

from pydantic import Field

from app.auth.models import Role
from app.core.fields import Code, Schema


class TokenCreate(Schema):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    role: Role
    department: Code | None = None


class TokenRead(Schema):
    name: str
    role: Role
    department: str | None
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The secret: shown this once, never again")

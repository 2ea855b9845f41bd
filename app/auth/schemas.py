import datetime as dt

from pydantic import ConfigDict, Field

from app.auth.models import Role
from app.core.fields import Code, Schema, required_when


class TokenCreate(Schema):
    """A clerk's token names the department it writes for."""

    model_config = ConfigDict(json_schema_extra=required_when("role", "clerk", "department"))

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    role: Role
    department: Code | None = None
    expires_in: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{0,5}[mhd]$",
        description="How long the token lasts: minutes, hours or days, as `30m`, `12h`, `90d`; "
        "none: it never expires",
        examples=["90d"],
    )


class TokenRead(Schema):
    name: str
    role: Role
    department: str | None
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="None: it never expires")
    last_used_at: dt.datetime | None = Field(
        description="When it was last used, recorded at most once an hour; None: never"
    )


class WhoAmI(Schema):
    """The token a request was sent with."""

    name: str
    role: Role
    department: str | None
    expires_at: dt.datetime | None = Field(description="None: it never expires")


class TokenCreated(TokenRead):
    token: str = Field(description="The secret: shown this once, never again")

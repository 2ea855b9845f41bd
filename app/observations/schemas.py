import datetime as dt

from pydantic import Field

from app.cells.tables import Action
from app.core.fields import Number, Schema, Value
from app.observations.models import Qualifier


class ObservationWrite(Schema):
    value: Value
    qualifier: Qualifier = Qualifier.exact
    note: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=500)


class ObservationRead(Schema):
    indicator: str
    department: str
    year: int
    value: Number
    qualifier: Qualifier
    note: str | None
    source: str | None
    version: int
    updated_at: dt.datetime
    updated_by: str


class RevisionRead(Schema):
    version: int
    action: Action
    value_before: Number | None
    value_after: Number | None
    qualifier_before: Qualifier | None
    qualifier_after: Qualifier | None
    note: str | None
    source: str | None
    changed_at: dt.datetime
    changed_by: str

import datetime as dt

from pydantic import Field

from app.celltables import Action
from app.observations.models import Qualifier
from app.schemas import Number, Schema, Value


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


class BatchObservation(Schema):
    """One row of a batch; CSV and sheet rows have the same columns."""

    indicator: str
    department: str
    year: int
    value: Value
    qualifier: Qualifier = Qualifier.exact
    note: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=500)


class BatchWrite(Schema):
    observations: list[BatchObservation]
    dry_run: bool = False
    atomic: bool = True


class BatchError(Schema):
    row: int
    loc: list[str | int]
    msg: str
    type: str


class BatchSummary(Schema):
    """What a batch did (or, in a dry run, would do); `errors` lists at most 1000 of `error_count`."""

    created: int
    updated: int
    unchanged: int
    rejected: int
    dry_run: bool
    errors: list[BatchError]
    error_count: int

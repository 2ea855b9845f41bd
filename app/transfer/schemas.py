"""A batch's body as JSON, and its import summary."""

from pydantic import Field

from app.core.fields import Schema, Text, Value
from app.observations.models import Qualifier


class BatchObservation(Schema):
    """One row of a batch; CSV and sheet rows have the same columns."""

    indicator: str
    department: str
    year: int
    value: Value
    qualifier: Qualifier = Qualifier.exact
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)


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

"""A batch's body as JSON, and its import summary."""

from pydantic import Field

from app.core.fields import Schema, Value
from app.observations.models import Qualifier


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
    row: int = Field(
        description="the row a spreadsheet program shows (header row 1, first data row 2); "
        "in JSON, the position in the list from 1"
    )
    indicator: str | int | None = Field(description="the row's indicator as written; null if unreadable")
    department: str | int | None = Field(description="the row's department as written; null if unreadable")
    year: int | str | None = Field(description="the row's year as written; null if unreadable")
    loc: list[str | int]
    msg: str
    type: str


class BatchSummary(Schema):
    """What a batch did (or, in a dry run, would do); `errors` lists at most 1000 of `error_count`."""

    created: int
    updated: int
    unchanged: int
    skipped: int = Field(description="rows of a file left without a value, as a template's blank rows")
    rejected: int
    dry_run: bool
    errors: list[BatchError]
    error_count: int
    warnings: list[BatchError] = Field(
        description="what was read differently from what was written, row by row "
        "(a workbook number rounded to 6 decimals); at most 1000"
    )

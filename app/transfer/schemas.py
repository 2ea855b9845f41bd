"""A batch's body as JSON, and its import summary; targets in bulk and copied forward."""

from pydantic import Field, ValidationInfo, field_validator

from app.core.fields import Code, Number, Schema, Text, Value, Year
from app.observations.models import Qualifier
from app.quality.judge import Status
from app.quality.models import Importance
from app.quality.schemas import Algorithm
from app.targets.models import Operator


class BatchObservation(Schema):
    """One row of a batch; CSV and sheet rows have the same columns."""

    # The JSON schema of the body, for the OpenAPI document: the rows are checked one by one as they
    # stream in (app.transfer.checks), with these constraints, and a bad one is reported by its row.
    indicator: Code
    department: Code
    year: Year
    value: Value
    qualifier: Qualifier = Qualifier.exact
    note: Text | None = Field(default=None, max_length=2000)
    source: Text | None = Field(default=None, max_length=500)


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


class BatchWarning(BatchError):
    """A row read differently from what was written (type `rounded`), or a figure written that breaks a
    validation rule (type `rule`) or is an outlier (type `outlier`): never a refusal."""

    rule: str | None = Field(default=None, description="type rule: the rule's code")
    importance: Importance | None = Field(default=None, description="type rule")
    status: Status | None = Field(default=None, description="type rule: violated or indeterminate")
    algorithm: Algorithm | None = Field(default=None, description="type outlier")
    lower_bound: Number | None = Field(default=None, description="type outlier")
    upper_bound: Number | None = Field(default=None, description="type outlier")


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
    warnings: list[BatchWarning] = Field(
        description="what was read differently from what was written, row by row "
        "(a workbook number rounded to 6 decimals), and (v2) the validation rules the rows written "
        "break and the outliers they are (told at the first row of the cell or department-year); "
        "at most 1000"
    )


class BatchTarget(Schema):
    """One row of a targets batch; CSV and sheet rows have the same columns."""

    indicator: str
    department: str
    year: int
    operator: Operator
    value: Value
    upper: Value | None = Field(default=None, description="required by between, refused by the others")
    note: str | None = Field(default=None, max_length=2000)
    source: str | None = Field(default=None, max_length=500)


class TargetBatchWrite(Schema):
    targets: list[BatchTarget]
    dry_run: bool = False
    atomic: bool = True


class TargetCopy(Schema):
    """Copy a year's targets to another year: the same operator, bounds, note and source."""

    from_year: Year
    to_year: Year = Field(description="must differ from from_year")
    department: Code | None = Field(default=None, description="only this department's targets")
    indicator: Code | None = Field(default=None, description="only this indicator's targets")
    overwrite: bool = Field(
        default=False,
        description="replace targets already set in to_year (else they stay, counted unchanged)",
    )
    dry_run: bool = False

    @field_validator("to_year")
    @classmethod
    def _another_year(cls, to_year: int, info: ValidationInfo) -> int:
        # A field validator, so that the error names ["body", "to_year"].
        if to_year == info.data.get("from_year"):
            raise ValueError("to_year must differ from from_year: a year's targets are already its own")
        return to_year
